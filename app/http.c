/*
 * http.c — libmicrohttpd glue: request life cycle, early refusals, dispatch,
 * responses, access log and graceful shutdown.
 *
 * Life of a request. The URI log callback runs first, with the raw target,
 * and creates the request state (struct req); libmicrohttpd hands it back on
 * every later call and to the completion callback, which frees it and writes
 * the access-log line. On the first access-handler call everything that can
 * be decided from the request line and headers is decided (400 on a bad
 * target, 404, 405, 401, 413 on a declared oversized body, 415, 400 on a bad
 * parameter), so no body is read for a request that is refused. Body chunks
 * are then appended up to the route's limit, and on the last call the handler
 * runs and its one answer is queued. Receiving a request has a deadline
 * (request_timeout, watch.h); sending its answer has none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "asset.h"
#include "auth.h"
#include "conf.h"
#include "csp.h"
#include "db.h"
#include "forwarded.h"
#include "html.h"
#include "http.h"
#include "idem.h"
#include "ratelimit.h"
#include "upload.h"
#include "watch.h"

/* A request body from this size on: its memory is handed back after it. */
#define TRIM_BODY_BYTES	(1024 * 1024)

static atomic_int	active_requests;
static int		listen_v6;	/* listen_address is IPv6 */

static const char *
status_text(unsigned status)
{
	switch (status) {
	case 400: return "Requête invalide";
	case 401: return "Authentification requise";
	case 403: return "Accès refusé";
	case 404: return "Page introuvable";
	case 405: return "Méthode non autorisée";
	case 408: return "Délai de la requête dépassé";
	case 409: return "Conflit";
	case 413: return "Requête trop volumineuse";
	case 414: return "Adresse trop longue";
	case 415: return "Type de contenu non pris en charge";
	case 429: return "Trop de requêtes";
	case 503: return "Service indisponible";
	default:  return status >= 500 ? "Erreur interne" : "Erreur";
	}
}

/*
 * Headers every answer carries. The policy forbids inline script and, unless
 * configured, framing; API answers are never cached by intermediaries.
 */
static void
headers(struct MHD_Response *resp, const char *policy, int deny_frames)
{
	MHD_add_response_header(resp, "Content-Security-Policy", policy);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy",
	    "strict-origin-when-cross-origin");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Permissions-Policy",
	    "geolocation=(self), camera=(), microphone=(), payment=()");
	if (deny_frames)
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (conf.behind_tls)
		MHD_add_response_header(resp, "Strict-Transport-Security",
		    "max-age=31536000");
}

void
http_common_headers(struct MHD_Response *resp, int api)
{
	headers(resp, csp_header(), csp_frames_denied());
	if (api)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
}

void
http_embeddable_headers(struct MHD_Response *resp)
{
	headers(resp, csp_widget_header(), 0);
}

void
http_reply(struct req *r, unsigned status, struct MHD_Response *resp)
{
	if (r->resp != NULL) {
		/* A handler answered twice: keep the first, it is a bug. */
		log_error("second answer for %s ignored", r->method);
		MHD_destroy_response(resp);
		return;
	}
	r->resp = resp;
	r->status = status;
}

/* Answers may hold secrets shown once (API tokens): wiped when sent. */
static void
wipe_free(void *p)
{
	sodium_memzero(p, strlen(p));
	free(p);
}

void
http_reply_json(struct req *r, unsigned status, json_t *body)
{
	struct MHD_Response	*resp;
	char			*s;

	s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (s == NULL)
		s = xstrdup("{}");
	r->bytes = strlen(s);
	idem_keep(r, s, r->bytes);
	resp = MHD_create_response_from_buffer_with_free_callback(r->bytes, s,
	    wipe_free);
	MHD_add_response_header(resp, "Content-Type",
	    "application/json; charset=utf-8");
	if (r->etag[0] != '\0')
		MHD_add_response_header(resp, "ETag", r->etag);
	http_common_headers(resp, 1);
	http_reply(r, status, resp);
}

void
http_reply_empty(struct req *r, unsigned status)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	http_common_headers(resp, r->route != NULL);
	r->bytes = 0;
	http_reply(r, status, resp);
}

