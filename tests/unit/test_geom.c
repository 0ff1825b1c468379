/* Geometry input: GeoJSON and WKT, and each distinct error. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

#include "geom.h"
#include "util.h"

static const char *
code_of(const char *text, int as_string, unsigned allowed)
{
	static char code[64];
	struct geom_error e;
	json_t *in = as_string ? json_string(text) : json_loads(text, JSON_DECODE_ANY, NULL);
	GEOSGeometry *g;

	assert_non_null(in);
	g = geom_read(in, allowed, &e);
	json_decref(in);
	if (g != NULL) {
		GEOSGeom_destroy_r(geom_ctx(), g);
		return "ok";
	}
	snprintf(code, sizeof(code), "%s", e.code);
	return code;
}

static void
accepted_inputs(void **state)
{
	unsigned any = GEOM_POINT | GEOM_POLYGON | GEOM_MULTIPOLYGON;

	(void)state;
	assert_string_equal(code_of("{\"type\":\"Point\",\"coordinates\":[1.44,43.6]}",
	    0, GEOM_POINT), "ok");
	assert_string_equal(code_of("POINT(1.44 43.6)", 1, GEOM_POINT), "ok");
	assert_string_equal(code_of("  {\"type\":\"Point\",\"coordinates\":[1,2]}",
	    1, GEOM_POINT), "ok");
	assert_string_equal(code_of("POLYGON((1 43, 2 43, 2 44, 1 43))", 1, any),
	    "ok");
	assert_string_equal(code_of("MULTIPOLYGON(((1 43, 2 43, 2 44, 1 43)))", 1,
	    any), "ok");
}

static void
distinct_errors(void **state)
{
	(void)state;
	assert_string_equal(code_of("POINT(1.44", 1, GEOM_POINT), "geometry_parse");
	assert_string_equal(code_of("{\"type\":\"Pointe\",\"coordinates\":[1,2]}",
	    0, GEOM_POINT), "geometry_parse");
	assert_string_equal(code_of("LINESTRING(1 43, 2 44)", 1, GEOM_POINT),
	    "geometry_type");
	assert_string_equal(code_of("POLYGON((1 43, 2 43, 2 44, 1 43))", 1,
	    GEOM_POINT), "geometry_type");
	assert_string_equal(code_of("POINT EMPTY", 1, GEOM_POINT),
	    "geometry_empty");
	assert_string_equal(code_of("POINT(181 43)", 1, GEOM_POINT),
	    "geometry_coordinates");
	assert_string_equal(code_of("POINT(1 91)", 1, GEOM_POINT),
	    "geometry_coordinates");
	assert_string_equal(code_of("POINT(1e400 43)", 1, GEOM_POINT),
	    "geometry_coordinates");
	assert_string_equal(code_of("POLYGON((1 43, 2 44, 2 43, 1 44, 1 43))", 1,
	    GEOM_POLYGON), "geometry_invalid");
	assert_string_equal(code_of("42", 0, GEOM_POINT), "geometry_missing");
	/* Shapes GEOS 3.11 would trust (found by fuzzing: an empty position
	 * crashed its reader). */
	assert_string_equal(code_of("{\"type\":\"MultiPolygon\",\"coordinates\":"
	    "[[[[],[1,43],[2,43],[1,43]]]]}", 0, GEOM_MULTIPOLYGON), "geometry_parse");
	assert_string_equal(code_of("{\"type\":\"Point\",\"coordinates\":[1]}", 0,
	    GEOM_POINT), "geometry_parse");
	assert_string_equal(code_of("{\"type\":\"Point\",\"coordinates\":[1,\"2\"]}",
	    0, GEOM_POINT), "geometry_parse");
	assert_string_equal(code_of("{\"type\":\"Feature\",\"geometry\":null}", 0,
	    GEOM_POINT), "geometry_parse");
	assert_string_equal(code_of("{\"type\":\"Point\",\"coordinates\":[[]]}", 1,
	    GEOM_POINT), "geometry_parse");
}

