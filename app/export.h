/*
 * export.h — export batches: what admins send to IGN and to the national
 * address base. A batch is asked for over the API (or the command line),
 * written by a job thread of any server (claimed with SKIP LOCKED, taken
 * over when its heartbeat stops), recorded with its files, their sizes and
 * SHA-256, and appended to the event log; its files can be downloaded again
 * byte for byte.
 */
#ifndef GUICHET_EXPORT_H
#define GUICHET_EXPORT_H

struct req;

void	 export_start(void);	/* the job threads (export_workers) */
void	 export_stop(void);

void	 export_create(struct req *);	/* POST /api/v1/exports */
void	 export_list(struct req *);	/* GET /api/v1/exports */
void	 export_get(struct req *);	/* GET /api/v1/exports/{id} */
void	 export_file(struct req *);	/* GET /api/v1/exports/{id}/files/{name} */
void	 export_preview(struct req *);	/* POST /api/v1/exports/preview */

/* guichet export --guichet G --format F [--mode M] [--departements ..]
 * [--communes ..]: one batch, written now, in this process. */
int	 export_cli(int argc, char **argv);

#endif
