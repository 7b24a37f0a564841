/* RFC 2047 encoded-word decoding and charset conversion to UTF-8. */
/* SPDX-License-Identifier: ISC */
#include "common/rfc2047.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#define CHARSET_MAX 64

/* Windows-1252 0x80..0x9F; the five holes map to the C1 controls as the
 * WHATWG encoding standard does. */
static const uint16_t cp1252_hi[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

enum cs { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_LATIN1, CS_LATIN9, CS_CP1252 };

static int
name_is(struct span s, const char *const *names)
{
	for (; *names != NULL; names++)
		if (span_eq_ci(s, *names))
			return 1;
	return 0;
}

static enum cs
charset_of(struct span s)
{
	static const char *const utf8[] = { "utf-8", "utf8", NULL };
	static const char *const ascii[] = { "us-ascii", "ascii",
	    "ansi_x3.4-1968", NULL };
	static const char *const l1[] = { "iso-8859-1", "iso8859-1",
	    "iso_8859-1", "latin1", "l1", NULL };
	static const char *const l9[] = { "iso-8859-15", "iso8859-15",
	    "iso_8859-15", "latin-9", "latin9", NULL };
	static const char *const w[] = { "windows-1252", "cp1252", NULL };

	if (name_is(s, utf8))
		return CS_UTF8;
	if (name_is(s, ascii))
		return CS_ASCII;
	if (name_is(s, l1))
		return CS_LATIN1;
	if (name_is(s, l9))
		return CS_LATIN9;
	if (name_is(s, w))
		return CS_CP1252;
	return CS_UNKNOWN;
}

int
rfc2047_utf8_valid(struct span s)
{
	size_t i = 0;

	while (i < s.n) {
		uint8_t c = s.p[i];
		uint32_t cp;
		size_t k, len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			return 0;
		if (s.n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s.p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s.p[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xC0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	o[0] = (uint8_t)(0xE0 | cp >> 12);
	o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	o[2] = (uint8_t)(0x80 | (cp & 0x3F));
	return 3;
}

static uint32_t
latin9(uint8_t c)
{
	switch (c) {
	case 0xA4: return 0x20AC;
	case 0xA6: return 0x0160;
	case 0xA8: return 0x0161;
	case 0xB4: return 0x017D;
	case 0xB8: return 0x017E;
	case 0xBC: return 0x0152;
	case 0xBD: return 0x0153;
	case 0xBE: return 0x0178;
	default: return c;
	}
}

/* One byte per code point, each below U+FFFF: at most 3 bytes out. */
static int
single_byte(enum cs cs, struct span in, struct buf *out)
{
	uint8_t *o = buf_reserve(out, in.n * 3);
	size_t i, n = 0;

	if (o == NULL)
		return -1;
	for (i = 0; i < in.n; i++) {
		uint8_t c = in.p[i];
		uint32_t cp = c;

		if (cs == CS_LATIN9)
			cp = latin9(c);
		else if (cs == CS_CP1252 && c >= 0x80 && c < 0xA0)
			cp = cp1252_hi[c - 0x80];
		n += put_utf8(o + n, cp);
	}
	buf_commit(out, n);
	return 0;
}

static void
truncate_to(struct buf *b, size_t len)
{
	b->len = len;
	b->data[len] = '\0';
}

static int
via_iconv(struct span charset, struct span in, struct buf *out)
{
	char name[CHARSET_MAX + 1];
	size_t i, start = out->len;
	iconv_t cd;
	char *ip = (char *)(uintptr_t)in.p;
	size_t il = in.n;
	int rc = 0;

	if (charset.n == 0 || charset.n > CHARSET_MAX)
		return -1;
	/* SECURITY: the name comes from the message and iconv_open uses it
	 * to find a module file: only the characters charset names use. */
	for (i = 0; i < charset.n; i++) {
		uint8_t c = charset.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == ':'))
			return -1;
		name[i] = (char)c;
	}
	name[charset.n] = '\0';
	if ((cd = iconv_open("UTF-8", name)) == (iconv_t)-1)
		return -1;
	for (;;) {
		size_t room = il * 4 + 16, ol = room, r;
		uint8_t *o = buf_reserve(out, room);
		char *op = (char *)o;

		if (o == NULL) {
			rc = -1;
			break;
		}
		r = il ? iconv(cd, &ip, &il, &op, &ol) :
		    iconv(cd, NULL, NULL, &op, &ol);	/* shift state */
		buf_commit(out, room - ol);
		if (r == (size_t)-1 && errno == E2BIG)
			continue;
		if (r == (size_t)-1) {
			rc = -1;
			break;
		}
		if (il == 0 && ip == NULL)
			break;
		if (il == 0)
			ip = NULL;
	}
	iconv_close(cd);
	if (rc < 0)
		truncate_to(out, start);
	return rc;
}

int
rfc2047_to_utf8(struct span charset, struct span in, struct buf *out)
{
	enum cs cs = charset_of(charset);
	size_t i;

	switch (cs) {
	case CS_UTF8:
		if (!rfc2047_utf8_valid(in))
			return -1;
		return buf_addspan(out, in);
	case CS_ASCII:
		for (i = 0; i < in.n; i++)
			if (in.p[i] >= 0x80)
				return -1;
		return buf_addspan(out, in);
	case CS_LATIN1:
	case CS_LATIN9:
	case CS_CP1252:
		return single_byte(cs, in, out);
	default:
		return via_iconv(charset, in, out);
	}
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
b64val(uint8_t c)
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

/* Decode the text of one word, appending raw charset bytes to out. */
static int
decode_text(uint8_t enc, struct span t, struct buf *out)
{
	uint8_t *o = buf_reserve(out, t.n);
	size_t i, n = 0;

	if (o == NULL)
		return -1;
	if (enc == 'q' || enc == 'Q') {
		for (i = 0; i < t.n; i++) {
			if (t.p[i] == '_') {
				o[n++] = ' ';
			} else if (t.p[i] == '=') {
				int h, l;

				if (t.n - i < 3)
					return -1;
				h = hexval(t.p[i + 1]);
				l = hexval(t.p[i + 2]);
				if (h < 0 || l < 0)
					return -1;
				o[n++] = (uint8_t)(h << 4 | l);
				i += 2;
			} else {
				o[n++] = t.p[i];
			}
		}
	} else {
		uint32_t acc = 0;
		int bits = 0, pad = 0;

		for (i = 0; i < t.n; i++) {
			int v;

			if (t.p[i] == '=') {
				pad = 1;
				continue;
			}
			if (pad || (v = b64val(t.p[i])) < 0)
				return -1;
			acc = acc << 6 | (uint32_t)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				o[n++] = (uint8_t)(acc >> bits);
			}
		}
		if (bits >= 6)	/* one lone sextet: not base64 */
			return -1;
	}
	buf_commit(out, n);
	return 0;
}

struct word {
	struct span charset;	/* without *language */
	uint8_t enc;
	struct span text;
	size_t end;		/* offset just past "?=" */
};

/* parse_word: an encoded word starting at in.p[i] ("=?"), 1 if found. */
static int
parse_word(struct span in, size_t i, struct word *w)
{
	size_t j = i + 2, cs, k;

	cs = j;
	while (j < in.n && in.p[j] != '?' && in.p[j] > ' ' && in.p[j] < 0x7f)
		j++;
	if (j == cs || j >= in.n || in.p[j] != '?' || j - cs > CHARSET_MAX)
		return 0;
	w->charset = span_make(in.p + cs, j - cs);
	for (k = 0; k < w->charset.n; k++)
		if (w->charset.p[k] == '*') {
			w->charset.n = k;
			break;
		}
	if (w->charset.n == 0 || j + 3 > in.n || in.p[j + 2] != '?')
		return 0;
	w->enc = in.p[j + 1];
	if (w->enc != 'b' && w->enc != 'B' && w->enc != 'q' && w->enc != 'Q')
		return 0;
	j += 3;
	k = j;
	while (j < in.n && in.p[j] != '?' && in.p[j] > ' ' && in.p[j] < 0x7f)
		j++;
	if (j + 1 >= in.n || in.p[j] != '?' || in.p[j + 1] != '=')
		return 0;
	w->text = span_make(in.p + k, j - k);
	w->end = j + 2;
	return 1;
}

struct run {
	struct span charset;
	size_t from, to;	/* original text of the words joined */
	int active;
};

static int
flush_run(struct span in, struct run *r, struct buf *raw, struct buf *out)
{
	int rc = 0;

	if (!r->active)
		return 0;
	if (rfc2047_to_utf8(r->charset, buf_view(raw), out) < 0)
		rc = buf_add(out, in.p + r->from, r->to - r->from);
	r->active = 0;
	buf_reset(raw);
	return rc;
}

static int
only_space(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' &&
		    p[i] != '\n')
			return 0;
	return 1;
}

static int
same_charset(struct span a, struct span b)
{
	return a.n == b.n &&
	    strncasecmp((const char *)a.p, (const char *)b.p, a.n) == 0;
}

int
rfc2047_decode(struct span in, struct buf *out)
{
	struct buf raw, word;
	struct run r = { { NULL, 0 }, 0, 0, 0 };
	size_t i = 0, lit = 0;
	int rc = 0;

	buf_init(&raw, 64, in.n + 1);
	buf_init(&word, 64, in.n + 1);
	while (rc == 0 && i + 1 < in.n) {
		struct word w;
		int adjacent;

		if (in.p[i] != '=' || in.p[i + 1] != '?' ||
		    !parse_word(in, i, &w)) {
			i++;
			continue;
		}
		adjacent = r.active && only_space(in.p + lit, i - lit);
		buf_reset(&word);
		if (decode_text(w.enc, w.text, &word) < 0) {
			/* kept as it is, with the space before it */
			rc = flush_run(in, &r, &raw, out);
			if (rc == 0)
				rc = buf_add(out, in.p + lit, w.end - lit);
		} else if (adjacent && same_charset(r.charset, w.charset)) {
			rc = buf_addspan(&raw, buf_view(&word));
			r.to = w.end;
		} else {
			rc = flush_run(in, &r, &raw, out);
			if (rc == 0 && !adjacent)
				rc = buf_add(out, in.p + lit, i - lit);
			if (rc == 0)
				rc = buf_addspan(&raw, buf_view(&word));
			r.active = 1;
			r.charset = w.charset;
			r.from = i;
			r.to = w.end;
		}
		lit = i = w.end;
	}
	if (rc == 0)
		rc = flush_run(in, &r, &raw, out);
	if (rc == 0)
		rc = buf_add(out, in.p + lit, in.n - lit);
	buf_fini(&word);
	buf_fini(&raw);
	return rc;
}
