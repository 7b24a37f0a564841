/* Unit tests for imapd/imap_parse: tokens, literals, limits, errors, and chunking independence. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_parse.h"

/* What a run produced, rendered as text: one line per result. */
struct out {
	char text[8192];
	size_t len;
	char sink[8192];	/* sink events and data */
	size_t sink_len;
	int refuse_begin;	/* sink refuses BEGIN */
	int fail_data;		/* sink fails on DATA */
	int last_data;		/* the last event was DATA */
};

static void emit(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
emit(struct out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	o->len += (size_t)vsnprintf(o->text + o->len, sizeof(o->text) - o->len,
	    fmt, ap);
	va_end(ap);
	assert_true(o->len < sizeof(o->text));
}

static void
emit_span(struct out *o, struct span s)
{
	assert_true(o->len + s.n < sizeof(o->text));
	memcpy(o->text + o->len, s.p, s.n);
	o->len += s.n;
	o->text[o->len] = 0;
}

static void
render(struct out *o, struct imap_args s)
{
	const struct imap_arg *a;

	for (a = imap_args_at(s, 0); a != NULL; a = imap_args_next(s, a)) {
		if (a != s.a && !(a->type == IMAP_ARG_ATOM && a->s.n > 0 &&
		    a->s.p[0] == ']'))
			emit(o, " ");
		switch (a->type) {
		case IMAP_ARG_ATOM:
			emit_span(o, a->s);
			break;
		case IMAP_ARG_NIL:
			emit(o, "<NIL>");
			break;
		case IMAP_ARG_QUOTED:
			emit(o, "\"");
			emit_span(o, a->s);
			emit(o, "\"");
			break;
		case IMAP_ARG_LITERAL:
			emit(o, "%s{%llu%s}", a->flags & IMAP_ARG_F_LITERAL8 ?
			    "~" : "", (unsigned long long)a->size,
			    a->flags & IMAP_ARG_F_NONSYNC ? "+" : "");
			if (a->flags & IMAP_ARG_F_STREAMED)
				emit(o, "<sink%u>", a->lit_index);
			else
				emit_span(o, a->s);
			break;
		case IMAP_ARG_LIST:
			emit(o, "(");
			render(o, imap_arg_items(a));
			emit(o, ")");
			break;
		}
	}
}

static int
sink(void *ctx, enum imap_sink_ev ev, const struct imap_lit_info *li,
    struct span data)
{
	struct out *o = ctx;
	static const char *const names[] = { "B", "D", "E", "A" };
	int n;

	if (ev == IMAP_SINK_DATA && o->last_data) {
		/* Join consecutive DATA pieces so chunking does not show. */
		o->sink_len--;
		memcpy(o->sink + o->sink_len, data.p, data.n);
		o->sink_len += data.n;
		o->sink[o->sink_len++] = ']';
		assert_true(o->sink_len < sizeof(o->sink) - 64);
		return o->fail_data ? -1 : 0;
	}
	o->last_data = ev == IMAP_SINK_DATA;
	if (ev == IMAP_SINK_DATA && o->fail_data)
		data.n = 0;	/* how much arrived depends on chunking */
	n = snprintf(o->sink + o->sink_len, sizeof(o->sink) - o->sink_len,
	    "%s%u:%llu[", names[ev], li->index, (unsigned long long)li->size);
	o->sink_len += (size_t)n;
	memcpy(o->sink + o->sink_len, data.p, data.n);
	o->sink_len += data.n;
	o->sink[o->sink_len++] = ']';
	assert_true(o->sink_len < sizeof(o->sink) - 64);
	if (ev == IMAP_SINK_BEGIN && o->refuse_begin)
		return -1;
	if (ev == IMAP_SINK_DATA && o->fail_data)
		return -1;
	return 0;
}

static void
small_limits(struct imap_parse_limits *lim)
{
	imap_parse_limits_default(lim);
	lim->max_line = 64;
	lim->max_inline = 16;
	lim->max_inline_total = 40;
	lim->max_literal = 1000;
	lim->max_depth = 3;
	lim->max_args = 12;
}

static const char *const err_names[] = {
	"NONE", "EMPTY", "TAG", "COMMAND", "SYNTAX", "8BIT", "NUL",
	"BARE_LF", "BARE_CR", "LINE_TOO_LONG", "DEPTH", "TOO_MANY_ARGS",
	"LITERAL_TOO_BIG", "NONSYNC", "SINK",
};

/*
 * Feed in in pieces: cut[] lists offsets where a piece ends (NULL: step
 * bytes at a time, step 0: all at once).  Continuation requests are
 * answered at once and rendered as "+".
 */
static void
run_split(const struct imap_parse_limits *lim, const char *in, size_t n,
    size_t step, size_t cut, struct out *o, int use_sink)
{
	static uint8_t mem[4096];
	static struct imap_arg args[64];
	struct imap_parser ps;
	size_t off = 0, end;

	o->len = o->sink_len = 0;
	o->last_data = 0;
	o->text[0] = 0;
	assert_int_equal(imap_parse_init(&ps, lim, mem, sizeof(mem), args), 0);
	if (use_sink)
		imap_parse_set_sink(&ps, sink, o);
	end = cut ? cut : (step ? step : n);
	while (off < n) {
		struct imap_cmd cmd;
		struct imap_err err;
		size_t used = 0, len;
		enum parse_rc rc;

		if (end > n)
			end = n;
		len = end - off;
		rc = imap_parse_feed(&ps, span_make(in + off, len), &used, &cmd,
		    &err);
		assert_true(used <= len);
		off += used;
		if (rc == PARSE_OK) {
			emit_span(o, cmd.tag);
			emit(o, "|");
			emit_span(o, cmd.name);
			emit(o, "|");
			render(o, cmd.args);
			emit(o, "\n");
		} else if (rc == PARSE_ERR || rc == PARSE_FATAL) {
			emit(o, "%s %s ", rc == PARSE_FATAL ? "FATAL" : "ERR",
			    err_names[err.code]);
			if (err.has_tag)
				emit_span(o, err.tag);
			else
				emit(o, "*");
			emit(o, " %s%s%s%s\n", err.resp_code ? "[" : "",
			    err.resp_code ? err.resp_code : "",
			    err.resp_code ? "] " : "", err.text);
			if (rc == PARSE_FATAL)
				return;
		} else {
			if (imap_parse_need_cont(&ps, NULL))
				emit(o, "+\n");
			else
				assert_int_equal(used, len);
		}
		if (off == end)
			end = step ? off + step : n;
	}
	if (!imap_parse_idle(&ps))
		emit(o, "...\n");
}

#define CK(lim, in, want, snk, t) check(lim, in, sizeof(in) - 1, want, snk, t)

static void
check(const struct imap_parse_limits *lim, const char *in, size_t n,
    const char *want, const char *want_sink, struct out *tmpl)
{
	static struct out a, b;
	size_t cut;

	a = *tmpl;
	run_split(lim, in, n, 0, 0, &a, want_sink != NULL);
	if (strcmp(a.text, want) != 0)
		fail_msg("input \"%.*s\"\n got: %s\nwant: %s", (int)n, in,
		    a.text, want);
	if (want_sink != NULL) {
		a.sink[a.sink_len] = 0;
		if (strcmp(a.sink, want_sink) != 0)
			fail_msg("sink for \"%.*s\"\n got: %s\nwant: %s",
			    (int)n, in, a.sink, want_sink);
	}
	b = *tmpl;
	run_split(lim, in, n, 1, 0, &b, want_sink != NULL);
	assert_string_equal(b.text, a.text);
	assert_int_equal(b.sink_len, a.sink_len);
	assert_memory_equal(b.sink, a.sink, a.sink_len);
	for (cut = 1; cut < n; cut++) {
		b = *tmpl;
		run_split(lim, in, n, 0, cut, &b, want_sink != NULL);
		assert_string_equal(b.text, a.text);
		assert_int_equal(b.sink_len, a.sink_len);
		assert_memory_equal(b.sink, a.sink, a.sink_len);
	}
}

struct pcase {
	const char *in;
	const char *want;
};

static const struct pcase basic[] = {
	{ "a NOOP\r\n", "a|NOOP|\n" },
	{ "a1 login bob secret\r\n", "a1|login|bob secret\n" },
	{ "A SELECT \"INBOX\"\r\n", "A|SELECT|\"INBOX\"\n" },
	{ "t LOGIN \"a\\\\b\" \"c\\\"d\"\r\n", "t|LOGIN|\"a\\b\" \"c\"d\"\n" },
	{ "t X \"\"\r\n", "t|X|\"\"\n" },
	{ "t X NIL nil Nil NILS\r\n", "t|X|<NIL> <NIL> <NIL> NILS\n" },
	{ "t STORE 1:*,5 +FLAGS (\\Seen \\Deleted)\r\n",
	    "t|STORE|1:*,5 +FLAGS (\\Seen \\Deleted)\n" },
	{ "t X ()\r\n", "t|X|()\n" },
	{ "t X (() (a (b)))\r\n", "t|X|(() (a (b)))\n" },
	{ "t LIST \"\" %\r\n", "t|LIST|\"\" %\n" },
	{ "t FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)\r\n",
	    "t|FETCH|1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)\n" },
	{ "t FETCH 1 BODY[]\r\n", "t|FETCH|1 BODY[]\n" },
	{ "t] X\r\n", "t]|X|\n" },
	{ "t UID FETCH 1 FLAGS\r\n", "t|UID|FETCH 1 FLAGS\n" },
	{ "a NOOP\r\nb NOOP\r\n", "a|NOOP|\nb|NOOP|\n" },
	/* Literals. */
	{ "a LOGIN {3}\r\nbob {6}\r\nsecret\r\n",
	    "+\n+\na|LOGIN|{3}bob {6}secret\n" },
	{ "a LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n",
	    "a|LOGIN|{3+}bob {6+}secret\n" },
	{ "a X {0}\r\n\r\n", "+\na|X|{0}\n" },
	{ "a X {0+}\r\n {2+}\r\n\r\n\r\n", "a|X|{0+} {2+}\r\n\n" },
	{ "a X ({2}\r\nab)\r\n", "+\na|X|({2}ab)\n" },
	{ "a X ~{3+}\r\nabc ~x\r\n", "a|X|~{3+}abc ~x\n" },
	{ "a X {2}\r\n\xff\xfe\r\n", "+\na|X|{2}\xff\xfe\n" },
	/* Errors, each followed by a good command to show recovery. */
	{ "\r\na NOOP\r\n", "ERR EMPTY * Empty command line\na|NOOP|\n" },
	{ "a\r\nb NOOP\r\n", "ERR TAG * Missing command\nb|NOOP|\n" },
	{ "a \r\n", "ERR COMMAND a Missing command\n" },
	{ "a+ NOOP\r\n", "ERR TAG * Invalid tag\n" },
	{ "* NOOP\r\n", "ERR TAG * Invalid tag\n" },
	{ "a N(OOP\r\n", "ERR COMMAND a Invalid command name\n" },
	{ "a NOOP \r\n", "ERR SYNTAX a Missing argument (extra space?)\n" },
	{ "a X a  b\r\n", "ERR SYNTAX a Missing argument (extra space?)\n" },
	{ "a X (a b\r\n", "ERR SYNTAX a Unbalanced parentheses\n" },
	{ "a X a)\r\n", "ERR SYNTAX a Unexpected \")\"\n" },
	{ "a X ( a)\r\n", "ERR SYNTAX a Missing argument (extra space?)\n" },
	{ "a X (a )\r\n", "ERR SYNTAX a Unexpected \")\"\n" },
	{ "a X (a)b\r\n", "ERR SYNTAX a Missing space between arguments\n" },
	{ "a X \"a\"b\r\n", "ERR SYNTAX a Missing space between arguments\n" },
	{ "a X a\"b\r\n", "ERR SYNTAX a Invalid character in atom\n" },
	{ "a X a(b\r\n", "ERR SYNTAX a Invalid character in atom\n" },
	{ "a X \"ab\r\n", "ERR SYNTAX a Unterminated quoted string\n" },
	{ "a X \"a\\b\"\r\n", "ERR SYNTAX a Invalid escape in quoted string\n" },
	{ "a X caf\xc3\xa9\r\n", "ERR 8BIT a 8-bit character in atom\n" },
	{ "a X \xc3\r\n", "ERR 8BIT a 8-bit character in atom\n" },
	{ "a X \"caf\xc3\xa9\"\r\n",
	    "ERR 8BIT a 8-bit character in quoted string\n" },
	{ "\xc3 X\r\n", "ERR 8BIT * Invalid tag\n" },
	{ "a NOOP\nb NOOP\r\n", "ERR BARE_LF a Line must end with CRLF\n"
	    "b|NOOP|\n" },
	{ "a X b\nc NOOP\r\n", "ERR BARE_LF a Line must end with CRLF\n"
	    "c|NOOP|\n" },
	{ "a X \nc NOOP\r\n", "ERR BARE_LF a Line must end with CRLF\n"
	    "c|NOOP|\n" },
	{ "a X {1}\nc NOOP\r\n", "ERR BARE_LF a Line must end with CRLF\n"
	    "c|NOOP|\n" },
	{ "a X (a)\nc NOOP\r\n", "ERR BARE_LF a Line must end with CRLF\n"
	    "c|NOOP|\n" },
	{ "a NOOP\rb\r\n", "ERR BARE_CR a CR without LF\n" },
	{ "a X {1}\rb\r\n", "ERR BARE_CR a CR without LF\n" },
	{ "a X {1} \r\n", "ERR SYNTAX a A literal must end its line\n" },
	{ "a X {}\r\n", "ERR SYNTAX a Invalid literal\n" },
	{ "a X {+}\r\n", "ERR SYNTAX a Invalid literal\n" },
	{ "a X {1x}\r\n", "ERR SYNTAX a Invalid literal\n" },
	{ "a X {1+x}\r\n", "ERR SYNTAX a Invalid literal\n" },
	{ "a X ~x{1}\r\n", "ERR SYNTAX a Invalid character in atom\n" },
	{ "a X ~\r\n", "a|X|~\n" },
	{ "a X {1}\r\nxy\r\n", "+\nERR SYNTAX a Missing space between "
	    "arguments\n" },
	/* After an error, a {n+} at a line's end is still skipped... */
	{ "a X \x80 {5+}\r\nb X\r\n\r\nc NOOP\r\n",
	    "ERR 8BIT a 8-bit character in atom\nc|NOOP|\n" },
	/* ...and a {n} ends the command (the client waits for "+"). */
	{ "a X \x80 {5}\r\nc NOOP\r\n",
	    "ERR 8BIT a 8-bit character in atom\nc|NOOP|\n" },
	{ "a X \x80 {5}x\r\nc NOOP\r\n",
	    "ERR 8BIT a 8-bit character in atom\nc|NOOP|\n" },
	/* Limits (small_limits): depth 3, 12 args, 64-byte lines. */
	{ "a X (((a)))\r\n", "a|X|(((a)))\n" },
	{ "a X ((((a))))\r\n", "ERR DEPTH a Lists nested too deep\n" },
	{ "a X 1 2 3 4 5 6 7 8 9 10 11 12\r\n",
	    "a|X|1 2 3 4 5 6 7 8 9 10 11 12\n" },
	{ "a X 1 2 3 4 5 6 7 8 9 10 11 12 13\r\n",
	    "ERR TOO_MANY_ARGS a Too many arguments\n" },
	{ "a X (1 2 3 4 5 6 7 8 9 10 11)\r\n",
	    "a|X|(1 2 3 4 5 6 7 8 9 10 11)\n" },
	{ "a X (1 2 3 4 5 6 7 8 9 10 11 12)\r\n",
	    "ERR TOO_MANY_ARGS a Too many arguments\n" },
	{ "a X 1 2 3 4 5 6 7 8 9 10 11 12 {1+}\r\nx\r\nb NOOP\r\n",
	    "ERR TOO_MANY_ARGS a Too many arguments\nb|NOOP|\n" },
	/* Exactly 64 bytes with CRLF, then 65. */
	{ "a X 1234567890123456789012345678901234567890123456789012345678\r\n",
	    "a|X|1234567890123456789012345678901234567890123456789012345678\n" },
	{ "a X 12345678901234567890123456789012345678901234567890123456789"
	    "\r\nb NOOP\r\n", "ERR LINE_TOO_LONG a Command line too long\n"
	    "b|NOOP|\n" },
	/* Literal payloads do not count against the line: 63 bytes
	 * without the payload. */
	{ "a X {16}\r\n1234567890123456 "
	    "12345678901234567890123456789012345678901234567890\r\n",
	    "+\na|X|{16}1234567890123456 "
	    "12345678901234567890123456789012345678901234567890\n" },
	/* Kept literals: 16 each, 40 in all. */
	{ "a X {17}\r\nb NOOP\r\n",
	    "ERR LITERAL_TOO_BIG a [TOOBIG] Literal too big\nb|NOOP|\n" },
	{ "a X {16+}\r\n1234567890123456 {16+}\r\n1234567890123456 {9+}\r\n"
	    "123456789\r\nb NOOP\r\n", "ERR LITERAL_TOO_BIG a [TOOBIG] Too "
	    "much literal data in one command\nb|NOOP|\n" },
	{ "a X {16+}\r\n1234567890123456 {16+}\r\n1234567890123456 {8+}\r\n"
	    "12345678\r\n", "a|X|{16+}1234567890123456 {16+}1234567890123456"
	    " {8+}12345678\n" },
	/* A {n} past max_literal is refused unread; a {n+} closes. */
	{ "a APPEND x {2000000000}\r\nb NOOP\r\n", "ERR LITERAL_TOO_BIG a "
	    "[TOOBIG] Literal too big\nb|NOOP|\n" },
	{ "a X {99999999999999999999999}\r\nb NOOP\r\n", "ERR "
	    "LITERAL_TOO_BIG a [TOOBIG] Literal too big\nb|NOOP|\n" },
	{ "a APPEND x {1001+}\r\nxxx", "FATAL LITERAL_TOO_BIG a [TOOBIG] "
	    "Non-synchronizing literal too big\n" },
	{ "a X \x80 {1001+}\r\nxxx", "FATAL LITERAL_TOO_BIG a [TOOBIG] "
	    "Non-synchronizing literal too big\n" },
};

static void
test_table(void **state)
{
	struct imap_parse_limits lim;
	struct out tmpl;
	size_t i;

	(void)state;
	memset(&tmpl, 0, sizeof(tmpl));
	small_limits(&lim);
	for (i = 0; i < sizeof(basic) / sizeof(basic[0]); i++) {
		size_t n = strlen(basic[i].in);

		check(&lim, basic[i].in, n, basic[i].want, NULL, &tmpl);
	}
}

/* Inputs holding NUL, with explicit lengths. */
static void
test_nul(void **state)
{
	struct imap_parse_limits lim;
	struct out tmpl;
	static const char in1[] = "a X a\0b\r\nb NOOP\r\n";
	static const char in2[] = "a X {1}\r\n\0\r\nb NOOP\r\n";
	static const char in3[] = "a X ~{3}\r\na\0b\r\n";
	static const char in4[] = "a\0 X\r\nb NOOP\r\n";

	(void)state;
	memset(&tmpl, 0, sizeof(tmpl));
	small_limits(&lim);
	check(&lim, in1, sizeof(in1) - 1, "ERR NUL a NUL in command\n"
	    "b|NOOP|\n", NULL, &tmpl);
	check(&lim, in2, sizeof(in2) - 1, "+\nERR NUL a NUL in literal "
	    "(use literal8)\nb|NOOP|\n", NULL, &tmpl);
	check(&lim, in3, sizeof(in3) - 1, "+\na|X|~{3}a", NULL, &tmpl);
	check(&lim, in4, sizeof(in4) - 1, "ERR NUL * Invalid tag\n"
	    "b|NOOP|\n", NULL, &tmpl);
	CK(&lim, "a X \"\0\"\r\n", "ERR NUL a NUL in command\n", NULL,
	    &tmpl);
	CK(&lim, "a X \0\r\n", "ERR NUL a NUL in command\n", NULL, &tmpl);
}

/* UTF-8 in quoted strings once enabled (RFC 9051 QUOTED-CHAR). */
static void
test_utf8(void **state)
{
	struct imap_parse_limits lim;
	struct out tmpl;

	(void)state;
	memset(&tmpl, 0, sizeof(tmpl));
	small_limits(&lim);
	lim.utf8 = 1;
	CK(&lim, "a X \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\r\n",
	    "a|X|\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n", NULL,
	    &tmpl);
	CK(&lim, "a X \"\xc3\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	CK(&lim, "a X \"\xc0\x80\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	CK(&lim, "a X \"\xed\xa0\x80\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	CK(&lim, "a X \"\xe0\x80\x80\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	CK(&lim, "a X \"\xf4\x90\x80\x80\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	CK(&lim, "a X \"\xc3\xa9\xa9\"\r\n",
	    "ERR 8BIT a Invalid UTF-8 in quoted string\n", NULL, &tmpl);
	/* Still no 8-bit atoms. */
	CK(&lim, "a X \xc3\xa9\r\n",
	    "ERR 8BIT a 8-bit character in atom\n", NULL, &tmpl);
}

/* LITERAL+, LITERAL- and neither (RFC 7888). */
static void
test_litmode(void **state)
{
	struct imap_parse_limits lim;
	struct out tmpl;
	static char in[6000];
	size_t n;

	(void)state;
	memset(&tmpl, 0, sizeof(tmpl));
	small_limits(&lim);
	lim.max_literal = 10000;
	lim.litmode = IMAP_LIT_SYNC_ONLY;
	CK(&lim, "a X {3+}\r\nabc\r\nb NOOP\r\n",
	    "ERR NONSYNC a "
	    "Non-synchronizing literals are not supported\nb|NOOP|\n", NULL,
	    &tmpl);
	CK(&lim, "a X {3}\r\nabc\r\n",
	    "+\na|X|{3}abc\n", NULL, &tmpl);

	/* LITERAL-: 4096 is fine (streamed: above max_inline), 4097 is
	 * skipped and refused with TOOBIG. */
	lim.litmode = IMAP_LIT_MINUS;
	n = (size_t)snprintf(in, sizeof(in), "a X {4097+}\r\n");
	memset(in + n, 'x', 4097);
	n += 4097;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nb NOOP\r\n");
	run_split(&lim, in, n, 0, 0, &tmpl, 0);
	assert_string_equal(tmpl.text, "ERR NONSYNC a [TOOBIG] "
	    "Non-synchronizing literal above 4096 octets\nb|NOOP|\n");
	run_split(&lim, in, n, 1, 0, &tmpl, 0);
	assert_string_equal(tmpl.text, "ERR NONSYNC a [TOOBIG] "
	    "Non-synchronizing literal above 4096 octets\nb|NOOP|\n");
	memset(&tmpl, 0, sizeof(tmpl));
	n = (size_t)snprintf(in, sizeof(in), "a X {4096+}\r\n");
	memset(in + n, 'x', 4096);
	n += 4096;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	run_split(&lim, in, n, 0, 0, &tmpl, 1);
	assert_string_equal(tmpl.text, "a|X|{4096+}<sink0>\n");
	assert_int_equal(tmpl.sink_len, strlen("B0:4096[]D0:4096[]E0:4096[]")
	    + 4096);
	lim.litmode = IMAP_LIT_PLUS;
	memset(&tmpl, 0, sizeof(tmpl));
	n = (size_t)snprintf(in, sizeof(in), "a X {5000+}\r\n");
	memset(in + n, 'x', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	run_split(&lim, in, n, 7, 0, &tmpl, 1);
	assert_string_equal(tmpl.text, "a|X|{5000+}<sink0>\n");

	/* LITERAL+ (RFC 7888 4): a {n+} up to max_literal that the sink
	 * refuses (APPENDLIMIT, a command that takes no big literal) is
	 * read, thrown away unkept, and the command refused; the next one
	 * is read.  Past max_literal, {n} is refused unread and {n+}
	 * closes (choice 2: we do not read that much to stay in sync). */
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.refuse_begin = 1;
	n = (size_t)snprintf(in, sizeof(in), "a SEARCH TEXT {5000+}\r\n");
	memset(in + n, 'x', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\nb NOOP\r\n");
	run_split(&lim, in, n, 0, 0, &tmpl, 1);
	assert_string_equal(tmpl.text, "ERR SINK a Literal refused\n"
	    "b|NOOP|\n");
	tmpl.sink[tmpl.sink_len] = 0;
	assert_string_equal(tmpl.sink, "B0:5000[]");
	run_split(&lim, in, n, 3, 0, &tmpl, 1);
	assert_string_equal(tmpl.text, "ERR SINK a Literal refused\n"
	    "b|NOOP|\n");
	tmpl.refuse_begin = 0;
	CK(&lim, "a APPEND x {2147483648}\r\nb NOOP\r\n",
	    "ERR LITERAL_TOO_BIG a [TOOBIG] Literal too big\nb|NOOP|\n",
	    "", &tmpl);
	CK(&lim, "a APPEND x ~{2147483648}\r\nb NOOP\r\n",
	    "ERR LITERAL_TOO_BIG a [TOOBIG] Literal too big\nb|NOOP|\n",
	    "", &tmpl);
	CK(&lim, "a APPEND x {2147483648+}\r\nxxxx", "FATAL "
	    "LITERAL_TOO_BIG a [TOOBIG] Non-synchronizing literal too big\n",
	    "", &tmpl);
	CK(&lim, "a APPEND x {10001+}\r\nxxxx", "FATAL "
	    "LITERAL_TOO_BIG a [TOOBIG] Non-synchronizing literal too big\n",
	    "", &tmpl);
}

/* Literals above max_inline go to the sink. */
static void
test_sink(void **state)
{
	struct imap_parse_limits lim;
	struct out tmpl;

	(void)state;
	memset(&tmpl, 0, sizeof(tmpl));
	small_limits(&lim);
	check(&lim, "a APPEND box (\\Seen) {20}\r\n0123456789abcdefghij\r\n",
	    strlen("a APPEND box (\\Seen) {20}\r\n0123456789abcdefghij\r\n"),
	    "+\na|APPEND|box (\\Seen) {20}<sink0>\n",
	    "B0:20[]D0:20[0123456789abcdefghij]E0:20[]", &tmpl);
	/* MULTIAPPEND: two streamed, one kept. */
	CK(&lim, "a APPEND box {17+}\r\n0123456789abcdefg {2+}\r\nhi "
	    "~{18+}\r\n0123456789abcd\0fgh\r\n",
	    "a|APPEND|box {17+}<sink0> {2+}hi ~{18+}<sink2>\n",
	    "B0:17[]D0:17[0123456789abcdefg]E0:17[]B2:18[]D2:18[0123456789"
	    "abcd\0fgh]E2:18[]", &tmpl);
	/* Literals that would pass max_inline_total (40) are streamed
	 * rather than refused when there is a sink: MULTIAPPEND of many
	 * small messages. */
	CK(&lim, "a APPEND box {16+}\r\n1234567890123456 {16+}\r\n"
	    "1234567890123456 {9+}\r\n123456789 {8}\r\n12345678\r\n",
	    "+\na|APPEND|box {16+}1234567890123456 {16+}1234567890123456 "
	    "{9+}<sink2> {8}12345678\n",
	    "B2:9[]D2:9[123456789]E2:9[]", &tmpl);
	/* A NUL in a streamed literal aborts it. */
	CK(&lim, "a APPEND box {17+}\r\n0123456789\0bcdefg\r\nb NOOP\r\n",
	    "ERR NUL a NUL in literal (use literal8)\nb|NOOP|\n",
	    "B0:17[]D0:17[0123456789]A0:17[]", &tmpl);
	/* Refused at BEGIN: a {n} ends the command, a {n+} is skipped. */
	tmpl.refuse_begin = 1;
	CK(&lim, "a APPEND box {20}\r\nb NOOP\r\n",
	    "ERR SINK a Literal refused\nb|NOOP|\n", "B0:20[]", &tmpl);
	CK(&lim, "a APPEND box {20+}\r\n0123456789abcdefghij\r\nb NOOP\r\n",
	    "ERR SINK a Literal refused\nb|NOOP|\n", "B0:20[]", &tmpl);
	tmpl.refuse_begin = 0;
	/* A failing DATA: the rest is skipped, no more events. */
	tmpl.fail_data = 1;
	CK(&lim, "a APPEND box {20+}\r\n0123456789abcdefghij x\r\nb NOOP\r\n",
	    "ERR SINK a Literal refused\nb|NOOP|\n", "B0:20[]D0:20[]", &tmpl);
	tmpl.fail_data = 0;
	/* No sink: too big. */
	CK(&lim, "a APPEND box {20}\r\nb NOOP\r\n",
	    "ERR LITERAL_TOO_BIG"
	    " a [TOOBIG] Literal too big\nb|NOOP|\n", NULL, &tmpl);
	/* A syntax error after a streamed literal: PARSE_ERR, data kept by
	 * the sink until the caller drops it. */
	CK(&lim, "a APPEND box {17+}\r\n0123456789abcdefg)\r\n",
	    "ERR SYNTAX a Unexpected \")\"\n",
	    "B0:17[]D0:17[0123456789abcdefg]E0:17[]", &tmpl);
}

/* Continuation requests, their info, refusing one, and reset. */
static void
test_cont(void **state)
{
	struct imap_parse_limits lim;
	static uint8_t mem[4096];
	static struct imap_arg args[64];
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_lit_info li;
	struct out o;
	size_t used;
	const char *in = "a APPEND box {20}\r\nb NOOP\r\n";

	(void)state;
	memset(&o, 0, sizeof(o));
	small_limits(&lim);
	assert_int_equal(imap_parse_init(&ps, &lim, mem, sizeof(mem), args), 0);
	imap_parse_set_sink(&ps, sink, &o);
	assert_true(imap_parse_idle(&ps));
	assert_int_equal(imap_parse_feed(&ps, span_cstr(in), &used, &cmd,
	    &err), PARSE_MORE);
	assert_int_equal(used, 19);
	assert_int_equal(imap_parse_need_cont(&ps, &li), 1);
	assert_int_equal(li.size, 20);
	assert_int_equal(li.index, 0);
	assert_false(li.nonsync);
	assert_true(span_eq(li.tag, "a"));
	assert_true(span_eq(li.name, "APPEND"));
	assert_false(imap_parse_idle(&ps));
	/* Refuse (e.g. over quota): reset; the sink hears ABORT. */
	imap_parse_reset(&ps);
	assert_true(imap_parse_idle(&ps));
	assert_int_equal(imap_parse_need_cont(&ps, NULL), 0);
	o.sink[o.sink_len] = 0;
	assert_string_equal(o.sink, "B0:20[]A0:20[]");
	assert_int_equal(imap_parse_feed(&ps, span_cstr(in + used), &used,
	    &cmd, &err), PARSE_OK);
	assert_true(span_eq(cmd.name, "NOOP"));
	assert_int_equal(imap_parse_need_cont(&ps, NULL), 0);

	/* Mode switches between commands. */
	imap_parse_set_litmode(&ps, IMAP_LIT_SYNC_ONLY);
	assert_int_equal(imap_parse_feed(&ps, span_cstr("c X {1+}\r\nx\r\n"),
	    &used, &cmd, &err), PARSE_ERR);
	assert_int_equal(err.code, IMAP_ERR_NONSYNC);
	imap_parse_set_utf8(&ps, 1);
	assert_int_equal(imap_parse_feed(&ps, span_cstr("c X \"\xc3\xa9\"\r\n"),
	    &used, &cmd, &err), PARSE_OK);

	/* Fatal stays fatal. */
	assert_int_equal(imap_parse_feed(&ps, span_cstr("c X {5000+}\r\n"),
	    &used, &cmd, &err), PARSE_FATAL);
	assert_int_equal(imap_parse_feed(&ps, span_cstr("d NOOP\r\n"), &used,
	    &cmd, &err), PARSE_FATAL);
	assert_int_equal(used, 0);
	imap_parse_reset(&ps);
	assert_int_equal(imap_parse_feed(&ps, span_cstr("d NOOP\r\n"), &used,
	    &cmd, &err), PARSE_FATAL);
}

static void
test_init_and_helpers(void **state)
{
	struct imap_parse_limits lim;
	static uint8_t mem[4096];
	static struct imap_arg args[64];
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct span s;
	size_t used;
	const struct imap_arg *a;
	const char *in = "t X a \"q\" NIL (x (y) z) {1+}\r\nL \\F *\r\n";

	(void)state;
	imap_parse_limits_default(&lim);
	assert_int_equal(imap_parse_mem_size(&lim), 128 * 1024);
	small_limits(&lim);
	assert_int_equal(imap_parse_init(&ps, &lim, mem, 10, args), -1);
	assert_int_equal(imap_parse_init(&ps, &lim, NULL, 4096, args), -1);
	lim.max_depth = IMAP_PARSE_DEPTH_MAX + 1;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, 4096, args), -1);
	small_limits(&lim);
	lim.max_line = 15;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, 4096, args), -1);
	small_limits(&lim);
	lim.max_inline = 41;
	assert_int_equal(imap_parse_init(&ps, &lim, mem, 4096, args), -1);
	small_limits(&lim);
	assert_int_equal(imap_parse_init(&ps, &lim, mem, 4096, args), 0);
	assert_int_equal(imap_parse_feed(&ps, span_cstr(in), &used, &cmd,
	    &err), PARSE_OK);
	assert_int_equal(cmd.n_literals, 1);
	assert_int_equal(cmd.n_streamed, 0);
	assert_int_equal(imap_args_count(cmd.args), 7);
	assert_int_equal(cmd.args.n, 11);
	a = imap_args_at(cmd.args, 3);
	assert_int_equal(a->type, IMAP_ARG_LIST);
	assert_int_equal(a->n_items, 3);
	assert_int_equal(imap_args_count(imap_arg_items(a)), 3);
	assert_null(imap_args_at(cmd.args, 7));
	assert_int_equal(imap_args_count(imap_args_rest(cmd.args, a)), 4);
	assert_int_equal(imap_arg_items(imap_args_at(cmd.args, 0)).n, 0);
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 0), &s), 0);
	assert_true(span_eq(s, "a"));
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 1), &s), 0);
	assert_true(span_eq(s, "q"));
	assert_int_equal(imap_arg_string(imap_args_at(cmd.args, 1), &s), 0);
	assert_int_equal(imap_arg_string(imap_args_at(cmd.args, 0), &s), -1);
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 2), &s), 0);
	assert_true(span_eq(s, "NIL"));
	assert_true(imap_arg_atom_is(imap_args_at(cmd.args, 2), "nil"));
	assert_int_equal(imap_arg_astring(a, &s), -1);
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 4), &s), 0);
	assert_true(span_eq(s, "L"));
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 5), &s), -1);
	assert_int_equal(imap_arg_astring(imap_args_at(cmd.args, 6), &s), -1);
	assert_false(imap_arg_atom_is(imap_args_at(cmd.args, 1), "q"));

	/* A "]..." atom glued to ")" is marked; one after SP is not. */
	assert_int_equal(imap_parse_feed(&ps,
	    span_cstr("t F B[H (A)]<1.2> (x) ]y ]z\r\n"), &used, &cmd, &err),
	    PARSE_OK);
	assert_int_equal(imap_args_count(cmd.args), 6);
	a = imap_args_at(cmd.args, 2);
	assert_true(span_eq(a->s, "]<1.2>"));
	assert_true(a->flags & IMAP_ARG_F_ADJACENT);
	a = imap_args_at(cmd.args, 4);
	assert_true(span_eq(a->s, "]y"));
	assert_false(a->flags & IMAP_ARG_F_ADJACENT);
	assert_false(imap_args_at(cmd.args, 5)->flags & IMAP_ARG_F_ADJACENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_litmode),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_cont),
		cmocka_unit_test(test_init_and_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
