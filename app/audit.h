/*
 * audit.h — the event log of submissions, transitions, decisions and
 * exports: append-only (the database refuses UPDATE, DELETE and TRUNCATE)
 * and hash-chained (each row stores the SHA-256 of the previous row's hash
 * and its own content, computed by the database as it inserts), so that a
 * row altered or removed behind the server's back breaks the chain.
 */
#ifndef GUICHET_AUDIT_H
#define GUICHET_AUDIT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "db.h"

/*
 * The first statement of every transaction that appends events: takes the
 * chain's lock before the transaction's snapshot is taken, so that writers
 * queue for the chain instead of failing to serialize on its head.
 */
int	 audit_begin(PGconn *, struct db_err *);

/*
 * Appends an event in the caller's transaction on conn (begun with
 * audit_begin). Ids of 0 are
 * stored as NULL; payload (may be NULL) is stolen.
 */
int	 audit_append(PGconn *, struct db_err *, const char *kind,
	    int64_t actor_id, int64_t submission_id, json_t *payload);

/*
 * Recomputes the whole chain; writes a report to out. Returns 0 when it is
 * intact, 1 when a link is broken (the first one is named), -1 when the
 * log cannot be read.
 */
int	 audit_verify(PGconn *, FILE *out);

#endif
