/* Unit tests for imapd/imap_fetchatt: macros, every attribute, sections, partials, modifiers, errors. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_fetchatt.h"
#include "imapd/imap_parse.h"

static char text[2048];
static size_t tlen;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tlen += (size_t)vsnprintf(text + tlen, sizeof(text) - tlen, fmt, ap);
	va_end(ap);
	assert_true(tlen < sizeof(text));
}

static const char *const sects[] = { "", "HEADER", "HEADER.FIELDS",
	"HEADER.FIELDS.NOT", "TEXT", "MIME" };

/* "t [UID ]FETCH 1 <args>": render the items. */
static const char *
run(const char *args, int uid, size_t cap)
{
	static uint8_t mem[8192];
	static struct imap_arg av[128];
	static struct imap_fetch_item items[32];
	static char line[1024];
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_fetch f;
	struct imap_args rest;
	const char *why = NULL;
	size_t used, n, i, k;
	enum parse_rc rc;

	imap_parse_limits_default(&lim);
	lim.max_line = 2048;
	lim.max_inline_total = 2048;
	lim.max_inline = 100;
	lim.max_args = 128;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, sizeof(mem), av), 0);
	n = (size_t)snprintf(line, sizeof(line), "t %sFETCH 1 %s\r\n",
	    uid ? "UID " : "", args);
	rc = imap_parse_feed(&ps, span_make(line, n), &used, &cmd, &err);
	while (rc == PARSE_MORE && imap_parse_need_cont(&ps, NULL)) {
		size_t off = used;

		rc = imap_parse_feed(&ps, span_make(line + off, n - off), &used,
		    &cmd, &err);
		used += off;
	}
	if (rc != PARSE_OK)
		fail_msg("\"%s\": command rc %d", args, (int)rc);
	rest = imap_args_rest(cmd.args, imap_args_at(cmd.args, uid ? 2 : 1));
	tlen = 0;
	text[0] = 0;
	if (imap_fetch_parse(rest, uid, items, cap, &f, &why) != 0) {
		emit("BAD %s", why);
		return text;
	}
	for (i = 0; i < f.n; i++) {
		const struct imap_fetch_item *it = &f.items[i];

		emit("%s%s", i ? " " : "", imap_fatt_name(it->att));
		if (it->peek)
			emit(".PEEK");
		if (it->att == IMAP_FA_BODY_SECTION ||
		    it->att == IMAP_FA_BINARY || it->att == IMAP_FA_BINARY_SIZE) {
			emit("{");
			for (k = 0; k < it->n_part; k++)
				emit("%s%u", k ? "." : "", it->part[k]);
			emit("|%s", sects[it->sect]);
			if (it->fields.n) {
				const struct imap_arg *a;
				struct span s;

				for (a = imap_args_at(it->fields, 0); a != NULL;
				    a = imap_args_next(it->fields, a)) {
					assert_int_equal(imap_arg_astring(a,
					    &s), 0);
					emit(" %.*s", (int)s.n,
					    (const char *)s.p);
				}
			}
			emit("}");
		}
		if (it->partial)
			emit("<%llu.%llu>", (unsigned long long)it->offset,
			    (unsigned long long)it->length);
	}
	if (f.changedsince)
		emit(" CS=%llu", (unsigned long long)f.changedsince_modseq);
	if (f.vanished)
		emit(" VANISHED");
	return text;
}

