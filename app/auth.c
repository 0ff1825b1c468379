/*
 * auth.c — sessions, API tokens and request authentication.
 *
 * A request carries at most one credential. "Authorization: Bearer" names an
 * API token; it must be valid, or the request is refused (401), even on a
 * public route, so that a misconfigured client learns it at once. Otherwise
 * the session cookie is looked up; an unknown or expired one just leaves the
 * request anonymous (the route decides whether that is enough). Looking up a
 * session or token also refreshes its last use, at most once a minute, so
 * that reads do not turn into writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth.h"
#include "conf.h"
#include "http.h"
#include "util.h"

void
auth_token_new(char *out, size_t outlen, const char *prefix)
{
	unsigned char	rnd[32];
	char		b64[sodium_base64_ENCODED_LEN(32,
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2base64(b64, sizeof(b64), rnd, sizeof(rnd),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(out, outlen, "%s%s", prefix ? prefix : "", b64);
	sodium_memzero(rnd, sizeof(rnd));
	sodium_memzero(b64, sizeof(b64));
}

void
auth_token_hash(const char *token, char out[65])
{
	unsigned char	h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	hex_encode(out, h, sizeof(h));
}

void
identity_free(struct identity *who)
{
	if (who == NULL)
		return;
	terr_free(&who->terr);
	sodium_memzero(who, sizeof(*who));
	free(who);
}

/* The columns both lookups share, in this order. */
#define IDENTITY_COLUMNS \
	"u.id, u.organisation_id, u.role, u.email, u.display_name, o.name, " \
	"o.kind, " \
	"CASE WHEN u.departements IS NULL AND u.communes IS NULL " \
	"THEN o.departements ELSE coalesce(u.departements, '{}') END, " \
	"CASE WHEN u.departements IS NULL AND u.communes IS NULL " \
	"THEN o.communes ELSE coalesce(u.communes, '{}') END"
#define IDENTITY_NCOLS	9

static struct identity *
identity_from_row(const PGresult *res)
{
	struct identity	*who = xcalloc(1, sizeof(*who));

	who->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	who->org_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	who->role = role_parse(PQgetvalue(res, 0, 2));
	snprintf(who->email, sizeof(who->email), "%s", PQgetvalue(res, 0, 3));
	snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(res, 0, 4));
	snprintf(who->org_name, sizeof(who->org_name), "%s",
	    PQgetvalue(res, 0, 5));
	snprintf(who->org_kind, sizeof(who->org_kind), "%s",
	    PQgetvalue(res, 0, 6));
	if (terr_from_pg(&who->terr, PQgetvalue(res, 0, 7),
	    PQgetvalue(res, 0, 8)) != 0)
		log_warn("user %lld: malformed territory", (long long)who->user_id);
	who->terr.all = who->role == ROLE_ADMIN;
	return who;
}

struct identity *
auth_identity_load(int64_t user_id)
{
	struct identity	*who;
	struct db_err	 e;
	PGresult	*res;
	char		 uid[24];
	const char	*v[1] = { uid };

	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT " IDENTITY_COLUMNS " FROM "
	    "users u JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE u.id = $1", 1, v);
	if (res == NULL || PQntuples(res) != 1) {
		PQclear(res);
		return NULL;
	}
	who = identity_from_row(res);
	who->scopes = SCOPE_ALL;
	PQclear(res);
	return who;
}

static int
identify_token(struct req *r, const char *token)
{
	struct db_err	 e;
	PGresult	*res;
	char		 hash[65], **scopes = NULL;
	const char	*v[1] = { hash };
	size_t		 n = 0, i;
	int		 s;

	auth_token_hash(token, hash);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT " IDENTITY_COLUMNS ", t.id, "
	    "t.scopes, t.last_used_at IS NULL OR "
	    "t.last_used_at < now() - interval '1 minute' "
	    "FROM api_tokens t JOIN users u ON u.id = t.user_id "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE t.token_hash = $1 AND t.revoked_at IS NULL "
	    "AND (t.expires_at IS NULL OR t.expires_at > now()) "
	    "AND u.active AND o.active", 1, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return 503;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		http_reply_error(r, 401, "invalid_token", "Ce jeton d'API est "
		    "inconnu, expiré ou révoqué.", NULL);
		MHD_add_response_header(r->resp, "WWW-Authenticate",
		    "Bearer error=\"invalid_token\"");
		return 401;
	}
	r->who = identity_from_row(res);
	r->who->via_token = 1;
	r->who->token_id = strtoll(PQgetvalue(res, 0, IDENTITY_NCOLS), NULL, 10);
	pgarray_parse(PQgetvalue(res, 0, IDENTITY_NCOLS + 1), &scopes, &n);
	for (i = 0; i < n; i++)
		if ((s = scope_bit(scopes[i])) > 0)
			r->who->scopes |= (unsigned)s;
	pgarray_free(scopes, n);
	if (PQgetvalue(res, 0, IDENTITY_NCOLS + 2)[0] == 't')
		PQclear(db_query(&e, 0, "UPDATE api_tokens SET last_used_at = "
		    "now() WHERE token_hash = $1", 1, v));
	PQclear(res);
	return 0;
}

