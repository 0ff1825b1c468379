/*
 * csv.c — streaming CSV reader.
 *
 * The files come from spreadsheets and old exports (Prevarisc, commune BAL
 * tools): UTF-8 with or without a byte order mark, or Windows-1252 from
 * Excel's "CSV (séparateur : point-virgule)", with ';', ',' or tabs. Both are
 * decided once from the first block, which is then parsed like any other:
 * the input may be a pipe, so nothing is read twice and nothing is sought.
 *
 * The parser is a state machine over raw bytes that survives block
 * boundaries, so a record may span any number of reads and only the record
 * itself is kept. Separators, quotes, CR and LF are ASCII in both encodings,
 * so parsing never needs the decoded text: runs of ordinary bytes are found
 * eight bytes at a time and copied (UTF-8) or converted (Windows-1252) in
 * one go. UTF-8 is checked once per record, after the fact.
 *
 * Where RFC 4180 says nothing, we read as spreadsheets and Python's csv do:
 * a quote inside an unquoted field is a character, text after a closing
 * quote is appended, a lone CR ends a line. A NUL byte is an error rather
 * than a field silently cut short.
 *
 * A malformed record stops being stored at its first error (memory stays
 * bounded by the limits) but is still parsed to its end, so that the next
 * call starts on the next record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

#define BLOCK	CSV_SNIFF_MAX	/* one fread; the first one is the sample */

enum csv_state {
	ST_START,		/* at the start of a field */
	ST_PLAIN,		/* in an unquoted field, or after a closing quote */
	ST_QUOTED,		/* between quotes */
	ST_QUOTE		/* after a quote between quotes: "" or the end */
};

enum csv_err {
	RE_NONE,
	RE_QUOTE,		/* end of file between quotes */
	RE_FIELD,		/* a field over CSV_FIELD_MAX */
	RE_COLS,		/* over CSV_COLS_MAX fields */
	RE_ROW,			/* over CSV_ROW_MAX bytes */
	RE_NUL,			/* a NUL byte */
	RE_UTF8,		/* not UTF-8 in a file read as UTF-8 */
	RE_IO			/* read error */
};

struct csv {
	FILE		*f;
	unsigned char	*in;		/* BLOCK bytes from f */
	size_t		 pos, end;	/* unread part of in */
	int		 eof;		/* f has given its last byte */
	int		 ioerr;		/* ... because of a read error */
	int		 ioerr_told;
	int		 cp1252;
	char		 sep;
	unsigned char	 stop_plain[256];	/* bytes ending a run, unquoted */
	unsigned char	 stop_quoted[256];	/* the same between quotes */
	uint64_t	 sep8;		/* the separator in each byte */
	unsigned char	 hi[128][4];	/* 0x80-0xFF: UTF-8 length, bytes */

	enum csv_state	 state;
	int		 after_cr;	/* last byte was a CR: a LF belongs to it */
	unsigned long	 line;		/* physical line of the next byte */

	/* The record being read. */
	struct buf	 rec;		/* its fields, each NUL-terminated */
	size_t		*offs;		/* CSV_COLS_MAX field offsets in rec */
	char		**fields;	/* CSV_COLS_MAX, handed out by csv_next */
	size_t		 nf;		/* fields stored */
	size_t		 field;		/* offset of the current field in rec */
	int		 begun;		/* a byte other than a line end seen */
	unsigned long	 start_line;
	enum csv_err	 err;		/* the first problem of the record */
	size_t		 errfield;	/* 1-based number of the long field */
};

#define ONES		0x0101010101010101ULL
#define HIGHS		0x8080808080808080ULL
/* Nonzero when one of the eight bytes of w is zero. */
#define HAS_ZERO(w)	(((w) - ONES) & ~(w) & HIGHS)

/* Windows-1252 0x80-0x9F; the five unassigned bytes become U+FFFD. */
static const uint16_t cp1252_80[32] = {
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178
};

static int
fail(char *err, size_t errlen, const char *text)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", text);
	return -1;
}

