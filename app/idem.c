/*
 * idem.c — Idempotency-Key: stored answers of the requests that create,
 * replayed to their retries.
 *
 * The life of a keyed request. Its key is checked with the headers
 * (idem_prepare). Once the body is in (idem_begin), the request takes a
 * PostgreSQL advisory lock named after its user, route and key, on its
 * worker's connection: a second request with the same key while the first
 * runs fails to take it and gets 409. Holding the lock, it looks for a live
 * stored answer: one found is replayed (same fingerprint) or refused with
 * 422 (another request under the same key). None found, the handler runs
 * with the database layer holding its transaction open (db_tx_hold): what
 * the handler writes is not committed when its db_tx returns, and its
 * answer is built inside that same transaction. idem_end then inserts the
 * answer in it and commits both at once, so that a creation that was
 * acknowledged always has its stored answer, and a crash before the COMMIT
 * leaves neither. When PostgreSQL cannot serialize that transaction, the
 * handler runs again (see idem_end). The lock is released last.
 *
 * Why an advisory lock rather than a row saying "in flight": a session
 * lock dies with its connection, so a server that crashes in the middle
 * leaves no stale claim behind for a day. The primary key of the table
 * stays the last guard: were the lock lost with a connection, the second
 * request's INSERT would conflict with the first's, and it would roll back.
 *
 * Choices. Only successes (2xx) are stored. A 4xx created nothing, so
 * replaying it protects nothing, while running it again lets the agent
 * correct the request under the same key (confirm the warnings, fix a
 * field) and reflects what changed meanwhile (a batch of the same series
 * that was running is finished); a 5xx is not stored either, so that the
 * retry runs again, and the transaction of a request that ends in an
 * error is rolled back whatever the handler held. The fingerprint is the
 * SHA-256 of the method, the request target (path and query: the guichet,
 * an import's file name) and the body (a file's own SHA-256 for uploads).
 * Keys live 24 hours, then are treated as new and purged.
 *
 * A handler that writes without db_tx (plain queries commit at once) gets
 * its answer stored right after, in a transaction of its own: no route
 * flagged R_IDEMPOTENT does so today. A COMMIT that fails leaves a kept
 * import file without its row (its id is never reused, nothing reads it).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "db.h"
#include "http.h"
#include "idem.h"
#include "upload.h"
#include "util.h"

#define IDEM_TTL	"24 hours"
#define PURGE_EVERY_US	(10 * 60 * 1000000LL)
#define RUNS_MAX	5	/* of a handler whose transaction cannot commit */

struct idem {
	char		 key[IDEM_KEY_MAX + 1];
	char		 user[24];
	char		 route[320];	/* "POST /api/v1/imports" */
	char		 lock[24];	/* advisory lock key, decimal */
	char		 fingerprint[2 * crypto_hash_sha256_BYTES + 1];
	int		 locked;
	int		 kept;
	struct buf	 body;		/* the answer's, see idem_keep */
};

/* The headers of an answer that say what was created and how to read it. */
static const char *const kept_headers[] = { "Content-Type", "ETag",
    "Location", NULL };

static _Atomic int64_t	last_purge;

static enum MHD_Result
count_keys(void *cls, enum MHD_ValueKind kind, const char *name,
    const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(name, IDEM_HEADER) == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

static int
key_valid(const char *k)
{
	size_t	n;

	for (n = 0; k[n] != '\0'; n++)
		if ((unsigned char)k[n] < 0x20 || (unsigned char)k[n] > 0x7e)
			return 0;
	return n >= 1 && n <= IDEM_KEY_MAX;
}

/*
 * The key is checked before the body is read: a client that sends a bad
 * one learns it without uploading a file first. It is never repeated in
 * the answer. The lock's name is the first 8 bytes of a SHA-256 of user,
 * route and key: two keys that collide only wait for each other (409).
 */
int
idem_prepare(struct req *r)
{
	unsigned char	 h[crypto_hash_sha256_BYTES];
	const char	*k;
	struct idem	*d;
	struct buf	 b = { 0 };
	int64_t		 lock;
	int		 n = 0;

	if (r->route == NULL || !(r->route->flags & R_IDEMPOTENT) ||
	    r->who == NULL)
		return 0;
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_keys, &n);
	if (n == 0)
		return 0;
	if (n > 1 || (k = req_header(r, IDEM_HEADER)) == NULL ||
	    !key_valid(k)) {
		http_reply_error(r, 400, "idempotency_key_invalid", "L'en-tête "
		    "Idempotency-Key doit compter de 1 à 255 caractères ASCII "
		    "imprimables, et n'être envoyé qu'une fois.", IDEM_HEADER);
		return -1;
	}
	r->idem = d = xcalloc(1, sizeof(*d));
	snprintf(d->key, sizeof(d->key), "%s", k);
	snprintf(d->user, sizeof(d->user), "%lld", (long long)r->who->user_id);
	snprintf(d->route, sizeof(d->route), "%s %s", r->route->method,
	    r->route->pattern);
	buf_appendf(&b, "%s", d->user);
	buf_append(&b, "", 1);
	buf_puts(&b, d->route);
	buf_append(&b, "", 1);
	buf_puts(&b, d->key);
	crypto_hash_sha256(h, (const unsigned char *)b.data, b.len);
	buf_free(&b);
	memcpy(&lock, h, sizeof(lock));
	snprintf(d->lock, sizeof(d->lock), "%lld", (long long)lock);
	return 0;
}

