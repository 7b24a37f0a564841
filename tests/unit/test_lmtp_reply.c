/* Unit tests for common/lmtp_reply: single and multi-line replies, enhanced codes, malformed input, every split. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/lmtp_reply.h"

static const struct {
	const char *in;
	enum parse_rc rc;
	int code;
	const char *enh, *text;
	size_t lines;
} cases[] = {
	{ "250 2.1.0 Ok\r\n", PARSE_OK, 250, "2.1.0", "Ok", 1 },
	{ "220 lmtp.example LMTP ready\r\n", PARSE_OK, 220, "",
	    "lmtp.example LMTP ready", 1 },
	{ "354\r\n", PARSE_OK, 354, "", "", 1 },
	{ "221 \r\n", PARSE_OK, 221, "", "", 1 },
	{ "250-a\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n", PARSE_OK,
	    250, "", "a PIPELINING ENHANCEDSTATUSCODES", 3 },
	{ "550-5.1.1 no\r\n550 5.1.1 such user\r\n", PARSE_OK, 550, "5.1.1",
	    "no such user", 2 },
	{ "452 4.2.2 Mailbox full\n", PARSE_OK, 452, "4.2.2", "Mailbox full",
	    1 },
	/* the class digit must match the code's: no enhanced code here */
	{ "550 4.1.1 odd\r\n", PARSE_OK, 550, "", "4.1.1 odd", 1 },
	{ "250 2.0.0\r\n", PARSE_OK, 250, "2.0.0", "", 1 },
	{ "250 2.0.0x y\r\n", PARSE_OK, 250, "", "2.0.0x y", 1 },
	{ "250 2.1234.0 y\r\n", PARSE_OK, 250, "", "2.1234.0 y", 1 },
	{ "250 caf\xc3\xa9\tx\r\n", PARSE_OK, 250, "", "caf???x", 1 },
	{ "250 2.1.0 Ok", PARSE_MORE, 0, NULL, NULL, 0 },
	{ "250-first\r\n", PARSE_MORE, 0, NULL, NULL, 0 },
	{ "", PARSE_MORE, 0, NULL, NULL, 0 },
	{ "25\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "2x0 Ok\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "150 Ok\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "650 Ok\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "250_Ok\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "250-a\r\n251 b\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
	{ "\r\n", PARSE_FATAL, 0, NULL, NULL, 0 },
};

/* Feed in at once, or in two pieces cut at `cut`, as a caller would:
 * the unconsumed rest is offered again with the new bytes. */
static enum parse_rc
feed_split(const char *in, size_t n, size_t cut, struct lmtp_reply *r,
    size_t *used_total)
{
	struct lmtp_reply_parser ps;
	size_t used, off = 0;
	enum parse_rc rc;

	lmtp_reply_init(&ps);
	rc = lmtp_reply_feed(&ps, span_make(in, cut), &used, r);
	if (rc != PARSE_MORE) {
		*used_total = used;
		return rc;
	}
	off = used;
	rc = lmtp_reply_feed(&ps, span_make(in + off, n - off), &used, r);
	*used_total = off + used;
	return rc;
}

static void
test_cases(void **state)
{
	struct lmtp_reply r;
	size_t i, cut, n, used;
	enum parse_rc rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = strlen(cases[i].in);
		for (cut = 0; cut <= n; cut++) {
			memset(&r, 0, sizeof(r));
			rc = feed_split(cases[i].in, n, cut, &r, &used);
			if (rc != cases[i].rc)
				fail_msg("case %zu cut %zu: rc %d", i, cut, rc);
			if (rc != PARSE_OK)
				continue;
			assert_int_equal(used, n);
			assert_int_equal(r.code, cases[i].code);
			assert_string_equal(r.enh, cases[i].enh);
			assert_string_equal(r.text, cases[i].text);
			assert_int_equal(r.lines, cases[i].lines);
		}
	}
}

/* One byte at a time gives the same replies as one feed. */
static void
test_byte_at_a_time(void **state)
{
	const char *in = "250-x\r\n250 2.0.0 y\r\n452 4.2.2 z\r\n354 go\r\n";
	struct lmtp_reply_parser ps;
	struct lmtp_reply r;
	char buf[64];
	size_t i, have = 0, used, got = 0;
	int codes[4];

	lmtp_reply_init(&ps);
	for (i = 0; in[i]; i++) {
		buf[have++] = in[i];
		while (lmtp_reply_feed(&ps, span_make(buf, have), &used, &r) ==
		    PARSE_OK) {
			codes[got++] = r.code;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	assert_int_equal(got, 3);
	assert_int_equal(codes[0], 250);
	assert_int_equal(codes[1], 452);
	assert_int_equal(codes[2], 354);
	assert_int_equal(have, 0);
}

static void
test_limits(void **state)
{
	static char line[LMTP_REPLY_LINE_MAX + 16];
	struct lmtp_reply_parser ps;
	struct lmtp_reply r;
	char many[64 * (LMTP_REPLY_LINES_MAX + 2)];
	size_t used, n, i;

	/* a line of exactly LMTP_REPLY_LINE_MAX bytes before its LF */
	memset(line, 'a', sizeof(line));
	memcpy(line, "250 ", 4);
	line[LMTP_REPLY_LINE_MAX] = '\n';
	lmtp_reply_init(&ps);
	assert_int_equal(lmtp_reply_feed(&ps, span_make(line,
	    LMTP_REPLY_LINE_MAX + 1), &used, &r), PARSE_OK);
	assert_int_equal(strlen(r.text), LMTP_REPLY_TEXT_MAX - 1);
	/* one past */
	line[LMTP_REPLY_LINE_MAX] = 'a';
	line[LMTP_REPLY_LINE_MAX + 1] = '\n';
	lmtp_reply_init(&ps);
	assert_int_equal(lmtp_reply_feed(&ps, span_make(line,
	    LMTP_REPLY_LINE_MAX + 2), &used, &r), PARSE_FATAL);
	/* no LF yet, and already too long */
	lmtp_reply_init(&ps);
	assert_int_equal(lmtp_reply_feed(&ps, span_make(line,
	    LMTP_REPLY_LINE_MAX + 1), &used, &r), PARSE_FATAL);
	/* LINES_MAX lines are fine, one more is not */
	for (n = LMTP_REPLY_LINES_MAX; n <= LMTP_REPLY_LINES_MAX + 1; n++) {
		size_t o = 0;

		for (i = 0; i + 1 < n; i++)
			o += (size_t)sprintf(many + o, "250-l%zu\r\n", i);
		o += (size_t)sprintf(many + o, "250 end\r\n");
		lmtp_reply_init(&ps);
		assert_int_equal(lmtp_reply_feed(&ps, span_make(many, o), &used,
		    &r), n == LMTP_REPLY_LINES_MAX ? PARSE_OK : PARSE_FATAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
