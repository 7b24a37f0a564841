/* Unit tests for common/msgcache: offsets, line counts, ENVELOPE and BODYSTRUCTURE values, splits, limits, corrupt blobs. */
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

#define DATA "tests/data/mime/"

struct file {
	uint8_t *p;
	size_t n;
};

static struct file
load(const char *name)
{
	struct file f = { NULL, 0 };
	char path[256];
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), DATA "%s", name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	f.n = (size_t)n;
	f.p = malloc(f.n + 1);
	assert_non_null(f.p);
	assert_int_equal(fread(f.p, 1, f.n, fp), f.n);
	fclose(fp);
	return f;
}

/* parse: feed in pieces of step bytes (0: one feed), blob into out */
static void
parse(const uint8_t *p, size_t n, size_t step, struct buf *out)
{
	struct msgcache_parser *ps = msgcache_parser_new();
	size_t off = 0;

	buf_init(out, 1024, 1 << 22);
	if (step == 0)
		step = n ? n : 1;
	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		msgcache_feed(ps, span_make(p + off, k));
		off += k;
	}
	assert_int_equal(msgcache_finish(ps, out), 0);
	msgcache_parser_free(&ps);
	assert_null(ps);
	assert_int_equal(msgcache_open(buf_view(out)), 0);
}

/* the test's own count of line ends in p[a..b) */
static uint64_t
count_lf(const uint8_t *p, uint64_t a, uint64_t b)
{
	uint64_t n = 0;

	for (; a < b; a++)
		n += p[a] == '\n';
	return n;
}

/* offset of the occurrence of marker; "" means the end of the file */
static uint64_t
at(const struct file *f, const char *marker)
{
	const uint8_t *q;

	if (*marker == '\0')
		return f->n;
	q = memmem(f->p, f->n, marker, strlen(marker));
	if (q == NULL)
		fail_msg("marker not found: %s", marker);
	return (uint64_t)(q - f->p);
}

static void
assert_span(struct span s, const char *want)
{
	if (want == NULL)
		fail_msg("expected NIL");
	if (s.n != strlen(want) || memcmp(s.p, want, s.n) != 0)
		fail_msg("got \"%.*s\", want \"%s\"", (int)s.n,
		    (const char *)s.p, want);
}

static void
assert_nstr(struct span s, int nil, const char *want)
{
	if (want == NULL) {
		assert_true(nil);
		return;
	}
	assert_false(nil);
	assert_span(s, want);
}

/* "name=value;name=value" as the params iterator gives them */
static void
assert_params(struct span cur, const char *want)
{
	char got[1024] = "";
	struct span k, v;
	size_t len = 0;

	while (msgcache_param_next(&cur, &k, &v))
		len += (size_t)snprintf(got + len, sizeof(got) - len,
		    "%s%.*s=%.*s", len ? ";" : "", (int)k.n,
		    (const char *)k.p, (int)v.n, (const char *)v.p);
	assert_string_equal(got, want);
}

struct xpart {
	const char *type, *subtype, *params;
	const char *hdr, *body, *end;	/* markers: their offsets */
	const char *enc, *id, *desc, *md5, *disp, *disp_params, *lang, *loc;
	uint32_t parent, n_children;
	int is_message;
	int64_t octets, lines;		/* hand-computed, -1: not given */
};

struct xenv {
	const char *date, *subject, *irt, *mid;
	const char *addrs[6];	/* "name|adl|mailbox|host;..." N for NIL */
};

struct sample {
	const char *file;
	struct xpart parts[8];
	size_t n_parts;
	struct xenv env;	/* of part 0 */
};

