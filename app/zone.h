/*
 * zone.h — GET /api/v1/ref/zones: the reference outlines as GeoJSON, for the
 * map (communes of the view, a territory's départements), simplified for
 * display.
 */
#ifndef GUICHET_ZONE_H
#define GUICHET_ZONE_H

struct req;

void	 zone_list(struct req *);

#endif
