/*
 * migrate.c — schema migrations.
 *
 * The folder is the truth: file names give the order (a four-digit version
 * and a name), the content's SHA-256 proves an applied file was not edited
 * afterwards (forward-only: a change is a new file). Each file runs in one
 * transaction together with its schema_migrations row, so a failing file
 * leaves nothing behind, and a crash between two files leaves a database
 * that the next run completes.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "db.h"
#include "migrate.h"
#include "util.h"

/* pg_advisory_lock key: "guichet" in ASCII, so that no other lock collides. */
#define MIGRATE_LOCK	"29121018100999540"

struct mfile {
	char	*name;		/* 0001_init.sql */
	char	 version[5];
	char	 sum[65];
	char	*sql;
};

static int
valid_name(const char *n)
{
	size_t	i, len = strlen(n);

	if (len < 10 || strcmp(n + len - 4, ".sql") != 0 || n[4] != '_')
		return 0;
	for (i = 0; i < 4; i++)
		if (!isdigit((unsigned char)n[i]))
			return 0;
	for (i = 5; i < len - 4; i++)
		if (!islower((unsigned char)n[i]) && !isdigit((unsigned char)n[i]) &&
		    n[i] != '_')
			return 0;
	return 1;
}

static int
cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name,
	    ((const struct mfile *)b)->name);
}

static void
files_free(struct mfile *f, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].sql);
	}
	free(f);
}

/* Reads and checksums every migration file, sorted by name. */
static int
load_files(const char *dir, struct mfile **out, size_t *nout, char *err,
    size_t errlen)
{
	struct mfile	*f = NULL;
	struct dirent	*de;
	unsigned char	 h[crypto_hash_sha256_BYTES];
	DIR		*d;
	size_t		 n = 0, len, i;
	char		*path;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "migrations_dir \"%s\": %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) < 4 ||
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") != 0)
			continue;
		if (!valid_name(de->d_name)) {
			snprintf(err, errlen, "%s/%s: a migration is named "
			    "NNNN_name.sql (lower case, digits, _)", dir,
			    de->d_name);
			closedir(d);
			files_free(f, n);
			return -1;
		}
		f = xreallocarray(f, n + 1, sizeof(*f));
		memset(&f[n], 0, sizeof(f[n]));
		f[n].name = xstrdup(de->d_name);
		memcpy(f[n].version, de->d_name, 4);
		path = xasprintf("%s/%s", dir, de->d_name);
		f[n].sql = file_read(path, &len);
		free(path);
		n++;
		if (f[n - 1].sql == NULL) {
			snprintf(err, errlen, "%s/%s: %s", dir, de->d_name,
			    strerror(errno));
			closedir(d);
			files_free(f, n);
			return -1;
		}
		crypto_hash_sha256(h, (unsigned char *)f[n - 1].sql, len);
		hex_encode(f[n - 1].sum, h, sizeof(h));
	}
	closedir(d);
	qsort(f, n, sizeof(*f), cmp_files);
	for (i = 1; i < n; i++)
		if (strcmp(f[i].version, f[i - 1].version) == 0) {
			snprintf(err, errlen, "%s: %s and %s share version %s",
			    dir, f[i - 1].name, f[i].name, f[i].version);
			files_free(f, n);
			return -1;
		}
	*out = f;
	*nout = n;
	return 0;
}

int
migrate_scan(const char *dir, int *nfiles, char *err, size_t errlen)
{
	struct mfile	*f;
	size_t		 n;

	if (load_files(dir, &f, &n, err, errlen))
		return -1;
	files_free(f, n);
	*nfiles = (int)n;
	return 0;
}

static const char *
first_line(const char *s, char *out, size_t outlen)
{
	size_t	n = strcspn(s, "\n");

	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), s);
	return out;
}

