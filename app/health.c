/*
 * health.c — the health check for load balancers and operators.
 *
 * 200 {"status":"ok","database":"ok","postgis":"3.3.2",...} when a query
 * reaches PostgreSQL and PostGIS answers; 503 with a reason otherwise. On
 * a hot standby it also gives the replication lag: the age of the last
 * transaction replayed, or 0 when everything received is replayed (an idle
 * primary sends nothing, and that is no lag). The
 * query is idempotent, so a connection lost to a PostgreSQL restart is
 * replaced at once and the check reflects the database as it is now.
 */
#include <stdlib.h>
#include <string.h>

#include "commune.h"
#include "conf.h"
#include "db.h"
#include "health.h"
#include "http.h"

#ifndef GUICHET_VERSION
#define GUICHET_VERSION "0.1.0"
#endif

void
health_get(struct req *r)
{
	struct db_err	 e;
	PGresult	*res;
	json_t		*j;
	int		 standby;

	res = db_query(&e, DB_IDEMPOTENT, "SELECT postgis_lib_version(), "
	    "(SELECT max(version) FROM schema_migrations), "
	    "pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = "
	    "pg_last_wal_replay_lsn() THEN 0 ELSE coalesce(extract(epoch FROM "
	    "now() - pg_last_xact_replay_timestamp()), 0) END", 0, NULL);
	if (res == NULL) {
		j = json_pack("{s:s, s:s, s:s, s:s}", "status", "unavailable",
		    "database", e.rc == DB_UNAVAILABLE ? "unreachable" : "error",
		    "reason", e.rc == DB_UNAVAILABLE ?
		    "La base de données est injoignable." :
		    strcmp(e.sqlstate, "42883") == 0 ?
		    "L'extension PostGIS n'est pas installée." :
		    strcmp(e.sqlstate, "42P01") == 0 ?
		    "Le schéma n'est pas créé : lancez « guichet migrate »." :
		    "La base de données a renvoyé une erreur.",
		    "version", GUICHET_VERSION);
		http_reply_json(r, 503, j);
		MHD_add_response_header(r->resp, "Retry-After", "5");
		return;
	}
	standby = PQgetvalue(res, 0, 2)[0] == 't';
	j = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:I, s:b, s:b}",
	    "status", "ok", "database", "ok", "postgis", PQgetvalue(res, 0, 0),
	    "schema", PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
	    "version", GUICHET_VERSION,
	    "containment", commune_count() > 0 ? "on" : "off",
	    "communes", (json_int_t)commune_count(),
	    "read_only", conf.read_only, "standby", standby);
	if (standby)
		json_object_set_new(j, "replay_lag_s",
		    json_real(strtod(PQgetvalue(res, 0, 3), NULL)));
	PQclear(res);
	http_reply_json(r, 200, j);
}
