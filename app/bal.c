/*
 * bal.c — Base Adresse Locale 1.4: one file per commune.
 *
 * The BAN replaces a commune's addresses with each file it receives, so a
 * file always holds every validated address of its commune; an incremental
 * batch holds the files of the communes that changed in its window. Rows
 * follow the AITF 1.4 rules: ";" between columns and no quotes (the forms
 * refuse ";" in names), UTF-8, dates as AAAA-MM-JJ, cle_interop in lower
 * case with the number on 5 digits ("xxxx" when the street code is not
 * known), x/y in Lambert-93 to the centimetre and long/lat to 7 decimals,
 * and a 99999 row for each lieu-dit used as lieudit_complement_nom. The
 * id_ban_* columns are left out: the BAN's commune id is only known online,
 * and the format wants all three or none. Files are named
 * AAAAMMJJ_bal_<SIREN of the commune>_<commune>.csv.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "form.h"
#include "util.h"
#include "xformat.h"

/* The columns, in the 1.4 order; then the regional-language names. */
static const char *const columns[] = { "cle_interop", "commune_insee",
    "commune_nom", "commune_deleguee_insee", "commune_deleguee_nom",
    "voie_nom", "lieudit_complement_nom", "numero", "suffixe", "position",
    "x", "y", "long", "lat", "cad_parcelles", "source", "date_der_maj",
    "certification_commune", NULL };

/* Regional-language columns of the form (voie_nom_oci…), in form order. */
static void
languages(const struct xf_spec *x, void (*fn)(void *, const char *field,
    const char *column), void *arg)
{
	json_t		*fd;
	const char	*col;
	size_t		 i;

	json_array_foreach(json_object_get(form_definition(x->form), "fields"),
	    i, fd) {
		col = json_string_value(json_object_get(json_object_get(fd,
		    "export"), "bal"));
		if (col != NULL && strncmp(col, "voie_nom_", 9) == 0)
			fn(arg, json_string_value(json_object_get(fd, "name")),
			    col);
	}
}

static void
lang_sql(void *arg, const char *field, const char *column)
{
	buf_appendf(arg, ", a.attributes->>'%s' AS %s", field, column);
}

static void
lang_null(void *arg, const char *field, const char *column)
{
	(void)field;
	(void)column;
	buf_puts(arg, ", NULL");
}

/*
 * Addresses, then the lieux-dits they name, per commune: the commune code
 * first (files split on it), then the columns. $1…$5 as xf_query().
 */
