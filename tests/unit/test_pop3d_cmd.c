/* Unit tests for pop3d/pop3_cmd and pop3d/pop3_out: verbs, arguments, limits, stuffing. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pop3d/pop3_cmd.h"
#include "pop3d/pop3_out.h"

static const struct {
	const char *line;
	int verb;		/* -1: PARSE_ERR */
	unsigned n_args;
	const char *arg0;
	uint32_t num0, num1;
} cases[] = {
	{ "USER demo@example.test", POP3_USER, 1, "demo@example.test", 0, 0 },
	{ "user x", POP3_USER, 1, "x", 0, 0 },
	{ "USER", -1, 0, NULL, 0, 0 },
	{ "USER a b", -1, 0, NULL, 0, 0 },
	{ "PASS secret with spaces", POP3_PASS, 1, "secret with spaces", 0, 0 },
	{ "PASS  lead", POP3_PASS, 1, " lead", 0, 0 },
	{ "PASS", -1, 0, NULL, 0, 0 },
	{ "PASS ", -1, 0, NULL, 0, 0 },
	{ "APOP a b", POP3_APOP, 2, "a", 0, 0 },
	{ "AUTH", POP3_AUTH, 0, NULL, 0, 0 },
	{ "AUTH PLAIN", POP3_AUTH, 1, "PLAIN", 0, 0 },
	{ "AUTH PLAIN AGEAYg==", POP3_AUTH, 2, "PLAIN", 0, 0 },
	{ "AUTH PLAIN a b", -1, 0, NULL, 0, 0 },
	{ "STLS", POP3_STLS, 0, NULL, 0, 0 },
	{ "STLS x", -1, 0, NULL, 0, 0 },
	{ "CAPA", POP3_CAPA, 0, NULL, 0, 0 },
	{ "quit", POP3_QUIT, 0, NULL, 0, 0 },
	{ "STAT", POP3_STAT, 0, NULL, 0, 0 },
	{ "LIST", POP3_LIST, 0, NULL, 0, 0 },
	{ "LIST 7", POP3_LIST, 1, "7", 7, 0 },
	{ "LIST 0", POP3_LIST, 1, "0", 0, 0 },
	{ "LIST -1", -1, 0, NULL, 0, 0 },
	{ "LIST +1", -1, 0, NULL, 0, 0 },
	{ "LIST 1 2", -1, 0, NULL, 0, 0 },
	{ "LIST 2147483647", POP3_LIST, 1, "2147483647", 2147483647u, 0 },
	{ "LIST 2147483648", -1, 0, NULL, 0, 0 },
	{ "LIST 99999999999", -1, 0, NULL, 0, 0 },
	{ "RETR 1", POP3_RETR, 1, "1", 1, 0 },
	{ "RETR", -1, 0, NULL, 0, 0 },
	{ "RETR x", -1, 0, NULL, 0, 0 },
	{ "DELE 3", POP3_DELE, 1, "3", 3, 0 },
	{ "NOOP", POP3_NOOP, 0, NULL, 0, 0 },
	{ "RSET", POP3_RSET, 0, NULL, 0, 0 },
	{ "TOP 1 0", POP3_TOP, 2, "1", 1, 0 },
	{ "TOP 2 10", POP3_TOP, 2, "2", 2, 10 },
	{ "TOP 2", -1, 0, NULL, 0, 0 },
	{ "UIDL", POP3_UIDL, 0, NULL, 0, 0 },
	{ "UIDL 5", POP3_UIDL, 1, "5", 5, 0 },
	{ "", -1, 0, NULL, 0, 0 },
	{ " STAT", -1, 0, NULL, 0, 0 },
	{ "STATX", -1, 0, NULL, 0, 0 },
	{ "HELO x", -1, 0, NULL, 0, 0 },
};

static void
test_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pop3_cmd c;
		const char *why;
		enum parse_rc rc = pop3_cmd_parse(span_cstr(cases[i].line),
		    &c, &why);

		if (cases[i].verb < 0) {
			if (rc != PARSE_ERR || why == NULL)
				fail_msg("case %zu \"%s\": want ERR", i,
				    cases[i].line);
			continue;
		}
		if (rc != PARSE_OK)
			fail_msg("case %zu \"%s\": %s", i, cases[i].line, why);
		assert_int_equal(c.verb, cases[i].verb);
		assert_int_equal(c.n_args, cases[i].n_args);
		if (cases[i].arg0 != NULL)
			assert_true(span_eq(c.arg[0], cases[i].arg0));
		if (c.verb == POP3_LIST || c.verb == POP3_RETR ||
		    c.verb == POP3_DELE || c.verb == POP3_TOP ||
		    c.verb == POP3_UIDL) {
			if (c.n_args > 0)
				assert_int_equal(c.num[0], cases[i].num0);
			if (c.n_args > 1)
				assert_int_equal(c.num[1], cases[i].num1);
		}
	}
}

