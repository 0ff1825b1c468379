/*
 * idem.h — the Idempotency-Key request header on the routes that create
 * (flag R_IDEMPOTENT), after draft-ietf-httpapi-idempotency-key-header and
 * Stripe's API: a client that lost the answer to a creation sends the same
 * request again with the same key, and gets the first answer back, byte
 * for byte with Idempotent-Replayed: true, instead of creating twice.
 *
 * The dispatcher (http.c) calls these around every handler; handlers know
 * nothing of them. A key is scoped by its user and its route; it is kept
 * 24 hours, and only for an answer that succeeded (2xx).
 */
#ifndef GUICHET_IDEM_H
#define GUICHET_IDEM_H

#include <stddef.h>

#define IDEM_HEADER	"Idempotency-Key"
#define IDEM_KEY_MAX	255	/* printable ASCII characters */

struct req;
struct idem;

/*
 * Headers in: an R_IDEMPOTENT route called with a key gets its state
 * (r->idem). A key that is empty, too long, not printable ASCII or sent
 * twice is answered 400 and -1 is returned; else 0.
 */
int		 idem_prepare(struct req *);

/*
 * Body in, before the handler: returns 1 when the request was answered (the
 * stored answer replayed, or 409 while the first request with the key
 * runs, 422 when the key came with another request, or the database's
 * error), 0 to run the handler.
 */
int		 idem_begin(struct req *);

/* The body of a JSON answer as it is sent (http_reply_json): to store. */
void		 idem_keep(struct req *, const char *body, size_t len);

/*
 * After the handler: a success is stored and committed with what the
 * handler wrote, anything else rolled back. When PostgreSQL reports a
 * serialization failure or a deadlock in that transaction, the handler is
 * run again (a few times), as db_tx runs its work again. When storing
 * fails otherwise, the success announced is replaced by the error (5xx:
 * the client tries again).
 */
void		 idem_end(struct req *);

/* Frees the state (NULL is fine). */
void		 idem_free(struct idem *);

#endif
