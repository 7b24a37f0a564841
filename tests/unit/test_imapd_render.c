/* Unit tests for imapd/imap_render: strings, ENVELOPE, BODY/BODYSTRUCTURE, section plans, HEADER.FIELDS, BINARY decoding. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/msgcache.h"
#include "imapd/imap_args.h"
#include "imapd/imap_fetchatt.h"
#include "imapd/imap_parse.h"
#include "imapd/imap_render.h"

#define DATA "tests/data/mime/"

/* A test message file, LF turned into CRLF as the spool holds it. */
struct msg {
	uint8_t *p;
	size_t n;
	struct buf blob;
};

static void
msg_from_text(struct msg *m, const char *text, size_t n)
{
	struct msgcache_parser *ps;
	size_t i;

	m->p = malloc(2 * n + 1);
	assert_non_null(m->p);
	m->n = 0;
	for (i = 0; i < n; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			m->p[m->n++] = '\r';
		m->p[m->n++] = (uint8_t)text[i];
	}
	m->p[m->n] = 0;
	buf_init(&m->blob, 1024, 1 << 22);
	ps = msgcache_parser_new();
	assert_non_null(ps);
	msgcache_feed(ps, span_make(m->p, m->n));
	assert_int_equal(msgcache_finish(ps, &m->blob), 0);
	msgcache_parser_free(&ps);
	assert_int_equal(msgcache_open(buf_view(&m->blob)), 0);
}

static void
msg_load(struct msg *m, const char *name)
{
	char path[256], *text;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), DATA "%s", name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	text = malloc((size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	msg_from_text(m, text, (size_t)n);
	free(text);
}

static void
msg_free(struct msg *m)
{
	free(m->p);
	buf_fini(&m->blob);
}

static void
assert_body(const char *file, int ext, const char *want)
{
	struct msg m;
	struct buf out;

	msg_load(&m, file);
	buf_init(&out, 256, 1 << 20);
	assert_int_equal(imap_render_body(buf_view(&m.blob), ext, 0, &out),
	    0);
	assert_string_equal(buf_cstr(&out), want);
	buf_fini(&out);
	msg_free(&m);
}

static void
assert_envelope(const char *file, const char *want)
{
	struct msg m;
	struct buf out;

	msg_load(&m, file);
	buf_init(&out, 256, 1 << 20);
	assert_int_equal(imap_render_envelope(buf_view(&m.blob), 0, 0, &out),
	    0);
	assert_string_equal(buf_cstr(&out), want);
	buf_fini(&out);
	msg_free(&m);
}

static void
test_string(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 64, 4096);
	assert_int_equal(imap_render_string(span_cstr("a \"b\" \\c"), 0, 0,
	    &out), 0);
	assert_string_equal(buf_cstr(&out), "\"a \\\"b\\\" \\\\c\"");
	buf_reset(&out);
	assert_int_equal(imap_render_string(span_cstr("x"), 1, 0, &out), 0);
	assert_string_equal(buf_cstr(&out), "NIL");
	buf_reset(&out);
	/* empty is "", not NIL */
	assert_int_equal(imap_render_string(span_cstr(""), 0, 0, &out), 0);
	assert_string_equal(buf_cstr(&out), "\"\"");
	buf_reset(&out);
	/* CR/LF and 8-bit (without UTF-8) need a literal */
	assert_int_equal(imap_render_string(span_cstr("a\r\nb"), 0, 0, &out),
	    0);
	assert_string_equal(buf_cstr(&out), "{4}\r\na\r\nb");
	buf_reset(&out);
	assert_int_equal(imap_render_string(span_cstr("caf\xc3\xa9"), 0, 0,
	    &out), 0);
	assert_string_equal(buf_cstr(&out), "{5}\r\ncaf\xc3\xa9");
	buf_reset(&out);
	assert_int_equal(imap_render_string(span_cstr("caf\xc3\xa9"), 0, 1,
	    &out), 0);
	assert_string_equal(buf_cstr(&out), "\"caf\xc3\xa9\"");
	buf_fini(&out);
	/* the cap is reported */
	buf_init(&out, 4, 4);
	assert_int_equal(imap_render_string(span_cstr("toolong"), 0, 0, &out),
	    -1);
	buf_fini(&out);
}

