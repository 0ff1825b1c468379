/*
 * import.c — bulk imports: upload, mapping, dry run and its report.
 *
 * The file is stored as uploaded (upload.c) under import_dir/<id>.<format>
 * and read again, record by record, by each dry run: nothing of it is held
 * in memory. Its columns and a few rows are read at once so that the
 * mapping can be made: each form field gets the column whose name matches
 * its name, label or export names once accents, case and punctuation are
 * set aside, unless the organisation's last mapping for the guichet fits
 * the file better.
 *
 * A dry run is a job, claimed by a thread of any node like export batches
 * (FOR UPDATE SKIP LOCKED, a heartbeat, taken over when it stops). Each
 * record becomes attributes (mapped columns, enumeration values translated
 * by the value mapping, texts typed by the form) and a geometry, then goes
 * through check_run exactly as a submission does, as its importer; the
 * outcome of every record is a row of import_rows, written in batches of
 * INSERT_BATCH. Records of the same file that look alike (the form's
 * duplicate rule) are flagged once the whole file is in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "auth.h"
#include "check.h"
#include "conf.h"
#include "db.h"
#include "form.h"
#include "http.h"
#include "import.h"
#include "isource.h"
#include "jobpool.h"
#include "notify.h"
#include "submission.h"
#include "upload.h"
#include "util.h"

#define SAMPLE_ROWS	5
#define INSERT_BATCH	500
#define STALE_SECONDS	60
#define MAX_ATTEMPTS	3

#define IMPORT_JSON "json_build_object('id', i.id, 'guichet', i.guichet, " \
	"'organisation_id', i.organisation_id, 'created_by', i.created_by, " \
	"'filename', i.filename, 'format', i.format, 'bytes', i.bytes, " \
	"'sha256', i.sha256, 'encoding', i.encoding, 'separator', i.separator, " \
	"'columns', i.columns, 'sample', i.sample, 'mapping', i.mapping, " \
	"'geometry', i.geometry, 'value_map', i.value_map, 'validate', " \
	"i.validate, 'state', i.state, 'progress', i.progress, 'total', " \
	"i.total, 'counts', i.counts, 'error', i.error, 'created_at', " \
	"i.created_at, 'checked_at', i.checked_at)"

/* --- names ------------------------------------------------------------------ */

/*
 * A name reduced to what matters for matching: ASCII letters and digits,
 * lower case, accents of French letters dropped ("Catégorie ERP" and
 * "categorie_erp" both give "categorieerp").
 */
