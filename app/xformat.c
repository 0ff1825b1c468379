/*
 * xformat.c — BD TOPO column model, export queries, and the text writers
 * (GeoJSON, CSV, IGN transactions).
 *
 * Columns come from the form: each field exported to BD TOPO ("bdtopo",
 * or "shp" for the Shapefile-name CSV) is one column, typed by its field
 * type. Two columns are the portal's: identifiants_sources carries our
 * stable id (the uid), sources the submitting organisation, followed by
 * what fields exported to them hold. Incremental batches add operation
 * (creation, modification, suppression).
 *
 * PostgreSQL does the per-row work it does best (JSON building, geometry
 * projection and encoding); the writers only stream text, so the export
 * costs little more than reading the rows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "form.h"
#include "util.h"
#include "xformat.h"

#define FETCH	"FETCH 2000 FROM x"

static const char *const bdtopo_formats[] = { "gpkg", "geojson", "csv",
    "csv_shp", "ign", NULL };

const char *
xf_syserr(int e)
{
	switch (e) {
	case ENOENT:	return "dossier ou fichier absent";
	case ENOTDIR:	return "le chemin n'est pas un dossier";
	case EACCES:
	case EPERM:	return "droits insuffisants";
	case ENOSPC:
	case EDQUOT:	return "plus de place sur le disque";
	case EROFS:	return "système de fichiers en lecture seule";
	case EIO:	return "erreur d'entrée-sortie du disque";
	default:	return "erreur du système";
	}
}

int
xf_known(const char *format, const char *guichet)
{
	size_t	i;

	if (strcmp(guichet, "adresse") == 0)
		return strcmp(format, "bal") == 0;
	for (i = 0; bdtopo_formats[i] != NULL; i++)
		if (strcmp(format, bdtopo_formats[i]) == 0)
			return 1;
	return 0;
}

static struct xf_col *
col_find(struct xf_spec *x, const char *name)
{
	size_t	i;

	for (i = 0; i < x->ncols; i++)
		if (strcmp(x->cols[i].name, name) == 0)
			return &x->cols[i];
	return NULL;
}

static struct xf_col *
col_add(struct xf_spec *x, const char *name, enum xf_kind kind, int width,
    char *sql)
{
	struct xf_col	*c;

	x->cols = xreallocarray(x->cols, x->ncols + 1, sizeof(*x->cols));
	c = &x->cols[x->ncols++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->kind = kind;
	c->width = width;
	c->sql = sql;
	return c;
}

/*
 * Joined text columns (sources, identifiants_sources): the portal's value
 * first, then the fields exported there, " / " between.
 */
static void
col_join(struct xf_col *c, const char *more)
{
	char	*sql = xasprintf("concat_ws(' / ', %s, %s)", c->sql, more);

	free(c->sql);
	c->sql = sql;
}

