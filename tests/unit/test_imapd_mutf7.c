/* Unit tests for imapd/imap_mutf7: modified UTF-7 names both ways, RFC 9051 A.1's rules, invalid UTF-8, a full buffer. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_mutf7.h"

/* UTF-8 and its modified UTF-7 (checked against Python's UTF-16 and
 * base64, with "," for "/"). */
static const struct {
	const char *utf8, *mutf7;
} pairs[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "a&b", "a&-b" },
	{ "&", "&-" },
	{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
	/* RFC 3501 5.1.3's example */
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
	{ "\xc3\xa9", "&AOk-" },
	{ "\xc3\xa9\xc3\xa9", "&AOkA6Q-" },
	{ "\xf0\x9f\x98\x80", "&2D3eAA-" },	/* a surrogate pair */
	{ "a\x01" "b", "a&AAE-b" },
	{ "\xd0\x96/&/\xe6\x97\xa5", "&BBY-/&-/&ZeU-" },
	{ "\xc3\xa9&\xc3\xa9", "&AOk-&-&AOk-" },
	{ "x\xf0\x9f\x98\x80y\xe2\x82\xac", "x&2D3eAA-y&IKw-" },
	{ "Sent Items", "Sent Items" },
	{ "a\x7f", "a&AH8-" },
	/* 18 bytes of UTF-8 from 16 of modified UTF-7 */
	{ "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
	    "\xe6\x97\xa5", "&ZeVl5WXlZeVl5WXl-" },
};

static void
test_pairs(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 16, 4096);
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		buf_reset(&b);
		assert_int_equal(imap_mutf7_encode(span_cstr(pairs[i].utf8),
		    &b), 0);
		assert_string_equal(buf_cstr(&b), pairs[i].mutf7);
		buf_reset(&b);
		assert_int_equal(imap_mutf7_decode(span_cstr(pairs[i].mutf7),
		    &b), 0);
		assert_string_equal(buf_cstr(&b), pairs[i].utf8);
		assert_true(b.len * 8 <= strlen(pairs[i].mutf7) * 9);
		assert_true(imap_utf8_valid(span_cstr(pairs[i].utf8)));
	}
	buf_fini(&b);
}

static const char *const bad_mutf7[] = {
	"&",			/* shift never closed */
	"&AOk",			/* run never closed */
	"a&AOk-&AOk-",		/* a null shift: "-&" after a run */
	"&AGE-",		/* "a" must stand for itself */
	"&ACY-",		/* so must "&" */
	"&AOl-",		/* leftover bits not zero */
	"&AOkA-",		/* six leftover bits: a stray character */
	"&AAA-",		/* NUL */
	"&2D0-",		/* a lone high surrogate */
	"&3gA-",		/* a lone low surrogate */
	"&2D3YPQ-",		/* a high surrogate followed by another */
	"&AO!-",		/* outside the alphabet */
	"&AO/-",		/* "/" is "," in modified base64 */
	"&A=-",			/* no padding */
	"\xc3\xa9",		/* 8-bit */
	"a\tb",			/* a control character as itself */
	"a\x7f",		/* DEL as itself */
};

static void
test_bad_mutf7(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 16, 4096);
	for (i = 0; i < sizeof(bad_mutf7) / sizeof(bad_mutf7[0]); i++) {
		assert_int_equal(buf_addstr(&b, "kept"), 0);
		assert_int_equal(imap_mutf7_decode(span_cstr(bad_mutf7[i]), &b),
		    -1);
		/* out is left as it was */
		assert_string_equal(buf_cstr(&b), "kept");
		buf_reset(&b);
	}
	buf_fini(&b);
}

static const char *const bad_utf8[] = {
	"\xff",
	"a\xc3",		/* cut */
	"\xe6\x97",		/* cut */
	"\xc0\xaf",		/* overlong "/" */
	"\xe0\x80\xaf",		/* overlong */
	"\xed\xa0\x80",		/* a surrogate */
	"\xf4\x90\x80\x80",	/* past U+10FFFF */
	"\x80",			/* a continuation byte alone */
	"\xc3\x28",		/* not a continuation byte */
};

static void
test_bad_utf8(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 16, 4096);
	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		assert_false(imap_utf8_valid(span_cstr(bad_utf8[i])));
		assert_int_equal(imap_mutf7_encode(span_cstr(bad_utf8[i]), &b),
		    -1);
		assert_int_equal(b.len, 0);
	}
	/* NUL inside a span */
	assert_false(imap_utf8_valid(span_make("a\0b", 3)));
	assert_int_equal(imap_mutf7_encode(span_make("a\0b", 3), &b), -1);
	buf_fini(&b);
}

static void
test_full(void **state)
{
	struct buf b;
	size_t max;

	(void)state;
	/* exactly enough, then one byte short, at every cap */
	for (max = 0; max < 16; max++) {
		buf_init(&b, 4, max);
		assert_int_equal(imap_mutf7_encode(span_cstr("x\xc3\xa9y"), &b),
		    max >= 7 ? 0 : -1);
		assert_string_equal(buf_cstr(&b), max >= 7 ? "x&AOk-y" : "");
		buf_fini(&b);
		buf_init(&b, 4, max);
		assert_int_equal(imap_mutf7_decode(span_cstr("x&AOk-y"), &b),
		    max >= 4 ? 0 : -1);
		assert_string_equal(buf_cstr(&b), max >= 4 ? "x\xc3\xa9y" : "");
		buf_fini(&b);
	}
}

/* Every BMP character and some beyond, alone and between letters. */
static void
test_round_trip(void **state)
{
	struct buf u, m, back;
	uint32_t c;

	(void)state;
	buf_init(&u, 16, 64);
	buf_init(&m, 16, 64);
	buf_init(&back, 16, 64);
	for (c = 1; c < 0x110000; c += c < 0x10000 ? 1 : 97) {
		uint8_t s[6];
		size_t n = 0;

		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		s[n++] = 'a';
		if (c < 0x80)
			s[n++] = (uint8_t)c;
		else if (c < 0x800) {
			s[n++] = (uint8_t)(0xc0 | c >> 6);
			s[n++] = (uint8_t)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			s[n++] = (uint8_t)(0xe0 | c >> 12);
			s[n++] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
			s[n++] = (uint8_t)(0x80 | (c & 0x3f));
		} else {
			s[n++] = (uint8_t)(0xf0 | c >> 18);
			s[n++] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
			s[n++] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
			s[n++] = (uint8_t)(0x80 | (c & 0x3f));
		}
		buf_reset(&m);
		buf_reset(&back);
		assert_int_equal(imap_mutf7_encode(span_make(s, n), &m), 0);
		assert_int_equal(imap_mutf7_decode(buf_view(&m), &back), 0);
		assert_int_equal(back.len, n);
		assert_memory_equal(back.data, s, n);
		if (c != '&' && (c < 0x20 || c > 0x7e))
			assert_int_equal(m.data[1], '&');
	}
	buf_fini(&u);
	buf_fini(&m);
	buf_fini(&back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_bad_mutf7),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
