/*
 * export.c — export batches and the jobs that write them.
 *
 * Asking for a batch fixes what it holds: the window of the event log
 * (after the previous batch of the same guichet, format and scope, up to
 * the head of the log now) or, for a full snapshot, the head alone. The
 * writing is a job: a thread claims the oldest queued batch (or one whose
 * writer stopped beating) with FOR UPDATE SKIP LOCKED, reads the rows in
 * one REPEATABLE READ snapshot through a cursor, writes the files into
 * export_dir/<id>/, syncs them, hashes them, and records them in the same
 * transaction as the "export" event. Progress and heartbeat go through a
 * second connection, so that they are seen while the snapshot lasts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "conf.h"
#include "db.h"
#include "export.h"
#include "form.h"
#include "jobpool.h"
#include "http.h"
#include "util.h"
#include "xformat.h"

#define STALE_SECONDS	60	/* a running batch without heartbeat is taken over */
#define MAX_ATTEMPTS	3

#define BATCH_JSON "json_build_object('id', b.id, 'guichet', b.guichet, " \
	"'format', b.format, 'mode', b.mode, 'departements', b.departements, " \
	"'communes', b.communes, 'after_seq', b.after_seq, 'upto_seq', " \
	"b.upto_seq, 'state', b.state, 'progress', b.progress, 'total', " \
	"b.total, 'counts', b.counts, 'error', b.error, 'created_by', " \
	"b.created_by, 'created_by_name', (SELECT display_name FROM users " \
	"WHERE id = b.created_by), 'created_at', b.created_at, 'started_at', " \
	"b.started_at, 'finished_at', b.finished_at, 'files', (SELECT " \
	"coalesce(json_agg(json_build_object('name', f.name, 'media_type', " \
	"f.media_type, 'bytes', f.bytes, 'sha256', f.sha256, 'rows', f.rows, " \
	"'url', '/api/v1/exports/' || b.id || '/files/' || f.name) ORDER BY " \
	"f.name), '[]') FROM export_files f WHERE f.batch_id = b.id))"

/* --- a batch, as a job ------------------------------------------------------ */

struct job {
	int64_t		 id;
	char		 guichet[16];
	char		 format[16];
	int		 incremental;
	char		*depts;
	char		*communes;
	char		 after[24];
	char		 upto[24];
	int64_t		 actor;
	char		 attempt[16];	/* ours: a taken-over job is not ours */
	int		 lost;		/* taken over by another writer */
	PGconn		*read;		/* the snapshot */
	int64_t		 last_beat;	/* µs */
};

static char *
batch_dir(int64_t id)
{
	return xasprintf("%s/%lld", conf.export_dir, (long long)id);
}

/* mkdir -p for the batch's folder, emptied of a previous attempt's files. */
static int
prepare_dir(const char *dir, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*e;

	if (mkdirs(dir) != 0) {
		log_warn("export folder %s: %s", dir, strerror(errno));
		snprintf(err, errlen, "dossier des exports : %s",
		    xf_syserr(errno));
		return -1;
	}
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	return 0;
}

/* Size and SHA-256 of a written file, after syncing it. */
static int
file_digest(const char *path, char hex[65], int64_t *bytes)
{
	crypto_hash_sha256_state st;
	unsigned char	 buf[65536], h[32];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	if (fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	crypto_hash_sha256_init(&st);
	*bytes = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		crypto_hash_sha256_update(&st, buf, (size_t)n);
		*bytes += n;
	}
	close(fd);
	if (n < 0)
		return -1;
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, 32);
	return 0;
}

/* Rows written: the progress and the heartbeat, once a second at most. */
static int
job_progress(void *arg, int64_t rows)
{
	struct job	*j = arg;
	struct db_err	 e;
	char		 id[24], n[24];
	const char	*v[2] = { id, n };
	PGresult	*res;

	if (now_us() - j->last_beat < 1000000)
		return 0;
	j->last_beat = now_us();
	snprintf(id, sizeof(id), "%lld", (long long)j->id);
	snprintf(n, sizeof(n), "%lld", (long long)rows);
	res = db_query(&e, DB_IDEMPOTENT, "UPDATE export_batches SET progress "
	    "= $2, heartbeat_at = now() WHERE id = $1", 2, v);
	PQclear(res);
	return 0;
}

struct finish {
	struct job	*j;
	json_t		*files;
	json_t		*counts;
	int64_t		 rows;
};