int
xf_spec_init(struct xf_spec *x, const struct form *f, const char *format,
    int incremental, char *err, size_t errlen)
{
	json_t		*fd, *ex;
	const char	*type, *field, *name, *sep;
	const char	*key = strcmp(format, "csv_shp") == 0 ? "shp" : "bdtopo";
	struct xf_col	*c;
	size_t		 i;
	int		 shp = strcmp(format, "csv_shp") == 0, width;

	memset(x, 0, sizeof(*x));
	x->form = f;
	x->format = format;
	x->text = strcmp(format, "geojson") == 0 ? XF_TEXT_GEOJSON :
	    strcmp(format, "ign") == 0 ? XF_TEXT_IGN : XF_TEXT_CSV;
	x->incremental = incremental;
	x->layer = json_string_value(json_object_get(json_object_get(
	    form_definition(f), "exports"), "bdtopo"));
	if (!xf_known(format, form_guichet(f))) {
		snprintf(err, errlen, "le format %s ne s'applique pas au guichet "
		    "%s", format, form_guichet(f));
		return -1;
	}
	if (strcmp(format, "bal") == 0)
		return 0;
	col_add(x, shp ? "ID_SOURCE" : "identifiants_sources", XF_TEXT, 0,
	    xstrdup("s.uid::text"));
	col_add(x, shp ? "SOURCE" : "sources", XF_TEXT, 0, xstrdup("o.name"));
	json_array_foreach(json_object_get(form_definition(f), "fields"), i, fd) {
		ex = json_object_get(fd, "export");
		if ((name = json_string_value(json_object_get(ex, key))) == NULL)
			continue;
		field = json_string_value(json_object_get(fd, "name"));
		type = json_string_value(json_object_get(fd, "type"));
		sep = json_string_value(json_object_get(ex, "separator"));
		width = (int)json_integer_value(json_object_get(fd, "max_length"));
		if ((c = col_find(x, name)) != NULL) {
			char *v = xasprintf("s.attributes->>'%s'", field);

			col_join(c, v);
			free(v);
		} else if (strcmp(type, "enum_list") == 0)
			col_add(x, name, XF_LIST, 0, xasprintf(
			    "s.attributes->'%s'", field))->sep = sep ? sep[0] : '/';
		else
			col_add(x, name, strcmp(type, "integer") == 0 ? XF_INTEGER :
			    strcmp(type, "boolean") == 0 ? XF_BOOLEAN : XF_TEXT,
			    width ? width : strcmp(type, "siret") == 0 ? 14 :
			    strcmp(type, "insee_commune") == 0 ? 5 : 0, xasprintf(
			    "s.attributes->>'%s'", field));
	}
	if (incremental && strcmp(format, "ign") != 0)
		col_add(x, shp ? "OPERATION" : "operation", XF_TEXT, 12,
		    xstrdup("CASE ch.operation WHEN 'create' THEN 'creation' "
		    "WHEN 'modify' THEN 'modification' ELSE 'suppression' END"));
	return 0;
}

void
xf_spec_free(struct xf_spec *x)
{
	size_t	i;

	for (i = 0; i < x->ncols; i++) {
		free(x->cols[i].name);
		free(x->cols[i].sql);
	}
	free(x->cols);
	memset(x, 0, sizeof(*x));
}

/* The records of a batch: the change set, or all validated objects. */
static void
rows_from(struct buf *b, const struct xf_spec *x)
{
	if (x->incremental)
		buf_puts(b, " FROM guichet_changes($1, $2, $3) ch ");
	else
		buf_puts(b, " FROM (SELECT id, 'create'::text AS operation FROM "
		    "submissions WHERE guichet = $1 AND state = 'validated' AND "
		    "operation = 'create' AND $2::bigint < 0 AND $3::bigint >= 0) "
		    "ch ");
	buf_puts(b, "JOIN submissions s ON s.id = ch.id JOIN organisations o "
	    "ON o.id = s.organisation_id WHERE guichet_in_scope($4::text[], "
	    "$5::text[], s.insee_commune, s.departement)");
}

/*
 * Columns are plain texts: building JSON row by row in PostgreSQL cost
 * four times more than reading the values (16.6 s against 4.1 s for a
 * million ERP); the writers build it.
 */
char *
xf_query(const struct xf_spec *x)
{
	struct buf	b = { 0 };
	size_t		i;

	if (strcmp(x->format, "bal") == 0)
		return bal_query(x);
	buf_puts(&b, "SELECT ");
	if (strcmp(x->format, "geojson") == 0)
		/* RFC 7946: WGS 84 longitude, latitude, 7 decimals (1 cm);
		 * exterior rings counterclockwise. */
		buf_puts(&b, "ST_AsGeoJSON(ST_ForcePolygonCCW(s.geom), 7)");
	else if (strcmp(x->format, "ign") == 0)
		/* Direct contribution: WKT in EPSG:4326. */
		buf_puts(&b, "ST_AsText(s.geom, 7)");
	else if (strcmp(x->format, "gpkg") == 0)
		/* Lambert-93. Polygons travel as MultiPolygons, the BD TOPO
		 * type of their class. */
		buf_puts(&b, "encode(ST_AsBinary(ST_Transform(CASE WHEN "
		    "GeometryType(s.geom) = 'POLYGON' THEN ST_Multi(s.geom) "
		    "ELSE s.geom END, 2154)), 'hex')");
	else
		buf_puts(&b, "ST_AsText(ST_Transform(CASE WHEN "
		    "GeometryType(s.geom) = 'POLYGON' THEN ST_Multi(s.geom) "
		    "ELSE s.geom END, 2154), 2)");
	buf_puts(&b, ", s.uid::text, ch.operation");
	for (i = 0; i < x->ncols; i++)
		buf_appendf(&b, ", %s", x->cols[i].sql);
	rows_from(&b, x);
	buf_puts(&b, " ORDER BY s.id");
	return b.data;
}

