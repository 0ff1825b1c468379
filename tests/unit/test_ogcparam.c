/*
 * The bbox and datetime values of OGC API Features (app/ogcparam.c): what
 * passes goes to PostgreSQL as a parameter, so every refusal here is a
 * 400 that would otherwise be a database error or a silently wrong filter.
 */
#include "harness.h"

#include <stdio.h>

#include "ogcparam.h"

static void
bbox_of_four_numbers(void **state)
{
	struct ogcp_bbox	b;
	char			msg[300];

	(void)state;
	assert_int_equal(ogcp_bbox_parse("1.25,-43.5,2,44", 1, &b, msg,
	    sizeof(msg)), 0);
	assert_true(b.minx == 1.25 && b.miny == -43.5 && b.maxx == 2 &&
	    b.maxy == 44);
	assert_int_equal(ogcp_bbox_parse("-1e-3,+4E1,.5,40.", 1, &b, msg,
	    sizeof(msg)), 0);
	assert_true(b.minx == -0.001 && b.miny == 40 && b.maxx == 0.5 &&
	    b.maxy == 40);
	/* The whole world, and a box of no area, are boxes. */
	assert_int_equal(ogcp_bbox_parse("-180,-90,180,90", 1, &b, msg,
	    sizeof(msg)), 0);
	assert_int_equal(ogcp_bbox_parse("1,2,1,2", 1, &b, msg, sizeof(msg)),
	    0);
}

static void
bbox_of_six_numbers_ignores_heights(void **state)
{
	struct ogcp_bbox	b;
	char			msg[300];

	(void)state;
	assert_int_equal(ogcp_bbox_parse("1,43,-100,2,44,3000", 1, &b, msg,
	    sizeof(msg)), 0);
	assert_true(b.minx == 1 && b.miny == 43 && b.maxx == 2 && b.maxy == 44);
}

static void
bbox_in_lambert93_is_not_held_to_degrees(void **state)
{
	struct ogcp_bbox	b;
	char			msg[300];

	(void)state;
	assert_int_equal(ogcp_bbox_parse("570000.5,6275000,580000,6285000",
	    0, &b, msg, sizeof(msg)), 0);
	assert_true(b.minx == 570000.5 && b.maxy == 6285000);
	assert_int_equal(ogcp_bbox_parse("570000,6275000,580000,6285000",
	    1, &b, msg, sizeof(msg)), -1);
}

static void
bbox_refusals(void **state)
{
	static const char *const bad[] = {
		"", ",", "1,2,3", "1,2,3,4,5", "1,2,3,4,5,6,7", "1,,2,3",
		"1,2,3,4,", ",1,2,3,4", "1,2,3,,4", "a,b,c,d", "inf,0,1,1",
		"-inf,0,1,1", "nan,0,1,1", "0,NAN,1,1", "0x1,0,1,1",
		"0x1p3,0,1,1", " 1,2,3,4", "1 ,2,3,4", "1,2,3,4 ", "1;2;3;4",
		"1e400,0,1,1", "0,0,1,-1e999", "-,0,1,1", ".,0,1,1", "1..2,0,3,3",
		"+-1,0,1,1", "1e,0,1,1", "1,2,3,4\n", "１,2,3,4",
		/* the lower corner first (no antimeridian crossing) */
		"3,0,1,1", "0,3,1,1", "10,43,1,44,0,0",
		/* degrees */
		"-180.0001,0,0,1", "0,-90.5,1,0", "0,0,181,1", "0,0,1,91",
		"1,2,3,4,5,6,7,8,9,10,11,12",
	};
	struct ogcp_bbox	 b;
	char			 msg[300];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		if (ogcp_bbox_parse(bad[i], 1, &b, msg, sizeof(msg)) != -1)
			fail_msg("bbox \"%s\" was accepted", bad[i]);
		assert_true(strstr(msg, "bbox") != NULL);
	}
}

static void
bbox_number_length_is_bounded(void **state)
{
	struct ogcp_bbox	b;
	char			s[200], msg[300];

	(void)state;
	/* 63 characters is a number; 64 is refused, not truncated. */
	snprintf(s, sizeof(s), "0.%061d,0,1,1", 1);
	assert_int_equal(ogcp_bbox_parse(s, 1, &b, msg, sizeof(msg)), 0);
	snprintf(s, sizeof(s), "0.%062d,0,1,1", 1);
	assert_int_equal(ogcp_bbox_parse(s, 1, &b, msg, sizeof(msg)), -1);
}

