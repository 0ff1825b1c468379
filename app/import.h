/*
 * import.h — bulk imports of existing bases into a guichet: a file
 * uploaded (CSV, GeoJSON, GeoPackage), its columns mapped to the form's
 * fields (suggested from the names, or from the organisation's last
 * mapping), a dry run that checks every row as a hand-entered submission
 * is checked and reports each row's errors and warnings, a commit that
 * turns the rows without errors into records as one batch, and its
 * cancellation while none of them was reviewed.
 */
#ifndef GUICHET_IMPORT_H
#define GUICHET_IMPORT_H

struct req;

void	 import_create(struct req *);	/* POST /api/v1/imports */
void	 import_list(struct req *);
void	 import_get(struct req *);
void	 import_update(struct req *);	/* PATCH: the mapping */
void	 import_check(struct req *);	/* POST …/check: the dry run */
void	 import_rows(struct req *);	/* GET …/rows: the report */
void	 import_report_csv(struct req *);	/* GET …/report.csv */
void	 import_commit(struct req *);	/* POST …/commit: rows become records */
void	 import_cancel(struct req *);	/* POST …/cancel */

/* The job threads (conf.import_workers); started after the database is up. */
void	 import_start(void);
void	 import_stop(void);

#endif
