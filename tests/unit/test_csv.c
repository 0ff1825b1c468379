/* CSV reader: encodings, separators, quoting, line numbers, limits, pipes. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "csv.h"
#include "util.h"

/* A reader over a copy of the bytes given, through fmemopen. */
struct reader {
	char		*data;
	FILE		*f;
	struct csv	*c;
	struct csv_row	 row;
	char		 err[256];
};

static struct csv *
rd_open(struct reader *r, const void *s, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->data = xmalloc(n + 1);
	memcpy(r->data, s, n);
	r->f = fmemopen(r->data, n, "r");
	assert_non_null(r->f);
	r->c = csv_open(r->f, r->err, sizeof(r->err));
	return r->c;
}

#define rd_opens(r, s)	rd_open((r), (s), strlen(s))

static int
rd_next(struct reader *r)
{
	r->err[0] = '\0';
	return csv_next(r->c, &r->row, r->err, sizeof(r->err));
}

static void
rd_close(struct reader *r)
{
	csv_close(r->c);
	fclose(r->f);
	free(r->data);
}

/* Reads the next record and checks it is exactly the fields listed. */
static void
expect_row(struct reader *r, unsigned long line, size_t n, ...)
{
	va_list	ap;
	size_t	i;

	assert_int_equal(rd_next(r), 1);
	assert_int_equal(r->row.line, line);
	assert_int_equal(r->row.nfields, n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_str(r->row.fields[i], va_arg(ap, const char *));
	va_end(ap);
}

static void
expect_end(struct reader *r)
{
	assert_int_equal(rd_next(r), 0);
	assert_int_equal(rd_next(r), 0);
}

/* --- Encodings --------------------------------------------------------- */

static void
ascii_is_utf8(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n1;2\n"));
	assert_str(csv_encoding(r.c), "UTF-8");
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "1", "2");
	expect_end(&r);
	rd_close(&r);
}

static void
utf8_is_detected_and_kept(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "commune_nom;voie_nom\n"
	    "Béziers;Rue de l’Œuvre\n"));
	assert_str(csv_encoding(r.c), "UTF-8");
	expect_row(&r, 1, 2, "commune_nom", "voie_nom");
	expect_row(&r, 2, 2, "Béziers", "Rue de l’Œuvre");
	expect_end(&r);
	rd_close(&r);
}

static void
bom_is_skipped(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "\xef\xbb\xbfnom;code\nÉcole;31\n"));
	assert_str(csv_encoding(r.c), "UTF-8");
	expect_row(&r, 1, 2, "nom", "code");
	expect_row(&r, 2, 2, "École", "31");
	expect_end(&r);
	rd_close(&r);
}

/* A byte order mark wins over the sample: bad rows are reported. */
static void
bom_keeps_utf8_even_with_bad_bytes(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "\xef\xbb\xbfnom\nB\xe9ziers\nSète\n"));
	assert_str(csv_encoding(r.c), "UTF-8");
	expect_row(&r, 1, 1, "nom");
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, 2);
	assert_non_null(strstr(r.err, "UTF-8"));
	expect_row(&r, 3, 1, "Sète");
	expect_end(&r);
	rd_close(&r);
}

static void
cp1252_is_detected(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "nom;commune\n"
	    "Coll\xe8ge Fran\xe7ois;B\xe9ziers\n"));
	assert_str(csv_encoding(r.c), "windows-1252");
	expect_row(&r, 1, 2, "nom", "commune");
	expect_row(&r, 2, 2, "Collège François", "Béziers");
	expect_end(&r);
	rd_close(&r);
}

/* Every byte of 0x80-0x9F, one per field; five are unassigned. */
static void
cp1252_every_byte_80_9f(void **state)
{
	static const char *const want[32] = {
		"€", "\xef\xbf\xbd", "‚", "ƒ", "„", "…", "†", "‡",
		"ˆ", "‰", "Š", "‹", "Œ", "\xef\xbf\xbd", "Ž", "\xef\xbf\xbd",
		"\xef\xbf\xbd", "‘", "’", "“", "”", "•", "–", "—",
		"˜", "™", "š", "›", "œ", "\xef\xbf\xbd", "ž", "Ÿ"
	};
	struct reader	r;
	char		text[128];
	size_t		n = 0, i;

	(void)state;
	n += (size_t)sprintf(text, "a;b\n");
	for (i = 0; i < 32; i++) {
		text[n++] = (char)(0x80 + i);
		text[n++] = i < 31 ? ';' : '\n';
	}
	assert_non_null(rd_open(&r, text, n));
	assert_str(csv_encoding(r.c), "windows-1252");
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), 1);
	assert_int_equal(r.row.nfields, 32);
	for (i = 0; i < 32; i++)
		assert_str(r.row.fields[i], want[i]);
	expect_end(&r);
	rd_close(&r);
}

