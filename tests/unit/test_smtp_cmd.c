/* Unit tests for smtpd/smtp_cmd: every verb, paths, parameters, errors. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/linebuf.h"
#include "common/smtp_cmd.h"

static const struct {
	const char *line;
	int verb;		/* -1: error */
	const char *arg;	/* arg, or path for MAIL/RCPT, or the error */
	const char *params;	/* "K=V K2" joined, or NULL */
	int code;
} ok_cases[] = {
	{ "EHLO client.example", SMTP_EHLO, "client.example", NULL, 0 },
	{ "ehlo [192.0.2.1]", SMTP_EHLO, "[192.0.2.1]", NULL, 0 },
	{ "HELO x ", SMTP_HELO, "x", NULL, 0 },
	{ "MAIL FROM:<a@b.example>", SMTP_MAIL, "a@b.example", "", 0 },
	{ "mail from:<a@b>", SMTP_MAIL, "a@b", "", 0 },
	{ "MAIL FROM: <a@b>", SMTP_MAIL, "a@b", "", 0 },
	{ "MAIL FROM:<>", SMTP_MAIL, "", "", 0 },
	{ "MAIL FROM:<> SIZE=100 BODY=8BITMIME", SMTP_MAIL, "", "SIZE=100 "
	    "BODY=8BITMIME", 0 },
	{ "MAIL FROM:<a@b> SMTPUTF8", SMTP_MAIL, "a@b", "SMTPUTF8", 0 },
	{ "MAIL FROM:<a@b> RET=HDRS ENVID=QQ+2Bx", SMTP_MAIL, "a@b",
	    "RET=HDRS ENVID=QQ+2Bx", 0 },
	{ "MAIL FROM:<\"a b>c\"@b>", SMTP_MAIL, "\"a b>c\"@b", "", 0 },
	{ "MAIL FROM:<\"a\\\"b\"@b>", SMTP_MAIL, "\"a\\\"b\"@b", "", 0 },
	{ "MAIL FROM:<@r1,@r2:a@b>", SMTP_MAIL, "a@b", "", 0 },
	{ "RCPT TO:<x@y>", SMTP_RCPT, "x@y", "", 0 },
	{ "RCPT TO:<Postmaster>", SMTP_RCPT, "Postmaster", "", 0 },
	{ "RCPT TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y",
	    SMTP_RCPT, "x@y", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y", 0 },
	{ "RCPT TO:<j\xc3\xb6rg@b\xc3\xa4r.example>", SMTP_RCPT,
	    "j\xc3\xb6rg@b\xc3\xa4r.example", "", 0 },
	{ "DATA", SMTP_DATA, "", NULL, 0 },
	{ "RSET", SMTP_RSET, "", NULL, 0 },
	{ "QUIT", SMTP_QUIT, "", NULL, 0 },
	{ "STARTTLS", SMTP_STARTTLS, "", NULL, 0 },
	{ "NOOP", SMTP_NOOP, "", NULL, 0 },
	{ "NOOP hello there", SMTP_NOOP, "hello there", NULL, 0 },
	{ "HELP", SMTP_HELP, "", NULL, 0 },
	{ "HELP MAIL", SMTP_HELP, "MAIL", NULL, 0 },
	{ "VRFY postmaster", SMTP_VRFY, "postmaster", NULL, 0 },
	{ "EXPN staff", SMTP_EXPN, "staff", NULL, 0 },
	{ "AUTH PLAIN", SMTP_AUTH, "PLAIN", NULL, 0 },
	{ "BDAT 0 LAST", SMTP_BDAT, "", NULL, 0 },
	{ "LHLO client.example", SMTP_LHLO, "client.example", NULL, 0 },
	{ "LHLO", -1, "Syntax: LHLO hostname", NULL, 501 },

	{ "", -1, "Command unrecognized", NULL, 500 },
	{ "FOO bar", -1, "Command unrecognized", NULL, 500 },
	{ " EHLO x", -1, "Command unrecognized", NULL, 500 },
	{ "EHLO", -1, "Syntax: EHLO hostname", NULL, 501 },
	{ "HELO ", -1, "Syntax: HELO hostname", NULL, 501 },
	{ "MAIL TO:<a@b>", -1, "Syntax: MAIL FROM:<address>", NULL, 501 },
	{ "MAIL FROM:a@b", -1, "Bad sender address syntax", NULL, 501 },
	{ "MAIL FROM:<a@b", -1, "Bad sender address syntax", NULL, 501 },
	{ "MAIL FROM:<a b@c>", -1, "Bad sender address syntax", NULL, 501 },
	{ "MAIL FROM:<\"a@b>", -1, "Bad sender address syntax", NULL, 501 },
	{ "MAIL FROM:<@r1a@b>", -1, "Bad sender address syntax", NULL, 501 },
	{ "MAIL FROM:<a@b>SIZE=1", -1, "Bad parameter syntax", NULL, 501 },
	{ "MAIL FROM:<a@b> SIZE=", -1, "Bad parameter syntax", NULL, 501 },
	{ "MAIL FROM:<a@b> =1", -1, "Bad parameter syntax", NULL, 501 },
	{ "MAIL FROM:<a@b> A=B=C", -1, "Bad parameter syntax", NULL, 501 },
	{ "RCPT TO:<>", -1, "Bad recipient address syntax", NULL, 501 },
	{ "RCPT TO:", -1, "Bad recipient address syntax", NULL, 501 },
	{ "RCPT FROM:<a@b>", -1, "Syntax: RCPT TO:<address>", NULL, 501 },
	{ "DATA x", -1, "Syntax error (no parameters allowed)", NULL, 501 },
	{ "QUIT now", -1, "Syntax error (no parameters allowed)", NULL, 501 },
	{ "STARTTLS x", -1, "Syntax error (no parameters allowed)", NULL, 501 },
	{ "VRFY", -1, "Syntax: VRFY address", NULL, 501 },
	{ "AUTH", -1, "Syntax: AUTH mechanism [initial-response]", NULL, 501 },
	{ "BDAT", -1, "Syntax: BDAT chunk-size [LAST]", NULL, 501 },
	{ "BDAT x", -1, "Syntax: BDAT chunk-size [LAST]", NULL, 501 },
	{ "BDAT 10 FIRST", -1, "Syntax: BDAT chunk-size [LAST]", NULL, 501 },
	{ "BDAT 99999999999999999999", -1, "Chunk size too big", NULL, 501 },
};

static void
join_params(const struct smtp_cmd *c, char *out, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < c->n_params; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%.*s%s%.*s",
		    i ? " " : "", (int)c->params[i].key.n,
		    (const char *)c->params[i].key.p,
		    c->params[i].value.n ? "=" : "",
		    (int)c->params[i].value.n,
		    (const char *)c->params[i].value.p);
}

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		struct smtp_cmd c;
		struct smtp_err e;
		enum parse_rc rc = smtp_cmd_parse(span_cstr(ok_cases[i].line),
		    &c, &e);
		char got[256], params[256];

		if (ok_cases[i].verb < 0) {
			if (rc != PARSE_ERR || e.code != ok_cases[i].code ||
			    strcmp(e.text, ok_cases[i].arg) != 0)
				fail_msg("case %zu \"%s\": rc %d code %d \"%s\"",
				    i, ok_cases[i].line, rc, rc == PARSE_ERR ?
				    e.code : 0, rc == PARSE_ERR ? e.text : "");
			continue;
		}
		if (rc != PARSE_OK || (int)c.verb != ok_cases[i].verb)
			fail_msg("case %zu \"%s\": rc %d verb %d", i,
			    ok_cases[i].line, rc, c.verb);
		if (c.verb == SMTP_MAIL || c.verb == SMTP_RCPT)
			snprintf(got, sizeof(got), "%.*s", (int)c.path.n,
			    (const char *)c.path.p);
		else
			snprintf(got, sizeof(got), "%.*s", (int)c.arg.n,
			    (const char *)c.arg.p);
		if (strcmp(got, ok_cases[i].arg) != 0)
			fail_msg("case %zu: arg \"%s\"", i, got);
		if (ok_cases[i].params != NULL) {
			join_params(&c, params, sizeof(params));
			if (strcmp(params, ok_cases[i].params) != 0)
				fail_msg("case %zu: params \"%s\"", i, params);
		}
	}
}