static void
test_envelope(void **state)
{
	(void)state;
	/* Sender and Reply-To default to From (RFC 9051 7.5.2); groups
	 * as start and end markers; source routes in adl. */
	assert_envelope("plain.eml",
	    "(\"Mon, 23 Nov 2026 10:00:00 +0100\" \"=?utf-8?q?Caf=C3=A9?= "
	    "=?utf-8?b?IGNyw6htZQ==?= menu\" ((\"Alice Q. Example\" NIL "
	    "\"alice\" \"example.org\")) ((\"Alice Q. Example\" NIL \"alice\" "
	    "\"example.org\")) ((\"Alice Q. Example\" NIL \"alice\" "
	    "\"example.org\")) ((\"Bob Builder\" NIL \"bob\" \"example.com\")"
	    "(NIL NIL \"Team\" NIL)(NIL NIL \"carol\" \"example.net\")"
	    "(\"Dave, Jr.\" NIL \"dave\" \"example.net\")(NIL NIL NIL NIL)"
	    "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
	    "((NIL \"@relay.example,@hop.example\" \"eve\" \"example.com\")) "
	    "NIL \"<0999@example.com>\" \"<1234@example.org>\")");
	/* no Date, no From: NIL; a mailbox without a domain has host "" */
	assert_envelope("badtype.eml",
	    "(NIL \"bad type\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_envelope("malformed.eml",
	    "(NIL \"broken\" ((NIL NIL \"broken\" \"\")) ((NIL NIL \"broken\" "
	    "\"\")) ((NIL NIL \"broken\" \"\")) ((NIL NIL \"\" \"\")) NIL NIL "
	    "NIL NIL)");
}

/* RFC 9051 7.5.2's ENVELOPE example, from the message it describes. */
static void
test_envelope_rfc9051(void **state)
{
	static const char text[] =
	    "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
	    "From: Terry Gray <gray@cac.washington.edu>\n"
	    "Subject: IMAP4rev2 WG mtg summary and minutes\n"
	    "To: imap@cac.washington.edu\n"
	    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
	    "Message-Id: <B27397-0100000@cac.washington.edu>\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
	    "\n"
	    "Minutes.\n";
	struct msg m;
	struct buf out;

	(void)state;
	msg_from_text(&m, text, strlen(text));
	buf_init(&out, 256, 1 << 20);
	assert_int_equal(imap_render_envelope(buf_view(&m.blob), 0, 0, &out),
	    0);
	assert_string_equal(buf_cstr(&out),
	    "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	    "\"IMAP4rev2 WG mtg summary and minutes\" "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	    "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	    "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
	    "\"<B27397-0100000@cac.washington.edu>\")");
	/* its BODY, as RFC 9051 shows it but for the case of type, subtype,
	 * encoding and parameter names, which the cache keeps lowercased
	 * (common/msgcache.h); values keep theirs */
	buf_reset(&out);
	assert_int_equal(imap_render_body(buf_view(&m.blob), 0, 0, &out), 0);
	assert_string_equal(buf_cstr(&out), "(\"text\" \"plain\" "
	    "(\"charset\" \"US-ASCII\") NIL NIL \"7bit\" 10 1)");
	buf_fini(&out);
	msg_free(&m);
}