static void
cp1252_latin1_letters(void **state)
{
	struct reader r;

	(void)state;
	/* é ç œ € ’ À ô ü ÿ, a no-break space, « » and ° */
	assert_non_null(rd_opens(&r, "x\n"
	    "\xe9\xe7\x9c\x80\x92\xc0\xf4\xfc\xff\xa0\xab\xbb\xb0\n"));
	expect_row(&r, 1, 1, "x");
	expect_row(&r, 2, 1, "éçœ€’Àôüÿ\xc2\xa0«»°");
	expect_end(&r);
	rd_close(&r);
}

/* The sample ends in the middle of a character: still UTF-8. */
static void
sample_cut_inside_a_character(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };

	(void)state;
	buf_puts(&b, "nom\n");
	while (b.len < CSV_SNIFF_MAX - 1)
		buf_append(&b, "a", 1);
	buf_puts(&b, "é\nfin\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	assert_str(csv_encoding(r.c), "UTF-8");
	expect_row(&r, 1, 1, "nom");
	assert_int_equal(rd_next(&r), 1);
	assert_int_equal(strlen(r.row.fields[0]), CSV_SNIFF_MAX - 5 + 2);
	assert_str(r.row.fields[0] + CSV_SNIFF_MAX - 5, "é");
	expect_row(&r, 3, 1, "fin");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

/* The sample is UTF-8; a later row is not: reported, then reading goes on. */
static void
non_utf8_row_after_the_sample(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	unsigned long	line = 1, i;

	(void)state;
	buf_puts(&b, "commune_nom;numero\n");
	while (b.len < 2 * CSV_SNIFF_MAX) {
		buf_puts(&b, "Toulouse;12\n");
		line++;
	}
	buf_puts(&b, "B\xe9ziers;3\nS\xc3\xa8te;4\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	assert_str(csv_encoding(r.c), "UTF-8");
	for (i = 1; i <= line; i++)
		assert_int_equal(rd_next(&r), 1);
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, line + 1);
	assert_int_equal(r.row.nfields, 0);
	assert_non_null(strstr(r.err, "UTF-8"));
	expect_row(&r, line + 2, 2, "Sète", "4");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

static void
utf16_is_refused(void **state)
{
	struct reader r;

	(void)state;
	assert_null(rd_open(&r, "\xff\xfen\0o\0m\0\n\0", 10));
	assert_non_null(strstr(r.err, "UTF-16"));
	rd_close(&r);
}

/* --- Separators -------------------------------------------------------- */

static void
semicolon_separator(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b;c\n1,5;2;3\n"));
	assert_int_equal(csv_separator(r.c), ';');
	expect_row(&r, 1, 3, "a", "b", "c");
	expect_row(&r, 2, 3, "1,5", "2", "3");
	rd_close(&r);
}

static void
comma_separator(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a,b;x,c\n1,2,3\n"));
	assert_int_equal(csv_separator(r.c), ',');
	expect_row(&r, 1, 3, "a", "b;x", "c");
	expect_row(&r, 2, 3, "1", "2", "3");
	rd_close(&r);
}

static void
tab_separator(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a\tb\tc,d\n1\t\t3\n"));
	assert_int_equal(csv_separator(r.c), '\t');
	expect_row(&r, 1, 3, "a", "b", "c,d");
	expect_row(&r, 2, 3, "1", "", "3");
	rd_close(&r);
}

static void
ties_go_to_semicolon_then_comma(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b,c\n"));
	assert_int_equal(csv_separator(r.c), ';');
	rd_close(&r);
	assert_non_null(rd_opens(&r, "a\tb,c\n"));
	assert_int_equal(csv_separator(r.c), ',');
	rd_close(&r);
	assert_non_null(rd_opens(&r, "a\tb;c,d\n"));
	assert_int_equal(csv_separator(r.c), ';');
	rd_close(&r);
}

static void
one_column_gets_semicolon(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "nom\nUn, deux\n"));
	assert_int_equal(csv_separator(r.c), ';');
	expect_row(&r, 1, 1, "nom");
	expect_row(&r, 2, 1, "Un, deux");
	rd_close(&r);
}

