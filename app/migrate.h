/*
 * migrate.h — forward-only schema migrations: migrations/NNNN_name.sql files
 * applied in order, each in its own transaction, recorded with a SHA-256
 * checksum in schema_migrations. Concurrent runs are serialised by an
 * advisory lock.
 */
#ifndef GUICHET_MIGRATE_H
#define GUICHET_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migrate_result {
	int	applied;	/* files applied by this run */
	int	pending;	/* files not applied (check mode) */
	int	total;		/* files in the folder */
};

/*
 * With apply, applies every pending file; without, only checks. Either way
 * an applied file that changed since, or that is gone, is an error. Returns
 * 0, or -1 with one line in err naming the file.
 */
int	 migrate_run(PGconn *, const char *dir, int apply,
	    struct migrate_result *, char *err, size_t errlen);

/* Reads and checks the folder alone (names, order), without a database. */
int	 migrate_scan(const char *dir, int *nfiles, char *err, size_t errlen);

#endif
