/*
 * url.h — decoding of the request target: the path into validated segments,
 * the query string into name/value pairs. Works on the raw target as the
 * client sent it, so that an encoded slash or NUL can be told from a real one.
 */
#ifndef GUICHET_URL_H
#define GUICHET_URL_H

#include <stddef.h>

enum url_rc {
	URL_OK = 0,
	URL_BAD_ESCAPE,		/* a % not followed by two hex digits */
	URL_BAD_PATH,		/* not starting with /, or a forbidden segment */
	URL_TOO_MANY		/* too many segments or query pairs */
};

#define URL_MAX_SEGS	32
#define URL_MAX_PAIRS	64

struct url_kv {
	char	*name;
	char	*value;
};

struct url {
	char		*segs[URL_MAX_SEGS];	/* decoded path segments */
	size_t		 nsegs;
	struct url_kv	 query[URL_MAX_PAIRS];
	size_t		 nquery;
};

/*
 * Percent-decodes in[0..n) into a new NUL-terminated string; `plus` turns '+'
 * into a space (query strings). Returns NULL on a malformed escape or an
 * encoded NUL byte.
 */
char		*url_decode(const char *in, size_t n, int plus, size_t *outlen);

/*
 * Splits a raw request target ("/a/b%20c?x=1") into u. A segment that decodes
 * to ".", "..", or to something holding '/' or NUL or a control character is
 * refused (URL_BAD_PATH), whatever its encoding: the router and the static
 * file server only ever see plain names.
 */
enum url_rc	 url_parse(const char *target, struct url *u);
void		 url_free(struct url *u);

#endif
