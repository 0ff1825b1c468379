/*
 * ratelimit.h — requests per minute per API token (conf.api_rate_limit),
 * as a token bucket in this process's memory: a partner's script that
 * loops too fast gets 429 with Retry-After instead of slowing everyone.
 * Each node of a cluster counts its own requests.
 */
#ifndef GUICHET_RATELIMIT_H
#define GUICHET_RATELIMIT_H

#include <stdint.h>

/*
 * Takes one request from the bucket of token_id. Returns 0 when it may go
 * on, else the whole seconds to wait before the next one would be allowed.
 */
int	 ratelimit_take(int64_t token_id);

#endif
