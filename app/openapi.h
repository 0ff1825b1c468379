/*
 * openapi.h — the OpenAPI 3.0 description of the partner API (/api/v1),
 * generated from the route table (routes.c).
 */
#ifndef GUICHET_OPENAPI_H
#define GUICHET_OPENAPI_H

#include <jansson.h>

struct req;

/* The description of every /api/v1 route (the caller decrefs). */
json_t	*openapi_document(void);
/* GET /api/v1/openapi.json */
void	 openapi_get(struct req *);

#endif