/*
 * One fread of a whole block: glibc reads a request this large straight
 * into our buffer, and fread returns less only at the end of the file or
 * on an error (on a pipe it waits for the writer), so a short block ends it.
 */
static int
refill(struct csv *c)
{
	size_t	n;

	if (c->eof)
		return 0;
	n = fread(c->in, 1, BLOCK, c->f);
	c->pos = 0;
	c->end = n;
	if (n < BLOCK) {
		c->eof = 1;
		c->ioerr = ferror(c->f) != 0;
	}
	return n > 0;
}

/*
 * Text is mostly ASCII: eight bytes are checked at a time, and each
 * multi-byte sequence is handed to utf8_valid, which knows the overlongs
 * and surrogates. A third of the reading time went to byte-wise checking.
 */
static int
is_utf8(const unsigned char *p, size_t n)
{
	const unsigned char	*e = p + n;
	uint64_t		 w;
	size_t			 len;

	while (p < e) {
		if (e - p >= 8) {
			memcpy(&w, p, 8);
			if ((w & HIGHS) == 0) {
				p += 8;
				continue;
			}
		}
		if (*p < 0x80) {
			p++;
			continue;
		}
		len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		if ((size_t)(e - p) < len || !utf8_valid((const char *)p, len))
			return 0;
		p += len;
	}
	return 1;
}

/*
 * The sample may stop in the middle of a character when the file goes on:
 * an incomplete sequence at its very end is left out of the check.
 */
static int
sample_is_utf8(const unsigned char *p, size_t n, int eof)
{
	size_t		k, need;
	unsigned	b;

	for (k = 1; !eof && k <= 3 && k <= n; k++) {
		b = p[n - k];
		if ((b & 0xc0) == 0x80)
			continue;
		need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
		if (need > k)
			n -= k;
		break;
	}
	return is_utf8(p, n);
}

/*
 * The header is the first non-blank line of the sample. The separator is
 * not known yet, so a quote opens a quoted field at the start of the line
 * or after any candidate; a line end between quotes is data. Each
 * candidate is counted outside quotes and the most frequent wins, ties
 * going to ';' (French files), then ','. The line must end within the
 * sample unless the file does: a longer one is not a header.
 */
static int
sniff_separator(struct csv *c, char *err, size_t errlen)
{
	static const char	 cands[] = ";,\t";
	const unsigned char	*p = c->in + c->pos, *e = c->in + c->end;
	size_t			 count[3] = { 0 }, best = 0, i;
	int			 quoted = 0, at_start = 1;
	char			 msg[128];

	while (p < e && (*p == '\r' || *p == '\n'))
		p++;
	if (p == e)
		return fail(err, errlen, c->eof ? "Le fichier est vide." :
		    "Le début du fichier ne contient aucune ligne d'en-tête.");
	for (; p < e; p++) {
		if (*p == '\0')
			return fail(err, errlen, "La première ligne contient un "
			    "octet nul : ce n'est pas un fichier texte (un "
			    "classeur Excel ?).");
		if (quoted) {
			if (*p == '"') {
				if (p + 1 < e && p[1] == '"')
					p++;
				else
					quoted = 0;
			}
			continue;
		}
		if (*p == '\r' || *p == '\n')
			break;
		if (*p == '"' && at_start) {
			quoted = 1;
			at_start = 0;
			continue;
		}
		at_start = 0;
		for (i = 0; i < 3; i++)
			if (*p == (unsigned char)cands[i]) {
				count[i]++;
				at_start = 1;
			}
	}
	if (p == e && !c->eof) {
		snprintf(msg, sizeof(msg), "La première ligne dépasse %d Kio : "
		    "ce n'est pas une ligne d'en-tête CSV.", BLOCK / 1024);
		return fail(err, errlen, msg);
	}
	if (quoted)
		return fail(err, errlen, "La première ligne ouvre un guillemet "
		    "qui n'est jamais fermé.");
	for (i = 1; i < 3; i++)
		if (count[i] > count[best])
			best = i;
	if (count[best] >= CSV_COLS_MAX) {
		snprintf(msg, sizeof(msg), "La première ligne compte plus de %d "
		    "colonnes : ce n'est pas une ligne d'en-tête CSV.",
		    CSV_COLS_MAX);
		return fail(err, errlen, msg);
	}
	c->sep = cands[best];
	return 0;
}

