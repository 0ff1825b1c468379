/*
 * geom.c — geometry reading and checks.
 *
 * Each worker thread has its own GEOS context, whose error handler writes
 * into a buffer of that thread, so that a parse error says what GEOS found
 * instead of being printed to stderr and lost. Validity reasons come from
 * GEOS in English and are given in French with the location GEOS reports.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geom.h"
#include "util.h"

struct geomthr {
	GEOSContextHandle_t	 h;
	char			 msg[256];
};

static pthread_key_t	thr_key;
static pthread_once_t	thr_once = PTHREAD_ONCE_INIT;

static void
thr_destroy(void *p)
{
	struct geomthr	*t = p;

	GEOS_finish_r(t->h);
	free(t);
}

static void
thr_init(void)
{
	if (pthread_key_create(&thr_key, thr_destroy) != 0)
		fatal("pthread_key_create failed");
}

static void
on_error_r(const char *msg, void *userdata)
{
	struct geomthr	*t = userdata;

	snprintf(t->msg, sizeof(t->msg), "%s", msg);
}

static struct geomthr *
thr_get(void)
{
	struct geomthr	*t;

	pthread_once(&thr_once, thr_init);
	if ((t = pthread_getspecific(thr_key)) == NULL) {
		t = xcalloc(1, sizeof(*t));
		if ((t->h = GEOS_init_r()) == NULL)
			fatal("GEOS cannot be initialised");
		GEOSContext_setErrorMessageHandler_r(t->h, on_error_r, t);
		GEOSContext_setNoticeHandler_r(t->h, NULL);
		pthread_setspecific(thr_key, t);
	}
	return t;
}

GEOSContextHandle_t
geom_ctx(void)
{
	return thr_get()->h;
}

static GEOSGeometry	*fail(struct geom_error *, const char *, const char *, ...)
			    __attribute__((format(printf, 3, 4)));

static GEOSGeometry *
fail(struct geom_error *e, const char *code, const char *fmt, ...)
{
	va_list	ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	utf8_trim(e->message);
	return NULL;
}

static GEOSGeometry *
too_large(struct geom_error *e)
{
	return fail(e, "geometry_too_large", "La géométrie compte plus de %d "
	    "sommets.", GEOM_MAX_VERTICES);
}

static const struct {
	const char	*geos;
	const char	*fr;
} reasons[] = {
	{ "Self-intersection", "auto-intersection" },
	{ "Ring Self-intersection", "un anneau se recoupe" },
	{ "Too few points in geometry component", "trop peu de points" },
	{ "Hole lies outside shell", "un trou est hors du contour" },
	{ "Holes are nested", "des trous sont imbriqués" },
	{ "Interior is disconnected", "l'intérieur est en plusieurs morceaux" },
	{ "Nested shells", "des contours sont imbriqués" },
	{ "Duplicate Rings", "anneaux en double" },
	{ "Invalid Coordinate", "coordonnée invalide" },
	{ "Ring is not closed", "un anneau n'est pas fermé" },
};

static const char *
type_fr(int id)
{
	switch (id) {
	case GEOS_POINT:		return "un point";
	case GEOS_LINESTRING:		return "une ligne";
	case GEOS_LINEARRING:		return "un anneau";
	case GEOS_POLYGON:		return "un polygone";
	case GEOS_MULTIPOINT:		return "des points";
	case GEOS_MULTILINESTRING:	return "des lignes";
	case GEOS_MULTIPOLYGON:		return "des polygones";
	default:			return "une collection";
	}
}

static void
allowed_fr(unsigned allowed, char *out, size_t outlen)
{
	int	id, n = 0;

	out[0] = '\0';
	for (id = 0; id <= GEOS_GEOMETRYCOLLECTION; id++)
		if (allowed & (1u << id)) {
			size_t len = strlen(out);

			snprintf(out + len, outlen - len, "%s%s", n++ ? " ou " : "",
			    type_fr(id));
		}
}

/*
 * The shape of a GeoJSON geometry (RFC 7946 §3.1): the right nesting of
 * arrays down to positions of 2 or 3 numbers. GEOS 3.11's reader trusts
 * that shape (an empty position crashes it), so it is checked here first.
 * depth: the array levels above a position (0: a position).
 */
static int
positions_ok(json_t *a, int depth, int ring_depth)
{
	json_t	*v;
	size_t	 i;

	if (!json_is_array(a))
		return 0;
	if (depth == 0) {
		if (json_array_size(a) < 2 || json_array_size(a) > 3)
			return 0;
		json_array_foreach(a, i, v)
			if (!json_is_number(v))
				return 0;
		/* An altitude is dropped: GEOS 3.11 reads two numbers. */
		if (json_array_size(a) == 3)
			json_array_remove(a, 2);
		return 1;
	}
	/* A polygon's ring closes on itself: at least 4 positions. */
	if (depth == ring_depth && json_array_size(a) < 4)
		return 0;
	/* No empty part in a multi-geometry or a polygon. */
	if (depth > 1 && json_array_size(a) == 0 && ring_depth >= 0)
		return 0;
	json_array_foreach(a, i, v)
		if (!positions_ok(v, depth - 1, ring_depth))
			return 0;
	return 1;
}

