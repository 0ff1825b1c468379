/*
 * jobpool.c — background job threads (jobpool.h). Each thread has its
 * own database connection (db.c's, per thread), closed when it ends.
 */
#include "db.h"
#include "jobpool.h"
#include "util.h"

static void *
run(void *arg)
{
	struct jobpool	*p = arg;

	while (bg_nap(&p->running, 500))
		while (atomic_load(&p->running) && p->step())
			;
	db_thread_close();
	return NULL;
}

void
jobpool_start(struct jobpool *p, long long n)
{
	atomic_store(&p->running, 1);
	for (p->n = 0; p->n < n && p->n < JOBPOOL_MAX; p->n++)
		bg_start(&p->threads[p->n], run, p, p->what);
}

void
jobpool_stop(struct jobpool *p)
{
	int	i;

	atomic_store(&p->running, 0);
	for (i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	p->n = 0;
}
