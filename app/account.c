/*
 * account.c — a member's own account.
 *
 * Logging in checks the throttle first, then the password (Argon2id, ~50 ms
 * whether or not the account exists), and on success opens a session in one
 * transaction with the rehash (when the configured limits changed), the last
 * login time and the account event. Every answer to a failed login is the
 * same, so that it tells nothing about which addresses have accounts.
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
#include "password.h"
#include "throttle.h"
#include "util.h"

static json_t *
str_array(char *const *v, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *
account_identity_json(const struct identity *who)
{
	static const char *const names[] = { "read", "submit", "review",
	    "export", "admin" };
	json_t	*j, *scopes = json_array();
	size_t	 i;

	for (i = 0; i < 5; i++)
		if (who->scopes & (1u << i))
			json_array_append_new(scopes, json_string(names[i]));
	j = json_pack("{s:{s:I, s:s, s:s, s:s, s:{s:I, s:s, s:s}, s:{s:b, "
	    "s:o, s:o}}, s:s, s:o}",
	    "user", "id", (json_int_t)who->user_id, "email", who->email,
	    "display_name", who->name, "role", role_name(who->role),
	    "organisation", "id", (json_int_t)who->org_id, "name", who->org_name,
	    "kind", who->org_kind,
	    "territory", "all", who->terr.all,
	    "departements", str_array(who->terr.depts, who->terr.ndepts),
	    "communes", str_array(who->terr.communes, who->terr.ncommunes),
	    "via", who->via_token ? "token" : "session",
	    "scopes", scopes);
	if (!who->via_token)
		json_object_set_new(j, "csrf_token", json_string(who->csrf));
	return j;
}

/* --- login, logout, whoami -------------------------------------------------- */

struct login {
	int64_t		 user_id;
	int64_t		 org_id;
	const char	*addr;
	char		*newhash;	/* when a rehash is due */
	char		 token[AUTH_TOKEN_LEN + 1];
	char		 csrf[AUTH_TOKEN_LEN + 1];
};

static int
login_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct login	*l = arg;
	char		 uid[24];
	const char	*v[2] = { uid, l->newhash };

	snprintf(uid, sizeof(uid), "%lld", (long long)l->user_id);
	if (l->newhash != NULL && db_run(c, e, "UPDATE users SET "
	    "password_hash = $2 WHERE id = $1", 2, v))
		return -1;
	if (db_run(c, e, "UPDATE users SET last_login_at = now() WHERE id = $1",
	    1, v))
		return -1;
	if (auth_session_open(c, e, l->user_id, l->addr, l->token, l->csrf))
		return -1;
	return event_account(c, e, "login", l->user_id, l->user_id, l->org_id,
	    l->addr, l->newhash ? json_pack("{s:b}", "rehashed", 1) : NULL);
}

/* Answers 200 with the new session's identity and sets its cookie. */
static void
reply_session(struct req *r, struct login *l)
{
	struct identity	*who = auth_identity_load(l->user_id);

	if (who != NULL)
		snprintf(who->csrf, sizeof(who->csrf), "%s", l->csrf);
	if (who == NULL) {
		http_reply_error(r, 500, "internal_error",
		    "Erreur interne du serveur.", NULL);
		return;
	}
	http_reply_json(r, 200, account_identity_json(who));
	auth_cookie_set(r, l->token);
	identity_free(who);
}

/* Answers 429 with the wait, when throttle_enter said so; returns 1 then. */
static int
throttled(struct req *r, int wait, const struct db_err *e)
{
	char	retry[16];

	if (wait < 0) {
		db_reply_error(r, e);
		return 1;
	}
	if (wait == 0)
		return 0;
	snprintf(retry, sizeof(retry), "%d", wait);
	http_reply_error(r, 429, "too_many_attempts", "Trop de tentatives : "
	    "réessayez plus tard.", NULL);
	MHD_add_response_header(r->resp, "Retry-After", retry);
	return 1;
}

