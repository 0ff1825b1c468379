/*
 * mail.h — outgoing mail through the outbox table: a message is queued in
 * the same transaction as what it announces, so it is sent if and only if
 * that commits. In development (mail_log) it is also written to the log.
 */
#ifndef GUICHET_MAIL_H
#define GUICHET_MAIL_H

#include <libpq-fe.h>

#include "db.h"

int	 mail_queue(PGconn *, struct db_err *, const char *to,
	    const char *subject, const char *body);

#endif