static void
test_bodystructure(void **state)
{
	(void)state;
	assert_body("plain.eml", 1, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 49 5 NIL NIL NIL NIL)");
	assert_body("plain.eml", 0, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 49 5)");
	assert_body("alternative.eml", 1,
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	    "\"quoted-printable\" 16 2 NIL NIL NIL NIL)(\"text\" \"html\" "
	    "(\"charset\" \"utf-8\") NIL NIL \"7bit\" 18 0 NIL NIL NIL NIL) "
	    "\"alternative\" (\"boundary\" \"=_alt 1\") NIL NIL NIL)");
	assert_body("alternative.eml", 0,
	    "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
	    "\"quoted-printable\" 16 2)(\"text\" \"html\" (\"charset\" "
	    "\"utf-8\") NIL NIL \"7bit\" 18 0) \"alternative\")");
	/* message/rfc822: envelope, body and lines of the inner message;
	 * disposition of the part */
	assert_body("rfc822.eml", 1,
	    "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL)"
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 276 (NIL \"inner\" "
	    "((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL "
	    "\"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" "
	    "\"example.org\")) ((\"Bob\" NIL \"bob\" \"example.com\")) NIL NIL "
	    "NIL \"<inner@example.org>\") ((\"text\" \"plain\" NIL NIL NIL "
	    "\"7bit\" 10 0 NIL NIL NIL NIL)(\"text\" \"html\" NIL NIL NIL "
	    "\"7bit\" 12 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" "
	    "\"inner\") NIL NIL NIL) 15 NIL (\"inline\" NIL) NIL NIL) "
	    "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
	/* RFC 2231 values as UTF-8 literals, id, description, MD5,
	 * disposition parameters, languages as a list, location */
	assert_body("mixed_2231.eml", 1,
	    "((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" "
	    "28 0 NIL NIL (\"de\" \"en-gb\") NIL)(\"application\" \"pdf\" "
	    "(\"name\" {19}\r\n\xe2\x82\xac-Rechnung \xc3\xbc.pdf) "
	    "\"<part2@example.de>\" \"Die Rechnung\" \"base64\" 22 "
	    "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" "
	    "{16}\r\n\xe2\x82\xac Rechnung.pdf \"size\" \"12\")) NIL "
	    "\"http://example.de/rechnung.pdf\")(\"text\" \"plain\" (\"name*\" "
	    "\"x-unknown-cs'en'%A1%A2\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL) "
	    "\"mixed\" (\"boundary\" \"XyZ\") NIL NIL NIL)");
	/* a multipart without parts is application/octet-stream */
	assert_body("malformed.eml", 0,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "0 0)(\"text\" \"plain\" NIL NIL NIL \"7bit\" 23 0)((\"text\" "
	    "\"plain\" NIL NIL NIL \"7bit\" 12 0) \"alternative\")"
	    "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 67) "
	    "\"mixed\")");
}

static void
test_body_bad_blob(void **state)
{
	struct buf out;
	uint8_t junk[64];

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	buf_init(&out, 64, 4096);
	assert_int_equal(buf_addstr(&out, "x"), 0);
	assert_int_equal(imap_render_body(span_make(junk, sizeof(junk)), 1, 0,
	    &out), -1);
	/* nothing half-written is left */
	assert_string_equal(buf_cstr(&out), "x");
	assert_int_equal(imap_render_envelope(span_make(junk, 0), 0, 0, &out),
	    -1);
	buf_fini(&out);
}

/* ---- section plans ---- */

static struct imap_fetch_item
item(enum imap_fatt att, enum imap_fsect sect, const uint32_t *part,
    size_t n)
{
	struct imap_fetch_item it;

	memset(&it, 0, sizeof(it));
	it.att = att;
	it.sect = sect;
	if (n > 0)
		memcpy(it.part, part, n * sizeof(*part));
	it.n_part = n;
	return it;
}

static struct span
plan_text(const struct msg *m, const struct imap_plan *p)
{
	assert_true(p->off + p->len <= m->n);
	return span_make(m->p + p->off, (size_t)p->len);
}

static void
assert_plan(const struct msg *m, struct imap_fetch_item it,
    enum imap_plan_kind kind, const char *want)
{
	struct imap_plan p;
	const char *why;
	struct span t;

	assert_int_equal(imap_section_plan(buf_view(&m->blob), m->n, &it, &p,
	    &why), 0);
	assert_int_equal(p.kind, kind);
	if (kind == IMAP_PLAN_NONE)
		return;
	t = plan_text(m, &p);
	if (t.n != strlen(want) || memcmp(t.p, want, t.n) != 0)
		fail_msg("plan gave [%.*s], want [%s]", (int)t.n,
		    (const char *)t.p, want);
}

static void
test_plans(void **state)
{
	static const uint32_t p1[] = { 1 }, p2[] = { 2 }, p21[] = { 2, 1 },
	    p22[] = { 2, 2 }, p3[] = { 3 }, p9[] = { 9 };
	struct msg m;
	struct imap_plan p;
	struct imap_fetch_item it;
	const char *why;

	(void)state;
	msg_load(&m, "rfc822.eml");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, NULL, 0),
	    IMAP_PLAN_RANGE, (const char *)m.p);
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_HEADER, NULL, 0),
	    IMAP_PLAN_RANGE, "From: list@example.org\r\nTo: bob@example.com"
	    "\r\nSubject: Fwd: alt\r\nContent-Type: multipart/mixed; "
	    "boundary=\"outer\"\r\n\r\n");
	assert_plan(&m, item(IMAP_FA_RFC822_HEADER, IMAP_FS_NONE, NULL, 0),
	    IMAP_PLAN_RANGE, "From: list@example.org\r\nTo: bob@example.com"
	    "\r\nSubject: Fwd: alt\r\nContent-Type: multipart/mixed; "
	    "boundary=\"outer\"\r\n\r\n");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p1, 1),
	    IMAP_PLAN_RANGE, "See below.");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_MIME, p1, 1),
	    IMAP_PLAN_RANGE, "Content-Type: text/plain\r\n\r\n");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_MIME, p2, 1),
	    IMAP_PLAN_RANGE, "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: inline\r\n\r\n");
	/* HEADER and TEXT of a message/rfc822 part: of the inner message */
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_HEADER, p2, 1),
	    IMAP_PLAN_RANGE, "From: Alice <alice@example.org>\r\n"
	    "To: Bob <bob@example.com>\r\nSubject: inner\r\n"
	    "Message-ID: <inner@example.org>\r\nContent-Type: "
	    "multipart/alternative; boundary=\"inner\"\r\n\r\n");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p21, 2),
	    IMAP_PLAN_RANGE, "inner text");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p22, 2),
	    IMAP_PLAN_RANGE, "<b>inner</b>");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_HEADER_FIELDS, p2,
	    1), IMAP_PLAN_FILTER, "From: Alice <alice@example.org>\r\n"
	    "To: Bob <bob@example.com>\r\nSubject: inner\r\n"
	    "Message-ID: <inner@example.org>\r\nContent-Type: "
	    "multipart/alternative; boundary=\"inner\"\r\n\r\n");
	/* TEXT of a message/rfc822 part: the inner message's body; MIME
	 * of a part inside it: that part's own header */
	{
		static const uint32_t p2t[] = { 2 };
		struct imap_plan tp;
		struct span t;

		it = item(IMAP_FA_BODY_SECTION, IMAP_FS_TEXT, p2t, 1);
		assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n,
		    &it, &tp, &why), 0);
		assert_int_equal(tp.kind, IMAP_PLAN_RANGE);
		t = plan_text(&m, &tp);
		assert_true(t.n > 20);
		assert_memory_equal(t.p, "--inner\r\n", 9);
		assert_non_null(memmem(t.p, t.n, "<b>inner</b>", 12));
	}
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_MIME, p21, 2),
	    IMAP_PLAN_RANGE, "Content-Type: text/plain\r\n\r\n");
	/* HEADER.FIELDS.NOT of the message: the whole header, filtered */
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_HEADER_FIELDS_NOT,
	    NULL, 0), IMAP_PLAN_FILTER, "From: list@example.org\r\n"
	    "To: bob@example.com\r\nSubject: Fwd: alt\r\nContent-Type: "
	    "multipart/mixed; boundary=\"outer\"\r\n\r\n");
	/* RFC822 is BODY[] */
	assert_plan(&m, item(IMAP_FA_RFC822, IMAP_FS_NONE, NULL, 0),
	    IMAP_PLAN_RANGE, (const char *)m.p);
	/* BINARY with a section text is refused */
	it = item(IMAP_FA_BINARY, IMAP_FS_TEXT, p1, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), -1);
	/* HEADER of a part that is not a message: the empty string */
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_HEADER, p1, 1),
	    IMAP_PLAN_NONE, "");
	/* parts that do not exist */
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p3, 1),
	    IMAP_PLAN_NONE, "");
	assert_plan(&m, item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p9, 1),
	    IMAP_PLAN_NONE, "");
	/* MIME without part numbers is refused */
	it = item(IMAP_FA_BODY_SECTION, IMAP_FS_MIME, NULL, 0);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), -1);
	assert_non_null(why);
	/* BINARY: leaf parts only */
	it = item(IMAP_FA_BINARY, IMAP_FS_NONE, p2, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), -1);
	it = item(IMAP_FA_BINARY_SIZE, IMAP_FS_NONE, p1, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), 0);
	assert_int_equal(p.kind, IMAP_PLAN_DECODE);
	assert_int_equal(p.cte, IMAP_CTE_IDENTITY);
	msg_free(&m);

	/* a single-part message: part 1 is the message's body */
	msg_load(&m, "plain.eml");
	it = item(IMAP_FA_BODY_SECTION, IMAP_FS_NONE, p1, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), 0);
	assert_int_equal(p.kind, IMAP_PLAN_RANGE);
	assert_int_equal(p.len, 49);
	assert_plan(&m, item(IMAP_FA_RFC822_TEXT, IMAP_FS_NONE, NULL, 0),
	    IMAP_PLAN_RANGE, (const char *)plan_text(&m, &p).p);
	msg_free(&m);

	/* BINARY of a base64 part and of an unknown encoding */
	{
		const char *t = "Content-Type: multipart/mixed; boundary=b\n"
		    "\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n"
		    "--b\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n"
		    "--b--\n";

		msg_from_text(&m, t, strlen(t));
	}
	it = item(IMAP_FA_BINARY, IMAP_FS_NONE, p1, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), 0);
	assert_int_equal(p.kind, IMAP_PLAN_DECODE);
	assert_int_equal(p.cte, IMAP_CTE_BASE64);
	assert_memory_equal(plan_text(&m, &p).p, "aGVsbG8=", 8);
	it = item(IMAP_FA_BINARY, IMAP_FS_NONE, p2, 1);
	assert_int_equal(imap_section_plan(buf_view(&m.blob), m.n, &it, &p,
	    &why), -1);
	assert_non_null(strstr(why, "[UNKNOWN-CTE]"));
	msg_free(&m);
}