void
account_login(struct req *r)
{
	const char	*email = req_param(r, "email")->s;
	const char	*pw = req_param(r, "password")->s;
	const char	*v[1] = { email };
	struct login	 l = { 0 };
	struct db_err	 e;
	PGresult	*res;
	char		 hashbuf[crypto_pwhash_STRBYTES];
	int		 ok, rehash, known;

	if (throttled(r, throttle_enter(&e, email, r->addr), &e))
		return;
	res = db_query(&e, DB_IDEMPOTENT, "SELECT u.id, u.password_hash, "
	    "u.organisation_id FROM users u "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE lower(u.email) = lower($1) AND u.active AND o.active "
	    "AND NOT u.is_service", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return;
	}
	known = PQntuples(res) == 1;
	ok = pw_verify(known && !PQgetisnull(res, 0, 1) ?
	    PQgetvalue(res, 0, 1) : NULL, pw, &rehash);
	if (known) {
		l.user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		l.org_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	if (!ok) {
		event_account(NULL, &e, "login_failed", 0, l.user_id, l.org_id,
		    r->addr, l.user_id ? NULL : json_pack("{s:s}", "email",
		    email));
		http_reply_error(r, 401, "invalid_credentials", "Adresse "
		    "électronique ou mot de passe incorrect.", NULL);
		return;
	}
	if (rehash && pw_hash(pw, hashbuf) == 0)
		l.newhash = hashbuf;
	l.addr = r->addr;
	if (db_tx(&e, login_tx, &l) != 0) {
		db_reply_error(r, &e);
		goto out;
	}
	throttle_success(email, r->addr);
	reply_session(r, &l);
out:
	sodium_memzero(&l, sizeof(l));
	sodium_memzero(hashbuf, sizeof(hashbuf));
}

void
account_logout(struct req *r)
{
	struct db_err	 e;
	const char	*v[1] = { r->who->session_hash };

	PQclear(db_query(&e, 0, "UPDATE sessions SET revoked_at = now() "
	    "WHERE token_hash = $1 AND revoked_at IS NULL", 1, v));
	if (e.rc != DB_OK) {
		db_reply_error(r, &e);
		return;
	}
	event_account(NULL, &e, "logout", r->who->user_id, r->who->user_id,
	    r->who->org_id, r->addr, NULL);
	http_reply_empty(r, 204);
	auth_cookie_clear(r);
}

void
account_whoami(struct req *r)
{
	if (r->who == NULL) {
		http_reply_error(r, 401, "authentication_required",
		    "Connectez-vous pour accéder à cette ressource.", NULL);
		return;
	}
	http_reply_json(r, 200, account_identity_json(r->who));
}

/* --- password ------------------------------------------------------------------ */

struct pwchange {
	const struct identity	*who;
	const char		*addr;
	const char		*hash;
};

static int
password_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct pwchange	*p = arg;
	char		 uid[24];
	const char	*v[2] = { uid, p->hash };
	const char	*s[2] = { uid, p->who->session_hash };

	snprintf(uid, sizeof(uid), "%lld", (long long)p->who->user_id);
	if (db_run(c, e, "UPDATE users SET password_hash = $2 WHERE id = $1",
	    2, v))
		return -1;
	/* Every other session of the account ends: they may be the thief's;
	 * and reset links sent before no longer work. */
	if (db_run(c, e, "UPDATE sessions SET revoked_at = now() WHERE "
	    "user_id = $1 AND token_hash <> $2 AND revoked_at IS NULL", 2, s) ||
	    db_run(c, e, "UPDATE one_time_tokens SET used_at = now() WHERE "
	    "user_id = $1 AND used_at IS NULL", 1, v))
		return -1;
	return event_account(c, e, "password_changed", p->who->user_id,
	    p->who->user_id, p->who->org_id, p->addr, NULL);
}

void
account_password(struct req *r)
{
	const char	*cur = req_param(r, "current_password")->s;
	const char	*new = req_param(r, "new_password")->s;
	char		 uid[24], hash[crypto_pwhash_STRBYTES];
	const char	*v[1] = { uid }, *why;
	struct pwchange	 p = { r->who, r->addr, hash };
	struct db_err	 e;
	PGresult	*res;
	int		 ok, rehash;

	if (throttled(r, throttle_enter(&e, r->who->email, r->addr), &e))
		return;
	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT password_hash FROM users "
	    "WHERE id = $1", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return;
	}
	ok = pw_verify(PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
	    PQgetvalue(res, 0, 0) : NULL, cur, &rehash);
	PQclear(res);
	if (!ok) {
		event_account(NULL, &e, "password_change_failed", r->who->user_id,
		    r->who->user_id, r->who->org_id, r->addr, NULL);
		http_reply_error(r, 400, "wrong_password", "Le mot de passe "
		    "actuel est incorrect.", "current_password");
		return;
	}
	throttle_success(r->who->email, r->addr);
	if ((why = pw_policy(new, r->who->email)) != NULL) {
		http_reply_error(r, 400, "weak_password", why, "new_password");
		return;
	}
	if (pw_hash(new, hash) != 0 || db_tx(&e, password_tx, &p) != 0) {
		db_reply_error(r, &e);
		goto out;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "message",
	    "Mot de passe modifié ; vos autres sessions sont fermées."));
