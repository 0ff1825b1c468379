/*
 * csv.h — a streaming CSV reader for bulk imports (ERP exports of the SDIS,
 * commune BAL files): RFC 4180 records read one at a time from a FILE that
 * may be a pipe, in UTF-8 or Windows-1252 (returned as UTF-8), separated by
 * ';', ',' or a tab, both sniffed from the start of the file.
 *
 * Memory stays bounded whatever the file size: one input block and one
 * record (at most CSV_ROW_MAX bytes) at a time, buffers reused.
 */
#ifndef GUICHET_CSV_H
#define GUICHET_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_FIELD_MAX	(64 * 1024)	/* bytes of one field, as UTF-8 */
#define CSV_COLS_MAX	512		/* fields of one record */
#define CSV_ROW_MAX	(1024 * 1024)	/* bytes of one record, as UTF-8 */
#define CSV_SNIFF_MAX	(64 * 1024)	/* bytes looked at by csv_open */

struct csv;

/*
 * One record. fields[0..nfields) are NUL-terminated UTF-8 strings, valid
 * until the next csv_next or csv_close; spaces around values are kept.
 * line is the 1-based physical line where the record starts (set on errors
 * too, with nfields 0): lines end with CRLF, LF or a lone CR, including
 * those inside quoted fields, and blank lines count.
 */
struct csv_row {
	char		**fields;
	size_t		  nfields;
	unsigned long	  line;
};

/*
 * Reads up to CSV_SNIFF_MAX bytes of f and decides:
 * - the encoding: UTF-8 if the sample is valid UTF-8 or starts with the
 *   UTF-8 byte order mark (skipped), else Windows-1252;
 * - the separator: of ';', ',' and tab, the one that splits the first
 *   non-blank line (the header, outside quotes) into the most fields, ties
 *   going to that order (a one-column file gets ';').
 * Reading then goes on from the sample: f is never sought, and is not
 * closed by csv_close. Returns NULL with a French message in err for an
 * empty file, a read error, a UTF-16 file, or a first line that cannot be
 * a header (a NUL byte, an unclosed quote, over CSV_SNIFF_MAX bytes or
 * CSV_COLS_MAX fields). The header is the first record csv_next returns.
 */
struct csv	*csv_open(FILE *f, char *err, size_t errlen);

/* "UTF-8" or "windows-1252". */
const char	*csv_encoding(const struct csv *);
char		 csv_separator(const struct csv *);

/*
 * Reads the next record into row: 1, 0 at the end of the file, or -1 with
 * a French message in err for a malformed record — an unclosed quote at the
 * end of the file, a field over CSV_FIELD_MAX bytes, a record over
 * CSV_COLS_MAX fields or CSV_ROW_MAX bytes, a NUL byte, text that is not
 * UTF-8 in a file read as UTF-8, a read error. After -1 reading resumes
 * at the next record, so the caller can report row->line and go on.
 *
 * Quotes: a field that starts with '"' is quoted ("" stands for one quote,
 * separators and line ends are data); text after its closing quote is kept
 * as it comes ("ab"c gives abc, as most tools read it). A quote inside a
 * field that does not start with one is an ordinary character. Blank lines
 * are skipped.
 */
int		 csv_next(struct csv *, struct csv_row *row, char *err,
		    size_t errlen);

void		 csv_close(struct csv *);

#endif