static int
exec_simple(PGconn *c, const char *sql, char *err, size_t errlen,
    const char *ctx)
{
	PGresult	*res = PQexec(c, sql);
	ExecStatusType	 st = PQresultStatus(res);
	char		 msg[400];
	int		 rc = 0;

	/* A file of comments only is an empty query: a valid no-op. */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
	    st != PGRES_EMPTY_QUERY) {
		snprintf(err, errlen, "%s: %s", ctx, first_line(
		    PQresultErrorMessage(res), msg, sizeof(msg)));
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int
migrate_run(PGconn *c, const char *dir, int apply, struct migrate_result *mr,
    char *err, size_t errlen)
{
	struct mfile	*f = NULL;
	struct db_err	 e;
	PGresult	*res = NULL;
	size_t		 nf = 0, i;
	int		 row, rc = -1, locked = 0, found;
	const char	*vals[3];

	memset(mr, 0, sizeof(*mr));
	if (load_files(dir, &f, &nf, err, errlen))
		return -1;
	mr->total = (int)nf;
	if (apply) {
		if (exec_simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
		    err, errlen, "migration lock"))
			goto out;
		locked = 1;
		if (exec_simple(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    "version text PRIMARY KEY, name text NOT NULL, "
		    "checksum text NOT NULL, "
		    "applied_at timestamptz NOT NULL DEFAULT now())",
		    err, errlen, "schema_migrations"))
			goto out;
	}
	res = db_exec(c, &e, "SELECT to_regclass('schema_migrations') IS NULL",
	    0, NULL);
	if (res != NULL && strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
		PQclear(res);
		res = db_exec(c, &e, "SELECT version, name, checksum FROM "
		    "schema_migrations ORDER BY version", 0, NULL);
	} else if (res != NULL) {
		PQclear(res);	/* a new database: nothing applied */
		res = NULL;
	}
	if (res == NULL && e.rc != DB_OK) {
		snprintf(err, errlen, "schema_migrations: %s",
		    PQerrorMessage(c));
		goto out;
	}
	/* Every applied version must still be there, unchanged. */
	for (row = 0; res != NULL && row < PQntuples(res); row++) {
		for (i = 0, found = 0; i < nf && !found; i++) {
			if (strcmp(f[i].version, PQgetvalue(res, row, 0)) != 0)
				continue;
			found = 1;
			if (strcmp(f[i].sum, PQgetvalue(res, row, 2)) != 0) {
				snprintf(err, errlen, "%s/%s was changed after "
				    "it was applied (checksum %.12s… recorded, "
				    "%.12s… now): add a new migration instead",
				    dir, f[i].name, PQgetvalue(res, row, 2),
				    f[i].sum);
				goto out;
			}
			f[i].version[0] = '\0';	/* applied */
		}
		if (!found) {
			snprintf(err, errlen, "applied migration %s (%s) is "
			    "missing from %s", PQgetvalue(res, row, 0),
			    PQgetvalue(res, row, 1), dir);
			goto out;
		}
	}
	for (i = 0; i < nf; i++) {
		char ctx[300];

		if (f[i].version[0] == '\0')
			continue;
		if (!apply) {
			mr->pending++;
			continue;
		}
		snprintf(ctx, sizeof(ctx), "%s/%s", dir, f[i].name);
		if (exec_simple(c, "BEGIN", err, errlen, ctx))
			goto out;
		if (exec_simple(c, f[i].sql, err, errlen, ctx)) {
			PQclear(PQexec(c, "ROLLBACK"));
			goto out;
		}
		vals[0] = f[i].version;
		vals[1] = f[i].name;
		vals[2] = f[i].sum;
		PQclear(res);
		res = db_exec(c, &e, "INSERT INTO schema_migrations "
		    "(version, name, checksum) VALUES ($1, $2, $3)", 3, vals);
		if (res == NULL) {
			snprintf(err, errlen, "%s: cannot record it: %s", ctx,
			    PQerrorMessage(c));
			PQclear(PQexec(c, "ROLLBACK"));
			goto out;
		}
		if (exec_simple(c, "COMMIT", err, errlen, ctx))
			goto out;
		log_info("migration %s applied", f[i].name);
		mr->applied++;
	}
	rc = 0;
out:
	PQclear(res);
	if (locked)
		PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")"));
	files_free(f, nf);
	return rc;
}
