/* SEARCH text keys (RFC 9051 6.4.4): case folding, decoded headers and bodies streamed from the message file through a bounded window. */
/* SPDX-License-Identifier: ISC */
#include <string.h>
#include <strings.h>

#include "common/rfc2047.h"
#include "common/xmem.h"
#include "imapd/imap_match_priv.h"

/*
 * Case folding (documented in docs/imapd.md): a simple one-to-one
 * lowercase mapping of
 *   - ASCII A-Z;
 *   - Latin-1 U+00C0-U+00DE (not U+00D7), Latin Extended-A U+0100-U+017F
 *     (U+0130 dotted I folds to "i", U+017F long s to "s", U+0178 to
 *     U+00FF);
 *   - Greek U+0386-U+03AB (with the accented capitals), final sigma
 *     U+03C2 to U+03C3;
 *   - Cyrillic U+0400-U+042F, and the paired letters U+0460-U+0481,
 *     U+048A-U+04BF, U+04C0-U+04CE, U+04D0-U+052F.
 * No multi-character folds (German sharp s stays one letter), no
 * normalisation (a precomposed letter does not match its decomposed
 * form).  Bytes that are not well-formed UTF-8 are compared as they are.
 */
uint32_t
imt_fold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17F) {
		if (c == 0x130)
			return 'i';
		if (c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		if (c == 0x178)
			return 0xFF;
		if (c == 0x17F)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x386 && c <= 0x3AB) {
		if (c == 0x386)
			return 0x3AC;
		if (c >= 0x388 && c <= 0x38A)
			return c + 37;
		if (c == 0x38C)
			return 0x3CC;
		if (c == 0x38E || c == 0x38F)
			return c + 63;
		if (c >= 0x391 && c != 0x3A2)
			return c + 32;
		return c;
	}
	if (c == 0x3C2)
		return 0x3C3;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) ||
	    (c >= 0x4D0 && c <= 0x52F))
		return (c & 1) ? c : c + 1;
	if (c == 0x4C0)
		return 0x4CF;
	if (c >= 0x4C1 && c <= 0x4CE)
		return (c & 1) ? c + 1 : c;
	return c;
}

/* length of the well-formed UTF-8 sequence at p (n bytes left) and its
 * code point; 0 if it is not one */