static void
invalid_says_why_and_where(void **state)
{
	struct geom_error e;
	json_t *in = json_string("POLYGON((1 43, 2 44, 2 43, 1 44, 1 43))");

	(void)state;
	assert_null(geom_read(in, GEOM_POLYGON, &e));
	assert_non_null(strstr(e.message, "auto-intersection en 1.500000 43.500000"));
	json_decref(in);
}

static void
anchor_and_outputs(void **state)
{
	struct geom_error e;
	json_t *in = json_string("POLYGON((1 43, 3 43, 3 45, 1 45, 1 43))");
	GEOSGeometry *g = geom_read(in, GEOM_POLYGON, &e);
	double x, y;
	char *s;

	(void)state;
	assert_non_null(g);
	assert_int_equal(geom_anchor(g, &x, &y), 0);
	assert_true(x > 1 && x < 3 && y > 43 && y < 45);
	s = geom_hexwkb(g);
	assert_int_equal(strncmp(s, "0103000020E6100000", 18), 0);	/* SRID 4326 */
	free(s);
	s = geom_geojson(g);
	assert_non_null(strstr(s, "\"Polygon\""));
	free(s);
	GEOSGeom_destroy_r(geom_ctx(), g);
	json_decref(in);
	/* 1 degree of longitude at 45°N is about 78.7 km. */
	assert_true(fabs(geom_metres(1, 45, 2, 45) - 78700) < 300);
}

/* A GeoJSON of n positions [0,0] (with an altitude when z) in a type. */
static char *
many_positions(const char *type, const char *open, const char *close,
    size_t n, int z)
{
	struct buf	b = { 0 };
	size_t		i;

	buf_appendf(&b, "{\"type\":\"%s\",\"coordinates\":%s", type, open);
	for (i = 0; i < n; i++)
		buf_puts(&b, i == 0 ? (z ? "[0,0,1]" : "[0,0]") :
		    (z ? ",[0,0,1]" : ",[0,0]"));
	buf_puts(&b, close);
	buf_puts(&b, "}");
	return b.data;
}

/*
 * The vertex limit holds for GeoJSON before anything is copied (a body of
 * short positions costs some 130 MB once parsed, and as much at each step
 * after): one position too many is geometry_too_large, in any nesting, and
 * the same in a collection or in a text.
 */
static void
vertex_limit_before_reading(void **state)
{
	unsigned any = GEOM_POINT | GEOM_POLYGON | GEOM_MULTIPOLYGON |
	    (1u << GEOS_MULTIPOINT);
	char	*s, *gc;

	(void)state;
	s = many_positions("MultiPoint", "[", "]", GEOM_MAX_VERTICES + 1, 0);
	assert_string_equal(code_of(s, 0, any), "geometry_too_large");
	assert_string_equal(code_of(s, 1, any), "geometry_too_large");
	gc = xasprintf("{\"type\":\"GeometryCollection\",\"geometries\":"
	    "[{\"type\":\"Point\",\"coordinates\":[0,0]},%s]}", s);
	assert_string_equal(code_of(gc, 0, any | (1u << GEOS_GEOMETRYCOLLECTION)),
	    "geometry_too_large");
	free(gc);
	free(s);
	s = many_positions("Polygon", "[[", "]]", GEOM_MAX_VERTICES + 1, 1);
	assert_string_equal(code_of(s, 0, any), "geometry_too_large");
	free(s);
	/* At the limit, the geometry is read (and found invalid). */
	s = many_positions("Polygon", "[[", "]]", GEOM_MAX_VERTICES, 0);
	assert_string_equal(code_of(s, 0, any), "geometry_invalid");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted_inputs),
		cmocka_unit_test(distinct_errors),
		cmocka_unit_test(invalid_says_why_and_where),
		cmocka_unit_test(anchor_and_outputs),
		cmocka_unit_test(vertex_limit_before_reading),
	};

	return cmocka_run_group_tests_name("geom", tests, NULL, NULL);
}