static void
check_addrs(const struct msgcache_env *e, enum msgcache_field f,
    const char *want)
{
	char got[2048] = "";
	size_t i, len = 0;

	for (i = 0; i < e->n_addrs[f]; i++) {
		struct msgcache_addr a;
		struct span s[4];
		int nil[4], k;

		assert_int_equal(msgcache_addr(e, f, i, &a), 0);
		s[0] = a.name, s[1] = a.adl, s[2] = a.mailbox, s[3] = a.host;
		nil[0] = a.name_nil, nil[1] = a.adl_nil;
		nil[2] = a.mailbox_nil, nil[3] = a.host_nil;
		for (k = 0; k < 4; k++)
			len += (size_t)snprintf(got + len, sizeof(got) - len,
			    "%s%.*s", k ? "|" : (i ? ";" : ""),
			    nil[k] ? 1 : (int)s[k].n,
			    nil[k] ? "N" : (const char *)s[k].p);
	}
	assert_int_equal(msgcache_addr(e, f, e->n_addrs[f], &(struct
	    msgcache_addr){ 0 }), -1);
	assert_string_equal(got, want ? want : "");
}

static void
check_env(struct span blob, uint32_t part, const struct xenv *x)
{
	struct msgcache_env e;
	int f;

	assert_int_equal(msgcache_envelope(blob, part, &e), 0);
	assert_nstr(e.date, e.date_nil, x->date);
	assert_nstr(e.subject, e.subject_nil, x->subject);
	assert_nstr(e.in_reply_to, e.in_reply_to_nil, x->irt);
	assert_nstr(e.message_id, e.message_id_nil, x->mid);
	for (f = 0; f < 6; f++)
		check_addrs(&e, (enum msgcache_field)f, x->addrs[f]);
}

static void
check_part(const struct file *f, struct span blob, uint32_t i,
    const struct xpart *x)
{
	struct msgcache_part pt;
	uint64_t h = *x->hdr ? at(f, x->hdr) : 0, b = at(f, x->body), e = at(f, x->end);

	assert_int_equal(msgcache_part(blob, i, &pt), 0);
	assert_span(pt.type, x->type);
	assert_span(pt.subtype, x->subtype);
	assert_params(pt.params, x->params ? x->params : "");
	assert_int_equal(pt.header_off, h);
	assert_int_equal(pt.body_off, b);
	assert_int_equal(pt.end_off, e);
	assert_int_equal(pt.lines, count_lf(f->p, b, e));
	if (x->octets >= 0)
		assert_int_equal(pt.end_off - pt.body_off, x->octets);
	if (x->lines >= 0)
		assert_int_equal(pt.lines, x->lines);
	assert_span(pt.encoding, x->enc ? x->enc : "7bit");
	assert_nstr(pt.id, pt.id_nil, x->id);
	assert_nstr(pt.description, pt.description_nil, x->desc);
	assert_nstr(pt.md5, pt.md5_nil, x->md5);
	assert_span(pt.disposition, x->disp ? x->disp : "");
	assert_params(pt.disp_params, x->disp_params ? x->disp_params : "");
	{
		char got[256] = "";
		struct span c = pt.language, v;
		size_t len = 0;

		while (msgcache_list_next(&c, &v))
			len += (size_t)snprintf(got + len, sizeof(got) - len,
			    "%s%.*s", len ? "," : "", (int)v.n,
			    (const char *)v.p);
		assert_string_equal(got, x->lang ? x->lang : "");
	}
	assert_nstr(pt.location, pt.location_nil, x->loc);
	assert_int_equal(pt.parent, x->parent);
	assert_int_equal(pt.n_children, x->n_children);
	assert_int_equal(pt.is_message, x->is_message);
	assert_int_equal(pt.index, i);
}

#define CRLF "\r\n"

