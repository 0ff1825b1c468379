/*
 * org.c — organisations, members, invitations.
 *
 * The limits of delegation are checked here through authz: an org_admin
 * acts on its own organisation only, cannot hand out a role above its own,
 * and cannot give a member a territory outside the organisation's. Users are
 * never deleted (events and, later, submissions point at them): they are
 * disabled, which ends their sessions and tokens.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "account.h"
#include "auth.h"
#include "conf.h"
#include "event.h"
#include "http.h"
#include "mail.h"
#include "org.h"
#include "util.h"

int
org_siren_ok(const char *s)
{
	int	i, d, sum = 0;

	if (strlen(s) != 9)
		return 0;
	for (i = 0; i < 9; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		d = s[i] - '0';
		if (i % 2 == 1 && (d *= 2) > 9)	/* from the right: even ranks */
			d -= 9;
		sum += d;
	}
	return sum % 10 == 0;
}

/* A JSON array parameter as a PostgreSQL text[] literal built by jansson. */
static char *
json_param(const struct param_val *p)
{
	return p->set && !p->isnull && p->a ? json_dumps(p->a, JSON_COMPACT) : NULL;
}

#define ORG_JSON "json_build_object('id', o.id, 'name', o.name, 'kind', o.kind, " \
	"'siren', o.siren, 'departements', o.departements, 'communes', " \
	"o.communes, 'active', o.active, 'created_at', o.created_at, " \
	"'members', (SELECT count(*) FROM users u WHERE u.organisation_id = o.id))"

#define USER_JSON "json_build_object('id', u.id, 'email', u.email, " \
	"'display_name', u.display_name, 'organisation_id', u.organisation_id, " \
	"'role', u.role, 'departements', u.departements, 'communes', u.communes, " \
	"'is_service', u.is_service, 'active', u.active, 'invited', " \
	"u.password_hash IS NULL AND NOT u.is_service, 'last_login_at', " \
	"u.last_login_at, 'created_at', u.created_at)"

void
org_kinds(struct req *r)
{
	db_reply_json(r, "SELECT json_build_object('kinds', coalesce("
	    "json_agg(json_build_object('code', code, 'label', label) "
	    "ORDER BY label), '[]')) FROM organisation_kinds", 0, NULL, "");
}

void
org_list(struct req *r)
{
	db_reply_json(r, "SELECT json_build_object('organisations', "
	    "coalesce(json_agg(" ORG_JSON " ORDER BY o.name), '[]')) "
	    "FROM organisations o", 0, NULL, "");
}

static int
check_org_id(struct req *r, char *id, size_t idlen)
{
	struct authz_decision	d;
	long long		oid = req_param(r, "id")->i;

	d = authz_org(r->who, ACT_MEMBERS, oid);
	if (d.status != 0) {
		http_reply_error(r, d.status, d.code, d.message, NULL);
		return -1;
	}
	snprintf(id, idlen, "%lld", oid);
	return 0;
}

void
org_get(struct req *r)
{
	char		 id[24];
	const char	*v[1] = { id };

	if (check_org_id(r, id, sizeof(id)))
		return;
	db_reply_json(r, "SELECT " ORG_JSON " FROM organisations o "
	    "WHERE o.id = $1", 1, v, "Cette organisation n'existe pas.");
}

static int
siren_or_400(struct req *r)
{
	const struct param_val *s = req_param(r, "siren");

	if (s->set && !s->isnull && !org_siren_ok(s->s)) {
		http_reply_error(r, 400, "siren_invalid", "Le SIREN doit compter "
		    "9 chiffres et avoir une clé de contrôle valide.", "siren");
		return -1;
	}
	return 0;
}

static void
reply_org_write(struct req *r, struct db_err *e, PGresult *res, unsigned ok)
{
	json_t	*j;

	if (res == NULL) {
		if (e->rc == DB_CONFLICT && strstr(e->constraint, "siren"))
			http_reply_error(r, 409, "siren_taken", "Une organisation "
			    "porte déjà ce SIREN.", "siren");
		else if (e->rc == DB_CONFLICT && strstr(e->constraint, "name"))
			http_reply_error(r, 409, "name_taken", "Une organisation "
			    "porte déjà ce nom.", "name");
		else if (e->rc == DB_CONFLICT && strstr(e->constraint, "kind"))
			http_reply_error(r, 400, "kind_unknown", "Ce type "
			    "d'organisation n'existe pas.", "kind");
		else
			db_reply_error(r, e);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_reply_error(r, 404, "not_found",
		    "Cette organisation n'existe pas.", NULL);
		return;
	}
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	http_reply_json(r, ok, j ? j : json_object());
}

