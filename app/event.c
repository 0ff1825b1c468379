/*
 * event.c — account events.
 */
#include <stdio.h>
#include <stdlib.h>

#include "event.h"

int
event_account(PGconn *c, struct db_err *e, const char *kind,
    int64_t actor_id, int64_t user_id, int64_t org_id,
    const char *client_addr, json_t *detail)
{
	static const char sql[] = "INSERT INTO account_events (kind, actor_id, "
	    "user_id, organisation_id, client_addr, detail) "
	    "VALUES ($1, $2, $3, $4, $5::inet, $6::jsonb)";
	char		 a[24], u[24], o[24], *d;
	const char	*v[6];
	PGresult	*res;

	snprintf(a, sizeof(a), "%lld", (long long)actor_id);
	snprintf(u, sizeof(u), "%lld", (long long)user_id);
	snprintf(o, sizeof(o), "%lld", (long long)org_id);
	if (detail == NULL)
		detail = json_object();
	d = json_dumps(detail, JSON_COMPACT);
	json_decref(detail);
	v[0] = kind;
	v[1] = actor_id ? a : NULL;
	v[2] = user_id ? u : NULL;
	v[3] = org_id ? o : NULL;
	v[4] = client_addr && client_addr[0] != '-' ? client_addr : NULL;
	v[5] = d ? d : "{}";
	res = c ? db_exec(c, e, sql, 6, v) : db_query(e, 0, sql, 6, v);
	free(d);
	PQclear(res);
	return res ? 0 : -1;
}
