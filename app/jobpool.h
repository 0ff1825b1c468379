/*
 * jobpool.h — the threads that run a kind of background job (export
 * batches, import checks and commits): each naps half a second, then runs
 * the kind's step until it finds nothing to do; stopping waits for the
 * step under way. Jobs are claimed in PostgreSQL by the steps themselves,
 * so any number of threads on any number of nodes share the work.
 */
#ifndef GUICHET_JOBPOOL_H
#define GUICHET_JOBPOOL_H

#include <pthread.h>
#include <stdatomic.h>

#define JOBPOOL_MAX	8

struct jobpool {
	const char	*what;		/* for the log */
	int		(*step)(void);	/* 1: a job was run, 0: none waiting */
	pthread_t	 threads[JOBPOOL_MAX];
	int		 n;
	atomic_int	 running;
};

/* Starts n threads (at most JOBPOOL_MAX) running p->step. */
void	 jobpool_start(struct jobpool *p, long long n);
/* Asks them to stop and waits for them. */
void	 jobpool_stop(struct jobpool *p);

#endif
