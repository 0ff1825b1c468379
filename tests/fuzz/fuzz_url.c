/*
 * libFuzzer target: the request target parser (app/url.c) and the typed
 * parameters (app/route.c) of a route with every kind of query parameter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "url.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const choices[] = { "a", "b", NULL };
static const struct param_spec specs[] = {
	{ "n", IN_QUERY, P_INT, 0, -5, 1000, NULL },
	{ "s", IN_QUERY, P_STR, 0, 0, 20, NULL },
	{ "e", IN_QUERY, P_ENUM, 0, 0, 0, choices },
	{ "b", IN_QUERY, P_BOOL, 0, 0, 0, NULL },
	{ "m", IN_QUERY, P_EMAIL, 0, 0, 0, NULL },
	{ NULL }
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*qn[URL_MAX_PAIRS], *qv[URL_MAX_PAIRS];
	struct param_val	 vals[ROUTE_MAX_PARAMS];
	struct param_error	 pe;
	struct url		 u;
	char			*s = malloc(size + 1);
	size_t			 i;

	memcpy(s, data, size);
	s[size] = '\0';
	if (url_parse(s, &u) == URL_OK) {
		for (i = 0; i < u.nquery; i++) {
			qn[i] = u.query[i].name;
			qv[i] = u.query[i].value;
		}
		(void)param_parse(specs, vals, NULL, 0, qn, qv, u.nquery, &pe);
	}
	url_free(&u);
	free(s);
	return 0;
}