void
org_create(struct req *r)
{
	char		*d = json_param(req_param(r, "departements"));
	char		*c = json_param(req_param(r, "communes"));
	const struct param_val *s = req_param(r, "siren");
	const char	*v[5] = { req_param(r, "name")->s, req_param(r, "kind")->s,
	    s->set && !s->isnull ? s->s : NULL, d ? d : "[]", c ? c : "[]" };
	struct db_err	 e;
	PGresult	*res;

	if (siren_or_400(r) == 0) {
		res = db_query(&e, 0, "WITH o AS (INSERT INTO organisations "
		    "(name, kind, siren, departements, communes) VALUES ($1, $2, "
		    "$3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
		    "ARRAY(SELECT jsonb_array_elements_text($5::jsonb))) "
		    "RETURNING *) SELECT " ORG_JSON " FROM o", 5, v);
		if (res != NULL && PQntuples(res) == 1) {
			json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

			event_account(NULL, &e, "organisation_created",
			    r->who->user_id, 0, json_integer_value(
			    json_object_get(o, "id")), r->addr,
			    json_pack("{s:s}", "name", v[0]));
			json_decref(o);
		}
		reply_org_write(r, &e, res, 201);
	}
	free(d);
	free(c);
}

void
org_update(struct req *r)
{
	char		*d = json_param(req_param(r, "departements"));
	char		*c = json_param(req_param(r, "communes"));
	const struct param_val *s = req_param(r, "siren"), *a = req_param(r, "active");
	char		 id[24], active[8];
	const char	*v[8];
	struct db_err	 e;
	PGresult	*res;

	snprintf(id, sizeof(id), "%lld", req_param(r, "id")->i);
	snprintf(active, sizeof(active), "%s", a->i ? "true" : "false");
	v[0] = id;
	v[1] = req_param(r, "name")->set ? req_param(r, "name")->s : NULL;
	v[2] = req_param(r, "kind")->set ? req_param(r, "kind")->s : NULL;
	v[3] = s->set ? (s->isnull ? "" : s->s) : NULL;
	v[4] = d;
	v[5] = c;
	v[6] = a->set ? active : NULL;
	if (siren_or_400(r) == 0) {
		/* Absent members keep their value; a null SIREN removes it. */
		res = db_query(&e, 0, "WITH o AS (UPDATE organisations SET "
		    "name = coalesce($2, name), kind = coalesce($3, kind), "
		    "siren = CASE WHEN $4::text IS NULL THEN siren "
		    "  ELSE nullif($4, '') END, "
		    "departements = CASE WHEN $5::jsonb IS NULL THEN departements "
		    "  ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END, "
		    "communes = CASE WHEN $6::jsonb IS NULL THEN communes "
		    "  ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END, "
		    "active = coalesce($7::boolean, active) "
		    "WHERE id = $1 RETURNING *) SELECT " ORG_JSON " FROM o", 7, v);
		if (res != NULL && PQntuples(res) == 1) {
			json_t *detail = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

			json_object_del(detail, "members");
			json_object_del(detail, "created_at");
			event_account(NULL, &e, "organisation_updated",
			    r->who->user_id, 0, req_param(r, "id")->i, r->addr,
			    detail);
			/* A disabled organisation's people are out at once. */
			if (a->set && !a->i) {
				PQclear(db_query(&e, 0, "UPDATE sessions SET "
				    "revoked_at = now() WHERE revoked_at IS NULL "
				    "AND user_id IN (SELECT id FROM users WHERE "
				    "organisation_id = $1)", 1, v));
				PQclear(db_query(&e, 0, "UPDATE api_tokens SET "
				    "revoked_at = now() WHERE revoked_at IS NULL "
				    "AND user_id IN (SELECT id FROM users WHERE "
				    "organisation_id = $1)", 1, v));
			}
		}
		reply_org_write(r, &e, res, 200);
	}
	free(d);
	free(c);
}

