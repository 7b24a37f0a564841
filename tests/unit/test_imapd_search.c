/* Unit tests for imapd/imap_search: every key, groups, RETURN, CHARSET, dates, and every error. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_parse.h"
#include "imapd/imap_search.h"

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

/* Prefix rendering: AND(...) OR(a,b) NOT(a) KEY[:args]. */
static size_t
render(const struct imap_snode *n, size_t i)
{
	const struct imap_snode *x = &n[i];
	size_t k, j = i + 1;

	emit("%s", imap_skey_name(x->key));
	if (x->key == IMAP_SK_AND || x->key == IMAP_SK_OR ||
	    x->key == IMAP_SK_NOT) {
		emit("(");
		for (k = 0; k < x->n_kids; k++) {
			if (k)
				emit(",");
			j = render(n, j);
		}
		emit(")");
		assert_int_equal(j, i + 1 + x->skip);
		return j;
	}
	if (x->field.n)
		emit(":%.*s", (int)x->field.n, (const char *)x->field.p);
	if (x->str.p != NULL)
		emit(":%.*s", (int)x->str.n, (const char *)x->str.p);
	if (x->date.year)
		emit(":%04d-%02d-%02d", x->date.year, x->date.month,
		    x->date.day);
	if (x->key == IMAP_SK_LARGER || x->key == IMAP_SK_SMALLER ||
	    x->key == IMAP_SK_OLDER || x->key == IMAP_SK_YOUNGER ||
	    x->key == IMAP_SK_MODSEQ)
		emit(":%llu", (unsigned long long)x->num);
	if (x->entry_type)
		emit(":t%d", (int)x->entry_type);
	return j;
}

/* Parse "t SEARCH <args>\r\n" and render the result. */
static const char *
run(const char *args, size_t cap)
{
	static uint8_t mem[8192];
	static struct imap_arg av[256];
	static struct imap_snode nodes[64];
	static char line[1024];
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_search s;
	struct imap_search_err serr;
	size_t used, n;
	enum parse_rc rc;

	imap_parse_limits_default(&lim);
	lim.max_line = 2048;
	lim.max_inline_total = 2048;
	lim.max_inline = 100;
	lim.max_args = 256;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, sizeof(mem), av), 0);
	n = (size_t)snprintf(line, sizeof(line), "t SEARCH%s%s\r\n",
	    *args ? " " : "", args);
	rc = imap_parse_feed(&ps, span_make(line, n), &used, &cmd, &err);
	while (rc == PARSE_MORE && imap_parse_need_cont(&ps, NULL)) {
		size_t off = used;

		rc = imap_parse_feed(&ps, span_make(line + off, n - off), &used,
		    &cmd, &err);
		used += off;
	}
	if (rc != PARSE_OK)
		fail_msg("\"%s\": command: %s", args, err.text);
	tlen = 0;
	text[0] = 0;
	if (imap_search_parse(cmd.args, nodes, cap, &s, &serr) != 0) {
		emit("%s%s%s%s", serr.no ? "NO " : "BAD ",
		    serr.resp_code ? "[" : "",
		    serr.resp_code ? serr.resp_code : "",
		    serr.resp_code ? "] " : "");
		emit("%s", serr.text);
		return text;
	}
	if (s.esearch)
		emit("RET%s%s%s%s%s ", s.ret & IMAP_SRET_MIN ? "-MIN" : "",
		    s.ret & IMAP_SRET_MAX ? "-MAX" : "",
		    s.ret & IMAP_SRET_ALL ? "-ALL" : "",
		    s.ret & IMAP_SRET_COUNT ? "-COUNT" : "",
		    s.ret & IMAP_SRET_SAVE ? "-SAVE" : "");
	if (s.charset)
		emit("CS%d ", (int)s.charset);
	if (s.uses_saved)
		emit("$ ");
	if (s.uses_modseq)
		emit("M ");
	assert_int_equal(render(s.nodes, 0), s.n);
	return text;
}