static const struct sample samples[] = {
	{ "plain.eml", {
	    { "text", "plain", "charset=us-ascii", "", "Hello Bob",
		"", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 1,
		49, 5 },
	}, 1, { "Mon, 23 Nov 2026 10:00:00 +0100",
	    "=?utf-8?q?Caf=C3=A9?= =?utf-8?b?IGNyw6htZQ==?= menu",
	    "<0999@example.com>", "<1234@example.org>", {
	    "Alice Q. Example|N|alice|example.org", NULL, NULL,
	    "Bob Builder|N|bob|example.com;N|N|Team|N;"
	    "N|N|carol|example.net;Dave, Jr.|N|dave|example.net;N|N|N|N;"
	    "N|N|undisclosed-recipients|N;N|N|N|N",
	    "N|@relay.example,@hop.example|eve|example.com", NULL } } },
	{ "alternative.eml", {
	    { "multipart", "alternative", "boundary==_alt 1", "",
		"This is", "", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		0, 2, 1, -1, -1 },
	    { "text", "plain", "charset=utf-8", "Content-Type: text/plain",
		"Caf=C3", CRLF "--=_alt 1" CRLF "Content-Type: text/html",
		"quoted-printable", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		0, 0, 0, 16, 2 },
	    { "text", "html", "charset=utf-8", "Content-Type: text/html",
		"<p>", CRLF "--=_alt 1--", NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, 0, 0, 0, 18, 0 },
	}, 3, { "Tue, 24 Nov 2026 08:00:00 +0000", "alt", NULL, NULL, {
	    "Alice|N|alice|example.org", NULL, NULL, "Bob|N|bob|example.com",
	    NULL, NULL } } },
	{ "mixed_2231.eml", {
	    { "multipart", "mixed", "boundary=XyZ", "", "--XyZ", "", NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 3, 1, -1, -1 },
	    { "text", "plain", "charset=iso-8859-1",
		"Content-Type: text/plain; charset=iso", "Anbei",
		CRLF "--XyZ" CRLF "Content-Type: application/pdf", "8bit",
		NULL, NULL, NULL, NULL, NULL, "de,en-gb", NULL, 0, 0, 0, 28, 0 },
	    { "application", "pdf", "name=\xe2\x82\xac-Rechnung \xc3\xbc.pdf",
		"Content-Type: application/pdf", "JVBER",
		CRLF "--XyZ" CRLF "Content-Type: text/plain; name*",
		"base64", "<part2@example.de>", "Die Rechnung",
		"Q2hlY2sgSW50ZWdyaXR5IQ==", "attachment",
		"filename=\xe2\x82\xac Rechnung.pdf;size=12", NULL,
		"http://example.de/rechnung.pdf", 0, 0, 0, 22, 1 },
	    { "text", "plain", "name*=x-unknown-cs'en'%A1%A2",
		"Content-Type: text/plain; name*", "odd", CRLF "--XyZ--",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 3, 0 },
	}, 4, { NULL, "Rechnung", NULL, NULL, {
	    "=?iso-8859-1?q?J=F6rg?=|N|joerg|example.de", NULL, NULL,
	    "N|N|anna|example.de", NULL, NULL } } },
	{ "rfc822.eml", {
	    { "multipart", "mixed", "boundary=outer", "", "--outer", "",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 2, 1, -1,
		-1 },
	    { "text", "plain", NULL, "Content-Type: text/plain" CRLF CRLF "See",
		"See", CRLF "--outer" CRLF "Content-Type: message", NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 10, 0 },
	    { "message", "rfc822", NULL, "Content-Type: message",
		"From: Alice", CRLF "--outer--", NULL, NULL, NULL, NULL,
		"inline", NULL, NULL, NULL, 0, 1, 0, -1, 15 },
	    { "multipart", "alternative", "boundary=inner", "From: Alice",
		"--inner" CRLF, CRLF "--outer--", NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, 2, 2, 1, -1, -1 },
	    { "text", "plain", NULL, "Content-Type: text/plain" CRLF CRLF "inner",
		"inner text", CRLF "--inner" CRLF "Content-Type: text/html",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3, 0, 0, 10, 0 },
	    { "text", "html", NULL, "Content-Type: text/html", "<b>",
		CRLF "--inner--", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, 3, 0, 0, 12, 0 },
	}, 6, { NULL, "Fwd: alt", NULL, NULL, { "N|N|list|example.org", NULL,
	    NULL, "N|N|bob|example.com", NULL, NULL } } },
	{ "malformed.eml", {
	    { "multipart", "mixed", "boundary=b1", "", "--b1\t", "", NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 4, 1, -1, -1 },
	    /* no blank line: the body line is taken as a header line
	     * without a colon, and the header ends at the empty line */
	    { "text", "plain", "charset=us-ascii", "no header",
		CRLF "--b1" CRLF "Content-Type: text/plain; charset",
		CRLF "--b1" CRLF "Content-Type: text/plain; charset", NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0 },
	    { "text", "plain", NULL, "Content-Type: text/plain; charset",
		"8bit \xe9", CRLF "--b1" CRLF "Content-Type: multipart/alt",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 23,
		0 },
	    { "multipart", "alternative", "boundary=b2",
		"Content-Type: multipart/alt", "--b2", CRLF "--b1" CRLF
		"Content-Type: multipart/mixed", NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, 0, 1, 0, -1, -1 },
	    { "text", "plain", NULL, "Content-Type: text/plain" CRLF CRLF "never",
		"never", CRLF "--b1" CRLF "Content-Type: multipart/mixed",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3, 0, 0, 12, 0 },
	    { "application", "octet-stream", NULL,
		"Content-Type: multipart/mixed" CRLF, "no boundary parameter",
		CRLF "--b1--   ", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, 0, 0, 0, -1, 1 },
	}, 6, { NULL, "broken", NULL, NULL, { "N|N|broken|", NULL, NULL,
	    "N|N||", NULL, NULL } } },
	{ "badtype.eml", {
	    { "text", "plain", "charset=us-ascii", "", "body without", "",
		"7bit", NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 1, 27,
		0 },
	}, 1, { NULL, "bad type", NULL, NULL, { NULL } } },
};

