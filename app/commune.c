/*
 * commune.c — the in-memory commune index.
 *
 * A lookup queries the STRtree with the point, then asks each candidate's
 * prepared geometry whether it covers the point: a few microseconds, against
 * a database round trip per point. When no outline covers the point, the
 * candidates within the tolerance (the outlines are simplified to about a
 * metre, and communes share borders) are measured with GEOSNearestPoints
 * and the nearest is taken. Prepared geometries build their own indexes
 * lazily, which is not safe to do from several threads at once, so lookups
 * take a mutex: it is held for microseconds.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commune.h"
#include "db.h"
#include "geom.h"
#include "util.h"

struct outline {
	char				 code[8];
	char				 nom[128];
	GEOSGeometry			*g;
	const GEOSPreparedGeometry	*pg;
};

static GEOSContextHandle_t	 ctx;		/* owns the index, under lock */
static GEOSSTRtree		*tree;
static struct outline		*outlines;
static size_t			 noutlines;
static pthread_mutex_t		 lock = PTHREAD_MUTEX_INITIALIZER;

static void
free_locked(void)
{
	size_t	i;

	if (tree != NULL)
		GEOSSTRtree_destroy_r(ctx, tree);
	for (i = 0; i < noutlines; i++) {
		GEOSPreparedGeom_destroy_r(ctx, outlines[i].pg);
		GEOSGeom_destroy_r(ctx, outlines[i].g);
	}
	free(outlines);
	tree = NULL;
	outlines = NULL;
	noutlines = 0;
}

void
commune_index_free(void)
{
	pthread_mutex_lock(&lock);
	free_locked();
	if (ctx != NULL)
		GEOS_finish_r(ctx);
	ctx = NULL;
	pthread_mutex_unlock(&lock);
}

long
commune_index_load(PGconn *c)
{
	struct db_err	 e;
	PGresult	*res;
	GEOSWKBReader	*r;
	long		 n, i;

	/*
	 * Outlines may be older than the commune list (the shared ones are of
	 * 2018): an outline of a commune since merged takes the code and name
	 * of the commune it now belongs to, so that a point in it gets a
	 * current commune. Each code an outline may carry (a current code,
	 * a former one, a commune déléguée's) is mapped once to its current
	 * commune — the same code first — then joined: a lookup per outline
	 * scanned the whole list 4,485 times (17 s at start-up).
	 */
	res = db_exec(c, &e, "WITH m AS (SELECT code AS cur, nom, code AS old, "
	    "0 AS rank FROM ref_communes WHERE type = 'commune-actuelle' "
	    "UNION ALL SELECT code, nom, unnest(anciens_codes), 1 FROM "
	    "ref_communes WHERE type = 'commune-actuelle' UNION ALL SELECT "
	    "a.code, a.nom, d.code, 2 FROM ref_communes d JOIN ref_communes a "
	    "ON a.code = d.chef_lieu AND a.type = 'commune-actuelle' WHERE "
	    "d.type IN ('commune-deleguee', 'commune-associee')), best AS ("
	    "SELECT DISTINCT ON (old) old, cur, nom FROM m ORDER BY old, rank, "
	    "cur) SELECT coalesce(best.cur, z.code), coalesce(best.nom, z.nom), "
	    "ST_AsBinary(z.geom) FROM ref_zones z LEFT JOIN best ON best.old = "
	    "z.code WHERE z.kind = 'commune' ORDER BY 1", 0, NULL);
	if (res == NULL)
		return -1;
	pthread_mutex_lock(&lock);
	free_locked();
	if (ctx == NULL && (ctx = GEOS_init_r()) == NULL)
		fatal("GEOS cannot be initialised");
	n = PQntuples(res);
	outlines = xcalloc((size_t)n + 1, sizeof(*outlines));
	tree = GEOSSTRtree_create_r(ctx, 10);
	r = GEOSWKBReader_create_r(ctx);
	for (i = 0; i < n; i++) {
		struct outline	*o = &outlines[noutlines];
		size_t		 len;
		unsigned char	*wkb = PQunescapeBytea((unsigned char *)
				    PQgetvalue(res, i, 2), &len);

		o->g = wkb ? GEOSWKBReader_read_r(ctx, r, wkb, len) : NULL;
		PQfreemem(wkb);
		if (o->g == NULL) {
			log_warn("commune %s: unreadable outline", PQgetvalue(res, i, 0));
			continue;
		}
		snprintf(o->code, sizeof(o->code), "%s", PQgetvalue(res, i, 0));
		snprintf(o->nom, sizeof(o->nom), "%s", PQgetvalue(res, i, 1));
		o->pg = GEOSPrepare_r(ctx, o->g);
		GEOSSTRtree_insert_r(ctx, tree, o->g, o);
		noutlines++;
	}
	GEOSWKBReader_destroy_r(ctx, r);
	PQclear(res);
	n = (long)noutlines;
	pthread_mutex_unlock(&lock);
	return n;
}

size_t
commune_count(void)
{
	size_t	n;

	pthread_mutex_lock(&lock);
	n = noutlines;
	pthread_mutex_unlock(&lock);
	return n;
}