static int
finish_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct finish	*f = arg;
	char		 id[24], rows[24], bytes[24], *counts;
	const char	*v[6];
	PGresult	*res;
	json_t		*fl;
	size_t		 i;

	if (audit_begin(c, e))
		return -1;
	snprintf(id, sizeof(id), "%lld", (long long)f->j->id);
	/* Still ours: a writer whose heartbeat stopped may have been
	 * replaced, and the replacement records the batch. */
	counts = json_dumps(f->counts, JSON_COMPACT);
	snprintf(rows, sizeof(rows), "%lld", (long long)f->rows);
	v[0] = id;
	v[1] = counts;
	v[2] = rows;
	v[3] = f->j->attempt;
	res = db_exec(c, e, "UPDATE export_batches SET state = 'done', counts = "
	    "$2::jsonb, progress = $3, finished_at = now() WHERE id = $1 AND "
	    "state = 'running' AND attempts = $4::int RETURNING 1", 4, v);
	free(counts);
	if (res == NULL)
		return -1;
	f->j->lost = PQntuples(res) == 0;
	PQclear(res);
	if (f->j->lost) {
		memset(e, 0, sizeof(*e));
		return -1;
	}
	json_array_foreach(f->files, i, fl) {
		snprintf(bytes, sizeof(bytes), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(fl, "bytes")));
		snprintf(rows, sizeof(rows), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(fl, "rows")));
		v[0] = id;
		v[1] = json_string_value(json_object_get(fl, "name"));
		v[2] = json_string_value(json_object_get(fl, "media_type"));
		v[3] = bytes;
		v[4] = json_string_value(json_object_get(fl, "sha256"));
		v[5] = rows;
		if (db_run(c, e, "INSERT INTO export_files (batch_id, name, "
		    "media_type, bytes, sha256, rows) VALUES ($1, $2, $3, $4, $5, "
		    "$6)", 6, v))
			return -1;
	}
	return audit_append(c, e, "export", f->j->actor, 0, json_pack(
	    "{s:I, s:s, s:s, s:s, s:O, s:O}", "batch", (json_int_t)f->j->id,
	    "guichet", f->j->guichet, "format", f->j->format, "mode",
	    f->j->incremental ? "incremental" : "full", "counts", f->counts,
	    "files", f->files));
}

/* What the batch holds, by operation (created, modified, deleted). */
static json_t *
count_changes(struct job *j, char *err, size_t errlen)
{
	const char	*v[5] = { j->guichet, j->after, j->upto, j->depts,
	    j->communes };
	PGresult	*res;
	json_t		*counts;

	res = PQexecParams(j->read, j->incremental ? "SELECT json_object_agg("
	    "operation, n) FROM (SELECT ch.operation, count(*) AS n FROM "
	    "guichet_changes($1, $2, $3) ch JOIN submissions s ON s.id = ch.id "
	    "WHERE guichet_in_scope($4::text[], $5::text[], s.insee_commune, "
	    "s.departement) GROUP BY 1) t" :
	    "SELECT json_build_object('create', count(*)) FROM submissions s "
	    "WHERE s.guichet = $1 AND s.state = 'validated' AND s.operation = "
	    "'create' AND $2::bigint < 0 AND $3::bigint >= 0 AND "
	    "guichet_in_scope($4::text[], $5::text[], s.insee_commune, "
	    "s.departement)", 5, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "comptage : %s", PQerrorMessage(j->read));
		PQclear(res);
		return NULL;
	}
	counts = PQgetisnull(res, 0, 0) ? json_object() :
	    json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	return counts ? counts : json_object();
}

/*
 * Writes batch j: its files, their digests, the record and the event.
 * Returns 0, or -1 with a French message in err.
 */