/* Does the If-None-Match list hold etag (weak comparison, or "*")? */
int
http_etag_matches(const char *inm, const char *etag)
{
	const char	*p = inm, *e;
	size_t		 len = strlen(etag), n;

	if (inm == NULL)
		return 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		e = strchr(p, ',');
		n = e ? (size_t)(e - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == len && memcmp(p, etag, len) == 0)
			return 1;
		p += n;
	}
	return 0;
}

json_t *
http_error_json(const char *code, const char *message, const char *field)
{
	return json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code,
	    "message", message, "field", field);
}

/*
 * Errors are JSON, except for a browser asking for a page outside the API,
 * which gets a small HTML page. Neither ever repeats anything of the request.
 */
void
http_reply_error(struct req *r, unsigned status, const char *code,
    const char *message, const char *field)
{
	const char		*accept = req_header(r, "Accept");
	struct MHD_Response	*resp;
	struct buf		 b = { 0 };
	json_t			*j;

	if (r->route == NULL && accept != NULL && strstr(accept, "text/html") &&
	    (r->url.nsegs == 0 || strcmp(r->url.segs[0], "api") != 0)) {
		buf_puts(&b, "<!doctype html>\n<html lang=\"fr\"><head>"
		    "<meta charset=\"utf-8\"><title>");
		html_escape(&b, status_text(status));
		buf_appendf(&b, " — Guichet</title><link rel=\"stylesheet\" "
		    "href=\"/css/guichet.css\"></head><body><main><h1>%u ", status);
		html_escape(&b, status_text(status));
		buf_puts(&b, "</h1><p>");
		html_escape(&b, message);
		buf_puts(&b, "</p><p><a href=\"/\">Retour à l’accueil</a>"
		    "</p></main></body></html>\n");
		r->bytes = b.len;
		resp = MHD_create_response_from_buffer(b.len, b.data,
		    MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type",
		    "text/html; charset=utf-8");
		http_common_headers(resp, 0);
		http_reply(r, status, resp);
		return;
	}
	if ((j = http_error_json(code, message, field)) == NULL)
		j = json_object();
	http_reply_json(r, status, j);
}

const struct param_val *
req_param(const struct req *r, const char *name)
{
	const struct param_spec	*s;
	size_t			 k;

	if (r->route == NULL)
		return NULL;
	for (s = r->route->params, k = 0; s && s->name; s++, k++)
		if (strcmp(s->name, name) == 0)
			return &r->params[k];
	return NULL;
}

const char *
req_header(const struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *
req_json_or_400(struct req *r)
{
	json_error_t	 e;
	char		 msg[160];

	if (r->json != NULL)
		return r->json;
	if (r->body.len == 0) {
		http_reply_error(r, 400, "body_missing",
		    "Le corps de la requête est vide.", NULL);
		return NULL;
	}
	r->json = json_loadb(r->body.data, r->body.len,
	    JSON_REJECT_DUPLICATES, &e);
	if (r->json == NULL) {
		snprintf(msg, sizeof(msg), "Le corps n'est pas un JSON valide "
		    "(ligne %d, colonne %d).", e.line, e.column);
		/* The member the error lies in, when the route declares it. */
		http_reply_error(r, 400, "invalid_json", msg,
		    r->route == NULL || e.position < 0 ? NULL :
		    param_json_error(r->route->params, r->body.data,
		    r->body.len, (size_t)e.position));
	}
	return r->json;
}

/* The one answer to a late request; the connection closes after it. */
static void
reply_late(struct req *r)
{
	r->late = 1;
	http_reply_error(r, 408, "request_timeout", "La requête n'est pas "
	    "arrivée en entier dans le délai imparti : renvoyez-la.", NULL);
	MHD_add_response_header(r->resp, "Connection", "close");
}

/* --- life cycle ------------------------------------------------------------ */

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req	*r = xcalloc(1, sizeof(*r));

	(void)cls;
	r->conn = conn;
	r->target = xstrdup(uri);
	r->t0 = now_us();
	r->watch = watch_of(conn);
	watch_request_line(r->watch);
	return r;
}

