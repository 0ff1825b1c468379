/*
 * authz.h — who may do what, where: the one authorisation decision.
 *
 * Every route names an action (routes.c); the dispatcher asks authz_route()
 * before reading the body, and handlers ask authz_place() or authz_org()
 * once they know which commune or organisation a request touches. Nothing
 * else in the program decides rights.
 */
#ifndef GUICHET_AUTHZ_H
#define GUICHET_AUTHZ_H

#include <stdint.h>

#include "territory.h"

enum role {
	ROLE_NONE = 0,
	ROLE_CONTRIBUTOR,	/* field agent: submits */
	ROLE_REVIEWER,		/* moderates for its authority */
	ROLE_ORG_ADMIN,		/* manages its organisation's members */
	ROLE_ADMIN		/* the platform */
};

enum action {
	ACT_PUBLIC = 0,	/* anyone, signed in or not */
	ACT_SELF,	/* any signed-in identity: who am I */
	ACT_ACCOUNT,	/* one's own password and tokens: browser sessions only */
	ACT_READ,	/* what the account may see */
	ACT_SUBMIT,	/* create and edit submissions */
	ACT_REVIEW,	/* moderate */
	ACT_EXPORT,	/* export validated data */
	ACT_MEMBERS,	/* manage an organisation's members */
	ACT_ADMIN	/* manage the platform (organisations) */
};

/* API token scopes. */
#define SCOPE_READ	0x01
#define SCOPE_SUBMIT	0x02
#define SCOPE_REVIEW	0x04
#define SCOPE_EXPORT	0x08
#define SCOPE_ADMIN	0x10
#define SCOPE_ALL	0x1f

struct identity {
	int64_t		 user_id;
	int64_t		 org_id;
	enum role	 role;
	unsigned	 scopes;	/* SCOPE_ALL for a browser session */
	int		 via_token;	/* authenticated by an API token */
	int64_t		 token_id;
	char		 session_hash[65];
	char		 csrf[64];
	/* Sized for the longest values the schema allows, in UTF-8. */
	char		 email[256];
	char		 name[4 * 120 + 1];
	char		 org_name[4 * 200 + 1];
	char		 org_kind[40];
	struct territory terr;		/* where this identity acts */
};

/* A decision: 0 when allowed, else the HTTP status and a stable code. */
struct authz_decision {
	unsigned	 status;	/* 0, 401 or 403 */
	const char	*code;
	const char	*message;	/* French */
};

struct authz_decision authz_route(const struct identity *, enum action);
/* The action at a place (commune or département code). */
struct authz_decision authz_place(const struct identity *, enum action,
		    const char *code);
/* The action on an organisation (members, settings). */
struct authz_decision authz_org(const struct identity *, enum action,
		    int64_t org_id);

const char	*role_name(enum role);
enum role	 role_parse(const char *);
/* Scopes from names ("read", "submit"...); returns -1 on an unknown name. */
int		 scope_bit(const char *);
const char	*action_name(enum action);
/*
 * The token scope an action needs: its name, "" when any token will do,
 * NULL when API tokens are refused (browser sessions only).
 */
const char	*action_scope(enum action);

#endif