static int
geojson_ok(json_t *g, int nesting)
{
	static const struct {
		const char	*type;
		int		 depth;
		int		 ring;	/* the depth of rings; -1: none */
	} types[] = {
		{ "Point", 0, -1 }, { "MultiPoint", 1, -1 },
		{ "LineString", 1, -1 }, { "MultiLineString", 2, -1 },
		{ "Polygon", 2, 1 }, { "MultiPolygon", 3, 1 },
	};
	const char	*t = json_string_value(json_object_get(g, "type"));
	json_t		*v;
	size_t		 i;

	if (!json_is_object(g) || t == NULL || nesting > 4)
		return 0;
	if (strcmp(t, "GeometryCollection") == 0) {
		if (!json_is_array(json_object_get(g, "geometries")))
			return 0;
		json_array_foreach(json_object_get(g, "geometries"), i, v)
			if (!geojson_ok(v, nesting + 1))
				return 0;
		return 1;
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].type) == 0)
			return positions_ok(json_object_get(g, "coordinates"),
			    types[i].depth, types[i].ring);
	return 0;
}

/*
 * The positions of a GeoJSON geometry (arrays starting with a number, in
 * its coordinates and its members'), counted up to limit + 1 only. A body
 * may hold near a million short positions ("[0,0],"): they cost some 130
 * MB once parsed, and each step after (the copy that drops altitudes, its
 * text, the GEOS reader's own tree) as much again, so the vertex limit is
 * checked here, before any of them.
 */
static size_t
positions_count(json_t *j, size_t limit)
{
	json_t	*v;
	size_t	 i, n = 0;

	if (json_is_object(j))
		return positions_count(json_object_get(j, "coordinates"), limit) +
		    positions_count(json_object_get(j, "geometries"), limit);
	if (!json_is_array(j))
		return 0;
	if (json_is_number(json_array_get(j, 0)))
		return 1;
	json_array_foreach(j, i, v)
		if ((n += positions_count(v, limit - n)) > limit)
			break;
	return n;
}

