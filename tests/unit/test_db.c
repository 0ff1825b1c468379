/*
 * The database layer against the real private cluster (PG* variables set by
 * make): error classes and their HTTP statuses, reconnection after the
 * backend is killed, the serialization-failure retry of db_tx, and
 * transactions held open until released (db_tx_hold).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"

static char table[64];

static int
setup(void **state)
{
	char *env[] = { NULL };
	char err[256];

	(void)state;
	if (conf_load(NULL, env, err, sizeof(err)))
		return -1;
	snprintf(table, sizeof(table), "unit_db_%d", (int)getpid());
	return 0;
}

static int
teardown(void **state)
{
	struct db_err e;
	char sql[128];

	(void)state;
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	PQclear(db_query(&e, 0, sql, 0, NULL));
	db_thread_close();
	conf_free();
	return 0;
}

static PGconn *
other_conn(void)
{
	char err[256];
	PGconn *c = db_connect(err, sizeof(err));

	if (c == NULL)
		fail_msg("cannot connect: %s", err);
	return c;
}

static int
backend_pid(unsigned flags, struct db_err *e)
{
	PGresult *res = db_query(e, flags, "SELECT pg_backend_pid()", 0, NULL);
	int pid;

	if (res == NULL)
		return -1;
	pid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return pid;
}

static void
kill_backend(int pid)
{
	PGconn *c = other_conn();
	char p[16];
	const char *v[1] = { p };
	struct db_err e;

	snprintf(p, sizeof(p), "%d", pid);
	PQclear(db_exec(c, &e, "SELECT pg_terminate_backend($1::int)", 1, v));
	assert_int_equal(e.rc, DB_OK);
	PQfinish(c);
	usleep(100000);
}

static void
parameters_are_sent_apart(void **state)
{
	const char *v[] = { "l'Isle-Jourdain'; DROP TABLE x; --", "31" };
	struct db_err e;
	PGresult *res;

	(void)state;
	res = db_query(&e, 0, "SELECT $1::text || ' (' || $2::text || ')'", 2, v);
	assert_non_null(res);
	assert_str(PQgetvalue(res, 0, 0),
	    "l'Isle-Jourdain'; DROP TABLE x; -- (31)");
	PQclear(res);
}

static void
unique_violation_is_conflict(void **state)
{
	struct db_err e;
	char sql[160];

	(void)state;
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (k int PRIMARY KEY, v int)",
	    table);
	PQclear(db_query(&e, 0, sql, 0, NULL));
	assert_int_equal(e.rc, DB_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (1, 0)", table);
	PQclear(db_query(&e, 0, sql, 0, NULL));
	assert_int_equal(e.rc, DB_OK);
	assert_null(db_query(&e, 0, sql, 0, NULL));
	assert_int_equal(e.rc, DB_CONFLICT);
	assert_str(e.sqlstate, "23505");
	assert_non_null(strstr(e.constraint, "_pkey"));
	assert_int_equal(db_http_status(e.rc), 409);
}

static void
bad_value_is_invalid(void **state)
{
	struct db_err e;

	(void)state;
	assert_null(db_query(&e, 0, "SELECT 'abc'::int", 0, NULL));
	assert_int_equal(e.rc, DB_INVALID);
	assert_int_equal(db_http_status(e.rc), 400);
}

static void
other_errors_are_internal(void **state)
{
	struct db_err e;

	(void)state;
	assert_null(db_query(&e, 0, "SELECT * FROM no_such_table", 0, NULL));
	assert_int_equal(e.rc, DB_ERROR);
	assert_str(e.sqlstate, "42P01");
	assert_int_equal(db_http_status(e.rc), 500);
}

static void
statement_timeout_is_reported(void **state)
{
	struct db_err e;

	(void)state;
	PQclear(db_query(&e, 0, "SET statement_timeout = 50", 0, NULL));
	assert_int_equal(e.rc, DB_OK);
	assert_null(db_query(&e, 0, "SELECT pg_sleep(1)", 0, NULL));
	assert_int_equal(e.rc, DB_TIMEOUT);
	assert_int_equal(db_http_status(e.rc), 503);
	PQclear(db_query(&e, 0, "RESET statement_timeout", 0, NULL));
}

/* An idempotent query survives the loss of its connection. */
static void
idempotent_query_reconnects(void **state)
{
	struct db_err e;
	int pid1, pid2;

	(void)state;
	pid1 = backend_pid(0, &e);
	assert_true(pid1 > 0);
	kill_backend(pid1);
	pid2 = backend_pid(DB_IDEMPOTENT, &e);
	assert_int_equal(e.rc, DB_OK);
	assert_true(pid2 > 0);
	assert_int_not_equal(pid1, pid2);
}