void
org_members(struct req *r)
{
	char		 id[24];
	const char	*v[1] = { id };

	if (check_org_id(r, id, sizeof(id)))
		return;
	db_reply_json(r, "SELECT json_build_object('members', "
	    "coalesce(json_agg(" USER_JSON " ORDER BY u.display_name), '[]')) "
	    "FROM users u WHERE u.organisation_id = $1 "
	    "HAVING EXISTS (SELECT 1 FROM organisations WHERE id = $1)", 1, v,
	    "Cette organisation n'existe pas.");
}

void
org_events(struct req *r)
{
	char		 id[24];
	const char	*v[1] = { id };

	if (check_org_id(r, id, sizeof(id)))
		return;
	db_reply_json(r, "SELECT json_build_object('events', "
	    "coalesce(json_agg(json_build_object('id', e.id, 'at', e.at, "
	    "'kind', e.kind, 'actor', a.display_name, 'user', u.display_name, "
	    "'client_addr', host(e.client_addr), 'detail', e.detail) "
	    "ORDER BY e.id DESC), '[]')) FROM (SELECT * FROM account_events "
	    "WHERE organisation_id = $1 ORDER BY id DESC LIMIT 200) e "
	    "LEFT JOIN users a ON a.id = e.actor_id "
	    "LEFT JOIN users u ON u.id = e.user_id "
	    "HAVING EXISTS (SELECT 1 FROM organisations WHERE id = $1)", 1, v,
	    "Cette organisation n'existe pas.");
}

/*
 * The territory an organisation covers, to check a member's restriction
 * against. Returns -1 (answered) on failure.
 */