static void
test_details(void **state)
{
	struct smtp_cmd c;
	struct smtp_err e;

	assert_int_equal(smtp_cmd_parse(span_cstr("MAIL FROM:<>"), &c, &e),
	    PARSE_OK);
	assert_true(c.null_path);
	assert_int_equal(smtp_cmd_parse(span_cstr("RCPT TO:<\xc3\xa9@x>"), &c,
	    &e), PARSE_OK);
	assert_true(c.path_8bit);
	assert_int_equal(smtp_cmd_parse(span_cstr("AUTH PLAIN AGEAYg=="), &c,
	    &e), PARSE_OK);
	assert_true(c.has_initial);
	assert_true(span_eq(c.initial, "AGEAYg=="));
	assert_int_equal(smtp_cmd_parse(span_cstr("AUTH PLAIN ="), &c, &e),
	    PARSE_OK);
	assert_true(span_eq(c.initial, "="));
	assert_int_equal(smtp_cmd_parse(span_cstr("BDAT 1048576 last"), &c,
	    &e), PARSE_OK);
	assert_int_equal(c.chunk_size, 1048576);
	assert_true(c.last);
	assert_int_equal(smtp_cmd_parse(span_cstr("BDAT 18446744073709551609"),
	    &c, &e), PARSE_OK);
	assert_int_equal(smtp_cmd_parse(span_cstr("MAIL FROM:<a@b> size=5"),
	    &c, &e), PARSE_OK);
	assert_non_null(smtp_param_find(&c, "SIZE"));
	assert_null(smtp_param_find(&c, "BODY"));
}

