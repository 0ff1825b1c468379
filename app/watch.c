/*
 * watch.c — a deadline for receiving each request, since nothing else
 * bounds it.
 * libmicrohttpd's connection_timeout is an idle timeout: each byte received
 * starts it again, and MHD_CONNECTION_OPTION_TIMEOUT changes only that idle
 * bound (0.9.75, connection.c: MHD_update_last_activity_ and
 * connection_check_timedout), so a client sending a byte a second would
 * hold its connection, and one of max_connections, for ever. Nor does
 * libmicrohttpd call us while headers arrive: the URI log callback comes
 * once the request line is in, the access handler once the headers are.
 *
 * So every connection has a watch (its socket context, from the connection
 * notifier): the instant its current request must be in by. Since the first
 * byte of a request cannot be seen, the clock starts when the connection
 * opens or its previous answer has gone, plus connection_timeout (the idle
 * bound on that first byte); the request line brings it to its own arrival
 * if that is sooner. To that come request_timeout and a second per
 * BODY_BYTES_PER_SECOND bytes of body received: a slow but steady upload
 * goes through, a trickle does not. While the server itself works
 * (deciding on the headers, running the handler, sending the answer) the
 * watch is off: the deadline bounds the client, never us, and a download
 * takes the time it needs.
 *
 * Two things act on it. A request found late when its headers or a piece of
 * its body arrive is answered 408 once it is in (libmicrohttpd takes no
 * answer while a body is being received: MHD_queue_response refuses it, so a
 * late body is read on and thrown away). A request still not in
 * DEADLINE_GRACE_US after its deadline has its socket shut down by
 * watch_sweep(), from the main thread; libmicrohttpd then sees the end of
 * the stream and closes the connection. The list lock makes that safe: a
 * watch leaves the list (connection notifier, "closed") before
 * libmicrohttpd closes its descriptor, which can then not be another's.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "conf.h"
#include "util.h"
#include "watch.h"

#define BODY_BYTES_PER_SECOND	2048
#define DEADLINE_GRACE_US	1000000

struct watch {
	struct watch	*prev, *next;
	MHD_socket	 fd;
	_Atomic int64_t	 deadline;	/* monotonic µs; 0: off */
	atomic_int	 shut;		/* by watch_sweep() */
};

static pthread_mutex_t	 watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watch	*watches;

/* Arms w for a request to come, whose first byte may wait the idle bound. */
void
watch_arm(struct watch *w)
{
	if (w != NULL)
		atomic_store(&w->deadline, now_us() + (conf.connection_timeout +
		    conf.request_timeout) * 1000000);
}

void
watch_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo	*ci;
	struct watch			*w = *socket_ctx;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;		/* no watch: no deadline */
		w = xcalloc(1, sizeof(*w));
		w->fd = ci->connect_fd;
		watch_arm(w);
		pthread_mutex_lock(&watch_lock);
		if ((w->next = watches) != NULL)
			watches->prev = w;
		watches = w;
		pthread_mutex_unlock(&watch_lock);
		*socket_ctx = w;
		return;
	}
	if (w == NULL)
		return;
	pthread_mutex_lock(&watch_lock);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&watch_lock);
	free(w);
	*socket_ctx = NULL;
}

struct watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* The request line is in: request_timeout from now, if that is sooner. */
void
watch_request_line(struct watch *w)
{
	int64_t	d, old;

	if (w == NULL)
		return;
	d = now_us() + conf.request_timeout * 1000000;
	old = atomic_load(&w->deadline);
	if (old == 0 || d < old)
		atomic_store(&w->deadline, d);
}

/*
 * Stops the clock (the server works, or the request is in); returns the
 * time the client had left, negative when it is late.
 */
int64_t
watch_stop(struct watch *w)
{
	int64_t	d;

	if (w == NULL || (d = atomic_exchange(&w->deadline, 0)) == 0)
		return INT64_MAX;
	return d - now_us();
}

/* Starts it again for the body, with the time that was left. */
void
watch_resume(struct watch *w, int64_t left)
{
	if (w != NULL && left != INT64_MAX)
		atomic_store(&w->deadline, now_us() + left);
}

/* n bytes of body came: 1 if they came late, else they earn their time. */
int
watch_body(struct watch *w, size_t n)
{
	int64_t	d;

	if (w == NULL || (d = atomic_load(&w->deadline)) == 0)
		return 0;
	if (now_us() > d)
		return 1;
	atomic_store(&w->deadline, d + (int64_t)n * 1000000 /
	    BODY_BYTES_PER_SECOND);
	return 0;
}

/* Shuts down the connections whose request is over its deadline and grace. */
void
watch_sweep(void)
{
	struct watch	*w;
	int64_t		 now = now_us(), d;

	pthread_mutex_lock(&watch_lock);
	for (w = watches; w != NULL; w = w->next) {
		d = atomic_load(&w->deadline);
		if (d == 0 || now <= d + DEADLINE_GRACE_US ||
		    atomic_load(&w->shut))
			continue;
		atomic_store(&w->shut, 1);
		shutdown(w->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&watch_lock);
}

int
watch_was_shut(const struct watch *w)
{
	return w != NULL && atomic_load(&w->shut);
}
