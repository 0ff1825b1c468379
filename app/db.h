/*
 * db.h — PostgreSQL access: one connection per worker thread, opened lazily
 * and reopened after PostgreSQL restarts; parameterised queries only; errors
 * classified once and mapped to HTTP statuses.
 */
#ifndef GUICHET_DB_H
#define GUICHET_DB_H

#include <libpq-fe.h>
#include <stddef.h>

struct req;

enum db_rc {
	DB_OK = 0,
	DB_UNAVAILABLE,	/* no connection, or it was lost: 503 */
	DB_CONFLICT,	/* integrity violation (unique, foreign key): 409 */
	DB_INVALID,	/* a value PostgreSQL refused (22xxx): 400 */
	DB_RETRY,	/* serialization failure or deadlock, retries spent: 503 */
	DB_TIMEOUT,	/* statement timeout: 503 */
	DB_ERROR	/* anything else: 500 */
};

struct db_err {
	enum db_rc	rc;
	char		sqlstate[6];
	char		constraint[64];	/* for conflicts: which constraint */
};

/* Flags of db_query. */
#define DB_IDEMPOTENT	0x01	/* safe to run again on a new connection */
#define DB_PREPARED	0x02	/* prepare once per connection; sql must be a
				   string literal (known by its address) */

/* A new connection configured from conf; NULL and a message on failure. */
PGconn		*db_connect(char *err, size_t errlen);
/* The same for commands: one line and exit(1) on failure. */
PGconn		*db_connect_or_die(void);

/*
 * Runs sql with text parameters on conn. Returns the result (tuples or
 * command OK; the caller PQclear()s it) or NULL with e filled.
 */
PGresult	*db_exec(PGconn *conn, struct db_err *e, const char *sql,
		    int n, const char *const *values);

/* db_exec for statements whose result is not needed: 0 or -1. */
int		 db_run(PGconn *conn, struct db_err *e, const char *sql, int n,
		    const char *const *values);

/*
 * Same on the calling thread's connection, connecting if needed. With
 * DB_IDEMPOTENT, a statement that failed because the connection was lost
 * (PostgreSQL restarted) is run once more on a new connection.
 */
PGresult	*db_query(struct db_err *e, unsigned flags, const char *sql,
		    int n, const char *const *values);

/*
 * Runs fn inside one SERIALIZABLE transaction on the thread's connection,
 * and runs it again (up to 5 times, with a short random pause) when
 * PostgreSQL reports a serialization failure or a deadlock. fn returns 0 to
 * commit, -1 (with e filled) to roll back. Returns 0 once committed.
 */
typedef int	(*db_tx_fn)(PGconn *, void *arg, struct db_err *e);
int		 db_tx(struct db_err *e, db_tx_fn fn, void *arg);

/*
 * Holding, for a request whose answer is stored with what it wrote
 * (idem.h): after db_tx_hold(), the first db_tx of the calling thread that
 * would commit leaves its transaction open instead; later ones run inside
 * it (each under a savepoint, so that one that fails still undoes only its
 * own work), and so do the thread's plain queries. db_tx_release() ends
 * holding: with commit, fn (or NULL) runs in the held transaction, or in
 * one of its own when none was opened, and everything commits at once;
 * without, the held transaction is rolled back. Returns 0, or -1 with e
 * (DB_UNAVAILABLE when the connection was lost while holding). DB_RETRY,
 * with or without commit, says that the held transaction met a
 * serialization failure or a deadlock (at its COMMIT, in fn, or in a
 * statement of the holder, after which nothing more ran in it): it was
 * rolled back, and the work that held it may be run again, as db_tx runs
 * fn again.
 */
void		 db_tx_hold(void);
int		 db_tx_release(struct db_err *e, int commit, db_tx_fn fn,
		    void *arg);

/* HTTP status, stable error code and French message for an error class. */
unsigned	 db_http_status(enum db_rc);
void		 db_reply_error(struct req *, const struct db_err *);
/*
 * Runs an idempotent query for a row whose first cell is not NULL; else
 * answers (404 with notfound, or the database error) and returns NULL.
 */
PGresult	*db_query_row(struct req *, const char *sql, int n,
		    const char *const *values, const char *notfound);
/*
 * Runs an idempotent query whose one cell is the JSON answer and answers
 * 200 with it; no row (or NULL) answers 404 with notfound.
 */
void		 db_reply_json(struct req *, const char *sql, int n,
		    const char *const *values, const char *notfound);

/* Closes the calling thread's connection (tests). */
void		 db_thread_close(void);

#endif