static int
org_territory(struct req *r, int64_t org_id, struct territory *t)
{
	struct db_err	 e;
	PGresult	*res;
	char		 id[24];
	const char	*v[1] = { id };

	snprintf(id, sizeof(id), "%lld", (long long)org_id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT departements, communes "
	    "FROM organisations WHERE id = $1", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_reply_error(r, 404, "not_found",
		    "Cette organisation n'existe pas.", NULL);
		return -1;
	}
	terr_from_pg(t, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

/*
 * The territory a member will have: each of departements and communes is
 * the value sent, or, when absent, the stored one (stored may be NULL for
 * a new member). A JSON null means an empty part.
 */
static void
param_territory(struct req *r, const struct territory *stored,
    struct territory *t)
{
	const struct param_val *p[2] = { req_param(r, "departements"),
	    req_param(r, "communes") };
	json_t	*item;
	size_t	 i, k, n;
	char	***v, *const *from;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < 2; k++) {
		v = k == 0 ? &t->depts : &t->communes;
		if (p[k]->set && !p[k]->isnull) {
			json_array_foreach(p[k]->a, i, item) {
				*v = xreallocarray(*v, i + 1, sizeof(**v));
				(*v)[i] = xstrdup(json_string_value(item));
			}
			n = json_array_size(p[k]->a);
		} else if (!p[k]->set && stored != NULL) {
			from = k == 0 ? stored->depts : stored->communes;
			n = k == 0 ? stored->ndepts : stored->ncommunes;
			for (i = 0; i < n; i++) {
				*v = xreallocarray(*v, i + 1, sizeof(**v));
				(*v)[i] = xstrdup(from[i]);
			}
		} else
			n = 0;
		*(k == 0 ? &t->ndepts : &t->ncommunes) = n;
	}
}

/*
 * A role an actor may give: never above its own, and only a platform admin
 * makes admins. A member's territory restriction (sub, as it will be once
 * written) must lie inside its organisation's territory.
 */
static int
grant_ok_or_4xx(struct req *r, int64_t org_id, const char *role,
    const struct territory *sub)
{
	struct territory	org, part;
	enum role		want = role ? role_parse(role) : ROLE_NONE;
	const char		*field = NULL;

	if (role != NULL && (want > r->who->role ||
	    (want == ROLE_ADMIN && r->who->role != ROLE_ADMIN))) {
		http_reply_error(r, 403, "role_too_high", "Vous ne pouvez pas "
		    "donner un rôle supérieur au vôtre.", "role");
		return -1;
	}
	if (org_territory(r, org_id, &org))
		return -1;
	part = *sub;
	part.ncommunes = 0;
	if (!terr_within(&org, &part))
		field = "departements";
	else if (!terr_within(&org, sub))
		field = "communes";
	terr_free(&org);
	if (field != NULL) {
		http_reply_error(r, 400, "outside_territory", "Le territoire "
		    "d'un membre doit être inclus dans celui de son "
		    "organisation.", field);
		return -1;
	}
	return 0;
}

struct invite {
	struct req	*r;
	int64_t		 org_id;
	int		 service;
	char		*depts, *communes;
	json_t		*user;
};

static int
invite_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct invite	*iv = arg;
	struct req	*r = iv->r;
	char		 oid[24], by[24], token[AUTH_TOKEN_LEN + 1], hash[65];
	char		 hours[16], *body;
	const char	*v[7];
	PGresult	*res;
	int64_t		 uid;
	int		 rc;

	snprintf(oid, sizeof(oid), "%lld", (long long)iv->org_id);
	v[0] = req_param(r, "email")->s;
	v[1] = req_param(r, "display_name")->s;
	v[2] = oid;
	v[3] = req_param(r, "role")->s;
	v[4] = iv->depts;
	v[5] = iv->communes;
	v[6] = iv->service ? "true" : "false";
	res = db_exec(c, e, "WITH u AS (INSERT INTO users (email, display_name, "
	    "organisation_id, role, departements, communes, is_service) "
	    "VALUES ($1, $2, $3, $4, "
	    "CASE WHEN $5::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END, "
	    "CASE WHEN $6::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END, $7) "
	    "RETURNING *) SELECT u.id, " USER_JSON " FROM u", 7, v);
	if (res == NULL)
		return -1;
	uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	json_decref(iv->user);		/* from an attempt that was retried */
	iv->user = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	PQclear(res);
	if (event_account(c, e, iv->service ? "service_account_created" :
	    "user_invited", r->who->user_id, uid, iv->org_id, r->addr,
	    json_pack("{s:s}", "role", req_param(r, "role")->s)))
		return -1;
	if (iv->service)
		return 0;
	auth_token_new(token, sizeof(token), NULL);
	auth_token_hash(token, hash);
	snprintf(hours, sizeof(hours), "%lld", conf.invitation_hours);
	snprintf(oid, sizeof(oid), "%lld", (long long)uid);
	snprintf(by, sizeof(by), "%lld", (long long)r->who->user_id);
	v[0] = hash;
	v[1] = oid;
	v[2] = hours;
	v[3] = by;
	rc = db_run(c, e, "INSERT INTO one_time_tokens (token_hash, kind, "
	    "user_id, created_by, expires_at) VALUES ($1, 'invitation', $2, $4, "
	    "now() + make_interval(hours => $3::int))", 4, v);
	body = xasprintf("Bonjour,\n\n%s vous invite à rejoindre %s sur "
	    "Guichet, le portail de saisie collaborative d'OPenIG.\n\n"
	    "Pour choisir votre mot de passe, ouvrez ce lien dans les %lld "
	    "heures :\n%s/invitation.html#jeton=%s\n", r->who->name,
	    r->who->role == ROLE_ADMIN ? "une organisation membre" :
	    r->who->org_name, conf.invitation_hours, conf.public_url, token);
	if (rc == 0)
		rc = mail_queue(c, e, req_param(r, "email")->s,
		    "Invitation à rejoindre Guichet", body);
	sodium_memzero(body, strlen(body));
	free(body);
	sodium_memzero(token, sizeof(token));
	return rc;
}

static void
invite(struct req *r, int service)
{
	struct invite	 iv = { r, req_param(r, "id")->i, service, NULL, NULL, NULL };
	struct territory sub;
	struct db_err	 e;
	char		 id[24];
	int		 bad;

	if (check_org_id(r, id, sizeof(id)))
		return;
	param_territory(r, NULL, &sub);
	bad = grant_ok_or_4xx(r, iv.org_id, req_param(r, "role")->s, &sub);
	terr_free(&sub);
	if (bad)
		return;
	iv.depts = json_param(req_param(r, "departements"));
	iv.communes = json_param(req_param(r, "communes"));
	if (db_tx(&e, invite_tx, &iv) != 0) {
		if (e.rc == DB_CONFLICT && strcmp(e.constraint, "users_email_key") == 0)
			http_reply_error(r, 409, "email_taken", "Un compte existe "
			    "déjà pour cette adresse.", "email");
		else if (e.rc == DB_CONFLICT)
			http_reply_error(r, 404, "not_found",
			    "Cette organisation n'existe pas.", NULL);
		else
			db_reply_error(r, &e);
	} else {
		http_reply_json(r, 201, iv.user ? iv.user : json_object());
		iv.user = NULL;
	}
	json_decref(iv.user);
	free(iv.depts);
	free(iv.communes);
}