static void
fold(const char *in, char *out, size_t outlen)
{
	static const struct { const char *from; char to; } acc[] = {
		{ "à", 'a' }, { "â", 'a' }, { "ä", 'a' }, { "é", 'e' },
		{ "è", 'e' }, { "ê", 'e' }, { "ë", 'e' }, { "î", 'i' },
		{ "ï", 'i' }, { "ô", 'o' }, { "ö", 'o' }, { "ù", 'u' },
		{ "û", 'u' }, { "ü", 'u' }, { "ç", 'c' }, { "É", 'e' },
		{ "È", 'e' }, { "À", 'a' }, { "Ç", 'c' }
	};
	size_t	n = 0, k;

	while (*in != '\0' && n + 1 < outlen) {
		for (k = 0; k < sizeof(acc) / sizeof(acc[0]); k++)
			if (strncmp(in, acc[k].from, strlen(acc[k].from)) == 0)
				break;
		if (k < sizeof(acc) / sizeof(acc[0])) {
			out[n++] = acc[k].to;
			in += strlen(acc[k].from);
			continue;
		}
		if ((*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9'))
			out[n++] = *in;
		else if (*in >= 'A' && *in <= 'Z')
			out[n++] = (char)(*in - 'A' + 'a');
		in++;
	}
	out[n] = '\0';
}

/* The column of columns whose folded name is one of names, or NULL. */
static const char *
column_named(json_t *columns, const char *const *names, size_t nnames)
{
	char		 a[256], b[256];
	json_t		*c;
	size_t		 i, k;

	json_array_foreach(columns, i, c) {
		fold(json_string_value(c), a, sizeof(a));
		for (k = 0; k < nnames; k++) {
			if (names[k] == NULL)
				continue;
			fold(names[k], b, sizeof(b));
			if (b[0] != '\0' && strcmp(a, b) == 0)
				return json_string_value(c);
		}
	}
	return NULL;
}

/*
 * The mapping suggested from the names: a field gets the column named as
 * the field, its label, or one of its export columns (a BAL file's
 * commune_insee, a BD TOPO export's nature…).
 */
static json_t *
suggest_mapping(const struct form *f, json_t *columns)
{
	json_t		*fields = json_object_get(form_definition(f), "fields");
	json_t		*def, *ex, *out = json_object();
	const char	*names[8], *col, *k;
	json_t		*v;
	size_t		 i, n;

	json_array_foreach(fields, i, def) {
		n = 0;
		names[n++] = json_string_value(json_object_get(def, "name"));
		names[n++] = json_string_value(json_object_get(def, "label"));
		ex = json_object_get(def, "export");
		json_object_foreach(ex, k, v)
			if (strcmp(k, "separator") != 0 && n < 8)
				names[n++] = json_string_value(v);
		if ((col = column_named(columns, names, n)) != NULL)
			json_object_set_new(out, names[0], json_string(col));
	}
	return out;
}

/* Where the geometry of a file without its own is likely to be. */
static json_t *
suggest_geometry(json_t *columns, int native)
{
	static const char *const wkt[] = { "wkt", "geom", "geometry",
	    "the_geom", "geometrie" };
	static const char *const xs[] = { "x", "x_l93", "coord_x", "xl93" };
	static const char *const ys[] = { "y", "y_l93", "coord_y", "yl93" };
	static const char *const lons[] = { "long", "lon", "lng",
	    "longitude" };
	static const char *const lats[] = { "lat", "latitude" };
	const char	*a, *b;

	if (native)
		return json_pack("{s:s}", "kind", "native");
	if ((a = column_named(columns, lons, 4)) &&
	    (b = column_named(columns, lats, 2)))
		return json_pack("{s:s, s:s, s:s}", "kind", "lonlat", "lon", a,
		    "lat", b);
	if ((a = column_named(columns, xs, 4)) && (b = column_named(columns, ys,
	    4)))
		return json_pack("{s:s, s:s, s:s}", "kind", "xy", "x", a, "y", b);
	if ((a = column_named(columns, wkt, 5)))
		return json_pack("{s:s, s:s}", "kind", "wkt", "column", a);
	return json_null();
}

/* Does every column the mapping names exist in columns? */
static int
mapping_fits(json_t *mapping, json_t *geometry, json_t *columns)
{
	const char	*k, *keys[] = { "column", "x", "y", "lon", "lat" };
	json_t		*v, *c;
	size_t		 i, n;
	int		 found;

	json_object_foreach(mapping, k, v) {
		found = 0;
		json_array_foreach(columns, i, c)
			found |= json_equal(c, v);
		if (!found)
			return 0;
	}
	for (n = 0; n < 5; n++) {
		if ((v = json_object_get(geometry, keys[n])) == NULL)
			continue;
		found = 0;
		json_array_foreach(columns, i, c)
			found |= json_equal(c, v);
		if (!found)
			return 0;
	}
	return 1;
}

/* --- access ------------------------------------------------------------------- */

/*
 * The import of the path if the caller may see it (its organisation's, or
 * any for the platform's admins): the row of IMPORT_JSON and its state and
 * guichet, or NULL after answering 404.
 */
static PGresult *
import_row(struct req *r, int64_t iid)
{
	char		 id[24], org[24];
	const char	*v[3] = { id, org, r->who->role == ROLE_ADMIN ? "t" : "f" };

	snprintf(id, sizeof(id), "%lld", (long long)iid);
	snprintf(org, sizeof(org), "%lld", (long long)r->who->org_id);
	return db_query_row(r, "SELECT " IMPORT_JSON ", i.state, i.guichet, "
	    "i.format FROM imports i WHERE i.id = $1 AND (i.organisation_id = "
	    "$2::bigint OR $3::boolean)", 3, v, "Cet import n'existe pas.");
}

static void
reply_import(struct req *r, int64_t id, unsigned status)
{
	PGresult	*res;
	json_t		*j;

	if ((res = import_row(r, id)) == NULL)
		return;
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	http_reply_json(r, status, j ? j : json_object());
}

/* --- upload ------------------------------------------------------------------- */

static const char *
format_of(struct req *r)
{
	const struct param_val	*f = req_param(r, "format");
	const char		*name = req_param(r, "filename")->s, *dot;

	if (f->set)
		return f->s;
	dot = strrchr(name, '.');
	if (dot && (strcasecmp(dot, ".geojson") == 0 || strcasecmp(dot,
	    ".json") == 0))
		return "geojson";
	if (dot && strcasecmp(dot, ".gpkg") == 0)
		return "gpkg";
	return "csv";
}

/*
 * What a file says of itself before any mapping: its columns, a few rows
 * (column -> text), and for CSV its encoding and separator.
 */
struct sniff {
	json_t		*columns;
	json_t		*sample;
	const char	*encoding;
	char		 sep[2];
	int		 native;
};

static int
sniff(const char *path, const char *format, struct sniff *s, char *err,
    size_t errlen)
{
	struct isrc	*src;
	json_t		*values, *geometry;
	long		 line;
	int		 rc;

	if ((src = isrc_open(path, format, err, errlen)) == NULL)
		return -1;
	s->columns = json_incref(isrc_columns(src));
	s->sample = json_array();
	s->encoding = isrc_encoding(src);
	s->sep[0] = isrc_separator(src);
	s->native = isrc_has_geometry(src);
	while (json_array_size(s->sample) < SAMPLE_ROWS &&
	    (rc = isrc_next(src, &values, &geometry, &line, err, errlen)) != 0) {
		if (rc == 1)
			json_array_append_new(s->sample, values);
		json_decref(geometry);
	}
	isrc_close(src);
	return 0;
}

struct create {
	struct req	*r;
	const char	*format;
	struct sniff	*s;
	json_t		*mapping, *geometry, *value_map;
	int64_t		 id;
};

static int
create_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct create	*k = arg;
	struct req	*r = k->r;
	char		 org[24], uid[24], bytes[24], *cols, *sample, *map, *geo,
			*vm;
	const char	*v[13];
	PGresult	*res;
	int		 rc = -1;

	snprintf(org, sizeof(org), "%lld", (long long)r->who->org_id);
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	snprintf(bytes, sizeof(bytes), "%llu",
	    (unsigned long long)upload_bytes(r->upload));
	cols = json_dumps(k->s->columns, JSON_COMPACT);
	sample = json_dumps(k->s->sample, JSON_COMPACT);
	map = json_dumps(k->mapping, JSON_COMPACT);
	geo = json_dumps(k->geometry, JSON_COMPACT | JSON_ENCODE_ANY);
	vm = json_dumps(k->value_map, JSON_COMPACT);
	v[0] = req_param(r, "guichet")->s;
	v[1] = org;
	v[2] = uid;
	v[3] = req_param(r, "filename")->s;
	v[4] = k->format;
	v[5] = bytes;
	v[6] = upload_sha256(r->upload);
	v[7] = k->s->encoding;
	v[8] = k->s->sep[0] ? k->s->sep : NULL;
	v[9] = cols;
	v[10] = sample;
	v[11] = map;
	v[12] = geo;
	res = db_exec(c, e, "INSERT INTO imports (guichet, organisation_id, "
	    "created_by, filename, format, bytes, sha256, encoding, separator, "
	    "columns, sample, mapping, geometry) VALUES ($1, $2, $3, $4, $5, "
	    "$6, $7, $8, $9, $10, $11, $12, nullif($13, 'null')::jsonb) "
	    "RETURNING id", 13, v);
	if (res != NULL) {
		k->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (vm != NULL && strcmp(vm, "{}") != 0) {
			snprintf(bytes, sizeof(bytes), "%lld", (long long)k->id);
			v[0] = bytes;
			v[1] = vm;
			rc = db_run(c, e, "UPDATE imports SET value_map = $2 "
			    "WHERE id = $1", 2, v);
		} else
			rc = 0;
	}
	free(cols);
	free(sample);
	free(map);
	free(geo);
	free(vm);
	return rc;
}

/*
 * POST /api/v1/imports?guichet=…&filename=…: the body is the file. It is
 * read once for its columns and first rows (a file that cannot be read is
 * 422 and is not kept), recorded, and kept as import_dir/<id>.<format>.
 */
void
import_create(struct req *r)
{
	const struct form	*f = form_find(req_param(r, "guichet")->s);
	struct sniff		 s = { 0 };
	struct create		 k = { r, format_of(r), &s, NULL, NULL, NULL, 0 };
	struct db_err		 e;
	PGresult		*res = NULL;
	char			 err[512], org[24], *path = NULL;
	const char		*v[2] = { org, form_guichet(f) };

	if (sniff(upload_path(r->upload), k.format, &s, err, sizeof(err))) {
		http_reply_error(r, 422, "file_unreadable", err, "file");
		goto out;
	}
	if (json_array_size(s.columns) == 0) {
		http_reply_error(r, 422, "file_unreadable", "Le fichier n'a "
		    "aucune colonne.", "file");
		goto out;
	}
	/* The organisation's last mapping, when it fits this file. */
	snprintf(org, sizeof(org), "%lld", (long long)r->who->org_id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT mapping::text, "
	    "geometry::text, value_map::text FROM import_mappings WHERE "
	    "organisation_id = $1 AND guichet = $2", 2, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		goto out;
	}
	/* The names' suggestion, overridden by the last mapping where it
	 * fits: a field it mapped, a geometry source it gave. */
	k.mapping = suggest_mapping(f, s.columns);
	k.geometry = suggest_geometry(s.columns, s.native);
	k.value_map = json_object();
	if (PQntuples(res) == 1) {
		json_t	*last = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		json_t	*geo = json_loads(PQgetvalue(res, 0, 1),
			    JSON_DECODE_ANY, NULL);

		if (mapping_fits(last, NULL, s.columns)) {
			json_object_update(k.mapping, last);
			json_decref(k.value_map);
			k.value_map = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
		}
		if (!s.native && json_is_object(geo) && strcmp("native",
		    json_string_value(json_object_get(geo, "kind")) ?
		    json_string_value(json_object_get(geo, "kind")) : "") != 0 &&
		    mapping_fits(NULL, geo, s.columns)) {
			json_decref(k.geometry);
			k.geometry = json_incref(geo);
		}
		json_decref(last);
		json_decref(geo);
	}
	if (db_tx(&e, create_tx, &k) != 0) {
		db_reply_error(r, &e);
		goto out;
	}
	path = xasprintf("%s/%lld.%s", conf.import_dir, (long long)k.id,
	    k.format);
	if (upload_keep(r->upload, path) != 0) {
		http_reply_error(r, 507, "storage_failed", "Le fichier n'a pas pu "
		    "être enregistré sur le serveur.", NULL);
		goto out;
	}
	reply_import(r, k.id, 201);
out:
	PQclear(res);
	free(path);
	json_decref(s.columns);
	json_decref(s.sample);
	json_decref(k.mapping);
	json_decref(k.geometry);
	json_decref(k.value_map);
}

void
import_get(struct req *r)
{
	reply_import(r, req_param(r, "id")->i, 200);
}

void
import_list(struct req *r)
{
	const struct param_val *g = req_param(r, "guichet"),
	    *lim = req_param(r, "limit"), *off = req_param(r, "offset");
	char		 org[24], l[24], o[24], max[24];
	const char	*v[6] = { org, r->who->role == ROLE_ADMIN ? "t" : "f",
	    g->set ? g->s : NULL, l, o, max };

	snprintf(org, sizeof(org), "%lld", (long long)r->who->org_id);
	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 50);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	snprintf(max, sizeof(max), "%lld", (long long)conf.import_max_bytes);
	/* max_bytes: the UI refuses a larger file before sending it. */
	db_reply_json(r, "SELECT json_build_object('imports', coalesce(json_agg("
	    IMPORT_JSON " ORDER BY i.id DESC), '[]'), 'max_bytes', "
	    "$6::bigint) FROM (SELECT * FROM imports WHERE (organisation_id = "
	    "$1::bigint OR $2::boolean) AND ($3::text IS NULL OR guichet = $3) "
	    "ORDER BY id DESC LIMIT $4 OFFSET $5) i", 6, v, "");
}

