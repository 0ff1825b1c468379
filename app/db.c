/*
 * db.c — PostgreSQL connections and error mapping.
 *
 * Each libmicrohttpd worker thread owns one PGconn, kept in thread-specific
 * data whose destructor closes it when the thread ends. A connection found
 * broken is dropped and reopened on next use; while PostgreSQL is down, new
 * attempts are spaced by half a second so that a burst of requests gets fast
 * 503s instead of each waiting for a connect timeout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "db.h"
#include "http.h"
#include "util.h"

#define RECONNECT_SPACING_US	500000
#define PREPARED_MAX		16

/*
 * prepared[] lists the statements (by the address of their static text)
 * prepared on conn as "g<index>"; a new connection starts with none.
 */
struct dbthr {
	PGconn		*conn;
	int64_t		 last_failure;
	const char	*prepared[PREPARED_MAX];
	int		 nprepared;
	int		 hold;		/* HOLD_*, see db_tx_hold() */
};

/*
 * What db_tx does with the transaction it would commit (db_tx_hold); from
 * OPEN on, one is (or was) held open. A held transaction is DOOMED when
 * one of its statements met a serialization failure or a deadlock: it can
 * only be rolled back, and its work run again from the start. LOST (the
 * connection went, and the request's advisory lock with it) wins over
 * DOOMED.
 */
enum { HOLD_OFF, HOLD_ARMED, HOLD_OPEN, HOLD_DOOMED, HOLD_LOST };

static pthread_key_t	thr_key;
static pthread_once_t	thr_once = PTHREAD_ONCE_INIT;

static void
thr_destroy(void *p)
{
	struct dbthr	*t = p;

	if (t->conn != NULL)
		PQfinish(t->conn);
	free(t);
}

static void
thr_init(void)
{
	if (pthread_key_create(&thr_key, thr_destroy) != 0)
		fatal("pthread_key_create failed");
}

static struct dbthr *
thr_get(void)
{
	struct dbthr	*t;

	pthread_once(&thr_once, thr_init);
	if ((t = pthread_getspecific(thr_key)) == NULL) {
		t = xcalloc(1, sizeof(*t));
		pthread_setspecific(thr_key, t);
	}
	return t;
}

void
db_thread_close(void)
{
	struct dbthr	*t = thr_get();

	if (t->conn != NULL)
		PQfinish(t->conn);
	t->conn = NULL;
	t->last_failure = 0;
	t->nprepared = 0;
	if (t->hold == HOLD_OPEN || t->hold == HOLD_DOOMED)
		t->hold = HOLD_LOST;
}

/* libpq notices (e.g. "extension already exists") are not for the log. */
static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgresql: %s", msg);
}

/*
 * The `database` key is a libpq connection string or URI; when empty, libpq
 * takes PGHOST, PGPORT, PGDATABASE, PGUSER... from the environment as usual.
 */