void
org_invite(struct req *r)
{
	invite(r, 0);
}

void
org_service_account(struct req *r)
{
	invite(r, 1);
}

/* --- a member -------------------------------------------------------------- */

struct target {
	int64_t		 id;
	int64_t		 org_id;
	enum role	 role;
	int		 is_service;
	struct territory terr;		/* its stored restriction */
};

/* Loads the member a request names and checks the actor may manage it. */
static int
target_or_4xx(struct req *r, struct target *t)
{
	struct authz_decision	 d;
	struct db_err		 e;
	PGresult		*res;
	char			 id[24];
	const char		*v[1] = { id };

	t->id = req_param(r, "id")->i;
	snprintf(id, sizeof(id), "%lld", (long long)t->id);
	memset(&t->terr, 0, sizeof(t->terr));
	if (r->who->via_token && t->id == r->who->user_id) {
		http_reply_error(r, 403, "token_not_allowed", "Un jeton d'API ne "
		    "peut pas modifier le compte auquel il appartient.", NULL);
		return -1;
	}
	res = db_query(&e, DB_IDEMPOTENT, "SELECT organisation_id, role, "
	    "is_service, departements, communes FROM users WHERE id = $1", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_reply_error(r, 404, "not_found", "Ce compte n'existe pas.",
		    NULL);
		return -1;
	}
	t->org_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	t->role = role_parse(PQgetvalue(res, 0, 1));
	t->is_service = PQgetvalue(res, 0, 2)[0] == 't';
	terr_from_pg(&t->terr, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	PQclear(res);
	d = authz_org(r->who, ACT_MEMBERS, t->org_id);
	if (d.status == 0 && t->role > r->who->role)
		d = (struct authz_decision){ 403, "role_too_high", "Ce compte a "
		    "un rôle supérieur au vôtre." };
	if (d.status != 0) {
		http_reply_error(r, d.status, d.code, d.message, NULL);
		terr_free(&t->terr);
		return -1;
	}
	return 0;
}

struct uupdate {
	struct req	*r;
	struct target	*t;
	char		*depts, *communes;
	json_t		*user;
};

static int
user_update_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct uupdate	*u = arg;
	struct req	*r = u->r;
	const struct param_val *dn = req_param(r, "display_name"),
	    *ro = req_param(r, "role"), *de = req_param(r, "departements"),
	    *co = req_param(r, "communes"), *ac = req_param(r, "active");
	char		 id[24];
	const char	*v[8];
	PGresult	*res;

	snprintf(id, sizeof(id), "%lld", (long long)u->t->id);
	v[0] = id;
	v[1] = dn->set ? dn->s : NULL;
	v[2] = ro->set ? ro->s : NULL;
	v[3] = de->set ? "t" : NULL;
	v[4] = u->depts;
	v[5] = co->set ? "t" : NULL;
	v[6] = u->communes;
	v[7] = ac->set ? (ac->i ? "true" : "false") : NULL;
	/* Each territory part: absent keeps, null clears, a list sets. */
	res = db_exec(c, e, "WITH u AS (UPDATE users SET "
	    "display_name = coalesce($2, display_name), "
	    "role = coalesce($3, role), "
	    "departements = CASE WHEN $4::text IS NULL THEN departements "
	    "  WHEN $5::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END, "
	    "communes = CASE WHEN $6::text IS NULL THEN communes "
	    "  WHEN $7::jsonb IS NULL THEN NULL "
	    "  ELSE ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) END, "
	    "active = coalesce($8::boolean, active) "
	    "WHERE id = $1 RETURNING *) SELECT " USER_JSON " FROM u", 8, v);
	if (res == NULL)
		return -1;
	json_decref(u->user);		/* from an attempt that was retried */
	u->user = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	if (ac->set && !ac->i &&
	    /* A disabled account loses its sessions and tokens at once. */
	    (db_run(c, e, "UPDATE sessions SET revoked_at = now() WHERE "
	    "user_id = $1 AND revoked_at IS NULL", 1, v) ||
	    db_run(c, e, "UPDATE api_tokens SET revoked_at = now() WHERE "
	    "user_id = $1 AND revoked_at IS NULL", 1, v)))
		return -1;
	/* One event per aspect changed, so that none hides another. */
	if (ro->set && event_account(c, e, "role_changed", r->who->user_id,
	    u->t->id, u->t->org_id, r->addr, json_pack("{s:s}", "role", ro->s)))
		return -1;
	if ((de->set || co->set) && event_account(c, e, "territory_changed",
	    r->who->user_id, u->t->id, u->t->org_id, r->addr,
	    json_pack("{s:O?, s:O?}", "departements", json_object_get(u->user,
	    "departements"), "communes", json_object_get(u->user, "communes"))))
		return -1;
	if (ac->set && event_account(c, e, ac->i ? "user_enabled" :
	    "user_disabled", r->who->user_id, u->t->id, u->t->org_id, r->addr,
	    NULL))
		return -1;
	if (dn->set && event_account(c, e, "user_updated", r->who->user_id,
	    u->t->id, u->t->org_id, r->addr, json_pack("{s:s}", "display_name",
	    dn->s)))
		return -1;
	return 0;
}

