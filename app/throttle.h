/*
 * throttle.h — login throttling per account and per source address, with
 * delays that double at each further failure (kept in PostgreSQL, so every
 * node of a cluster sees the same counts).
 */
#ifndef GUICHET_THROTTLE_H
#define GUICHET_THROTTLE_H

#include "db.h"

/*
 * Seconds the caller must still wait before trying to log in to account
 * (a lower-case e-mail address) from addr; 0 when it may; -1 with e on a
 * database error.
 */
int	 throttle_wait(struct db_err *e, const char *account, const char *addr);
/* Counts one failure for both keys. */
void	 throttle_failure(const char *account, const char *addr);
/* Forgets the account's failures (not the address's). */
void	 throttle_success(const char *account);

#endif