/* Any other query reports 503 once, and the next one reconnects. */
static void
lost_connection_is_unavailable_then_recovers(void **state)
{
	struct db_err e;
	int pid1, pid2;

	(void)state;
	pid1 = backend_pid(0, &e);
	kill_backend(pid1);
	assert_int_equal(backend_pid(0, &e), -1);
	assert_int_equal(e.rc, DB_UNAVAILABLE);
	assert_int_equal(db_http_status(e.rc), 503);
	usleep(600000);		/* past the reconnection spacing */
	pid2 = backend_pid(0, &e);
	assert_int_equal(e.rc, DB_OK);
	assert_int_not_equal(pid1, pid2);
}

static void
unreachable_server_is_unavailable(void **state)
{
	struct db_err e;
	char *saved = conf.database;

	(void)state;
	db_thread_close();
	conf.database = "host=127.0.0.1 port=1 dbname=x connect_timeout=1";
	assert_int_equal(backend_pid(DB_IDEMPOTENT, &e), -1);
	assert_int_equal(e.rc, DB_UNAVAILABLE);
	/* Within the spacing, no new attempt: still unavailable. */
	assert_int_equal(backend_pid(0, &e), -1);
	assert_int_equal(e.rc, DB_UNAVAILABLE);
	conf.database = saved;
	db_thread_close();
	assert_true(backend_pid(0, &e) > 0);
}

/*
 * Two writers of the same row under SERIALIZABLE: the transaction that loses
 * gets a serialization failure and db_tx runs it again, which then commits.
 */
struct txctx {
	int	attempts;
};

