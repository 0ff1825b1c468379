/*
 * territory.c — INSEE codes and territory containment.
 *
 * Codes: a département is two digits, 2A or 2B (Corsica), or 971 to 976
 * (overseas); a commune is its département followed by three digits (two
 * overseas). A commune is inside a territory when it is listed, or when its
 * département is.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "territory.h"
#include "util.h"

int
terr_dept_ok(const char *c)
{
	size_t	n = strlen(c);

	/* Metropolitan départements are 01 to 95 (20 became 2A and 2B); 96
	 * to 99 name none. */
	if (n == 2)
		return (isdigit((unsigned char)c[0]) && isdigit((unsigned char)c[1]) &&
		    strcmp(c, "20") != 0 && strcmp(c, "00") != 0 &&
		    strcmp(c, "96") < 0) ||
		    strcmp(c, "2A") == 0 || strcmp(c, "2B") == 0;
	return n == 3 && c[0] == '9' && c[1] == '7' && c[2] >= '1' && c[2] <= '6';
}

int
terr_commune_ok(const char *c)
{
	char	d[4];
	size_t	i;

	if (strlen(c) != 5)
		return 0;
	terr_dept_of(c, d);
	if (!terr_dept_ok(d))
		return 0;
	for (i = strlen(d); i < 5; i++)
		if (!isdigit((unsigned char)c[i]))
			return 0;
	return 1;
}

void
terr_dept_of(const char *commune, char out[4])
{
	size_t	n = strncmp(commune, "97", 2) == 0 ? 3 : 2;

	memcpy(out, commune, n);
	out[n] = '\0';
}

int
terr_from_pg(struct territory *t, const char *depts, const char *communes)
{
	memset(t, 0, sizeof(*t));
	if (pgarray_parse(depts, &t->depts, &t->ndepts) ||
	    pgarray_parse(communes, &t->communes, &t->ncommunes)) {
		terr_free(t);
		return -1;
	}
	return 0;
}

void
terr_free(struct territory *t)
{
	pgarray_free(t->depts, t->ndepts);
	pgarray_free(t->communes, t->ncommunes);
	memset(t, 0, sizeof(*t));
}

/* Codes are checked digits and letters: no quoting is needed. */
static char *
pg_array(char *const *v, size_t n)
{
	struct buf	b = { 0 };
	size_t		i;

	buf_puts(&b, "{");
	for (i = 0; i < n; i++)
		buf_appendf(&b, "%s%s", i ? "," : "", v[i]);
	buf_puts(&b, "}");
	return b.data;
}

void
terr_to_pg(const struct territory *t, char **depts, char **communes)
{
	*depts = pg_array(t->depts, t->ndepts);
	*communes = pg_array(t->communes, t->ncommunes);
}

static int
listed(char *const *v, size_t n, const char *code)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], code) == 0)
			return 1;
	return 0;
}

int
terr_contains(const struct territory *t, const char *code)
{
	char	d[4];

	if (t->all)
		return 1;
	if (terr_dept_ok(code))
		return listed(t->depts, t->ndepts, code);
	if (!terr_commune_ok(code))
		return 0;
	terr_dept_of(code, d);
	return listed(t->depts, t->ndepts, d) ||
	    listed(t->communes, t->ncommunes, code);
}

int
terr_within(const struct territory *t, const struct territory *sub)
{
	size_t	i;

	if (t->all)
		return 1;
	if (sub->all)
		return 0;
	for (i = 0; i < sub->ndepts; i++)
		if (!terr_contains(t, sub->depts[i]))
			return 0;
	for (i = 0; i < sub->ncommunes; i++)
		if (!terr_contains(t, sub->communes[i]))
			return 0;
	return 1;
}

int
terr_empty(const struct territory *t)
{
	return !t->all && t->ndepts == 0 && t->ncommunes == 0;
}
