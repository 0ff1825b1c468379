/*
 * territory.h — sets of départements and communes (INSEE codes) and what
 * lies inside them. An organisation covers a territory; a user may be
 * restricted to part of it.
 */
#ifndef GUICHET_TERRITORY_H
#define GUICHET_TERRITORY_H

#include <stddef.h>

struct territory {
	int	  all;		/* the whole platform (administrators) */
	char	**depts;	/* "31", "2A", "971" */
	size_t	  ndepts;
	char	**communes;	/* "31555" */
	size_t	  ncommunes;
};

/* 1 when code is a well-formed département (commune) INSEE code. */
int	 terr_dept_ok(const char *code);
int	 terr_commune_ok(const char *code);
/* The département of a commune code, into out (4 bytes). */
void	 terr_dept_of(const char *commune, char out[4]);

/*
 * Fills t from two PostgreSQL text-array literals ("{31,34}"); NULL or
 * malformed arrays give an empty part. Returns -1 on a malformed literal.
 */
int	 terr_from_pg(struct territory *t, const char *depts,
	    const char *communes);
void	 terr_free(struct territory *t);
/* The codes as PostgreSQL array literals (the caller frees both). */
void	 terr_to_pg(const struct territory *t, char **depts, char **communes);

/* Is a commune or département code inside t? */
int	 terr_contains(const struct territory *t, const char *code);
/* Is every part of sub inside t? */
int	 terr_within(const struct territory *t, const struct territory *sub);
/* 1 when t covers nothing. */
int	 terr_empty(const struct territory *t);

#endif
