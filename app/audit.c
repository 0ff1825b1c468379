/*
 * audit.c — appending to the event log and verifying its chain.
 *
 * The database computes each link (guichet_event_chain(), migration 0006),
 * so every writer, whatever its language, chains the same way; the
 * verifier recomputes the hashes here from the raw columns, building the
 * text itself, so that neither the trigger nor guichet_event_text() can
 * vouch for a row they were changed to accept. A row changed after
 * insertion no longer hashes to its stored value; a row removed leaves a
 * gap in the sequence and a previous hash that matches nothing; the head
 * row must name the last link, so that cutting the tail shows too.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "util.h"

/*
 * A SERIALIZABLE transaction's snapshot is frozen by its first query; the
 * head row is then updated by each event. Two writers whose snapshots
 * overlap would both update it and one would fail (and be retried, maybe
 * until it gives up). LOCK TABLE takes no snapshot: taken first, it makes
 * the next writer wait for the previous one's commit and see its link.
 */
int
audit_begin(PGconn *c, struct db_err *e)
{
	return db_run(c, e, "LOCK TABLE event_head IN EXCLUSIVE MODE", 0, NULL);
}

int
audit_append(PGconn *c, struct db_err *e, const char *kind, int64_t actor_id,
    int64_t submission_id, json_t *payload)
{
	char		 a[24], s[24], *p;
	const char	*v[4];
	int		 rc;

	snprintf(a, sizeof(a), "%lld", (long long)actor_id);
	snprintf(s, sizeof(s), "%lld", (long long)submission_id);
	p = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	v[0] = kind;
	v[1] = actor_id ? a : NULL;
	v[2] = submission_id ? s : NULL;
	v[3] = p ? p : "{}";
	/* seq, at and the hashes are the trigger's. */
	rc = db_run(c, e, "INSERT INTO events (seq, at, kind, actor_id, "
	    "submission_id, payload, prev_hash, hash) VALUES (0, now(), $1, "
	    "$2, $3, $4::jsonb, '', '')", 4, v);
	free(p);
	return rc;
}

/* Decodes a 32-byte hash from hex (encode(hash, 'hex')). */
static int
hash_of(const char *s, unsigned char out[32])
{
	size_t	n;

	if (sodium_hex2bin(out, 32, s, strlen(s), NULL, &n, NULL) != 0 ||
	    n != 32)
		return -1;
	return 0;
}

static void
report(FILE *out, const char *seq, const char *what)
{
	fprintf(out, "broken: event %s: %s\n", seq, what);
}

int
audit_verify(PGconn *c, FILE *out)
{
	unsigned char	 prev[32] = { 0 }, stored_prev[32], stored[32], h[32];
	crypto_hash_sha256_state st;
	struct buf	 buf = { 0 };
	PGresult	*res = NULL;
	long long	 expect = 1, n = 0, seq;
	int		 rc = -1, i, rows;
	char		 hex[65];

	/* A cursor: the log grows without bound, memory must not. */
	if (PQresultStatus(res = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE "
	    "READ READ ONLY")) != PGRES_COMMAND_OK)
		goto dberr;
	PQclear(res);
	res = PQexec(c, "DECLARE ev NO SCROLL CURSOR FOR SELECT seq, "
	    "encode(prev_hash, 'hex'), encode(hash, 'hex'), (extract(epoch FROM "
	    "at) * 1000000)::bigint, kind, actor_id, submission_id, "
	    "payload::text FROM events ORDER BY seq");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto dberr;
	for (;;) {
		PQclear(res);
		res = PQexec(c, "FETCH 1000 FROM ev");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			goto dberr;
		if ((rows = PQntuples(res)) == 0)
			break;
		for (i = 0; i < rows; i++, n++, expect++) {
			const char *s = PQgetvalue(res, i, 0);

			seq = atoll(s);
			if (seq != expect) {
				fprintf(out, "broken: event %lld is missing "
				    "(the log jumps to %lld)\n", expect, seq);
				rc = 1;
				goto out;
			}
			if (hash_of(PQgetvalue(res, i, 1), stored_prev) ||
			    hash_of(PQgetvalue(res, i, 2), stored)) {
				report(out, s, "malformed hash");
				rc = 1;
				goto out;
			}
			if (sodium_memcmp(stored_prev, prev, 32) != 0) {
				report(out, s, "its previous hash is not the "
				    "hash of the event before it");
				rc = 1;
				goto out;
			}
			buf.len = 0;
			buf_appendf(&buf, "%s|%s|%s|%s|%s|", s,
			    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
			    PQgetvalue(res, i, 5), PQgetvalue(res, i, 6));
			buf_append(&buf, PQgetvalue(res, i, 7),
			    PQgetlength(res, i, 7));
			crypto_hash_sha256_init(&st);
			crypto_hash_sha256_update(&st, prev, 32);
			crypto_hash_sha256_update(&st, (const unsigned char *)
			    buf.data, buf.len);
			crypto_hash_sha256_final(&st, h);
			if (sodium_memcmp(h, stored, 32) != 0) {
				report(out, s, "its content does not match its "
				    "hash (altered after it was written)");
				rc = 1;
				goto out;
			}
			memcpy(prev, h, 32);
		}
	}
	PQclear(res);
	res = PQexec(c, "SELECT seq, encode(hash, 'hex') FROM event_head");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto dberr;
	if (atoll(PQgetvalue(res, 0, 0)) != n ||
	    hash_of(PQgetvalue(res, 0, 1), h) || sodium_memcmp(h, prev, 32)) {
		fprintf(out, "broken: the head names event %s, the log ends at "
		    "event %lld with another hash (events removed at the end)\n",
		    PQgetvalue(res, 0, 0), n);
		rc = 1;
		goto out;
	}
	sodium_bin2hex(hex, sizeof(hex), prev, 32);
	fprintf(out, "intact: %lld event(s), last hash %s\n", n, hex);
	rc = 0;
	goto out;
dberr:
	fprintf(out, "cannot read the event log: %s", PQerrorMessage(c));
out:
	buf_free(&buf);
	PQclear(res);
	PQclear(PQexec(c, "ROLLBACK"));
	return rc;
}