static int
identify_session(struct req *r, const char *token)
{
	struct db_err	 e;
	PGresult	*res;
	char		 hash[65], idle[24];
	const char	*v[2] = { hash, idle };

	if (strlen(token) != AUTH_TOKEN_LEN)
		return 0;
	auth_token_hash(token, hash);
	snprintf(idle, sizeof(idle), "%lld", conf.session_idle_minutes);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT " IDENTITY_COLUMNS ", "
	    "s.csrf_token, s.last_seen_at < now() - interval '1 minute' "
	    "FROM sessions s JOIN users u ON u.id = s.user_id "
	    "JOIN organisations o ON o.id = u.organisation_id "
	    "WHERE s.token_hash = $1 AND s.revoked_at IS NULL "
	    "AND s.expires_at > now() "
	    "AND s.last_seen_at > now() - make_interval(mins => $2::int) "
	    "AND u.active AND o.active", 2, v);
	if (res == NULL) {
		db_reply_error(r, &e);
		return 503;
	}
	if (PQntuples(res) == 1) {
		r->who = identity_from_row(res);
		r->who->scopes = SCOPE_ALL;
		snprintf(r->who->session_hash, sizeof(r->who->session_hash),
		    "%s", hash);
		snprintf(r->who->csrf, sizeof(r->who->csrf), "%s",
		    PQgetvalue(res, 0, IDENTITY_NCOLS));
		if (PQgetvalue(res, 0, IDENTITY_NCOLS + 1)[0] == 't')
			PQclear(db_query(&e, 0, "UPDATE sessions SET "
			    "last_seen_at = now() WHERE token_hash = $1", 1, v));
	}
	PQclear(res);
	return 0;
}

int
auth_identify(struct req *r)
{
	const char	*authz = req_header(r, "Authorization");
	const char	*cookie;

	if (authz != NULL) {
		if (strncasecmp(authz, "Bearer ", 7) != 0 || authz[7] == '\0' ||
		    strlen(authz + 7) > 128) {
			http_reply_error(r, 401, "invalid_token", "Seul un jeton "
			    "d'API « Bearer » est accepté.", NULL);
			MHD_add_response_header(r->resp, "WWW-Authenticate",
			    "Bearer");
			return 401;
		}
		return identify_token(r, authz + 7);
	}
	cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND,
	    AUTH_COOKIE);
	if (cookie != NULL)
		return identify_session(r, cookie);
	return 0;
}

int
auth_csrf_ok(const struct req *r)
{
	const char	*m = r->method, *h;

	if (r->who == NULL || r->who->via_token || strcmp(m, "GET") == 0 ||
	    strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0)
		return 1;
	h = req_header(r, "X-CSRF-Token");
	return h != NULL && strlen(h) == strlen(r->who->csrf) &&
	    sodium_memcmp(h, r->who->csrf, strlen(h)) == 0;
}

int
auth_session_open(PGconn *c, struct db_err *e, int64_t user_id,
    const char *client_addr, char *token, char *csrf)
{
	char		 hash[65], uid[24], hours[24];
	const char	*v[5] = { hash, uid, csrf, hours, client_addr };
	PGresult	*res;

	auth_token_new(token, AUTH_TOKEN_LEN + 1, NULL);
	auth_token_new(csrf, AUTH_TOKEN_LEN + 1, NULL);
	auth_token_hash(token, hash);
	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	snprintf(hours, sizeof(hours), "%lld", conf.session_max_hours);
	res = db_exec(c, e, "INSERT INTO sessions (token_hash, user_id, "
	    "csrf_token, expires_at, client_addr) VALUES ($1, $2, $3, "
	    "now() + make_interval(hours => $4::int), $5::inet)", 5, v);
	PQclear(res);
	return res ? 0 : -1;
}

void
auth_cookie_set(struct req *r, const char *token)
{
	char	c[256];

	snprintf(c, sizeof(c), AUTH_COOKIE "=%s; Path=/; HttpOnly; "
	    "SameSite=Lax; Max-Age=%lld%s", token,
	    conf.session_max_hours * 3600, conf.behind_tls ? "; Secure" : "");
	MHD_add_response_header(r->resp, "Set-Cookie", c);
	sodium_memzero(c, sizeof(c));
}

void
auth_cookie_clear(struct req *r)
{
	MHD_add_response_header(r->resp, "Set-Cookie", AUTH_COOKIE "=; Path=/; "
	    "HttpOnly; SameSite=Lax; Max-Age=0");
}