static void
fingerprint(struct req *r, char *out)
{
	crypto_hash_sha256_state	 st;
	unsigned char			 h[crypto_hash_sha256_BYTES];
	const char			*file;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)r->method,
	    strlen(r->method) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)r->target,
	    strlen(r->target) + 1);
	if (r->upload != NULL) {
		file = upload_sha256(r->upload);
		crypto_hash_sha256_update(&st, (const unsigned char *)file,
		    strlen(file));
	} else if (r->body.len > 0)
		crypto_hash_sha256_update(&st, (const unsigned char *)
		    r->body.data, r->body.len);
	crypto_hash_sha256_final(&st, h);
	hex_encode(out, h, sizeof(h));
}

static void
unlock(struct idem *d)
{
	struct db_err	 e;
	const char	*v[1] = { d->lock };

	PQclear(db_query(&e, DB_IDEMPOTENT, "SELECT pg_advisory_unlock("
	    "$1::bigint)", 1, v));
	d->locked = 0;
}

static void
reply_in_flight(struct req *r)
{
	http_reply_error(r, 409, "idempotency_key_in_flight", "Une requête "
	    "avec la même clé Idempotency-Key est en cours : attendez sa "
	    "réponse, puis renvoyez celle-ci pour la recevoir.", IDEM_HEADER);
}

/* The stored answer again: its status, its headers, its body as sent. */
static void
replay(struct req *r, PGresult *res)
{
	struct MHD_Response	*resp;
	json_t			*h, *val;
	const char		*name;
	size_t			 len = (size_t)PQgetlength(res, 0, 3);

	resp = MHD_create_response_from_buffer(len, PQgetvalue(res, 0, 3),
	    MHD_RESPMEM_MUST_COPY);
	h = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
	json_object_foreach(h, name, val)
		if (json_is_string(val))
			MHD_add_response_header(resp, name,
			    json_string_value(val));
	json_decref(h);
	MHD_add_response_header(resp, "Idempotent-Replayed", "true");
	http_common_headers(resp, 1);
	r->bytes = len;
	http_reply(r, (unsigned)atoi(PQgetvalue(res, 0, 1)), resp);
}

/*
 * Takes the key's lock, then decides from what is stored under the key.
 * An answer older than IDEM_TTL is as good as gone (the purge may not have
 * run yet). Whatever it answers, the lock is released before returning;
 * when the handler is to run, it is kept until idem_end.
 */
int
idem_begin(struct req *r)
{
	struct idem	*d = r->idem;
	struct db_err	 e;
	PGresult	*res;
	const char	*v[3];
	int		 answered = 1;

	if (d == NULL)
		return 0;
	fingerprint(r, d->fingerprint);
	v[0] = d->lock;
	if ((res = db_query(&e, DB_IDEMPOTENT, "SELECT "
	    "pg_try_advisory_lock($1::bigint)", 1, v)) == NULL) {
		db_reply_error(r, &e);
		return 1;
	}
	d->locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!d->locked) {
		reply_in_flight(r);
		return 1;
	}
	v[0] = d->user;
	v[1] = d->route;
	v[2] = d->key;
	res = db_query(&e, DB_IDEMPOTENT, "SELECT fingerprint, status, "
	    "headers::text, body FROM idempotency_keys WHERE user_id = $1 AND "
	    "route = $2 AND key = $3 AND created_at > now() - interval '"
	    IDEM_TTL "'", 3, v);
	if (res == NULL)
		db_reply_error(r, &e);
	else if (PQntuples(res) == 0) {
		db_tx_hold();
		answered = 0;
	} else if (strcmp(PQgetvalue(res, 0, 0), d->fingerprint) != 0)
		http_reply_error(r, 422, "idempotency_key_reused", "Cette clé "
		    "Idempotency-Key a déjà servi pour une autre requête : "
		    "une nouvelle opération prend une nouvelle clé.",
		    IDEM_HEADER);
	else
		replay(r, res);
	PQclear(res);
	if (answered)
		unlock(d);
	return answered;
}

void
idem_keep(struct req *r, const char *body, size_t len)
{
	struct idem	*d = r->idem;

	if (d == NULL || d->kept || r->resp != NULL)
		return;		/* not keyed, or a second answer (ignored) */
	buf_append(&d->body, body, len);
	d->kept = 1;
}

/*
 * The answer's row, in the transaction that holds what it announces. The
 * insert replaces a row only when it has expired: a live one means that
 * another request stored the key meanwhile (the lock was lost with a
 * connection), and this one must not commit.
 */
