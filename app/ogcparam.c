/*
 * ogcparam.c — bbox and datetime of OGC API Features queries.
 *
 * Both parsers accept a strict subset of what strtod and PostgreSQL would
 * take (no "inf", no hexadecimal, no blanks, no week dates): the text that
 * passes is then handed to PostgreSQL as a parameter, and anything outside
 * the subset is a clear 400 rather than a surprise in SQL.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ogcparam.h"

static int
fail(char *msg, size_t msglen, const char *text)
{
	snprintf(msg, msglen, "%s", text);
	return -1;
}

int
ogcp_bbox_parse(const char *s, int geographic, struct ogcp_bbox *out,
    char *msg, size_t msglen)
{
	double	 v[6];
	char	 num[64], *end;
	size_t	 n = 0, len;

	for (;;) {
		len = strcspn(s, ",");
		if (n == 6 || len == 0 || len >= sizeof(num) ||
		    strspn(s, "0123456789+-.eE") < len)
			return fail(msg, msglen, "« bbox » doit compter 4 (ou 6) "
			    "nombres décimaux séparés par des virgules.");
		memcpy(num, s, len);
		num[len] = '\0';
		v[n] = strtod(num, &end);
		if (*end != '\0' || !isfinite(v[n]))
			return fail(msg, msglen, "« bbox » contient une valeur "
			    "qui n'est pas un nombre décimal.");
		n++;
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	if (n != 4 && n != 6)
		return fail(msg, msglen, "« bbox » doit compter 4 (ou 6) "
		    "nombres décimaux séparés par des virgules.");
	out->minx = v[0];
	out->miny = v[1];
	out->maxx = v[n / 2];
	out->maxy = v[n / 2 + 1];
	if (out->minx > out->maxx || out->miny > out->maxy)
		return fail(msg, msglen, "« bbox » : le coin inférieur gauche "
		    "vient en premier (un cadre traversant l'antiméridien n'est "
		    "pas pris en charge).");
	if (geographic && (out->minx < -180 || out->maxx > 180 ||
	    out->miny < -90 || out->maxy > 90))
		return fail(msg, msglen, "« bbox » : longitudes entre -180 et 180, "
		    "latitudes entre -90 et 90.");
	return 0;
}

/* n decimal digits at s into *v; 0 or -1. */
static int
digits(const char *s, int n, int *v)
{
	int	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * Reads one RFC 3339 full-date or date-time from the whole of s. Returns
 * 1 for a date-time, 2 for a date alone (its parts in *tm), -1 if neither.
 */
static int
read_instant(const char *s, struct tm *tm)
{
	static const int	 mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int			 y, mo, d, h, mi, se, oh, om;
	size_t			 i;

	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || y < 1 || mo < 1 || mo > 12 ||
	    d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	if (s[10] == '\0')
		return 2;
	if ((s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &se) || h > 23 || mi > 59 || se > 59)
		return -1;
	i = 19;
	if (s[i] == '.') {
		i++;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		while (s[i] >= '0' && s[i] <= '9' && i < 30)
			i++;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0')
		return 1;
	/*
	 * RFC 3339 allows offsets up to 23:59, PostgreSQL only up to 15:59
	 * (its error would be a 400 without the parameter's name); no time
	 * zone in use goes beyond 14:00.
	 */
	if ((s[i] != '+' && s[i] != '-') || digits(s + i + 1, 2, &oh) ||
	    s[i + 3] != ':' || digits(s + i + 4, 2, &om) || oh > 15 ||
	    om > 59 || s[i + 6] != '\0')
		return -1;
	return 1;
}

/* One side of an interval ("" or ".." is open); hi: the upper side. */
static int
read_side(const char *s, size_t len, int hi, struct ogcp_interval *out)
{
	struct tm	 tm;
	char		 text[40];
	time_t		 t;
	int		 kind;

	if (len == 0 || (len == 2 && memcmp(s, "..", 2) == 0))
		return 0;
	if (len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if ((kind = read_instant(text, &tm)) < 0)
		return -1;
	if (kind == 1) {
		memcpy(hi ? out->hi : out->lo, text, len + 1);
		return 0;
	}
	if (hi) {
		tm.tm_mday++;		/* timegm normalises the day after */
		t = timegm(&tm);
		gmtime_r(&t, &tm);
	}
	/*
	 * Four digits at least: strftime's %Y writes year 1 as "1", which
	 * PostgreSQL reads as 2001 (and "99" not at all).
	 */
	snprintf(hi ? out->hi_before : out->lo, sizeof(out->lo),
	    "%04d-%02d-%02dT00:00:00Z", tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday);
	return 0;
}

int
ogcp_datetime_parse(const char *s, struct ogcp_interval *out, char *msg,
    size_t msglen)
{
	const char	*slash = strchr(s, '/');
	size_t		 len = strlen(s);

	memset(out, 0, sizeof(*out));
	if (slash == NULL) {
		/* An instant is both bounds. */
		if (len == 0 || len == 2 || read_side(s, len, 0, out) ||
		    read_side(s, len, 1, out))
			goto bad;
		return 0;
	}
	if (strchr(slash + 1, '/') != NULL ||
	    read_side(s, (size_t)(slash - s), 0, out) ||
	    read_side(slash + 1, strlen(slash + 1), 1, out))
		goto bad;
	if (out->lo[0] == '\0' && out->hi[0] == '\0' && out->hi_before[0] == '\0')
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return fail(msg, msglen, "« datetime » doit être une date (AAAA-MM-JJ), "
	    "une date et heure RFC 3339 (2026-03-01T12:00:00Z) ou un intervalle "
	    "« début/fin » dont un côté peut être « .. ».");
}