/*
 * Fetches the next rows of cursor "x" and asks for the following ones at
 * once, so that PostgreSQL computes them while the caller writes these.
 */
static PGresult *
xf_fetch(PGconn *c, char *err, size_t errlen)
{
	PGresult	*res, *extra;

	/* The FETCH sent last time (the first time: send one now). */
	if (PQtransactionStatus(c) != PQTRANS_ACTIVE && !PQsendQuery(c, FETCH)) {
		snprintf(err, errlen, "lecture des données : %s",
		    PQerrorMessage(c));
		return NULL;
	}
	res = PQgetResult(c);
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "lecture des données : %s",
		    PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	/* More may come: ask now, PostgreSQL works while we write. */
	if (PQntuples(res) > 0 && !PQsendQuery(c, FETCH)) {
		snprintf(err, errlen, "lecture des données : %s",
		    PQerrorMessage(c));
		PQclear(res);
		return NULL;
	}
	return res;
}

int
xf_rows(PGconn *c, xf_row_fn fn, void *arg, xf_progress progress,
    void *parg, int64_t *rows, char *err, size_t errlen)
{
	PGresult	*res;
	int		 r, n;

	*rows = 0;
	for (;;) {
		if ((res = xf_fetch(c, err, errlen)) == NULL)
			return -1;
		if ((n = PQntuples(res)) == 0) {
			PQclear(res);
			return 0;
		}
		for (r = 0; r < n; r++, (*rows)++)
			if (fn(arg, res, r, err, errlen) != 0) {
				PQclear(res);
				return -1;
			}
		PQclear(res);
		if (progress != NULL && progress(parg, *rows) != 0) {
			snprintf(err, errlen, "export interrompu");
			return -1;
		}
	}
}

const char *
xf_text(const struct xf_col *col, PGresult *res, int r, int i, char **tmp)
{
	struct buf	 b = { 0 };
	json_t		*a, *v;
	size_t		 k;

	*tmp = NULL;
	if (PQgetisnull(res, r, i))
		return NULL;
	if (col->kind != XF_LIST)
		return PQgetvalue(res, r, i);
	if ((a = json_loads(PQgetvalue(res, r, i), 0, NULL)) == NULL)
		return NULL;
	buf_puts(&b, "");
	json_array_foreach(a, k, v) {
		if (k > 0)
			buf_append(&b, &col->sep, 1);
		buf_puts(&b, json_is_string(v) ? json_string_value(v) : "");
	}
	json_decref(a);
	return *tmp = b.data;
}

/* --- text writers --------------------------------------------------------- */