static void
build_tables(struct csv *c)
{
	unsigned	b, cp;

	c->stop_plain[(unsigned char)c->sep] = 1;
	c->sep8 = (unsigned char)c->sep * ONES;
	c->stop_quoted['"'] = 1;
	c->stop_plain['\r'] = c->stop_quoted['\r'] = 1;
	c->stop_plain['\n'] = c->stop_quoted['\n'] = 1;
	c->stop_plain['\0'] = c->stop_quoted['\0'] = 1;
	for (b = 0x80; b <= 0xff; b++) {
		cp = b < 0xa0 ? cp1252_80[b - 0x80] : b;
		if (cp < 0x800) {
			c->hi[b - 0x80][0] = 2;
			c->hi[b - 0x80][1] = 0xc0 | cp >> 6;
			c->hi[b - 0x80][2] = 0x80 | (cp & 0x3f);
		} else {
			c->hi[b - 0x80][0] = 3;
			c->hi[b - 0x80][1] = 0xe0 | cp >> 12;
			c->hi[b - 0x80][2] = 0x80 | (cp >> 6 & 0x3f);
			c->hi[b - 0x80][3] = 0x80 | (cp & 0x3f);
		}
	}
}

struct csv *
csv_open(FILE *f, char *err, size_t errlen)
{
	struct csv	*c = xcalloc(1, sizeof(*c));
	int		 bom = 0;

	c->f = f;
	c->in = xmalloc(BLOCK);
	c->line = 1;
	c->offs = xcalloc(CSV_COLS_MAX, sizeof(*c->offs));
	c->fields = xcalloc(CSV_COLS_MAX, sizeof(*c->fields));
	refill(c);
	if (c->ioerr) {
		fail(err, errlen, "Le fichier n'a pas pu être lu.");
		goto fail;
	}
	if (c->end >= 2 && ((c->in[0] == 0xff && c->in[1] == 0xfe) ||
	    (c->in[0] == 0xfe && c->in[1] == 0xff))) {
		fail(err, errlen, "Le fichier est en UTF-16 : enregistrez-le "
		    "en CSV UTF-8 (ou « CSV (séparateur : point-virgule) »).");
		goto fail;
	}
	/* Text has no NUL byte: a spreadsheet workbook, an image or an
	 * archive does within its first bytes. */
	if (memchr(c->in, '\0', c->end) != NULL) {
		fail(err, errlen, "Ce fichier n'est pas un texte CSV : il contient "
		    "des octets nuls (un classeur Excel ou LibreOffice "
		    "s'enregistre d'abord « CSV »).");
		goto fail;
	}
	if (c->end >= 3 && memcmp(c->in, "\xef\xbb\xbf", 3) == 0) {
		c->pos = 3;
		bom = 1;
	}
	/* A byte order mark says UTF-8 even if the text then is not: its rows
	 * are reported rather than turned into mojibake. */
	c->cp1252 = !bom && !sample_is_utf8(c->in + c->pos,
	    c->end - c->pos, c->eof);
	if (sniff_separator(c, err, errlen) == -1)
		goto fail;
	build_tables(c);
	return c;
fail:
	csv_close(c);
	return NULL;
}

const char *
csv_encoding(const struct csv *c)
{
	return c->cp1252 ? "windows-1252" : "UTF-8";
}

char
csv_separator(const struct csv *c)
{
	return c->sep;
}

static void
set_err(struct csv *c, enum csv_err e)
{
	if (c->err == RE_NONE)
		c->err = e;
}

/*
 * Windows-1252 to UTF-8 through a stack buffer: eight ASCII bytes are
 * copied at a time, and each other byte becomes two or three, copied with
 * a fixed-size memcpy from the table.
 */