static int
job_run(struct job *j, char *err, size_t errlen)
{
	const struct form *f = form_find(j->guichet);
	struct xf_spec	 x;
	struct finish	 fin = { j, json_array(), NULL, 0 };
	struct db_err	 e;
	PGresult	*res = NULL;
	char		*dir = batch_dir(j->id), *sql = NULL, *stem = NULL, *path;
	char		*query;
	char		 hex[65], id[24], total[24];
	const char	*v[5] = { j->guichet, j->after, j->upto, j->depts,
	    j->communes }, *tv[2] = { id, total };
	json_t		*fl;
	int64_t		 bytes;
	size_t		 i;
	int		 rc = -1, spec = 0;

	if (f == NULL || xf_spec_init(&x, f, j->format, j->incremental, err,
	    errlen) != 0)
		goto out;
	spec = 1;
	if (prepare_dir(dir, err, errlen) != 0)
		goto out;
	if ((j->read = db_connect(err, errlen)) == NULL)
		goto out;
	res = PQexec(j->read, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(j->read));
		goto out;
	}
	PQclear(res);
	res = NULL;
	if ((fin.counts = count_changes(j, err, errlen)) == NULL)
		goto out;
	snprintf(id, sizeof(id), "%lld", (long long)j->id);
	snprintf(total, sizeof(total), "%lld", (long long)(json_integer_value(
	    json_object_get(fin.counts, "create")) + json_integer_value(
	    json_object_get(fin.counts, "modify")) + json_integer_value(
	    json_object_get(fin.counts, "delete"))));
	query = xf_query(&x);
	/* Progress counts rows written: a BAL file's rows are its communes'
	 * addresses and lieux-dits, counted on the same snapshot. */
	if (strcmp(j->format, "bal") == 0) {
		sql = xasprintf("SELECT count(*) FROM (%s) q", query);
		res = PQexecParams(j->read, sql, 5, NULL, v, NULL, NULL, 0);
		free(sql);
		sql = NULL;
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(err, errlen, "comptage : %s",
			    PQerrorMessage(j->read));
			free(query);
			goto out;
		}
		snprintf(total, sizeof(total), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = NULL;
	}
	PQclear(db_query(&e, DB_IDEMPOTENT, "UPDATE export_batches SET total = "
	    "$2 WHERE id = $1", 2, tv));
	sql = xasprintf("DECLARE x NO SCROLL CURSOR FOR %s", query);
	free(query);
	res = PQexecParams(j->read, sql, 5, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "requête : %s", PQerrorMessage(j->read));
		goto out;
	}
	PQclear(res);
	res = NULL;
	stem = xasprintf("%s_%s_lot%lld", j->guichet, j->incremental ?
	    "increment" : "complet", (long long)j->id);
	if (xf_write(&x, j->read, dir, stem, fin.files, job_progress, j, err,
	    errlen) != 0)
		goto out;
	json_array_foreach(fin.files, i, fl) {
		path = xasprintf("%s/%s", dir, json_string_value(
		    json_object_get(fl, "name")));
		if (file_digest(path, hex, &bytes) != 0) {
			log_warn("export file %s: %s", path, strerror(errno));
			snprintf(err, errlen, "relecture du fichier : %s",
			    xf_syserr(errno));
			free(path);
			goto out;
		}
		free(path);
		json_object_set_new(fl, "sha256", json_string(hex));
		json_object_set_new(fl, "bytes", json_integer(bytes));
		if (strcmp(json_string_value(json_object_get(fl, "media_type")),
		    "text/plain; charset=utf-8") != 0)
			fin.rows += json_integer_value(json_object_get(fl, "rows"));
	}
	if (db_tx(&e, finish_tx, &fin) != 0) {
		snprintf(err, errlen, "enregistrement du lot : erreur %s",
		    e.sqlstate);
		goto out;
	}
	rc = 0;
out:
	if (j->read != NULL) {
		PQclear(PQexec(j->read, "ROLLBACK"));
		PQfinish(j->read);
		j->read = NULL;
	}
	PQclear(res);
	if (spec)
		xf_spec_free(&x);
	json_decref(fin.files);
	json_decref(fin.counts);
	free(sql);
	free(stem);
	free(dir);
	return rc;
}

/* --- claiming and running jobs --------------------------------------------- */

#define JOB_COLUMNS "b.id, b.guichet, b.format, b.mode, b.departements, " \
	"b.communes, b.after_seq, b.upto_seq, coalesce(b.created_by, 0), " \
	"b.state, b.attempts"

