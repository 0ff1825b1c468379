/*
 * account.h — one's own account: log in and out (the session), who am I,
 * password change, API tokens, password reset, invitation acceptance.
 */
#ifndef GUICHET_ACCOUNT_H
#define GUICHET_ACCOUNT_H

#include <jansson.h>
#include <libpq-fe.h>

#include "authz.h"
#include "db.h"

struct req;

void	 account_login(struct req *);
void	 account_logout(struct req *);
void	 account_whoami(struct req *);
void	 account_password(struct req *);
void	 account_tokens_list(struct req *);
void	 account_tokens_create(struct req *);
void	 account_tokens_revoke(struct req *);
void	 account_reset_request(struct req *);
void	 account_reset_confirm(struct req *);
void	 account_invitation_inspect(struct req *);
void	 account_invitation_accept(struct req *);

/* The public description of an identity (never a secret but the CSRF token). */
json_t	*account_identity_json(const struct identity *);
/*
 * Creates an API token for user_id (scopes: a JSON array of names) inside
 * the caller's transaction; the token itself goes to out (shown once).
 */
struct token_request {
	int64_t		 user_id;	/* the token's owner */
	int64_t		 org_id;	/* the owner's organisation */
	int64_t		 created_by;
	const char	*client_addr;
	const char	*name;
	json_t		*scopes;
	long long	 expires_days;	/* 0: never */
};
/* Creates the token in its own transaction (with its event); 0 or -1 and e. */
int	 account_token_issue(const struct token_request *, char *out,
	    size_t outlen, int64_t *id, struct db_err *e);
/* The scopes a role may hold (bit set of SCOPE_*). */
unsigned account_role_scopes(enum role);
/* 1 when scopes (a non-empty JSON array of names) are all within role's. */
int	 account_scopes_allowed(json_t *scopes, enum role role);

#endif
