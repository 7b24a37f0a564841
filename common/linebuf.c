/* Incremental bounded line splitter for the line-based protocols. */
/* SPDX-License-Identifier: ISC */
#include "common/linebuf.h"

#include <string.h>

void
linebuf_init(struct linebuf *lb, size_t max)
{
	lb->max = max;
	linebuf_reset(lb);
}

void
linebuf_reset(struct linebuf *lb)
{
	lb->scanned = 0;
	lb->discarding = 0;
	lb->prev_cr = 0;
}

static unsigned
linebuf_flags(struct span s)
{
	unsigned flags = 0;

	if (span_has_nul(s))
		flags |= LINEBUF_F_NUL;
	/* the content never ends with the CR of a CRLF: that was cut off */
	if (s.n && memchr(s.p, '\r', s.n) != NULL)
		flags |= LINEBUF_F_BARE_CR;
	return flags;
}

/* Skipping an overlong line: drop everything through the next LF. */
static enum parse_rc
linebuf_discard(struct linebuf *lb, struct span in, size_t *used_out,
    struct linebuf_line *line_out)
{
	size_t off;

	if (!span_find_byte(in, '\n', &off)) {
		if (in.n)
			lb->prev_cr = in.p[in.n - 1] == '\r';
		*used_out = in.n;
		return PARSE_MORE;
	}
	line_out->line = span_make(in.p, 0);
	line_out->flags = 0;
	if (off > 0)
		line_out->end = in.p[off - 1] == '\r' ?
		    LINEBUF_END_CRLF : LINEBUF_END_LF;
	else
		line_out->end = lb->prev_cr ? LINEBUF_END_CRLF : LINEBUF_END_LF;
	*used_out = off + 1;
	linebuf_reset(lb);
	return PARSE_ERR;
}

enum parse_rc
linebuf_feed(struct linebuf *lb, struct span in, size_t *used_out,
    struct linebuf_line *line_out)
{
	size_t off, len;

	*used_out = 0;
	if (lb->discarding)
		return linebuf_discard(lb, in, used_out, line_out);
	if (lb->scanned > in.n)
		lb->scanned = 0;	/* caller broke the contract; rescan */
	if (!span_find_byte(span_make(in.p + lb->scanned, in.n - lb->scanned),
	    '\n', &off)) {
		lb->scanned = in.n;
		/*
		 * max content bytes plus the CR of a CRLF may still make a
		 * good line; anything more cannot.
		 */
		if (in.n > lb->max + 1 ||
		    (in.n == lb->max + 1 && in.p[in.n - 1] != '\r')) {
			lb->discarding = 1;
			lb->prev_cr = in.p[in.n - 1] == '\r';
			*used_out = in.n;
		}
		return PARSE_MORE;
	}
	off += lb->scanned;
	lb->scanned = 0;
	len = off;
	line_out->end = LINEBUF_END_LF;
	if (len > 0 && in.p[len - 1] == '\r') {
		len--;
		line_out->end = LINEBUF_END_CRLF;
	}
	*used_out = off + 1;
	if (len > lb->max) {
		line_out->line = span_make(in.p, 0);
		line_out->flags = 0;
		return PARSE_ERR;
	}
	line_out->line = span_make(in.p, len);
	line_out->flags = linebuf_flags(line_out->line);
	return PARSE_OK;
}