/* RFC 9110 tchar: what a method (a token) is made of. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * Appends s to b up to a '?' (the query may hold secrets), with control,
 * non-ASCII, quote and backslash bytes escaped (and, for a token, anything
 * that is not a tchar): nothing a client sends can forge a field or a line
 * of the access log.
 */
static void
log_text(struct buf *b, const char *s, int token)
{
	const unsigned char	*p;
	size_t			 n = 0;

	for (p = (const unsigned char *)s; *p && *p != '?'; p++, n++) {
		if (n == 256) {
			buf_puts(b, "…");
			break;
		}
		if (*p < 0x21 || *p >= 0x7f || *p == '"' || *p == '\\' ||
		    (token && !is_tchar(*p)))
			buf_appendf(b, "\\x%02x", *p);
		else
			buf_append(b, p, 1);
	}
}

static enum MHD_Result
last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") == 0)
		*(const char **)cls = value;
	return MHD_YES;
}

/*
 * The client's address: the peer's, or behind a trusted reverse proxy the
 * one it forwards (forwarded.h).
 */
static void
client_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;
	const char	*xff = NULL;
	char		 peer[INET6_ADDRSTRLEN] = "-";

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		if (ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)
			    ci->client_addr)->sin_addr, peer, sizeof(peer));
		else if (ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
			    ci->client_addr)->sin6_addr, peer, sizeof(peer));
	}
	if (conf.trusted_proxies[0] != '\0' && strcmp(peer, "-") != 0)
		MHD_get_connection_values(conn, MHD_HEADER_KIND, last_xff,
		    &xff);
	fwd_client(conf.trusted_proxies, peer, xff, out, outlen);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req	*r = *req_cls;
	struct buf	 line = { 0 };
	int		 big, shut;

	(void)cls;
	if (r == NULL)
		return;
	big = r->body.cap >= TRIM_BODY_BYTES;
	shut = watch_was_shut(r->watch);
	if (conf.access_log) {
		if (r->addr[0] == '\0')
			client_addr(conn, r->addr, sizeof(r->addr));
		buf_appendf(&line, "access %s ", r->addr);
		log_text(&line, r->method ? r->method : "-", 1);
		buf_puts(&line, " \"");
		log_text(&line, r->target, 0);
		if (r->status == 0)	/* refused by libmicrohttpd itself */
			buf_puts(&line, "\" -");
		else
			buf_appendf(&line, "\" %u", r->status);
		buf_appendf(&line, " %zu %.3fms%s", r->bytes,
		    (now_us() - r->t0) / 1000.0,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
		    shut ? " deadline" :
		    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " timeout" :
		    " aborted");
		if (r->who != NULL)
			buf_appendf(&line, " user=%lld%s",
			    (long long)r->who->user_id,
			    r->who->via_token ? " token" : "");
		log_info("%s", line.data);
		buf_free(&line);
	}
	if (r->started)
		atomic_fetch_sub(&active_requests, 1);
	watch_arm(r->watch);	/* for the connection's next request */
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	url_free(&r->url);
	if (r->route != NULL && (r->route->flags & R_SECRET) && r->body.data)
		sodium_memzero(r->body.data, r->body.cap);
	buf_free(&r->body);
	upload_free(r->upload);
	idem_free(r->idem);
	identity_free(r->who);
	json_decref(r->json);
	free(r->target);
	free(r);
	*req_cls = NULL;
	/*
	 * A body of megabytes parses into a JSON tree of a hundred times its
	 * size, in small blocks that glibc keeps in the worker thread's own
	 * arena once freed: one such request per worker would leave the
	 * process at workers × that peak for good (hostile-bodies.test.mjs
	 * saw 322 MB after two requests on two threads, 195 MB on one).
	 * Giving the free pages back after such a request bounds it to one.
	 */
	if (big)
		malloc_trim(0);
}

static int
is_api_path(const struct req *r)
{
	return r->url.nsegs > 0 && strcmp(r->url.segs[0], "api") == 0;
}

