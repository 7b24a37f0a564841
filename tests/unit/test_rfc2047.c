/* Unit tests for common/rfc2047: B and Q words, joining, charsets, what stays undecoded. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/rfc2047.h"

static void
test_decode(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "plain text", "plain text" },
		{ "=?utf-8?q?Caf=C3=A9?=", "Caf\xc3\xa9" },
		{ "=?UTF-8?B?Q2Fmw6k=?=", "Caf\xc3\xa9" },
		{ "=?utf-8?b?Q2Fmw6k?=", "Caf\xc3\xa9" },	/* no padding */
		{ "=?utf-8?q?a_b?=", "a b" },
		/* adjacent words: the white space between goes */
		{ "=?utf-8?q?a?= =?utf-8?q?b?=", "ab" },
		{ "=?utf-8?q?a?=\r\n =?iso-8859-1?q?=E9?=", "a\xc3\xa9" },
		/* a character split across two words */
		{ "=?utf-8?b?w6?= =?utf-8?b?kg?=", "\xc3\x92" },
		{ "=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "\xc3\xa9" },
		/* text between words stays */
		{ "Re: =?utf-8?q?x?= and =?utf-8?q?y?=", "Re: x and y" },
		{ "=?iso-8859-1?q?J=F6rg?= <j@x>", "J\xc3\xb6rg <j@x>" },
		{ "=?iso-8859-15?q?=A4?=", "\xe2\x82\xac" },
		{ "=?windows-1252?q?=80=93?=", "\xe2\x82\xac\xe2\x80\x9c" },
		{ "=?us-ascii?q?abc?=", "abc" },
		{ "=?utf-8*en?q?lang?=", "lang" },
		/* through iconv */
		{ "=?koi8-r?b?8NLJ?=", "\xd0\x9f\xd1\x80\xd0\xb8" },
		/* kept: unknown charset, bad encoding, bad bytes, bad form */
		{ "=?x-unknown?q?abc?=", "=?x-unknown?q?abc?=" },
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8?q?=ZZ?=", "=?utf-8?q?=ZZ?=" },
		{ "=?utf-8?q?=A?=", "=?utf-8?q?=A?=" },
		{ "=?utf-8?b?!!!!?=", "=?utf-8?b?!!!!?=" },
		{ "=?utf-8?b?QQ=A?=", "=?utf-8?b?QQ=A?=" },
		{ "=?utf-8?q?=FF?=", "=?utf-8?q?=FF?=" },
		{ "=?us-ascii?q?=E9?=", "=?us-ascii?q?=E9?=" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
		{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
		{ "=??q?x?=", "=??q?x?=" },
		{ "=?../../x?q?a?=", "=?../../x?q?a?=" },
		/* a bad word between good ones keeps its spaces */
		{ "=?utf-8?q?a?= =?utf-8?q?=Z?= =?utf-8?q?b?=",
		    "a =?utf-8?q?=Z?= b" },
		{ "=?utf-8?q?" "?=", "" },
		{ "==?utf-8?q?a?==", "=a=" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct buf b;

		buf_init(&b, 16, 4096);
		print_message("%s\n", t[i].in);
		assert_int_equal(rfc2047_decode(span_cstr(t[i].in), &b), 0);
		assert_string_equal(buf_cstr(&b), t[i].want);
		buf_fini(&b);
	}
}

static void
test_nul_and_cap(void **state)
{
	struct buf b;

	buf_init(&b, 16, 4096);
	assert_int_equal(rfc2047_decode(span_make("a\0=?utf-8?q?=00?=", 17),
	    &b), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0\0", 3);
	buf_fini(&b);
	buf_init(&b, 4, 4);
	assert_int_equal(rfc2047_decode(span_cstr("=?utf-8?q?abcdef?="), &b),
	    -1);
	buf_fini(&b);
}

static void
test_to_utf8(void **state)
{
	struct buf b;

	buf_init(&b, 16, 4096);
	assert_int_equal(rfc2047_to_utf8(span_cstr("ISO-8859-1"),
	    span_make("\xe9\xff", 2), &b), 0);
	assert_string_equal(buf_cstr(&b), "\xc3\xa9\xc3\xbf");
	buf_reset(&b);
	assert_int_equal(rfc2047_to_utf8(span_cstr("utf-8"),
	    span_make("\xc0\x80", 2), &b), -1);	/* overlong */
	assert_int_equal(rfc2047_to_utf8(span_cstr("utf-8"),
	    span_make("\xed\xa0\x80", 3), &b), -1);	/* surrogate */
	assert_int_equal(rfc2047_to_utf8(span_cstr("utf-8"),
	    span_make("\xf4\x90\x80\x80", 4), &b), -1);	/* > U+10FFFF */
	assert_int_equal(rfc2047_to_utf8(span_cstr("shift_jis"),
	    span_make("\x82\xa0", 2), &b), 0);
	assert_string_equal(buf_cstr(&b), "\xe3\x81\x82");
	buf_reset(&b);
	/* invalid in the charset: out unchanged */
	assert_int_equal(buf_addstr(&b, "keep"), 0);
	assert_int_equal(rfc2047_to_utf8(span_cstr("shift_jis"),
	    span_make("\x82", 1), &b), -1);
	assert_string_equal(buf_cstr(&b), "keep");
	assert_int_equal(rfc2047_to_utf8(span_cstr("no/such"),
	    span_make("x", 1), &b), -1);
	assert_int_equal(rfc2047_utf8_valid(span_cstr("\xe2\x82\xac")), 1);
	assert_int_equal(rfc2047_utf8_valid(span_make("\xe2\x82", 2)), 0);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_nul_and_cap),
		cmocka_unit_test(test_to_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
