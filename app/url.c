/*
 * url.c — request target parsing.
 *
 * libmicrohttpd hands the access handler a path it has already unescaped, in
 * which "%2F" and "/" look the same and "%00" cuts the string short. We parse
 * the raw target (captured by the URI log callback) instead, segment by
 * segment, so that traversal tricks are refused before anything looks at the
 * file system or the route table.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"
#include "util.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
url_decode(const char *in, size_t n, int plus, size_t *outlen)
{
	char	*out = xmalloc(n + 1), *o = out;
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (in[i] == '%') {
			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (in[i] == '\0') {
			free(out);
			return NULL;
		} else if (plus && in[i] == '+')
			*o++ = ' ';
		else
			*o++ = in[i];
	}
	*o = '\0';
	if (outlen != NULL)
		*outlen = o - out;
	return out;
}

static int
segment_ok(const char *s, size_t n)
{
	size_t	i;

	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

enum url_rc
url_parse(const char *target, struct url *u)
{
	const char	*p, *q, *end, *amp, *eq;
	size_t		 len;
	char		*seg;

	memset(u, 0, sizeof(*u));
	/* The absolute form ("GET http://host/path"), which RFC 9112 says a
	 * server must accept: the authority is not ours to check, the path is. */
	if (strncasecmp(target, "http://", 7) == 0 ||
	    strncasecmp(target, "https://", 8) == 0) {
		target = strchr(target, ':') + 3;
		target += strcspn(target, "/?");
		if (*target != '/')
			return *target == '\0' ? url_parse("/", u) : URL_BAD_PATH;
	}
	if (target[0] != '/')
		return URL_BAD_PATH;
	q = strchr(target, '?');
	end = q ? q : target + strlen(target);
	/* The root "/" has no segment; "/a/" has "a" and an empty one. */
	for (p = target + 1; p <= end && end - target > 1; p++) {
		const char *slash = memchr(p, '/', end - p);
		const char *segend = slash ? slash : end;

		if (u->nsegs == URL_MAX_SEGS)
			return URL_TOO_MANY;
		if ((seg = url_decode(p, segend - p, 0, &len)) == NULL)
			return URL_BAD_ESCAPE;
		u->segs[u->nsegs++] = seg;
		if (!segment_ok(seg, len))
			return URL_BAD_PATH;
		p = segend;
	}
	if (q == NULL)
		return URL_OK;
	for (p = q + 1; *p != '\0'; p = *amp ? amp + 1 : amp) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (amp == p)
			continue;
		if (u->nquery == URL_MAX_PAIRS)
			return URL_TOO_MANY;
		eq = memchr(p, '=', amp - p);
		if (eq == NULL)
			eq = amp;
		u->query[u->nquery].name = url_decode(p, eq - p, 1, NULL);
		u->query[u->nquery].value = eq < amp ?
		    url_decode(eq + 1, amp - eq - 1, 1, NULL) : xstrdup("");
		u->nquery++;
		if (u->query[u->nquery - 1].name == NULL ||
		    u->query[u->nquery - 1].value == NULL)
			return URL_BAD_ESCAPE;
	}
	return URL_OK;
}

void
url_free(struct url *u)
{
	size_t	i;

	for (i = 0; i < u->nsegs; i++)
		free(u->segs[i]);
	for (i = 0; i < u->nquery; i++) {
		free(u->query[i].name);
		free(u->query[i].value);
	}
	memset(u, 0, sizeof(*u));
}
