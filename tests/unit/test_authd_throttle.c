/* Unit tests for authd/throttle: delay schedule, window, IPv6 /64 grouping, eviction. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>

#include <sodium.h>

#include "authd/throttle.h"
#include "common/buf.h"
#include "common/log.h"

static const struct throttle_params P = { 1000, 15000, 900000 };

#define S(x) span_cstr(x)

static void
test_schedule(void **state)
{
	static const struct { uint32_t n, ms; } cases[] = {
		{ 0, 0 }, { 1, 1000 }, { 2, 2000 }, { 3, 4000 }, { 4, 8000 },
		{ 5, 15000 }, { 6, 15000 }, { 33, 15000 }, { 40, 15000 },
		{ UINT32_MAX, 15000 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(throttle_delay_for(&P, cases[i].n),
		    cases[i].ms);
}

static void
test_fail_and_success(void **state)
{
	struct throttle *t = throttle_new(64);
	uint32_t n = 99;

	assert_int_equal(throttle_check(t, &P, S("192.0.2.1"), S("a@x"), 10,
	    &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"), 10), 1);
	assert_int_equal(throttle_check(t, &P, S("192.0.2.1"), S("b@x"), 20,
	    &n), 1000);
	/* another IP, same account (case-insensitive) */
	assert_int_equal(throttle_check(t, &P, S("192.0.2.9"), S("A@X"), 20,
	    NULL), 1000);
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"), 30), 2);
	assert_int_equal(throttle_check(t, &P, S("192.0.2.9"), S("a@x"), 40,
	    NULL), 2000);
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"), 50), 3);
	assert_int_equal(throttle_check(t, &P, S("192.0.2.9"), S("a@x"), 60,
	    &n), 4000);
	assert_int_equal(n, 3);
	/* success clears the account, not the IP */
	throttle_success(t, S("a@X"));
	assert_int_equal(throttle_count_account(t, &P, S("a@x"), 70), 0);
	assert_int_equal(throttle_count_ip(t, &P, S("192.0.2.1"), 70), 3);
	assert_int_equal(throttle_check(t, &P, S("192.0.2.9"), S("a@x"), 70,
	    NULL), 0);
	assert_int_equal(throttle_check(t, &P, S("192.0.2.1"), S("c@x"), 70,
	    NULL), 4000);
	throttle_free(&t);
	assert_null(t);
}

static void
test_window(void **state)
{
	struct throttle *t = throttle_new(64);

	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"), 1000),
	    1);
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"), 2000),
	    2);
	/* the window runs from the last failure */
	assert_int_equal(throttle_count_ip(t, &P, S("192.0.2.1"),
	    2000 + P.window_ms - 1), 2);
	assert_int_equal(throttle_count_ip(t, &P, S("192.0.2.1"),
	    2000 + P.window_ms), 0);
	assert_int_equal(throttle_count_account(t, &P, S("a@x"),
	    2000 + P.window_ms), 0);
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("a@x"),
	    2000 + P.window_ms), 1);
	throttle_free(&t);
}

static void
test_ipv6(void **state)
{
	struct throttle *t = throttle_new(64);
	char k[128];

	throttle_ip_key(S("2001:db8:1:2:aaaa::1"), k, sizeof(k));
	assert_string_equal(k, "6:2001:db8:1:2::/64");
	throttle_ip_key(S("::ffff:192.0.2.7"), k, sizeof(k));
	assert_string_equal(k, "4:192.0.2.7");
	throttle_ip_key(S("unix"), k, sizeof(k));
	assert_string_equal(k, "s:unix");
	throttle_ip_key(span_make("1.2.3.4\0x", 9), k, sizeof(k));
	assert_string_equal(k, "s:1.2.3.4");

	assert_int_equal(throttle_fail(t, &P, S("2001:db8:1:2::1"), S("a"), 1),
	    1);
	assert_int_equal(throttle_fail(t, &P, S("2001:db8:1:2:ffff::9"),
	    S("b"), 2), 2);
	assert_int_equal(throttle_count_ip(t, &P, S("2001:DB8:1:2:0:0:0:7"),
	    3), 2);
	assert_int_equal(throttle_count_ip(t, &P, S("2001:db8:1:3::1"), 3), 0);
	/* IPv4 keeps every address apart */
	assert_int_equal(throttle_fail(t, &P, S("192.0.2.1"), S("c"), 4), 1);
	assert_int_equal(throttle_count_ip(t, &P, S("192.0.2.2"), 4), 0);
	assert_int_equal(throttle_count_ip(t, &P, S("::ffff:192.0.2.1"), 4), 1);
	throttle_free(&t);
}

static void
test_eviction(void **state)
{
	struct throttle *t = throttle_new(4);
	char ip[32], acct[32];
	int i;

	for (i = 1; i <= 4; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		snprintf(acct, sizeof(acct), "u%d", i);
		assert_int_equal(throttle_fail(t, &P, S(ip), S(acct),
		    (uint64_t)i), 1);
	}
	/* touch the oldest so that the second becomes the oldest */
	assert_int_equal(throttle_fail(t, &P, S("10.0.0.1"), S("u1"), 5), 2);
	assert_int_equal(throttle_fail(t, &P, S("10.0.0.5"), S("u5"), 6), 1);
	assert_int_equal(throttle_count_ip(t, &P, S("10.0.0.2"), 7), 0);
	assert_int_equal(throttle_count_account(t, &P, S("u2"), 7), 0);
	assert_int_equal(throttle_count_ip(t, &P, S("10.0.0.1"), 7), 2);
	assert_int_equal(throttle_count_ip(t, &P, S("10.0.0.3"), 7), 1);
	assert_int_equal(throttle_count_ip(t, &P, S("10.0.0.5"), 7), 1);
	/* many more than fit: the table stays bounded and consistent */
	for (i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		(void)throttle_fail(t, &P, S(ip), S(ip), 100 + (uint64_t)i);
	}
	assert_int_equal(throttle_count_ip(t, &P, S("10.1.3.231"), 2000), 1);
	assert_int_equal(throttle_count_ip(t, &P, S("10.1.3.228"), 2000), 1);
	assert_int_equal(throttle_count_ip(t, &P, S("10.1.3.227"), 2000), 0);
	assert_int_equal(throttle_count_ip(t, &P, S("10.0.0.1"), 2000), 0);
	throttle_success(t, S("nobody"));
	throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_fail_and_success),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_eviction),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
