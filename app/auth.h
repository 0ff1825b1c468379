/*
 * auth.h — authentication: who sends a request (browser session cookie or
 * API Bearer token), sessions and their CSRF tokens, and the random tokens
 * and hashes behind every credential. Only SHA-256 hashes of tokens are
 * stored; a token itself is shown once.
 */
#ifndef GUICHET_AUTH_H
#define GUICHET_AUTH_H

#include <libpq-fe.h>
#include <stdint.h>

#include "authz.h"
#include "db.h"

#define AUTH_COOKIE	"guichet_session"
#define AUTH_TOKEN_LEN	43		/* 256 bits, base64url without padding */

struct req;

/* A new random token (base64url, AUTH_TOKEN_LEN chars) with an optional prefix. */
void	 auth_token_new(char *out, size_t outlen, const char *prefix);
/* Hex SHA-256 of a token. */
void	 auth_token_hash(const char *token, char out[65]);

/*
 * Works out r->who from the Authorization header or the session cookie.
 * Returns 0 (r->who may stay NULL: anonymous), or an HTTP status (401 for a
 * bad Bearer token, 503 when the database cannot be asked) after answering.
 */
int	 auth_identify(struct req *r);
/* On a state-changing request made with a session: the CSRF header matches. */
int	 auth_csrf_ok(const struct req *r);

/*
 * Opens a session for user_id inside the caller's transaction; fills the
 * cookie token and the CSRF token (both AUTH_TOKEN_LEN + 1 bytes).
 */
int	 auth_session_open(PGconn *, struct db_err *, int64_t user_id,
	    const char *client_addr, char *token, char *csrf);
/* Sets or clears the session cookie on the request's answer. */
void	 auth_cookie_set(struct req *r, const char *token);
void	 auth_cookie_clear(struct req *r);

/* A user's identity as a browser session sees it (no CSRF token); NULL if unknown. */
struct identity *auth_identity_load(int64_t user_id);
void	 identity_free(struct identity *);

#endif