out:
	sodium_memzero(hash, sizeof(hash));
}

/* --- API tokens ---------------------------------------------------------------- */

unsigned
account_role_scopes(enum role role)
{
	switch (role) {
	case ROLE_ADMIN:	return SCOPE_ALL;
	case ROLE_ORG_ADMIN:	return SCOPE_READ | SCOPE_SUBMIT | SCOPE_REVIEW |
				    SCOPE_ADMIN;
	case ROLE_REVIEWER:	return SCOPE_READ | SCOPE_SUBMIT | SCOPE_REVIEW;
	case ROLE_CONTRIBUTOR:	return SCOPE_READ | SCOPE_SUBMIT;
	case ROLE_NONE:		break;
	}
	return 0;
}

static int
token_insert(PGconn *c, struct db_err *e, const struct token_request *t,
    char *out, size_t outlen, int64_t *id)
{
	char		 hash[65], prefix[9], uid[24], by[24], days[24], *sc;
	const char	*v[7] = { uid, t->name, hash, prefix, NULL, by, NULL };
	PGresult	*res;

	auth_token_new(out, outlen, "gch_");
	auth_token_hash(out, hash);
	snprintf(prefix, sizeof(prefix), "%.8s", out);
	snprintf(uid, sizeof(uid), "%lld", (long long)t->user_id);
	snprintf(by, sizeof(by), "%lld", (long long)t->created_by);
	snprintf(days, sizeof(days), "%lld", t->expires_days);
	sc = json_dumps(t->scopes, JSON_COMPACT);
	v[4] = sc;
	v[6] = t->expires_days > 0 ? days : NULL;
	res = db_exec(c, e, "INSERT INTO api_tokens (user_id, name, token_hash, "
	    "prefix, scopes, created_by, expires_at) VALUES ($1, $2, $3, $4, "
	    "ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, "
	    "now() + make_interval(days => $7::int)) RETURNING id", 7, v);
	free(sc);
	if (res == NULL)
		return -1;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return event_account(c, e, "token_created", t->created_by, t->user_id,
	    t->org_id, t->client_addr, json_pack("{s:I, s:s, s:O}", "token_id",
	    (json_int_t)*id, "name", t->name, "scopes", t->scopes));
}

int
account_scopes_allowed(json_t *scopes, enum role role)
{
	unsigned	allowed = account_role_scopes(role);
	json_t		*s;
	size_t		 i;

	json_array_foreach(scopes, i, s)
		if (((unsigned)scope_bit(json_string_value(s)) & allowed) == 0)
			return 0;
	return json_array_size(scopes) > 0;
}

struct tokcreate {
	const struct token_request *req;
	char			*out;
	size_t			 outlen;
	int64_t			*id;
};

static int
token_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct tokcreate *t = arg;

	return token_insert(c, e, t->req, t->out, t->outlen, t->id);
}

int
account_token_issue(const struct token_request *req, char *out,
    size_t outlen, int64_t *id, struct db_err *e)
{
	struct tokcreate t = { req, out, outlen, id };

	return db_tx(e, token_tx, &t);
}

void
account_tokens_create(struct req *r)
{
	struct token_request req = { r->who->user_id, r->who->org_id,
	    r->who->user_id, r->addr, req_param(r, "name")->s,
	    req_param(r, "scopes")->a, req_param(r, "expires_days")->i };
	struct db_err	 e;
	char		 token[64];
	int64_t		 id;

	if (!account_scopes_allowed(req.scopes, r->who->role)) {
		http_reply_error(r, 400, "scope_not_allowed", "Votre rôle ne "
		    "permet pas de donner ces portées à un jeton.", "scopes");
		return;
	}
	if (account_token_issue(&req, token, sizeof(token), &id, &e) != 0) {
		db_reply_error(r, &e);
		return;
	}
	http_reply_json(r, 201, json_pack("{s:I, s:s, s:s, s:O, s:s}",
	    "id", (json_int_t)id, "name", req.name, "token", token,
	    "scopes", req.scopes, "message", "Copiez ce jeton maintenant : il ne "
	    "sera plus affiché."));
	sodium_memzero(token, sizeof(token));
}