static void
emit_cp1252(struct csv *c, const unsigned char *p, size_t n)
{
	char			 out[4096];
	const unsigned char	*u;
	size_t			 o = 0, i = 0;
	uint64_t		 w;

	while (i < n) {
		if (o > sizeof(out) - 8) {
			buf_append(&c->rec, out, o);
			o = 0;
		}
		if (n - i >= 8) {
			memcpy(&w, p + i, 8);
			if ((w & HIGHS) == 0) {
				memcpy(out + o, &w, 8);
				o += 8;
				i += 8;
				continue;
			}
		}
		if (p[i] < 0x80)
			out[o++] = (char)p[i];
		else {
			u = c->hi[p[i] - 0x80];
			memcpy(out + o, u + 1, 3);
			o += u[0];
		}
		i++;
	}
	buf_append(&c->rec, out, o);
}

/* Appends field data; a record with an error keeps nothing more. */
static void
emit(struct csv *c, const unsigned char *p, size_t n)
{
	if (n == 0 || c->err != RE_NONE)
		return;
	if (c->cp1252)
		emit_cp1252(c, p, n);
	else
		buf_append(&c->rec, p, n);
	if (c->rec.len - c->field > CSV_FIELD_MAX) {
		c->err = RE_FIELD;
		c->errfield = c->nf + 1;
	} else if (c->rec.len > CSV_ROW_MAX)
		c->err = RE_ROW;
}

/*
 * The end of the run of ordinary bytes from p: the first of x (the
 * separator or the quote), CR, LF or NUL, or e. Eight bytes are tested at
 * a time, then the table finds which one; most of the reading time is here.
 */
static const unsigned char *
scan(const unsigned char *p, const unsigned char *e, uint64_t x8,
    const unsigned char *stop)
{
	uint64_t	w;

	while (e - p >= 8) {
		memcpy(&w, p, 8);
		if (HAS_ZERO(w ^ x8) | HAS_ZERO(w ^ ('\r' * ONES)) |
		    HAS_ZERO(w ^ ('\n' * ONES)) | HAS_ZERO(w))
			break;
		p += 8;
	}
	while (p < e && !stop[*p])
		p++;
	return p;
}

static void
end_field(struct csv *c)
{
	if (c->err != RE_NONE)
		return;
	if (c->nf == CSV_COLS_MAX) {
		c->err = RE_COLS;
		return;
	}
	c->offs[c->nf++] = c->field;
	buf_append(&c->rec, "", 1);
	c->field = c->rec.len;
}

/* The file ended: the record in progress, if any, ends with it. */
static int
at_eof(struct csv *c)
{
	if (c->state == ST_START && !c->begun) {
		if (!c->ioerr || c->ioerr_told)
			return 0;
		c->ioerr_told = 1;
		c->err = RE_IO;
		return 1;
	}
	if (c->state == ST_QUOTED)
		c->err = RE_QUOTE;
	if (c->ioerr) {
		c->ioerr_told = 1;
		c->err = RE_IO;
	}
	end_field(c);
	c->state = ST_START;
	return 1;
}

/*
 * Reads one record into c->rec: 1, or 0 when the file ends before one
 * starts. Each turn of the loop consumes at least one byte or changes
 * state towards one that does, so any input ends.
 */