/* Does the request announce a body (Content-Length > 0, or chunked)? */
static int
announces_body(struct req *r, unsigned long long *declared)
{
	const char	*cl = req_header(r, "Content-Length");

	*declared = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	return *declared > 0 || req_header(r, "Transfer-Encoding") != NULL;
}

/*
 * Decides what can be decided before the body: returns 1 when an answer was
 * recorded (an error), 0 to go on. The order matters: a malformed target is
 * 400 before anything else; authorisation comes before the body limit so an
 * anonymous client learns nothing about limits.
 */
static int
decide_early(struct req *r)
{
	const char		*pathvals[ROUTE_MAX_PARAMS];
	const char		*qn[URL_MAX_PAIRS], *qv[URL_MAX_PAIRS];
	const char		*ct;
	struct param_error	 pe;
	enum url_rc		 urc;
	char			 allow[128];
	size_t			 npath = 0, i, ctlen;
	unsigned long long	 declared;
	int			 has_body;

	for (i = 0; r->method[i] != '\0'; i++)
		if (!is_tchar((unsigned char)r->method[i]))
			break;
	if (i == 0 || r->method[i] != '\0') {
		http_reply_error(r, 400, "method_invalid",
		    "La méthode de la requête n'est pas valide.", NULL);
		return 1;
	}
	urc = url_parse(r->target, &r->url);
	if (urc == URL_BAD_ESCAPE) {
		http_reply_error(r, 400, "url_malformed", "L'adresse demandée "
		    "contient un encodage « % » invalide.", NULL);
		return 1;
	}
	if (urc == URL_BAD_PATH) {
		http_reply_error(r, 400, "path_invalid",
		    "Le chemin demandé n'est pas valide.", NULL);
		return 1;
	}
	if (urc == URL_TOO_MANY) {
		http_reply_error(r, 414, "url_too_long", "L'adresse demandée "
		    "compte trop de segments ou de paramètres.", NULL);
		return 1;
	}

	switch (route_find(route_table, route_count, r->method, r->url.segs,
	    r->url.nsegs, &r->route, pathvals, &npath, allow, sizeof(allow))) {
	case ROUTE_FOUND:
		break;
	case ROUTE_NO_METHOD:
		if (strcmp(r->method, "OPTIONS") == 0) {
			http_reply_empty(r, 204);
			MHD_add_response_header(r->resp, "Allow", allow);
			return 1;
		}
		http_reply_error(r, 405, "method_not_allowed", "Cette méthode "
		    "n'est pas autorisée pour cette ressource.", NULL);
		MHD_add_response_header(r->resp, "Allow", allow);
		return 1;
	case ROUTE_NO_PATH:
		if (!is_api_path(r) && asset_exists(r->url.segs, r->url.nsegs)) {
			if (strcmp(r->method, "GET") == 0 ||
			    strcmp(r->method, "HEAD") == 0)
				break;	/* served on the last call */
			if (strcmp(r->method, "OPTIONS") == 0)
				http_reply_empty(r, 204);
			else
				http_reply_error(r, 405, "method_not_allowed",
				    "Cette méthode n'est pas autorisée pour "
				    "cette ressource.", NULL);
			MHD_add_response_header(r->resp, "Allow", "GET, HEAD");
			return 1;
		}
		http_reply_error(r, 404, "not_found",
		    "La ressource demandée n'existe pas.", NULL);
		return 1;
	}

	if (r->route != NULL) {
		struct authz_decision	d;
		struct db_err		e;
		int			wait;

		/*
		 * A read_only node's database is a hot standby: what is not
		 * a public read would fail on its first write, so it is
		 * refused whole, and credentials are not even looked at
		 * (looking one up records when it was last seen).
		 */
		if (conf.read_only && !(r->route->flags & R_STANDBY)) {
			http_reply_error(r, 503, "read_only_node", "Ce serveur "
			    "ne sert que la consultation des données publiées : "
			    "adressez cette requête au serveur principal.",
			    NULL);
			return 1;
		}
		if (!(r->route->flags & R_NOAUTH) && !conf.read_only &&
		    auth_identify(r) != 0)
			return 1;
		d = authz_route(r->who, r->route->action);
		if (d.status != 0) {
			http_reply_error(r, d.status, d.code, d.message, NULL);
			if (d.status == 401)
				MHD_add_response_header(r->resp,
				    "WWW-Authenticate", "Bearer");
			return 1;
		}
		if (r->who != NULL && r->who->via_token &&
		    (wait = ratelimit_take(&e, r->who->token_id)) != 0) {
			char	secs[16];

			/*
			 * The token was read from the database a moment ago:
			 * if its bucket cannot be, the request's own queries
			 * would most likely fail too (and letting it through
			 * would hand a struggling database the load the limit
			 * holds back). Answer as throttle.c's callers do.
			 */
			if (wait < 0) {
				db_reply_error(r, &e);
				return 1;
			}
			http_reply_error(r, 429, "rate_limited", "Trop de requêtes "
			    "pour ce jeton d'API : réessayez dans quelques "
			    "secondes (en-tête Retry-After).", NULL);
			snprintf(secs, sizeof(secs), "%d", wait);
			MHD_add_response_header(r->resp, "Retry-After", secs);
			return 1;
		}
		if (!auth_csrf_ok(r)) {
			http_reply_error(r, 403, "csrf_failed", "Jeton CSRF "
			    "absent ou invalide (en-tête X-CSRF-Token).", NULL);
			return 1;
		}
	}

	has_body = r->has_body = announces_body(r, &declared);
	r->body_limit = r->route ? r->route->body_max : 0;
	if (r->route != NULL && (r->route->flags & R_UPLOAD)) {
		if (r->body_limit > (size_t)conf.import_max_bytes)
			r->body_limit = conf.import_max_bytes;
	} else if (r->body_limit > (size_t)conf.request_body_max)
		r->body_limit = conf.request_body_max;
	if (has_body && (r->body_limit == 0 || declared > r->body_limit)) {
		http_reply_error(r, 413, "body_too_large", r->body_limit == 0 ?
		    "Cette ressource n'accepte pas de corps de requête." :
		    "Le corps de la requête dépasse la taille autorisée.", NULL);
		return 1;
	}
	if (has_body && !(r->route->flags & R_UPLOAD)) {
		ct = req_header(r, "Content-Type");
		ctlen = strlen(r->route->body_type);
		if (ct == NULL || strncasecmp(ct, r->route->body_type, ctlen) != 0 ||
		    (ct[ctlen] != '\0' && ct[ctlen] != ';' && ct[ctlen] != ' ')) {
			http_reply_error(r, 415, "unsupported_media_type",
			    "Le type de contenu de la requête n'est pas "
			    "accepté ici.", NULL);
			return 1;
		}
	}

	if (r->route != NULL) {
		for (i = 0; i < r->url.nquery; i++) {
			qn[i] = r->url.query[i].name;
			qv[i] = r->url.query[i].value;
		}
		if (param_parse(r->route->params, r->params, pathvals, npath,
		    qn, qv, r->url.nquery, &pe)) {
			http_reply_error(r, pe.spec->in == IN_PATH ? 404 : 400,
			    pe.code, pe.message, pe.spec->name);
			return 1;
		}
		if (idem_prepare(r) != 0)
			return 1;
	}
	return 0;
}