void
account_tokens_list(struct req *r)
{
	char		 uid[24];
	const char	*v[1] = { uid };

	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	db_reply_json(r, "SELECT json_build_object('tokens', coalesce(json_agg("
	    "json_build_object('id', id, 'name', name, 'prefix', prefix, "
	    "'scopes', scopes, 'created_at', created_at, 'last_used_at', "
	    "last_used_at, 'expires_at', expires_at) ORDER BY id), '[]')) "
	    "FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL "
	    "AND (expires_at IS NULL OR expires_at > now())", 1, v, "");
}

void
account_tokens_revoke(struct req *r)
{
	struct db_err	 e;
	PGresult	*res;
	char		 uid[24], tid[24];
	const char	*v[2] = { tid, uid };
	int		 n;

	snprintf(uid, sizeof(uid), "%lld", (long long)r->who->user_id);
	snprintf(tid, sizeof(tid), "%lld", req_param(r, "id")->i);
	res = db_query(&e, 0, "UPDATE api_tokens SET revoked_at = now() "
	    "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL", 2, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return;
	}
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	if (n == 0) {
		http_reply_error(r, 404, "not_found", "Ce jeton n'existe pas "
		    "ou est déjà révoqué.", "id");
		return;
	}
	event_account(NULL, &e, "token_revoked", r->who->user_id,
	    r->who->user_id, r->who->org_id, r->addr, json_pack("{s:I}",
	    "token_id", (json_int_t)req_param(r, "id")->i));
	http_reply_empty(r, 204);
}

/* --- password reset and invitations ---------------------------------------------- */

struct reset_req {
	const char	*email;
	const char	*addr;
};

static int
reset_request_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct reset_req *q = arg;
	char		 token[AUTH_TOKEN_LEN + 1], hash[65], mins[16], *body;
	const char	*v[3] = { q->email, hash, mins };
	PGresult	*res;
	int64_t		 uid, oid;
	int		 rc;

	res = db_exec(c, e, "SELECT u.id, u.organisation_id, u.email FROM users u "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE lower(u.email) = lower($1) AND u.active AND o.active "
	    "AND NOT u.is_service", 1, v);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;	/* nothing to do, and nothing to say */
	}
	uid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	oid = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	auth_token_new(token, sizeof(token), NULL);
	auth_token_hash(token, hash);
	snprintf(mins, sizeof(mins), "%lld", conf.reset_minutes);
	v[0] = PQgetvalue(res, 0, 0);
	rc = db_run(c, e, "INSERT INTO one_time_tokens (token_hash, kind, "
	    "user_id, expires_at) VALUES ($2, 'reset', $1, "
	    "now() + make_interval(mins => $3::int))", 3, v);
	body = xasprintf("Bonjour,\n\nPour choisir un nouveau mot de passe "
	    "Guichet, ouvrez ce lien dans les %lld minutes :\n%s/"
	    "mot-de-passe.html#jeton=%s\n\nSi vous n'avez rien demandé, "
	    "ignorez ce message.\n", conf.reset_minutes, conf.public_url, token);
	if (rc == 0)
		rc = mail_queue(c, e, PQgetvalue(res, 0, 2),
		    "Guichet : nouveau mot de passe", body);
	if (rc == 0)
		rc = event_account(c, e, "password_reset_requested", 0, uid, oid,
		    q->addr, NULL);
	sodium_memzero(body, strlen(body));
	free(body);
	sodium_memzero(token, sizeof(token));
	PQclear(res);
	return rc;
}

void
account_reset_request(struct req *r)
{
	struct reset_req q = { req_param(r, "email")->s, r->addr };
	struct db_err	 e;

	if (db_tx(&e, reset_request_tx, &q) != 0) {
		db_reply_error(r, &e);
		return;
	}
	http_reply_json(r, 202, json_pack("{s:s}", "message", "Si un compte "
	    "correspond à cette adresse, un message vient d'y être envoyé."));
}

/*
 * Redeeming a one-time token: it must be of the kind, unused and current;
 * it is marked used in the same transaction that sets the password.
 */
struct redeem {
	const char	*kind;		/* "reset" or "invitation" */
	const char	*token;
	const char	*password;
	const char	*addr;
	const char	*field_error;	/* set when the request is at fault */
	const char	*message;
	int64_t		 user_id;
	int64_t		 org_id;
	struct login	 login;		/* invitations open a session */
};