static void
job_read(struct job *j, PGresult *res)
{
	memset(j, 0, sizeof(*j));
	j->id = atoll(PQgetvalue(res, 0, 0));
	snprintf(j->guichet, sizeof(j->guichet), "%s", PQgetvalue(res, 0, 1));
	snprintf(j->format, sizeof(j->format), "%s", PQgetvalue(res, 0, 2));
	j->incremental = strcmp(PQgetvalue(res, 0, 3), "incremental") == 0;
	j->depts = xstrdup(PQgetvalue(res, 0, 4));
	j->communes = xstrdup(PQgetvalue(res, 0, 5));
	snprintf(j->after, sizeof(j->after), "%s", PQgetvalue(res, 0, 6));
	snprintf(j->upto, sizeof(j->upto), "%s", PQgetvalue(res, 0, 7));
	j->actor = atoll(PQgetvalue(res, 0, 8));
	snprintf(j->attempt, sizeof(j->attempt), "%s", PQgetvalue(res, 0, 10));
}

/* A batch its asker writes (the command line): already running. */
static int
job_load(struct job *j, int64_t id)
{
	struct db_err	 e;
	PGresult	*res;
	char		 ids[24];
	const char	*v[1] = { ids };

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	res = db_query(&e, DB_IDEMPOTENT, "SELECT " JOB_COLUMNS " FROM "
	    "export_batches b WHERE b.id = $1", 1, v);
	if (res == NULL || PQntuples(res) == 0) {
		PQclear(res);
		return -1;
	}
	job_read(j, res);
	PQclear(res);
	return 0;
}

/*
 * Claims the oldest queued batch, or one whose writer stopped (a crash, a
 * restart): its heartbeat is older than STALE_SECONDS. A batch tried
 * MAX_ATTEMPTS times is failed instead.
 */
