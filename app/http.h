/*
 * http.h — the HTTP core on libmicrohttpd: per-request state, dispatch over
 * the route table, and the only ways a handler answers (JSON, the one error
 * shape, or a prepared response).
 *
 * A handler is called once, when the whole request (body included) is in,
 * and must answer exactly once through one of the http_reply_* functions.
 */
#ifndef GUICHET_HTTP_H
#define GUICHET_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "authz.h"
#include "route.h"
#include "url.h"
#include "util.h"

struct watch;

struct req {
	struct MHD_Connection	*conn;
	char			*target;	/* raw request target, as sent */
	const char		*method;
	struct url		 url;
	const struct route	*route;		/* NULL: static file fallback */
	struct param_val	 params[ROUTE_MAX_PARAMS];
	struct buf		 body;
	size_t			 body_limit;
	int			 body_too_large;
	json_t			*json;		/* parsed body, see req_json_or_400 */
	struct identity		*who;		/* NULL: anonymous */
	char			 addr[46];	/* client address */
	int64_t			 t0;		/* request start, monotonic µs */
	struct watch		*watch;		/* its connection's deadline */
	int			 late;		/* past it: answered 408 */
	int			 started;	/* headers in, first call made */
	int			 has_body;	/* Content-Length > 0 or chunked */
	int			 queued;	/* the answer is with libmicrohttpd */
	struct MHD_Response	*resp;		/* the answer, queued at the end */
	unsigned		 status;
	size_t			 bytes;
	char			 etag[24];	/* set: sent with a JSON answer */
	struct upload		*upload;	/* R_UPLOAD: the body, on disk */
	int			 storage_failed;	/* ...could not be stored */
	struct idem		*idem;		/* R_IDEMPOTENT, keyed: idem.h */
};

/*
 * Binds and listens on listen_address and listen_port; returns the socket,
 * or fatal(). Called before the privileges are dropped: a port under 1024
 * needs root.
 */
int		 http_listen(void);
/* Serves on that socket until SIGINT or SIGTERM; returns the exit status. */
int		 http_serve(int lfd);

/* The typed value of a declared parameter of the request's route. */
const struct param_val *req_param(const struct req *, const char *name);
/* A request header, or NULL. */
const char	*req_header(const struct req *, const char *name);
/* The body parsed as JSON; on failure answers 400 and returns NULL. */
json_t		*req_json_or_400(struct req *);

/* Answers with body (stolen) as JSON. */
void		 http_reply_json(struct req *, unsigned status, json_t *body);
/*
 * Answers with the one error shape {"error":{"code","message","field"}}:
 * code is stable (snake_case), message is French, field may be NULL.
 */
void		 http_reply_error(struct req *, unsigned status,
		    const char *code, const char *message, const char *field);
/* Answers with a prepared response (taken over) and status. */
void		 http_reply(struct req *, unsigned status, struct MHD_Response *);
/* Answers with no body (204, 304). */
void		 http_reply_empty(struct req *, unsigned status);

/* Adds the security headers every answer carries; api: also no-store. */
void		 http_common_headers(struct MHD_Response *, int api);

/*
 * The same for a page other sites may show in a frame (the widget): the
 * policy's frame-ancestors is conf.widget_frame_ancestors, and no
 * X-Frame-Options.
 */
void		 http_embeddable_headers(struct MHD_Response *);

/* Does an If-None-Match value (NULL: none) hold etag (weak comparison,
 * or "*")? */
int		 http_etag_matches(const char *inm, const char *etag);

/* The error object alone, for tests and for other serialisers. */
json_t		*http_error_json(const char *code, const char *message,
		    const char *field);

#endif
