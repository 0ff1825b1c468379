/* The message the mailer hands to the SMTP relay. */
#include "harness.h"

#include <stdlib.h>

#include "mailer.h"
#include "util.h"

static void
headers_and_crlf_body(void **state)
{
	struct buf b = { 0 };

	(void)state;
	mailer_format(&b, "g@x.test", "a@y.test", "Hello", "one\ntwo\n", "D",
	    "id@h");
	assert_string_equal(b.data, "From: Guichet <g@x.test>\r\nTo: <a@y.test>\r\n"
	    "Subject: Hello\r\nDate: D\r\nMessage-ID: <id@h>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\none\r\ntwo\r\n");
	buf_free(&b);
}

static void
dot_lines_are_stuffed_and_last_line_ended(void **state)
{
	struct buf b = { 0 };
	char *body;

	(void)state;
	mailer_format(&b, "g@x.test", "a@y.test", "S", ".\n..x\nend", "D", "i");
	body = strstr(b.data, "\r\n\r\n") + 4;
	assert_string_equal(body, "..\r\n...x\r\nend\r\n");
	buf_free(&b);
}

static void
non_ascii_subject_is_encoded(void **state)
{
	struct buf b = { 0 };

	(void)state;
	mailer_format(&b, "g@x.test", "a@y.test", "Invitation à rejoindre Guichet",
	    "x", "D", "i");
	assert_non_null(strstr(b.data,
	    "Subject: =?UTF-8?B?SW52aXRhdGlvbiDDoCByZWpvaW5kcmUgR3VpY2hldA==?=\r\n"));
	buf_free(&b);
}

static void
long_subject_folds_on_character_boundaries(void **state)
{
	struct buf b = { 0 };
	char subject[200];
	size_t i;

	(void)state;
	for (i = 0; i < 60; i++)
		memcpy(subject + 2 * i, "é", 2);
	subject[120] = '\0';
	mailer_format(&b, "g@x.test", "a@y.test", subject, "x", "D", "i");
	/* 45 bytes cut back to 44 (22 characters): 3 words. */
	assert_non_null(strstr(b.data, "?=\r\n =?UTF-8?B?"));
	assert_null(strstr(b.data, "Subject:  "));
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(headers_and_crlf_body),
		cmocka_unit_test(dot_lines_are_stuffed_and_last_line_ended),
		cmocka_unit_test(non_ascii_subject_is_encoded),
		cmocka_unit_test(long_subject_folds_on_character_boundaries),
	};

	return cmocka_run_group_tests_name("mailer", tests, NULL, NULL);
}