static int
store_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct req	*r = arg;
	struct idem	*d = r->idem;
	json_t		*h = json_object();
	const char	*v[7], *val;
	char		 status[8], *headers;
	PGresult	*res;
	size_t		 i;
	int		 stored;

	for (i = 0; kept_headers[i] != NULL; i++)
		if ((val = MHD_get_response_header(r->resp,
		    kept_headers[i])) != NULL)
			json_object_set_new(h, kept_headers[i],
			    json_string(val));
	headers = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	snprintf(status, sizeof(status), "%u", r->status);
	v[0] = d->user;
	v[1] = d->route;
	v[2] = d->key;
	v[3] = d->fingerprint;
	v[4] = status;
	v[5] = headers;
	v[6] = d->body.data ? d->body.data : "";
	res = db_exec(c, e, "INSERT INTO idempotency_keys (user_id, route, "
	    "key, fingerprint, status, headers, body) VALUES ($1, $2, $3, $4, "
	    "$5, $6::jsonb, $7) ON CONFLICT (user_id, route, key) DO UPDATE "
	    "SET fingerprint = excluded.fingerprint, status = excluded.status, "
	    "headers = excluded.headers, body = excluded.body, created_at = "
	    "now() WHERE idempotency_keys.created_at <= now() - interval '"
	    IDEM_TTL "' RETURNING 1", 7, v);
	free(headers);
	if (res == NULL)
		return -1;
	stored = PQntuples(res) == 1;
	PQclear(res);
	if (!stored)
		e->rc = DB_CONFLICT;
	return stored ? 0 : -1;
}

/*
 * Expired keys are deleted by a request that stores one, when this
 * process last purged ten minutes ago or more: no thread of its own, a
 * few minutes' worth of rows at a time, found through the index on
 * created_at. Each server purges; deleting twice is harmless.
 */
static void
purge(void)
{
	struct db_err	e;
	int64_t		now = now_us(), last = atomic_load(&last_purge);

	if (last != 0 && now - last < PURGE_EVERY_US)
		return;
	if (!atomic_compare_exchange_strong(&last_purge, &last, now))
		return;
	PQclear(db_query(&e, 0, "DELETE FROM idempotency_keys WHERE "
	    "created_at <= now() - interval '" IDEM_TTL "'", 0, NULL));
}

/*
 * The handler once more, its transaction having been rolled back: what it
 * answered goes (the stored answer must be the one of the run that
 * commits), and the database layer holds its new transaction. The
 * arguments were parsed once and handlers only read them. After a short
 * random pause, growing with the runs, as db_tx waits between attempts.
 */
static void
run_again(struct req *r, int run)
{
	struct idem	*d = r->idem;

	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->status = 0;
	r->bytes = 0;
	r->etag[0] = '\0';
	buf_free(&d->body);
	d->kept = 0;
	usleep(1000 * (1 + randombytes_uniform(10)) * (useconds_t)run);
	db_tx_hold();
	r->route->handler(r);
}

/*
 * Stores a success with what the handler wrote, or rolls it all back.
 *
 * Why the handler may run again here. Unkeyed, a handler's db_tx runs its
 * SERIALIZABLE transaction again when PostgreSQL reports a serialization
 * failure or a deadlock. Keyed, the transaction stays open after db_tx
 * returns, for the answer to be built and stored in it, and the failure
 * can come later: at a read for the answer, at the INSERT of the stored
 * answer (a row under the key committed since the snapshot), or at the
 * COMMIT, where SSI cancels one of two overlapping transactions that each
 * read what the other wrote (asks for export batches did, until ask_tx
 * made them wait in turn). Only the whole work can be retried, on a new
 * snapshot: db_tx_release reports DB_RETRY, and the handler runs again, up
 * to RUNS_MAX runs in all, the key's lock held all along (a session lock:
 * a rollback keeps it). A lock taken before the snapshot removes one
 * conflict of one route; this covers every route flagged R_IDEMPOTENT,
 * as db_tx does unkeyed. A route that takes a file (R_UPLOAD) is not run
 * again: its handler has moved the file by then.
 */
void
idem_end(struct req *r)
{
	struct idem	*d = r->idem;
	struct db_err	 e;
	int		 ok, rc, run;

	if (d == NULL || !d->locked)
		return;
	for (run = 1;; run++) {
		ok = r->resp != NULL && r->status >= 200 && r->status < 300;
		if (ok && !d->kept)
			log_error("%s: a success not sent as JSON cannot be "
			    "replayed", d->route);
		rc = db_tx_release(&e, ok, ok && d->kept ? store_tx : NULL, r);
		if (rc == 0 || e.rc != DB_RETRY || run == RUNS_MAX ||
		    (r->route->flags & R_UPLOAD))
			break;
		run_again(r, run);
	}
	if (rc != 0 && ok) {
		/* What the answer announced was not kept: it becomes the
		 * error, without the record's ETag. */
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		r->etag[0] = '\0';
		if (e.rc == DB_CONFLICT)
			reply_in_flight(r);
		else
			db_reply_error(r, &e);
		ok = 0;
	}
	unlock(d);
	if (ok)
		purge();
}

void
idem_free(struct idem *d)
{
	if (d == NULL)
		return;
	buf_free(&d->body);
	free(d);
}