/* ---- HEADER.FIELDS ---- */

static void
assert_filter(const char *header, const char *fields_cmd, int not_,
    const char *want)
{
	static struct imap_arg args[32];
	struct imap_args fields;
	struct buf out;
	size_t i;

	/* the names as the reader gives them: atoms and quoted strings */
	memset(args, 0, sizeof(args));
	fields.a = args;
	fields.n = 0;
	for (i = 0; fields_cmd[0] != '\0'; i++) {
		const char *sp = strchr(fields_cmd, ' ');
		size_t n = sp ? (size_t)(sp - fields_cmd) : strlen(fields_cmd);

		args[i].type = fields_cmd[0] == '"' ? IMAP_ARG_QUOTED :
		    IMAP_ARG_ATOM;
		args[i].s = fields_cmd[0] == '"' ?
		    span_make(fields_cmd + 1, n - 2) : span_make(fields_cmd, n);
		fields.n++;
		fields_cmd += n + (sp ? 1 : 0);
	}
	buf_init(&out, 64, 1 << 16);
	assert_int_equal(imap_header_filter(span_cstr(header), fields, not_,
	    &out), 0);
	if (strcmp(buf_cstr(&out), want) != 0) {
		fprintf(stderr, "got [%s]\nwant [%s]\n", buf_cstr(&out), want);
		buf_fini(&out);
		fail();
	}
	buf_fini(&out);
}