static void
bbox_message_fits_a_small_buffer(void **state)
{
	struct ogcp_bbox	b;
	char			msg[8];

	(void)state;
	assert_int_equal(ogcp_bbox_parse("x", 1, &b, msg, sizeof(msg)), -1);
	assert_int_equal(strlen(msg), sizeof(msg) - 1);
}

/* Parses s, which must pass, and checks the three bounds. */
static void
dt_ok(const char *s, const char *lo, const char *hi, const char *hi_before)
{
	struct ogcp_interval	iv;
	char			msg[300];

	if (ogcp_datetime_parse(s, &iv, msg, sizeof(msg)) != 0)
		fail_msg("datetime \"%s\" was refused: %s", s, msg);
	assert_str(iv.lo, lo);
	assert_str(iv.hi, hi);
	assert_str(iv.hi_before, hi_before);
}

static void
datetime_instants(void **state)
{
	(void)state;
	dt_ok("2024-03-01T12:00:00Z", "2024-03-01T12:00:00Z",
	    "2024-03-01T12:00:00Z", "");
	dt_ok("2024-03-01t12:00:00.123456z", "2024-03-01t12:00:00.123456z",
	    "2024-03-01t12:00:00.123456z", "");
	dt_ok("2024-03-01T12:00:00+02:00", "2024-03-01T12:00:00+02:00",
	    "2024-03-01T12:00:00+02:00", "");
	dt_ok("2024-03-01T23:59:59-09:30", "2024-03-01T23:59:59-09:30",
	    "2024-03-01T23:59:59-09:30", "");
	/* PostgreSQL's limit for a displacement, and the furthest real zones. */
	dt_ok("2024-03-01T00:00:00+15:59", "2024-03-01T00:00:00+15:59",
	    "2024-03-01T00:00:00+15:59", "");
	dt_ok("2024-03-01T00:00:00-12:00", "2024-03-01T00:00:00-12:00",
	    "2024-03-01T00:00:00-12:00", "");
}

static void
datetime_date_is_its_whole_day(void **state)
{
	(void)state;
	dt_ok("2024-03-01", "2024-03-01T00:00:00Z", "", "2024-03-02T00:00:00Z");
	dt_ok("2024-02-28", "2024-02-28T00:00:00Z", "", "2024-02-29T00:00:00Z");
	dt_ok("2024-02-29", "2024-02-29T00:00:00Z", "", "2024-03-01T00:00:00Z");
	dt_ok("2023-02-28", "2023-02-28T00:00:00Z", "", "2023-03-01T00:00:00Z");
	dt_ok("2000-02-29", "2000-02-29T00:00:00Z", "", "2000-03-01T00:00:00Z");
	dt_ok("2024-12-31", "2024-12-31T00:00:00Z", "", "2025-01-01T00:00:00Z");
	dt_ok("2024-04-30", "2024-04-30T00:00:00Z", "", "2024-05-01T00:00:00Z");
}

/*
 * Years before 1000 keep their four digits: PostgreSQL reads "1-01-01" as
 * 2001 and refuses "99-06-01".
 */
static void
datetime_dates_keep_four_digit_years(void **state)
{
	(void)state;
	dt_ok("0001-01-01", "0001-01-01T00:00:00Z", "", "0001-01-02T00:00:00Z");
	dt_ok("0099-06-01/..", "0099-06-01T00:00:00Z", "", "");
	dt_ok("../0999-12-31", "", "", "1000-01-01T00:00:00Z");
	dt_ok("9999-12-31", "9999-12-31T00:00:00Z", "", "10000-01-01T00:00:00Z");
}

