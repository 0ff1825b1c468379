/* Request target parsing: segments, escapes, traversal refusals, queries. */
#include "harness.h"

#include <stdlib.h>

#include "url.h"

static void
root_has_no_segment(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("/", &u), URL_OK);
	assert_int_equal(u.nsegs, 0);
	url_free(&u);
}

static void
segments_are_decoded(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("/api/v1/B%C3%A9ziers%20x", &u), URL_OK);
	assert_int_equal(u.nsegs, 3);
	assert_str(u.segs[0], "api");
	assert_str(u.segs[2], "Béziers x");
	url_free(&u);
}

static void
trailing_slash_gives_empty_segment(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("/healthz/", &u), URL_OK);
	assert_int_equal(u.nsegs, 2);
	assert_str(u.segs[1], "");
	url_free(&u);
}

static void
traversal_is_refused(void **state)
{
	static const char *bad[] = { "/../etc/passwd", "/a/../b", "/./a",
	    "/%2e%2e/etc", "/%2E%2e/x", "/.%2e/x", "/a%2fb", "/a%2F..",
	    "/a/%2e", "/a%0ab", "/a%7fb", "/a\tb", "relative", "" };
	struct url u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(url_parse(bad[i], &u), URL_BAD_PATH);
		url_free(&u);
	}
}

static void
malformed_escapes_are_refused(void **state)
{
	static const char *bad[] = { "/%", "/a%4", "/%zz", "/%g0", "/a%00b",
	    "/x?q=%", "/x?q=%0", "/x?%zz=1", "/x?q=%00" };
	struct url u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(url_parse(bad[i], &u), URL_BAD_ESCAPE);
		url_free(&u);
	}
}

static void
double_encoding_decodes_once(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("/%252e%252e/x", &u), URL_OK);
	assert_str(u.segs[0], "%2e%2e");
	url_free(&u);
}

static void
absolute_form_keeps_the_path(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("http://example.org/api/v1?x=1", &u), URL_OK);
	assert_int_equal(u.nsegs, 2);
	assert_str(u.segs[1], "v1");
	assert_int_equal(u.nquery, 1);
	url_free(&u);
	assert_int_equal(url_parse("HTTPS://example.org", &u), URL_OK);
	assert_int_equal(u.nsegs, 0);
	url_free(&u);
	assert_int_equal(url_parse("http://example.org/../etc", &u), URL_BAD_PATH);
	url_free(&u);
	assert_int_equal(url_parse("http://example.org?x", &u), URL_BAD_PATH);
	url_free(&u);
}

static void
query_pairs(void **state)
{
	struct url u;

	(void)state;
	assert_int_equal(url_parse("/x?a=1&b=deux+mots&&c&d=%C3%A9%26", &u),
	    URL_OK);
	assert_int_equal(u.nquery, 4);
	assert_str(u.query[0].name, "a");
	assert_str(u.query[0].value, "1");
	assert_str(u.query[1].value, "deux mots");
	assert_str(u.query[2].name, "c");
	assert_str(u.query[2].value, "");
	assert_str(u.query[3].value, "é&");
	url_free(&u);
}

static void
too_many_segments(void **state)
{
	char	 target[200];
	struct url u;
	size_t	 i;

	(void)state;
	target[0] = '\0';
	for (i = 0; i < URL_MAX_SEGS + 1; i++)
		strcat(target, "/a");
	assert_int_equal(url_parse(target, &u), URL_TOO_MANY);
	url_free(&u);
}

static void
decode_plus_only_in_query(void **state)
{
	char	*s;
	size_t	 n;

	(void)state;
	s = url_decode("a+b", 3, 0, &n);
	assert_str(s, "a+b");
	free(s);
	s = url_decode("a+b", 3, 1, &n);
	assert_str(s, "a b");
	assert_int_equal(n, 3);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_has_no_segment),
		cmocka_unit_test(segments_are_decoded),
		cmocka_unit_test(trailing_slash_gives_empty_segment),
		cmocka_unit_test(traversal_is_refused),
		cmocka_unit_test(malformed_escapes_are_refused),
		cmocka_unit_test(double_encoding_decodes_once),
		cmocka_unit_test(absolute_form_keeps_the_path),
		cmocka_unit_test(query_pairs),
		cmocka_unit_test(too_many_segments),
		cmocka_unit_test(decode_plus_only_in_query),
	};

	return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