static void
test_header_filter(void **state)
{
	const char *h = "From: a@b\r\nSubject: one\r\n two\r\n\tthree\r\n"
	    "To: c@d\r\nX-Empty:\r\nsubject: second\r\nBad line\r\n"
	    "Date : Mon\r\n\r\nbody: no\r\n";

	(void)state;
	assert_filter(h, "SUBJECT", 0, "Subject: one\r\n two\r\n\tthree\r\n"
	    "subject: second\r\n\r\n");
	assert_filter(h, "from \"x-empty\" date", 0, "From: a@b\r\n"
	    "X-Empty:\r\nDate : Mon\r\n\r\n");
	assert_filter(h, "Subject Date", 1, "From: a@b\r\nTo: c@d\r\n"
	    "X-Empty:\r\n\r\n");
	assert_filter(h, "Nothing", 0, "\r\n");
	/* a header cut short (no blank line), bare LF lines */
	assert_filter("A: 1\nB: 2\n c", "b", 0, "B: 2\n c\r\n");
	assert_filter("", "b", 0, "\r\n");
}

/* ---- decoders ---- */

static void
decode_all(enum imap_cte cte, const char *in, size_t n, size_t step,
    struct buf *out, struct imap_cte_dec *d)
{
	size_t off = 0;

	imap_cte_dec_init(d, cte);
	while (off < n || off == 0) {
		size_t k = step == 0 || n - off < step ? n - off : step;

		assert_int_equal(imap_cte_dec_feed(d, span_make(in + off, k),
		    off + k >= n, out), 0);
		off += k;
		if (off >= n)
			break;
	}
}