static int
read_record(struct csv *c)
{
	const unsigned char	*p, *q, *e;
	unsigned char		 ch;

	for (;;) {
		if (c->pos == c->end && !refill(c))
			return at_eof(c);
		p = c->in + c->pos;
		e = c->in + c->end;
		if (c->after_cr) {
			c->after_cr = 0;
			if (*p == '\n') {
				if (c->state == ST_QUOTED)
					emit(c, p, 1);
				c->pos++;
				continue;
			}
		}
		switch (c->state) {
		case ST_START:
			ch = *p;
			if (ch == '\r' || ch == '\n') {
				c->pos++;
				c->line++;
				c->after_cr = ch == '\r';
				if (!c->begun) {	/* a blank line */
					c->start_line = c->line;
					continue;
				}
				end_field(c);
				return 1;
			}
			c->begun = 1;
			if (ch == '"') {
				c->pos++;
				c->state = ST_QUOTED;
			} else if (ch == (unsigned char)c->sep) {
				c->pos++;
				end_field(c);
			} else
				c->state = ST_PLAIN;
			continue;
		case ST_PLAIN:
			q = scan(p, e, c->sep8, c->stop_plain);
			emit(c, p, q - p);
			c->pos = q - c->in;
			if (q == e)
				continue;
			ch = *q;
			c->pos++;
			if (ch == (unsigned char)c->sep) {
				end_field(c);
				c->state = ST_START;
			} else if (ch == '\r' || ch == '\n') {
				c->line++;
				c->after_cr = ch == '\r';
				end_field(c);
				c->state = ST_START;
				return 1;
			} else
				set_err(c, RE_NUL);
			continue;
		case ST_QUOTED:
			q = scan(p, e, '"' * ONES, c->stop_quoted);
			emit(c, p, q - p);
			c->pos = q - c->in;
			if (q == e)
				continue;
			ch = *q;
			c->pos++;
			if (ch == '"')
				c->state = ST_QUOTE;
			else if (ch == '\r' || ch == '\n') {
				emit(c, q, 1);
				c->line++;
				c->after_cr = ch == '\r';
			} else
				set_err(c, RE_NUL);
			continue;
		case ST_QUOTE:
			if (*p == '"') {
				emit(c, p, 1);
				c->pos++;
				c->state = ST_QUOTED;
			} else
				c->state = ST_PLAIN;
			continue;
		}
	}
}

static void
describe(const struct csv *c, char *err, size_t errlen)
{
	char	msg[256];

	switch (c->err) {
	case RE_QUOTE:
		snprintf(msg, sizeof(msg), "Un guillemet ouvert n'est jamais "
		    "fermé : le fichier se termine dans ce champ.");
		break;
	case RE_FIELD:
		snprintf(msg, sizeof(msg), "Le champ n° %zu dépasse %d octets.",
		    c->errfield, CSV_FIELD_MAX);
		break;
	case RE_COLS:
		snprintf(msg, sizeof(msg), "L'enregistrement compte plus de %d "
		    "champs.", CSV_COLS_MAX);
		break;
	case RE_ROW:
		snprintf(msg, sizeof(msg), "L'enregistrement dépasse %d octets.",
		    CSV_ROW_MAX);
		break;
	case RE_NUL:
		snprintf(msg, sizeof(msg), "L'enregistrement contient un octet "
		    "nul.");
		break;
	case RE_UTF8:
		snprintf(msg, sizeof(msg), "L'enregistrement n'est pas en UTF-8 "
		    "alors que le début du fichier l'est : enregistrez tout le "
		    "fichier en UTF-8.");
		break;
	case RE_IO:
	default:
		snprintf(msg, sizeof(msg), "Erreur de lecture du fichier.");
		break;
	}
	fail(err, errlen, msg);
}

int
csv_next(struct csv *c, struct csv_row *row, char *err, size_t errlen)
{
	size_t	i;

	c->rec.len = 0;
	c->field = 0;
	c->nf = 0;
	c->begun = 0;
	c->err = RE_NONE;
	c->start_line = c->line;
	row->fields = c->fields;
	row->nfields = 0;
	if (!read_record(c)) {
		row->line = c->line;
		return 0;
	}
	row->line = c->start_line;
	if (c->err == RE_NONE && !c->cp1252 &&
	    !is_utf8((const unsigned char *)c->rec.data, c->rec.len))
		c->err = RE_UTF8;
	if (c->err != RE_NONE) {
		describe(c, err, errlen);
		return -1;
	}
	for (i = 0; i < c->nf; i++)
		c->fields[i] = c->rec.data + c->offs[i];
	row->nfields = c->nf;
	return 1;
}

void
csv_close(struct csv *c)
{
	if (c == NULL)
		return;
	free(c->in);
	free(c->offs);
	free(c->fields);
	buf_free(&c->rec);
	free(c);
}