static void
check_sample(const struct sample *s, const struct file *f, struct span blob)
{
	size_t i;

	assert_int_equal(msgcache_n_parts(blob), s->n_parts);
	for (i = 0; i < s->n_parts; i++)
		check_part(f, blob, (uint32_t)i, &s->parts[i]);
	check_env(blob, 0, &s->env);
}

static void
test_samples(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct file f = load(samples[i].file);
		struct buf b;

		print_message("sample %s\n", samples[i].file);
		parse(f.p, f.n, 0, &b);
		check_sample(&samples[i], &f, buf_view(&b));
		buf_fini(&b);
		free(f.p);
	}
}

/* every sample fed one byte at a time, in two pieces split at every
 * offset, and in pieces of 2..13 bytes gives the very same blob */
static void
test_splits(void **state)
{
	size_t i, k;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct file f = load(samples[i].file);
		struct buf one, b;

		parse(f.p, f.n, 0, &one);
		for (k = 1; k < 14; k++) {
			parse(f.p, f.n, k, &b);
			assert_int_equal(b.len, one.len);
			assert_memory_equal(b.data, one.data, one.len);
			buf_fini(&b);
		}
		for (k = 0; k <= f.n; k++) {
			struct msgcache_parser *ps = msgcache_parser_new();

			buf_init(&b, 1024, 1 << 22);
			msgcache_feed(ps, span_make(f.p, k));
			msgcache_feed(ps, span_make(f.p + k, f.n - k));
			assert_int_equal(msgcache_finish(ps, &b), 0);
			msgcache_parser_free(&ps);
			assert_int_equal(b.len, one.len);
			assert_memory_equal(b.data, one.data, one.len);
			buf_fini(&b);
		}
		buf_fini(&one);
		free(f.p);
	}
}

