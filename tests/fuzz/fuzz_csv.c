/*
 * libFuzzer target: the CSV reader (app/csv.c), through fmemopen as an
 * import reads a file. Each input is read twice: as a whole file, then
 * placed after a header and filler rows so that it straddles the end of the
 * first block (the sniffed sample), where records are split across reads
 * and the encoding is decided on part of it. An input ending in 0xFF is
 * also read with what follows its first line repeated up to 160 KiB, so
 * that fields and records reach the limits and reading resumes after
 * them. Every record returned must keep the documented limits and be
 * valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Reads every record; those starting after line trusted are checked. */
static void
read_all(const char *data, size_t size, unsigned long trusted)
{
	struct csv_row	 row;
	struct csv	*c;
	unsigned long	 last = 0;
	size_t		 i, len, total, calls = 0;
	char		 err[256], *copy = malloc(size + 1);
	FILE		*f;
	int		 rc;

	memcpy(copy, data, size);
	f = fmemopen(copy, size, "r");
	if (f == NULL)
		abort();
	err[0] = '\0';
	if ((c = csv_open(f, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
		goto done;
	}
	while ((rc = csv_next(c, &row, err, sizeof(err))) != 0) {
		/* Each call consumes at least one byte: no endless loop. */
		if (++calls > size + 1 || row.line < last)
			abort();
		last = row.line;
		if (rc == -1) {
			if (err[0] == '\0' || row.nfields != 0)
				abort();
			continue;
		}
		if (row.nfields == 0 || row.nfields > CSV_COLS_MAX)
			abort();
		if (row.line <= trusted)
			continue;
		for (i = total = 0; i < row.nfields; i++) {
			len = strlen(row.fields[i]);
			total += len + 1;
			if (len > CSV_FIELD_MAX || !utf8_valid(row.fields[i], len))
				abort();
		}
		if (total > CSV_ROW_MAX)
			abort();
	}
	csv_close(c);
done:
	fclose(f);
	free(copy);
}

/*
 * The filler: a two-column header, then one long field (a single record
 * costs the instrumented reader least), a line end before offset at.
 * Built once; the separator is patched in per input.
 */
static char	filler[CSV_SNIFF_MAX];

#define REPEATED	(CSV_FIELD_MAX * 5 / 2)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 seps[] = ";,\t";
	const uint8_t		*nl;
	size_t			 at, i, n, head;
	char			*b;

	read_all((const char *)data, size, 0);

	if (filler[0] == '\0') {
		memcpy(filler, "a;b\n", 4);
		for (i = 4; i < sizeof(filler); i++)
			filler[i] = 'z';
	}
	at = CSV_SNIFF_MAX - 1 - (size > 0 ? data[0] : 0);
	b = malloc(at + size);
	memcpy(b, filler, at);
	b[1] = seps[size % 3];
	b[at - 1] = '\n';
	memcpy(b + at, data, size);
	read_all(b, at + size, 2);
	free(b);

	if (size < 2 || data[size - 1] != 0xff)
		return 0;
	nl = memchr(data, '\n', size - 1);
	head = nl != NULL ? (size_t)(nl - data) + 1 : 0;
	if (head == size - 1)
		return 0;
	b = malloc(REPEATED);
	memcpy(b, data, n = size - 1);
	for (; n < REPEATED / 2; n += n - head)
		memcpy(b + n, b + head, n - head);
	read_all(b, n, 0);
	free(b);
	return 0;
}
