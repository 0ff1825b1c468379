/*
 * route.h — routes and their declared parameters as data.
 *
 * A route is one row: method, path pattern ("/api/v1/submissions/{id}"),
 * handler, the action it performs (authz.h), the parameters it accepts (path
 * and query), the largest body it takes, and a one-line French summary: the
 * API description (openapi.c) is generated from this table. The table itself is in routes.c; this
 * module matches requests against it and turns raw parameter strings into
 * typed values. Parameters a route does not declare are dropped.
 */
#ifndef GUICHET_ROUTE_H
#define GUICHET_ROUTE_H

#include <stddef.h>

#include "authz.h"

struct req;
typedef void (*route_handler)(struct req *);

enum param_in	{ IN_QUERY, IN_PATH, IN_BODY };

/*
 * P_EMAIL is text shaped like an address; P_SECRET is text never repeated
 * anywhere (passwords, tokens); P_DEPTS and P_COMMUNES are JSON arrays of
 * INSEE codes; P_ENUMS a JSON array of values from choices. Arrays exist
 * only in JSON bodies.
 */
enum param_kind	{ P_INT, P_STR, P_ENUM, P_BOOL, P_EMAIL, P_SECRET, P_DEPTS,
		  P_COMMUNES, P_ENUMS, P_JSON, P_IDS };

#define P_REQUIRED	0x01
#define P_NULLABLE	0x02	/* a JSON null is accepted (and means "none") */
#define P_LINES		0x04	/* P_STR: line breaks and tabs allowed */

struct param_spec {
	const char		*name;
	enum param_in		 in;
	enum param_kind		 kind;
	unsigned		 flags;
	long long		 min, max;	/* value (P_INT) or length (P_STR) */
	const char *const	*choices;	/* P_ENUM, NULL-terminated */
};

/*
 * A parsed value: i for P_INT and P_BOOL, s for the text kinds, a for the
 * array kinds (borrowed from the request's JSON body). isnull: an explicit
 * JSON null (P_NULLABLE).
 */
struct param_val {
	int		 set;
	int		 isnull;
	long long	 i;
	const char	*s;
	struct json_t	*a;
};

#define ROUTE_MAX_PARAMS	16

#define BODY_JSON	"application/json"

/* Route flags. */
#define R_NOAUTH	0x01	/* credentials are not looked at (login, reset) */
#define R_SECRET	0x02	/* the body holds secrets: wiped after use */
#define R_CORS		0x04	/* open data: any origin may read every answer */
#define R_UPLOAD	0x08	/* the body is a file: to disk (upload.h), any type,
				 * up to conf.import_max_bytes */
#define R_IDEMPOTENT	0x10	/* creates: takes an Idempotency-Key (idem.h),
				 * its successes are stored to be replayed (so
				 * never where an answer holds a secret) */
#define R_STANDBY	0x20	/* a public read that a read_only node, on a hot
				 * standby, may serve: writes nothing, reads no
				 * credentials (conf read_only) */

struct route {
	const char		*method;
	const char		*pattern;
	route_handler		 handler;
	enum action		 action;	/* see authz.h */
	const struct param_spec	*params;	/* NULL-name terminated, or NULL */
	size_t			 body_max;	/* 0: no body accepted */
	const char		*body_type;	/* media type of the body */
	unsigned		 flags;		/* R_* */
	const char		*summary;	/* French, for the API description */
};

enum route_rc { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_NO_METHOD };

/*
 * Finds the route for method and path segments. Path parameter values are
 * pointed to in pathvals (in pattern order, *npath of them). When the path
 * matches but not the method, ROUTE_NO_METHOD is returned and allow holds
 * the methods that would match ("GET, HEAD"). HEAD matches GET routes.
 */
enum route_rc	 route_find(const struct route *table, size_t n,
		    const char *method, char *const *segs, size_t nsegs,
		    const struct route **found, const char **pathvals,
		    size_t *npath, char *allow, size_t allowlen);

/* Checks every pattern of a table; returns -1 and a message on the first bad one. */
int		 route_check_table(const struct route *table, size_t n,
		    char *err, size_t errlen);

/* Why a parameter was refused: its spec and a stable code. */
struct param_error {
	const struct param_spec	*spec;
	const char		*code;	/* param_missing, param_invalid, param_repeated */
	char			 message[256];	/* French, for the client */
};

/*
 * Parses the parameters declared by specs from the path values and the query
 * pairs into vals (parallel to specs). Undeclared query names are ignored.
 * Returns 0, or -1 with e filled for the first refused parameter.
 */
int		 param_parse(const struct param_spec *specs,
		    struct param_val *vals, const char *const *pathvals,
		    size_t npath, const char *const *qnames,
		    const char *const *qvalues, size_t nquery,
		    struct param_error *e);

/*
 * Parses the IN_BODY parameters of specs from a JSON object into vals.
 * Members the specs do not declare are ignored. Returns 0, or -1 with e.
 */
int		 param_parse_body(const struct param_spec *specs,
		    struct param_val *vals, struct json_t *obj,
		    struct param_error *e);

/*
 * Where a JSON body that does not parse went wrong, for the error's field:
 * the name of the IN_BODY member of specs whose value holds byte offset pos
 * of text (json_error_t.position), or NULL when the error lies elsewhere
 * (in a name, between members, in a member the specs do not declare: a
 * client's own text is never repeated).
 */
const char	*param_json_error(const struct param_spec *specs,
		    const char *text, size_t len, size_t pos);

/* The route table (routes.c). */
extern const struct route	route_table[];
extern const size_t		route_count;

#endif