/* --- the mapping ---------------------------------------------------------------- */

static int
is_column(json_t *columns, json_t *v)
{
	json_t	*c;
	size_t	 i;

	if (!json_is_string(v))
		return 0;
	json_array_foreach(columns, i, c)
		if (json_equal(c, v))
			return 1;
	return 0;
}

/* The definition of field name in the form, or NULL. */
static json_t *
field_def(const struct form *f, const char *name)
{
	json_t	*def;
	size_t	 i;

	json_array_foreach(json_object_get(form_definition(f), "fields"), i, def)
		if (strcmp(json_string_value(json_object_get(def, "name")),
		    name) == 0)
			return def;
	return NULL;
}

/*
 * Checks a mapping against the form and the file: fields of the form,
 * columns of the file, a geometry source the file can give, value mappings
 * onto values of the field's list. Returns NULL, or the problem with the
 * member it is about in *field.
 */
static const char *
mapping_problem(const struct form *f, json_t *columns, int native,
    json_t *mapping, json_t *geometry, json_t *value_map, const char **field)
{
	const char	*k, *kind, *s;
	json_t		*v, *def, *w, *values, *x;
	size_t		 i;
	int		 ok;

	*field = "mapping";
	if (mapping != NULL) {
		if (!json_is_object(mapping))
			return "« mapping » associe des champs du formulaire à "
			    "des colonnes du fichier.";
		json_object_foreach(mapping, k, v) {
			if (field_def(f, k) == NULL)
				return "« mapping » nomme un champ qui n'est pas "
				    "dans le formulaire.";
			if (!is_column(columns, v))
				return "« mapping » nomme une colonne qui n'est "
				    "pas dans le fichier.";
		}
	}
	*field = "geometry";
	if (geometry != NULL && !json_is_null(geometry)) {
		kind = json_string_value(json_object_get(geometry, "kind"));
		if (kind == NULL)
			return "« geometry » : « kind » vaut native, wkt, xy ou "
			    "lonlat.";
		if (strcmp(kind, "native") == 0) {
			if (!native)
				return "Ce fichier n'a pas de géométries propres : "
				    "indiquez les colonnes qui la donnent.";
		} else if (strcmp(kind, "wkt") == 0) {
			if (!is_column(columns, json_object_get(geometry,
			    "column")))
				return "« geometry » : « column » doit nommer une "
				    "colonne du fichier.";
		} else if (strcmp(kind, "xy") == 0 || strcmp(kind, "lonlat") == 0) {
			ok = strcmp(kind, "xy") == 0 ?
			    is_column(columns, json_object_get(geometry, "x")) &&
			    is_column(columns, json_object_get(geometry, "y")) :
			    is_column(columns, json_object_get(geometry, "lon")) &&
			    is_column(columns, json_object_get(geometry, "lat"));
			if (!ok)
				return "« geometry » doit nommer les deux colonnes "
				    "des coordonnées.";
		} else
			return "« geometry » : « kind » vaut native, wkt, xy ou "
			    "lonlat.";
	}
	*field = "value_map";
	if (value_map != NULL) {
		if (!json_is_object(value_map))
			return "« value_map » associe, par champ, des valeurs du "
			    "fichier à des valeurs de la liste.";
		json_object_foreach(value_map, k, v) {
			def = field_def(f, k);
			values = json_object_get(def, "values");
			if (def == NULL || values == NULL || !json_is_object(v))
				return "« value_map » nomme un champ qui n'est pas "
				    "une liste de valeurs du formulaire.";
			json_object_foreach(v, s, w) {
				ok = 0;
				json_array_foreach(values, i, x)
					ok |= json_equal(json_object_get(x,
					    "value"), w);
				if (!ok || strlen(s) > 1000)
					return "« value_map » fait correspondre "
					    "une valeur qui n'est pas dans la "
					    "liste du champ.";
			}
		}
	}
	*field = NULL;
	return NULL;
}

/*
 * PATCH /api/v1/imports/{id}: the mapping, the geometry's source, the
 * value mapping, whether to validate on commit. Only before a check runs
 * or once it is done (the report then waits for the next check).
 */
void
import_update(struct req *r)
{
	const struct param_val	*map = req_param(r, "mapping"),
	    *geo = req_param(r, "geometry"), *vm = req_param(r, "value_map"),
	    *val = req_param(r, "validate");
	const struct form	*f;
	const char		*problem, *field, *v[6];
	json_t			*columns = NULL, *doc;
	struct db_err		 e;
	PGresult		*res, *up;
	char			 ids[24], *m = NULL, *g = NULL, *w = NULL;
	int			 native;

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	if (strcmp(PQgetvalue(res, 0, 1), "uploaded") != 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "checked") != 0 &&
	    strcmp(PQgetvalue(res, 0, 1), "failed") != 0) {
		http_reply_error(r, 409, "import_busy", "Cet import est en cours "
		    "de traitement ou terminé : sa correspondance ne change "
		    "plus.", NULL);
		goto out;
	}
	f = form_find(PQgetvalue(res, 0, 2));
	doc = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	columns = json_incref(json_object_get(doc, "columns"));
	json_decref(doc);
	native = strcmp(PQgetvalue(res, 0, 3), "csv") != 0;
	if ((problem = mapping_problem(f, columns, native, map->set ? map->a :
	    NULL, geo->set ? geo->a : NULL, vm->set ? vm->a : NULL,
	    &field)) != NULL) {
		http_reply_error(r, 400, "mapping_invalid", problem, field);
		goto out;
	}
	/* Validating alone is for an authority whose sign-off suffices: the
	 * ERP guichet needs the SDIS and the DDT(M) both. */
	if (val->set && val->i && (form_authority_of_kind(f,
	    r->who->org_kind) < 0 || (form_review_all(f) &&
	    form_authority_count(f) > 1))) {
		http_reply_error(r, 403, "not_competent", form_authority_of_kind(f,
		    r->who->org_kind) < 0 ? "Seule une autorité compétente du "
		    "guichet peut importer des objets validés." : "Ce guichet "
		    "demande l'accord de chacune de ses autorités : un import ne "
		    "peut pas valider seul.", "validate");
		goto out;
	}
	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	m = map->set ? json_dumps(map->a, JSON_COMPACT) : NULL;
	g = geo->set ? (geo->isnull ? xstrdup("null") : json_dumps(geo->a,
	    JSON_COMPACT)) : NULL;
	w = vm->set ? json_dumps(vm->a, JSON_COMPACT) : NULL;
	v[0] = ids;
	v[1] = m;
	v[2] = g;
	v[3] = w;
	v[4] = val->set ? (val->i ? "t" : "f") : NULL;
	v[5] = geo->set ? "t" : "f";
	up = db_query(&e, 0, "UPDATE imports SET mapping = coalesce($2::jsonb, "
	    "mapping), geometry = CASE WHEN $6::boolean THEN nullif($3::jsonb, "
	    "'null'::jsonb) ELSE geometry END, value_map = coalesce($4::jsonb, "
	    "value_map), validate = coalesce($5::boolean, validate), state = "
	    "'uploaded' WHERE id = $1 AND state IN ('uploaded', 'checked', "
	    "'failed')", 6, v);
	if (up == NULL)
		db_reply_error(r, &e);
	else
		reply_import(r, req_param(r, "id")->i, 200);
	PQclear(up);