static void
test_param_limit(void **state)
{
	char line[512];
	size_t i, o;
	struct smtp_cmd c;
	struct smtp_err e;

	o = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<a@b>");
	for (i = 0; i < SMTP_MAX_PARAMS; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, " P%zu=1", i);
	assert_int_equal(smtp_cmd_parse(span_cstr(line), &c, &e), PARSE_OK);
	assert_int_equal(c.n_params, SMTP_MAX_PARAMS);
	snprintf(line + o, sizeof(line) - o, " X");
	assert_int_equal(smtp_cmd_parse(span_cstr(line), &c, &e), PARSE_ERR);
	assert_string_equal(e.text, "Too many parameters");
}

static void
test_helpers(void **state)
{
	uint64_t v = 0;

	assert_int_equal(smtp_param_u64(span_cstr("0"), &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(smtp_param_u64(span_cstr("9999999999999999999"), &v),
	    0);
	assert_int_equal(v, 9999999999999999999ULL);
	assert_int_equal(smtp_param_u64(span_cstr("10000000000000000000"),
	    &v), -1);
	assert_int_equal(smtp_param_u64(span_cstr(""), &v), -1);
	assert_int_equal(smtp_param_u64(span_cstr("1x"), &v), -1);
	assert_null(smtp_line_error(1, 0));
	assert_string_equal(smtp_line_error(0, 0),
	    "Bare CR or LF in command: lines end with CRLF");
	assert_string_equal(smtp_line_error(1, LINEBUF_F_BARE_CR),
	    "Bare CR or LF in command: lines end with CRLF");
	assert_string_equal(smtp_line_error(1, LINEBUF_F_NUL),
	    "NUL byte in command");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_param_limit),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
