/*
 * libFuzzer target: geometry input (app/geom.c). The bytes are tried as a
 * text (WKT, or GeoJSON in a string) and as a JSON document (a GeoJSON
 * object), with every geometry type allowed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "geom.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
try(json_t *in)
{
	struct geom_error	 e;
	GEOSGeometry		*g;
	double			 x, y;

	if (in == NULL)
		return;
	g = geom_read(in, GEOM_POINT | GEOM_POLYGON | GEOM_MULTIPOLYGON, &e);
	if (g != NULL) {
		(void)geom_anchor(g, &x, &y);
		GEOSGeom_destroy_r(geom_ctx(), g);
	}
	json_decref(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	try(json_string(s));		/* NULL when not UTF-8: skipped */
	try(json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL));
	free(s);
	return 0;
}