GEOSGeometry *
geom_read(json_t *in, unsigned allowed, struct geom_error *e)
{
	struct geomthr	*t = thr_get();
	GEOSContextHandle_t h = t->h;
	GEOSGeometry	*g = NULL, *loc = NULL;
	char		*text = NULL, *reason = NULL, types[96];
	const char	*s;
	double		 xmin, xmax, ymin, ymax, lx, ly;
	size_t		 i;
	int		 id, geojson;

	t->msg[0] = '\0';
	if (json_is_string(in)) {
		s = json_string_value(in);
		while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '{') {	/* GeoJSON given as a text */
			json_t *obj = json_loads(s, 0, NULL);

			if (obj == NULL)
				return fail(e, "geometry_parse", "La géométrie "
				    "n'a pas pu être lue (GeoJSON) : JSON invalide.");
			g = geom_read(obj, allowed, e);
			json_decref(obj);
			return g;
		}
		geojson = 0;
		text = xstrdup(s);
	} else if (json_is_object(in)) {
		json_t *copy;

		if (positions_count(in, GEOM_MAX_VERTICES) > GEOM_MAX_VERTICES)
			return too_large(e);
		copy = json_deep_copy(in);	/* altitudes are dropped */
		if (!geojson_ok(copy, 0)) {
			json_decref(copy);
			return fail(e, "geometry_parse", "La géométrie n'a pas pu "
			    "être lue (GeoJSON) : un objet géométrie (type, "
			    "coordonnées de 2 ou 3 nombres, anneaux fermés d'au "
			    "moins 4 positions) est attendu.");
		}
		text = json_dumps(copy, JSON_COMPACT);
		json_decref(copy);
		geojson = 1;
	} else
		return fail(e, "geometry_missing", "La géométrie est absente "
		    "(GeoJSON ou WKT attendu).");
	if (geojson) {
		GEOSGeoJSONReader *r = GEOSGeoJSONReader_create_r(h);

		g = GEOSGeoJSONReader_readGeometry_r(h, r, text);
		GEOSGeoJSONReader_destroy_r(h, r);
	} else {
		GEOSWKTReader *r = GEOSWKTReader_create_r(h);

		g = GEOSWKTReader_read_r(h, r, text);
		GEOSWKTReader_destroy_r(h, r);
	}
	free(text);
	if (g == NULL)
		return fail(e, "geometry_parse", "La géométrie n'a pas pu être "
		    "lue (%s) : %.200s", geojson ? "GeoJSON" : "WKT",
		    t->msg[0] ? t->msg : "format inconnu");
	id = GEOSGeomTypeId_r(h, g);
	if (id < 0 || !(allowed & (1u << id))) {
		allowed_fr(allowed, types, sizeof(types));
		GEOSGeom_destroy_r(h, g);
		return fail(e, "geometry_type", "La géométrie est %s ; %s est "
		    "attendu ici.", type_fr(id), types);
	}
	if (GEOSisEmpty_r(h, g) == 1) {
		GEOSGeom_destroy_r(h, g);
		return fail(e, "geometry_empty", "La géométrie est vide.");
	}
	for (i = 0; i < (size_t)GEOSGetNumGeometries_r(h, g); i++)
		if (GEOSisEmpty_r(h, GEOSGetGeometryN_r(h, g, (int)i)) == 1) {
			GEOSGeom_destroy_r(h, g);
			return fail(e, "geometry_empty", "Une partie de la géométrie "
			    "est vide.");
		}
	if (GEOSGetNumCoordinates_r(h, g) > GEOM_MAX_VERTICES) {
		GEOSGeom_destroy_r(h, g);
		return too_large(e);
	}
	if (!GEOSGeom_getXMin_r(h, g, &xmin) || !GEOSGeom_getXMax_r(h, g, &xmax) ||
	    !GEOSGeom_getYMin_r(h, g, &ymin) || !GEOSGeom_getYMax_r(h, g, &ymax) ||
	    !isfinite(xmin) || !isfinite(xmax) || !isfinite(ymin) ||
	    !isfinite(ymax) || xmin < -180 || xmax > 180 || ymin < -90 ||
	    ymax > 90) {
		GEOSGeom_destroy_r(h, g);
		return fail(e, "geometry_coordinates", "Des coordonnées ne sont "
		    "pas des longitudes et latitudes valides (WGS 84, degrés).");
	}
	if (GEOSisValidDetail_r(h, g, 0, &reason, &loc) != 1) {
		const char *fr = reason ? reason : "raison inconnue";

		for (i = 0; reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (strcmp(reason, reasons[i].geos) == 0)
				fr = reasons[i].fr;
		lx = ly = NAN;
		if (loc != NULL) {
			GEOSGeomGetX_r(h, loc, &lx);
			GEOSGeomGetY_r(h, loc, &ly);
		}
		fail(e, "geometry_invalid", "La géométrie est invalide : %s en "
		    "%.6f %.6f.", fr, lx, ly);
		GEOSFree_r(h, reason);
		if (loc != NULL)
			GEOSGeom_destroy_r(h, loc);
		GEOSGeom_destroy_r(h, g);
		return NULL;
	}
	GEOSFree_r(h, reason);
	if (loc != NULL)
		GEOSGeom_destroy_r(h, loc);
	GEOSSetSRID_r(h, g, 4326);
	return g;
}

int
geom_anchor(const GEOSGeometry *g, double *x, double *y)
{
	GEOSContextHandle_t h = geom_ctx();
	GEOSGeometry	*p;
	int		 ok;

	if (GEOSGeomTypeId_r(h, g) == GEOS_POINT)
		return GEOSGeomGetX_r(h, g, x) == 1 && GEOSGeomGetY_r(h, g, y) == 1 ?
		    0 : -1;
	if ((p = GEOSPointOnSurface_r(h, g)) == NULL)
		return -1;
	ok = GEOSGeomGetX_r(h, p, x) == 1 && GEOSGeomGetY_r(h, p, y) == 1;
	GEOSGeom_destroy_r(h, p);
	return ok ? 0 : -1;
}

char *
geom_geojson(const GEOSGeometry *g)
{
	GEOSContextHandle_t h = geom_ctx();
	GEOSGeoJSONWriter *w = GEOSGeoJSONWriter_create_r(h);
	char		*s = GEOSGeoJSONWriter_writeGeometry_r(h, w, g, -1);
	char		*out = s ? xstrdup(s) : NULL;

	GEOSFree_r(h, s);
	GEOSGeoJSONWriter_destroy_r(h, w);
	return out;
}

char *
geom_hexwkb(const GEOSGeometry *g)
{
	GEOSContextHandle_t h = geom_ctx();
	GEOSWKBWriter	*w = GEOSWKBWriter_create_r(h);
	unsigned char	*s;
	size_t		 n;
	char		*out;

	GEOSWKBWriter_setIncludeSRID_r(h, w, 1);
	s = GEOSWKBWriter_writeHEX_r(h, w, g, &n);
	out = s ? xstrndup((const char *)s, n) : NULL;
	GEOSFree_r(h, s);
	GEOSWKBWriter_destroy_r(h, w);
	return out;
}

double
geom_metres(double x1, double y1, double x2, double y2)
{
	const double	r = 6371008.8, rad = M_PI / 180;
	double		dx = (x2 - x1) * rad * cos((y1 + y2) / 2 * rad);
	double		dy = (y2 - y1) * rad;

	return r * sqrt(dx * dx + dy * dy);
}
