/*
 * ratelimit.c — one token bucket per API token: it holds up to
 * conf.api_rate_limit requests and refills at that many per minute, so a
 * burst of a minute's worth passes and a steady flow above the rate waits.
 *
 * The buckets live in a fixed table hashed by token id (no allocation on
 * the request path). A slot idle for longer than a full refill is as good
 * as new and may be taken by another token; when every probed slot is busy
 * the request passes (logged): a limiter must not lock partners out
 * because the table is crowded.
 */
#include <pthread.h>

#include "conf.h"
#include "ratelimit.h"
#include "util.h"

#define SLOTS	4096
#define PROBES	8

struct bucket {
	int64_t	token_id;	/* 0: free */
	double	level;		/* requests left */
	int64_t	at;		/* µs of the last update */
};

static struct bucket	buckets[SLOTS];
static pthread_mutex_t	lock = PTHREAD_MUTEX_INITIALIZER;

int
ratelimit_take(int64_t token_id)
{
	struct bucket	*b = NULL, *s;
	double		 cap = (double)conf.api_rate_limit;
	double		 per_us = cap / 60e6;
	int64_t		 now = now_us(), full_us = 60000000;
	size_t		 h, i;
	int		 wait = 0;

	if (conf.api_rate_limit <= 0)
		return 0;
	h = (size_t)((uint64_t)token_id * 0x9e3779b97f4a7c15ULL >> 52) % SLOTS;
	pthread_mutex_lock(&lock);
	for (i = 0; i < PROBES; i++) {
		s = &buckets[(h + i) % SLOTS];
		if (s->token_id == token_id) {
			b = s;
			break;
		}
		if (b == NULL && (s->token_id == 0 || now - s->at > full_us))
			b = s;
	}
	if (b == NULL) {
		pthread_mutex_unlock(&lock);
		log_warn("rate limit: no bucket free for token %lld",
		    (long long)token_id);
		return 0;
	}
	if (b->token_id != token_id) {
		b->token_id = token_id;
		b->level = cap;
		b->at = now;
	}
	b->level += (double)(now - b->at) * per_us;
	if (b->level > cap)
		b->level = cap;
	b->at = now;
	if (b->level >= 1.0)
		b->level -= 1.0;
	else
		wait = (int)((1.0 - b->level) / per_us / 1e6) + 1;
	pthread_mutex_unlock(&lock);
	return wait;
}
