/*
 * event.h — the account event log: logins and their failures, logouts,
 * password changes, role or territory changes, tokens created or revoked,
 * each with its actor, time and source address.
 */
#ifndef GUICHET_EVENT_H
#define GUICHET_EVENT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "db.h"

/*
 * Records kind on conn (in the caller's transaction, or alone when conn is
 * NULL: on the thread's connection). Ids of 0 are stored as NULL; detail
 * (may be NULL) is stolen.
 */
int	 event_account(PGconn *, struct db_err *, const char *kind,
	    int64_t actor_id, int64_t user_id, int64_t org_id,
	    const char *client_addr, json_t *detail);

#endif
