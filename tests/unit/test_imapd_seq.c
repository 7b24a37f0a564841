/* Unit tests for imapd/imap_seq: syntax, "*", "$", normalising, limits, membership and iteration. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_seq.h"

/* Render a set as "lo:hi,n" for comparison. */
static void
render(const struct imap_seq *s, char *out, size_t cap)
{
	size_t i, len = 0;

	out[0] = 0;
	if (s->saved)
		len += (size_t)snprintf(out, cap, "$");
	for (i = 0; i < s->n; i++) {
		if (s->r[i].lo == s->r[i].hi)
			len += (size_t)snprintf(out + len, cap - len, "%s%u",
			    i ? "," : "", s->r[i].lo);
		else
			len += (size_t)snprintf(out + len, cap - len, "%s%u:%u",
			    i ? "," : "", s->r[i].lo, s->r[i].hi);
	}
}

static const struct {
	const char *in;
	uint32_t max;
	const char *want;	/* NULL: error */
} cases[] = {
	{ "1", 10, "1" },
	{ "1:5", 10, "1:5" },
	{ "5:1", 10, "1:5" },
	{ "2,4:7,9,12:*", 15, "2,4:7,9,12:15" },
	{ "*", 15, "15" },
	{ "*:3", 15, "3:15" },
	{ "20:*", 15, "15:20" },
	{ "*:*", 15, "15" },
	{ "3,1,2", 10, "1:3" },
	{ "1:3,2:6,8", 10, "1:6,8" },
	{ "1:3,4:6", 10, "1:6" },
	{ "10:12,1:2,5", 20, "1:2,5,10:12" },
	{ "4294967295", 10, "4294967295" },
	{ "1:4294967295,7", 10, "1:4294967295" },
	{ "4294967295,1:4294967294", 10, "1:4294967295" },
	{ "*", 0, "" },
	{ "*:*", 0, "" },
	{ "1:*", 0, "1" },
	{ "5:*", 0, "1:5" },
	{ "$", 10, "$" },
	{ "", 10, NULL },
	{ "0", 10, NULL },
	{ "01", 10, NULL },
	{ "1:0", 10, NULL },
	{ "4294967296", 10, NULL },
	{ "99999999999999999999", 10, NULL },
	{ "1,", 10, NULL },
	{ ",1", 10, NULL },
	{ "1::2", 10, NULL },
	{ "1:", 10, NULL },
	{ ":1", 10, NULL },
	{ "1-2", 10, NULL },
	{ "1 2", 10, NULL },
	{ "**", 10, NULL },
	{ "$,1", 10, NULL },
	{ "1,$", 10, NULL },
	{ "$$", 10, NULL },
	{ "a", 10, NULL },
};

static void
test_table(void **state)
{
	struct imap_seq_range r[8];
	struct imap_seq s;
	char got[256];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct span in = span_cstr(cases[i].in);
		int rc;

		imap_seq_init(&s, r, 8);
		why = NULL;
		rc = imap_seq_parse(&s, in, cases[i].max, 1, &why);
		if (cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("\"%s\" parsed", cases[i].in);
			assert_non_null(why);
			assert_false(imap_seq_valid(in, 1, 8));
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].in, why);
		render(&s, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\": got %s want %s", cases[i].in, got,
			    cases[i].want);
		assert_true(imap_seq_valid(in, 1, 8));
	}
}