static const struct {
	const char *args;
	const char *want;
} cases[] = {
	{ "ALL", "AND(ALL)" },
	{ "answered deleted draft flagged new old recent seen",
	    "AND(ANSWERED,DELETED,DRAFT,FLAGGED,NEW,OLD,RECENT,SEEN)" },
	{ "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN SAVEDATESUPPORTED",
	    "AND(UNANSWERED,UNDELETED,UNDRAFT,UNFLAGGED,UNSEEN,"
	    "SAVEDATESUPPORTED)" },
	{ "BCC a CC \"b c\" FROM {3}\r\nd e SUBJECT NIL TEXT t TO u BODY v",
	    "AND(BCC:a,CC:b c,FROM:d e,SUBJECT:NIL,TEXT:t,TO:u,BODY:v)" },
	{ "HEADER Message-ID \"<x@y>\"", "AND(HEADER:Message-ID:<x@y>)" },
	{ "HEADER X \"\"", "AND(HEADER:X:)" },
	{ "KEYWORD $Forwarded UNKEYWORD Junk",
	    "AND(KEYWORD:$Forwarded,UNKEYWORD:Junk)" },
	{ "BEFORE 1-Feb-1994 ON \"01-feb-1994\" SINCE 29-Feb-2000",
	    "AND(BEFORE:1994-02-01,ON:1994-02-01,SINCE:2000-02-29)" },
	{ "SENTBEFORE 1-Jan-2020 SENTON 31-Dec-2020 SENTSINCE 2-Mar-2021",
	    "AND(SENTBEFORE:2020-01-01,SENTON:2020-12-31,"
	    "SENTSINCE:2021-03-02)" },
	{ "SAVEDBEFORE 1-Jan-2020 SAVEDON 1-Jan-2020 SAVEDSINCE 1-Jan-2020",
	    "AND(SAVEDBEFORE:2020-01-01,SAVEDON:2020-01-01,"
	    "SAVEDSINCE:2020-01-01)" },
	{ "LARGER 0 SMALLER 9223372036854775807",
	    "AND(LARGER:0,SMALLER:9223372036854775807)" },
	{ "OLDER 3600 YOUNGER 4294967295",
	    "AND(OLDER:3600,YOUNGER:4294967295)" },
	{ "MODSEQ 0", "M AND(MODSEQ:0)" },
	{ "MODSEQ \"/flags/\\\\Draft\" all 620162338",
	    "M AND(MODSEQ:/flags/\\Draft:620162338:t3)" },
	{ "MODSEQ \"/flags/$Junk\" priv 1", "M AND(MODSEQ:/flags/$Junk:1:t1)" },
	{ "MODSEQ \"/flags/x\" SHARED 1", "M AND(MODSEQ:/flags/x:1:t2)" },
	{ "UID 1:*,5 2,4:7 * $", "$ AND(UID:1:*,5,SEQSET:2,4:7,SEQSET:*,"
	    "SEQSET:$)" },
	{ "UID $", "$ AND(UID:$)" },
	{ "EMAILID M6d99ac3275bb4e THREADID T-1_a",
	    "AND(EMAILID:M6d99ac3275bb4e,THREADID:T-1_a)" },
	{ "NOT SEEN", "AND(NOT(SEEN))" },
	{ "NOT NOT SEEN", "AND(NOT(NOT(SEEN)))" },
	{ "OR SEEN FLAGGED", "AND(OR(SEEN,FLAGGED))" },
	{ "OR (SEEN FROM x) NOT OR 1 2 DRAFT",
	    "AND(OR(AND(SEEN,FROM:x),NOT(OR(SEQSET:1,SEQSET:2))),DRAFT)" },
	{ "((SEEN))", "AND(AND(AND(SEEN)))" },
	{ "CHARSET UTF-8 TEXT x", "CS1 AND(TEXT:x)" },
	{ "charset \"us-ascii\" ALL", "CS2 AND(ALL)" },
	{ "RETURN () ALL", "RET-ALL AND(ALL)" },
	{ "RETURN (MIN MAX COUNT) ALL", "RET-MIN-MAX-COUNT AND(ALL)" },
	{ "RETURN (save all) CHARSET UTF-8 SEEN",
	    "RET-ALL-SAVE CS1 AND(SEEN)" },
	/* Errors. */
	{ "", "BAD Missing search key" },
	{ "RETURN ()", "BAD Missing search key" },
	{ "CHARSET UTF-8", "BAD Missing search key" },
	{ "CHARSET", "BAD CHARSET needs a name" },
	{ "CHARSET (x) ALL", "BAD Expected a string" },
	{ "CHARSET ISO-8859-1 ALL",
	    "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset" },
	{ "RETURN", "BAD RETURN needs a list" },
	{ "RETURN ALL", "BAD RETURN needs a list" },
	{ "RETURN (PARTIAL) ALL", "BAD Unknown RETURN option" },
	{ "RETURN ((MIN)) ALL", "BAD Unknown RETURN option" },
	{ "BOGUS", "BAD Unknown search key" },
	{ "\"ALL\"", "BAD Invalid search key" },
	{ "FROM", "BAD Missing search key argument" },
	{ "FROM (a)", "BAD Expected a string" },
	{ "FROM \\x", "BAD Expected a string" },
	{ "HEADER X", "BAD HEADER needs a value" },
	{ "HEADER (X) y", "BAD Expected a string" },
	{ "KEYWORD \\Seen", "BAD Invalid keyword" },
	{ "KEYWORD \"x\"", "BAD Invalid keyword" },
	{ "BEFORE 32-Jan-2020", "BAD Invalid date" },
	{ "BEFORE 29-Feb-1900", "BAD Invalid date" },
	{ "BEFORE 0-Feb-1994", "BAD Invalid date" },
	{ "BEFORE 1-Foo-1994", "BAD Invalid date" },
	{ "BEFORE 1-Feb-94", "BAD Invalid date" },
	{ "BEFORE 001-Feb-1994", "BAD Invalid date" },
	{ "BEFORE 1-Feb-19945", "BAD Invalid date" },
	{ "BEFORE 1/Feb/1994", "BAD Invalid date" },
	{ "BEFORE (1-Feb-1994)", "BAD Invalid date" },
	{ "LARGER x", "BAD Invalid number" },
	{ "LARGER -1", "BAD Invalid number" },
	{ "LARGER 9223372036854775808", "BAD Invalid number" },
	{ "LARGER \"1\"", "BAD Invalid number" },
	{ "OLDER 0", "BAD Invalid interval" },
	{ "YOUNGER 4294967296", "BAD Invalid interval" },
	{ "MODSEQ", "BAD Missing search key argument" },
	{ "MODSEQ 01", "BAD Invalid MODSEQ value" },
	{ "MODSEQ x", "BAD Invalid MODSEQ value" },
	{ "MODSEQ \"/flags/\\\\Seen\" 5", "BAD Invalid MODSEQ entry type" },
	{ "MODSEQ \"/flags/\\\\Seen\"", "BAD MODSEQ needs an entry type" },
	{ "MODSEQ \"/flags/\\\\Seen\" all", "BAD MODSEQ needs a value" },
	{ "MODSEQ \"/flags/\" all 1", "BAD Invalid MODSEQ entry name" },
	{ "MODSEQ \"/flags/\\\\\" all 1", "BAD Invalid MODSEQ entry name" },
	{ "MODSEQ \"/x/y\" all 1", "BAD Invalid MODSEQ entry name" },
	{ "MODSEQ \"/flags/a b\" all 1", "BAD Invalid MODSEQ entry name" },
	{ "UID x", "BAD Invalid sequence set" },
	{ "UID (1)", "BAD Invalid sequence set" },
	{ "1:", "BAD Invalid sequence set" },
	{ "$,1", "BAD Invalid sequence set" },
	{ "EMAILID a.b", "BAD Invalid object id" },
	{ "THREADID \"x\"", "BAD Invalid object id" },
	{ "NOT", "BAD Missing search key" },
	{ "OR SEEN", "BAD Missing search key" },
	{ "()", "BAD Empty search key list" },
	{ "(SEEN BOGUS)", "BAD Unknown search key" },
	{ "NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
	    "NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT SEEN",
	    "AND(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT("
	    "NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT(NOT("
	    "NOT(NOT(SEEN))))))))))))))))))))))))))))))))" },
	{ "NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
	    "NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
	    "SEEN", "BAD Search program nested too deep" },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = run(cases[i].args, 64);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("\"%s\"\n got: %s\nwant: %s", cases[i].args,
			    got, cases[i].want);
	}
}

