/* Byte spans (borrowed views) and growable byte buffers with a hard cap. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_BUF_H
#define LB_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed view of bytes; may contain NUL; not NUL-terminated. */
struct span {
	const uint8_t *p;
	size_t n;
};

/*
 * A growable buffer.  len bytes of data are valid; data[len] is always
 * a NUL (so a buffer of text can be handed to a C API) but that byte is not
 * counted.  max is a hard cap on len: buf_add past it fails and leaves the
 * buffer unchanged.
 */
struct buf {
	uint8_t *data;
	size_t len, cap, max;
};

void buf_init(struct buf *b, size_t initial, size_t max);
void buf_fini(struct buf *b);
/* buf_add: append n bytes; 0 on success, -1 if len would pass max. */
int buf_add(struct buf *b, const void *p, size_t n)
    __attribute__((warn_unused_result));
int buf_addstr(struct buf *b, const char *s)
    __attribute__((warn_unused_result));
int buf_addspan(struct buf *b, struct span s)
    __attribute__((warn_unused_result));
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
/* buf_addu: v in decimal (hot paths: no format string to parse). */
int buf_addu(struct buf *b, uint64_t v)
    __attribute__((warn_unused_result));
/* buf_shrink: give back the room past max(len, keep) (a buffer that
 * grew for one big item and then waits long for the next). */
void buf_shrink(struct buf *b, size_t keep);
/* buf_consume: drop n bytes from the front (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* buf_reserve: make room for n more bytes; returns a pointer to the tail
 * (to be committed with buf_commit) or NULL if max would be passed. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
struct span buf_view(const struct buf *b);
/* buf_cstr: the contents as a C string (valid until the next change). */
const char *buf_cstr(const struct buf *b);

static inline struct span
span_make(const void *p, size_t n)
{
	struct span s = { (const uint8_t *)p, n };
	return s;
}

struct span span_cstr(const char *s);
/* span_find_crlf: 1 and the offset of the CR if "\r\n" is in s, else 0. */
int span_find_crlf(struct span s, size_t *off_out);
/* span_find_byte: 1 and the offset of the first c, else 0. */
int span_find_byte(struct span s, uint8_t c, size_t *off_out);
/* span_eq_ci: equal ignoring ASCII case. */
int span_eq_ci(struct span a, const char *b);
int span_eq(struct span a, const char *b);
/* span_dup: a fresh NUL-terminated heap copy (xmalloc). */
char *span_dup(struct span s);
/* span_has_nul: 1 if any byte is NUL. */
int span_has_nul(struct span s);

#endif
