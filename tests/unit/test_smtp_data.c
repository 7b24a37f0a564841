/* Unit tests for smtpd/smtp_data: unstuffing, terminator, smuggling, limits. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/smtp_data.h"

struct result {
	enum parse_rc rc;
	unsigned flags;
	size_t used;		/* bytes of input up to the terminator */
	char out[512];
	size_t out_len;
};

/* Feed in in pieces of at most step bytes (0: all at once), the way a
 * socket might deliver it; stop at the terminator. */
static void
run(const char *in, size_t n, size_t step, uint64_t max, struct result *r)
{
	struct smtp_data d;
	size_t off = 0;
	uint8_t tmp[600];

	memset(r, 0, sizeof(*r));
	smtp_data_init(&d, max);
	r->rc = PARSE_MORE;
	while (off < n) {
		size_t len = step && n - off > step ? step : n - off;
		size_t used = 0, outn = 0;

		r->rc = smtp_data_feed(&d, span_make(in + off, len), tmp,
		    &outn, &used);
		assert_true(r->out_len + outn <= sizeof(r->out));
		memcpy(r->out + r->out_len, tmp, outn);
		r->out_len += outn;
		off += used;
		if (r->rc == PARSE_OK)
			break;
		assert_int_equal(used, len);
	}
	r->used = off;
	r->flags = d.flags;
}

static const struct {
	const char *in;		/* the bytes after 354 */
	enum parse_rc rc;
	const char *out;	/* message as stored */
	unsigned flags;
	size_t tail;		/* bytes left after the terminator */
} cases[] = {
	{ ".\r\n", PARSE_OK, "", 0, 0 },
	{ "a\r\n.\r\n", PARSE_OK, "a\r\n", 0, 0 },
	{ "a\r\n.\r\nQUIT\r\n", PARSE_OK, "a\r\n", 0, 6 },
	{ "..a\r\n..\r\n.\r\n", PARSE_OK, ".a\r\n.\r\n", 0, 0 },
	{ ".x\r\n.\r\n", PARSE_OK, "x\r\n", 0, 0 },
	{ "a\r\n. \r\n.\r\n", PARSE_OK, "a\r\n \r\n", 0, 0 },
	{ "a.\r\nb\r\n.\r\n", PARSE_OK, "a.\r\nb\r\n", 0, 0 },
	{ "a\r\n.\r", PARSE_MORE, "a\r\n", 0, 0 },
	{ "a\r\n", PARSE_MORE, "a\r\n", 0, 0 },
	/* SMTP smuggling: none of these end the data. */
	{ "a\n.\nMAIL FROM:<x>\r\n", PARSE_MORE, "a", SMTP_DATA_BARE_LF, 0 },
	{ "a\r\n.\nRCPT\r\n", PARSE_MORE, "a\r\n", SMTP_DATA_BARE_LF, 0 },
	{ "a\n.\r\nb", PARSE_MORE, "a", SMTP_DATA_BARE_LF, 0 },
	{ "a\r.\rb", PARSE_MORE, "a", SMTP_DATA_BARE_CR, 0 },
	{ "a\r\n.\rb", PARSE_MORE, "a\r\n", SMTP_DATA_BARE_CR, 0 },
	/* ...but the real terminator still does, refused. */
	{ "a\n.\nX\r\n.\r\nNEXT", PARSE_OK, "a", SMTP_DATA_BARE_LF, 4 },
	{ "a\rb\r\n.\r\n", PARSE_OK, "a", SMTP_DATA_BARE_CR, 0 },
	{ "a\r\r\n.\r\n", PARSE_OK, "a", SMTP_DATA_BARE_CR, 0 },
	{ "\n\r\n.\r\n", PARSE_OK, "", SMTP_DATA_BARE_LF, 0 },
	{ "a\0b\r\n.\r\n", PARSE_OK, "a", SMTP_DATA_NUL, 0 },
};

static void
test_cases(void **state)
{
	size_t i, step;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);
		size_t outn;

		/* "a\0b\r\n.\r\n" holds a NUL: strlen stops there. */
		if (cases[i].flags & SMTP_DATA_NUL)
			n = 8;
		outn = strlen(cases[i].out);
		for (step = 0; step <= n; step++) {
			struct result r;

			run(cases[i].in, n, step, 0, &r);
			if (r.rc != cases[i].rc || r.flags != cases[i].flags ||
			    r.out_len != outn ||
			    memcmp(r.out, cases[i].out, outn) != 0 ||
			    (r.rc == PARSE_OK && n - r.used != cases[i].tail))
				fail_msg("case %zu step %zu: rc %d flags %u "
				    "out \"%.*s\" used %zu", i, step, r.rc,
				    r.flags, (int)r.out_len, r.out, r.used);
		}
	}
}

static void
test_size_limit(void **state)
{
	struct result r;

	/* "abc\r\n" is 5 bytes: exactly the limit passes... */
	run("abc\r\n.\r\n", 8, 0, 5, &r);
	assert_int_equal(r.rc, PARSE_OK);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.out_len, 5);
	/* ...one more byte is refused, and the terminator still found. */
	run("abcd\r\n.\r\nX", 10, 0, 5, &r);
	assert_int_equal(r.rc, PARSE_OK);
	assert_int_equal(r.flags, SMTP_DATA_TOO_BIG);
	assert_int_equal(r.used, 9);
	/* Stuffed dots do not count. */
	run("..\r\n.\r\n", 7, 1, 3, &r);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.out_len, 3);
}

static void
test_bdat_scan(void **state)
{
	int cr = 0;

	assert_int_equal(smtp_bdat_scan(&cr, span_cstr("a\r\nb\r"), 0), 0);
	assert_int_equal(cr, 1);
	/* the CR at the end of one chunk meets its LF in the next */
	assert_int_equal(smtp_bdat_scan(&cr, span_cstr("\nc\r\n"), 1), 0);
	cr = 0;
	assert_int_equal(smtp_bdat_scan(&cr, span_cstr("a\nb"), 0),
	    SMTP_DATA_BARE_LF);
	cr = 0;
	assert_int_equal(smtp_bdat_scan(&cr, span_cstr("a\rb"), 0),
	    SMTP_DATA_BARE_CR);
	cr = 0;
	assert_int_equal(smtp_bdat_scan(&cr, span_cstr("a\r"), 0), 0);
	assert_int_equal(smtp_bdat_scan(&cr, span_make("", 0), 1),
	    SMTP_DATA_BARE_CR);
	cr = 0;
	assert_int_equal(smtp_bdat_scan(&cr, span_make("\0\r\n", 3), 1),
	    SMTP_DATA_NUL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_bdat_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