static size_t
utf8_dec(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len, k;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, c &= 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, c &= 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[k] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

static size_t
utf8_enc(uint32_t c, uint8_t *o)
{
	if (c < 0x80) {
		o[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (uint8_t)(0xC0 | (c >> 6));
		o[1] = (uint8_t)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (uint8_t)(0xE0 | (c >> 12));
		o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (uint8_t)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | (c >> 18));
	o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
	o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
	o[3] = (uint8_t)(0x80 | (c & 0x3F));
	return 4;
}

int
imt_fold(struct span in, struct buf *out)
{
	size_t i = 0;

	while (i < in.n) {
		uint8_t *o;
		uint32_t cp;
		size_t len = utf8_dec(in.p + i, in.n - i, &cp);

		if (len == 0) {
			if (buf_add(out, in.p + i, 1) != 0)
				return -1;
			i++;
			continue;
		}
		i += len;
		if ((o = buf_reserve(out, 4)) == NULL)
			return -1;
		buf_commit(out, utf8_enc(imt_fold_cp(cp), o));
	}
	return 0;
}

/* ---- substring search over a stream, in bounded memory ---- */

/*
 * The folded stream passes through a window of the last needle-1 bytes
 * plus one chunk, so a match that straddles two reads is found and
 * memory stays at about IMT_CHUNK * 3 whatever the message size.
 */
struct finder {
	struct span needle;		/* folded */
	uint8_t *win;
	size_t wlen, wcap;
	int found;
	uint8_t hold[4];		/* an incomplete UTF-8 sequence */
	size_t nhold;
	struct buf work, folded;
};

static void
finder_init(struct finder *f, struct span needle)
{
	memset(f, 0, sizeof(*f));
	f->needle = needle;
	f->wcap = needle.n + IMT_CHUNK;
	f->win = xmalloc(f->wcap);
	buf_init(&f->work, 1024, SIZE_MAX / 2);
	buf_init(&f->folded, 1024, SIZE_MAX / 2);
}

static void
finder_fini(struct finder *f)
{
	xfree(&f->win);
	buf_fini(&f->work);
	buf_fini(&f->folded);
}

static void
finder_folded(struct finder *f, struct span s)
{
	size_t keep = f->needle.n - 1;

	if (f->needle.n == 0) {
		f->found = 1;
		return;
	}
	while (s.n > 0 && !f->found) {
		size_t take = f->wcap - f->wlen;

		if (take > s.n)
			take = s.n;
		memcpy(f->win + f->wlen, s.p, take);
		f->wlen += take;
		s.p += take;
		s.n -= take;
		if (memmem(f->win, f->wlen, f->needle.p, f->needle.n) != NULL)
			f->found = 1;
		if (f->wlen > keep) {
			memmove(f->win, f->win + f->wlen - keep, keep);
			f->wlen = keep;
		}
	}
}

/* where an incomplete UTF-8 sequence at the end of s starts (s.n: none) */
static size_t
utf8_cut(struct span s)
{
	size_t k, back = s.n < 3 ? s.n : 3;

	for (k = 1; k <= back; k++) {
		uint8_t c = s.p[s.n - k];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue;
		need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
		return need > k ? s.n - k : s.n;
	}
	return s.n;
}

/* UTF-8 text (any split) into the finder */
static int
finder_feed(struct finder *f, struct span s)
{
	struct span all;
	size_t cut;

	if (f->found || s.n == 0)
		return 0;
	buf_reset(&f->work);
	if (buf_add(&f->work, f->hold, f->nhold) != 0 ||
	    buf_addspan(&f->work, s) != 0)
		return -1;
	f->nhold = 0;
	all = buf_view(&f->work);
	cut = utf8_cut(all);
	buf_reset(&f->folded);
	if (imt_fold(span_make(all.p, cut), &f->folded) != 0)
		return -1;
	memcpy(f->hold, all.p + cut, all.n - cut);
	f->nhold = all.n - cut;
	finder_folded(f, buf_view(&f->folded));
	return 0;
}

/* end of one text: an incomplete sequence goes in as bytes */
static int
finder_flush(struct finder *f)
{
	struct span h = span_make(f->hold, f->nhold);

	if (f->nhold > 0 && !f->found) {
		buf_reset(&f->folded);
		if (buf_addspan(&f->folded, h) != 0)
			return -1;
		f->nhold = 0;
		finder_folded(f, buf_view(&f->folded));
	}
	f->nhold = 0;
	return 0;
}

/* one whole piece of text (a decoded header value) */
static int
finder_text(struct finder *f, struct span s)
{
	if (finder_feed(f, s) != 0)
		return -1;
	return finder_flush(f);
}

/* ---- charset conversion of a streamed body ---- */

#define CS_LINE_MAX 4096

struct cstream {
	struct finder *f;
	int convert;
	struct span charset;
	struct buf line, conv;
};

static void
cs_init(struct cstream *cs, struct finder *f, struct span charset)
{
	memset(cs, 0, sizeof(*cs));
	cs->f = f;
	cs->charset = charset;
	cs->convert = !(charset.n == 0 || span_eq_ci(charset, "us-ascii") ||
	    span_eq_ci(charset, "utf-8") || span_eq_ci(charset, "utf8"));
	buf_init(&cs->line, 256, CS_LINE_MAX * 2);
	buf_init(&cs->conv, 256, SIZE_MAX / 2);
}

static void
cs_fini(struct cstream *cs)
{
	buf_fini(&cs->line);
	buf_fini(&cs->conv);
}

/* Convert one piece; text the charset cannot read goes in as it is. */
static int
cs_piece(struct cstream *cs, struct span s)
{
	buf_reset(&cs->conv);
	if (rfc2047_to_utf8(cs->charset, s, &cs->conv) == 0)
		return finder_feed(cs->f, buf_view(&cs->conv));
	return finder_feed(cs->f, s);
}

/*
 * Text in another charset is converted a line at a time, so that a
 * multi-byte character is never split (ISO-2022-JP and the like shift
 * back at each line end).  XXX: a line longer than CS_LINE_MAX is cut
 * there, which can split a multi-byte character of a stateful or
 * double-byte charset; single-byte charsets are unaffected.
 */
static int
cs_feed(struct cstream *cs, struct span s)
{
	size_t i = 0;

	if (!cs->convert)
		return finder_feed(cs->f, s);
	while (i < s.n && !cs->f->found) {
		uint8_t c = s.p[i++];

		if (buf_add(&cs->line, &c, 1) != 0)
			return -1;
		if (c == '\n' || cs->line.len >= CS_LINE_MAX) {
			if (cs_piece(cs, buf_view(&cs->line)) != 0)
				return -1;
			buf_reset(&cs->line);
		}
	}
	return 0;
}

static int
cs_flush(struct cstream *cs)
{
	if (cs->convert && cs->line.len > 0 && cs_piece(cs,
	    buf_view(&cs->line)) != 0)
		return -1;
	buf_reset(&cs->line);
	return finder_flush(cs->f);
}

/* ---- transfer decoding (RFC 2045 6.7, 6.8), byte at a time ---- */

enum { ENC_IDENT = 0, ENC_B64, ENC_QP };

struct dstream {
	struct cstream *cs;
	int enc;
	uint32_t bits;
	int nbits;
	int qst;			/* 0, 1 after "=", 2 "=X", 3 "=\r" */
	int qhi;
	uint8_t out[IMT_CHUNK];
	size_t nout;
};

static int
ds_put(struct dstream *d, uint8_t c)
{
	d->out[d->nout++] = c;
	if (d->nout == sizeof(d->out)) {
		d->nout = 0;
		return cs_feed(d->cs, span_make(d->out, sizeof(d->out)));
	}
	return 0;
}

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* quoted-printable; a malformed "=" sequence is kept as it is */
static int
qp_byte(struct dstream *d, uint8_t c)
{
	int v;

	switch (d->qst) {
	case 1:
		if (c == '\n') {
			d->qst = 0;
			return 0;
		}
		if (c == '\r') {
			d->qst = 3;
			return 0;
		}
		if ((v = hex_val(c)) >= 0) {
			d->qhi = v;
			d->qst = 2;
			return 0;
		}
		d->qst = 0;
		if (ds_put(d, '=') != 0)
			return -1;
		return qp_byte(d, c);
	case 2:
		d->qst = 0;
		if ((v = hex_val(c)) >= 0)
			return ds_put(d, (uint8_t)(d->qhi << 4 | v));
		if (ds_put(d, '=') != 0 || ds_put(d, "0123456789ABCDEF"[
		    d->qhi]) != 0)
			return -1;
		return qp_byte(d, c);
	case 3:
		d->qst = 0;
		if (c == '\n')
			return 0;
		return qp_byte(d, c);
	default:
		if (c == '=') {
			d->qst = 1;
			return 0;
		}
		return ds_put(d, c);
	}
}

static int
ds_feed(struct dstream *d, struct span s)
{
	size_t i;
	int v;

	for (i = 0; i < s.n && !d->cs->f->found; i++) {
		uint8_t c = s.p[i];

		if (d->enc == ENC_B64) {
			if ((v = b64_val(c)) < 0)
				continue;	/* line ends, "=", junk */
			d->bits = d->bits << 6 | (uint32_t)v;
			d->nbits += 6;
			if (d->nbits >= 8) {
				d->nbits -= 8;
				if (ds_put(d, (uint8_t)(d->bits >>
				    d->nbits)) != 0)
					return -1;
			}
		} else if (d->enc == ENC_QP) {
			if (qp_byte(d, c) != 0)
				return -1;
		} else if (ds_put(d, c) != 0)
			return -1;
	}
	return 0;
}

static int
ds_flush(struct dstream *d)
{
	if (d->qst == 1 && ds_put(d, '=') != 0)
		return -1;
	if (d->nout > 0 && cs_feed(d->cs, span_make(d->out, d->nout)) != 0)
		return -1;
	d->nout = 0;
	return cs_flush(d->cs);
}

/* ---- reading the file ---- */

/* a part's body bytes through decoding into the finder; 0 or -1 */
static int
scan_body(struct imt_msg *t, const struct msgcache_part *p, struct finder *f)
{
	struct span cur = p->params, name, val, charset = { NULL, 0 };
	struct cstream cs;
	struct dstream *d = xcalloc(1, sizeof(*d));
	uint8_t *chunk = xmalloc(IMT_CHUNK);
	uint64_t off = p->body_off;
	int rc = 0;

	while (msgcache_param_next(&cur, &name, &val) == 1)
		if (span_eq(name, "charset"))
			charset = val;
	cs_init(&cs, f, charset);
	d->cs = &cs;
	d->enc = span_eq(p->encoding, "base64") ? ENC_B64 :
	    span_eq(p->encoding, "quoted-printable") ? ENC_QP : ENC_IDENT;
	while (off < p->end_off && !f->found) {
		size_t want = p->end_off - off < IMT_CHUNK ?
		    (size_t)(p->end_off - off) : IMT_CHUNK;
		ssize_t r = t->msg->read(t->msg->read_arg, off, chunk, want);

		if (r <= 0) {
			/* 0: the file is shorter than the blob says */
			rc = r < 0 ? -1 : 0;
			break;
		}
		off += (uint64_t)r;
		if (ds_feed(d, span_make(chunk, (size_t)r)) != 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ds_flush(d) != 0)
		rc = -1;
	cs_fini(&cs);
	xfree(&d);
	xfree(&chunk);
	return rc;
}

/* field_fn: called with each unfolded field; non-zero stops the scan
 * and is returned (-1: error) */
typedef int (*field_fn)(void *arg, struct span name, struct span value);

#define FIELD_MAX (64 * 1024)

static int
emit_field(struct buf *fb, field_fn fn, void *arg)
{
	struct span s = buf_view(fb), name, val;
	size_t colon;

	if (s.n == 0 || !span_find_byte(s, ':', &colon))
		return 0;
	name = span_make(s.p, colon);
	while (name.n > 0 && (name.p[name.n - 1] == ' ' ||
	    name.p[name.n - 1] == '\t'))
		name.n--;
	val = span_make(s.p + colon + 1, s.n - colon - 1);
	while (val.n > 0 && (val.p[0] == ' ' || val.p[0] == '\t')) {
		val.p++;
		val.n--;
	}
	while (val.n > 0 && (val.p[val.n - 1] == ' ' ||
	    val.p[val.n - 1] == '\t'))
		val.n--;
	return fn(arg, name, val);
}

/* the header at [off, end): unfolded fields to fn (RFC 5322 2.2.3);
 * a field longer than FIELD_MAX is cut there */
static int
scan_header(struct imt_msg *t, uint64_t off, uint64_t end, field_fn fn,
    void *arg)
{
	struct buf fb;
	uint8_t *chunk = xmalloc(IMT_CHUNK);
	int bol = 1, rc = 0;

	buf_init(&fb, 256, FIELD_MAX);
	while (off < end && rc == 0) {
		size_t want = end - off < IMT_CHUNK ? (size_t)(end - off) :
		    IMT_CHUNK, i;
		ssize_t r = t->msg->read(t->msg->read_arg, off, chunk, want);

		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		off += (uint64_t)r;
		for (i = 0; i < (size_t)r && rc == 0; i++) {
			uint8_t c = chunk[i];

			if (bol && (c == '\r' || c == '\n')) {
				off = end;	/* the blank line */
				break;
			}
			if (bol && c != ' ' && c != '\t') {
				rc = emit_field(&fb, fn, arg);
				buf_reset(&fb);
			}
			bol = c == '\n';
			if (c == '\r' || c == '\n')
				continue;	/* unfolding drops line ends */
			if (buf_add(&fb, &c, 1) != 0)
				continue;	/* cut */
		}
	}
	if (rc == 0)
		rc = emit_field(&fb, fn, arg);
	buf_fini(&fb);
	xfree(&chunk);
	return rc < 0 ? -1 : rc;
}

/* ---- the keys ---- */

struct hdr_search {
	const char *only;		/* NULL: every field (TEXT, BODY) */
	struct span only_s;
	struct finder *f;
	struct buf dec;
	int seen;			/* a field of that name exists */
};

static int
hdr_field(void *arg, struct span name, struct span value)
{
	struct hdr_search *h = arg;

	if (h->only != NULL && !(name.n == h->only_s.n &&
	    strncasecmp((const char *)name.p, (const char *)h->only_s.p,
	    name.n) == 0))
		return 0;
	h->seen = 1;
	buf_reset(&h->dec);
	if (h->only == NULL && (buf_addspan(&h->dec, name) != 0 ||
	    buf_addstr(&h->dec, ": ") != 0))
		return -1;
	if (rfc2047_decode(value, &h->dec) != 0)
		return -1;
	if (h->only == NULL && buf_addstr(&h->dec, "\n") != 0)
		return -1;
	if (finder_text(h->f, buf_view(&h->dec)) != 0)
		return -1;
	/* HEADER with "" matches a message that has the field at all */
	return h->f->found || (h->only != NULL && h->f->needle.n == 0);
}

static int
search_header(struct imt_msg *t, const struct msgcache_part *p,
    struct span only, struct finder *f, int *seen)
{
	struct hdr_search h;
	char name[256];
	int rc;

	memset(&h, 0, sizeof(h));
	h.f = f;
	if (only.p != NULL) {
		if (only.n >= sizeof(name))
			return 0;	/* no field name is that long */
		memcpy(name, only.p, only.n);
		name[only.n] = 0;
		h.only = name;
		h.only_s = only;
	}
	buf_init(&h.dec, 256, SIZE_MAX / 2);
	rc = scan_header(t, p->header_off, p->body_off, hdr_field, &h);
	buf_fini(&h.dec);
	if (seen != NULL)
		*seen = h.seen;
	return rc < 0 ? -1 : 0;
}

/* BODY (with_header 0) or TEXT (1): the text parts decoded, and the
 * headers of encapsulated messages; TEXT adds the top-level header */
static int
search_parts(struct imt_msg *t, struct finder *f, int with_header)
{
	uint32_t i, n = msgcache_n_parts(t->blob);
	struct span none = { NULL, 0 };

	for (i = 0; i < n && !f->found; i++) {
		struct msgcache_part p;

		if (msgcache_part(t->blob, i, &p) != 0)
			break;
		if (p.is_message && (i != 0 || with_header) &&
		    search_header(t, &p, none, f, NULL) != 0)
			return -1;
		if (p.n_children == 0 && span_eq(p.type, "text") &&
		    scan_body(t, &p, f) != 0)
			return -1;
	}
	return 0;
}

int
imt_addr_text(const struct msgcache_env *env, enum msgcache_field f,
    struct buf *out)
{
	struct msgcache_addr a;
	size_t i;

	for (i = 0; msgcache_addr(env, f, i, &a) == 0; i++) {
		if (i > 0 && buf_addstr(out, ", ") != 0)
			return -1;
		if (a.host_nil) {	/* group start or end */
			if (!a.mailbox_nil && (buf_addspan(out, a.mailbox) != 0
			    || buf_addstr(out, ":") != 0))
				return -1;
			if (a.mailbox_nil && buf_addstr(out, ";") != 0)
				return -1;
			continue;
		}
		if (!a.name_nil && a.name.n > 0 && (rfc2047_decode(a.name,
		    out) != 0 || buf_addstr(out, " ") != 0))
			return -1;
		if (buf_addstr(out, "<") != 0 || buf_addspan(out,
		    a.mailbox) != 0)
			return -1;
		if (a.host.n > 0 && (buf_addstr(out, "@") != 0 ||
		    buf_addspan(out, a.host) != 0))
			return -1;
		if (buf_addstr(out, ">") != 0)
			return -1;
	}
	return 0;
}

/* FROM TO CC BCC SUBJECT from the envelope */
static int
env_key(struct imt_msg *t, const struct imap_snode *n, struct finder *f)
{
	const struct msgcache_env *env;
	struct buf text;
	int rc = imt_msg_env(t, &env);

	if (rc <= 0)
		return rc;
	buf_init(&text, 256, SIZE_MAX / 2);
	switch (n->key) {
	case IMAP_SK_SUBJECT:
		rc = env->subject_nil ? 0 : rfc2047_decode(env->subject,
		    &text);
		break;
	case IMAP_SK_FROM:
		rc = imt_addr_text(env, MSGCACHE_FROM, &text);
		break;
	case IMAP_SK_TO:
		rc = imt_addr_text(env, MSGCACHE_TO, &text);
		break;
	case IMAP_SK_CC:
		rc = imt_addr_text(env, MSGCACHE_CC, &text);
		break;
	default:
		rc = imt_addr_text(env, MSGCACHE_BCC, &text);
		break;
	}
	if (rc == 0)
		rc = finder_text(f, buf_view(&text));
	buf_fini(&text);
	return rc < 0 ? -1 : f->found;
}

/*
 * HEADER of a field the envelope holds raw (Subject, Date, Message-ID,
 * In-Reply-To) is answered from the blob without opening the file, so
 * that "HEADER Message-ID <...>" on a big mailbox reads no file.  An
 * empty value (the blob drops a value when its string space is full)
 * or one near MSGCACHE_MAX_HEADER (cut) sends it to the file.  -2: ask
 * the file.  XXX: the blob keeps only the first of a repeated field, so
 * a second Subject: (malformed, RFC 5322 3.6 allows one) is not
 * searched.
 */
static int
header_from_env(struct imt_msg *t, const struct imap_snode *n,
    struct finder *f)
{
	const struct msgcache_env *env;
	struct span v;
	struct buf dec;
	int nil, rc;

	if (span_eq_ci(n->field, "Subject"))
		rc = 0;
	else if (span_eq_ci(n->field, "Date"))
		rc = 1;
	else if (span_eq_ci(n->field, "Message-ID"))
		rc = 2;
	else if (span_eq_ci(n->field, "In-Reply-To"))
		rc = 3;
	else
		return -2;
	if (imt_msg_env(t, &env) != 1)
		return -2;
	v = rc == 0 ? env->subject : rc == 1 ? env->date : rc == 2 ?
	    env->message_id : env->in_reply_to;
	nil = rc == 0 ? env->subject_nil : rc == 1 ? env->date_nil :
	    rc == 2 ? env->message_id_nil : env->in_reply_to_nil;
	if (nil)
		return 0;	/* no such field */
	if (v.n == 0 || v.n + 1024 >= MSGCACHE_MAX_HEADER)
		return -2;
	buf_init(&dec, v.n + 16, SIZE_MAX / 2);
	rc = rfc2047_decode(v, &dec) != 0 ? -1 : finder_text(f,
	    buf_view(&dec));
	buf_fini(&dec);
	return rc < 0 ? -1 : f->found;
}

int
imt_text_key(struct imt_msg *t, const struct imap_snode *n)
{
	struct msgcache_part top;
	struct finder f;
	struct buf needle;
	int rc, seen = 0;

	if (n->str.n == 0 && n->key != IMAP_SK_HEADER)
		return 1;	/* the empty string is in every text */
	if (imt_msg_blob(t) != 0)
		return -1;
	buf_init(&needle, n->str.n + 16, SIZE_MAX / 2);
	if (imt_fold(n->str, &needle) != 0) {
		buf_fini(&needle);
		return -1;
	}
	finder_init(&f, buf_view(&needle));
	switch (n->key) {
	case IMAP_SK_HEADER:
		if ((rc = header_from_env(t, n, &f)) != -2)
			break;
		rc = msgcache_part(t->blob, 0, &top) != 0 ? -1 :
		    search_header(t, &top, n->field.p != NULL ? n->field :
		    span_make("", 0), &f, &seen);
		if (rc == 0)
			rc = seen && (f.found || needle.len == 0);
		break;
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		rc = search_parts(t, &f, n->key == IMAP_SK_TEXT);
		if (rc == 0)
			rc = f.found;
		break;
	default:
		rc = env_key(t, n, &f);
		break;
	}
	finder_fini(&f);
	buf_fini(&needle);
	return rc;
}

/* ---- one field's raw value (References for THREAD) ---- */

struct first_field {
	struct span name;
	struct buf *out;
	int found;
};

static int
first_field_fn(void *arg, struct span name, struct span value)
{
	struct first_field *ff = arg;

	if (name.n != ff->name.n || strncasecmp((const char *)name.p,
	    (const char *)ff->name.p, name.n) != 0)
		return 0;
	ff->found = 1;
	return buf_addspan(ff->out, value) != 0 ? -1 : 1;
}

int
imt_read_header_field(struct imt_msg *t, const char *name, struct buf *out)
{
	struct first_field ff = { span_cstr(name), out, 0 };
	struct msgcache_part top;

	if (imt_msg_blob(t) != 0 || msgcache_part(t->blob, 0, &top) != 0)
		return -1;
	if (scan_header(t, top.header_off, top.body_off, first_field_fn,
	    &ff) < 0)
		return -1;
	return ff.found;
}
