/* The JSON error shape, HTML escaping, MIME types and UTF-8 validation. */
#include "harness.h"

#include <stdlib.h>

#include "asset.h"
#include "html.h"
#include "http.h"
#include "util.h"

static void
error_shape_with_field(void **state)
{
	json_t *j = http_error_json("param_invalid", "Le paramètre « limit » "
	    "doit être un entier entre 1 et 1000.", "limit");
	char *s;

	(void)state;
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_str(s, "{\"error\":{\"code\":\"param_invalid\",\"field\":"
	    "\"limit\",\"message\":\"Le paramètre « limit » doit être un entier "
	    "entre 1 et 1000.\"}}");
	free(s);
	json_decref(j);
}

static void
error_shape_without_field_has_null(void **state)
{
	json_t *j = http_error_json("not_found", "Introuvable.", NULL);
	json_t *e = json_object_get(j, "error");

	(void)state;
	assert_true(json_is_object(e));
	assert_int_equal(json_object_size(j), 1);
	assert_int_equal(json_object_size(e), 3);
	assert_true(json_is_null(json_object_get(e, "field")));
	assert_str(json_string_value(json_object_get(e, "code")), "not_found");
	json_decref(j);
}

static void
html_escape_all_specials(void **state)
{
	struct buf b = { 0 };

	(void)state;
	html_escape(&b, "<script>alert('x') & \"y\"</script>é");
	assert_str(b.data, "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;"
	    "&lt;/script&gt;é");
	buf_free(&b);
}

static void
mime_types(void **state)
{
	(void)state;
	assert_str(asset_mime("index.html"), "text/html; charset=utf-8");
	assert_str(asset_mime("js/app.JS"), "text/javascript; charset=utf-8");
	assert_str(asset_mime("a.css"), "text/css; charset=utf-8");
	assert_str(asset_mime("x.svg"), "image/svg+xml");
	assert_str(asset_mime("leaflet/marker.png"), "image/png");
	assert_str(asset_mime("README"), "application/octet-stream");
	assert_str(asset_mime("dir.v2/file"), "application/octet-stream");
	assert_str(asset_mime("x.exe"), "application/octet-stream");
}

/* A file's cells and column names lose the blanks around them, not inside. */
static void
strip_removes_surrounding_blanks(void **state)
{
	char	a[] = " \t nom de l'ERP\t ", b[] = "   ", c[] = "x";

	(void)state;
	str_strip(a);
	assert_string_equal(a, "nom de l'ERP");
	str_strip(b);
	assert_string_equal(b, "");
	str_strip(c);
	assert_string_equal(c, "x");
}

static void
utf8_validation(void **state)
{
	(void)state;
	assert_true(utf8_valid("Béziers — Occitània", strlen("Béziers — Occitània")));
	assert_true(utf8_valid("\xf0\x9f\x97\xba", 4));		/* U+1F5FA */
	assert_false(utf8_valid("\xc0\xaf", 2));		/* overlong / */
	assert_false(utf8_valid("\xe0\x80\xaf", 3));		/* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(utf8_valid("\xc3", 1));			/* truncated */
	assert_false(utf8_valid("\xff", 1));
}

static void
buffer_grows_and_terminates(void **state)
{
	struct buf b = { 0 };
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		buf_appendf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
	buf_free(&b);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_shape_with_field),
		cmocka_unit_test(error_shape_without_field_has_null),
		cmocka_unit_test(html_escape_all_specials),
		cmocka_unit_test(mime_types),
		cmocka_unit_test(utf8_validation),
		cmocka_unit_test(strip_removes_surrounding_blanks),
		cmocka_unit_test(buffer_grows_and_terminates),
	};

	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
