/* Unit tests for pop3d's APOP timestamp (RFC 1939 7): its form, its limit, and that it differs per greeting. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>

#include "pop3d/pop3d.h"

static void
test_form(void **state)
{
	char ts[POP3_APOP_TS_MAX];

	assert_int_equal(pop3_apop_timestamp(ts, sizeof(ts), 1896,
	    0x0123456789abcdefULL, 697170952LL, "dbc.mtview.ca.us"), 0);
	assert_string_equal(ts,
	    "<1896.0123456789abcdef.697170952@dbc.mtview.ca.us>");
}

static void
test_differs(void **state)
{
	char a[POP3_APOP_TS_MAX], b[POP3_APOP_TS_MAX];

	/* same pid and second: the random part alone tells them apart */
	assert_int_equal(pop3_apop_timestamp(a, sizeof(a), 7, 1, 100, "h"), 0);
	assert_int_equal(pop3_apop_timestamp(b, sizeof(b), 7, 2, 100, "h"), 0);
	assert_string_not_equal(a, b);
}

static void
test_limit(void **state)
{
	char ts[POP3_APOP_TS_MAX], host[POP3_APOP_TS_MAX];
	size_t fixed;

	/* "<1.0000000000000000.2@" + host + ">" */
	fixed = strlen("<1.0000000000000000.2@>");
	memset(host, 'h', sizeof(host));
	host[sizeof(ts) - 1 - fixed] = '\0';	/* exactly fits, with NUL */
	assert_int_equal(pop3_apop_timestamp(ts, sizeof(ts), 1, 0, 2, host),
	    0);
	assert_int_equal(strlen(ts), sizeof(ts) - 1);
	host[sizeof(ts) - 1 - fixed] = 'h';
	host[sizeof(ts) - fixed] = '\0';	/* one past */
	assert_int_equal(pop3_apop_timestamp(ts, sizeof(ts), 1, 0, 2, host),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_differs),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
