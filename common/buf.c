/* Growable capped buffers and byte-span helpers. */
/* SPDX-License-Identifier: ISC */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xmem.h"

void
buf_init(struct buf *b, size_t initial, size_t max)
{
	b->cap = initial ? initial : 64;
	b->data = xmalloc(b->cap + 1);
	b->data[0] = '\0';
	b->len = 0;
	b->max = max;
}

void
buf_fini(struct buf *b)
{
	xfree(&b->data);
	b->len = b->cap = 0;
}

uint8_t *
buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (n > b->max || b->len > b->max - n)
		return NULL;
	need = b->len + n;
	if (need > b->cap) {
		size_t ncap = b->cap;

		while (ncap < need)
			ncap = ncap > b->max / 2 ? b->max : ncap * 2;
		b->data = xrealloc(b->data, ncap + 1);
		b->cap = ncap;
	}
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	BUG_ON(b->len + n > b->cap);
	b->len += n;
	b->data[b->len] = '\0';
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	uint8_t *t = buf_reserve(b, n);

	if (t == NULL)
		return -1;
	if (n)
		memcpy(t, p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addspan(struct buf *b, struct span s)
{
	return buf_add(b, s.p, s.n);
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	uint8_t *t;
	size_t room = b->cap - b->len;
	int n;

	/* one pass when it fits the room there is (data has cap + 1
	 * bytes: one past cap for the NUL vsnprintf writes) */
	va_start(ap, fmt);
	if (b->data != NULL)
		n = vsnprintf((char *)b->data + b->len, room + 1, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n >= 0 && b->data != NULL && (size_t)n <= room && (size_t)n <=
	    b->max - b->len) {
		buf_commit(b, (size_t)n);
		return 0;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';	/* the first pass is not kept */
	if (n < 0 || (t = buf_reserve(b, (size_t)n)) == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)t, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}

int
buf_addu(struct buf *b, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return buf_add(b, d + i, sizeof(d) - i);
}

void
buf_shrink(struct buf *b, size_t keep)
{
	if (keep < b->len)
		keep = b->len;
	if (keep == 0)
		keep = 1;	/* buf_reserve doubles cap: never 0 */
	if (b->data == NULL || b->cap <= keep)
		return;
	b->data = xrealloc(b->data, keep + 1);
	b->cap = keep;
}

void
buf_consume(struct buf *b, size_t n)
{
	BUG_ON(n > b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

struct span
buf_view(const struct buf *b)
{
	return span_make(b->data, b->len);
}

const char *
buf_cstr(const struct buf *b)
{
	return (const char *)b->data;
}

struct span
span_cstr(const char *s)
{
	return span_make(s, strlen(s));
}

int
span_find_crlf(struct span s, size_t *off_out)
{
	size_t i;

	for (i = 0; i + 1 < s.n; i++) {
		const uint8_t *cr = memchr(s.p + i, '\r', s.n - 1 - i);

		if (cr == NULL)
			return 0;
		i = (size_t)(cr - s.p);
		if (s.p[i + 1] == '\n') {
			*off_out = i;
			return 1;
		}
	}
	return 0;
}

int
span_find_byte(struct span s, uint8_t c, size_t *off_out)
{
	const uint8_t *q = s.n ? memchr(s.p, c, s.n) : NULL;

	if (q == NULL)
		return 0;
	*off_out = (size_t)(q - s.p);
	return 1;
}

int
span_eq_ci(struct span a, const char *b)
{
	size_t n = strlen(b);

	return a.n == n && (n == 0 || strncasecmp((const char *)a.p, b, n) == 0);
}

int
span_eq(struct span a, const char *b)
{
	size_t n = strlen(b);

	return a.n == n && (n == 0 || memcmp(a.p, b, n) == 0);
}

char *
span_dup(struct span s)
{
	return xstrndup((const char *)s.p, s.n);
}

int
span_has_nul(struct span s)
{
	return s.n && memchr(s.p, '\0', s.n) != NULL;
}