static void
assert_decodes(enum imap_cte cte, const char *in, const char *want,
    size_t want_n)
{
	struct imap_cte_dec d;
	struct buf out;
	size_t n = strlen(in), step;

	for (step = 0; step <= n; step++) {
		buf_init(&out, 64, 1 << 16);
		decode_all(cte, in, n, step, &out, &d);
		assert_int_equal(out.len, want_n);
		assert_memory_equal(out.data, want, want_n);
		assert_int_equal(d.n_out, want_n);
		assert_int_equal(d.has_nul, memchr(want, 0, want_n) != NULL);
		buf_fini(&out);
		/* counting only (BINARY.SIZE) gives the same size */
		decode_all(cte, in, n, step, NULL, &d);
		assert_int_equal(d.n_out, want_n);
	}
	/* split in two at every offset */
	for (step = 0; step <= n; step++) {
		buf_init(&out, 64, 1 << 16);
		imap_cte_dec_init(&d, cte);
		assert_int_equal(imap_cte_dec_feed(&d, span_make(in, step), 0,
		    &out), 0);
		assert_int_equal(imap_cte_dec_feed(&d, span_make(in + step,
		    n - step), 1, &out), 0);
		assert_int_equal(out.len, want_n);
		assert_memory_equal(out.data, want, want_n);
		assert_int_equal(d.n_out, want_n);
		buf_fini(&out);
	}
}

static void
test_decode(void **state)
{
	(void)state;
	assert_decodes(IMAP_CTE_BASE64, "aGVsbG8gd29y\r\nbGQ=\r\n",
	    "hello world", 11);
	assert_decodes(IMAP_CTE_BASE64, "AAEC/w==", "\x00\x01\x02\xff", 4);
	/* junk skipped, two runs glued together, no padding at the end */
	assert_decodes(IMAP_CTE_BASE64, "aG!Vs*bG8=IHdv\r\ncmxk",
	    "hello world", 11);
	assert_decodes(IMAP_CTE_BASE64, "", "", 0);
	/* quoted-printable: escapes, soft breaks, trailing white space
	 * dropped, a bad escape kept */
	assert_decodes(IMAP_CTE_QP, "Caf=C3=A9 =\r\nau lait  \r\nx=3d=\n=ZZ\r\n",
	    "Caf\xc3\xa9 au lait\r\nx==ZZ\r\n", 22);
	assert_decodes(IMAP_CTE_QP, "a=00b", "a\0b", 3);
	assert_decodes(IMAP_CTE_QP, "end=", "end=", 4);
	assert_decodes(IMAP_CTE_QP, "end=4", "end=4", 5);
	assert_decodes(IMAP_CTE_QP, "tail \t", "tail", 4);
	assert_decodes(IMAP_CTE_QP, "a\rb\r\n", "a\rb\r\n", 5);
	assert_decodes(IMAP_CTE_IDENTITY, "as\0is", "as", 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_envelope_rfc9051),
		cmocka_unit_test(test_bodystructure),
		cmocka_unit_test(test_body_bad_blob),
		cmocka_unit_test(test_plans),
		cmocka_unit_test(test_header_filter),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