static void
separators_inside_quotes_do_not_count(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "\"a;b;c\",\"d;\"\"e\"\";f\",g\n"));
	assert_int_equal(csv_separator(r.c), ',');
	expect_row(&r, 1, 3, "a;b;c", "d;\"e\";f", "g");
	rd_close(&r);
	assert_non_null(rd_opens(&r, "\"a;\"\"b\"\";c;d\",e\n"));
	assert_int_equal(csv_separator(r.c), ',');
	expect_row(&r, 1, 2, "a;\"b\";c;d", "e");
	rd_close(&r);
}

/* A line end between quotes does not end the header being sniffed. */
static void
header_with_quoted_line_break(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "\"nom\ncomplet\";a,b;c\n"));
	assert_int_equal(csv_separator(r.c), ';');
	expect_row(&r, 1, 3, "nom\ncomplet", "a,b", "c");
	rd_close(&r);
}

/* --- Quoting ----------------------------------------------------------- */

static void
quoted_fields(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b;c\n"
	    "\"x;y\";\"il a dit \"\"oui\"\"\";\"\"\n"));
	expect_row(&r, 1, 3, "a", "b", "c");
	expect_row(&r, 2, 3, "x;y", "il a dit \"oui\"", "");
	expect_end(&r);
	rd_close(&r);
}

static void
line_breaks_inside_quotes(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n"
	    "\"1 rue\nBât. A\";\"x\r\ny\"\n\"z\rw\";end\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "1 rue\nBât. A", "x\r\ny");
	expect_row(&r, 5, 2, "z\rw", "end");
	expect_end(&r);
	rd_close(&r);
}

static void
quote_inside_unquoted_field_is_literal(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n"
	    "Salle \"Jean Jaurès\";12\" pouces\n \"x\";y\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "Salle \"Jean Jaurès\"", "12\" pouces");
	expect_row(&r, 3, 2, " \"x\"", "y");
	expect_end(&r);
	rd_close(&r);
}

static void
text_after_closing_quote_is_kept(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n\"ab\"cd;\"x\" \"y\"\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "abcd", "x \"y\"");
	expect_end(&r);
	rd_close(&r);
}

static void
empty_fields_and_trailing_separator(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b;c\n;;\n1;;\n;\"\";3"));
	expect_row(&r, 1, 3, "a", "b", "c");
	expect_row(&r, 2, 3, "", "", "");
	expect_row(&r, 3, 3, "1", "", "");
	expect_row(&r, 4, 3, "", "", "3");
	expect_end(&r);
	rd_close(&r);
}

static void
spaces_are_kept(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, " a ; b\n  ;\" c \"\n"));
	expect_row(&r, 1, 2, " a ", " b");
	expect_row(&r, 2, 2, "  ", " c ");
	expect_end(&r);
	rd_close(&r);
}

static void
unterminated_quote_at_end(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n1;2\n3;\"jamais\nfermé;4\n5;6\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "1", "2");
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, 3);
	assert_non_null(strstr(r.err, "guillemet"));
	expect_end(&r);
	rd_close(&r);
}

static void
nul_byte_in_a_row(void **state)
{
	/* A NUL in the first block is a binary file (refused at open); past
	 * it, a row with one is reported and reading goes on. */
	static const char	tail[] = "x\0y;z\n\"p\0\";q\n1;2\n";
	struct reader		 r;
	struct buf		 b = { 0 };
	unsigned long		 i, n = CSV_SNIFF_MAX / 4 + 10;

	(void)state;
	buf_puts(&b, "a;b\n");
	for (i = 0; i < n; i++)
		buf_puts(&b, "1;2\n");
	buf_append(&b, tail, sizeof(tail) - 1);
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	for (i = 0; i < n; i++)
		assert_int_equal(rd_next(&r), 1);
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, n + 2);
	assert_non_null(strstr(r.err, "nul"));
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, n + 3);
	expect_row(&r, n + 4, 2, "1", "2");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

/* --- Line ends and numbers --------------------------------------------- */

static void
crlf_lf_and_cr_read_the_same(void **state)
{
	static const char *const files[] = {
		"a;b\r\n1;2\r\n3;4\r\n", "a;b\n1;2\n3;4\n", "a;b\r1;2\r3;4\r",
		"a;b\r\n1;2\n3;4\r", "a;b\r\n1;2\r\n3;4"
	};
	struct reader	r;
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		assert_non_null(rd_opens(&r, files[i]));
		expect_row(&r, 1, 2, "a", "b");
		expect_row(&r, 2, 2, "1", "2");
		expect_row(&r, 3, 2, "3", "4");
		expect_end(&r);
		rd_close(&r);
	}
}