PGconn *
db_connect(char *err, size_t errlen)
{
	const char	*kw[6], *val[6];
	char		 timeout[16], options[64];
	PGconn		*c;
	size_t		 n;

	snprintf(timeout, sizeof(timeout), "%lld", conf.db_connect_timeout);
	snprintf(options, sizeof(options), "-c statement_timeout=%lld",
	    conf.db_statement_timeout);
	kw[0] = "dbname";		val[0] = conf.database;
	kw[1] = "connect_timeout";	val[1] = timeout;
	kw[2] = "application_name";	val[2] = "guichet";
	kw[3] = "options";		val[3] = options;
	kw[4] = "client_encoding";	val[4] = "UTF8";
	kw[5] = NULL;			val[5] = NULL;
	c = PQconnectdbParams(kw, val, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", c ? PQerrorMessage(c) :
		    "out of memory");
		n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
		if (c != NULL)
			PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

PGconn *
db_connect_or_die(void)
{
	char	 err[512];
	PGconn	*c;

	if ((c = db_connect(err, sizeof(err))) == NULL)
		fatal("cannot connect to PostgreSQL: %s", err);
	return c;
}

static PGconn *
thread_conn(struct db_err *e)
{
	struct dbthr	*t = thr_get();
	char		 err[512];

	if (t->conn != NULL && PQstatus(t->conn) == CONNECTION_OK)
		return t->conn;
	if (t->conn != NULL) {
		PQfinish(t->conn);
		t->conn = NULL;
		if (t->hold == HOLD_OPEN || t->hold == HOLD_DOOMED)
			t->hold = HOLD_LOST;
	}
	t->nprepared = 0;
	if (t->last_failure != 0 &&
	    now_us() - t->last_failure < RECONNECT_SPACING_US) {
		e->rc = DB_UNAVAILABLE;
		return NULL;
	}
	if ((t->conn = db_connect(err, sizeof(err))) == NULL) {
		t->last_failure = now_us();
		log_warn("database unreachable: %s", err);
		e->rc = DB_UNAVAILABLE;
		return NULL;
	}
	t->last_failure = 0;
	return t->conn;
}

/*
 * A serialization failure or a deadlock on the thread's connection while
 * it holds a transaction open dooms that transaction (HOLD_DOOMED), under
 * a savepoint too: unheld, db_tx would have run the work again on a new
 * snapshot, and held, only the whole request's work can be (a serializable
 * transaction canceled as a pivot refuses to commit anyway, and a
 * statement that met a concurrent update fails again on the same
 * snapshot).
 */
static void
doom_held(PGconn *c)
{
	struct dbthr	*t = thr_get();

	if (t->hold == HOLD_OPEN && t->conn == c)
		t->hold = HOLD_DOOMED;
}

/*
 * Sorts a failed result into an error class from its SQLSTATE, or from the
 * connection state when the server went away (no SQLSTATE then).
 */
static void
classify(PGconn *c, const PGresult *res, struct db_err *e)
{
	const char	*st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char	*cons = res ? PQresultErrorField(res,
			    PG_DIAG_CONSTRAINT_NAME) : NULL;

	snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", st ? st : "");
	snprintf(e->constraint, sizeof(e->constraint), "%s", cons ? cons : "");
	if (PQstatus(c) != CONNECTION_OK || st == NULL ||
	    strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
		e->rc = DB_UNAVAILABLE;
	else if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0) {
		e->rc = DB_RETRY;
		doom_held(c);
	} else if (strcmp(st, "57014") == 0)
		e->rc = DB_TIMEOUT;
	else if (strncmp(st, "23", 2) == 0)
		e->rc = DB_CONFLICT;
	else if (strncmp(st, "22", 2) == 0)
		e->rc = DB_INVALID;
	else
		e->rc = DB_ERROR;
	if (e->rc == DB_ERROR || e->rc == DB_UNAVAILABLE)
		log_warn("postgresql %s: %s", e->sqlstate[0] ? e->sqlstate :
		    "(no state)", res ? PQresultErrorMessage(res) :
		    PQerrorMessage(c));
}

/* res if it succeeded; else NULL, res freed and e filled. */
static PGresult *
checked(PGconn *c, PGresult *res, struct db_err *e)
{
	ExecStatusType	st = PQresultStatus(res);

	if (res != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
		return res;
	classify(c, res, e);
	PQclear(res);
	return NULL;
}

PGresult *
db_exec(PGconn *c, struct db_err *e, const char *sql, int n,
    const char *const *values)
{
	memset(e, 0, sizeof(*e));
	return checked(c, PQexecParams(c, sql, n, NULL, values, NULL, NULL, 0),
	    e);
}

int
db_run(PGconn *c, struct db_err *e, const char *sql, int n,
    const char *const *values)
{
	PGresult	*res = db_exec(c, e, sql, n, values);

	PQclear(res);
	return res ? 0 : -1;
}

/*
 * Runs a statement prepared once per connection: a query run for each row
 * of an import would otherwise be parsed and planned each time, which costs
 * PostgreSQL several times its execution. Statements are known by the
 * address of their text, so only string literals qualify; past
 * PREPARED_MAX of them, the rest run unprepared.
 */
static PGresult *
exec_prepared(PGconn *c, struct db_err *e, const char *sql, int n,
    const char *const *values)
{
	struct dbthr	*t = thr_get();
	PGresult	*res;
	char		 name[16];
	int		 i;

	for (i = 0; i < t->nprepared && t->prepared[i] != sql; i++)
		;
	if (i == PREPARED_MAX)
		return db_exec(c, e, sql, n, values);
	snprintf(name, sizeof(name), "g%d", i);
	memset(e, 0, sizeof(*e));
	if (i == t->nprepared) {
		res = PQprepare(c, name, sql, n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			classify(c, res, e);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		t->prepared[t->nprepared++] = sql;
	}
	return checked(c, PQexecPrepared(c, name, n, values, NULL, NULL, 0), e);
}

PGresult *
db_query(struct db_err *e, unsigned flags, const char *sql, int n,
    const char *const *values)
{
	PGresult	*res;
	PGconn		*c;
	int		 attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		memset(e, 0, sizeof(*e));
		if (thr_get()->hold == HOLD_DOOMED) {
			e->rc = DB_RETRY;	/* nothing more runs in it */
			return NULL;
		}
		if ((c = thread_conn(e)) == NULL)
			return NULL;
		res = (flags & DB_PREPARED) ? exec_prepared(c, e, sql, n,
		    values) : db_exec(c, e, sql, n, values);
		if (res != NULL)
			return res;
		if (e->rc != DB_UNAVAILABLE || !(flags & DB_IDEMPOTENT))
			break;
		db_thread_close();	/* reconnect at once for the retry */
	}
	return NULL;
}

static int
simple(PGconn *c, struct db_err *e, const char *sql)
{
	return db_run(c, e, sql, 0, NULL);
}

/*
 * A transaction inside the one held open (db_tx_hold): under a savepoint,
 * so that one that fails undoes only its own work, as its rollback would
 * have. Once the held transaction is lost with its connection, or doomed,
 * nothing more runs: the request's answer is going to be replaced anyway,
 * or its work run again.
 */
static int
held_tx(struct dbthr *t, struct db_err *e, db_tx_fn fn, void *arg)
{
	struct db_err	ignored;

	memset(e, 0, sizeof(*e));
	if (t->hold == HOLD_LOST || t->hold == HOLD_DOOMED) {
		e->rc = t->hold == HOLD_LOST ? DB_UNAVAILABLE : DB_RETRY;
		return -1;
	}
	if (simple(t->conn, e, "SAVEPOINT held") != 0)
		return -1;
	if (fn(t->conn, arg, e) == 0 &&
	    simple(t->conn, e, "RELEASE SAVEPOINT held") == 0)
		return 0;
	if (PQstatus(t->conn) == CONNECTION_OK)
		simple(t->conn, &ignored, "ROLLBACK TO SAVEPOINT held");
	return -1;
}

/*
 * The retry loop of serializable transactions. A failure before BEGIN
 * succeeded is retried like an idempotent query; a connection lost after
 * it is reported (the outcome of a COMMIT in flight is unknown, and the
 * client must be told so rather than given a success).
 */
int
db_tx(struct db_err *e, db_tx_fn fn, void *arg)
{
	struct dbthr	*t = thr_get();
	PGconn		*c;
	int		 attempt, began;

	if (t->hold >= HOLD_OPEN)
		return held_tx(t, e, fn, arg);
	for (attempt = 0; attempt < 5; attempt++) {
		memset(e, 0, sizeof(*e));
		if ((c = thread_conn(e)) == NULL)
			return -1;
		began = simple(c, e, "BEGIN ISOLATION LEVEL SERIALIZABLE") == 0;
		if (!began) {
			if (e->rc == DB_UNAVAILABLE && attempt == 0) {
				db_thread_close();
				continue;
			}
			return -1;
		}
		if (fn(c, arg, e) == 0) {
			if (t->hold == HOLD_ARMED) {
				/* Left open: db_tx_release commits. */
				t->hold = HOLD_OPEN;
				return 0;
			}
			if (simple(c, e, "COMMIT") == 0)
				return 0;
		} else {
			struct db_err	ignored;

			if (PQstatus(c) == CONNECTION_OK)
				simple(c, &ignored, "ROLLBACK");
		}
		if (e->rc != DB_RETRY)
			return -1;
		usleep(1000 * (1 + randombytes_uniform(10)) * (attempt + 1));
	}
	return -1;
}

void
db_tx_hold(void)
{
	thr_get()->hold = HOLD_ARMED;
}

/*
 * Ends holding. A COMMIT is checked for what PostgreSQL did: in a
 * transaction that had failed, it answers ROLLBACK without an error, and
 * the caller must not believe its work was kept. A serialization failure
 * or a deadlock, at COMMIT, in fn or earlier (HOLD_DOOMED), cannot be
 * retried here: the work was done by code that has returned. It is
 * reported as DB_RETRY, whether commit was asked or not, for the caller
 * to run that code again (idem_end does).
 */
int
db_tx_release(struct db_err *e, int commit, db_tx_fn fn, void *arg)
{
	struct dbthr	*t = thr_get();
	struct db_err	 ignored;
	PGresult	*res;
	int		 hold = t->hold, committed;

	t->hold = HOLD_OFF;
	memset(e, 0, sizeof(*e));
	if (hold == HOLD_LOST) {
		e->rc = DB_UNAVAILABLE;
		return -1;
	}
	if (hold == HOLD_DOOMED) {
		simple(t->conn, &ignored, "ROLLBACK");
		e->rc = DB_RETRY;
		return -1;
	}
	if (hold != HOLD_OPEN)
		return commit && fn != NULL ? db_tx(e, fn, arg) : 0;
	if (commit && (fn == NULL || fn(t->conn, arg, e) == 0)) {
		if ((res = db_exec(t->conn, e, "COMMIT", 0, NULL)) == NULL)
			return -1;
		committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
		PQclear(res);
		if (!committed)
			e->rc = DB_ERROR;
		return committed ? 0 : -1;
	}
	if (PQstatus(t->conn) == CONNECTION_OK)
		simple(t->conn, &ignored, "ROLLBACK");
	return commit ? -1 : 0;
}

unsigned
db_http_status(enum db_rc rc)
{
	switch (rc) {
	case DB_OK:		return 200;
	case DB_CONFLICT:	return 409;
	case DB_INVALID:	return 400;
	case DB_UNAVAILABLE:
	case DB_RETRY:
	case DB_TIMEOUT:	return 503;
	case DB_ERROR:		break;
	}
	return 500;
}

void
db_reply_error(struct req *r, const struct db_err *e)
{
	switch (e->rc) {
	case DB_CONFLICT:
		http_reply_error(r, 409, "conflict", "L'opération est en "
		    "conflit avec une donnée existante.", NULL);
		break;
	case DB_INVALID:
		http_reply_error(r, 400, "invalid_value", "Une valeur a été "
		    "refusée par la base de données.", NULL);
		break;
	case DB_UNAVAILABLE:
		http_reply_error(r, 503, "database_unavailable", "La base de "
		    "données est momentanément indisponible ; réessayez dans "
		    "quelques instants.", NULL);
		MHD_add_response_header(r->resp, "Retry-After", "2");
		break;
	case DB_RETRY:
		http_reply_error(r, 503, "database_busy", "La base de données "
		    "est trop sollicitée ; réessayez.", NULL);
		MHD_add_response_header(r->resp, "Retry-After", "1");
		break;
	case DB_TIMEOUT:
		http_reply_error(r, 503, "database_timeout", "La requête a pris "
		    "trop de temps.", NULL);
		break;
	case DB_OK:
	case DB_ERROR:
		http_reply_error(r, 500, "internal_error",
		    "Erreur interne du serveur.", NULL);
		break;
	}
}

PGresult *
db_query_row(struct req *r, const char *sql, int n, const char *const *v,
    const char *notfound)
{
	struct db_err	 e;
	PGresult	*res;

	if ((res = db_query(&e, DB_IDEMPOTENT, sql, n, v)) == NULL) {
		db_reply_error(r, &e);
		return NULL;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		http_reply_error(r, 404, "not_found", notfound, NULL);
		return NULL;
	}
	return res;
}

void
db_reply_json(struct req *r, const char *sql, int n, const char *const *v,
    const char *notfound)
{
	PGresult	*res;
	json_t		*j;

	if ((res = db_query_row(r, sql, n, v, notfound)) == NULL)
		return;
	j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	http_reply_json(r, 200, j ? j : json_object());
}