char *
bal_query(const struct xf_spec *x)
{
	struct buf	b = { 0 };

	buf_puts(&b, "WITH c AS (");
	/* Every commune a changed address has been in: one that an address
	 * left must be sent again without it. */
	if (x->incremental)
		buf_puts(&b, "SELECT DISTINCT v.insee_commune AS code FROM "
		    "guichet_changes($1, $2, $3) ch JOIN submission_versions v ON "
		    "v.submission_id = ch.id, LATERAL (SELECT v.insee_commune, "
		    "CASE WHEN v.insee_commune LIKE '97%' THEN left(v.insee_commune, "
		    "3) ELSE left(v.insee_commune, 2) END AS departement) s WHERE "
		    "v.insee_commune IS NOT NULL AND ");
	else
		buf_puts(&b, "SELECT DISTINCT s.insee_commune AS code FROM "
		    "submissions s WHERE s.guichet = $1 AND s.state = 'validated' "
		    "AND s.operation = 'create' AND $2::bigint < 0 AND "
		    "$3::bigint >= 0 AND ");
	buf_puts(&b, "guichet_in_scope($4::text[], $5::text[], s.insee_commune, "
	    "s.departement)), "
	    "a AS (SELECT s.* FROM submissions s JOIN c ON c.code = "
	    "s.insee_commune WHERE s.guichet = 'adresse' AND s.state = "
	    "'validated' AND s.operation = 'create'), "
	    "p AS (SELECT a.id, ST_Transform(a.geom, 2154) AS l93 FROM a) "
	    "SELECT * FROM (SELECT a.insee_commune, 0 AS k, "
	    "a.attributes->>'voie_nom' AS vn, (a.attributes->>'numero')::int AS n, "
	    "coalesce(a.attributes->>'suffixe', '') AS sx, "
	    "lower(a.insee_commune || '_' || coalesce(a.attributes->>'code_voie', "
	    "'xxxx') || '_' || lpad(a.attributes->>'numero', 5, '0') || "
	    "coalesce('_' || (a.attributes->>'suffixe'), '')) AS cle_interop, "
	    "a.insee_commune AS commune_insee, "
	    "(SELECT nom FROM ref_communes WHERE code = a.insee_commune AND type = "
	    "'commune-actuelle') AS commune_nom, a.attributes->>"
	    "'commune_deleguee_insee' AS commune_deleguee_insee, "
	    "(SELECT nom FROM ref_communes WHERE code = "
	    "a.attributes->>'commune_deleguee_insee' AND type IN "
	    "('commune-deleguee', 'commune-associee') LIMIT 1) AS commune_deleguee_nom, "
	    "a.attributes->>'voie_nom' AS voie_nom, "
	    "a.attributes->>'lieudit_complement_nom' AS lieudit_complement_nom, "
	    "a.attributes->>'numero' AS numero, a.attributes->>'suffixe' AS suffixe, "
	    "coalesce(a.attributes->>'position', 'entrée') AS position, "
	    "to_char(ST_X(p.l93), 'FM99999990.00') AS x, "
	    "to_char(ST_Y(p.l93), 'FM99999990.00') AS y, "
	    "to_char(ST_X(a.geom), 'FM990.0000000') AS long, "
	    "to_char(ST_Y(a.geom), 'FM990.0000000') AS lat, "
	    "a.attributes->>'cad_parcelles' AS cad_parcelles, o.name AS source, "
	    "to_char(a.updated_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD') AS "
	    "date_der_maj, CASE WHEN (a.attributes->>'certification_commune')"
	    "::boolean THEN '1' ELSE '0' END AS certification_commune");
	languages(x, lang_sql, &b);
	buf_puts(&b, " FROM a JOIN p ON p.id = a.id JOIN organisations o ON "
	    "o.id = a.organisation_id UNION ALL "
	    /* A lieu-dit named as a complement exists as a 99999 row. */
	    "SELECT DISTINCT ON (a.insee_commune, lower(l.nom)) a.insee_commune, "
	    "1, l.nom, 99999, '', lower(a.insee_commune || '_xxxx_99999'), "
	    "a.insee_commune, (SELECT nom FROM ref_communes WHERE code = "
	    "a.insee_commune AND type = 'commune-actuelle'), NULL, NULL, l.nom, "
	    "NULL, '99999', NULL, NULL, NULL, NULL, NULL, NULL, NULL, o.name, "
	    "to_char(a.updated_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM-DD'), "
	    "NULL");
	languages(x, lang_null, &b);
	buf_puts(&b, " FROM a JOIN organisations o ON o.id = a.organisation_id, "
	    "LATERAL (SELECT btrim(a.attributes->>'lieudit_complement_nom') AS "
	    "nom) l WHERE l.nom <> '') t "
	    "ORDER BY 1, 2, lower(vn), n, sx");
	return b.data;
}

/* Lower-case ASCII letters and digits of a commune's name, for file names. */
static void
slug(const char *s, char *out, size_t outlen)
{
	static const struct { const char *utf8; char ascii; } fold[] = {
		{ "à", 'a' }, { "â", 'a' }, { "ä", 'a' }, { "ç", 'c' },
		{ "é", 'e' }, { "è", 'e' }, { "ê", 'e' }, { "ë", 'e' },
		{ "î", 'i' }, { "ï", 'i' }, { "ô", 'o' }, { "ö", 'o' },
		{ "ù", 'u' }, { "û", 'u' }, { "ü", 'u' }, { "ÿ", 'y' },
		{ "É", 'e' }, { "È", 'e' }, { "Ê", 'e' }, { "À", 'a' },
		{ "Â", 'a' }, { "Ô", 'o' }, { "Î", 'i' }, { "Ç", 'c' },
	};
	size_t	o = 0, k;
	int	dash = 0;

	while (*s != '\0' && o + 2 < outlen) {
		char	c = 0;

		for (k = 0; k < sizeof(fold) / sizeof(fold[0]); k++)
			if (strncmp(s, fold[k].utf8, strlen(fold[k].utf8)) == 0) {
				c = fold[k].ascii;
				s += strlen(fold[k].utf8);
				break;
			}
		if (k == sizeof(fold) / sizeof(fold[0])) {
			c = *s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s;
			s++;
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (dash && o > 0)
				out[o++] = '-';
			out[o++] = c;
			dash = 0;
		} else
			dash = 1;
	}
	out[o] = '\0';
}

/* A value: ";" and line breaks never reach the file (no quoting in BAL). */
static void
put(FILE *f, const char *v)
{
	for (; *v; v++)
		fputc(*v == ';' ? ',' : (*v == '\n' || *v == '\r') ? ' ' : *v, f);
}