static void
test_sections(void **state)
{
	struct file f = load("rfc822.eml"), g = load("plain.eml");
	struct msgcache_part pt;
	struct buf b, c;
	static const struct {
		uint32_t nums[4];
		size_t n;
		int index;	/* -1: no such part */
	} t[] = {
		{ { 0 }, 0, 0 }, { { 1 }, 1, 1 }, { { 2 }, 1, 2 },
		{ { 3 }, 1, -1 }, { { 0 }, 1, -1 }, { { 2, 1 }, 2, 4 },
		{ { 2, 2 }, 2, 5 }, { { 2, 3 }, 2, -1 }, { { 1, 1 }, 2, -1 },
		{ { 2, 1, 1 }, 3, -1 },
	};
	static const uint32_t one[] = { 1 }, oneone[] = { 1, 1 };
	size_t i;

	parse(f.p, f.n, 0, &b);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = msgcache_section(buf_view(&b), t[i].nums, t[i].n, &pt);

		print_message("section case %zu\n", i);

		if (t[i].index < 0) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(pt.index, t[i].index);
		}
	}
	/* message/rfc822: the envelope is the encapsulated message's */
	{
		struct xenv x = { NULL, "inner", NULL, "<inner@example.org>", {
		    "Alice|N|alice|example.org", NULL, NULL,
		    "Bob|N|bob|example.com", NULL, NULL } };

		check_env(buf_view(&b), 2, &x);
		check_env(buf_view(&b), 3, &x);
		assert_int_equal(msgcache_envelope(buf_view(&b), 1,
		    &(struct msgcache_env){ 0 }), -1);
	}
	/* a non-multipart message has part 1, itself, and no 1.1 */
	parse(g.p, g.n, 0, &c);
	assert_int_equal(msgcache_section(buf_view(&c), one, 1, &pt), 0);
	assert_int_equal(pt.index, 0);
	assert_int_equal(msgcache_section(buf_view(&c), oneone, 2, &pt), -1);
	buf_fini(&b);
	buf_fini(&c);
	free(f.p);
	free(g.p);
}

static void
parse_str(const char *s, struct buf *out)
{
	parse((const uint8_t *)s, strlen(s), 0, out);
}