out:
	PQclear(res);
	json_decref(columns);
	free(m);
	free(g);
	free(w);
}

/* --- the dry run ------------------------------------------------------------------ */

/*
 * POST /api/v1/imports/{id}/check: queues the dry run (202), and keeps the
 * mapping as the organisation's for its next file.
 */
void
import_check(struct req *r)
{
	struct db_err	 e;
	PGresult	*res, *up;
	char		 ids[24], uid[24];
	const char	*v[2] = { ids, uid };

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	PQclear(res);
	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	up = db_query(&e, 0, "WITH i AS (UPDATE imports SET state = 'checking', "
	    "progress = 0, attempts = 0, heartbeat_at = NULL, error = NULL "
	    "WHERE id = $1 AND state IN ('uploaded', 'checked', 'failed') "
	    "RETURNING *) INSERT INTO import_mappings (organisation_id, "
	    "guichet, mapping, geometry, value_map, updated_by) SELECT "
	    "organisation_id, guichet, mapping, geometry, value_map, $2 FROM i "
	    "ON CONFLICT (organisation_id, guichet) DO UPDATE SET mapping = "
	    "excluded.mapping, geometry = excluded.geometry, value_map = "
	    "excluded.value_map, updated_by = excluded.updated_by, updated_at = "
	    "now() RETURNING 1", 2, v);
	if (up == NULL)
		db_reply_error(r, &e);
	else if (PQntuples(up) == 0)
		http_reply_error(r, 409, "import_busy", "Cet import est déjà en "
		    "cours de traitement ou terminé.", NULL);
	else
		reply_import(r, req_param(r, "id")->i, 202);
	PQclear(up);
}

/* A claimed dry run. */
struct job {
	int64_t			 id;
	int			 commit;	/* a commit, else a dry run */
	int			 validate;	/* commit as validated */
	char			 ids[24];
	char			 attempt[16];
	const struct form	*form;
	char			 format[16];
	json_t			*mapping, *geometry, *value_map;
	struct identity		*who;
	struct buf		 rows;		/* JSON array being filled */
	size_t			 nrows;
	int64_t			 done;
	int64_t			 last_beat;
	int			 lost;
};

static void
job_free(struct job *j)
{
	json_decref(j->mapping);
	json_decref(j->geometry);
	json_decref(j->value_map);
	identity_free(j->who);
	buf_free(&j->rows);
}

/*
 * Claims the oldest dry run waiting, or one whose runner stopped beating.
 * One tried MAX_ATTEMPTS times is failed instead.
 */
