/*
 * commune_bench — which commune holds a point: the in-memory GEOS index of
 * guichet against one PostGIS ST_Contains query per point, side by side in
 * one run on the same random points of the Occitanie bounding box.
 *
 *   commune_bench [points] [reps]     (PG* variables name the database)
 *
 * Prints one line per repetition and a last line of medians:
 *   median_us_memory=… median_us_postgis=… ratio=… agree=…/…
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commune.h"
#include "conf.h"
#include "db.h"
#include "util.h"

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	int		 npts = argc > 1 ? atoi(argv[1]) : 20000;
	int		 reps = argc > 2 ? atoi(argv[2]) : 5, npg, i, k, agree = 0,
			 compared = 0;
	double		*xs, *ys, mem[64], pg[64];
	char		 err[512], (*codes)[8], xb[32], yb[32];
	const char	*v[2] = { xb, yb };
	struct commune_hit hit;
	char		*envp[] = { NULL };
	PGconn		*c;
	PGresult	*res;
	int64_t		 t0;
	long		 n;

	if (reps > 64)
		reps = 64;
	if (conf_load(NULL, envp, err, sizeof(err)) != 0)
		fatal("%s", err);
	if ((c = db_connect(err, sizeof(err))) == NULL)
		fatal("%s", err);
	if ((n = commune_index_load(c)) <= 0)
		fatal("no commune outlines: run guichet load-refdata first");
	/* The same points for both, spread over the region's bounding box. */
	srand(76);
	xs = xmalloc(sizeof(*xs) * npts);
	ys = xmalloc(sizeof(*ys) * npts);
	codes = xcalloc(npts, sizeof(*codes));
	for (i = 0; i < npts; i++) {
		xs[i] = -0.33 + 5.2 * rand() / (double)RAND_MAX;
		ys[i] = 42.33 + 2.72 * rand() / (double)RAND_MAX;
	}
	res = PQprepare(c, "contains", "SELECT code FROM ref_zones WHERE kind = "
	    "'commune' AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($1::float8, "
	    "$2::float8), 4326))", 2, NULL);
	PQclear(res);
	/* PostGIS gets a tenth of the points per repetition: it is slower. */
	npg = npts / 10 > 0 ? npts / 10 : 1;
	for (k = 0; k < reps; k++) {
		t0 = now_us();
		for (i = 0; i < npts; i++)
			if (commune_locate(xs[i], ys[i], &hit) && hit.inside)
				memcpy(codes[i], hit.code, sizeof(codes[i]));
		mem[k] = (double)(now_us() - t0) / npts;
		t0 = now_us();
		for (i = 0; i < npg; i++) {
			snprintf(xb, sizeof(xb), "%.7f", xs[i]);
			snprintf(yb, sizeof(yb), "%.7f", ys[i]);
			res = PQexecPrepared(c, "contains", 2, v, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				fatal("postgis: %s", PQerrorMessage(c));
			if (k == 0) {
				compared++;
				if ((PQntuples(res) == 0 && codes[i][0] == '\0') ||
				    (PQntuples(res) > 0 && strcmp(PQgetvalue(res,
				    0, 0), codes[i]) == 0))
					agree++;
			}
			PQclear(res);
		}
		pg[k] = (double)(now_us() - t0) / npg;
		printf("rep %d: memory %.2f us/point, postgis %.1f us/point\n",
		    k + 1, mem[k], pg[k]);
	}
	{
		double	ratios[64];

		for (k = 0; k < reps; k++)
			ratios[k] = pg[k] / mem[k];
		printf("communes=%ld points=%d median_us_memory=%.2f "
		    "median_us_postgis=%.1f ratio=%.0f agree=%d/%d\n", n, npts,
		    median(mem, reps), median(pg, reps), median(ratios, reps),
		    agree, compared);
	}
	commune_index_free();
	PQfinish(c);
	free(xs);
	free(ys);
	free(codes);
	return 0;
}
