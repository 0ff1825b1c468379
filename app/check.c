/*
 * check.c — the checks of a record before it is saved (check.h), one code
 * path for the entry form, the API and imports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commune.h"
#include "db.h"
#include "form.h"
#include "geom.h"
#include "territory.h"
#include "util.h"


void
check_free(struct check *c)
{
	json_decref(c->clean);
	json_decref(c->errors);
	json_decref(c->warnings);
	if (c->geom != NULL)
		GEOSGeom_destroy_r(geom_ctx(), c->geom);
	free(c->hexwkb);
}

/* The look-alike query's common head and tail (see duplicates()). */
#define DUP_SELECT "SELECT coalesce(json_agg(json_build_object('id', id, " \
	"'label', label, 'state', state, 'distance_m', d) ORDER BY d), '[]') " \
	"FROM (SELECT s.id, s.label, s.state, round(ST_Distance(s.geom::" \
	"geography, $2::geometry::geography))::int AS d FROM submissions s " \
	"WHERE s.guichet = $1 AND s.id <> $3::bigint " \
	"AND s.id IS DISTINCT FROM $4::bigint AND s.operation = 'create' " \
	"AND s.state NOT IN ('draft', 'withdrawn', 'rejected', 'deleted') " \
	"AND (s.organisation_id = $5::bigint OR s.state = 'validated') "
#define DUP_END "ORDER BY 4 LIMIT 5) t"

/*
 * Nearby objects of the same guichet: within the form's radius and with a
 * similar name, or, for addresses, the same number, suffix and street.
 */
static int
duplicates(struct check *c, int64_t self, int64_t org, struct db_err *e)
{
	json_t		*dup = json_object_get(json_object_get(form_definition(
			    c->form), "geometry"), "duplicates");
	json_t		*same = json_object_get(dup, "same"), *cands;
	double		 radius = json_number_value(json_object_get(dup,
			    "radius_m"));
	double		 sim = json_number_value(json_object_get(dup,
			    "similarity"));
	const char	*name = json_string_value(json_object_get(c->clean,
			    form_name_field(c->form)));
	char		 rad[32], deg[32], simt[32], id[24], oid[24], tid[24];
	char		*keys = NULL, *attrs = NULL;
	const char	*v[9];
	PGresult	*res;

	if (c->hexwkb == NULL)
		return 0;
	snprintf(id, sizeof(id), "%lld", (long long)self);
	snprintf(tid, sizeof(tid), "%lld", (long long)c->target);
	snprintf(oid, sizeof(oid), "%lld", (long long)org);
	v[0] = form_guichet(c->form);
	v[1] = c->hexwkb;
	v[2] = id;
	v[3] = c->target ? tid : NULL;
	v[4] = oid;
	/*
	 * Two ways to be alike. With "same" keys (addresses: number, suffix,
	 * street), every key equal once case and blanks are folded, in the
	 * same commune, wherever the point: the same literal address. Else
	 * within the radius with a similar name (pg_trgm), or any name when
	 * none is given. Only what the author may know of is listed: its
	 * organisation's submissions, and validated objects. Two statements
	 * rather than one with a CASE, so that each has a plan of its own,
	 * prepared once per connection: an import runs one for each row.
	 */
	if (same != NULL) {
		keys = json_dumps(same, JSON_COMPACT);
		attrs = json_dumps(c->clean, JSON_COMPACT);
		v[5] = c->commune[0] ? c->commune : NULL;
		v[6] = keys;
		v[7] = attrs;
		res = db_query(e, DB_IDEMPOTENT | DB_PREPARED, DUP_SELECT
		    "AND s.insee_commune = $6 AND NOT EXISTS (SELECT 1 FROM "
		    "jsonb_array_elements_text($7::jsonb) k WHERE "
		    "lower(regexp_replace(btrim(coalesce(s.attributes->>k, '')), "
		    "'\\s+', ' ', 'g')) <> lower(regexp_replace(btrim(coalesce("
		    "($8::jsonb)->>k, '')), '\\s+', ' ', 'g'))) " DUP_END, 8, v);
	} else {
		snprintf(rad, sizeof(rad), "%g", radius);
		snprintf(deg, sizeof(deg), "%g", radius / 111000.0 * 1.6);
		snprintf(simt, sizeof(simt), "%g", sim);
		v[5] = deg;
		v[6] = rad;
		v[7] = name;
		v[8] = simt;
		res = db_query(e, DB_IDEMPOTENT | DB_PREPARED, DUP_SELECT
		    "AND ST_DWithin(s.geom, $2::geometry, $6::float8) "
		    "AND ST_DWithin(s.geom::geography, $2::geometry::geography, "
		    "$7::float8) AND ($8::text IS NULL OR similarity(s.label, $8) "
		    ">= $9::float4) " DUP_END, 9, v);
	}
	free(keys);
	free(attrs);
	if (res == NULL)
		return -1;
	cands = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (json_array_size(cands) > 0) {
		json_t *first = json_array_get(cands, 0), *w;

		form_problem(c->warnings, "geometry", "duplicate_nearby",
		    "Un objet semblable existe déjà à %lld m : « %s » (n° %lld). "
		    "Vérifiez qu'il ne s'agit pas du même.",
		    (long long)json_integer_value(json_object_get(first,
		    "distance_m")), json_string_value(json_object_get(first,
		    "label")) ? json_string_value(json_object_get(first, "label")) :
		    "sans nom", (long long)json_integer_value(json_object_get(first,
		    "id")));
		w = json_array_get(c->warnings, json_array_size(c->warnings) - 1);
		json_object_set(w, "candidates", cands);
	}
	json_decref(cands);
	return 0;
}