static void
test_saved_and_limits(void **state)
{
	struct imap_seq_range r[4];
	struct imap_seq s;
	const char *why;

	(void)state;
	imap_seq_init(&s, r, 4);
	assert_int_equal(imap_seq_parse(&s, span_cstr("$"), 5, 0, &why), -1);
	assert_string_equal(why, "\"$\" is not allowed here");
	assert_false(imap_seq_valid(span_cstr("$"), 0, 4));
	assert_int_equal(imap_seq_parse(&s, span_cstr("$"), 5, 1, &why), 0);
	assert_int_equal(s.saved, 1);
	assert_int_equal(s.n, 0);
	/* Exactly cap items, then one more (even though they merge). */
	assert_int_equal(imap_seq_parse(&s, span_cstr("1,2,3,4"), 5, 0, &why),
	    0);
	assert_int_equal(s.saved, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(imap_seq_parse(&s, span_cstr("1,2,3,4,5"), 5, 0,
	    &why), -1);
	assert_string_equal(why, "Too many ranges in sequence set");
	assert_true(imap_seq_valid(span_cstr("1,2,3,4"), 0, 4));
	assert_false(imap_seq_valid(span_cstr("1,2,3,4,5"), 0, 4));
}

static void
test_ops(void **state)
{
	struct imap_seq_range r[8];
	struct imap_seq s;
	struct imap_seq_iter it;
	const char *why;
	uint32_t v, got[32];
	size_t n = 0;
	char txt[64];

	(void)state;
	imap_seq_init(&s, r, 8);
	assert_int_equal(imap_seq_parse(&s, span_cstr("2,4:7,9,12:*"), 15, 0,
	    &why), 0);
	assert_int_equal(imap_seq_count(&s), 10);
	assert_int_equal(imap_seq_min(&s), 2);
	assert_int_equal(imap_seq_max(&s), 15);
	assert_false(imap_seq_contains(&s, 1));
	assert_true(imap_seq_contains(&s, 2));
	assert_false(imap_seq_contains(&s, 3));
	assert_true(imap_seq_contains(&s, 4));
	assert_true(imap_seq_contains(&s, 7));
	assert_false(imap_seq_contains(&s, 8));
	assert_true(imap_seq_contains(&s, 9));
	assert_true(imap_seq_contains(&s, 15));
	assert_false(imap_seq_contains(&s, 16));
	assert_false(imap_seq_contains(&s, 0));
	for (imap_seq_iter_init(&it); imap_seq_iter_next(&s, &it, &v);)
		got[n++] = v;
	assert_int_equal(n, 10);
	{
		static const uint32_t want[] = { 2, 4, 5, 6, 7, 9, 12, 13, 14,
		    15 };
		assert_memory_equal(got, want, sizeof(want));
	}
	/* Iteration ends cleanly at UINT32_MAX. */
	assert_int_equal(imap_seq_parse(&s, span_cstr("4294967294:*"),
	    UINT32_MAX, 0, &why), 0);
	n = 0;
	for (imap_seq_iter_init(&it); imap_seq_iter_next(&s, &it, &v);)
		got[n++] = v;
	assert_int_equal(n, 2);
	assert_int_equal(got[1], UINT32_MAX);
	assert_int_equal(imap_seq_count(&s), 2);
	/* Empty set. */
	s.n = 0;
	assert_int_equal(imap_seq_min(&s), 0);
	assert_int_equal(imap_seq_max(&s), 0);
	assert_int_equal(imap_seq_count(&s), 0);
	imap_seq_iter_init(&it);
	assert_int_equal(imap_seq_iter_next(&s, &it, &v), 0);
	/* Adding. */
	imap_seq_init(&s, r, 3);
	assert_int_equal(imap_seq_add(&s, 5, 3), 0);
	assert_int_equal(imap_seq_add(&s, 10, 10), 0);
	assert_int_equal(imap_seq_add(&s, 6, 9), 0);
	render(&s, txt, sizeof(txt));
	assert_string_equal(txt, "3:10");
	assert_int_equal(imap_seq_add(&s, 0, 1), -1);
	assert_int_equal(imap_seq_add(&s, 20, 20), 0);
	assert_int_equal(imap_seq_add(&s, 30, 30), 0);
	assert_int_equal(imap_seq_add(&s, 40, 40), -1);
	render(&s, txt, sizeof(txt));
	assert_string_equal(txt, "3:10,20,30");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_saved_and_limits),
		cmocka_unit_test(test_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
