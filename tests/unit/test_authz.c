/*
 * Territories, the authorisation matrix, SIREN checks, JSON body parameters
 * and the password policy.
 */
#include "harness.h"

#include <jansson.h>
#include <stdlib.h>

#include "authz.h"
#include "conf.h"
#include "org.h"
#include "password.h"
#include "route.h"
#include "territory.h"

static void
insee_codes(void **state)
{
	(void)state;
	assert_true(terr_dept_ok("31"));
	assert_true(terr_dept_ok("2A"));
	assert_true(terr_dept_ok("974"));
	assert_false(terr_dept_ok("20"));
	assert_false(terr_dept_ok("977"));
	assert_false(terr_dept_ok("3"));
	assert_false(terr_dept_ok("2C"));
	assert_true(terr_dept_ok("95"));
	assert_false(terr_dept_ok("96"));
	assert_false(terr_dept_ok("97"));
	assert_false(terr_dept_ok("99"));
	assert_false(terr_commune_ok("96001"));
	assert_true(terr_commune_ok("31555"));
	assert_true(terr_commune_ok("2A004"));
	assert_true(terr_commune_ok("97411"));
	assert_false(terr_commune_ok("3155"));
	assert_false(terr_commune_ok("20004"));
	assert_false(terr_commune_ok("31A55"));
}

static void
containment(void **state)
{
	struct territory t, sub;

	(void)state;
	assert_int_equal(terr_from_pg(&t, "{31,34}", "{11069}"), 0);
	assert_true(terr_contains(&t, "31555"));	/* by its département */
	assert_true(terr_contains(&t, "34"));
	assert_true(terr_contains(&t, "11069"));	/* listed commune */
	assert_false(terr_contains(&t, "11262"));
	assert_false(terr_contains(&t, "11"));		/* one commune is not the département */
	assert_false(terr_contains(&t, "garbage"));
	assert_int_equal(terr_from_pg(&sub, "{}", "{31555,11069}"), 0);
	assert_true(terr_within(&t, &sub));
	terr_free(&sub);
	assert_int_equal(terr_from_pg(&sub, "{11}", "{}"), 0);
	assert_false(terr_within(&t, &sub));
	terr_free(&sub);
	terr_free(&t);
	assert_int_equal(terr_from_pg(&t, "{\"31\"}", NULL), -1);
	assert_true(terr_empty(&t));
}

static struct identity
who(enum role role, int token, unsigned scopes)
{
	struct identity w;

	memset(&w, 0, sizeof(w));
	w.role = role;
	w.org_id = 7;
	w.via_token = token;
	w.scopes = scopes;
	terr_from_pg(&w.terr, "{31}", "{}");
	w.terr.all = role == ROLE_ADMIN;
	return w;
}

static void
role_matrix(void **state)
{
	struct identity c = who(ROLE_CONTRIBUTOR, 0, SCOPE_ALL);
	struct identity r = who(ROLE_REVIEWER, 0, SCOPE_ALL);
	struct identity o = who(ROLE_ORG_ADMIN, 0, SCOPE_ALL);
	struct identity a = who(ROLE_ADMIN, 0, SCOPE_ALL);

	(void)state;
	assert_int_equal(authz_route(NULL, ACT_PUBLIC).status, 0);
	assert_int_equal(authz_route(NULL, ACT_SELF).status, 401);
	assert_int_equal(authz_route(&c, ACT_SUBMIT).status, 0);
	assert_int_equal(authz_route(&c, ACT_REVIEW).status, 403);
	assert_int_equal(authz_route(&r, ACT_REVIEW).status, 0);
	assert_int_equal(authz_route(&r, ACT_MEMBERS).status, 403);
	assert_int_equal(authz_route(&o, ACT_MEMBERS).status, 0);
	assert_int_equal(authz_route(&o, ACT_ADMIN).status, 403);
	assert_int_equal(authz_route(&o, ACT_EXPORT).status, 403);
	assert_int_equal(authz_route(&a, ACT_EXPORT).status, 0);
	assert_int_equal(authz_route(&a, ACT_ADMIN).status, 0);
	terr_free(&c.terr);
	terr_free(&r.terr);
	terr_free(&o.terr);
	terr_free(&a.terr);
}

