/* Configuration: file syntax, bounds, environment overrides, documentation. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"

static char err[1024];

static int
load(const char *text)
{
	return conf_load_text("t.conf", text, err, sizeof(err));
}

static void
defaults_without_file(void **state)
{
	char *env[] = { NULL };

	(void)state;
	assert_int_equal(conf_load(NULL, env, err, sizeof(err)), 0);
	assert_int_equal(conf.listen_port, 8080);
	assert_str(conf.listen_address, "127.0.0.1");
	assert_int_equal(conf.access_log, 1);
	assert_str(conf.database, "");
}

static void
file_values_blank_lines_comments_quotes(void **state)
{
	(void)state;
	assert_int_equal(load("# comment\n\n  listen_port = 9000  # trailing\n"
	    "log_level=debug\r\nframe_ancestors = \"https://a.fr #x\"\n"
	    "access_log = no\nstatic_dir = www#not-a-comment\n"), 0);
	assert_int_equal(conf.listen_port, 9000);
	assert_str(conf.log_level, "debug");
	assert_str(conf.frame_ancestors, "https://a.fr #x");
	assert_int_equal(conf.access_log, 0);
	assert_str(conf.static_dir, "www#not-a-comment");
}

static void
expect_error(const char *text, const char *needle1, const char *needle2)
{
	assert_int_equal(load(text), -1);
	assert_non_null(strstr(err, needle1));
	if (needle2 != NULL)
		assert_non_null(strstr(err, needle2));
	assert_null(strchr(err, '\n'));		/* one line */
}

static void
errors_name_the_line_and_key(void **state)
{
	(void)state;
	expect_error("\nlisten_prot = 80\n", "t.conf:2", "listen_prot");
	expect_error("listen_port = 0\n", "t.conf:1", "listen_port");
	expect_error("listen_port = 70000\n", "listen_port", "1 to 65535");
	expect_error("listen_port = 80x\n", "listen_port", NULL);
	expect_error("listen_port =\n", "listen_port", NULL);
	expect_error("workers = -1\n", "workers", NULL);
	expect_error("access_log = maybe\n", "access_log", "yes or no");
	expect_error("log_level = loud\n", "log_level", NULL);
	expect_error("listen_address = localhost\n", "listen_address", NULL);
	expect_error("listen_port\n", "t.conf:1", "key = value");
	expect_error("a=1\nb\n", "t.conf:1", "unknown key");
	expect_error("listen_port = 1\nlisten_port = 2\n", "t.conf:2", "twice");
	expect_error("frame_ancestors = \"a; script-src *\"\n",
	    "frame_ancestors", NULL);
	expect_error("frame_ancestors = \"open\n", "unterminated", NULL);
	expect_error("static_dir = \"\"\n", "static_dir", NULL);
}

static void
database_value_is_never_repeated(void **state)
{
	char *env[] = { "GUICHET_DATABASE=password=s3cret host=x", NULL };

	(void)state;
	assert_int_equal(conf_load(NULL, env, err, sizeof(err)), 0);
	/* A bad database string is reported by libpq, not by us; but a bad
	 * key next to it must not print it. */
	assert_int_equal(load("database = \"password=s3cret\"\n"
	    "db_connect_timeout = 0\n"), -1);
	assert_null(strstr(err, "s3cret"));
}

static void
environment_overrides_file(void **state)
{
	char *env[] = { "GUICHET_LISTEN_PORT=9100", "PATH=/bin",
	    "GUICHET_CONF=ignored", "GUICHET_ACCESS_LOG=off", NULL };
	char path[] = "/tmp/guichet-test-conf-XXXXXX";
	char val[64];
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("listen_port = 9000\nworkers = 3\n", f);
	fclose(f);
	assert_int_equal(conf_load(path, env, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(conf.listen_port, 9100);
	assert_int_equal(conf.workers, 3);
	assert_int_equal(conf.access_log, 0);
	assert_str(conf_value(1, val, sizeof(val)), "environment");
	assert_str(val, "9100");
}

static void
environment_errors_name_the_variable(void **state)
{
	char *bad_value[] = { "GUICHET_LISTEN_PORT=abc", NULL };
	char *unknown[] = { "GUICHET_LISTEN_PROT=80", NULL };

	(void)state;
	assert_int_equal(conf_load(NULL, bad_value, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GUICHET_LISTEN_PORT"));
	assert_non_null(strstr(err, "listen_port"));
	assert_int_equal(conf_load(NULL, unknown, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GUICHET_LISTEN_PROT"));
}

static void
missing_file_is_an_error(void **state)
{
	char *env[] = { NULL };

	(void)state;
	assert_int_equal(conf_load("/nonexistent/guichet.conf", env, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/guichet.conf"));
}

/*
 * conf/guichet.conf documents every key, each with a comment above it, and
 * the value it shows is the built-in default: the file is the reference.
 */
static void
shipped_file_documents_every_default(void **state)
{
	char *env[] = { NULL };
	char defaults[64][256], val[256], needle[128], *text;
	const char *src;
	size_t i, n = conf_nkeys();
	FILE *f;
	long len;

	(void)state;
	assert_true(n <= 64);
	assert_int_equal(conf_load(NULL, env, err, sizeof(err)), 0);
	for (i = 0; i < n; i++)
		conf_value(i, defaults[i], sizeof(defaults[i]));
	assert_int_equal(conf_load("conf/guichet.conf", env, err, sizeof(err)),
	    0);
	f = fopen("conf/guichet.conf", "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, len + 1);
	assert_int_equal(fread(text, 1, len, f), (size_t)len);
	fclose(f);
	for (i = 0; i < n; i++) {
		src = conf_value(i, val, sizeof(val));
		assert_str(src, "file");
		if (strcmp(val, defaults[i]) != 0)
			fail_msg("conf/guichet.conf: %s = %s, default is %s",
			    conf_key_name(i), val, defaults[i]);
		snprintf(needle, sizeof(needle), "\n%s = ", conf_key_name(i));
		char *at = strstr(text, needle);
		assert_non_null(at);
		/* The line above the key is a comment. */
		char *prev = at - 1;
		while (prev > text && prev[-1] != '\n')
			prev--;
		if (*prev != '#')
			fail_msg("conf/guichet.conf: %s has no comment above it",
			    conf_key_name(i));
	}
	free(text);
	conf_free();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_without_file),
		cmocka_unit_test(file_values_blank_lines_comments_quotes),
		cmocka_unit_test(errors_name_the_line_and_key),
		cmocka_unit_test(database_value_is_never_repeated),
		cmocka_unit_test(environment_overrides_file),
		cmocka_unit_test(environment_errors_name_the_variable),
		cmocka_unit_test(missing_file_is_an_error),
		cmocka_unit_test(shipped_file_documents_every_default),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