/* RFC 4180: quoted when it holds the separator, a quote or a line break. */
static void
csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* The CSVT types (GDAL's CSV driver reads them beside the CSV). */
static int
csvt_write(const struct xf_spec *x, const char *typepath)
{
	FILE	*t;
	size_t	 i;

	if ((t = fopen(typepath, "w")) == NULL)
		return -1;
	fputs("\"WKT\"", t);
	for (i = 0; i < x->ncols; i++)
		fprintf(t, ",\"%s\"", x->cols[i].kind == XF_INTEGER ? "Integer" :
		    x->cols[i].kind == XF_BOOLEAN ? "Integer(Boolean)" : "String");
	fputs("\r\n", t);
	return fclose(t);
}

static void
csv_row(const struct xf_spec *x, FILE *f, PGresult *res, int r)
{
	const char	*v;
	char		*tmp;
	size_t		 i;

	csv_field(f, PQgetvalue(res, r, XF_GEOM));
	for (i = 0; i < x->ncols; i++) {
		fputc(',', f);
		v = xf_text(&x->cols[i], res, r, (int)i + XF_FIRST, &tmp);
		if (v != NULL && x->cols[i].kind == XF_BOOLEAN)
			v = strcmp(v, "true") == 0 ? "1" : "0";
		csv_field(f, v ? v : "");
		free(tmp);
	}
	fputs("\r\n", f);
}

/* A JSON string: valid UTF-8 from PostgreSQL, escaped as RFC 8259 says. */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * Is s an integer as JSON writes one, of at most 15 digits (exact where
 * readers hold numbers as doubles, and within 64 bits)? The form checks
 * integer fields, but a record validated before its field became an
 * integer keeps its text (found by tests/fuzz/fuzz_export.c: an empty
 * value made the file unreadable); such a value goes out as a string, as
 * it was entered.
 */
static int
json_integer_text(const char *s)
{
	size_t	n;

	if (*s == '-')
		s++;
	if (*s == '0')
		return s[1] == '\0';
	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	return n > 0 && n <= 15 && s[n] == '\0';
}

/* The members of a row's attributes object (without its braces). */
static void
json_members(const struct xf_spec *x, FILE *f, PGresult *res, int r)
{
	const char	*v;
	char		*tmp;
	size_t		 i;

	for (i = 0; i < x->ncols; i++) {
		if (i > 0)
			fputc(',', f);
		json_str(f, x->cols[i].name);
		fputc(':', f);
		v = xf_text(&x->cols[i], res, r, (int)i + XF_FIRST, &tmp);
		if (v == NULL)
			fputs("null", f);
		else if (x->cols[i].kind == XF_INTEGER && json_integer_text(v))
			fputs(v, f);
		else if (x->cols[i].kind == XF_BOOLEAN)
			fputs(strcmp(v, "true") == 0 ? "true" : "false", f);
		else
			json_str(f, v);
		free(tmp);
	}
}

static void
geojson_row(const struct xf_spec *x, FILE *f, PGresult *res, int r)
{
	fputs("{\"type\":\"Feature\",\"id\":", f);
	json_str(f, PQgetvalue(res, r, XF_UID));
	fputs(",\"geometry\":", f);
	fputs(PQgetisnull(res, r, XF_GEOM) ? "null" : PQgetvalue(res, r,
	    XF_GEOM), f);
	fputs(",\"properties\":{", f);
	json_members(x, f, res, r);
	fputs("}}", f);
}

/* Direct contribution: the object's BD TOPO attributes, keyed by our id
 * (IGN's cleabs is not known to the portal), and its WKT. */
static void
ign_row(const struct xf_spec *x, FILE *f, PGresult *res, int r)
{
	const char	*op = PQgetvalue(res, r, XF_OP);

	fprintf(f, "{\"table\":\"%s\",\"state\":\"%s\",\"data\":", x->layer,
	    strcmp(op, "create") == 0 ? "Insert" : strcmp(op, "modify") == 0 ?
	    "Update" : "Delete");
	fputc('{', f);
	json_members(x, f, res, r);
	fputs(",\"geometrie\":", f);
	json_str(f, PQgetvalue(res, r, XF_GEOM));
	fputs("}}", f);
}

/*
 * The text formats as three steps, so that a file can be written from any
 * rows (the export's cursor, or tests/fuzz/fuzz_export.c): what opens the
 * file (the GeoJSON and IGN wrappers, the CSV header line), each row (n:
 * the rows already written, for the separator between JSON items), and
 * what closes it.
 */
void
xf_text_head(const struct xf_spec *x, FILE *f)
{
	size_t	i;

	if (x->text == XF_TEXT_GEOJSON)
		fputs("{\"type\":\"FeatureCollection\",\"features\":[\n", f);
	else if (x->text == XF_TEXT_IGN)
		fprintf(f, "{\"comment\":\"Guichet : contribution %s\","
		    "\"actions\":[\n", x->layer);
	else {
		fputs("WKT", f);
		for (i = 0; i < x->ncols; i++) {
			fputc(',', f);
			csv_field(f, x->cols[i].name);
		}
		fputs("\r\n", f);
	}
}

void
xf_text_row(const struct xf_spec *x, FILE *f, PGresult *res, int r,
    int64_t n)
{
	if (x->text != XF_TEXT_CSV && n > 0)
		fputs(",\n", f);
	if (x->text == XF_TEXT_GEOJSON)
		geojson_row(x, f, res, r);
	else if (x->text == XF_TEXT_IGN)
		ign_row(x, f, res, r);
	else
		csv_row(x, f, res, r);
}

void
xf_text_tail(const struct xf_spec *x, FILE *f)
{
	if (x->text != XF_TEXT_CSV)
		fputs("\n]}\n", f);
}

struct text {
	const struct xf_spec	*x;
	FILE			*f;
	int64_t			 n;
};

static int
text_row(void *arg, PGresult *res, int r, char *err, size_t errlen)
{
	struct text	*t = arg;

	(void)err;
	(void)errlen;
	xf_text_row(t->x, t->f, res, r, t->n++);
	return 0;
}

/*
 * Streams the cursor into path in format x: one text file, GeoJSON, IGN
 * transactions or CSV (and its CSVT of types beside it).
 */
static int
text_write(const struct xf_spec *x, PGconn *c, const char *path,
    int64_t *rows, xf_progress progress, void *arg, char *err, size_t errlen)
{
	struct text	 t = { x, NULL, 0 };
	FILE		*f;
	char		*typepath = NULL;
	int		 rc = -1;

	*rows = 0;
	if ((t.f = f = fopen(path, "w")) == NULL) {
		snprintf(err, errlen, "création du fichier : %s", xf_syserr(errno));
		return -1;
	}
	xf_text_head(x, f);
	if (strncmp(x->format, "csv", 3) == 0) {
		typepath = xasprintf("%st", path);	/* x.csv → x.csvt */
		if (csvt_write(x, typepath) != 0) {
			snprintf(err, errlen, "création du fichier des types : %s",
			    xf_syserr(errno));
			goto out;
		}
	}
	if (xf_rows(c, text_row, &t, progress, arg, rows, err, errlen) != 0)
		goto out;
	xf_text_tail(x, f);
	rc = 0;
out:
	if (fflush(f) != 0 || ferror(f)) {
		if (rc == 0)
			snprintf(err, errlen, "écriture du fichier : %s",
			    xf_syserr(errno));
		rc = -1;
	}
	fclose(f);
	free(typepath);
	return rc;
}

int
xf_write(const struct xf_spec *x, PGconn *c, const char *dir,
    const char *stem, json_t *files, xf_progress progress, void *arg,
    char *err, size_t errlen)
{
	static const struct {
		const char *format, *ext, *media;
	} kinds[] = {
		{ "geojson", "geojson", "application/geo+json" },
		{ "ign", "json", "application/json" },
		{ "csv", "csv", "text/csv; charset=utf-8" },
		{ "csv_shp", "csv", "text/csv; charset=utf-8" },
		{ "gpkg", "gpkg", "application/geopackage+sqlite3" },
	};
	char		*name, *path;
	int64_t		 rows;
	size_t		 i;
	int		 rc;

	if (strcmp(x->format, "bal") == 0)
		return bal_write(x, c, dir, files, progress, arg, err, errlen);
	for (i = 0; strcmp(kinds[i].format, x->format) != 0; i++)
		;
	name = xasprintf("%s.%s", stem, kinds[i].ext);
	path = xasprintf("%s/%s", dir, name);
	rc = strcmp(x->format, "gpkg") == 0 ?
	    gpkg_write(x, c, path, &rows, progress, arg, err, errlen) :
	    text_write(x, c, path, &rows, progress, arg, err, errlen);
	if (rc == 0) {
		json_array_append_new(files, json_pack("{s:s, s:s, s:I}", "name",
		    name, "media_type", kinds[i].media, "rows", (json_int_t)rows));
		if (strncmp(x->format, "csv", 3) == 0)
			json_array_append_new(files, json_pack("{s:s+, s:s, s:I}",
			    "name", name, "t", "media_type", "text/plain; "
			    "charset=utf-8", "rows", (json_int_t)1));
	}
	free(name);
	free(path);
	return rc;
}