static int
claim(struct job *j)
{
	struct db_err	 e;
	PGresult	*res;
	char		 stale[16], most[16];
	const char	*v[2] = { stale, most };

	snprintf(stale, sizeof(stale), "%d", STALE_SECONDS);
	snprintf(most, sizeof(most), "%d", MAX_ATTEMPTS);
	res = db_query(&e, 0, "UPDATE export_batches b SET state = CASE WHEN "
	    "b.attempts >= $2::int THEN 'failed' ELSE 'running' END, error = "
	    "CASE WHEN b.attempts >= $2::int THEN 'abandonné après ' || $2 || "
	    "' tentatives' END, attempts = b.attempts + 1, started_at = now(), "
	    "heartbeat_at = now(), progress = 0 WHERE b.id = (SELECT id FROM "
	    "export_batches WHERE state = 'queued' OR (state = 'running' AND "
	    "heartbeat_at < now() - make_interval(secs => $1::int)) ORDER BY id "
	    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " JOB_COLUMNS, 2, v);
	if (res == NULL || PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	job_read(j, res);
	if (strcmp(PQgetvalue(res, 0, 9), "failed") == 0) {
		log_warn("export batch %lld abandoned after %d attempts",
		    (long long)j->id, MAX_ATTEMPTS);
		PQclear(res);
		free(j->depts);
		free(j->communes);
		return 0;
	}
	PQclear(res);
	return 1;
}

/* Runs a claimed job to its end; returns 0 when written. */
static int
job_do(struct job *j)
{
	struct db_err	 e;
	char		 err[512], id[24];
	const char	*v[3] = { id, err, j->attempt };
	int64_t		 t0 = now_us();
	int		 rc;

	j->last_beat = now_us();
	err[0] = '\0';
	rc = job_run(j, err, sizeof(err));
	snprintf(id, sizeof(id), "%lld", (long long)j->id);
	if (rc != 0 && j->lost)
		log_warn("export batch %lld: taken over by another writer",
		    (long long)j->id);
	else if (rc != 0) {
		utf8_trim(err);
		log_warn("export batch %lld failed: %s", (long long)j->id, err);
		PQclear(db_query(&e, 0, "UPDATE export_batches SET state = "
		    "'failed', error = $2, finished_at = now() WHERE id = $1 AND "
		    "state = 'running' AND attempts = $3::int", 3, v));
	} else
		log_info("export batch %lld (%s %s) written in %.1f s",
		    (long long)j->id, j->guichet, j->format,
		    (now_us() - t0) / 1e6);
	free(j->depts);
	free(j->communes);
	return rc;
}

/* One export job, if one is waiting: 1 when one was run. */
static int
step(void)
{
	struct job	j;

	if (!claim(&j))
		return 0;
	job_do(&j);
	return 1;
}

static struct jobpool	pool = { "export", step };

void
export_start(void)
{
	jobpool_start(&pool, conf.export_workers);
}

void
export_stop(void)
{
	jobpool_stop(&pool);
}

/* --- asking for a batch ---------------------------------------------------- */

struct ask {
	const char	*guichet, *format, *mode;
	char		*depts, *communes;	/* PostgreSQL array literals */
	int64_t		 actor;
	json_t		*out;
	int		 claimed;	/* written by the asker (command line) */
	int		 busy;		/* a batch of the series is under way */
};

/*
 * Asks for a batch: fixes its window and queues it (or, on the command
 * line, marks it running for its asker).
 *
 * Why the table lock first. An ask reads export_batches (is a batch of the
 * series under way? where did the last one stop?), then inserts into it,
 * in a SERIALIZABLE transaction. Two asks whose snapshots overlap each read
 * what the other writes, and PostgreSQL cancels one (40001), whatever
 * their series: the table's predicate locks are coarse (a sequential scan
 * locks it all). db_tx runs the loser again, and so does idem_end when the
 * request had an Idempotency-Key, but a burst of asks (a script, a
 * security scan) can spend their retries and get 503. LOCK TABLE takes no
 * snapshot: taken first, it makes an ask wait for the previous one's
 * commit, then see its batch (409 when of the same series), as
 * audit_begin does for the event log. A lock per series would not do: an
 * advisory lock is taken by a query, and the query takes the snapshot
 * first. SHARE ROW EXCLUSIVE conflicts with itself and with row writes
 * (a writer's heartbeat waits for an ask's commit), not with reads; asks
 * are rare and short, so waiting in turn costs little.
 */
static int
ask_tx(PGconn *c, void *arg, struct db_err *e)
{
	struct ask	*a = arg;
	char		 actor[24];
	const char	*v[7] = { a->guichet, a->format, a->mode, a->depts,
	    a->communes, actor, a->claimed ? "t" : "f" };
	PGresult	*res;

	if (db_run(c, e, "LOCK TABLE export_batches IN SHARE ROW EXCLUSIVE "
	    "MODE", 0, NULL))
		return -1;
	snprintf(actor, sizeof(actor), "%lld", (long long)a->actor);
	/* One batch of a series at a time: a batch that fails leaves its
	 * window to the next only if no other started after it. */
	if (strcmp(a->mode, "incremental") == 0) {
		res = db_exec(c, e, "SELECT 1 FROM export_batches WHERE guichet = "
		    "$1 AND format = $2 AND mode = $3 AND state IN ('queued', "
		    "'running') AND scope = guichet_scope($4::text[], "
		    "$5::text[])", 5, v);
		if (res == NULL)
			return -1;
		a->busy = PQntuples(res) > 0;
		PQclear(res);
		if (a->busy) {
			memset(e, 0, sizeof(*e));
			return -1;
		}
	}
	/* An incremental batch starts where the last one (not failed) of its
	 * chain stopped; a full one holds what is validated at the head. A
	 * batch asked for on the command line is its asker's at once. */
	res = db_exec(c, e, "WITH prev AS (SELECT max(upto_seq) AS upto FROM "
	    "export_batches WHERE guichet = $1 AND format = $2 AND mode = "
	    "'incremental' AND state <> 'failed' AND scope = guichet_scope("
	    "$4::text[], $5::text[])) INSERT INTO export_batches (guichet, "
	    "format, mode, departements, communes, scope, after_seq, upto_seq, "
	    "created_by, state, attempts, started_at, heartbeat_at) SELECT $1, "
	    "$2, $3, $4::text[], $5::text[], guichet_scope($4::text[], "
	    "$5::text[]), CASE WHEN $3 = 'incremental' THEN coalesce(prev.upto, "
	    "0) ELSE -1 END, (SELECT seq FROM event_head), nullif($6::bigint, "
	    "0), CASE WHEN $7 THEN 'running' ELSE 'queued' END, CASE WHEN $7 "
	    "THEN 1 ELSE 0 END, CASE WHEN $7 THEN now() END, CASE WHEN $7 THEN "
	    "now() END FROM prev RETURNING id", 7, v);
	if (res == NULL)
		return -1;
	json_decref(a->out);
	a->out = json_integer(atoll(PQgetvalue(res, 0, 0)));
	PQclear(res);
	return 0;
}

/* Text array literal of a validated list parameter (codes), or "{}". */
static char *
codes_literal(const struct param_val *p)
{
	struct buf	b = { 0 };
	json_t		*c;
	size_t		 i;

	buf_puts(&b, "{");
	if (p != NULL && p->set && !p->isnull)
		json_array_foreach(p->a, i, c)
			buf_appendf(&b, "%s%s", i ? "," : "",
			    json_string_value(c));
	buf_puts(&b, "}");
	return b.data;
}

static void
reply_batch(struct req *r, int64_t id, unsigned status)
{
	char		 ids[24];
	const char	*v[1] = { ids };
	PGresult	*res;
	json_t		*j;

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	if ((res = db_query_row(r, "SELECT " BATCH_JSON " FROM export_batches b "
	    "WHERE b.id = $1", 1, v, "Ce lot d'export n'existe pas.")) == NULL)
		return;
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	http_reply_json(r, status, j ? j : json_object());
}

void
export_create(struct req *r)
{
	struct ask	 a = { req_param(r, "guichet")->s, req_param(r,
	    "format")->s, req_param(r, "mode")->set ? req_param(r, "mode")->s :
	    "incremental", codes_literal(req_param(r, "departements")),
	    codes_literal(req_param(r, "communes")), r->who->user_id, NULL, 0,
	    0 };
	struct db_err	 e;

	if (!xf_known(a.format, a.guichet)) {
		http_reply_error(r, 422, "format_not_applicable", strcmp(a.guichet,
		    "adresse") == 0 ? "Les adresses s'exportent au format BAL." :
		    "Le format BAL ne s'applique qu'aux adresses.", "format");
	} else if (db_tx(&e, ask_tx, &a) != 0) {
		if (a.busy)
			http_reply_error(r, 409, "batch_in_progress", "Un lot de "
			    "la même série est en cours : attendez qu'il soit "
			    "écrit.", NULL);
		else if (e.rc == DB_CONFLICT)
			http_reply_error(r, 409, "batch_in_progress", "Un lot de "
			    "la même série vient d'être demandé : réessayez.",
			    NULL);
		else
			db_reply_error(r, &e);
	} else
		reply_batch(r, json_integer_value(a.out), 202);
	json_decref(a.out);
	free(a.depts);
	free(a.communes);
}

void
export_get(struct req *r)
{
	reply_batch(r, req_param(r, "id")->i, 200);
}

void
export_list(struct req *r)
{
	const struct param_val *g = req_param(r, "guichet"),
	    *lim = req_param(r, "limit"), *off = req_param(r, "offset");
	char		 l[16], o[16];
	const char	*v[3] = { g->set ? g->s : NULL, l, o };

	snprintf(l, sizeof(l), "%lld", lim->set ? lim->i : 50);
	snprintf(o, sizeof(o), "%lld", off->set ? off->i : 0);
	db_reply_json(r, "SELECT json_build_object('batches', coalesce(json_agg("
	    BATCH_JSON " ORDER BY b.id DESC), '[]')) FROM (SELECT * FROM "
	    "export_batches WHERE $1::text IS NULL OR guichet = $1 ORDER BY id "
	    "DESC LIMIT $2 OFFSET $3) b", 3, v, "");
}

/*
 * A file of a batch, as it was written: streamed from disk, its SHA-256 as
 * ETag. The name must be one the batch recorded: the path never comes from
 * the request alone.
 */
void
export_file(struct req *r)
{
	struct MHD_Response *resp;
	char		 ids[24], *path, disp[300], etag[70];
	const char	*v[2] = { ids, req_param(r, "name")->s }, *inm;
	PGresult	*res;
	struct stat	 st;
	int		 fd;

	snprintf(ids, sizeof(ids), "%lld", req_param(r, "id")->i);
	if ((res = db_query_row(r, "SELECT f.name, f.media_type, f.sha256, "
	    "f.bytes FROM export_files f WHERE f.batch_id = $1 AND f.name = $2",
	    2, v, "Ce fichier n'existe pas.")) == NULL)
		return;
	path = xasprintf("%s/%s/%s", conf.export_dir, ids, PQgetvalue(res, 0, 0));
	snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(res, 0, 2));
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size !=
	    atoll(PQgetvalue(res, 0, 3))) {
		log_error("export file %s missing or changed", path);
		if (fd >= 0)
			close(fd);
		http_reply_error(r, 410, "file_gone", "Ce fichier n'est plus "
		    "disponible sur ce serveur.", NULL);
		goto out;
	}
	inm = req_header(r, "If-None-Match");
	if (http_etag_matches(inm, etag)) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, "",
		    MHD_RESPMEM_PERSISTENT);
		r->status = 304;
	} else {
		resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
		r->status = 200;
		r->bytes = (size_t)st.st_size;
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"",
		    PQgetvalue(res, 0, 0));
		MHD_add_response_header(resp, "Content-Type",
		    PQgetvalue(res, 0, 1));
		MHD_add_response_header(resp, "Content-Disposition", disp);
	}
	MHD_add_response_header(resp, "ETag", etag);
	http_common_headers(resp, 1);
	http_reply(r, r->status, resp);
