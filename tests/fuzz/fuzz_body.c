/*
 * libFuzzer target: JSON request bodies against the body parameters of
 * every route of the route table (app/route.c param_parse_body: typed
 * values, id lists, multi-line texts, codes, nested JSON), and the
 * moderation remarks they may carry. A body that is not JSON goes to
 * param_json_error, which may only name a body member of the route.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct param_val	 vals[ROUTE_MAX_PARAMS];
	struct param_error	 pe;
	const struct param_spec	*s;
	const char		*name;
	json_error_t		 je;
	json_t			*body;
	size_t			 i;

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    &je);
	if (body == NULL)
		/* What names the member a syntax error lies in: a body
		 * member of the route, or nothing. */
		for (i = 0; i < route_count; i++) {
			name = param_json_error(route_table[i].params,
			    (const char *)data, size, (size_t)je.position);
			for (s = route_table[i].params; name != NULL &&
			    s->name != name; s++)
				if (s->name == NULL)
					abort();
			if (name != NULL && s->in != IN_BODY)
				abort();
		}
	if (!json_is_object(body)) {
		json_decref(body);
		return 0;
	}
	for (i = 0; i < route_count; i++) {
		if (route_table[i].body_type == NULL)
			continue;
		memset(vals, 0, sizeof(vals));
		(void)param_parse_body(route_table[i].params, vals, body, &pe);
	}
	json_decref(body);
	return 0;
}