static void
line_numbers_count_blank_and_inner_lines(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "\n\r\nh1;h2\n"	/* lines 1-3 */
	    "\n"					/* 4 */
	    "a;\"multi\nligne\"\n"			/* 5-6 */
	    "\r\n\r"					/* 7-8 */
	    "b;\"x\r\ny\rz\"\r\n"			/* 9-11 */
	    "c;d\r"					/* 12 */
	    "e;f"));					/* 13 */
	expect_row(&r, 3, 2, "h1", "h2");
	expect_row(&r, 5, 2, "a", "multi\nligne");
	expect_row(&r, 9, 2, "b", "x\r\ny\rz");
	expect_row(&r, 12, 2, "c", "d");
	expect_row(&r, 13, 2, "e", "f");
	expect_end(&r);
	rd_close(&r);
}

static void
final_line_without_line_end(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n1;\"2\""));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "1", "2");
	expect_end(&r);
	rd_close(&r);
}

static void
trailing_blank_lines_give_no_record(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "a;b\n1;2\n\n\r\n\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_row(&r, 2, 2, "1", "2");
	expect_end(&r);
	rd_close(&r);
}

/*
 * Pads b with a row so that the next byte appended lands at offset at:
 * what follows then straddles the end of the first block.
 */
static void
pad_to(struct buf *b, size_t at)
{
	size_t	k = at - b->len - 3;

	buf_puts(b, "p;");
	while (k-- > 0)
		buf_append(b, "z", 1);
	buf_puts(b, "\n");
	assert_int_equal(b->len, at);
}

static void
crlf_split_across_blocks(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };

	(void)state;
	buf_puts(&b, "a;b\r\n");
	pad_to(&b, CSV_SNIFF_MAX - 4);
	buf_puts(&b, "q;r\r\ns;t\r\n");		/* the CR ends block one */
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), 1);
	expect_row(&r, 3, 2, "q", "r");
	expect_row(&r, 4, 2, "s", "t");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

static void
doubled_quote_split_across_blocks(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };

	(void)state;
	buf_puts(&b, "a;b\n");
	pad_to(&b, CSV_SNIFF_MAX - 3);
	buf_puts(&b, "\"x\"\"y\";\"\"\"\"\n");	/* "" across the blocks */
	pad_to(&b, 2 * CSV_SNIFF_MAX - 3);
	buf_puts(&b, "\"u\";v\n");		/* closing quote ends block two */
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), 1);
	expect_row(&r, 3, 2, "x\"y", "\"");
	assert_int_equal(rd_next(&r), 1);
	expect_row(&r, 5, 2, "u", "v");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

/* --- Limits ------------------------------------------------------------ */

