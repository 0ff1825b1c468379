/*
 * authz.c — the authorisation matrix.
 *
 * Rights are role × action × territory. The role gives the actions (the
 * table below, read as "at least this role"); an API token narrows them to
 * its scopes and can never manage the account it belongs to; the territory
 * (the user's restriction, else its organisation's) bounds where the action
 * applies. Platform administrators act everywhere.
 */
#include <stddef.h>
#include <string.h>

#include "authz.h"

static const struct {
	enum action	 action;
	enum role	 min_role;	/* ROLE_NONE: no identity needed */
	unsigned	 scope;		/* needed by API tokens; 0: tokens refused */
	const char	*name;
} matrix[] = {
	{ ACT_PUBLIC,	ROLE_NONE,		SCOPE_ALL,	"public" },
	{ ACT_SELF,	ROLE_CONTRIBUTOR,	SCOPE_ALL,	"self" },
	{ ACT_ACCOUNT,	ROLE_CONTRIBUTOR,	0,		"account" },
	{ ACT_READ,	ROLE_CONTRIBUTOR,	SCOPE_READ,	"read" },
	{ ACT_SUBMIT,	ROLE_CONTRIBUTOR,	SCOPE_SUBMIT,	"submit" },
	{ ACT_REVIEW,	ROLE_REVIEWER,		SCOPE_REVIEW,	"review" },
	{ ACT_EXPORT,	ROLE_ADMIN,		SCOPE_EXPORT,	"export" },
	{ ACT_MEMBERS,	ROLE_ORG_ADMIN,		SCOPE_ADMIN,	"members" },
	{ ACT_ADMIN,	ROLE_ADMIN,		SCOPE_ADMIN,	"admin" },
};

static const struct authz_decision allowed = { 0, NULL, NULL };

static struct authz_decision
deny(unsigned status, const char *code, const char *message)
{
	struct authz_decision d = { status, code, message };

	return d;
}

struct authz_decision
authz_route(const struct identity *who, enum action a)
{
	size_t	i;

	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		if (matrix[i].action == a)
			break;
	if (i == sizeof(matrix) / sizeof(matrix[0]))
		return deny(403, "forbidden", "Action inconnue.");
	if (matrix[i].min_role == ROLE_NONE)
		return allowed;
	if (who == NULL)
		return deny(401, "authentication_required",
		    "Connectez-vous pour accéder à cette ressource.");
	if (who->via_token && matrix[i].scope == 0)
		return deny(403, "token_not_allowed", "Un jeton d'API ne peut "
		    "pas gérer le compte : connectez-vous.");
	if (who->via_token && (who->scopes & matrix[i].scope) == 0)
		return deny(403, "scope_missing", "Ce jeton d'API n'a pas la "
		    "portée nécessaire.");
	if (who->role < matrix[i].min_role)
		return deny(403, "forbidden", "Votre rôle ne permet pas "
		    "cette action.");
	return allowed;
}

struct authz_decision
authz_place(const struct identity *who, enum action a, const char *code)
{
	struct authz_decision d = authz_route(who, a);

	if (d.status != 0 || who == NULL || who->role == ROLE_ADMIN)
		return d;
	if (!terr_contains(&who->terr, code))
		return deny(403, "outside_territory", "Ce lieu est hors du "
		    "territoire de votre compte.");
	return allowed;
}

struct authz_decision
authz_org(const struct identity *who, enum action a, int64_t org_id)
{
	struct authz_decision d = authz_route(who, a);

	if (d.status != 0 || who == NULL || who->role == ROLE_ADMIN)
		return d;
	if (who->org_id != org_id)
		return deny(403, "other_organisation", "Cette organisation "
		    "n'est pas la vôtre.");
	return allowed;
}

const char *
role_name(enum role r)
{
	switch (r) {
	case ROLE_CONTRIBUTOR:	return "contributor";
	case ROLE_REVIEWER:	return "reviewer";
	case ROLE_ORG_ADMIN:	return "org_admin";
	case ROLE_ADMIN:	return "admin";
	case ROLE_NONE:		break;
	}
	return "none";
}

enum role
role_parse(const char *s)
{
	if (strcmp(s, "contributor") == 0)
		return ROLE_CONTRIBUTOR;
	if (strcmp(s, "reviewer") == 0)
		return ROLE_REVIEWER;
	if (strcmp(s, "org_admin") == 0)
		return ROLE_ORG_ADMIN;
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	return ROLE_NONE;
}

static const char *const scope_names[] = { "read", "submit", "review",
    "export", "admin" };

int
scope_bit(const char *s)
{
	size_t	i;

	for (i = 0; i < 5; i++)
		if (strcmp(s, scope_names[i]) == 0)
			return 1 << i;
	return -1;
}

const char *
action_scope(enum action a)
{
	size_t	i, k;

	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		if (matrix[i].action != a)
			continue;
		if (matrix[i].scope == 0)
			return NULL;
		for (k = 0; k < 5; k++)
			if (matrix[i].scope == 1u << k)
				return scope_names[k];
		return "";
	}
	return NULL;
}

const char *
action_name(enum action a)
{
	size_t	i;

	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++)
		if (matrix[i].action == a)
			return matrix[i].name;
	return "unknown";
}