static int
claim(struct job *j)
{
	struct db_err	 e;
	PGresult	*res;
	char		 stale[16], most[16];
	const char	*v[2] = { stale, most };

	memset(j, 0, sizeof(*j));
	snprintf(stale, sizeof(stale), "%d", STALE_SECONDS);
	snprintf(most, sizeof(most), "%d", MAX_ATTEMPTS);
	res = db_query(&e, 0, "UPDATE imports i SET attempts = i.attempts + 1, "
	    "heartbeat_at = now(), progress = 0, state = CASE WHEN i.attempts "
	    ">= $2::int THEN 'failed' ELSE i.state END, error = CASE WHEN "
	    "i.attempts >= $2::int THEN 'abandonné après ' || $2 || "
	    "' tentatives' END WHERE i.id = (SELECT id FROM imports WHERE "
	    "state IN ('checking', 'committing') AND (heartbeat_at IS NULL OR "
	    "heartbeat_at < now() - make_interval(secs => $1::int)) ORDER BY id "
	    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING i.id, i.attempts, "
	    "i.guichet, i.format, i.mapping::text, i.geometry::text, "
	    "i.value_map::text, i.created_by, i.state, i.validate", 2, v);
	if (res == NULL || PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	j->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(j->ids, sizeof(j->ids), "%lld", (long long)j->id);
	snprintf(j->attempt, sizeof(j->attempt), "%s", PQgetvalue(res, 0, 1));
	j->form = form_find(PQgetvalue(res, 0, 2));
	snprintf(j->format, sizeof(j->format), "%s", PQgetvalue(res, 0, 3));
	j->mapping = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
	j->geometry = PQgetisnull(res, 0, 5) ? NULL :
	    json_loads(PQgetvalue(res, 0, 5), 0, NULL);
	j->value_map = json_loads(PQgetvalue(res, 0, 6), 0, NULL);
	j->who = auth_identity_load(strtoll(PQgetvalue(res, 0, 7), NULL, 10));
	j->commit = strcmp(PQgetvalue(res, 0, 8), "committing") == 0;
	j->validate = PQgetvalue(res, 0, 9)[0] == 't';
	if (strcmp(PQgetvalue(res, 0, 8), "failed") == 0 || j->who == NULL ||
	    j->form == NULL) {
		log_warn("import %lld abandoned", (long long)j->id);
		PQclear(res);
		job_free(j);
		return 0;
	}
	PQclear(res);
	return 1;
}

/* The heartbeat and progress, once a second; notices a takeover. */
static int
beat(struct job *j)
{
	struct db_err	 e;
	char		 n[24];
	const char	*v[3] = { j->ids, n, j->attempt };
	PGresult	*res;

	/* Four times a second: a dry run of 10,000 rows takes under two
	 * seconds now, and its progress bar should still move. */
	if (now_us() - j->last_beat < 250000)
		return 0;
	j->last_beat = now_us();
	snprintf(n, sizeof(n), "%lld", (long long)j->done);
	res = db_query(&e, DB_IDEMPOTENT, "UPDATE imports SET progress = $2, "
	    "heartbeat_at = now() WHERE id = $1 AND state IN ('checking', "
	    "'committing') AND "
	    "attempts = $3::int RETURNING 1", 3, v);
	if (res != NULL && PQntuples(res) == 0)
		j->lost = 1;
	PQclear(res);
	return j->lost ? -1 : 0;
}

/* Writes the rows gathered so far: one statement per INSERT_BATCH rows. */
static int
flush(struct job *j, struct db_err *e)
{
	const char	*v[2] = { j->ids, NULL };
	PGresult	*res;

	if (j->nrows == 0)
		return 0;
	buf_puts(&j->rows, "]");
	v[1] = j->rows.data;
	res = db_query(e, 0, "INSERT INTO import_rows (import_id, line, status, "
	    "errors, warnings, attributes, geom, label, insee_commune, "
	    "departement) SELECT $1, t.line, t.status, t.errors, t.warnings, "
	    "t.attributes, CASE WHEN t.wkb IS NOT NULL THEN "
	    "ST_GeomFromWKB(decode(t.wkb, 'hex'), 4326) END, t.label, t.commune, "
	    "t.dept FROM json_to_recordset($2::json) AS t(line bigint, status "
	    "text, errors jsonb, warnings jsonb, attributes jsonb, wkb text, "
	    "label text, commune text, dept text)", 2, v);
	j->rows.len = 0;
	j->nrows = 0;
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Adds one row of the report to the batch being gathered. */
static int
add_row(struct job *j, long line, struct check *c, int skipped,
    struct db_err *e)
{
	json_t	*row;
	char	*text;

	row = json_pack("{s:I, s:s, s:O, s:O, s:O?, s:s?, s:s?, s:s?, s:s?}",
	    "line", (json_int_t)line, "status", skipped ? "skipped" :
	    json_array_size(c->errors) ? "error" : json_array_size(c->warnings) ?
	    "warning" : "valid",
	    "errors", c->errors, "warnings", c->warnings, "attributes",
	    c->clean, "wkb", c->hexwkb, "label", c->clean ? json_string_value(
	    json_object_get(c->clean, form_name_field(c->form))) : NULL,
	    "commune", c->commune[0] ? c->commune : NULL, "dept",
	    c->dept[0] ? c->dept : NULL);
	text = json_dumps(row, JSON_COMPACT);
	json_decref(row);
	buf_puts(&j->rows, j->nrows++ == 0 ? "[" : ",");
	buf_puts(&j->rows, text);
	free(text);
	return j->nrows >= INSERT_BATCH ? flush(j, e) : 0;
}

/*
 * One record as the form's attributes: mapped columns, enumeration values
 * translated, texts typed. The geometry from its columns (or the file's);
 * a source that gives none is left to check_run to report as missing.
 */
static json_t *
record_attrs(struct job *j, json_t *values)
{
	json_t		*attrs = json_object(), *v, *tr, *typed, *item, *map;
	const char	*field, *column, *text;
	char		*code = NULL;
	size_t		 i;

	json_object_foreach(j->mapping, field, v) {
		column = json_string_value(v);
		text = json_string_value(json_object_get(values, column));
		if (text == NULL)
			continue;
		/* A BAL file's cle_interop is commune_voie_numero[_suffixe]:
		 * the street code is its second part. */
		if (strcmp(field, "code_voie") == 0 &&
		    strcasecmp(column, "cle_interop") == 0 &&
		    strchr(text, '_') != NULL) {
			code = xstrndup(strchr(text, '_') + 1,
			    strcspn(strchr(text, '_') + 1, "_"));
			text = code;
		}
		map = json_object_get(j->value_map, field);
		if (json_is_string(tr = json_object_get(map, text)))
			text = json_string_value(tr);
		typed = form_text_value(j->form, field, text);
		/* A list's items are translated one by one. */
		json_array_foreach(typed, i, item)
			if (json_is_string(tr = json_object_get(map,
			    json_string_value(item))))
				json_array_set(typed, i, tr);
		json_object_set_new(attrs, field, typed);
		free(code);
		code = NULL;
	}
	return attrs;
}

/* The warning a look-alike of an earlier line gets, from a WITH t (line, first). */
#define DUP_SET_FROM(t) "UPDATE import_rows r SET status = CASE WHEN " \
	"r.status = 'valid' THEN 'warning' ELSE r.status END, warnings = " \
	"r.warnings || jsonb_build_array(jsonb_build_object('field', " \
	"'geometry', 'code', 'duplicate_in_file', 'message', 'Cette ligne " \
	"ressemble à la ligne ' || " t ".first || ' du même fichier.')) FROM " \
	t " WHERE r.import_id = $1 AND r.line = " t ".line"

/*
 * Records of the same file that look alike: within the form's radius with
 * a similar name, or (addresses) the same values of the "same" keys in the
 * same commune. The later one gets a warning naming the earlier line.
 */
static int
duplicates_in_file(struct job *j, struct db_err *e)
{
	json_t		*dup = json_object_get(json_object_get(form_definition(
			    j->form), "geometry"), "duplicates");
	json_t		*same = json_object_get(dup, "same");
	char		 rad[32], deg[32], sim[32], *keys;
	const char	*v[4] = { j->ids, rad, deg, sim }, *w[2];
	PGresult	*res;

	/*
	 * Both ways are equality or index joins, never a pair-by-pair scan:
	 * the same keys are folded into one text compared by a hash join,
	 * the radius is a ST_DWithin the GiST index of import_rows serves.
	 * The rows were all written a moment ago: planned on statistics
	 * from before them (a table believed nearly empty), the radius
	 * query went by the primary key and took minutes at 100,000 rows
	 * where it takes seconds, whenever autovacuum had not analyzed the
	 * table in between. Hence an ANALYZE first (a sample: ~0.1 s).
	 */
	if ((res = db_query(e, DB_IDEMPOTENT, "ANALYZE import_rows", 0,
	    NULL)) == NULL)
		return -1;
	PQclear(res);
	if (same != NULL) {
		keys = json_dumps(same, JSON_COMPACT);
		w[0] = j->ids;
		w[1] = keys;
		res = db_query(e, 0, "WITH k AS (SELECT line, insee_commune, "
		    "(SELECT string_agg(lower(regexp_replace(btrim(coalesce("
		    "r.attributes->>t.k, '')), '\\s+', ' ', 'g')), '|' ORDER BY "
		    "t.o) FROM jsonb_array_elements_text($2::jsonb) WITH "
		    "ORDINALITY AS t(k, o)) AS key FROM import_rows r WHERE "
		    "import_id = $1 AND status IN ('valid', 'warning')), d AS "
		    "(SELECT DISTINCT ON (b.line) b.line, a.line AS first FROM k a "
		    "JOIN k b ON a.insee_commune = b.insee_commune AND a.key = "
		    "b.key AND b.line > a.line ORDER BY b.line, a.line) "
		    DUP_SET_FROM("d"), 2, w);
		free(keys);
	} else {
		snprintf(rad, sizeof(rad), "%g", json_number_value(
		    json_object_get(dup, "radius_m")));
		snprintf(deg, sizeof(deg), "%g", json_number_value(
		    json_object_get(dup, "radius_m")) / 111000.0 * 1.6);
		snprintf(sim, sizeof(sim), "%g", json_number_value(
		    json_object_get(dup, "similarity")));
		/* Per row, the earliest look-alike: the fence (OFFSET 0)
		 * keeps the planner on the geometry index instead of a
		 * range of earlier lines rebuilt for every row. */
		res = db_query(e, 0, "WITH d AS (SELECT b.line, (SELECT "
		    "min(a.line) FROM (SELECT line, geom, label, status FROM "
		    "import_rows WHERE import_id = $1 AND geom && ST_Expand("
		    "b.geom, $3::float8) OFFSET 0) a WHERE a.line < b.line AND "
		    "a.status IN ('valid', 'warning') AND ST_DWithin(a.geom::"
		    "geography, b.geom::geography, $2::float8) AND (a.label IS "
		    "NULL OR b.label IS NULL OR similarity(a.label, b.label) >= "
		    "$4::float4)) AS first FROM import_rows b WHERE b.import_id = "
		    "$1 AND b.status IN ('valid', 'warning') AND b.geom IS NOT "
		    "NULL), dd AS (SELECT line, first FROM d WHERE first IS NOT "
		    "NULL) " DUP_SET_FROM("dd"), 4, v);
	}
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static void
drop_problem(json_t *list, const char *code)
{
	size_t	i;

	for (i = json_array_size(list); i > 0; i--)
		if (strcmp(json_string_value(json_object_get(json_array_get(list,
		    i - 1), "code")), code) == 0)
			json_array_remove(list, i - 1);
}

/*
 * A row without geometry: the entry form's message speaks of the map; a
 * file's row is told about its own columns.
 */
static void
file_wording(json_t *errors)
{
	json_t	*p;
	size_t	 i;

	json_array_foreach(errors, i, p)
		if (strcmp(json_string_value(json_object_get(p, "code")),
		    "geometry_missing") == 0)
			json_object_set_new(p, "message", json_string("La ligne "
			    "du fichier ne donne pas de géométrie (sa position "
			    "est vide)."));
}

/*
 * BAL files carry a line per lieu-dit, numéro 99999 (BAL 1.4): a place
 * name, not an address. Such a line is reported and left out.
 */
static int
lieudit_line(struct job *j, json_t *values)
{
	const char	*col = json_string_value(json_object_get(j->mapping,
			    "numero"));
	const char	*v = col ? json_string_value(json_object_get(values,
			    col)) : NULL;

	return strcmp(form_guichet(j->form), "adresse") == 0 && v != NULL &&
	    strcmp(v, "99999") == 0;
}

/* Runs a claimed dry run; 0 when the report is complete. */
static int
job_run(struct job *j, char *err, size_t errlen)
{
	struct isrc	*src = NULL;
	struct check	 c;
	struct db_err	 e;
	json_t		*values, *native, *attrs, *geometry;
	char		*path, rowerr[512];
	const char	*v[1] = { j->ids };
	long		 line;
	int		 rc = -1, n, skipped = 0;

	path = xasprintf("%s/%s.%s", conf.import_dir, j->ids, j->format);
	if ((src = isrc_open(path, j->format, err, errlen)) == NULL)
		goto out;
	{
		PGresult *del = db_query(&e, DB_IDEMPOTENT, "DELETE FROM "
		    "import_rows WHERE import_id = $1", 1, v);

		if (del == NULL)
			goto dberr;
		PQclear(del);
	}
	while ((n = isrc_next(src, &values, &native, &line, rowerr,
	    sizeof(rowerr))) != 0) {
		memset(&c, 0, sizeof(c));
		c.form = j->form;
		if (n < 0) {
			c.errors = json_array();
			c.warnings = json_array();
			form_problem(c.errors, NULL, "row_unreadable", "%s", rowerr);
		} else if (lieudit_line(j, values)) {
			skipped = 1;
			c.errors = json_array();
			c.warnings = json_array();
			form_problem(c.warnings, "numero", "lieudit_ignored", "Ligne "
			    "de lieu-dit (numéro 99999) : un lieu-dit n'est pas "
			    "une adresse, la ligne est ignorée.");
		} else {
			rowerr[0] = '\0';	/* only isrc_geometry's from here */
			attrs = record_attrs(j, values);
			geometry = j->geometry != NULL && strcmp(json_string_value(
			    json_object_get(j->geometry, "kind")), "native") != 0 ?
			    isrc_geometry(j->geometry, values, rowerr,
			    sizeof(rowerr)) : json_incref(native);
			if (check_run(&c, j->who, attrs, geometry, 1, 0, &e) != 0) {
				json_decref(attrs);
				json_decref(geometry);
				json_decref(values);
				json_decref(native);
				check_free(&c);
				goto dberr;
			}
			if (geometry == NULL && rowerr[0] != '\0') {
				/* It gave coordinates: unreadable, not missing. */
				drop_problem(c.errors, "geometry_missing");
				form_problem(c.errors, "geometry",
				    "geometry_source", "%s", rowerr);
			} else if (geometry == NULL)
				file_wording(c.errors);
			if (c.outside)
				form_problem(c.errors, form_commune_field(j->form),
				    "outside_territory", "Cette commune est hors du "
				    "territoire du compte qui importe.");
			json_decref(attrs);
			json_decref(geometry);
		}
		json_decref(values);
		json_decref(native);
		rc = add_row(j, line, &c, skipped, &e);
		skipped = 0;
		check_free(&c);
		if (rc != 0)
			goto dberr;
		rc = -1;
		j->done++;
		if (beat(j) != 0) {
			snprintf(err, errlen, "repris par un autre serveur");
			goto out;
		}
	}
	if (flush(j, &e) != 0 || duplicates_in_file(j, &e) != 0)
		goto dberr;
	v[0] = j->ids;
	{
		const char	*w[2] = { j->ids, j->attempt };
		PGresult	*res;

		res = db_query(&e, 0, "UPDATE imports i SET state = 'checked', "
		    "checked_at = now(), total = (SELECT count(*) FROM "
		    "import_rows WHERE import_id = i.id), progress = (SELECT "
		    "count(*) FROM import_rows WHERE import_id = i.id), counts = "
		    "(SELECT jsonb_build_object('valid', count(*) FILTER (WHERE "
		    "status = 'valid'), 'warning', count(*) FILTER (WHERE status "
		    "= 'warning'), 'error', count(*) FILTER (WHERE status = "
		    "'error')) FROM import_rows WHERE import_id = i.id) WHERE "
		    "i.id = $1 AND i.state = 'checking' AND i.attempts = $2::int",
		    2, w);
		if (res == NULL)
			goto dberr;
		PQclear(res);
	}
	rc = 0;
	goto out;
dberr:
	snprintf(err, errlen, "la base de données n'a pas répondu (%s)",
	    e.sqlstate);
out:
	isrc_close(src);
	free(path);
	return rc;
}

/* --- the commit ------------------------------------------------------------------ */

/*
 * The rows without errors become records, all in one transaction: each
 * gets its uid first (a temporary table), so that the report's rows can
 * be pointed at the records made of them, and one event per record — the
 * submission, or for an authority that validates its own base the final
 * validation, which the export change feed reads — plus one for the batch.
 */
static int
commit_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct job	*j = arg;
	char		 due[16];
	const char	*v[3] = { j->ids, j->validate ? "validated" : "submitted",
	    due }, *w[2];
	PGresult	*res;
	int64_t		 n;
	char		*msg;
	int		 rc;

	snprintf(due, sizeof(due), "%d", form_due_days(j->form));
	if (audit_begin(c, e) || db_run(c, e, "CREATE TEMP TABLE import_new ON "
	    "COMMIT DROP AS SELECT line, gen_random_uuid() AS uid FROM "
	    "import_rows WHERE import_id = $1 AND status IN ('valid', "
	    "'warning') AND submission_id IS NULL", 1, v) ||
	    db_run(c, e, "INSERT INTO submissions (uid, guichet, state, "
	    "attributes, geom, label, insee_commune, departement, author_id, "
	    "organisation_id, warnings, submitted_at, voie_uid, operation, "
	    "round, due_at, decided_at, updated_by, import_id) SELECT n.uid, "
	    "i.guichet, $2, r.attributes, r.geom, r.label, r.insee_commune, "
	    "r.departement, i.created_by, i.organisation_id, r.warnings, now(), "
	    SUB_VOIE_UID("i.guichet", "r.insee_commune", "r.attributes") ", "
	    "'create', 1, CASE WHEN $2 = 'submitted' THEN now() + "
	    "make_interval(days => $3::int) END, CASE WHEN $2 = 'validated' "
	    "THEN now() END, i.created_by, i.id FROM import_new n JOIN "
	    "import_rows r ON r.import_id = $1 AND r.line = n.line JOIN imports "
	    "i ON i.id = $1 ORDER BY n.line", 3, v) ||
	    db_run(c, e, "UPDATE import_rows r SET submission_id = s.id FROM "
	    "import_new n JOIN submissions s ON s.uid = n.uid WHERE r.import_id "
	    "= $1 AND r.line = n.line", 1, v) ||
	    db_run(c, e, "INSERT INTO events (seq, at, kind, actor_id, "
	    "submission_id, payload, prev_hash, hash) SELECT 0, now(), "
	    "'transition', s.updated_by, s.id, jsonb_build_object('action', "
	    "CASE WHEN $2 = 'validated' THEN 'validate' ELSE 'submit' END, "
	    "'from', 'draft', 'to', $2::text, 'version', 1, 'final', $2 = "
	    "'validated', 'import', $1::bigint), '', '' FROM import_new n JOIN "
	    "submissions s ON s.uid = n.uid ORDER BY s.id", 2, v))
		return -1;
	w[0] = j->ids;
	w[1] = j->attempt;
	res = db_exec(c, e, "UPDATE imports SET state = 'committed', "
	    "committed_at = now(), progress = (SELECT count(*) FROM import_new), "
	    "counts = counts || jsonb_build_object("
	    "'committed', (SELECT count(*) FROM import_new)) WHERE id = $1 AND "
	    "state = 'committing' AND attempts = $2::int RETURNING (counts->>"
	    "'committed')::bigint", 2, w);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {	/* taken over meanwhile */
		PQclear(res);
		j->lost = 1;
		memset(e, 0, sizeof(*e));
		return -1;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	j->done = n;
	if (audit_append(c, e, "import.committed", j->who->user_id, 0,
	    json_pack("{s:I, s:I, s:s}", "import", (json_int_t)j->id, "records",
	    (json_int_t)n, "state", v[1])))
		return -1;
	if (j->validate || n == 0)
		return 0;
	msg = xasprintf("%s : %lld saisie%s importée%s par %s à instruire "
	    "(import n° %lld).", json_string_value(json_object_get(
	    form_definition(j->form), "title")), (long long)n, n > 1 ? "s" : "",
	    n > 1 ? "s" : "", j->who->org_name, (long long)j->id);
	rc = notify_import(c, e, j->form, j->id, j->who->user_id,
	    "Guichet : un lot importé à instruire", msg);
	free(msg);
	return rc;
}

static int
commit_run(struct job *j, char *err, size_t errlen)
{
	struct db_err	e;

	if (db_tx(&e, commit_tx, j) == 0)
		return 0;
	if (!j->lost)
		snprintf(err, errlen, "la base de données a refusé l'écriture "
		    "(%s)", e.sqlstate);
	return -1;
}

static void
job_do(struct job *j)
{
	struct db_err	 e;
	char		 err[512] = "";
	const char	*v[3] = { j->ids, err, j->attempt };
	int64_t		 t0 = now_us();

	j->last_beat = now_us();
	/* A job's set-based statements (a commit of 100,000 records, the
	 * look-alikes of a whole file) outlast a request's timeout. */
	PQclear(db_query(&e, 0, "SET statement_timeout = '15min'", 0, NULL));
	if ((j->commit ? commit_run(j, err, sizeof(err)) :
	    job_run(j, err, sizeof(err))) == 0)
		log_info("import %lld %s: %lld rows in %.1f s", (long long)j->id,
		    j->commit ? "committed" : "checked", (long long)j->done,
		    (now_us() - t0) / 1e6);
	else if (!j->lost) {
		utf8_trim(err);
		log_warn("import %lld failed: %s", (long long)j->id, err);
		PQclear(db_query(&e, 0, "UPDATE imports SET state = 'failed', "
		    "error = $2 WHERE id = $1 AND state IN ('checking', "
		    "'committing') AND "
		    "attempts = $3::int", 3, v));
	}
	job_free(j);
}

/* One import job, if one is waiting: 1 when one was run. */
static int
step(void)
{
	struct job	j;

	if (!claim(&j))
		return 0;
	job_do(&j);
	return 1;
}

static struct jobpool	pool = { "import", step };

void
import_start(void)
{
	jobpool_start(&pool, conf.import_workers);
}

void
import_stop(void)
{
	jobpool_stop(&pool);
}

/* --- the report ------------------------------------------------------------------ */

void
import_rows(struct req *r)
{
	const struct param_val *st = req_param(r, "status"),
	    *lim = req_param(r, "limit"), *off = req_param(r, "offset");
	char		 ids[24], l[24], o[24];
	const char	*v[4] = { ids, st->set ? st->s : NULL, l, o };
	PGresult	*res;

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	PQclear(res);
	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 100);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	db_reply_json(r, "SELECT json_build_object('total', (SELECT count(*) "
	    "FROM import_rows WHERE import_id = $1 AND ($2::text IS NULL OR "
	    "status = $2)), 'rows', coalesce(json_agg(json_build_object('line', "
	    "t.line, 'status', t.status, 'errors', t.errors, 'warnings', "
	    "t.warnings, 'label', t.label, 'insee_commune', t.insee_commune, "
	    "'submission_id', t.submission_id) ORDER BY t.line), '[]')) FROM "
	    "(SELECT * FROM import_rows WHERE import_id = $1 AND ($2::text IS "
	    "NULL OR status = $2) ORDER BY line LIMIT $3 OFFSET $4) t", 4, v,
	    "");
}

/* Appends s as one CSV field (quoted when it holds ; " or a line end). */
static void
csv_field(struct buf *b, const char *s)
{
	if (strpbrk(s, ";\"\r\n") == NULL) {
		buf_puts(b, s);
		return;
	}
	buf_puts(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"')
			buf_puts(b, "\"");
		buf_append(b, s, 1);
	}
	buf_puts(b, "\"");
}

/*
 * GET /api/v1/imports/{id}/report.csv: one line per problem (errors then
 * warnings of each row, in line order), and one for each row without any,
 * separated by ';' with a BOM so that a spreadsheet reads the accents.
 * Written a thousand rows at a time into an unlinked temporary file that
 * is then sent: a report of any size in bounded memory.
 */
void
import_report_csv(struct req *r)
{
	struct MHD_Response	*resp = NULL;
	struct db_err		 e;
	struct buf		 b = { 0 };
	PGresult		*res;
	FILE			*f = NULL;
	char			 ids[24], after[24] = "0", disp[96], *path;
	const char		*v[2] = { ids, after };
	int			 i, k, n, fd;

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	PQclear(res);
	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	path = xasprintf("%s/tmp", conf.import_dir);
	mkdirs(path);	/* on a node that took no upload yet */
	free(path);
	path = xasprintf("%s/tmp/report-XXXXXX", conf.import_dir);
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w+b")) == NULL) {
		if (fd >= 0)
			close(fd);
		log_error("import report: %s: %s", path, strerror(errno));
		http_reply_error(r, 507, "storage_failed", "Le rapport n'a pas pu "
		    "être préparé sur le serveur.", NULL);
		free(path);
		return;
	}
	unlink(path);
	free(path);
	buf_puts(&b, "\xef\xbb\xbfligne;statut;niveau;champ;code;message;nom\r\n");
	do {
		res = db_query(&e, DB_IDEMPOTENT, "SELECT r.line::text, r.status, "
		    "coalesce(p.level, ''), coalesce(p.x->>'field', ''), "
		    "coalesce(p.x->>'code', ''), coalesce(p.x->>'message', ''), "
		    "coalesce(r.label, '') FROM import_rows r LEFT JOIN LATERAL ("
		    "SELECT 'erreur' AS level, x, 0 AS o, n FROM "
		    "jsonb_array_elements(r.errors) WITH ORDINALITY AS e(x, n) "
		    "UNION ALL SELECT 'avertissement', x, 1, n FROM "
		    "jsonb_array_elements(r.warnings) WITH ORDINALITY AS w(x, n)) "
		    "p ON true WHERE r.import_id = $1 AND r.line IN (SELECT line "
		    "FROM import_rows WHERE import_id = $1 AND line > $2::bigint "
		    "ORDER BY line LIMIT 1000) ORDER BY r.line, p.o, p.n", 2, v);
		if (res == NULL) {
			db_reply_error(r, &e);
			goto out;
		}
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			for (k = 0; k < 7; k++) {
				if (k > 0)
					buf_puts(&b, ";");
				csv_field(&b, PQgetvalue(res, i, k));
			}
			buf_puts(&b, "\r\n");
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s",
			    PQgetvalue(res, n - 1, 0));
		PQclear(res);
		if (b.len > 0 && fwrite(b.data, 1, b.len, f) != b.len) {
			http_reply_error(r, 507, "storage_failed", "Le rapport n'a "
			    "pas pu être préparé sur le serveur.", NULL);
			goto out;
		}
		b.len = 0;
	} while (n > 0);
	if (fflush(f) != 0 || (r->bytes = (size_t)ftell(f)) == (size_t)-1 ||
	    (fd = dup(fileno(f))) < 0 ||
	    (resp = MHD_create_response_from_fd_at_offset64(r->bytes, fd, 0))
	    == NULL) {
		http_reply_error(r, 507, "storage_failed", "Le rapport n'a pas pu "
		    "être préparé sur le serveur.", NULL);
		goto out;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"import-%s-"
	    "rapport.csv\"", ids);
	MHD_add_response_header(resp, "Content-Type", "text/csv; charset=utf-8");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	http_common_headers(resp, 1);
	http_reply(r, 200, resp);
out:
	buf_free(&b);
	fclose(f);
}

