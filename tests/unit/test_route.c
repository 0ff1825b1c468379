/* Route matching, the Allow list, table checks and typed parameters. */
#include "harness.h"

#include <jansson.h>
#include <string.h>

#include "route.h"

static void h_list(struct req *r) { (void)r; }
static void h_item(struct req *r) { (void)r; }
static void h_create(struct req *r) { (void)r; }
static void h_health(struct req *r) { (void)r; }

static const char *const states[] = { "draft", "submitted", NULL };

static const struct param_spec p_list[] = {
	{ "limit", IN_QUERY, P_INT, 0, 1, 1000, NULL },
	{ "state", IN_QUERY, P_ENUM, 0, 0, 0, states },
	{ "q", IN_QUERY, P_STR, 0, 1, 5, NULL },
	{ "mine", IN_QUERY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};
static const struct param_spec p_item[] = {
	{ "id", IN_PATH, P_INT, P_REQUIRED, 1, 1000000, NULL },
	{ "f", IN_QUERY, P_STR, P_REQUIRED, 1, 10, NULL },
	{ NULL }
};

static const struct route table[] = {
	{ "GET",  "/healthz", h_health, ACT_PUBLIC, NULL, 0, NULL, 0, "État" },
	{ "GET",  "/api/v1/submissions", h_list, ACT_SUBMIT, p_list, 0, NULL,
	    0, "Liste" },
	{ "POST", "/api/v1/submissions", h_create, ACT_SUBMIT, NULL, 1000,
	    BODY_JSON, 0, "Création" },
	{ "GET",  "/api/v1/submissions/{id}", h_item, ACT_SUBMIT, p_item,
	    0, NULL, 0, "Lecture" },
};
#define N (sizeof(table) / sizeof(table[0]))

/* One lookup and everything it returns. */
struct hit {
	enum route_rc		 rc;
	const struct route	*r;
	const char		*pv[ROUTE_MAX_PARAMS];
	size_t			 np;
	char			 allow[128];
};

static struct hit
find(const char *method, char **segs, size_t n)
{
	struct hit h;

	h.rc = route_find(table, N, method, segs, n, &h.r, h.pv, &h.np,
	    h.allow, sizeof(h.allow));
	return h;
}

static void
literal_route_matches(void **state)
{
	char *segs[] = { "healthz" };
	struct hit h = find("GET", segs, 1);

	(void)state;
	assert_int_equal(h.rc, ROUTE_FOUND);
	assert_ptr_equal(h.r->handler, h_health);
	assert_int_equal(h.np, 0);
}

static void
head_matches_get(void **state)
{
	char *segs[] = { "healthz" };
	struct hit h = find("HEAD", segs, 1);

	(void)state;
	assert_int_equal(h.rc, ROUTE_FOUND);
	assert_ptr_equal(h.r->handler, h_health);
}

static void
path_parameter_is_captured(void **state)
{
	char *segs[] = { "api", "v1", "submissions", "42" };
	struct hit h = find("GET", segs, 4);

	(void)state;
	assert_int_equal(h.rc, ROUTE_FOUND);
	assert_ptr_equal(h.r->handler, h_item);
	assert_int_equal(h.np, 1);
	assert_str(h.pv[0], "42");
}

static void
method_picks_among_same_path(void **state)
{
	char *segs[] = { "api", "v1", "submissions" };

	(void)state;
	assert_ptr_equal(find("POST", segs, 3).r->handler, h_create);
	assert_ptr_equal(find("GET", segs, 3).r->handler, h_list);
}

static void
wrong_method_lists_allowed(void **state)
{
	char *segs[] = { "api", "v1", "submissions" };
	struct hit h = find("DELETE", segs, 3);

	(void)state;
	assert_int_equal(h.rc, ROUTE_NO_METHOD);
	assert_null(h.r);
	assert_str(h.allow, "GET, HEAD, POST");
}

static void
unknown_paths(void **state)
{
	char *a[] = { "api", "v1" };
	char *b[] = { "api", "v1", "submissions", "42", "x" };
	char *c[] = { "api", "v1", "submissions", "" };
	char *d[] = { "healthz", "" };

	(void)state;
	assert_int_equal(find("GET", a, 2).rc, ROUTE_NO_PATH);
	assert_int_equal(find("GET", b, 5).rc, ROUTE_NO_PATH);
	/* An empty segment never fills a parameter. */
	assert_int_equal(find("GET", c, 4).rc, ROUTE_NO_PATH);
	assert_int_equal(find("GET", d, 2).rc, ROUTE_NO_PATH);
	assert_int_equal(find("GET", NULL, 0).rc, ROUTE_NO_PATH);
}

static void
project_table_is_well_formed(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(route_check_table(route_table, route_count, err,
	    sizeof(err)), 0);
	assert_int_equal(route_check_table(table, N, err, sizeof(err)), 0);
}

static void
table_check_finds_undeclared_path_parameter(void **state)
{
	static const struct route bad[] = {
		{ "GET", "/api/v1/orgs/{org}", h_item, ACT_PUBLIC, NULL, 0, NULL },
	};
	static const struct route bad2[] = {
		{ "GET", "/api/v1/orgs/", h_item, ACT_PUBLIC, NULL, 0, NULL },
	};
	static const struct route bad3[] = {
		{ "POST", "/x", h_item, ACT_PUBLIC, NULL, 10, NULL },
	};
	char err[256];

	(void)state;
	assert_int_equal(route_check_table(bad, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "{org}"));
	assert_int_equal(route_check_table(bad2, 1, err, sizeof(err)), -1);
	assert_int_equal(route_check_table(bad3, 1, err, sizeof(err)), -1);
}

/* The API description is generated from the table: no row without its summary. */
static void
table_check_requires_a_summary(void **state)
{
	static const struct route bare[] = {
		{ "GET", "/x", h_item, ACT_PUBLIC, NULL, 0, NULL, 0, NULL },
	};
	static const struct route empty[] = {
		{ "GET", "/x", h_item, ACT_PUBLIC, NULL, 0, NULL, 0, "" },
	};
	char err[256];

	(void)state;
	assert_int_equal(route_check_table(bare, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "summary"));
	assert_int_equal(route_check_table(empty, 1, err, sizeof(err)), -1);
}

/* An Idempotency-Key belongs to a user: a route without one cannot take it. */
static void
table_check_requires_a_user_for_keys(void **state)
{
	static const struct route anonymous[] = {
		{ "POST", "/x", h_item, ACT_PUBLIC, NULL, 10, BODY_JSON,
		    R_IDEMPOTENT, "x" },
	};
	static const struct route unlooked[] = {
		{ "POST", "/x", h_item, ACT_SUBMIT, NULL, 10, BODY_JSON,
		    R_IDEMPOTENT | R_NOAUTH, "x" },
	};
	static const struct route signed_in[] = {
		{ "POST", "/x", h_item, ACT_SUBMIT, NULL, 10, BODY_JSON,
		    R_IDEMPOTENT, "x" },
	};
	char err[256];

	(void)state;
	assert_int_equal(route_check_table(anonymous, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "idempotent"));
	assert_int_equal(route_check_table(unlooked, 1, err, sizeof(err)), -1);
	assert_int_equal(route_check_table(signed_in, 1, err, sizeof(err)), 0);
}

static int
parse(const struct param_spec *s, struct param_val *v, const char *path,
    const char *const *qn, const char *const *qv, size_t nq,
    struct param_error *e)
{
	const char *pv[1] = { path };

	return param_parse(s, v, pv, path ? 1 : 0, qn, qv, nq, e);
}

static void
params_are_typed(void **state)
{
	const char *qn[] = { "limit", "state", "q", "mine", "undeclared" };
	const char *qv[] = { "50", "submitted", "Albi", "true", "x" };
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	(void)state;
	assert_int_equal(parse(p_list, v, NULL, qn, qv, 5, &e), 0);
	assert_true(v[0].set);
	assert_int_equal(v[0].i, 50);
	assert_str(v[1].s, "submitted");
	assert_str(v[2].s, "Albi");
	assert_int_equal(v[3].i, 1);
}

static void
absent_optional_params_are_unset(void **state)
{
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	(void)state;
	assert_int_equal(parse(p_list, v, NULL, NULL, NULL, 0, &e), 0);
	assert_false(v[0].set);
	assert_false(v[1].set);
}

static void
expect_refused(const char *name, const char *value, const char *code)
{
	const char *qn[] = { name };
	const char *qv[] = { value };
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	assert_int_equal(parse(p_list, v, NULL, qn, qv, 1, &e), -1);
	assert_str(e.spec->name, name);
	assert_str(e.code, code);
	assert_non_null(strstr(e.message, name));
}

static void
bad_values_are_refused_with_field(void **state)
{
	(void)state;
	expect_refused("limit", "0", "param_invalid");
	expect_refused("limit", "1001", "param_invalid");
	expect_refused("limit", "12abc", "param_invalid");
	expect_refused("limit", "", "param_invalid");
	expect_refused("limit", "+5", "param_invalid");
	expect_refused("limit", "99999999999999999999999", "param_invalid");
	expect_refused("state", "validated", "param_invalid");
	expect_refused("q", "", "param_invalid");
	expect_refused("q", "sixchr", "param_invalid");
	expect_refused("q", "a\x01", "param_invalid");
	expect_refused("q", "\xc3\x28", "param_invalid");
	expect_refused("q", "\xed\xa0\x80", "param_invalid");
	expect_refused("mine", "yes please", "param_invalid");
}

static void
length_counts_characters_not_bytes(void **state)
{
	const char *qn[] = { "q" };
	const char *qv[] = { "éééé" };	/* 4 characters, 8 bytes */
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	(void)state;
	assert_int_equal(parse(p_list, v, NULL, qn, qv, 1, &e), 0);
}

static void
repeated_param_is_refused(void **state)
{
	const char *qn[] = { "limit", "limit" };
	const char *qv[] = { "1", "2" };
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	(void)state;
	assert_int_equal(parse(p_list, v, NULL, qn, qv, 2, &e), -1);
	assert_str(e.code, "param_repeated");
}

static void
required_and_path_params(void **state)
{
	const char *qn[] = { "f" };
	const char *qv[] = { "json" };
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	(void)state;
	assert_int_equal(parse(p_item, v, "7", qn, qv, 1, &e), 0);
	assert_int_equal(v[0].i, 7);
	assert_str(v[1].s, "json");
	assert_int_equal(parse(p_item, v, "7", NULL, NULL, 0, &e), -1);
	assert_str(e.code, "param_missing");
	assert_str(e.spec->name, "f");
	assert_int_equal(parse(p_item, v, "abc", qn, qv, 1, &e), -1);
	assert_str(e.spec->name, "id");
}

/* Lists of record ids in a JSON body: positive, exact in JSON, distinct. */
static const struct param_spec p_ids[] = {
	{ "ids", IN_BODY, P_IDS, P_REQUIRED, 0, 3, NULL },
	{ NULL }
};

static int
ids(const char *body, struct param_error *e)
{
	struct param_val v[ROUTE_MAX_PARAMS];
	json_t *j = json_loads(body, 0, NULL);
	int rc;

	assert_non_null(j);
	memset(v, 0, sizeof(v));
	rc = param_parse_body(p_ids, v, j, e);
	if (rc == 0)
		assert_int_equal(json_array_size(v[0].a), json_array_size(
		    json_object_get(j, "ids")));
	json_decref(j);
	return rc;
}

static void
id_lists(void **state)
{
	struct param_error e;

	(void)state;
	assert_int_equal(ids("{\"ids\":[1,2,9007199254740991]}", &e), 0);
	assert_int_equal(ids("{\"ids\":[]}", &e), 0);
	assert_int_equal(ids("{\"ids\":[1,1]}", &e), -1);
	assert_str(e.code, "param_invalid");
	assert_str(e.spec->name, "ids");
	assert_int_equal(ids("{\"ids\":[0]}", &e), -1);
	assert_int_equal(ids("{\"ids\":[9007199254740992]}", &e), -1);
	assert_int_equal(ids("{\"ids\":[\"1\"]}", &e), -1);
	assert_int_equal(ids("{\"ids\":[1.5]}", &e), -1);
	assert_int_equal(ids("{\"ids\":[1,2,3,4]}", &e), -1);
	assert_int_equal(ids("{\"ids\":7}", &e), -1);
	assert_int_equal(ids("{}", &e), -1);
	assert_str(e.code, "param_missing");
}

/* The member param_json_error names for a body jansson refuses. */
static const char *
error_member(const char *body, size_t len)
{
	static const struct param_spec p_body[] = {
		{ "attributes", IN_BODY, P_JSON, P_REQUIRED, 0, 0, NULL },
		{ "comment", IN_BODY, P_STR, 0, 0, 100, NULL },
		{ "id", IN_PATH, P_INT, P_REQUIRED, 1, 10, NULL },
		{ NULL }
	};
	json_error_t	 e;
	json_t		*j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);

	assert_null(j);
	return param_json_error(p_body, body, len, (size_t)e.position);
}