static void
tokens_are_narrowed_by_scope(void **state)
{
	struct identity t = who(ROLE_ADMIN, 1, SCOPE_READ);
	struct authz_decision d;

	(void)state;
	assert_int_equal(authz_route(&t, ACT_READ).status, 0);
	d = authz_route(&t, ACT_SUBMIT);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.code, "scope_missing");
	d = authz_route(&t, ACT_ACCOUNT);
	assert_string_equal(d.code, "token_not_allowed");
	terr_free(&t.terr);
}

static void
territory_and_organisation(void **state)
{
	struct identity c = who(ROLE_REVIEWER, 0, SCOPE_ALL);
	struct identity o = who(ROLE_ORG_ADMIN, 0, SCOPE_ALL);
	struct identity a = who(ROLE_ADMIN, 0, SCOPE_ALL);

	(void)state;
	assert_int_equal(authz_place(&c, ACT_REVIEW, "31555").status, 0);
	assert_string_equal(authz_place(&c, ACT_REVIEW, "34172").code,
	    "outside_territory");
	assert_int_equal(authz_place(&a, ACT_REVIEW, "34172").status, 0);
	assert_int_equal(authz_org(&o, ACT_MEMBERS, 7).status, 0);
	assert_string_equal(authz_org(&o, ACT_MEMBERS, 8).code,
	    "other_organisation");
	assert_int_equal(authz_org(&a, ACT_MEMBERS, 8).status, 0);
	assert_int_equal(authz_org(&c, ACT_MEMBERS, 7).status, 403);
	terr_free(&c.terr);
	terr_free(&o.terr);
	terr_free(&a.terr);
}

static void
names(void **state)
{
	(void)state;
	assert_int_equal(role_parse("org_admin"), ROLE_ORG_ADMIN);
	assert_int_equal(role_parse("root"), ROLE_NONE);
	assert_string_equal(role_name(ROLE_REVIEWER), "reviewer");
	assert_int_equal(scope_bit("export"), SCOPE_EXPORT);
	assert_int_equal(scope_bit("all"), -1);
}

static void
siren_luhn(void **state)
{
	(void)state;
	assert_true(org_siren_ok("732829320"));		/* a real, valid SIREN */
	assert_true(org_siren_ok("283100014"));
	assert_false(org_siren_ok("283100015"));
	assert_false(org_siren_ok("12345678"));
	assert_false(org_siren_ok("1234567890"));
	assert_false(org_siren_ok("73282932a"));
}

static const char *const roles[] = { "contributor", "admin", NULL };
static const struct param_spec body[] = {
	{ "email", IN_BODY, P_EMAIL, P_REQUIRED, 0, 0, NULL },
	{ "role", IN_BODY, P_ENUM, 0, 0, 0, roles },
	{ "communes", IN_BODY, P_COMMUNES, P_NULLABLE, 0, 3, NULL },
	{ "depts", IN_BODY, P_DEPTS, 0, 0, 3, NULL },
	{ "scopes", IN_BODY, P_ENUMS, 0, 0, 3, roles },
	{ "n", IN_BODY, P_INT, 0, 1, 10, NULL },
	{ "on", IN_BODY, P_BOOL, 0, 0, 0, NULL },
	{ NULL }
};

static int
parse(const char *text, struct param_val *v, struct param_error *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(j);
	rc = param_parse_body(body, v, j, e);
	json_decref(j);	/* values are not read after this */
	return rc;
}

