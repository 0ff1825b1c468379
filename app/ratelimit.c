/*
 * ratelimit.c — one token bucket per API token: it holds up to
 * conf.api_rate_limit requests and refills at that many per minute, so a
 * burst of a minute's worth passes and a steady flow above the rate waits.
 *
 * The buckets are rows of api_rate_buckets (migration 0011), so that every
 * server on the database counts a token's requests in the same bucket: with
 * a bucket in each process, two servers behind one proxy would grant twice
 * the rate. One statement per request reads, refills, takes and writes the
 * bucket under the row's lock, so concurrent requests of one token, on one
 * server or several, are counted one after the other. The time is
 * PostgreSQL's clock, the same for every server.
 */
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "ratelimit.h"

/*
 * The bucket's level refilled up to now: $2 (the rate) per minute since it
 * was last computed, at most $2. "excluded.at" is the time of this request,
 * read once. Requests of one token racing on two connections may take the
 * row's lock in the other order than their clocks were read: the elapsed
 * time is then negative, and counts as none.
 */
#define REFILLED \
	"least($2::float8, b.level + $2::float8 / 60 * " \
	"greatest(0, extract(epoch FROM excluded.at - b.at)::float8))"

/*
 * A new bucket starts full, less this request; an existing one is refilled
 * and gives one request if it holds one. The wait is the time the refill
 * takes to bring it to one request, in whole seconds rounded up (at least
 * 1). A refusal takes nothing: the script that keeps knocking waits no
 * longer than one that sleeps.
 */
static const char TAKE[] =
    "INSERT INTO api_rate_buckets AS b (token_id, level, at, granted) "
    "VALUES ($1::bigint, $2::float8 - 1, clock_timestamp(), true) "
    "ON CONFLICT (token_id) DO UPDATE SET "
    "level = " REFILLED " - CASE WHEN " REFILLED " >= 1 THEN 1 ELSE 0 END, "
    "at = greatest(b.at, excluded.at), "
    "granted = " REFILLED " >= 1 "
    "RETURNING granted, CASE WHEN granted THEN 0 "
    "ELSE floor((1 - level) * 60 / $2::float8)::int + 1 END";

int
ratelimit_take(struct db_err *e, int64_t token_id)
{
	char		 id[24], rate[24];
	const char	*v[2] = { id, rate };
	PGresult	*res;
	int		 wait;

	if (conf.api_rate_limit <= 0)
		return 0;
	snprintf(id, sizeof(id), "%lld", (long long)token_id);
	snprintf(rate, sizeof(rate), "%lld", conf.api_rate_limit);
	/*
	 * Prepared: it runs on every token request. Idempotent enough: run
	 * again only when the connection was lost, it may at worst count the
	 * request twice.
	 */
	if ((res = db_query(e, DB_IDEMPOTENT | DB_PREPARED, TAKE, 2, v)) == NULL)
		return -1;
	wait = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 'f' ?
	    atoi(PQgetvalue(res, 0, 1)) : 0;
	PQclear(res);
	return wait;
}
