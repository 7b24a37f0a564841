/* Modified UTF-7 mailbox names (RFC 9051 Appendix A.1) to and from UTF-8. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <string.h>

#include "imapd/imap_mutf7.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* One code point from UTF-8 at *i; -1 if it is not well-formed (RFC
 * 3629 4: no overlong forms, no surrogates, nothing past U+10FFFF). */
static int32_t
utf8_next(struct span in, size_t *i)
{
	const uint8_t *p = in.p + *i;
	size_t left = in.n - *i, len, k;
	uint32_t c, min;

	if (p[0] < 0x80) {
		len = 1;
		c = p[0];
		min = 0;
	} else if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else
		return -1;
	if (len > left)
		return -1;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (p[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
	    c == 0)
		return -1;
	*i += len;
	return (int32_t)c;
}

int
imap_utf8_valid(struct span in)
{
	size_t i = 0;

	while (i < in.n)
		if (utf8_next(in, &i) < 0)
			return 0;
	return 1;
}

static int
printable(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* The bits of a base64 run: up to 16 + 6 pending. */
struct b64_state {
	uint32_t bits;
	unsigned nbits;
};

static int
b64_put16(struct buf *out, struct b64_state *st, uint32_t unit)
{
	st->bits = st->bits << 16 | unit;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		if (buf_add(out, &b64[(st->bits >> st->nbits) & 0x3f], 1))
			return -1;
	}
	st->bits &= (1u << st->nbits) - 1;
	return 0;
}

/* Close a base64 run: the last bits padded with zeros, then "-". */
static int
b64_close(struct buf *out, struct b64_state *st)
{
	if (st->nbits > 0 &&
	    buf_add(out, &b64[(st->bits << (6 - st->nbits)) & 0x3f], 1))
		return -1;
	st->bits = 0;
	st->nbits = 0;
	return buf_add(out, "-", 1);
}

int
imap_mutf7_encode(struct span in, struct buf *out)
{
	struct b64_state st = { 0, 0 };
	size_t i = 0, len0 = out->len;
	int in_b64 = 0;
	int32_t c;

	while (i < in.n) {
		if ((c = utf8_next(in, &i)) < 0)
			goto fail;
		if (printable((uint32_t)c)) {
			if (in_b64 && b64_close(out, &st))
				goto fail;
			in_b64 = 0;
			if (buf_add(out, c == '&' ? (const void *)"&-" :
			    (const void *)&in.p[i - 1], c == '&' ? 2 : 1))
				goto fail;
			continue;
		}
		if (!in_b64 && buf_add(out, "&", 1))
			goto fail;
		in_b64 = 1;
		if (c >= 0x10000) {
			/* UTF-16: a surrogate pair */
			c -= 0x10000;
			if (b64_put16(out, &st, 0xd800 | (uint32_t)c >> 10) ||
			    b64_put16(out, &st, 0xdc00 | ((uint32_t)c & 0x3ff)))
				goto fail;
		} else if (b64_put16(out, &st, (uint32_t)c))
			goto fail;
	}
	if (in_b64 && b64_close(out, &st))
		goto fail;
	return 0;
fail:
	out->len = len0;
	out->data[len0] = '\0';
	return -1;
}

static int
utf8_put(struct buf *out, uint32_t c)
{
	uint8_t u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = (uint8_t)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (uint8_t)(0xc0 | c >> 6);
		u[1] = (uint8_t)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (uint8_t)(0xe0 | c >> 12);
		u[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		u[2] = (uint8_t)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (uint8_t)(0xf0 | c >> 18);
		u[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
		u[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		u[3] = (uint8_t)(0x80 | (c & 0x3f));
		n = 4;
	}
	return buf_add(out, u, n);
}

static int
b64_val(uint8_t ch)
{
	const char *p;

	if (ch == '\0' || (p = strchr(b64, ch)) == NULL)
		return -1;
	return (int)(p - b64);
}

/* One base64 run from in.p[*i] (after "&") up to and including "-":
 * 0, or -1 if it is not what A.1 allows. */
static int
decode_run(struct span in, size_t *i, struct buf *out)
{
	uint32_t bits = 0, hi = 0, u;
	unsigned nbits = 0, units = 0;
	int v;

	for (; *i < in.n && in.p[*i] != '-'; (*i)++) {
		if ((v = b64_val(in.p[*i])) < 0)
			return -1;
		bits = bits << 6 | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = bits >> nbits & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (hi != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			u = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
			continue;
		} else if (u >= 0xdc00 && u <= 0xdfff)
			return -1;
		/* printable US-ASCII must stand for itself; no NUL */
		if (u == 0 || printable(u) || utf8_put(out, u))
			return -1;
	}
	/* closed by "-", no half pair, the padding short and zero */
	if (*i == in.n || units == 0 || hi != 0 || nbits >= 6 || bits != 0)
		return -1;
	(*i)++;
	return 0;
}

int
imap_mutf7_decode(struct span in, struct buf *out)
{
	size_t i = 0, len0 = out->len;
	int after_run = 0;

	while (i < in.n) {
		uint8_t ch = in.p[i];

		if (!printable(ch))
			goto fail;
		if (ch != '&') {
			if (buf_add(out, &ch, 1))
				goto fail;
			i++;
			after_run = 0;
			continue;
		}
		if (i + 1 < in.n && in.p[i + 1] == '-') {
			if (buf_add(out, "&", 1))
				goto fail;
			i += 2;
			after_run = 0;
			continue;
		}
		/* "-&" right after a run: two runs that should be one */
		if (after_run)
			goto fail;
		i++;
		if (decode_run(in, &i, out) != 0)
			goto fail;
		after_run = 1;
	}
	return 0;
fail:
	out->len = len0;
	if (out->data != NULL)
		out->data[len0] = '\0';
	return -1;
}
