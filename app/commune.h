/*
 * commune.h — which commune contains a point: the commune outlines of
 * PostGIS (ref_zones), prepared by GEOS and indexed in an STRtree held in
 * memory, loaded at start-up.
 */
#ifndef GUICHET_COMMUNE_H
#define GUICHET_COMMUNE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Outlines are simplified: a point this close to a commune still counts. */
#define COMMUNE_TOLERANCE_M	50.0

struct commune_hit {
	char	 code[8];
	char	 nom[128];
	int	 inside;	/* 1: contained; 0: within the tolerance */
	double	 distance_m;	/* 0 when inside */
};

/* Loads (or reloads) the outlines; returns how many, or -1 on error. */
long	 commune_index_load(PGconn *);
void	 commune_index_free(void);
/* Outlines in memory; 0: containment checks are off. */
size_t	 commune_count(void);
/* The count, after trying (at most once a minute) to load an empty index. */
size_t	 commune_index_ensure(void);

/*
 * The commune at lon/lat: 1 with hit filled (inside, or nearest within the
 * tolerance), 0 when none (outside the territory covered).
 */
int	 commune_locate(double x, double y, struct commune_hit *hit);

/* Metres from lon/lat to the outline of commune code; -1 if unknown. */
double	 commune_distance(const char *code, double x, double y);

#endif
