/* Unit tests for common/linebuf: limits, flags, split-independence. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/linebuf.h"

/*
 * Feed input in pieces (cuts: ascending split offsets, or every byte when
 * step is 1) the way a socket reader would, and describe every result as
 * text: "OK:C:abc" (CRLF), "OK:L:x" (LF), flags as "+R" (bare CR) "+N"
 * (NUL), "ERR:C" for an overlong line; one result per "|".
 */
static void
run(size_t max, const uint8_t *in, size_t n, const size_t *cuts,
    size_t ncuts, size_t step, char *out, size_t outsz)
{
	struct linebuf lb;
	struct buf pend;
	size_t pos = 0, ci = 0;

	linebuf_init(&lb, max);
	buf_init(&pend, 16, n + 1);
	out[0] = '\0';
	while (pos < n) {
		size_t next = n;

		if (step)
			next = pos + step < n ? pos + step : n;
		else if (ci < ncuts)
			next = cuts[ci++];
		assert_int_equal(buf_add(&pend, in + pos, next - pos), 0);
		pos = next;
		for (;;) {
			struct linebuf_line l;
			size_t used = 99;
			enum parse_rc rc = linebuf_feed(&lb, buf_view(&pend),
			    &used, &l);
			char tmp[512];

			assert_true(used <= pend.len);
			if (rc == PARSE_MORE) {
				buf_consume(&pend, used);
				/* the caller never needs to hold more */
				assert_true(pend.len <= max + 1);
				break;
			}
			if (rc == PARSE_OK)
				snprintf(tmp, sizeof(tmp), "OK:%c%s%s:%.*s|",
				    l.end == LINEBUF_END_CRLF ? 'C' : 'L',
				    l.flags & LINEBUF_F_BARE_CR ? "+R" : "",
				    l.flags & LINEBUF_F_NUL ? "+N" : "",
				    (int)l.line.n, (const char *)l.line.p);
			else {
				assert_int_equal(rc, PARSE_ERR);
				assert_int_equal(l.line.n, 0);
				snprintf(tmp, sizeof(tmp), "ERR:%c|",
				    l.end == LINEBUF_END_CRLF ? 'C' : 'L');
			}
			buf_consume(&pend, used);
			assert_true(strlen(out) + strlen(tmp) < outsz);
			strcat(out, tmp);
		}
	}
	buf_fini(&pend);
}

struct lcase {
	size_t max;
	const char *in;
	size_t n;		/* 0: strlen(in) */
	const char *want;
};

static const struct lcase cases[] = {
	{ 5, "abcde\r\n", 0, "OK:C:abcde|" },		/* exactly max */
	{ 5, "abcdef\r\nxy\r\n", 0, "ERR:C|OK:C:xy|" },	/* max + 1 */
	{ 5, "abcde\n", 0, "OK:L:abcde|" },
	{ 5, "abcdef\nz\n", 0, "ERR:L|OK:L:z|" },
	{ 5, "abcde\r\r\nq\r\n", 0, "ERR:C|OK:C:q|" },	/* CR is content */
	{ 5, "abcd\r\r\n", 0, "OK:C+R:abcd\r|" },
	{ 8, "a\rb\r\n\r\n", 0, "OK:C+R:a\rb|OK:C:|" },
	{ 8, "a\0b\r\nc\n", 7, "OK:C+N:a|OK:L:c|" },
	{ 3, "\n\r\n", 0, "OK:L:|OK:C:|" },
	{ 3, "abcdefghijklmnop\r", 0, "" },		/* still skipping */
	{ 3, "abcdefghijkl\r\nok\r\n", 0, "ERR:C|OK:C:ok|" },
	{ 3, "abcdefghijkl\nabcd\n", 0, "ERR:L|ERR:L|" },
	{ 0, "\r\nx\r\n", 0, "OK:C:|ERR:C|" },
	{ 4, "abc", 0, "" },
};

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lcase *c = &cases[i];
		size_t n = c->n ? c->n : strlen(c->in);
		const uint8_t *in = (const uint8_t *)c->in;
		char whole[512], bytes[512], split[512];
		size_t a, b;

		run(c->max, in, n, NULL, 0, 0, whole, sizeof(whole));
		assert_string_equal(whole, c->want);
		run(c->max, in, n, NULL, 0, 1, bytes, sizeof(bytes));
		assert_string_equal(bytes, c->want);
		/* every single cut and every pair of cuts */
		for (a = 1; a < n; a++) {
			size_t cuts[2] = { a, 0 };

			run(c->max, in, n, cuts, 1, 0, split, sizeof(split));
			assert_string_equal(split, c->want);
			for (b = a + 1; b < n; b++) {
				cuts[1] = b;
				run(c->max, in, n, cuts, 2, 0, split,
				    sizeof(split));
				assert_string_equal(split, c->want);
			}
		}
	}
}

static void
test_reset(void **state)
{
	struct linebuf lb;
	struct linebuf_line l;
	size_t used;

	linebuf_init(&lb, 2);
	assert_int_equal(linebuf_feed(&lb, span_cstr("abcd"), &used, &l),
	    PARSE_MORE);
	assert_int_equal(used, 4);
	linebuf_reset(&lb);
	assert_int_equal(linebuf_feed(&lb, span_cstr("ok\r\n"), &used, &l),
	    PARSE_OK);
	assert_int_equal(used, 4);
	assert_true(span_eq(l.line, "ok"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
