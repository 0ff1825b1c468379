/*
 * watch.h — the deadline for receiving each request (conf.request_timeout):
 * one watch per connection, its socket context. http.c stops the clock
 * while the server works and starts it for what the client still owes;
 * the main thread sweeps the connections that are late (watch.c says why
 * libmicrohttpd's own timeout is not enough).
 */
#ifndef GUICHET_WATCH_H
#define GUICHET_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

/* How often the main thread should call watch_sweep(), in nanoseconds. */
#define WATCH_SWEEP_NS	250000000L

struct watch;

/* MHD_OPTION_NOTIFY_CONNECTION: a watch per connection, armed. */
void		 watch_on_connection(void *cls, struct MHD_Connection *conn,
		    void **socket_ctx, enum MHD_ConnectionNotificationCode code);
/* The watch of a connection (NULL: none, no deadline). */
struct watch	*watch_of(struct MHD_Connection *conn);
/* Arms w for the connection's next request (after an answer). */
void		 watch_arm(struct watch *w);
/* The request line is in: request_timeout from now, if that is sooner. */
void		 watch_request_line(struct watch *w);
/* Stops the clock; the time the client had left (INT64_MAX: no clock),
 * negative when late. */
int64_t		 watch_stop(struct watch *w);
/* Starts it again, for a body, with the time that was left. */
void		 watch_resume(struct watch *w, int64_t left);
/* n bytes of body came: 1 if late, else they earn their time. */
int		 watch_body(struct watch *w, size_t n);
/* Shuts down the connections over their deadline and its grace. */
void		 watch_sweep(void);
/* Was w's connection shut down by watch_sweep()? */
int		 watch_was_shut(const struct watch *w);

#endif