static void
test_node_cap(void **state)
{
	(void)state;
	/* Root plus three keys: exactly four nodes, then five. */
	assert_string_equal(run("SEEN DRAFT FLAGGED", 4),
	    "AND(SEEN,DRAFT,FLAGGED)");
	assert_string_equal(run("SEEN DRAFT FLAGGED NEW", 4),
	    "BAD Search program too complex");
	assert_string_equal(run("ALL", 0), "BAD Search program too complex");
}

static void
test_streamed_string(void **state)
{
	static uint8_t mem[8192];
	static struct imap_arg av[16];
	static struct imap_snode nodes[8];
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_search s;
	struct imap_search_err serr;
	size_t used;
	const char *in = "t SEARCH TEXT {20+}\r\n01234567890123456789\r\n";

	(void)state;
	imap_parse_limits_default(&lim);
	lim.max_line = 1024;
	lim.max_inline = 10;
	lim.max_inline_total = 1024;
	lim.max_args = 16;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, sizeof(mem), av), 0);
	/* No sink: the reader refuses a literal this big... */
	imap_parse_set_sink(&ps, NULL, NULL);
	assert_int_equal(imap_parse_feed(&ps, span_cstr(in), &used, &cmd,
	    &err), PARSE_ERR);
	assert_int_equal(err.code, IMAP_ERR_LITERAL_TOO_BIG);
	/* ...and SEARCH refuses one that was streamed. */
	av[0].type = IMAP_ARG_ATOM;
	av[0].s = span_cstr("TEXT");
	av[0].skip = 0;
	av[1].type = IMAP_ARG_LITERAL;
	av[1].flags = IMAP_ARG_F_STREAMED;
	av[1].s = span_make("", 0);
	av[1].skip = 0;
	cmd.args.a = av;
	cmd.args.n = 2;
	assert_int_equal(imap_search_parse(cmd.args, nodes, 8, &s, &serr), -1);
	assert_string_equal(serr.text, "Search string too long");
}

