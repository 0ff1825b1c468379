/*
 * harness.h — what every unit test includes: cmocka and small helpers.
 * Tests run from the project root (make unit), so relative paths like
 * conf/guichet.conf name the project's files.
 */
#ifndef GUICHET_TEST_HARNESS_H
#define GUICHET_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#define assert_str(a, b)	assert_string_equal((a), (b))

#endif