static void
lang_header(void *arg, const char *field, const char *column)
{
	(void)field;
	fprintf(arg, ";%s", column);
}

void
bal_head(const struct xf_spec *x, FILE *f)
{
	size_t	i;

	for (i = 0; columns[i] != NULL; i++)
		fprintf(f, "%s%s", i ? ";" : "", columns[i]);
	languages(x, lang_header, f);
	fputs("\n", f);
}

/* Columns 0-4 of bal_query()'s rows are the commune and sort keys. */
void
bal_line(FILE *f, PGresult *res, int r)
{
	int	k, nf = PQnfields(res);

	for (k = 5; k < nf; k++) {
		if (k > 5)
			fputc(';', f);
		put(f, PQgetvalue(res, r, k));
	}
	fputc('\n', f);
}

struct bal_file {
	FILE	*f;
	char	 name[208];
	char	*path;
	int64_t	 rows;
};

static int
bal_close(struct bal_file *bf, json_t *files, char *err, size_t errlen)
{
	int	rc = 0;

	if (bf->f == NULL)
		return 0;
	if (fflush(bf->f) != 0 || ferror(bf->f)) {
		snprintf(err, errlen, "écriture du fichier : %s",
		    xf_syserr(errno));
		rc = -1;
	}
	fclose(bf->f);
	bf->f = NULL;
	free(bf->path);
	bf->path = NULL;
	if (rc == 0)
		json_array_append_new(files, json_pack("{s:s, s:s, s:I}", "name",
		    bf->name, "media_type", "text/csv; charset=utf-8", "rows",
		    (json_int_t)bf->rows));
	return rc;
}

/*
 * The commune's SIREN and name for the file name, from the COG list (the
 * INSEE code stands in for the SIREN when the list lacks it).
 */
static int
bal_open(struct bal_file *bf, const struct xf_spec *x, PGconn *c,
    const char *dir, const char *commune, char *err, size_t errlen)
{
	const char	*v[1] = { commune };
	char		 day[16], s[64];
	time_t		 now = time(NULL);
	struct tm	 tm;
	PGresult	*res;

	res = PQexecParams(c, "SELECT coalesce(siren, code), nom FROM "
	    "ref_communes WHERE code = $1 AND type = 'commune-actuelle' UNION "
	    "ALL SELECT $1, $1 LIMIT 1", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0) {
		snprintf(err, errlen, "commune %s : %s", commune,
		    PQerrorMessage(c));
		PQclear(res);
		return -1;
	}
	localtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	slug(PQgetvalue(res, 0, 1), s, sizeof(s));
	snprintf(bf->name, sizeof(bf->name), "%s_bal_%s_%s.csv", day,
	    PQgetvalue(res, 0, 0), s[0] ? s : commune);
	PQclear(res);
	bf->path = xasprintf("%s/%s", dir, bf->name);
	bf->rows = 0;
	if ((bf->f = fopen(bf->path, "w")) == NULL) {
		snprintf(err, errlen, "création du fichier : %s",
		    xf_syserr(errno));
		free(bf->path);
		bf->path = NULL;
		return -1;
	}
	bal_head(x, bf->f);
	return 0;
}

struct bal_run {
	const struct xf_spec	*x;
	PGconn			*c;
	const char		*dir;
	json_t			*files;
	struct bal_file		 bf;
	char			 commune[8];
};

/* A row; a new commune closes the file and opens the next. */
static int
bal_row(void *arg, PGresult *res, int r, char *err, size_t errlen)
{
	struct bal_run	*b = arg;

	if (strcmp(b->commune, PQgetvalue(res, r, 0)) != 0) {
		if (bal_close(&b->bf, b->files, err, errlen) != 0 ||
		    bal_open(&b->bf, b->x, b->c, b->dir, PQgetvalue(res, r, 0),
		    err, errlen) != 0)
			return -1;
		snprintf(b->commune, sizeof(b->commune), "%s",
		    PQgetvalue(res, r, 0));
	}
	bal_line(b->bf.f, res, r);
	b->bf.rows++;
	return 0;
}

int
bal_write(const struct xf_spec *x, PGconn *c, const char *dir, json_t *files,
    xf_progress progress, void *arg, char *err, size_t errlen)
{
	struct bal_run	 b = { x, c, dir, files, { 0 }, "" };
	int64_t		 rows;
	int		 rc = -1;

	if (xf_rows(c, bal_row, &b, progress, arg, &rows, err, errlen) == 0)
		rc = bal_close(&b.bf, files, err, errlen);
	if (b.bf.f != NULL) {
		fclose(b.bf.f);
		free(b.bf.path);
	}
	return rc;
}