static void
datetime_intervals(void **state)
{
	(void)state;
	dt_ok("2024-01-01/2024-01-31", "2024-01-01T00:00:00Z", "",
	    "2024-02-01T00:00:00Z");
	dt_ok("2024-01-01T08:00:00Z/2024-01-01T18:00:00.5+01:00",
	    "2024-01-01T08:00:00Z", "2024-01-01T18:00:00.5+01:00", "");
	dt_ok("2024-01-01T08:00:00Z/2024-01-31", "2024-01-01T08:00:00Z", "",
	    "2024-02-01T00:00:00Z");
	dt_ok("../2024-01-31T10:00:00Z", "", "2024-01-31T10:00:00Z", "");
	dt_ok("2024-01-31T10:00:00Z/..", "2024-01-31T10:00:00Z", "", "");
	/* An empty side is open too. */
	dt_ok("/2024-01-31", "", "", "2024-02-01T00:00:00Z");
	dt_ok("2024-01-31/", "2024-01-31T00:00:00Z", "", "");
}

static void
datetime_refusals(void **state)
{
	static const char *const bad[] = {
		"", "..", "/", "../..", "/..", "../", "//", "2024-01-01//",
		"2024-01-01/2024-02-01/2024-03-01", "2024", "2024-01", "20240101",
		"2024-1-01", "2024-01-1", "2024-13-01", "2024-00-10",
		"2024-01-00", "2024-04-31", "2023-02-29", "2100-02-29",
		"0000-01-01", "+2024-01-01", "-2024-01-01", " 2024-01-01",
		"2024-01-01 ", "2024-01-01Z", "2024-01-01T", "2024-01-01T12:00Z",
		"2024-01-01T12:00:00", "2024-01-01 12:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T12:60:00Z",
		"2024-01-01T12:00:60Z", "2024-01-01T12:00:00.Z",
		"2024-01-01T12:00:00,5Z", "2024-01-01T12:00:00+0100",
		"2024-01-01T12:00:00+01", "2024-01-01T12:00:00+01:60",
		"2024-01-01T12:00:00+24:00", "2024-01-01T12:00:00Zjunk",
		"2024-01-01T12:00:00+01:00x", "2024-01-01T12:00:00.12345678901Z",
		"now", "2024-W01-1", "2024-001", "2024-01-01T12:00:00 UTC",
		"..2024-01-01", "2024-01-01/...", "2024-01-01/now",
		/* PostgreSQL refuses displacements beyond 15:59. */
		"2024-01-01T12:00:00+16:00", "2024-01-01T12:00:00-23:59",
		"2024-01-01T12:00:00Z/2024-01-01T12:00:00+20:00",
		"2024-01-01T00:00:00.0000000000000000000000000000000000Z",
	};
	struct ogcp_interval	 iv;
	char			 msg[300];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&iv, 'x', sizeof(iv));
		msg[0] = '\0';
		if (ogcp_datetime_parse(bad[i], &iv, msg, sizeof(msg)) != -1)
			fail_msg("datetime \"%s\" was accepted", bad[i]);
		assert_true(strstr(msg, "datetime") != NULL);
		/* Nothing half-parsed is left behind. */
		assert_str(iv.lo, "");
		assert_str(iv.hi, "");
		assert_str(iv.hi_before, "");
	}
}

static void
datetime_length_is_bounded(void **state)
{
	struct ogcp_interval	iv;
	char			s[600], msg[300];

	(void)state;
	memset(s, '9', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(ogcp_datetime_parse(s, &iv, msg, sizeof(msg)), -1);
	memcpy(s, "2024-01-01/", 11);
	assert_int_equal(ogcp_datetime_parse(s, &iv, msg, sizeof(msg)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bbox_of_four_numbers),
		cmocka_unit_test(bbox_of_six_numbers_ignores_heights),
		cmocka_unit_test(bbox_in_lambert93_is_not_held_to_degrees),
		cmocka_unit_test(bbox_refusals),
		cmocka_unit_test(bbox_number_length_is_bounded),
		cmocka_unit_test(bbox_message_fits_a_small_buffer),
		cmocka_unit_test(datetime_instants),
		cmocka_unit_test(datetime_date_is_its_whole_day),
		cmocka_unit_test(datetime_dates_keep_four_digit_years),
		cmocka_unit_test(datetime_intervals),
		cmocka_unit_test(datetime_refusals),
		cmocka_unit_test(datetime_length_is_bounded),
	};

	return cmocka_run_group_tests_name("ogcparam", tests, NULL, NULL);
}