#define MEMBER(lit)	error_member(lit, sizeof(lit) - 1)

/*
 * A body that is not JSON names the declared member its error lies in:
 * bytes that are not UTF-8 (one, an overlong form, a cut sequence), a lone
 * surrogate, a NUL, nesting too deep, a syntax error; never a name the
 * route does not declare, nor one that is itself the error.
 */
static void
json_errors_name_their_member(void **state)
{
	char	deep[3000 + 40];

	(void)state;
	assert_str(MEMBER("{\"comment\":\"a\xff" "b\"}"), "comment");
	assert_str(MEMBER("{\"x\":1, \"comment\" : \"\xc0\xaf\"}"), "comment");
	assert_str(MEMBER("{\"comment\":\"\xe2\x82\"}"), "comment");
	assert_str(MEMBER("{\"comment\":\"\\udc80\"}"), "comment");
	assert_str(MEMBER("{\"comment\":\"a\\u0000\"}"), "comment");
	assert_str(MEMBER("{\"attributes\":{\"libelle\":\"\xff\"}}"),
	    "attributes");
	assert_str(MEMBER("{\"attributes\":{\"a\":[1,2,}}"), "attributes");
	assert_str(MEMBER("{\"attributes\":{\"a\":\"\\\"{[\",\"b\":tru}}"),
	    "attributes");
	memcpy(deep, "{\"attributes\":", 14);
	memset(deep + 14, '[', 3000);
	assert_str(error_member(deep, 14 + 3000), "attributes");
	assert_null(MEMBER("{\"pirate\":\"\xff\"}"));
	assert_null(MEMBER("{\"id\":\"\xff\"}"));		/* not a body member */
	assert_null(MEMBER("{\"comm\xff" "ent\":1}"));
	assert_null(MEMBER("{\"comment\":1,\"\xff\":2}"));
	assert_null(MEMBER("{\"comment\":1,}"));
	assert_null(MEMBER("[\"\xff\"]"));
	assert_null(MEMBER("\xff"));
	assert_null(MEMBER("{\"comment\" 1}"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(literal_route_matches),
		cmocka_unit_test(head_matches_get),
		cmocka_unit_test(path_parameter_is_captured),
		cmocka_unit_test(method_picks_among_same_path),
		cmocka_unit_test(wrong_method_lists_allowed),
		cmocka_unit_test(unknown_paths),
		cmocka_unit_test(project_table_is_well_formed),
		cmocka_unit_test(table_check_finds_undeclared_path_parameter),
		cmocka_unit_test(table_check_requires_a_summary),
		cmocka_unit_test(table_check_requires_a_user_for_keys),
		cmocka_unit_test(params_are_typed),
		cmocka_unit_test(absent_optional_params_are_unset),
		cmocka_unit_test(bad_values_are_refused_with_field),
		cmocka_unit_test(length_counts_characters_not_bytes),
		cmocka_unit_test(repeated_param_is_refused),
		cmocka_unit_test(required_and_path_params),
		cmocka_unit_test(id_lists),
		cmocka_unit_test(json_errors_name_their_member),
	};

	return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