/* --- commit and cancel, asked for -------------------------------------------------- */

/*
 * POST /api/v1/imports/{id}/commit: the rows without errors become
 * records (202; the job does it). Only a checked import with such rows.
 */
void
import_commit(struct req *r)
{
	struct db_err	 e;
	PGresult	*res, *up;
	char		 ids[24];
	const char	*v[1] = { ids };

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	PQclear(res);
	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	up = db_query(&e, 0, "UPDATE imports SET state = 'committing', attempts "
	    "= 0, heartbeat_at = NULL, error = NULL WHERE id = $1 AND state = "
	    "'checked' AND coalesce((counts->>'valid')::bigint, 0) + coalesce(("
	    "counts->>'warning')::bigint, 0) > 0 RETURNING 1", 1, v);
	if (up == NULL)
		db_reply_error(r, &e);
	else if (PQntuples(up) == 0)
		http_reply_error(r, 409, "import_not_committable", "Seul un import "
		    "vérifié, dont au moins une ligne est sans erreur, peut être "
		    "enregistré.", NULL);
	else
		reply_import(r, req_param(r, "id")->i, 202);
	PQclear(up);
}

/* Why a cancellation is refused (409), each with its code and message. */
enum refusal { REFUSE_NONE, REFUSE_BUSY, REFUSE_CANCELLED, REFUSE_REVIEWED };

