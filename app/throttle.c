/*
 * throttle.c — growing delays after failed logins.
 *
 * Each key (an account, a source address) counts its failures within the
 * hour. From the ACCOUNT_FREE-th failure on an account, further attempts
 * wait 1 s, then 2, 4, 8... up to 15 minutes; an address gets more slack
 * (several people behind one NAT) before the same doubling starts. A
 * success clears the account's count but not the address's: otherwise one
 * valid account would let an attacker reset the address counter at will.
 */
#include <stdio.h>
#include <stdlib.h>

#include "throttle.h"
#include "util.h"

#define ACCOUNT_FREE	5
#define ADDRESS_FREE	20

int
throttle_wait(struct db_err *e, const char *account, const char *addr)
{
	char		 ka[300], kb[64];
	const char	*v[2] = { ka, kb };
	PGresult	*res;
	int		 wait;

	snprintf(ka, sizeof(ka), "account:%s", account);
	snprintf(kb, sizeof(kb), "address:%s", addr);
	res = db_query(e, DB_IDEMPOTENT, "SELECT coalesce(ceil(extract(epoch "
	    "FROM max(blocked_until) - now())), 0)::int FROM login_throttle "
	    "WHERE key IN ($1, $2) AND blocked_until > now()", 2, v);
	if (res == NULL)
		return -1;
	wait = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return wait;
}

static void
count(const char *key, int free_failures)
{
	static const char sql[] =
	    "INSERT INTO login_throttle AS t (key, failures) VALUES ($1, 1) "
	    "ON CONFLICT (key) DO UPDATE SET "
	    "failures = CASE WHEN t.last_failure_at < now() - interval '1 hour' "
	    "  THEN 1 ELSE t.failures + 1 END, "
	    "last_failure_at = now(), "
	    "blocked_until = CASE "
	    "  WHEN t.last_failure_at >= now() - interval '1 hour' "
	    "   AND t.failures + 1 >= $2::int "
	    "  THEN now() + make_interval(secs => "
	    "   least(900, power(2, t.failures + 1 - $2::int))) END";
	struct db_err	 e;
	char		 n[16];
	const char	*v[2] = { key, n };

	snprintf(n, sizeof(n), "%d", free_failures);
	PQclear(db_query(&e, 0, sql, 2, v));
	if (e.rc != DB_OK)
		log_warn("login throttle: cannot count a failure (%s)",
		    e.sqlstate);
}

void
throttle_failure(const char *account, const char *addr)
{
	char	k[300];

	snprintf(k, sizeof(k), "account:%s", account);
	count(k, ACCOUNT_FREE);
	snprintf(k, sizeof(k), "address:%s", addr);
	count(k, ADDRESS_FREE);
}

void
throttle_success(const char *account)
{
	struct db_err	 e;
	char		 k[300];
	const char	*v[1] = { k };

	snprintf(k, sizeof(k), "account:%s", account);
	PQclear(db_query(&e, 0, "DELETE FROM login_throttle WHERE key = $1",
	    1, v));
}
