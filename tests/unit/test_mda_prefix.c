/* Unit tests for mda/prefix.c: header lines, LF to CRLF, user directories, reply order. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/maildir.h"
#include "mda/mda.h"

static void
test_prefix(void **state)
{
	struct buf b;

	buf_init(&b, 0, 4096);
	assert_int_equal(mda_prefix(&b, "alice@example.org",
	    "demo+x@example.test"), 0);
	assert_string_equal(buf_cstr(&b), "Return-Path: <alice@example.org>"
	    "\r\nDelivered-To: demo+x@example.test\r\n");
	buf_reset(&b);
	assert_int_equal(mda_prefix(&b, "", "demo@example.test"), 0);
	assert_string_equal(buf_cstr(&b), "Return-Path: <>\r\n"
	    "Delivered-To: demo@example.test\r\n");
	/* never a header injection */
	buf_reset(&b);
	assert_int_equal(mda_prefix(&b, "a@b\r\nX-Evil: 1", "d@e"), -1);
	assert_int_equal(mda_prefix(&b, "a@b", "d@e\nX: y"), -1);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
	/* the cap holds */
	buf_init(&b, 0, 20);
	assert_int_equal(mda_prefix(&b, "alice@example.org", "d@e"), -1);
	buf_fini(&b);
}

static const struct {
	const char *in, *out;
} crlf_cases[] = {
	{ "", "" },
	{ "a\nb\n", "a\r\nb\r\n" },
	{ "a\r\nb\r\n", "a\r\nb\r\n" },
	{ "mixed\r\nlf\nend", "mixed\r\nlf\r\nend" },
	{ "bare\rcr", "bare\r\ncr" },
	{ "ends in cr\r", "ends in cr\r\n" },
	{ "\r\r\n\n", "\r\n\r\n\r\n" },
	{ "\n\n.\n", "\r\n\r\n.\r\n" },
};

/* Feed in pieces cut at the offsets in cuts (sorted, ending at n). */
static size_t
crlf_run(const char *in, size_t n, const size_t *cuts, size_t ncuts,
    uint8_t *out)
{
	struct mda_crlf c = { 0 };
	size_t i, from = 0, o = 0;

	for (i = 0; i < ncuts; i++) {
		o += mda_crlf_feed(&c, span_make(in + from, cuts[i] - from),
		    out + o);
		from = cuts[i];
	}
	o += mda_crlf_end(&c, out + o);
	return o;
}

static void
test_crlf(void **state)
{
	size_t i, k, n, got;
	uint8_t out[128];
	size_t cuts[64];

	for (i = 0; i < sizeof(crlf_cases) / sizeof(crlf_cases[0]); i++) {
		const char *in = crlf_cases[i].in;

		n = strlen(in);
		/* one feed */
		cuts[0] = n;
		got = crlf_run(in, n, cuts, 1, out);
		assert_int_equal(got, strlen(crlf_cases[i].out));
		assert_memory_equal(out, crlf_cases[i].out, got);
		/* split at every offset */
		for (k = 0; k <= n; k++) {
			cuts[0] = k;
			cuts[1] = n;
			got = crlf_run(in, n, cuts, 2, out);
			assert_int_equal(got, strlen(crlf_cases[i].out));
			assert_memory_equal(out, crlf_cases[i].out, got);
		}
		/* one byte at a time */
		for (k = 0; k < n; k++)
			cuts[k] = k + 1;
		got = crlf_run(in, n, cuts, n, out);
		assert_int_equal(got, strlen(crlf_cases[i].out));
		assert_memory_equal(out, crlf_cases[i].out, got);
	}
}

static const struct {
	const char *addr;
	const char *dir;	/* NULL: refused */
} dir_cases[] = {
	{ "demo@example.test", "/m/example.test/demo" },
	{ "a.b@example.test", "/m/example.test/a.b" },
	{ ".hidden@example.test", "/m/example.test/%2Ehidden" },
	{ "..@example.test", "/m/example.test/%2E." },
	{ "\"a/b\"@example.test", "/m/example.test/\"a%2Fb\"" },
	{ "a%b@example.test", "/m/example.test/a%25b" },
	{ "z\xc3\xab@example.test", "/m/example.test/z\xc3\xab" },
	{ "a@b@example.test", "/m/example.test/a@b" },
	{ "@example.test", NULL },
	{ "demo@", NULL },
	{ "demo", NULL },
	{ "de\tmo@example.test", NULL },
	{ "demo@exa\nmple", NULL },
};

static void
test_user_dir(void **state)
{
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
		int rc = maildir_user_dir("/m", dir_cases[i].addr, out,
		    sizeof(out));

		if (dir_cases[i].dir == NULL) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out, dir_cases[i].dir);
	}
	/* exactly at the limit, and one past */
	assert_int_equal(maildir_user_dir("/m", "ab@c", out, 8), 0);
	assert_string_equal(out, "/m/c/ab");
	assert_int_equal(maildir_user_dir("/m", "abc@c", out, 8), -1);
	assert_int_equal(maildir_user_dir("/m", ".b@c", out, 10), 0);
	assert_int_equal(maildir_user_dir("/m", ".b@c", out, 9), -1);
}

static void
test_order(void **state)
{
	unsigned char done[5] = { 0 };
	size_t next = 0;

	assert_int_equal(mda_order_take(done, 5, &next), 0);
	/* later ones finish first: nothing may go out yet */
	done[2] = done[3] = 1;
	assert_int_equal(mda_order_take(done, 5, &next), 0);
	assert_int_equal(next, 0);
	done[0] = 1;
	assert_int_equal(mda_order_take(done, 5, &next), 1);
	assert_int_equal(next, 1);
	done[1] = 1;
	assert_int_equal(mda_order_take(done, 5, &next), 3);
	assert_int_equal(next, 4);
	assert_int_equal(mda_order_take(done, 5, &next), 0);
	done[4] = 1;
	assert_int_equal(mda_order_take(done, 5, &next), 1);
	assert_int_equal(next, 5);
	assert_int_equal(mda_order_take(done, 5, &next), 0);
	next = 0;
	assert_int_equal(mda_order_take(done, 0, &next), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_user_dir),
		cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