static const struct {
	const char	*code, *message;
} refusals[] = {
	[REFUSE_BUSY] = { "import_busy", "Cet import est en cours de "
	    "vérification ou d'enregistrement : attendez qu'il se termine "
	    "pour l'annuler." },
	[REFUSE_CANCELLED] = { "import_cancelled", "Cet import est déjà "
	    "annulé." },
	[REFUSE_REVIEWED] = { "import_not_cancellable", "Cet import ne peut "
	    "plus être annulé : une de ses saisies a déjà été instruite." },
};

/* The refusal for an import in state, untouched when nobody acted on it. */
static enum refusal
refusal_of(const char *state, int untouched)
{
	if (strcmp(state, "cancelled") == 0)
		return REFUSE_CANCELLED;
	if (strcmp(state, "checking") == 0 || strcmp(state, "committing") == 0)
		return REFUSE_BUSY;
	if (strcmp(state, "committed") == 0 && !untouched)
		return REFUSE_REVIEWED;
	return REFUSE_NONE;
}

struct cancel {
	struct req	*r;
	char		 ids[24];
	enum refusal	 refused;
};

/*
 * A committed batch is undone only while nobody acted on its records: no
 * event on them but the import's own, no amendment of them. Submitted
 * records are withdrawn; validated ones are deleted, with the events the
 * export change feed reads, so that a batch already sent to IGN is taken
 * back the same way.
 */
