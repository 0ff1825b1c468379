/*
 * health.h — GET /healthz: is the server up, and can it reach PostGIS?
 */
#ifndef GUICHET_HEALTH_H
#define GUICHET_HEALTH_H

struct req;

void	 health_get(struct req *);

#endif