static int
redeem_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct redeem	*d = arg;
	char		 hash[65], pwhash[crypto_pwhash_STRBYTES];
	const char	*v[2] = { hash, d->kind }, *u[2], *why;
	PGresult	*res;
	int		 rc = -1;

	auth_token_hash(d->token, hash);
	res = db_exec(c, e, "SELECT t.user_id, u.email, u.organisation_id "
	    "FROM one_time_tokens t JOIN users u ON u.id = t.user_id "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE t.token_hash = $1 AND t.kind = $2 AND t.used_at IS NULL "
	    "AND t.expires_at > now() AND u.active AND o.active "
	    "FOR UPDATE OF t", 2, v);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		d->field_error = "token";
		d->message = "Ce lien n'est plus valable : demandez-en un nouveau.";
		e->rc = DB_INVALID;
		goto out;
	}
	d->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	d->org_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	if ((why = pw_policy(d->password, PQgetvalue(res, 0, 1))) != NULL) {
		d->field_error = "password";
		d->message = why;
		e->rc = DB_INVALID;
		goto out;
	}
	if (pw_hash(d->password, pwhash) != 0) {
		e->rc = DB_ERROR;
		goto out;
	}
	u[0] = PQgetvalue(res, 0, 0);
	u[1] = pwhash;
	/* This link and every other pending one of the account are spent. */
	if (db_run(c, e, "UPDATE one_time_tokens SET used_at = now() "
	    "WHERE user_id = $1 AND used_at IS NULL", 1, u) ||
	    db_run(c, e, "UPDATE users SET password_hash = $2 WHERE id = $1",
	    2, u) ||
	    db_run(c, e, "UPDATE sessions SET revoked_at = now() WHERE "
	    "user_id = $1 AND revoked_at IS NULL", 1, u) ||
	    /* A reset is how an account is taken back: tokens go too. */
	    (strcmp(d->kind, "reset") == 0 && db_run(c, e, "UPDATE api_tokens "
	    "SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
	    1, u)) ||
	    event_account(c, e, strcmp(d->kind, "reset") == 0 ?
	    "password_reset" : "invitation_accepted", d->user_id, d->user_id,
	    d->org_id, d->addr, NULL))
		goto out;
	if (strcmp(d->kind, "invitation") == 0) {
		d->login.user_id = d->user_id;
		d->login.org_id = d->org_id;
		d->login.addr = d->addr;
		if (login_tx(c, &d->login, e))
			goto out;
	}
	rc = 0;
out:
	sodium_memzero(pwhash, sizeof(pwhash));
	PQclear(res);
	return rc;
}

static void
redeem(struct req *r, const char *kind)
{
	struct redeem	 d = { 0 };
	struct db_err	 e;

	d.kind = kind;
	d.token = req_param(r, "token")->s;
	d.password = req_param(r, "password")->s;
	d.addr = r->addr;
	if (db_tx(&e, redeem_tx, &d) != 0) {
		if (d.field_error != NULL)
			http_reply_error(r, 400, strcmp(d.field_error, "token")
			    == 0 ? "token_invalid" : "weak_password", d.message,
			    d.field_error);
		else
			db_reply_error(r, &e);
		goto out;
	}
	if (strcmp(kind, "invitation") == 0)
		reply_session(r, &d.login);
	else
		http_reply_json(r, 200, json_pack("{s:s}", "message",
		    "Mot de passe enregistré : vous pouvez vous connecter."));
out:
	sodium_memzero(&d, sizeof(d));
}

void
account_reset_confirm(struct req *r)
{
	redeem(r, "reset");
}

void
account_invitation_accept(struct req *r)
{
	redeem(r, "invitation");
}

void
account_invitation_inspect(struct req *r)
{
	struct db_err	 e;
	PGresult	*res;
	char		 hash[65];
	const char	*v[1] = { hash };

	auth_token_hash(req_param(r, "token")->s, hash);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT u.email, u.display_name, "
	    "o.name, u.role FROM one_time_tokens t JOIN users u ON u.id = t.user_id "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE t.token_hash = $1 AND t.kind = 'invitation' "
	    "AND t.used_at IS NULL AND t.expires_at > now() AND u.active "
	    "AND o.active", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_reply_error(r, 400, "token_invalid", "Cette invitation "
		    "n'est plus valable : demandez-en une nouvelle.", "token");
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s}",
	    "email", PQgetvalue(res, 0, 0), "display_name", PQgetvalue(res, 0, 1),
	    "organisation", PQgetvalue(res, 0, 2), "role", PQgetvalue(res, 0, 3)));
	PQclear(res);
}