/*
 * Checks against the COG commune list (when it is loaded): a commune
 * déléguée must belong to the commune, a postcode must be one of the
 * commune's. Both are warnings: the list has a vintage, the ground moves.
 */
static int
cog_checks(struct check *c, struct db_err *e)
{
	const char	*deleguee = json_string_value(json_object_get(c->clean,
			    "commune_deleguee_insee"));
	const char	*cp = json_string_value(json_object_get(c->clean,
			    "code_postal"));
	const char	*v[3] = { c->commune, deleguee, cp };
	PGresult	*res;

	if (c->commune[0] == '\0' || (deleguee == NULL && cp == NULL))
		return 0;
	res = db_query(e, DB_IDEMPOTENT | DB_PREPARED, "SELECT "
	    "$2::text IS NULL OR EXISTS (SELECT 1 FROM ref_communes WHERE "
	    "  code = $2 AND type IN ('commune-deleguee', 'commune-associee') "
	    "  AND chef_lieu = $1), "
	    "$3::text IS NULL OR EXISTS (SELECT 1 FROM ref_communes WHERE "
	    "  code = $1 AND type = 'commune-actuelle' AND $3 = ANY(codes_postaux)), "
	    "EXISTS (SELECT 1 FROM ref_communes WHERE code = $1 "
	    "  AND type = 'commune-actuelle')", 3, v);
	if (res == NULL)
		return -1;
	if (PQgetvalue(res, 0, 2)[0] == 't') {	/* the list knows the commune */
		if (PQgetvalue(res, 0, 0)[0] != 't')
			form_problem(c->warnings, "commune_deleguee_insee",
			    "deleguee_inconnue", "%s n'est pas une commune "
			    "déléguée ou associée de la commune %s.", deleguee,
			    c->commune);
		if (PQgetvalue(res, 0, 1)[0] != 't')
			form_problem(c->warnings, "code_postal",
			    "code_postal_inconnu", "Le code postal %s n'est pas "
			    "celui de la commune %s.", cp, c->commune);
	}
	PQclear(res);
	return 0;
}

int
check_run(struct check *c, const struct identity *who, json_t *attrs,
    json_t *geometry, int complete, int64_t self, struct db_err *e)
{
	const char		*cf = form_commune_field(c->form);
	json_t			*v;
	struct commune_hit	 hit;
	struct geom_error	 ge;
	const char		*given, *where = NULL;
	double			 x, y, m;
	int			 located = 0;

	c->errors = json_array();
	c->warnings = json_array();
	/* The geometry first: the commune it falls in fills an empty commune
	 * field before the form checks that it is there. */
	if (geometry != NULL && !json_is_null(geometry)) {
		c->geom = geom_read(geometry, form_geometry_types(c->form), &ge);
		if (c->geom == NULL)
			form_problem(c->errors, "geometry", ge.code, "%s",
			    ge.message);
		/* A geometry given but not read is never a missing one. */
		if (c->geom == NULL && json_array_size(c->errors) == 0)
			form_problem(c->errors, "geometry", "geometry_parse",
			    "La géométrie n'a pas pu être lue.");
	}
	if (c->geom != NULL) {
		c->hexwkb = geom_hexwkb(c->geom);
		if (commune_index_ensure() > 0 && geom_anchor(c->geom, &x, &y) == 0) {
			if ((located = commune_locate(x, y, &hit)) == 0)
				form_problem(c->errors, "geometry",
				    "geometry_outside", "L'objet est hors du "
				    "territoire couvert par le guichet (%.5f "
				    "%.5f).", x, y);
		}
	}
	v = json_is_object(attrs) ? json_object_get(attrs, cf) : NULL;
	if (located && (v == NULL || json_is_null(v) || (json_is_string(v) &&
	    json_string_length(v) == 0))) {
		attrs = json_copy(attrs);
		json_object_set_new(attrs, cf, json_string(hit.code));
	} else
		json_incref(attrs);
	form_validate(c->form, attrs, complete, &c->clean, c->errors,
	    c->warnings);
	json_decref(attrs);
	if (complete && (geometry == NULL || json_is_null(geometry)))
		form_problem(c->errors, "geometry", "geometry_missing",
		    "Placez l'objet sur la carte : la géométrie est obligatoire.");
	given = json_string_value(json_object_get(c->clean, cf));
	if (located && given != NULL && strcmp(given, hit.code) != 0) {
		/* Outlines are simplified: near the commune given, a
		 * different one is only worth a warning. */
		m = commune_distance(given, x, y);
		if (m >= 0 && m <= COMMUNE_TOLERANCE_M)
			form_problem(c->warnings, cf, "commune_border", "L'objet "
			    "est en limite de la commune %s, dans %s (%s) "
			    "d'après les contours : vérifiez la commune.", given,
			    hit.nom, hit.code);
		else {
			form_problem(c->errors, cf, "commune_mismatch", "L'objet "
			    "est dans la commune %s (%s), pas dans %s.", hit.nom,
			    hit.code, given);
			where = hit.code;	/* the territory is the map's */
		}
	}
	if (where == NULL)
		where = given;
	if (where != NULL) {
		snprintf(c->commune, sizeof(c->commune), "%s", given ? given : where);
		terr_dept_of(c->commune, c->dept);
		c->outside = authz_place(who, ACT_SUBMIT, where).status != 0;
	}
	if (complete && json_array_size(c->errors) == 0 &&
	    (cog_checks(c, e) != 0 || duplicates(c, self, who->org_id, e) != 0))
		return -1;
	return 0;
}

