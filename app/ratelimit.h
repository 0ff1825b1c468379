/*
 * ratelimit.h — requests per minute per API token (conf.api_rate_limit),
 * as a token bucket in PostgreSQL: a partner's script that loops too fast
 * gets 429 with Retry-After instead of slowing everyone, and the servers
 * of a cluster count its requests together.
 */
#ifndef GUICHET_RATELIMIT_H
#define GUICHET_RATELIMIT_H

#include <stdint.h>

#include "db.h"

/*
 * Takes one request from the bucket of token_id. Returns 0 when it may go
 * on, the whole seconds to wait before the next one would be allowed, or
 * -1 with e filled when the database failed. Without a limit
 * (api_rate_limit 0) it returns 0 and touches nothing.
 */
int	 ratelimit_take(struct db_err *e, int64_t token_id);

#endif
