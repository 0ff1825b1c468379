/*
 * throttle.c — growing delays after password attempts.
 *
 * Each key (an account, a source address) counts its attempts within the
 * hour; a right password takes its attempt back. From the FREE-th attempt
 * on, the key is blocked for 1 s, then 2, 4, 8... up to 15 minutes, and
 * attempts made while blocked are refused without being counted or checked.
 * An address gets more slack than an account (several people behind one
 * NAT). A success clears the account's count but only takes back its own
 * attempt from the address: otherwise one valid account would let an
 * attacker reset the address counter at will.
 */
#include <stdio.h>
#include <stdlib.h>

#include "throttle.h"
#include "util.h"

#define ACCOUNT_FREE	5
#define ADDRESS_FREE	20

/* The key of an account is its address in lower case, as PostgreSQL lowers it. */
#define ACCOUNT_KEY	"'account:' || lower($1)"
#define ADDRESS_KEY	"'address:' || $1"

/*
 * Counts an attempt on one key unless it is blocked; returns the seconds
 * left when blocked, 0 when counted, -1 on error.
 */
static int
enter(struct db_err *e, const char *keyexpr, const char *val, int free_attempts)
{
	char		 sql[1024], n[16];
	const char	*v[2] = { val, n };
	PGresult	*res;
	int		 wait;

	snprintf(n, sizeof(n), "%d", free_attempts);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO login_throttle AS t (key, failures) VALUES (%s, 1) "
	    "ON CONFLICT (key) DO UPDATE SET "
	    "failures = CASE WHEN t.last_failure_at < now() - interval '1 hour' "
	    "  THEN 1 ELSE t.failures + 1 END, "
	    "last_failure_at = now(), "
	    "blocked_until = CASE "
	    "  WHEN t.last_failure_at >= now() - interval '1 hour' "
	    "   AND t.failures + 1 >= $2::int "
	    "  THEN now() + make_interval(secs => "
	    "   least(900, power(2, t.failures + 1 - $2::int))) END "
	    "WHERE t.blocked_until IS NULL OR t.blocked_until <= now() "
	    "RETURNING 1", keyexpr);
	if ((res = db_query(e, 0, sql, 2, v)) == NULL)
		return -1;
	wait = PQntuples(res) == 0;
	PQclear(res);
	if (!wait)
		return 0;
	snprintf(sql, sizeof(sql), "SELECT greatest(1, ceil(extract(epoch FROM "
	    "blocked_until - now())))::int FROM login_throttle WHERE key = %s",
	    keyexpr);
	if ((res = db_query(e, 0, sql, 1, v)) == NULL)
		return -1;
	wait = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 1;
	PQclear(res);
	return wait;
}

int
throttle_enter(struct db_err *e, const char *account, const char *addr)
{
	int	wait;

	if ((wait = enter(e, ADDRESS_KEY, addr, ADDRESS_FREE)) != 0)
		return wait;
	return enter(e, ACCOUNT_KEY, account, ACCOUNT_FREE);
}

void
throttle_success(const char *account, const char *addr)
{
	struct db_err	 e;
	const char	*v[1] = { account };

	PQclear(db_query(&e, 0, "DELETE FROM login_throttle WHERE key = "
	    ACCOUNT_KEY, 1, v));
	v[0] = addr;
	PQclear(db_query(&e, 0, "UPDATE login_throttle SET failures = "
	    "greatest(failures - 1, 0) WHERE key = " ADDRESS_KEY, 1, v));
}