static int
tx_increment(PGconn *c, void *arg, struct db_err *e)
{
	struct txctx *t = arg;
	PGresult *res;
	char sql[160];

	t->attempts++;
	snprintf(sql, sizeof(sql), "SELECT v FROM %s WHERE k = 1", table);
	if ((res = db_exec(c, e, sql, 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	if (t->attempts == 1) {
		/* A concurrent transaction commits a change to the same row. */
		PGconn *o = other_conn();
		struct db_err oe;

		snprintf(sql, sizeof(sql), "UPDATE %s SET v = v + 100 WHERE k = 1",
		    table);
		PQclear(db_exec(o, &oe, sql, 0, NULL));
		assert_int_equal(oe.rc, DB_OK);
		PQfinish(o);
	}
	snprintf(sql, sizeof(sql), "UPDATE %s SET v = v + 1 WHERE k = 1", table);
	if ((res = db_exec(c, e, sql, 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static void
serialization_failure_is_retried(void **state)
{
	struct txctx t = { 0 };
	struct db_err e;
	PGresult *res;
	char sql[160];

	(void)state;
	assert_int_equal(db_tx(&e, tx_increment, &t), 0);
	assert_int_equal(t.attempts, 2);
	snprintf(sql, sizeof(sql), "SELECT v FROM %s WHERE k = 1", table);
	res = db_query(&e, 0, sql, 0, NULL);
	assert_non_null(res);
	assert_str(PQgetvalue(res, 0, 0), "101");
	PQclear(res);
}

static int
tx_fail(PGconn *c, void *arg, struct db_err *e)
{
	char sql[160];
	PGresult *res;

	(void)arg;
	snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (2, 0)", table);
	if ((res = db_exec(c, e, sql, 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (1, 0)", table);
	if ((res = db_exec(c, e, sql, 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static void
failed_transaction_leaves_nothing(void **state)
{
	struct db_err e;
	PGresult *res;
	char sql[160];

	(void)state;
	assert_int_equal(db_tx(&e, tx_fail, NULL), -1);
	assert_int_equal(e.rc, DB_CONFLICT);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE k = 2", table);
	res = db_query(&e, 0, sql, 0, NULL);
	assert_non_null(res);
	assert_str(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
}

/* Holding (db_tx_hold): what one inserts, its arg the key. */
static int
tx_insert(PGconn *c, void *arg, struct db_err *e)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (%d, 0)", table,
	    *(int *)arg);
	return db_run(c, e, sql, 0, NULL);
}

/* How many rows of key k another session sees, or (mine) this thread. */
static int
rows(int k, int mine)
{
	struct db_err e;
	PGresult *res;
	PGconn *o = mine ? NULL : other_conn();
	char sql[160];
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE k = %d",
	    table, k);
	res = mine ? db_query(&e, 0, sql, 0, NULL) : db_exec(o, &e, sql, 0,
	    NULL);
	assert_non_null(res);
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (o != NULL)
		PQfinish(o);
	return n;
}

/* Starts holding, and inserts key k in the transaction held. */
static void
hold_with(int k)
{
	struct db_err e;

	db_tx_hold();
	assert_int_equal(db_tx(&e, tx_insert, &k), 0);
	assert_int_equal(rows(k, 1), 1);
}

/* A held transaction is seen by its thread only, until released. */
static void
held_transaction_commits_at_release(void **state)
{
	struct db_err e;
	int k = 10, k2 = 11;

	(void)state;
	hold_with(k);
	assert_int_equal(rows(k, 0), 0);
	assert_int_equal(db_tx_release(&e, 1, tx_insert, &k2), 0);
	assert_int_equal(rows(k, 0), 1);
	assert_int_equal(rows(k2, 0), 1);
}

static void
held_transaction_rolls_back(void **state)
{
	struct db_err e;
	int k = 12;

	(void)state;
	hold_with(k);
	assert_int_equal(db_tx_release(&e, 0, NULL, NULL), 0);
	assert_int_equal(rows(k, 1), 0);
}

/* A transaction that fails inside the held one undoes only itself. */
static void
failure_inside_a_held_transaction_undoes_only_itself(void **state)
{
	struct db_err e;
	int k = 13;

	(void)state;
	hold_with(k);
	assert_int_equal(db_tx(&e, tx_fail, NULL), -1);
	assert_int_equal(e.rc, DB_CONFLICT);
	assert_int_equal(db_tx_release(&e, 1, NULL, NULL), 0);
	assert_int_equal(rows(k, 0), 1);
	assert_int_equal(rows(2, 0), 0);
}

/* Nothing held: the release's work runs in a transaction of its own. */
static void
release_without_a_transaction_runs_its_own(void **state)
{
	struct db_err e;
	int k = 14;

	(void)state;
	db_tx_hold();
	assert_int_equal(db_tx_release(&e, 1, tx_insert, &k), 0);
	assert_int_equal(rows(k, 0), 1);
}

/* A held transaction lost with its connection is never reported kept. */
static void
lost_held_transaction_is_unavailable(void **state)
{
	struct db_err e;
	int k = 15, k2 = 16;

	(void)state;
	hold_with(k);
	kill_backend(backend_pid(0, &e));
	assert_true(backend_pid(DB_IDEMPOTENT, &e) > 0);	/* reconnected */
	assert_int_equal(db_tx(&e, tx_insert, &k2), -1);
	assert_int_equal(e.rc, DB_UNAVAILABLE);
	assert_int_equal(db_tx_release(&e, 1, tx_insert, &k2), -1);
	assert_int_equal(e.rc, DB_UNAVAILABLE);
	assert_int_equal(rows(k, 0), 0);
	assert_int_equal(rows(k2, 0), 0);
	assert_int_equal(db_tx(&e, tx_insert, &k2), 0);	/* holding is over */
	assert_int_equal(rows(k2, 0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parameters_are_sent_apart),
		cmocka_unit_test(unique_violation_is_conflict),
		cmocka_unit_test(bad_value_is_invalid),
		cmocka_unit_test(other_errors_are_internal),
		cmocka_unit_test(statement_timeout_is_reported),
		cmocka_unit_test(idempotent_query_reconnects),
		cmocka_unit_test(lost_connection_is_unavailable_then_recovers),
		cmocka_unit_test(unreachable_server_is_unavailable),
		cmocka_unit_test(serialization_failure_is_retried),
		cmocka_unit_test(failed_transaction_leaves_nothing),
		cmocka_unit_test(held_transaction_commits_at_release),
		cmocka_unit_test(held_transaction_rolls_back),
		cmocka_unit_test(failure_inside_a_held_transaction_undoes_only_itself),
		cmocka_unit_test(release_without_a_transaction_runs_its_own),
		cmocka_unit_test(lost_held_transaction_is_unavailable),
	};

	return cmocka_run_group_tests_name("db", tests, setup, teardown);
}