out:
	free(path);
	PQclear(res);
}

/*
 * The first rows an export would hold, as columns and text values: what
 * the admin checks before asking for the batch (BD TOPO formats show their
 * columns, BAL its lines).
 */
void
export_preview(struct req *r)
{
	const struct form *f = form_find(req_param(r, "guichet")->s);
	const char	*format = req_param(r, "format")->s;
	int		 incr = !req_param(r, "mode")->set || strcmp(req_param(r,
			    "mode")->s, "incremental") == 0;
	struct xf_spec	 x;
	struct db_err	 e;
	PGresult	*res = NULL;
	char		 err[256], *q = NULL, *sql = NULL, *d, *c;
	char		*after = NULL, upto[24];
	const char	*v[5];
	json_t		*out, *cols, *rows, *row;
	char		*tmp;
	int		 i, k;

	/* The CSV's view of the columns (the Shapefile names for csv_shp). */
	if (xf_spec_init(&x, f, strcmp(format, "bal") == 0 ||
	    strcmp(format, "csv_shp") == 0 ? format : "csv", incr, err,
	    sizeof(err)) != 0) {
		http_reply_error(r, 422, "format_not_applicable", strcmp(
		    form_guichet(f), "adresse") == 0 ? "Les adresses s'exportent "
		    "au format BAL." : "Le format BAL ne s'applique qu'aux "
		    "adresses.", "format");
		return;
	}
	d = codes_literal(req_param(r, "departements"));
	c = codes_literal(req_param(r, "communes"));
	/* The window the next incremental batch of this series would have. */
	{
		const char *w[4] = { form_guichet(f), format, d, c };

		res = db_query(&e, DB_IDEMPOTENT, "SELECT coalesce(max(upto_seq), "
		    "0), (SELECT seq FROM event_head) FROM export_batches WHERE "
		    "guichet = $1 AND format = $2 AND mode = 'incremental' AND "
		    "state <> 'failed' AND scope = guichet_scope($3::text[], "
		    "$4::text[])", 4, w);
		if (res == NULL) {
			db_reply_error(r, &e);
			goto out;
		}
		after = xstrdup(incr ? PQgetvalue(res, 0, 0) : "-1");
		snprintf(upto, sizeof(upto), "%s", PQgetvalue(res, 0, 1));
		PQclear(res);
		res = NULL;
	}
	v[0] = form_guichet(f);
	v[1] = after;
	v[2] = upto;
	v[3] = d;
	v[4] = c;
	q = xf_query(&x);
	sql = xasprintf("%s LIMIT 20", q);
	if ((res = db_query(&e, DB_IDEMPOTENT, sql, 5, v)) == NULL) {
		db_reply_error(r, &e);
		goto out;
	}
	cols = json_array();
	rows = json_array();
	if (strcmp(format, "bal") == 0) {	/* its columns, after 5 keys */
		for (k = 5; k < PQnfields(res); k++)
			json_array_append_new(cols, json_string(PQfname(res, k)));
		for (i = 0; i < PQntuples(res); i++) {
			json_array_append_new(rows, row = json_array());
			for (k = 5; k < PQnfields(res); k++)
				json_array_append_new(row, PQgetisnull(res, i, k) ?
				    json_null() : json_string(PQgetvalue(res, i, k)));
		}
	} else {			/* the CSV's: WKT, then the columns */
		json_array_append_new(cols, json_string("WKT"));
		for (k = 0; k < (int)x.ncols; k++)
			json_array_append_new(cols, json_string(x.cols[k].name));
		for (i = 0; i < PQntuples(res); i++) {
			json_array_append_new(rows, row = json_array());
			json_array_append_new(row, json_string(PQgetvalue(res, i,
			    XF_GEOM)));
			for (k = 0; k < (int)x.ncols; k++) {
				const char *t = xf_text(&x.cols[k], res, i, k +
				    XF_FIRST, &tmp);

				json_array_append_new(row, t ? json_string(t) :
				    json_null());
				free(tmp);
			}
		}
	}
	out = json_pack("{s:o, s:o, s:I, s:I}", "columns", cols, "rows", rows,
	    "after_seq", (json_int_t)atoll(after), "upto_seq",
	    (json_int_t)atoll(upto));
	http_reply_json(r, 200, out);
out:
	PQclear(res);
	xf_spec_free(&x);
	free(q);
	free(sql);
	free(d);
	free(c);
	free(after);
}