void
org_user_update(struct req *r)
{
	struct target	 t;
	struct uupdate	 u = { r, &t, NULL, NULL, NULL };
	struct territory sub;
	struct db_err	 e;
	const struct param_val *ro = req_param(r, "role"), *ac = req_param(r, "active");
	int		 terr_given = req_param(r, "departements")->set ||
			    req_param(r, "communes")->set, bad;

	if (target_or_4xx(r, &t))
		return;
	/* Nobody but a platform admin changes its own role, state or reach. */
	if (t.id == r->who->user_id && r->who->role != ROLE_ADMIN &&
	    ((ro->set && role_parse(ro->s) != r->who->role) ||
	    (ac->set && !ac->i) || terr_given)) {
		http_reply_error(r, 409, "self_lockout", "Vous ne pouvez pas "
		    "changer votre propre rôle, votre territoire ni désactiver "
		    "votre compte.", ro->set ? "role" : ac->set ? "active" :
		    "departements");
		terr_free(&t.terr);
		return;
	}
	param_territory(r, &t.terr, &sub);
	bad = grant_ok_or_4xx(r, t.org_id, ro->set ? ro->s : NULL, &sub);
	terr_free(&sub);
	terr_free(&t.terr);
	if (bad)
		return;
	u.depts = json_param(req_param(r, "departements"));
	u.communes = json_param(req_param(r, "communes"));
	if (db_tx(&e, user_update_tx, &u) != 0)
		db_reply_error(r, &e);
	else {
		http_reply_json(r, 200, u.user ? u.user : json_object());
		u.user = NULL;
	}
	json_decref(u.user);
	free(u.depts);
	free(u.communes);
}

void
org_user_token(struct req *r)
{
	struct target	 t;
	struct token_request req;
	struct db_err	 e;
	char		 token[64];
	int64_t		 id;
	json_t		*scopes = req_param(r, "scopes")->a;

	if (target_or_4xx(r, &t))
		return;
	terr_free(&t.terr);
	if (!t.is_service) {
		http_reply_error(r, 409, "not_service_account", "Seul un compte "
		    "de service reçoit des jetons d'un administrateur : une "
		    "personne crée les siens.", "id");
		return;
	}
	if (!account_scopes_allowed(scopes, t.role)) {
		http_reply_error(r, 400, "scope_not_allowed", "Le rôle de ce "
		    "compte ne permet pas ces portées.", "scopes");
		return;
	}
	req = (struct token_request){ t.id, t.org_id, r->who->user_id, r->addr,
	    req_param(r, "name")->s, scopes, req_param(r, "expires_days")->i };
	if (account_token_issue(&req, token, sizeof(token), &id, &e) != 0) {
		db_reply_error(r, &e);
		return;
	}
	http_reply_json(r, 201, json_pack("{s:I, s:s, s:O}", "id",
	    (json_int_t)id, "token", token, "scopes", scopes));
	sodium_memzero(token, sizeof(token));
}