/*
 * Routes that declare body members get them parsed and checked before the
 * handler runs: the body must be a JSON object, and the first member that
 * fails its spec is answered 400 with its name.
 */
static int
parse_body_params(struct req *r)
{
	const struct param_spec	*s;
	struct param_error	 pe;
	json_t			*j;

	for (s = r->route->params; s && s->name; s++)
		if (s->in == IN_BODY)
			break;
	if (s == NULL || s->name == NULL)
		return 0;
	if ((j = req_json_or_400(r)) == NULL)
		return -1;
	if (!json_is_object(j)) {
		http_reply_error(r, 400, "invalid_json", "Le corps doit être "
		    "un objet JSON.", NULL);
		return -1;
	}
	if (param_parse_body(r->route->params, r->params, j, &pe)) {
		http_reply_error(r, 400, pe.code, pe.message, pe.spec->name);
		return -1;
	}
	return 0;
}

/*
 * Runs the route's handler, once the body is in. With an Idempotency-Key
 * (idem.h), a request seen before is answered from what was stored, before
 * its body is even parsed, and the answer of a new one is stored with what
 * the handler wrote.
 */
static void
run_handler(struct req *r)
{
	if (idem_begin(r) != 0)
		return;
	if ((r->route->flags & R_UPLOAD) || parse_body_params(r) == 0)
		r->route->handler(r);
	idem_end(r);
}

