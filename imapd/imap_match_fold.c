/* SEARCH text matching: case folding, and decoded text parts streamed from the message file into a bounded substring window. */
/* SPDX-License-Identifier: ISC */
#include <string.h>

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

void
imt_finder_init(struct imt_finder *f, struct span needle)
{
	memset(f, 0, sizeof(*f));
	f->needle = needle;
	f->wcap = needle.n + IMT_CHUNK;
	f->win = xmalloc(f->wcap);
	buf_init(&f->work, 1024, SIZE_MAX / 2);
	buf_init(&f->folded, 1024, SIZE_MAX / 2);
}

void
imt_finder_fini(struct imt_finder *f)
{
	xfree(&f->win);
	buf_fini(&f->work);
	buf_fini(&f->folded);
}

static void
finder_folded(struct imt_finder *f, struct span s)
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
int
imt_finder_feed(struct imt_finder *f, struct span s)
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
int
imt_finder_flush(struct imt_finder *f)
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
int
imt_finder_text(struct imt_finder *f, struct span s)
{
	if (imt_finder_feed(f, s) != 0)
		return -1;
	return imt_finder_flush(f);
}

/* ---- charset conversion of a streamed body ---- */

#define CS_LINE_MAX 4096

struct cstream {
	struct imt_finder *f;
	int convert;
	struct span charset;
	struct buf line, conv;
};

static void
cs_init(struct cstream *cs, struct imt_finder *f, struct span charset)
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
		return imt_finder_feed(cs->f, buf_view(&cs->conv));
	return imt_finder_feed(cs->f, s);
}

/*
 * Text in another charset is converted a line at a time, so that a
 * multi-byte character is never split (ISO-2022-JP and the like shift
 * back at each line end).  XXX: a line longer than CS_LINE_MAX is cut
 * there, which can split a multi-byte character of a stateful or
 * double-byte charset; single-byte charsets are unaffected.  XXX: text
 * in UTF-16 or UTF-32 (rare in mail, which must be 7- or 8-bit text)
 * is cut at 0x0A bytes inside characters and then searched raw.
 */
static int
cs_feed(struct cstream *cs, struct span s)
{
	size_t i = 0;

	if (!cs->convert)
		return imt_finder_feed(cs->f, s);
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
	return imt_finder_flush(cs->f);
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
			if (c == '=') {
				/* padding ends a quantum: a part made of
				 * several base64 runs stays aligned */
				d->bits = 0;
				d->nbits = 0;
				continue;
			}
			if ((v = b64_val(c)) < 0)
				continue;	/* line ends, junk */
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
int
imt_scan_body(struct imt_msg *t, const struct msgcache_part *p,
    struct imt_finder *f)
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
