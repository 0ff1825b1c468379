/*
 * geom.h — geometry input and checks with GEOS (reentrant API only): GeoJSON
 * (RFC 7946, lon/lat) or WKT in, one clear error out, with a stable code
 * and a French message: parse failure, wrong type, empty, coordinates not
 * finite or out of range, too many vertices, invalid (with the reason and
 * where).
 */
#ifndef GUICHET_GEOM_H
#define GUICHET_GEOM_H

#include <geos_c.h>
#include <jansson.h>

/* Allowed types, as a bit set of (1 << GEOS type id). */
#define GEOM_POINT		(1u << GEOS_POINT)
#define GEOM_POLYGON		(1u << GEOS_POLYGON)
#define GEOM_MULTIPOLYGON	(1u << GEOS_MULTIPOLYGON)

#define GEOM_MAX_VERTICES	100000

struct geom_error {
	const char	*code;		/* geometry_parse, geometry_type, ... */
	char		 message[320];	/* French */
};

/* The calling thread's GEOS context (made on first use, freed at thread exit). */
GEOSContextHandle_t geom_ctx(void);

/*
 * Reads in (a GeoJSON geometry object, or a string of WKT or GeoJSON) and
 * checks it. Returns the geometry (the caller destroys it with
 * GEOSGeom_destroy_r on geom_ctx()), or NULL with e filled.
 */
GEOSGeometry	*geom_read(json_t *in, unsigned allowed, struct geom_error *e);

/* A point inside the geometry (the point itself), into *x, *y. */
int		 geom_anchor(const GEOSGeometry *, double *x, double *y);

/* The geometry as GeoJSON text (malloc'd) and as hex EWKB for PostGIS. */
char		*geom_geojson(const GEOSGeometry *);
char		*geom_hexwkb(const GEOSGeometry *);

/* Distance in metres between two lon/lat points (equirectangular, < 1 km). */
double		 geom_metres(double x1, double y1, double x2, double y2);

#endif
