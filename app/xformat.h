/*
 * xformat.h — the export formats: how a guichet's records become columns
 * (through the export names of its form: BD TOPO long names, Shapefile
 * names, BAL columns), the SQL that reads them, and the writers that
 * stream them to files (GeoJSON, CSV, IGN transactions JSON, GeoPackage,
 * BAL).
 *
 * A writer reads rows from a cursor of the query xf_query() built for it,
 * a few thousand at a time, so that memory does not grow with the export.
 */
#ifndef GUICHET_XFORMAT_H
#define GUICHET_XFORMAT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

struct form;

/* Column kinds; a list arrives as a JSON array and is joined by sep. */
enum xf_kind { XF_TEXT, XF_INTEGER, XF_BOOLEAN, XF_LIST };

/* A column of a BD TOPO export. */
struct xf_col {
	char		*name;		/* in the file (long or Shapefile name) */
	enum xf_kind	 kind;
	int		 width;		/* text width; 0: unbounded */
	char		 sep;		/* XF_LIST */
	char		*sql;		/* its value: text, or a JSON array */
};

/*
 * The first columns of every BD TOPO row, before the xf_col ones: the
 * geometry as the format wants it, the object's uid, its operation.
 */
#define XF_GEOM		0
#define XF_UID		1
#define XF_OP		2
#define XF_FIRST	3

/* The text of column i of row r as the files show it (lists joined);
 * NULL for SQL NULL. *tmp is freed by the caller. */
const char	*xf_text(const struct xf_col *, PGresult *, int r, int i,
		    char **tmp);

/* How a text format's rows are written (xf_text_row). */
enum xf_text_kind { XF_TEXT_CSV, XF_TEXT_GEOJSON, XF_TEXT_IGN };

/* What one export writes. */
struct xf_spec {
	const struct form *form;
	const char	*format;	/* gpkg geojson csv csv_shp bal ign */
	enum xf_text_kind text;		/* of format, decided once */
	int		 incremental;	/* rows carry their operation */
	const char	*layer;		/* BD TOPO class: erp, zone_d_… */
	struct xf_col	*cols;
	size_t		 ncols;
};


int		 xf_spec_init(struct xf_spec *, const struct form *,
		    const char *format, int incremental, char *err,
		    size_t errlen);
void		 xf_spec_free(struct xf_spec *);
int		 xf_known(const char *format, const char *guichet);
/* A system error in French, for messages shown to admins (no paths). */
const char	*xf_syserr(int errnum);

/*
 * The query of an export: its rows, in a stable order. Parameters: $1
 * guichet, $2 after_seq, $3 upto_seq, $4 départements, $5 communes ($2 <
 * 0: everything validated).
 */
char		*xf_query(const struct xf_spec *);

/* Progress callback: rows written so far; non-zero stops the export. */
typedef int	(*xf_progress)(void *arg, int64_t rows);

/*
 * Writes the export read from cursor "x" (declared by the caller on c, on
 * xf_query()) into directory dir: one file named stem.<ext>, or one per
 * commune (BAL, named as the format says). Appends {name, media_type,
 * rows} to files for each. Returns 0, or -1 with a message in err.
 */
int		 xf_write(const struct xf_spec *, PGconn *c, const char *dir,
		    const char *stem, json_t *files, xf_progress, void *arg,
		    char *err, size_t errlen);

/*
 * Calls fn for each row of cursor "x" (declared on c), then progress after
 * each fetch; stops at the first non-zero answer (fn fills err). Counts the
 * rows in *rows. Returns 0, or -1 with err filled.
 */
typedef int	(*xf_row_fn)(void *arg, PGresult *res, int r, char *err,
		    size_t errlen);
int		 xf_rows(PGconn *c, xf_row_fn fn, void *arg, xf_progress,
		    void *parg, int64_t *rows, char *err, size_t errlen);

/*
 * The text formats (geojson, ign, csv, csv_shp) from any rows shaped as
 * xf_query() returns them: what opens the file, row r of res (n: the rows
 * already in the file), what closes it. xf_write() streams the cursor
 * through them.
 */
void		 xf_text_head(const struct xf_spec *, FILE *);
void		 xf_text_row(const struct xf_spec *, FILE *, PGresult *, int r,
		    int64_t n);
void		 xf_text_tail(const struct xf_spec *, FILE *);

/* Writers of formats with their own file (gpkg.c, bal.c). */
int		 gpkg_write(const struct xf_spec *, PGconn *, const char *path,
		    int64_t *rows, xf_progress, void *arg, char *err,
		    size_t errlen);
int		 bal_write(const struct xf_spec *, PGconn *, const char *dir,
		    json_t *files, xf_progress, void *arg, char *err,
		    size_t errlen);
char		*bal_query(const struct xf_spec *);
/* A BAL file's header line, and the line of row r of bal_query()'s rows. */
void		 bal_head(const struct xf_spec *, FILE *);
void		 bal_line(FILE *, PGresult *, int r);

#endif
