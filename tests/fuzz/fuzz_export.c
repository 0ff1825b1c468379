/*
 * libFuzzer target: the export writers (app/xformat.c for GeoJSON, IGN
 * transactions and both CSVs; app/bal.c for BAL 1.4), on rows built in
 * memory the way xf_query() and bal_query() return them, with the bytes as
 * their values. Run from the project root (the forms are read from forms/).
 *
 * The first byte picks a guichet, a format and whether the batch is
 * incremental; the rest, cut at NUL bytes, gives the values column after
 * column, row after row (up to MAX_ROWS). A value starting with 0x01 is
 * SQL NULL; others are made valid UTF-8 first, as PostgreSQL guarantees
 * (invalid bytes become '?'), and a GeoJSON geometry that is not JSON (or
 * repeats a key) is NULL (PostGIS writes it). Whatever the values, a file
 * must read back as its format says: GeoJSON and IGN files are JSON with
 * one item per row and every column in each, CSV records have the
 * header's field count, BAL lines the header's number of ';', and every
 * file is valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "form.h"
#include "util.h"
#include "xformat.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_ROWS	32
#define MAX_SPECS	24
#define MAX_COLS	64

static struct xf_spec	specs[MAX_SPECS];
static size_t		nspecs;
static int		bal_cols;	/* of bal_query()'s rows */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const bdtopo[] = { "erp", "equipco" };
	static const char *const formats[] = { "geojson", "ign", "csv",
	    "csv_shp" };
	char	err[512], *head = NULL;
	size_t	g, k, i, len = 0;
	FILE	*f;
	int	inc;

	(void)argc;
	(void)argv;
	if (form_load_all("forms", err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	for (g = 0; g < 2; g++)
		for (k = 0; k < 4; k++)
			for (inc = 0; inc < 2; inc++)
				if (xf_spec_init(&specs[nspecs++],
				    form_find(bdtopo[g]), formats[k], inc, err,
				    sizeof(err)) != 0)
					goto fail;
	if (xf_spec_init(&specs[nspecs++], form_find("adresse"), "bal", 0,
	    err, sizeof(err)) != 0)
		goto fail;
	/* The commune and sort keys, then the header's columns. */
	if ((f = open_memstream(&head, &len)) == NULL)
		abort();
	bal_head(&specs[nspecs - 1], f);
	fclose(f);
	for (bal_cols = 6, i = 0; i < len; i++)
		bal_cols += head[i] == ';';
	free(head);
	return 0;
fail:
	fprintf(stderr, "%s\n", err);
	exit(1);
}

/* The value as PostgreSQL would give it: valid UTF-8 ('?' for the rest). */
static char *
pg_text(const uint8_t *p, size_t n)
{
	char	*s = xmalloc(n + 1);
	size_t	 i, k;

	for (i = 0; i < n; i += k) {
		k = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		if (i + k > n || !utf8_valid((const char *)p + i, k)) {
			s[i] = '?';
			k = 1;
		} else
			memcpy(s + i, p + i, k);
	}
	s[n] = '\0';
	return s;
}

/* The rows: ncols text columns filled from the values, as said above. */
static PGresult *
make_rows(const uint8_t *data, size_t size, int ncols, int geojson,
    int *nrows)
{
	PGresAttDesc	*attrs = xcalloc((size_t)ncols, sizeof(*attrs));
	PGresult	*res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	const uint8_t	*end = data + size, *p = data, *nul;
	char		 names[MAX_COLS][8], *v;
	size_t		 nvals = 0;
	int		 c, r = 0;
	json_t		*j;

	for (p = data; p < end; p = nul + 1, nvals++)
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			nul = end;
	*nrows = nvals == 0 ? 1 : (int)((nvals + (size_t)ncols - 1) /
	    (size_t)ncols);
	if (*nrows > MAX_ROWS)
		*nrows = MAX_ROWS;
	for (c = 0; c < ncols; c++) {
		snprintf(names[c], sizeof(names[0]), "c%d", c);
		attrs[c].name = names[c];
		attrs[c].typid = 25;	/* text */
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	if (res == NULL || !PQsetResultAttrs(res, ncols, attrs))
		abort();
	free(attrs);
	for (p = data, r = 0, c = 0; r < *nrows; ) {
		nul = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		if (nul == NULL)
			nul = end;
		if (p >= end || (nul > p && *p == 0x01))
			v = NULL;
		else
			v = pg_text(p, (size_t)(nul - p));
		/* ST_AsGeoJSON writes JSON (without a key twice); no other
		 * text arrives there. */
		if (v != NULL && geojson && c == XF_GEOM) {
			if ((j = json_loads(v, JSON_DECODE_ANY |
			    JSON_REJECT_DUPLICATES, NULL)) == NULL) {
				free(v);
				v = NULL;
			}
			json_decref(j);
		}
		if (!PQsetvalue(res, r, c, v, v ? (int)strlen(v) : -1))
			abort();
		free(v);
		p = nul < end ? nul + 1 : end;
		if (++c == ncols) {
			c = 0;
			r++;
		}
	}
	return res;
}

/* A JSON file: one item per row in list, each with n members in member. */
static void
check_json(const char *out, size_t len, const char *list,
    const char *member, size_t n, int nrows)
{
	json_error_t	 e;
	json_t		*doc, *items, *item;
	size_t		 i;

	doc = json_loadb(out, len, JSON_REJECT_DUPLICATES, &e);
	if (doc == NULL) {
		fprintf(stderr, "not JSON (%s at %d): %.*s\n", e.text, e.position,
		    (int)len, out);
		abort();
	}
	items = json_object_get(doc, list);
	if (json_array_size(items) != (size_t)nrows)
		abort();
	json_array_foreach(items, i, item)
		if (json_object_size(json_object_get(item, member)) != n)
			abort();
	json_decref(doc);
}

/*
 * An RFC 4180 file: CRLF after each record, '"' only around a whole field
 * (and doubled inside), fields fields in each record. Returns the records.
 */
static int
check_csv(const char *s, size_t len, size_t fields)
{
	size_t	i = 0, n = 1;
	int	records = 0, start = 1;

	while (i < len) {
		if (start && s[i] == '"') {
			for (i++; i < len && !(s[i] == '"' && (i + 1 == len ||
			    s[i + 1] != '"')); i++)
				if (s[i] == '"')
					i++;
			if (i++ >= len)
				abort();	/* unterminated quote */
			if (i < len && s[i] != ',' && s[i] != '\r')
				abort();	/* text after the quote */
			start = 0;
			continue;
		}
		start = 0;
		if (s[i] == ',') {
			n++;
			start = 1;
			i++;
		} else if (s[i] == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n' || n != fields)
				abort();
			records++;
			n = 1;
			start = 1;
			i += 2;
		} else if (s[i] == '"' || s[i] == '\n')
			abort();	/* a quote or a line break left bare */
		else
			i++;
	}
	if (!start || n != 1)
		abort();		/* the last record without its CRLF */
	return records;
}

/* A BAL file: the header's number of ';' on every line, LF-terminated. */
static int
check_bal(const char *s, size_t len)
{
	const char	*line, *nl, *end = s + len;
	size_t		 want = 0, n;
	int		 lines = 0;

	if (memchr(s, '\r', len) != NULL)
		abort();
	for (line = s; line < end; line = nl + 1, lines++) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			abort();
		for (n = 0; line < nl; line++)
			n += *line == ';';
		if (lines == 0)
			want = n;
		else if (n != want)
			abort();
	}
	return lines;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct xf_spec	*x;
	PGresult		*res;
	FILE			*f;
	char			*out = NULL;
	size_t			 len = 0;
	int			 bal, ncols, nrows, r;

	if (size == 0)
		return 0;
	x = &specs[data[0] % nspecs];
	bal = strcmp(x->format, "bal") == 0;
	ncols = bal ? bal_cols : XF_FIRST + (int)x->ncols;
	if (ncols > MAX_COLS)
		abort();
	res = make_rows(data + 1, size - 1, ncols,
	    strcmp(x->format, "geojson") == 0, &nrows);

	if ((f = open_memstream(&out, &len)) == NULL)
		abort();
	if (bal)
		bal_head(x, f);
	else
		xf_text_head(x, f);
	for (r = 0; r < nrows; r++)
		if (bal)
			bal_line(f, res, r);
		else
			xf_text_row(x, f, res, r, r);
	if (!bal)
		xf_text_tail(x, f);
	fclose(f);
	PQclear(res);

	if (!utf8_valid(out, len))
		abort();
	if (bal) {
		if (check_bal(out, len) != nrows + 1)
			abort();
	} else if (strcmp(x->format, "geojson") == 0)
		check_json(out, len, "features", "properties", x->ncols, nrows);
	else if (strcmp(x->format, "ign") == 0)
		/* The columns and the geometry (geometrie). */
		check_json(out, len, "actions", "data", x->ncols + 1, nrows);
	else if (check_csv(out, len, x->ncols + 1) != nrows + 1)
		abort();
	free(out);
	return 0;
}
