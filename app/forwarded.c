/*
 * forwarded.c — who the client is, behind reverse proxies.
 *
 * Only a proxy we trust may tell us who its client is, and a client may
 * write anything in X-Forwarded-For before its request reaches the first
 * proxy. So the header is read from the right: each trusted proxy's own
 * hop is passed over, and the first hop that is not a trusted proxy is the
 * client. Whatever lies to its left was written by the client and is never
 * believed. Hops are compared in canonical form (inet_pton then
 * inet_ntop), so "::ffff:127.0.0.1" or a zero-padded address cannot pose
 * as a listed proxy.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "forwarded.h"

int
fwd_trusted(const char *trusted, const char *addr)
{
	const char	*p = trusted;
	size_t		 n = strlen(addr);

	if (n == 0)
		return 0;
	while ((p = strstr(p, addr)) != NULL) {
		if ((p == trusted || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

/* Is c blank inside a header value (space or tab)? */
static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

void
fwd_client(const char *trusted, const char *peer, const char *xff,
    char *out, size_t outlen)
{
	const char	*end, *start, *s;
	unsigned char	 bin[16];
	char		 hop[64];
	size_t		 n;
	int		 af;

	snprintf(out, outlen, "%s", peer);
	if (trusted[0] == '\0' || !fwd_trusted(trusted, out) || xff == NULL)
		return;
	for (end = xff + strlen(xff); end > xff; end = start - 1) {
		/* [start, end) is one hop, between commas. */
		for (start = end; start > xff && start[-1] != ','; start--)
			;
		for (s = start; s < end && blank(*s); s++)
			;
		for (n = end - s; n > 0 && blank(s[n - 1]); n--)
			;
		if (n == 0 || n >= sizeof(hop))
			return;
		memcpy(hop, s, n);
		hop[n] = '\0';
		af = strchr(hop, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(af, hop, bin) != 1)
			return;		/* garbage: keep the last address believed */
		inet_ntop(af, bin, out, outlen);
		if (!fwd_trusted(trusted, out) || start == xff)
			return;
	}
}