static enum MHD_Result
queue(struct req *r)
{
	enum MHD_Result	ret;

	if (r->resp == NULL)
		http_reply_error(r, 500, "internal_error",
		    "Erreur interne du serveur.", NULL);
	/* Errors too: a map on another site must be able to read why. */
	if (r->route != NULL && (r->route->flags & R_CORS))
		MHD_add_response_header(r->resp, "Access-Control-Allow-Origin",
		    "*");
	r->queued = 1;
	ret = MHD_queue_response(r->conn, r->status, r->resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct req	*r = *req_cls;
	unsigned long long declared;
	int64_t		 left;
	int		 answered;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL)		/* cannot happen with the URI callback set */
		return MHD_NO;
	if (!r->started) {
		/* A request is in flight from here (graceful shutdown waits for
		 * it): its headers are in. One whose headers never complete is
		 * the idle timeout's business. */
		r->started = 1;
		atomic_fetch_add(&active_requests, 1);
		r->conn = conn;
		r->method = method;
		client_addr(conn, r->addr, sizeof(r->addr));
		/* The headers are in: the clock stops while we decide, and
		 * goes on only for a body still to come. */
		if ((left = watch_stop(r->watch)) < 0) {
			r->has_body = announces_body(r, &declared);
			reply_late(r);
			answered = 1;
		} else
			answered = decide_early(r);
		/* An early answer goes out now only when there is a body not to
		 * read (the connection then closes); without one it waits for the
		 * last call, which keeps the connection alive. */
		if (answered && r->has_body)
			return queue(r);
		if (!answered && r->has_body)
			watch_resume(r->watch, left);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* Late: the rest is read and thrown away, then 408. */
		if (!r->late && watch_body(r->watch, *upload_data_size))
			r->late = 1;
		if (r->late) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		/* A body holding secrets is never moved by a realloc that
		 * would leave a copy behind unwiped: it gets its room at once. */
		if (r->body.data == NULL && r->route != NULL &&
		    (r->route->flags & R_SECRET)) {
			r->body.data = xmalloc(r->body_limit + 1);
			r->body.cap = r->body_limit + 1;
		}
		if (!r->body_too_large) {
			if (r->body.len + *upload_data_size > r->body_limit ||
			    (r->upload != NULL && upload_bytes(r->upload) +
			    *upload_data_size > r->body_limit))
				r->body_too_large = 1;
			else if (r->route != NULL &&
			    (r->route->flags & R_UPLOAD)) {
				/* A file: to disk as it comes, never held;
				 * once storing failed, the rest is dropped. */
				if (r->storage_failed)
					;
				else if (r->upload == NULL &&
				    (r->upload = upload_begin()) == NULL)
					r->storage_failed = 1;
				else
					upload_write(r->upload, upload_data,
					    *upload_data_size);
			} else
				buf_append(&r->body, upload_data,
				    *upload_data_size);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->queued)		/* answered at the first call */
		return MHD_YES;
	watch_stop(r->watch);	/* the request is in */
	if (r->resp != NULL)	/* decided at the first call, no body */
		return queue(r);
	if (r->late) {
		buf_free(&r->body);
		reply_late(r);
	} else if (r->body_too_large) {
		buf_free(&r->body);
		http_reply_error(r, 413, "body_too_large",
		    "Le corps de la requête dépasse la taille autorisée.", NULL);
	} else if (r->route == NULL)
		asset_serve(r);
	else if (r->route->flags & R_UPLOAD) {
		if (r->storage_failed)
			http_reply_error(r, 507, "storage_failed", "Le fichier "
			    "n'a pas pu être enregistré sur le serveur.", NULL);
		else if (r->upload == NULL)
			http_reply_error(r, 422, "file_unreadable", "Le fichier "
			    "envoyé est vide.", "file");
		else if (upload_finish(r->upload) != 0)
			http_reply_error(r, 507, "storage_failed", "Le fichier "
			    "n'a pas pu être enregistré sur le serveur.", NULL);
		else
			run_handler(r);
	} else
		run_handler(r);
	return queue(r);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	msg[512];
	size_t	n;

	(void)cls;
	/* The format is libmicrohttpd's own, not the client's. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/*
 * The listening socket is ours, not libmicrohttpd's, so that it can be
 * bound before the switch to an unprivileged account (sandbox.h) while the
 * daemon and its threads start after it. It gets what libmicrohttpd would
 * have set: SO_REUSEADDR (a restart does not wait for TIME_WAIT), IPv6
 * only on an IPv6 address, non-blocking, and a backlog of 512. Whether the
 * address is IPv6 is decided here once; http_serve tells the daemon.
 */
int
http_listen(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	listen_v6 = strchr(conf.listen_address, ':') != NULL;
	if (listen_v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)conf.listen_port);
		inet_pton(AF_INET6, conf.listen_address, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)conf.listen_port);
		inet_pton(AF_INET, conf.listen_address, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 512) != 0)
		fatal("cannot listen on %s port %lld: %s", conf.listen_address,
		    conf.listen_port, strerror(errno));
	return fd;
}

