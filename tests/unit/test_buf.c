/* Unit tests for common/buf: caps, consume, span helpers. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/log.h"

static void
test_cap_exact(void **state)
{
	struct buf b;

	buf_init(&b, 4, 10);
	assert_int_equal(buf_add(&b, "0123456789", 10), 0);
	assert_int_equal(buf_add(&b, "x", 1), -1);
	assert_int_equal(b.len, 10);
	assert_string_equal(buf_cstr(&b), "0123456789");
	buf_consume(&b, 4);
	assert_string_equal(buf_cstr(&b), "456789");
	assert_int_equal(buf_addf(&b, "%d%s", 12, "ab"), 0);
	assert_string_equal(buf_cstr(&b), "45678912ab");
	assert_int_equal(buf_addf(&b, "z"), -1);
	buf_fini(&b);
}

/* buf_addf formats in place when it fits, else grows and formats again;
 * a failure leaves the buffer as it was, NUL included. */
static void
test_addf_grow(void **state)
{
	struct buf b;
	char want[300];

	buf_init(&b, 4, 1000);
	assert_int_equal(buf_addf(&b, "%s", "ab"), 0);
	assert_int_equal(b.cap, 4);
	assert_int_equal(buf_addf(&b, "%s", "cd"), 0);	/* exactly full */
	assert_int_equal(b.cap, 4);
	assert_int_equal(buf_addf(&b, "%0200d", 7), 0);
	snprintf(want, sizeof(want), "abcd%0200d", 7);
	assert_string_equal(buf_cstr(&b), want);
	assert_int_equal(b.len, 204);
	buf_fini(&b);

	/* room in cap, not under max: refused, unchanged */
	buf_init(&b, 64, 6);
	assert_int_equal(buf_addstr(&b, "abcd"), 0);
	assert_int_equal(buf_addf(&b, "%d", 123), -1);
	assert_int_equal(b.len, 4);
	assert_string_equal(buf_cstr(&b), "abcd");
	assert_int_equal(buf_addf(&b, "%d", 12), 0);
	assert_string_equal(buf_cstr(&b), "abcd12");
	buf_fini(&b);

	/* a buffer never initialised (all zero, max 0) refuses */
	memset(&b, 0, sizeof(b));
	assert_int_equal(buf_addf(&b, "%d", 1), -1);
	assert_null(b.data);
}

/* buf_shrink keeps the contents and the NUL; the buffer grows again. */
static void
test_shrink(void **state)
{
	struct buf b;

	buf_init(&b, 4096, 8192);
	assert_int_equal(buf_addstr(&b, "abc"), 0);
	buf_shrink(&b, 0);
	assert_int_equal(b.cap, 3);
	assert_string_equal(buf_cstr(&b), "abc");
	buf_reset(&b);
	buf_shrink(&b, 0);
	assert_int_equal(b.cap, 1);
	assert_int_equal(buf_addstr(&b, "0123456789"), 0);
	assert_string_equal(buf_cstr(&b), "0123456789");
	buf_shrink(&b, 100);		/* cap 16 already below 100 */
	assert_int_equal(b.cap, 16);
	buf_fini(&b);
}

static void
test_addu(void **state)
{
	struct buf b;

	buf_init(&b, 2, 64);
	assert_int_equal(buf_addu(&b, 0), 0);
	assert_int_equal(buf_addstr(&b, " "), 0);
	assert_int_equal(buf_addu(&b, 4294967295u), 0);
	assert_int_equal(buf_addstr(&b, " "), 0);
	assert_int_equal(buf_addu(&b, UINT64_MAX), 0);
	assert_string_equal(buf_cstr(&b),
	    "0 4294967295 18446744073709551615");
	buf_fini(&b);
	buf_init(&b, 2, 3);
	assert_int_equal(buf_addu(&b, 1234), -1);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
}

static void
test_crlf(void **state)
{
	size_t off = 99;

	assert_int_equal(span_find_crlf(span_cstr("abc"), &off), 0);
	assert_int_equal(span_find_crlf(span_cstr("a\rb\r"), &off), 0);
	assert_int_equal(span_find_crlf(span_cstr("a\rb\r\nc"), &off), 1);
	assert_int_equal(off, 3);
	assert_int_equal(span_find_crlf(span_make("\0\r\n", 3), &off), 1);
	assert_int_equal(off, 1);
	assert_int_equal(span_has_nul(span_make("a\0", 2)), 1);
	assert_int_equal(span_eq_ci(span_cstr("EhLo"), "ehlo"), 1);
	assert_int_equal(span_eq_ci(span_make("eh\0o", 4), "ehlo"), 0);
}

static void
test_escape(void **state)
{
	char out[16], big[32];

	log_escape(span_make("a\"=\x01", 4), big, sizeof(big));
	assert_string_equal(big, "a\\x22\\x3d\\x01");
	log_escape(span_cstr("0123456789abcdefgh"), out, sizeof(out));
	assert_string_equal(out, "0123456789ab...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_exact),
		cmocka_unit_test(test_addf_grow),
		cmocka_unit_test(test_addu),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