static void
test_rfc2231(void **state)
{
	static const struct {
		const char *ct, *want;
	} t[] = {
		{ "text/plain; title*0*=us-ascii'en'This%20is%20;"
		    " title*1*=%2A%2A%2Afun%2A%2A%2A; title*2=\"isn't it!\"",
		    "title=This is ***fun***isn't it!" },
		{ "text/plain; name*=iso-8859-1''%E9t%E9", "name=\xc3\xa9t\xc3\xa9" },
		{ "text/plain; name*=windows-1252''%80", "name=\xe2\x82\xac" },
		{ "text/plain; name*=iso-8859-15''%A4", "name=\xe2\x82\xac" },
		/* out of order sections are put in order */
		{ "text/plain; n*1=b; n*0=a; x=y", "n=ab;x=y" },
		/* a missing section 0: left as they are */
		{ "text/plain; n*1=b; n*2=c", "n*1=b;n*2=c" },
		/* invalid UTF-8 in a UTF-8 value: extended form kept */
		{ "text/plain; n*=utf-8''%FF%20", "n*=utf-8''%FF%20" },
		/* unknown charset; the plain section gets encoded */
		{ "text/plain; n*0*=x-no-such''%41; n*1=\"b c\"",
		    "n*=x-no-such''%41b%20c" },
		/* through iconv */
		{ "text/plain; n*=koi8-r''%F0%D2%C9", "n=\xd0\x9f\xd1\x80\xd0\xb8" },
		{ "text/plain; (c) Charset = \"a\\\"b\" ; junk; X=1",
		    "charset=a\"b;x=1" },
		{ "text/plain;", "" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char msg[512];
		struct msgcache_part pt;
		struct buf b;

		snprintf(msg, sizeof(msg), "Content-Type: %s\r\n\r\nx\r\n",
		    t[i].ct);
		parse_str(msg, &b);
		assert_int_equal(msgcache_part(buf_view(&b), 0, &pt), 0);
		print_message("%s\n", t[i].ct);
		assert_params(pt.params, t[i].want);
		buf_fini(&b);
	}
}

static void
test_addresses(void **state)
{
	static const struct {
		const char *hdr, *want;
	} t[] = {
		{ "a@b", "N|N|a|b" },
		{ "\"Doe, John\" <john.doe@x.example>",
		    "Doe, John|N|john.doe|x.example" },
		{ "\"a\\\"b\" <c@d>", "a\"b|N|c|d" },
		{ "John (middle) Doe <j@d>", "John Doe|N|j|d" },
		{ "j@d (John Doe)", "John Doe|N|j|d" },
		{ "\"quoted local\"@d", "N|N|\"quoted local\"|d" },
		{ "john . doe @ example . com", "N|N|john.doe|example.com" },
		{ "a@[192.0.2.1]", "N|N|a|[192.0.2.1]" },
		{ "G: ;", "N|N|G|N;N|N|N|N" },
		{ "G: a@b", "N|N|G|N;N|N|a|b;N|N|N|N" },
		{ "<>", "N|N||" },
		{ "just-a-name", "N|N|just-a-name|" },
		{ ",,, <a@b> ,", "N|N|a|b" },
		{ "Bob <bob@x", "Bob|N|bob|x" },
		{ ">>;;@@", "N|N||;N|N||" },
		{ "", "" },
		{ "=?utf-8?q?J=C3=B6rg?= <j@x>", "=?utf-8?q?J=C3=B6rg?=|N|j|x" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char msg[512];
		struct msgcache_env e;
		struct buf b;

		snprintf(msg, sizeof(msg), "To: %s\r\n\r\n", t[i].hdr);
		parse_str(msg, &b);
		assert_int_equal(msgcache_envelope(buf_view(&b), 0, &e), 0);
		print_message("%s\n", t[i].hdr);
		check_addrs(&e, MSGCACHE_TO, t[i].want);
		buf_fini(&b);
	}
}

/* bare LF line ends count as one octet each */
static void
test_bare_lf(void **state)
{
	const char *m = "Subject: x\n y\nContent-Type: multipart/mixed;"
	    " boundary=b\n\n--b\n\nab\ncd\n--b--\n";
	struct msgcache_part pt;
	struct msgcache_env e;
	struct buf b;

	parse_str(m, &b);
	assert_int_equal(msgcache_envelope(buf_view(&b), 0, &e), 0);
	assert_span(e.subject, "x y");
	assert_int_equal(msgcache_part(buf_view(&b), 1, &pt), 0);
	assert_int_equal(pt.header_off, strstr(m, "--b\n") - m + 4);
	assert_int_equal(pt.body_off, pt.header_off + 1);
	assert_int_equal(pt.end_off - pt.body_off, 5);	/* "ab\ncd" */
	assert_int_equal(pt.lines, 1);
	buf_fini(&b);
}

static void
test_limit_header(void **state)
{
	size_t len;

	/* the field "Subject: v..." is kept up to MSGCACHE_MAX_HEADER */
	for (len = MSGCACHE_MAX_HEADER - 1; len <= MSGCACHE_MAX_HEADER + 1;
	    len++) {
		char *m = malloc(len + 16);
		struct msgcache_env e;
		struct buf b;

		memcpy(m, "Subject: ", 9);
		memset(m + 9, 'v', len - 9);
		memcpy(m + len, "\r\n\r\n", 5);
		parse_str(m, &b);
		assert_int_equal(msgcache_envelope(buf_view(&b), 0, &e), 0);
		assert_int_equal(e.subject.n,
		    (len > MSGCACHE_MAX_HEADER ? MSGCACHE_MAX_HEADER : len) - 9);
		buf_fini(&b);
		free(m);
	}
}

static void
test_limit_depth(void **state)
{
	struct buf m, b;
	struct msgcache_part pt;
	int d;
	uint32_t n;

	/* MSGCACHE_MAX_DEPTH levels of multipart, and one more */
	for (d = MSGCACHE_MAX_DEPTH - 1; d <= MSGCACHE_MAX_DEPTH + 1; d++) {
		int i;

		buf_init(&m, 4096, 1 << 20);
		for (i = 0; i < d; i++)
			assert_int_equal(buf_addf(&m, "Content-Type: multipart/"
			    "mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i), 0);
		assert_int_equal(buf_addstr(&m, "\r\nleaf\r\n"), 0);
		for (i = d; i-- > 0;)
			assert_int_equal(buf_addf(&m, "--b%d--\r\n", i), 0);
		parse(m.data, m.len, 0, &b);
		n = msgcache_n_parts(buf_view(&b));
		/* depth MAX_DEPTH holds MAX_DEPTH levels of parts in all */
		assert_int_equal(n, d + 1 <= MSGCACHE_MAX_DEPTH ? d + 1 :
		    MSGCACHE_MAX_DEPTH);
		assert_int_equal(msgcache_part(buf_view(&b), n - 1, &pt), 0);
		if (d + 1 > MSGCACHE_MAX_DEPTH) {
			/* cut: the innermost multipart is opaque */
			assert_span(pt.type, "application");
		} else {
			assert_span(pt.type, "text");
			assert_int_equal(pt.end_off, pt.body_off + 4);
		}
		buf_fini(&b);
		buf_fini(&m);
	}
}

static void
test_limit_parts(void **state)
{
	struct buf m, b;
	struct msgcache_part pt;
	int n;

	for (n = MSGCACHE_MAX_PARTS - 1; n <= MSGCACHE_MAX_PARTS + 3; n++) {
		int i;

		buf_init(&m, 4096, 1 << 20);
		assert_int_equal(buf_addstr(&m, "Content-Type: multipart/mixed;"
		    " boundary=q\r\n\r\n"), 0);
		for (i = 0; i < n; i++)
			assert_int_equal(buf_addf(&m, "--q\r\n\r\n%d\r\n", i),
			    0);
		assert_int_equal(buf_addstr(&m, "--q--\r\n"), 0);
		parse(m.data, m.len, 0, &b);
		assert_int_equal(msgcache_n_parts(buf_view(&b)),
		    n + 1 < MSGCACHE_MAX_PARTS ? n + 1 : MSGCACHE_MAX_PARTS);
		assert_int_equal(msgcache_part(buf_view(&b),
		    MSGCACHE_MAX_PARTS - 1, &pt), n + 1 < MSGCACHE_MAX_PARTS ?
		    -1 : 0);
		if (n + 1 >= MSGCACHE_MAX_PARTS)	/* the rest is in it */
			assert_int_equal(pt.end_off, m.len - 9);
		buf_fini(&b);
		buf_fini(&m);
	}
}

static void
test_boundary_len(void **state)
{
	char bnd[MSGCACHE_MAX_BOUNDARY + 2], msg[1024];
	size_t len;

	for (len = MSGCACHE_MAX_BOUNDARY; len <= MSGCACHE_MAX_BOUNDARY + 1;
	    len++) {
		struct buf b;

		memset(bnd, 'k', len);
		bnd[len] = '\0';
		snprintf(msg, sizeof(msg), "Content-Type: multipart/mixed; "
		    "boundary=%s\r\n\r\n--%s  \r\n\r\nx\r\n--%s--\r\n", bnd, bnd,
		    bnd);
		parse_str(msg, &b);
		assert_int_equal(msgcache_n_parts(buf_view(&b)),
		    len <= MSGCACHE_MAX_BOUNDARY ? 2 : 1);
		buf_fini(&b);
	}
}

/* digest parts default to message/rfc822; absent fields are NIL */
static void
test_digest_nil(void **state)
{
	const char *m = "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n";
	struct msgcache_part pt;
	struct msgcache_env e;
	struct buf b;
	int f;

	parse_str(m, &b);
	assert_int_equal(msgcache_n_parts(buf_view(&b)), 3);
	assert_int_equal(msgcache_part(buf_view(&b), 1, &pt), 0);
	assert_span(pt.type, "message");
	assert_span(pt.subtype, "rfc822");
	assert_int_equal(pt.params.n, 0);
	assert_int_equal(pt.lines, 2);
	assert_int_equal(msgcache_envelope(buf_view(&b), 0, &e), 0);
	assert_true(e.date_nil && e.subject_nil && e.message_id_nil &&
	    e.in_reply_to_nil);
	for (f = 0; f < 6; f++)
		assert_int_equal(e.n_addrs[f], 0);
	assert_int_equal(msgcache_envelope(buf_view(&b), 1, &e), 0);
	assert_span(e.subject, "in");
	buf_fini(&b);
}

/* a corrupt blob is refused and never crashes a reader */
static void
read_all(struct span blob)
{
	struct msgcache_part pt;
	struct msgcache_env e;
	struct msgcache_addr a;
	uint32_t i, nums[2] = { 1, 1 };
	size_t f, k;

	for (i = 0; i < MSGCACHE_MAX_PARTS + 1; i++) {
		struct span c, n, v;

		if (msgcache_part(blob, i, &pt) == 0) {
			c = pt.params;
			while (msgcache_param_next(&c, &n, &v))
				;
			c = pt.language;
			while (msgcache_list_next(&c, &v))
				;
		}
		if (msgcache_envelope(blob, i, &e) == 0)
			for (f = 0; f < 6; f++)
				for (k = 0; k < e.n_addrs[f]; k++)
					assert_int_equal(msgcache_addr(&e,
					    (enum msgcache_field)f, k, &a), 0);
	}
	(void)msgcache_section(blob, nums, 2, &pt);
}

static void
test_corrupt(void **state)
{
	struct file f = load("rfc822.eml");
	struct buf b;
	size_t i;

	parse(f.p, f.n, 0, &b);
	for (i = 0; i < b.len; i++) {
		b.data[i] ^= 0x41;
		assert_int_equal(msgcache_open(buf_view(&b)), -1);
		read_all(buf_view(&b));
		b.data[i] ^= 0x41;
	}
	for (i = 0; i < b.len; i++) {
		assert_int_equal(msgcache_open(span_make(b.data, i)), -1);
		read_all(span_make(b.data, i));
	}
	assert_int_equal(msgcache_open(buf_view(&b)), 0);
	buf_fini(&b);
	free(f.p);
}

/* fuzz find: a part opened right before an outer delimiter must not
 * end past its parent (the CRLF ending its opening line is its own) */
static void
test_empty_part_at_delim(void **state)
{
	const char *m = "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
	    "--i\r\n--o--\r\n";
	struct msgcache_part in, mp;
	struct buf b;

	parse_str(m, &b);
	assert_int_equal(msgcache_part(buf_view(&b), 1, &mp), 0);
	assert_int_equal(msgcache_part(buf_view(&b), 2, &in), 0);
	assert_int_equal(in.header_off, strstr(m, "--o--") - m);
	assert_int_equal(in.end_off, in.header_off);
	assert_int_equal(mp.end_off, in.end_off);
	buf_fini(&b);
}

static void
test_finish_cap(void **state)
{
	struct msgcache_parser *ps = msgcache_parser_new();
	struct buf b;

	buf_init(&b, 16, 16);
	msgcache_feed(ps, span_cstr("Subject: x\r\n\r\n"));
	assert_int_equal(msgcache_finish(ps, &b), -1);
	assert_int_equal(b.len, 0);
	msgcache_parser_free(&ps);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_rfc2231),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_limit_header),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_boundary_len),
		cmocka_unit_test(test_digest_nil),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_empty_part_at_delim),
		cmocka_unit_test(test_finish_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