static void
body_parameters(void **state)
{
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;
	json_t *j;

	(void)state;
	j = json_loads("{\"email\":\"a@b.fr\",\"role\":\"admin\",\"communes\":"
	    "[\"31555\"],\"n\":3,\"on\":true,\"ignored\":1}", 0, NULL);
	assert_int_equal(param_parse_body(body, v, j, &e), 0);
	assert_string_equal(v[0].s, "a@b.fr");
	assert_string_equal(v[1].s, "admin");
	assert_int_equal(json_array_size(v[2].a), 1);
	assert_int_equal(v[5].i, 3);
	assert_int_equal(v[6].i, 1);
	assert_false(v[3].set);
	json_decref(j);
	j = json_loads("{\"email\":\"a@b.fr\",\"communes\":null}", 0, NULL);
	assert_int_equal(param_parse_body(body, v, j, &e), 0);
	assert_true(v[2].set && v[2].isnull);
	json_decref(j);
}

static void
expect_body_error(const char *text, const char *field, const char *code)
{
	struct param_val v[ROUTE_MAX_PARAMS];
	struct param_error e;

	assert_int_equal(parse(text, v, &e), -1);
	assert_string_equal(e.spec->name, field);
	assert_string_equal(e.code, code);
}

static void
body_errors_name_the_field(void **state)
{
	(void)state;
	expect_body_error("{}", "email", "param_missing");
	expect_body_error("{\"email\":null}", "email", "param_missing");
	expect_body_error("{\"email\":\"no-at-sign\"}", "email", "param_invalid");
	expect_body_error("{\"email\":\"a@b@c\"}", "email", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"role\":\"root\"}", "role",
	    "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"communes\":\"31555\"}",
	    "communes", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"communes\":[\"3155\"]}",
	    "communes", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"communes\":[\"31555\","
	    "\"31555\"]}", "communes", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"communes\":[\"31555\","
	    "\"31069\",\"31001\",\"31002\"]}", "communes", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"depts\":[31]}", "depts",
	    "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"depts\":null}", "depts",
	    "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"scopes\":[\"x\"]}", "scopes",
	    "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"n\":\"3\"}", "n",
	    "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"n\":11}", "n", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"n\":1.5}", "n", "param_invalid");
	expect_body_error("{\"email\":\"a@b.fr\",\"on\":1}", "on", "param_invalid");
}

static void
password_policy(void **state)
{
	(void)state;
	assert_null(pw_policy("correct horse battery", "a@b.fr"));
	assert_non_null(pw_policy("onze-caract", "a@b.fr"));
	assert_null(pw_policy("éééééééééééé", "a@b.fr"));	/* 12 characters */
	assert_non_null(pw_policy("Agent@Toulouse.test", "agent@toulouse.TEST"));
}

static void
password_hash_and_verify(void **state)
{
	char *env[] = { "GUICHET_ARGON2_OPSLIMIT=1", "GUICHET_ARGON2_MEMLIMIT_KIB=8192",
	    NULL };
	char err[256], hash[crypto_pwhash_STRBYTES];
	int rehash;

	(void)state;
	assert_int_equal(sodium_init() >= 0, 1);
	assert_int_equal(conf_load(NULL, env, err, sizeof(err)), 0);
	pw_init(0, 0);
	assert_int_equal(pw_hash("correct horse battery", hash), 0);
	assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
	assert_true(pw_verify(hash, "correct horse battery", &rehash));
	assert_false(rehash);
	assert_false(pw_verify(hash, "correct horse batterz", &rehash));
	assert_false(pw_verify(NULL, "anything at all", &rehash));
	conf.argon2_opslimit = 2;
	assert_true(pw_verify(hash, "correct horse battery", &rehash));
	assert_true(rehash);
	conf_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(insee_codes),
		cmocka_unit_test(containment),
		cmocka_unit_test(role_matrix),
		cmocka_unit_test(tokens_are_narrowed_by_scope),
		cmocka_unit_test(territory_and_organisation),
		cmocka_unit_test(names),
		cmocka_unit_test(siren_luhn),
		cmocka_unit_test(body_parameters),
		cmocka_unit_test(body_errors_name_the_field),
		cmocka_unit_test(password_policy),
		cmocka_unit_test(password_hash_and_verify),
	};

	return cmocka_run_group_tests_name("authz", tests, NULL, NULL);
}