static void
test_nul(void **state)
{
	struct pop3_cmd c;
	const char *why;

	assert_int_equal(pop3_cmd_parse(span_make("NO\0OP", 5), &c, &why),
	    PARSE_ERR);
	assert_string_equal(why, "NUL in command");
	assert_int_equal(pop3_cmd_parse(span_make("PASS a\0b", 8), &c, &why),
	    PARSE_ERR);
}

/* Limits: exactly at each and one past. */
static void
test_limits(void **state)
{
	char line[POP3_SASL_LINE_MAX + 200];
	struct pop3_cmd c;
	const char *why;

	/* an argument of 40 octets, and 41 */
	snprintf(line, sizeof(line), "USER %0*d", POP3_ARG_MAX, 0);
	assert_int_equal(pop3_cmd_parse(span_cstr(line), &c, &why), PARSE_OK);
	snprintf(line, sizeof(line), "USER %0*d", POP3_ARG_MAX + 1, 0);
	assert_int_equal(pop3_cmd_parse(span_cstr(line), &c, &why),
	    PARSE_ERR);
	/* a PASS line of POP3_LINE_MAX, and one more */
	memset(line, 'p', sizeof(line));
	memcpy(line, "PASS ", 5);
	assert_int_equal(pop3_cmd_parse(span_make(line, POP3_LINE_MAX), &c,
	    &why), PARSE_OK);
	assert_int_equal(c.arg[0].n, POP3_LINE_MAX - 5);
	assert_int_equal(pop3_cmd_parse(span_make(line, POP3_LINE_MAX + 1),
	    &c, &why), PARSE_ERR);
	/* AUTH's initial response: POP3_SASL_LINE_MAX, and one more */
	memcpy(line, "AUTH PLAIN ", 11);
	assert_int_equal(pop3_cmd_parse(span_make(line, 11 +
	    POP3_SASL_LINE_MAX), &c, &why), PARSE_OK);
	assert_int_equal(c.arg[1].n, POP3_SASL_LINE_MAX);
	assert_int_equal(pop3_cmd_parse(span_make(line, 12 +
	    POP3_SASL_LINE_MAX), &c, &why), PARSE_ERR);
}

/* The transform, fed whole and split at every offset, must agree. */
static size_t
xform(const char *in, size_t n, int top, uint32_t lines, size_t split,
    uint8_t *out)
{
	struct pop3_out o;
	size_t w;

	pop3_out_init(&o, top, lines);
	w = pop3_out_feed(&o, span_make(in, split), out);
	w += pop3_out_feed(&o, span_make(in + split, n - split), out + w);
	w += pop3_out_finish(&o, out + w);
	return w;
}

static void
check_xform(const char *in, int top, uint32_t lines, const char *want)
{
	uint8_t out[1024];
	size_t n = strlen(in), k, w;

	for (k = 0; k <= n; k++) {
		w = xform(in, n, top, lines, k, out);
		if (w != strlen(want) || memcmp(out, want, w) != 0)
			fail_msg("split %zu of \"%s\": got \"%.*s\"", k, in,
			    (int)w, out);
	}
}

static void
test_out(void **state)
{
	check_xform("a\r\n.b\r\n..\r\n.\r\n", 0, 0,
	    "a\r\n..b\r\n...\r\n..\r\n");
	check_xform(".", 0, 0, "..\r\n");
	check_xform("a\nb\n.c", 0, 0, "a\r\nb\r\n..c\r\n");
	check_xform("x\r\n", 0, 0, "x\r\n");
	check_xform("", 0, 0, "");
	check_xform("H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n", 1, 0,
	    "H: 1\r\nH: 2\r\n\r\n");
	check_xform("H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n", 1, 2,
	    "H: 1\r\nH: 2\r\n\r\nb1\r\n..b2\r\n");
	check_xform("H: 1\n\nb1\nb2\n", 1, 9, "H: 1\r\n\r\nb1\r\nb2\r\n");
	check_xform("H: 1\r\n", 1, 1, "H: 1\r\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