struct query {
	int			 near;		/* second pass: measure distances */
	GEOSGeometry		*pt;
	double			 x, y;
	const struct outline	*inside;
	const struct outline	*nearest;
	double			 best_m;
};

/* STRtree callback: sees each candidate whose envelope meets the query's. */
static void
visit(void *item, void *userdata)
{
	const struct outline	*o = item;
	struct query		*q = userdata;
	GEOSCoordSequence	*cs;
	double			 x, y, m;

	if (q->inside != NULL)
		return;
	if (!q->near) {
		if (GEOSPreparedCovers_r(ctx, o->pg, q->pt) == 1)
			q->inside = o;
		return;
	}
	if ((cs = GEOSNearestPoints_r(ctx, o->g, q->pt)) == NULL)
		return;
	if (GEOSCoordSeq_getXY_r(ctx, cs, 0, &x, &y) == 1) {
		m = geom_metres(q->x, q->y, x, y);
		if (m < q->best_m) {
			q->best_m = m;
			q->nearest = o;
		}
	}
	GEOSCoordSeq_destroy_r(ctx, cs);
}

/*
 * Metres to the nearest outline of a commune (a merged commune has several,
 * one per former commune). A linear walk: a few thousand string compares.
 */
double
commune_distance(const char *code, double x, double y)
{
	GEOSCoordSequence	*cs;
	GEOSGeometry		*pt;
	double			 best = -1, m, px, py;
	size_t			 i;

	pthread_mutex_lock(&lock);
	pt = ctx ? GEOSGeom_createPointFromXY_r(ctx, x, y) : NULL;
	for (i = 0; pt != NULL && i < noutlines && best != 0; i++) {
		if (strcmp(outlines[i].code, code) != 0)
			continue;
		if (GEOSPreparedCovers_r(ctx, outlines[i].pg, pt) == 1)
			m = 0;
		else if ((cs = GEOSNearestPoints_r(ctx, outlines[i].g, pt)) != NULL) {
			m = GEOSCoordSeq_getXY_r(ctx, cs, 0, &px, &py) == 1 ?
			    geom_metres(x, y, px, py) : -1;
			GEOSCoordSeq_destroy_r(ctx, cs);
		} else
			m = -1;
		if (m >= 0 && (best < 0 || m < best))
			best = m;
	}
	if (pt != NULL)
		GEOSGeom_destroy_r(ctx, pt);
	pthread_mutex_unlock(&lock);
	return best;
}

/*
 * When the index is empty (PostgreSQL was down at start-up, or the outlines
 * were loaded since), tries to load it, at most once a minute.
 */
size_t
commune_index_ensure(void)
{
	static int64_t	 last_try;
	char		 err[256];
	PGconn		*c;
	int64_t		 now = now_us();
	size_t		 n;
	int		 go;

	if ((n = commune_count()) > 0)
		return n;
	pthread_mutex_lock(&lock);
	go = last_try == 0 || now - last_try > 60 * 1000000LL;
	if (go)
		last_try = now;
	pthread_mutex_unlock(&lock);
	if (go && (c = db_connect(err, sizeof(err))) != NULL) {
		if (commune_index_load(c) > 0)
			log_info("%zu commune outline(s) loaded: containment "
			    "checks are on", commune_count());
		PQfinish(c);
	}
	return commune_count();
}

int
commune_locate(double x, double y, struct commune_hit *hit)
{
	struct query	 q = { 0, NULL, x, y, NULL, NULL, INFINITY };
	const struct outline *o;
	GEOSGeometry	*env;
	double		 dy = COMMUNE_TOLERANCE_M / 111000.0;
	double		 dx = dy / fmax(cos(y * M_PI / 180), 0.01);
	int		 found = 0;

	memset(hit, 0, sizeof(*hit));
	pthread_mutex_lock(&lock);
	if (tree == NULL || noutlines == 0)
		goto out;
	/* First the outlines whose box holds the point; only when none covers
	 * it, those within the tolerance, measured. */
	q.pt = GEOSGeom_createPointFromXY_r(ctx, x, y);
	GEOSSTRtree_query_r(ctx, tree, q.pt, visit, &q);
	if (q.inside == NULL) {
		q.near = 1;
		env = GEOSGeom_createRectangle_r(ctx, x - dx, y - dy, x + dx,
		    y + dy);
		GEOSSTRtree_query_r(ctx, tree, env, visit, &q);
		GEOSGeom_destroy_r(ctx, env);
	}
	GEOSGeom_destroy_r(ctx, q.pt);
	o = q.inside ? q.inside : q.best_m <= COMMUNE_TOLERANCE_M ? q.nearest : NULL;
	if (o != NULL) {
		snprintf(hit->code, sizeof(hit->code), "%s", o->code);
		snprintf(hit->nom, sizeof(hit->nom), "%s", o->nom);
		hit->inside = q.inside != NULL;
		hit->distance_m = q.inside ? 0 : q.best_m;
		found = 1;
	}
out:
	pthread_mutex_unlock(&lock);
	return found;
}