/*
 * Starts the daemon on the socket of http_listen and waits for SIGINT or
 * SIGTERM. Shutdown is graceful: the listening socket is closed at once
 * (new clients are refused), requests in flight get up to shutdown_grace
 * seconds to finish, then the worker threads are stopped and their
 * database connections closed.
 */
int
http_serve(int lfd)
{
	struct MHD_Daemon	*d;
	sigset_t		 set;
	int64_t			 deadline;
	unsigned		 workers;
	struct timespec		 tick = { 0, WATCH_SWEEP_NS };
	int			 sig;

	/* Workers block on PostgreSQL round trips: by default four per CPU
	 * keep the cores busy (measured in bench/: +10 % over one per CPU). */
	workers = conf.workers > 0 ? (unsigned)conf.workers :
	    4 * (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (workers == 0)
		workers = 4;

	/* Worker threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Said before the workers start: the socket has been listening since
	 * http_listen, and a client queued meanwhile is answered at once. */
	log_info("listening on http://%s%s%s:%lld/ with %u workers",
	    listen_v6 ? "[" : "", conf.listen_address, listen_v6 ? "]" : "",
	    conf.listen_port, workers);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG | (listen_v6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    MHD_OPTION_THREAD_POOL_SIZE, workers,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)conf.max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)conf.connection_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)conf.max_header_bytes,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, watch_on_connection, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    /* Refuse sloppy requests rather than guess (request smuggling). */
	    MHD_OPTION_STRICT_FOR_CLIENT, 1,
	    MHD_OPTION_END);
	if (d == NULL) {
		log_error("cannot serve on %s port %lld: %s",
		    conf.listen_address, conf.listen_port, strerror(errno));
		return 1;
	}

	/* Between signals, the main thread enforces the request deadline. */
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		watch_sweep();
	}
	log_info("%s received: finishing %d request(s) in flight",
	    sig == SIGINT ? "SIGINT" : "SIGTERM",
	    atomic_load(&active_requests));
	if (MHD_quiesce_daemon(d) != MHD_INVALID_SOCKET)
		close(lfd);
	deadline = now_us() + conf.shutdown_grace * 1000000;
	while (atomic_load(&active_requests) > 0 && now_us() < deadline) {
		usleep(10000);
		watch_sweep();
	}
	if (atomic_load(&active_requests) > 0)
		log_warn("%d request(s) still running after %llds: stopping",
		    atomic_load(&active_requests), conf.shutdown_grace);
	MHD_stop_daemon(d);
	log_info("stopped");
	return 0;
}
