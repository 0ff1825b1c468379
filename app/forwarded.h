/*
 * forwarded.h — the client's address behind trusted reverse proxies
 * (conf.trusted_proxies), read from X-Forwarded-For as nginx and most
 * proxies write it: hops separated by commas, each proxy appending the
 * address it received the request from.
 */
#ifndef GUICHET_FORWARDED_H
#define GUICHET_FORWARDED_H

#include <stddef.h>

/* Is the canonical address addr one of the space-separated list trusted? */
int	 fwd_trusted(const char *trusted, const char *addr);

/*
 * The client's address in out (at least 46 bytes, INET6_ADDRSTRLEN): peer
 * (canonical, as the socket gives it) unless peer is a trusted proxy; then
 * the right-most hop of xff (may be NULL) that is not itself trusted, in
 * canonical form. An empty or unreadable hop stops the walk on the last
 * address believed.
 */
void	 fwd_client(const char *trusted, const char *peer, const char *xff,
	    char *out, size_t outlen);

#endif
