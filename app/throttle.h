/*
 * throttle.h — login throttling per account and per source address, with
 * delays that double at each further attempt (kept in PostgreSQL, so every
 * node of a cluster sees the same counts).
 */
#ifndef GUICHET_THROTTLE_H
#define GUICHET_THROTTLE_H

#include "db.h"

/*
 * Counts one password attempt for the account (an e-mail address) from
 * addr, unless one of them is blocked. Returns the seconds to wait (> 0:
 * refused, nothing checked), 0 to go on with the check, -1 with e on a
 * database error. Counting before checking means that attempts sent in
 * parallel cannot slip between a check and its count.
 */
int	 throttle_enter(struct db_err *e, const char *account, const char *addr);
/* The password was right: forget the account's count and this attempt. */
void	 throttle_success(const char *account, const char *addr);

#endif