static void
field_limit_then_resume(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	size_t		i;

	(void)state;
	buf_puts(&b, "a;b\n1;");
	for (i = 0; i < CSV_FIELD_MAX; i++)
		buf_append(&b, "x", 1);
	buf_puts(&b, "\n\"2\";\"");
	for (i = 0; i < CSV_FIELD_MAX + 1; i++)
		buf_append(&b, i % 100 == 0 ? "\n" : "y", 1);
	buf_puts(&b, "\";z\n3;4\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), 1);		/* exactly the limit */
	assert_int_equal(strlen(r.row.fields[1]), CSV_FIELD_MAX);
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, 3);
	assert_non_null(strstr(r.err, "champ n° 2"));
	/* after the line ends held by the long field */
	expect_row(&r, 4 + CSV_FIELD_MAX / 100 + 1, 2, "3", "4");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

/* The limit is on the UTF-8 text: 0xE9 counts two bytes. */
static void
field_limit_counts_converted_bytes(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	size_t		i;

	(void)state;
	buf_puts(&b, "a\xe9\n");
	for (i = 0; i < CSV_FIELD_MAX / 2 + 1; i++)
		buf_append(&b, "\xe9", 1);
	buf_puts(&b, "\nfin\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	assert_str(csv_encoding(r.c), "windows-1252");
	expect_row(&r, 1, 1, "aé");
	assert_int_equal(rd_next(&r), -1);
	expect_row(&r, 3, 1, "fin");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

static void
column_limit_then_resume(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	size_t		i;

	(void)state;
	buf_puts(&b, "a,b\n");
	for (i = 0; i < CSV_COLS_MAX - 1; i++)
		buf_puts(&b, "1,");
	buf_puts(&b, "fin\n");
	for (i = 0; i < CSV_COLS_MAX; i++)
		buf_puts(&b, "2,");
	buf_puts(&b, "\"trop\nloin\"\n3,4\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), 1);
	assert_int_equal(r.row.nfields, CSV_COLS_MAX);
	assert_str(r.row.fields[CSV_COLS_MAX - 1], "fin");
	assert_int_equal(rd_next(&r), -1);
	assert_int_equal(r.row.line, 3);
	assert_non_null(strstr(r.err, "512"));
	expect_row(&r, 5, 2, "3", "4");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

static void
row_limit_then_resume(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	size_t		i, j;

	(void)state;
	buf_puts(&b, "a;b\n");
	for (i = 0; i < CSV_ROW_MAX / (CSV_FIELD_MAX / 2) + 1; i++) {
		for (j = 0; j < CSV_FIELD_MAX / 2; j++)
			buf_append(&b, "w", 1);
		buf_puts(&b, ";");
	}
	buf_puts(&b, "\n3;4\n");
	assert_non_null(rd_open(&r, b.data, b.len));
	expect_row(&r, 1, 2, "a", "b");
	assert_int_equal(rd_next(&r), -1);
	assert_non_null(strstr(r.err, "octets"));
	expect_row(&r, 3, 2, "3", "4");
	expect_end(&r);
	rd_close(&r);
	buf_free(&b);
}

/* --- Files that cannot be read ---------------------------------------- */

static void
empty_file_is_refused(void **state)
{
	struct reader r;

	(void)state;
	assert_null(rd_open(&r, "", 0));
	assert_non_null(strstr(r.err, "vide"));
	rd_close(&r);
	assert_null(rd_opens(&r, "\n\r\n\n"));
	assert_non_null(strstr(r.err, "vide"));
	rd_close(&r);
	assert_null(rd_opens(&r, "\xef\xbb\xbf"));
	assert_non_null(strstr(r.err, "vide"));
	rd_close(&r);
}

static void
header_only_file(void **state)
{
	struct reader r;

	(void)state;
	assert_non_null(rd_opens(&r, "uid_adresse;cle_interop;commune_insee"));
	expect_row(&r, 1, 3, "uid_adresse", "cle_interop", "commune_insee");
	expect_end(&r);
	rd_close(&r);
	assert_non_null(rd_opens(&r, "a;b\r\n\r\n"));
	expect_row(&r, 1, 2, "a", "b");
	expect_end(&r);
	rd_close(&r);
}

static void
first_line_too_long_is_not_a_header(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };

	(void)state;
	while (b.len < CSV_SNIFF_MAX + 10)
		buf_puts(&b, "colonne;");
	buf_puts(&b, "\n1\n");
	assert_null(rd_open(&r, b.data, b.len));
	assert_non_null(strstr(r.err, "64 Kio"));
	rd_close(&r);
	buf_free(&b);
}

static void
too_many_header_columns(void **state)
{
	struct reader	r;
	struct buf	b = { 0 };
	size_t		i;

	(void)state;
	for (i = 0; i < CSV_COLS_MAX; i++)
		buf_puts(&b, "c,");
	buf_puts(&b, "d\n");
	assert_null(rd_open(&r, b.data, b.len));
	assert_non_null(strstr(r.err, "512"));
	rd_close(&r);
	buf_free(&b);
}

static void
header_with_unclosed_quote(void **state)
{
	struct reader r;

	(void)state;
	assert_null(rd_opens(&r, "a;\"b\nc;d\n"));
	assert_non_null(strstr(r.err, "guillemet"));
	rd_close(&r);
}

static void
binary_header_is_refused(void **state)
{
	struct reader r;

	(void)state;
	assert_null(rd_open(&r, "PK\3\4\24\0\6\0", 8));
	assert_non_null(strstr(r.err, "nul"));
	rd_close(&r);
}

static void
read_error_at_open(void **state)
{
	char	 err[256] = "";
	FILE	*f = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(f);
	assert_null(csv_open(f, err, sizeof(err)));
	assert_non_null(strstr(err, "lu"));
	fclose(f);
}

/* --- Size ------------------------------------------------------------- */

#define BIG_ROWS	100000

static void *
write_big(void *arg)
{
	FILE	*f = fdopen(*(int *)arg, "w");
	int	 i;

	fputs("uid_adresse;cle_interop;commune_insee;commune_nom;voie_nom;"
	    "numero;suffixe;position;x;y;long;lat;source;date_der_maj\r\n", f);
	for (i = 1; i <= BIG_ROWS; i++)
		fprintf(f, ";31555_%04d_%05d;31555;Toulouse;"
		    "\"Allée de l'Église; bât. %d\";%d;;entrée;"
		    "574000.12;6279000.34;1.4442;43.6047;Commune;2024-01-15\r\n",
		    i % 10000, i, i, i);
	fclose(f);
	return NULL;
}

/* 100,000 rows through a pipe, which cannot be sought or read twice. */
static void
big_file_through_a_pipe(void **state)
{
	struct csv_row	 row;
	struct csv	*c;
	pthread_t	 t;
	char		 err[256], want[64];
	int		 fd[2], rc;
	long		 n = 0;
	FILE		*f;

	(void)state;
	assert_int_equal(pipe(fd), 0);
	assert_int_equal(pthread_create(&t, NULL, write_big, &fd[1]), 0);
	f = fdopen(fd[0], "r");
	assert_non_null(c = csv_open(f, err, sizeof(err)));
	assert_str(csv_encoding(c), "UTF-8");
	assert_int_equal(csv_separator(c), ';');
	snprintf(want, sizeof(want), "Allée de l'Église; bât. %d", BIG_ROWS);
	while ((rc = csv_next(c, &row, err, sizeof(err))) == 1) {
		assert_int_equal(row.nfields, 14);
		assert_int_equal(row.line, n + 1);
		if (++n == BIG_ROWS + 1)
			assert_str(row.fields[4], want);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, BIG_ROWS + 1);
	csv_close(c);
	fclose(f);
	pthread_join(t, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ascii_is_utf8),
		cmocka_unit_test(utf8_is_detected_and_kept),
		cmocka_unit_test(bom_is_skipped),
		cmocka_unit_test(bom_keeps_utf8_even_with_bad_bytes),
		cmocka_unit_test(cp1252_is_detected),
		cmocka_unit_test(cp1252_every_byte_80_9f),
		cmocka_unit_test(cp1252_latin1_letters),
		cmocka_unit_test(sample_cut_inside_a_character),
		cmocka_unit_test(non_utf8_row_after_the_sample),
		cmocka_unit_test(utf16_is_refused),
		cmocka_unit_test(semicolon_separator),
		cmocka_unit_test(comma_separator),
		cmocka_unit_test(tab_separator),
		cmocka_unit_test(ties_go_to_semicolon_then_comma),
		cmocka_unit_test(one_column_gets_semicolon),
		cmocka_unit_test(separators_inside_quotes_do_not_count),
		cmocka_unit_test(header_with_quoted_line_break),
		cmocka_unit_test(quoted_fields),
		cmocka_unit_test(line_breaks_inside_quotes),
		cmocka_unit_test(quote_inside_unquoted_field_is_literal),
		cmocka_unit_test(text_after_closing_quote_is_kept),
		cmocka_unit_test(empty_fields_and_trailing_separator),
		cmocka_unit_test(spaces_are_kept),
		cmocka_unit_test(unterminated_quote_at_end),
		cmocka_unit_test(nul_byte_in_a_row),
		cmocka_unit_test(crlf_lf_and_cr_read_the_same),
		cmocka_unit_test(line_numbers_count_blank_and_inner_lines),
		cmocka_unit_test(final_line_without_line_end),
		cmocka_unit_test(trailing_blank_lines_give_no_record),
		cmocka_unit_test(crlf_split_across_blocks),
		cmocka_unit_test(doubled_quote_split_across_blocks),
		cmocka_unit_test(field_limit_then_resume),
		cmocka_unit_test(field_limit_counts_converted_bytes),
		cmocka_unit_test(column_limit_then_resume),
		cmocka_unit_test(row_limit_then_resume),
		cmocka_unit_test(empty_file_is_refused),
		cmocka_unit_test(header_only_file),
		cmocka_unit_test(first_line_too_long_is_not_a_header),
		cmocka_unit_test(too_many_header_columns),
		cmocka_unit_test(header_with_unclosed_quote),
		cmocka_unit_test(binary_header_is_refused),
		cmocka_unit_test(read_error_at_open),
		cmocka_unit_test(big_file_through_a_pipe),
	};

	return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