static const struct {
	const char *args;
	int uid;
	const char *want;
} cases[] = {
	{ "FAST", 0, "FLAGS INTERNALDATE RFC822.SIZE" },
	{ "all", 0, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE" },
	{ "FULL", 0, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY" },
	{ "FLAGS", 0, "FLAGS" },
	{ "FLAGS", 1, "FLAGS UID" },
	{ "(UID FLAGS)", 1, "UID FLAGS" },
	{ "(ENVELOPE FLAGS INTERNALDATE RFC822.SIZE BODY BODYSTRUCTURE UID)",
	    0, "ENVELOPE FLAGS INTERNALDATE RFC822.SIZE BODY BODYSTRUCTURE "
	    "UID" },
	{ "(RFC822 RFC822.HEADER RFC822.TEXT MODSEQ SAVEDATE EMAILID "
	    "THREADID)", 0, "RFC822 RFC822.HEADER RFC822.TEXT MODSEQ "
	    "SAVEDATE EMAILID THREADID" },
	{ "BODY[]", 0, "BODY[]{|}" },
	{ "body.peek[]<0.100>", 0, "BODY[].PEEK{|}<0.100>" },
	{ "BODY[HEADER]", 0, "BODY[]{|HEADER}" },
	{ "BODY[TEXT]<5.1>", 0, "BODY[]{|TEXT}<5.1>" },
	{ "BODY[1]", 0, "BODY[]{1|}" },
	{ "BODY[1.2.3]", 0, "BODY[]{1.2.3|}" },
	{ "BODY[1.2.MIME]", 0, "BODY[]{1.2|MIME}" },
	{ "BODY[4.2.HEADER]", 0, "BODY[]{4.2|HEADER}" },
	{ "BODY[3.TEXT]", 0, "BODY[]{3|TEXT}" },
	{ "BODY[HEADER.FIELDS (From To)]", 0,
	    "BODY[]{|HEADER.FIELDS From To}" },
	{ "(BODY.PEEK[HEADER.FIELDS.NOT (\"X-A\" {3}\r\nX-B)]<0.10> UID)", 0,
	    "BODY[].PEEK{|HEADER.FIELDS.NOT X-A X-B}<0.10> UID" },
	{ "(BODY[2.HEADER.FIELDS (Subject)] FLAGS)", 0,
	    "BODY[]{2|HEADER.FIELDS Subject} FLAGS" },
	{ "BINARY[]", 0, "BINARY[]{|}" },
	{ "BINARY.PEEK[1.2]<0.5>", 0, "BINARY[].PEEK{1.2|}<0.5>" },
	{ "BINARY.SIZE[1]", 0, "BINARY.SIZE[]{1|}" },
	{ "FLAGS (CHANGEDSINCE 12345)", 0, "FLAGS CS=12345" },
	{ "FLAGS (CHANGEDSINCE 1 VANISHED)", 1, "FLAGS UID CS=1 VANISHED" },
	{ "(FLAGS) (VANISHED CHANGEDSINCE 9)", 1,
	    "FLAGS UID CS=9 VANISHED" },
	/* Errors. */
	{ "()", 0, "BAD Empty FETCH attribute list" },
	{ "BOGUS", 0, "BAD Invalid FETCH attribute" },
	{ "(FLAGS BOGUS)", 0, "BAD Invalid FETCH attribute" },
	{ "(FLAGS ALL)", 0, "BAD Invalid FETCH attribute" },
	{ "\"FLAGS\"", 0, "BAD Invalid FETCH attribute" },
	{ "((FLAGS))", 0, "BAD Invalid FETCH attribute" },
	{ "BODY[", 0, "BAD Invalid section" },
	{ "BODY[0]", 0, "BAD Invalid section" },
	{ "BODY[01]", 0, "BAD Invalid section" },
	{ "BODY[1.]", 0, "BAD Invalid section" },
	{ "BODY[1..2]", 0, "BAD Invalid section" },
	{ "BODY[4294967296]", 0, "BAD Invalid section" },
	{ "BODY[MIME]", 0, "BAD Invalid section" },
	{ "BODY[HEADERS]", 0, "BAD Invalid section" },
	{ "BODY[TEXT.1]", 0, "BAD Invalid section" },
	{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16]", 0,
	    "BODY[]{1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16|}" },
	{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17]", 0,
	    "BAD Section nested too deep" },
	{ "BODY[]x", 0, "BAD Invalid partial" },
	{ "BODY[]<0>", 0, "BAD Invalid partial" },
	{ "BODY[]<0.0>", 0, "BAD Invalid partial" },
	{ "BODY[]<00.1>", 0, "BAD Invalid partial" },
	{ "BODY[]<1.2>x", 0, "BAD Invalid partial" },
	{ "BODY[]<9223372036854775808.1>", 0, "BAD Invalid partial" },
	{ "BINARY.SIZE[]<0.1>", 0, "BAD Invalid partial" },
	{ "BINARY[HEADER]", 0, "BAD Invalid section" },
	{ "BODY[HEADER.FIELDS]", 0, "BAD Invalid section" },
	{ "BODY[HEADER.FIELDS", 0, "BAD HEADER.FIELDS needs a list of names" },
	{ "BODY[HEADER.FIELDS ()]", 0,
	    "BAD HEADER.FIELDS needs a list of names" },
	{ "BODY[HEADER.FIELDS ((A))]", 0, "BAD Invalid header field name" },
	{ "BODY[HEADER.FIELDS (\"\")]", 0, "BAD Invalid header field name" },
	{ "BODY[HEADER.FIELDS (A) ]", 0, "BAD Invalid section" },
	{ "BODY[HEADER.FIELDS (A)", 0, "BAD Invalid section" },
	{ "BODY[HEADER.FIELDS (A)]<1.>", 0, "BAD Invalid partial" },
	{ "FLAGS CHANGEDSINCE", 0, "BAD Invalid FETCH modifiers" },
	{ "FLAGS ()", 0, "BAD Invalid FETCH modifiers" },
	{ "FLAGS (CHANGEDSINCE)", 0, "BAD CHANGEDSINCE needs a value" },
	{ "FLAGS (CHANGEDSINCE 0)", 0, "BAD Invalid CHANGEDSINCE value" },
	{ "FLAGS (CHANGEDSINCE x1)", 0, "BAD Invalid CHANGEDSINCE value" },
	{ "FLAGS (CHANGEDSINCE 1x)", 0, "BAD Invalid CHANGEDSINCE value" },
	{ "FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", 0,
	    "BAD Invalid FETCH modifier" },
	{ "FLAGS (FOO)", 0, "BAD Invalid FETCH modifier" },
	{ "FLAGS (VANISHED VANISHED)", 1, "BAD Invalid FETCH modifier" },
	{ "FLAGS (CHANGEDSINCE 1 VANISHED)", 0,
	    "BAD VANISHED needs UID FETCH and CHANGEDSINCE" },
	{ "FLAGS (VANISHED)", 1,
	    "BAD VANISHED needs UID FETCH and CHANGEDSINCE" },
	{ "FLAGS (CHANGEDSINCE 1) x", 0,
	    "BAD Unexpected argument after FETCH modifiers" },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = run(cases[i].args, cases[i].uid, 32);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\"\n got: %s\nwant: %s", cases[i].args,
			    got, cases[i].want);
	}
}

static void
test_missing_and_cap(void **state)
{
	struct imap_fetch f;
	struct imap_fetch_item items[4];
	struct imap_args none = { NULL, 0 };
	const char *why;

	(void)state;
	assert_int_equal(imap_fetch_parse(none, 0, items, 4, &f, &why), -1);
	assert_string_equal(why, "Missing FETCH attributes");
	/* Four slots: ALL fits, FULL does not; UID FETCH ALL needs five. */
	assert_string_equal(run("ALL", 0, 4),
	    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	assert_string_equal(run("FULL", 0, 4), "BAD Too many FETCH attributes");
	assert_string_equal(run("ALL", 1, 4), "BAD Too many FETCH attributes");
	assert_string_equal(run("(FLAGS UID FLAGS UID FLAGS)", 0, 4),
	    "BAD Too many FETCH attributes");
	assert_string_equal(run("BODY[]", 0, 0),
	    "BAD Too many FETCH attributes");
	assert_string_equal(imap_fatt_name(IMAP_FA_MAX), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_missing_and_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
