/*
 * libFuzzer target: X-Forwarded-For as a client may write it (app/
 * forwarded.c), behind a peer that is a trusted proxy. The answer must
 * be the peer or an address in canonical form, and the header must never
 * be read when the peer is not a trusted proxy.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forwarded.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define PROXIES	"127.0.0.1 ::1 10.0.0.2"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*xff = malloc(size + 1), out[64], again[64];
	unsigned char	 bin[16];
	int		 af;

	memcpy(xff, data, size);
	xff[size] = '\0';
	fwd_client(PROXIES, "127.0.0.1", xff, out, sizeof(out));
	if (strcmp(out, "127.0.0.1") != 0) {
		af = strchr(out, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(af, out, bin) != 1)
			abort();
		inet_ntop(af, bin, again, sizeof(again));
		if (strcmp(again, out) != 0)
			abort();	/* not canonical */
	}
	/* Without a trusted peer, the header is never read. */
	fwd_client(PROXIES, "192.0.2.1", xff, out, sizeof(out));
	if (strcmp(out, "192.0.2.1") != 0)
		abort();
	free(xff);
	return 0;
}