/* --- the command line --------------------------------------------------------- */

/*
 * guichet export: asks for a batch like the API does (by the command line:
 * no account) and writes it in this process, through the same job code,
 * printing its files. For cron jobs and for the benchmark.
 */
int
export_cli(int argc, char **argv)
{
	struct ask	 a = { NULL, NULL, "incremental", NULL, NULL, 0, NULL, 1,
	    0 };
	struct db_err	 e;
	struct job	 j;
	const char	*depts = "", *communes = "";
	char		*dir, err[512];
	json_t		*b, *f;
	size_t		 n;
	int		 i, rc;

	if (form_load_all(conf.forms_dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "guichet export: %s\n", err);
		return 1;
	}
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--guichet") == 0)
			a.guichet = argv[i + 1];
		else if (strcmp(argv[i], "--format") == 0)
			a.format = argv[i + 1];
		else if (strcmp(argv[i], "--mode") == 0)
			a.mode = argv[i + 1];
		else if (strcmp(argv[i], "--departements") == 0)
			depts = argv[i + 1];
		else if (strcmp(argv[i], "--communes") == 0)
			communes = argv[i + 1];
		else
			break;
	}
	if (i != argc || a.guichet == NULL || a.format == NULL ||
	    form_find(a.guichet) == NULL || !xf_known(a.format, a.guichet) ||
	    (strcmp(a.mode, "incremental") && strcmp(a.mode, "full")) ||
	    strspn(depts, "0123456789AB,") != strlen(depts) ||
	    strspn(communes, "0123456789AB,") != strlen(communes)) {
		fprintf(stderr, "usage: guichet export --guichet erp|equipco|"
		    "adresse --format gpkg|geojson|csv|csv_shp|ign|bal [--mode "
		    "incremental|full] [--departements 31,34] [--communes 31555]\n");
		return 2;
	}
	a.depts = xasprintf("{%s}", depts);
	a.communes = xasprintf("{%s}", communes);
	if (db_tx(&e, ask_tx, &a) != 0) {
		fprintf(stderr, "guichet export: %s\n", a.busy ? "a batch of "
		    "the same series is under way" : e.sqlstate);
		rc = 1;
		goto out;
	}
	if (job_load(&j, json_integer_value(a.out)) != 0) {
		fprintf(stderr, "guichet export: batch %lld unreadable\n",
		    (long long)json_integer_value(a.out));
		rc = 1;
		goto out;
	}
	if ((rc = job_do(&j) != 0 ? 1 : 0) == 0) {
		char ids[24];
		const char *v[1] = { ids };
		PGresult *res;

		snprintf(ids, sizeof(ids), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(a.out));
		res = db_query(&e, DB_IDEMPOTENT, "SELECT " BATCH_JSON " FROM "
		    "export_batches b WHERE b.id = $1", 1, v);
		b = res ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
		PQclear(res);
		dir = batch_dir(json_integer_value(a.out));
		printf("batch %" JSON_INTEGER_FORMAT " in %s:\n",
		    json_integer_value(a.out), dir);
		free(dir);
		json_array_foreach(json_object_get(b, "files"), n, f)
			printf("  %s  %" JSON_INTEGER_FORMAT " row(s)  %"
			    JSON_INTEGER_FORMAT " bytes  sha256 %s\n",
			    json_string_value(json_object_get(f, "name")),
			    json_integer_value(json_object_get(f, "rows")),
			    json_integer_value(json_object_get(f, "bytes")),
			    json_string_value(json_object_get(f, "sha256")));
		json_decref(b);
	}
out:
	json_decref(a.out);
	free(a.depts);
	free(a.communes);
	db_thread_close();
	form_free_all();
	return rc;
}
