/*
 * check.h — everything a record is checked against before it is saved,
 * whether it comes from the entry form, the API or an imported file: the
 * form engine on the attributes, GEOS on the geometry, the commune the
 * geometry falls in (from the in-memory index: it fills the commune field
 * when empty; a different one is an error, or a warning near a border),
 * the acting account's territory, the COG (communes déléguées, postcodes)
 * and the duplicate search in PostGIS.
 */
#ifndef GUICHET_CHECK_H
#define GUICHET_CHECK_H

#include <stdint.h>

#include <geos_c.h>
#include <jansson.h>

#include "authz.h"
#include "db.h"

struct form;

struct check {
	const struct form	*form;
	json_t			*clean;		/* typed attributes */
	json_t			*errors;
	json_t			*warnings;
	GEOSGeometry		*geom;
	char			*hexwkb;
	char			 commune[8];
	char			 dept[4];
	int			 outside;	/* commune outside the author's territory */
	int64_t			 target;	/* an amendment's object, never its look-alike */
};

/*
 * Runs every check on attrs and geometry into c (c->form set by the
 * caller; the lists and the clean attributes are c's to free). complete: a
 * submission (required fields required, COG and duplicate searches run
 * when there is no error); self: the record's own id (0: a new one), never
 * its own duplicate. Returns 0, or -1 with e on a database failure.
 */
int	 check_run(struct check *, const struct identity *who, json_t *attrs,
	    json_t *geometry, int complete, int64_t self, struct db_err *e);
void	 check_free(struct check *);

#endif