static void
test_dates(void **state)
{
	struct imap_date d;
	struct imap_date_time t;

	(void)state;
	assert_int_equal(imap_date_parse(span_cstr("1-Feb-1994"), &d), 0);
	assert_int_equal(d.year, 1994);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 1);
	assert_int_equal(imap_date_parse(span_cstr("31-DEC-1999"), &d), 0);
	assert_int_equal(imap_date_parse(span_cstr("29-Feb-2024"), &d), 0);
	assert_int_equal(imap_date_parse(span_cstr("29-Feb-2023"), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr("31-Apr-2023"), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr(""), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr("1"), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr("1-Feb-199x"), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr("1-Feb-1994 "), &d), -1);
	assert_int_equal(imap_date_parse(span_cstr(" 1-Feb-1994"), &d), -1);
	d.year = 1970;
	d.month = 1;
	d.day = 1;
	assert_int_equal(imap_date_days(&d), 0);
	d.year = 2000;
	d.month = 3;
	d.day = 1;
	assert_int_equal(imap_date_days(&d), 11017);
	d.year = 1969;
	d.month = 12;
	d.day = 31;
	assert_int_equal(imap_date_days(&d), -1);

	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 02:44:25 -0700"), &t), 0);
	assert_int_equal(t.d.day, 17);
	assert_int_equal(t.d.month, 7);
	assert_int_equal(t.hour, 2);
	assert_int_equal(t.min, 44);
	assert_int_equal(t.sec, 25);
	assert_int_equal(t.zone_min, -420);
	assert_int_equal(imap_date_time_parse(
	    span_cstr(" 7-Jul-1996 23:59:60 +0130"), &t), 0);
	assert_int_equal(t.d.day, 7);
	assert_int_equal(t.zone_min, 90);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("07-Jul-1996 00:00:00 +0000"), &t), 0);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("7-Jul-1996 00:00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 24:00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 00:60:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 00:00:61 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 00:00:00 +0060"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 00:00:00 0000 "), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996T00:00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("17-Jul-1996 00-00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("x7-Jul-1996 00:00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr(" x-Jul-1996 00:00:00 +0000"), &t), -1);
	assert_int_equal(imap_date_time_parse(
	    span_cstr("31-Jun-1996 00:00:00 +0000"), &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_node_cap),
		cmocka_unit_test(test_streamed_string),
		cmocka_unit_test(test_dates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
