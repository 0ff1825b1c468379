/* The client's address behind trusted proxies (app/forwarded.c). */
#include "harness.h"

#include "forwarded.h"

#define PROXIES	"127.0.0.1 ::1 10.0.0.2"

/* The address fwd_client gives for peer and xff. */
static const char *
client(const char *trusted, const char *peer, const char *xff)
{
	static char out[64];

	fwd_client(trusted, peer, xff, out, sizeof(out));
	return out;
}

static void
untrusted_peer_is_the_client(void **state)
{
	(void)state;
	assert_str(client(PROXIES, "192.0.2.1", "203.0.113.7"), "192.0.2.1");
	assert_str(client("", "127.0.0.1", "203.0.113.7"), "127.0.0.1");
}

static void
one_proxy_gives_the_last_hop(void **state)
{
	(void)state;
	assert_str(client(PROXIES, "127.0.0.1", "203.0.113.7"), "203.0.113.7");
	assert_str(client(PROXIES, "127.0.0.1", "192.0.2.66, 203.0.113.7"),
	    "203.0.113.7");
	assert_str(client(PROXIES, "127.0.0.1", NULL), "127.0.0.1");
}

/* nginx writes ", " between hops: every trusted hop is passed over. */
static void
trusted_hops_are_passed_over(void **state)
{
	(void)state;
	assert_str(client(PROXIES, "127.0.0.1",
	    "192.0.2.66, 203.0.113.77, 10.0.0.2, 127.0.0.1"), "203.0.113.77");
	assert_str(client(PROXIES, "127.0.0.1", "203.0.113.5,10.0.0.2"),
	    "203.0.113.5");
	assert_str(client(PROXIES, "::1", "2001:db8::1 ,\t::1"),
	    "2001:db8::1");
}

static void
hops_are_made_canonical(void **state)
{
	(void)state;
	assert_str(client(PROXIES, "127.0.0.1", "2001:DB8:0:0::1"),
	    "2001:db8::1");
	/* A mapped or padded form of a proxy is not that proxy. */
	assert_str(client(PROXIES, "127.0.0.1", "192.0.2.9, ::ffff:127.0.0.1"),
	    "::ffff:127.0.0.1");
}

/* An empty or unreadable hop ends the walk on the last address believed. */
static void
garbage_keeps_the_last_believed(void **state)
{
	(void)state;
	assert_str(client(PROXIES, "127.0.0.1", "203.0.113.7, nonsense"),
	    "127.0.0.1");
	assert_str(client(PROXIES, "127.0.0.1", "203.0.113.7, , 10.0.0.2"),
	    "10.0.0.2");
	assert_str(client(PROXIES, "127.0.0.1", ""), "127.0.0.1");
	assert_str(client(PROXIES, "127.0.0.1", "10.0.0.2"), "10.0.0.2");
	assert_str(client(PROXIES, "127.0.0.1",
	    "1.2.3.4, 999999999999999999999999999999999999999999999999999999999999999"),
	    "127.0.0.1");
}

static void
trusted_list_matches_whole_addresses(void **state)
{
	(void)state;
	assert_true(fwd_trusted(PROXIES, "::1"));
	assert_true(fwd_trusted(PROXIES, "10.0.0.2"));
	assert_false(fwd_trusted(PROXIES, "10.0.0.20"));
	assert_false(fwd_trusted(PROXIES, "0.0.2"));
	assert_false(fwd_trusted(PROXIES, ""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(untrusted_peer_is_the_client),
		cmocka_unit_test(one_proxy_gives_the_last_hop),
		cmocka_unit_test(trusted_hops_are_passed_over),
		cmocka_unit_test(hops_are_made_canonical),
		cmocka_unit_test(garbage_keeps_the_last_believed),
		cmocka_unit_test(trusted_list_matches_whole_addresses),
	};

	return cmocka_run_group_tests_name("forwarded", tests, NULL, NULL);
}