static int
cancel_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct cancel	*k = arg;
	char		 uid[24];
	const char	*v[2] = { k->ids, uid };
	PGresult	*res;
	int		 committed;

	snprintf(uid, sizeof(uid), "%lld", (long long)k->r->who->user_id);
	if (audit_begin(c, e) || (res = db_exec(c, e, "SELECT state, NOT EXISTS "
	    "(SELECT 1 FROM events ev JOIN submissions s ON s.id = "
	    "ev.submission_id WHERE s.import_id = i.id AND NOT ev.payload ? "
	    "'import') AND NOT EXISTS (SELECT 1 FROM submissions a JOIN "
	    "submissions s ON s.id = a.target_id WHERE s.import_id = i.id) "
	    "FROM imports i WHERE i.id = $1 FOR UPDATE", 1, v)) == NULL)
		return -1;
	k->refused = refusal_of(PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 1)[0] == 't');
	committed = strcmp(PQgetvalue(res, 0, 0), "committed") == 0;
	PQclear(res);
	if (k->refused != REFUSE_NONE) {
		memset(e, 0, sizeof(*e));
		return -1;
	}
	if (!committed)
		return db_run(c, e, "UPDATE imports SET state = 'cancelled', "
		    "cancelled_at = now() WHERE id = $1", 1, v);
	if (db_run(c, e, "INSERT INTO events (seq, at, kind, actor_id, "
	    "submission_id, payload, prev_hash, hash) SELECT 0, now(), CASE "
	    "WHEN s.state = 'validated' THEN 'object.deleted' ELSE "
	    "'transition' END, $2::bigint, s.id, CASE WHEN s.state = 'validated' "
	    "THEN jsonb_build_object('import', $1::bigint, 'cancelled', true) "
	    "ELSE jsonb_build_object('action', 'withdraw', 'from', s.state, "
	    "'to', 'withdrawn', 'import', $1::bigint, 'cancelled', true) END, "
	    "'', '' FROM submissions s WHERE s.import_id = $1 ORDER BY s.id", 2,
	    v) ||
	    db_run(c, e, "UPDATE submissions SET state = CASE WHEN state = "
	    "'validated' THEN 'deleted' ELSE 'withdrawn' END, updated_at = now(), "
	    "updated_by = $2::bigint WHERE import_id = $1", 2, v) ||
	    db_run(c, e, "UPDATE imports SET state = 'cancelled', cancelled_at = "
	    "now() WHERE id = $1", 1, v))
		return -1;
	return audit_append(c, e, "import.cancelled", k->r->who->user_id, 0,
	    json_pack("{s:I}", "import", (json_int_t)req_param(k->r, "id")->i));
}

/* POST /api/v1/imports/{id}/cancel */
void
import_cancel(struct req *r)
{
	struct cancel	 k = { r, "", REFUSE_NONE };
	struct db_err	 e;
	PGresult	*res;

	if ((res = import_row(r, req_param(r, "id")->i)) == NULL)
		return;
	PQclear(res);
	snprintf(k.ids, sizeof(k.ids), "%lld", req_param(r, "id")->i);
	if (db_tx(&e, cancel_tx, &k) == 0)
		reply_import(r, req_param(r, "id")->i, 200);
	else if (k.refused != REFUSE_NONE)
		http_reply_error(r, 409, refusals[k.refused].code,
		    refusals[k.refused].message, NULL);
	else
		db_reply_error(r, &e);
}
