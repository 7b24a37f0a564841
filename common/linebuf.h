/* Incremental bounded line splitter: pure, no I/O, no allocation. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_LINEBUF_H
#define LB_LINEBUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

/* How a line ended. */
enum linebuf_end {
	LINEBUF_END_CRLF = 0,	/* "\r\n" */
	LINEBUF_END_LF,		/* a bare "\n" */
};

/* Flags about a line's content (the terminator is not part of it). */
#define LINEBUF_F_BARE_CR	0x01	/* a CR not followed by LF */
#define LINEBUF_F_NUL		0x02	/* a NUL byte */

struct linebuf_line {
	struct span line;	/* borrowed from the input; no terminator */
	enum linebuf_end end;
	unsigned flags;		/* LINEBUF_F_* */
};

/*
 * Splitter state.  max is the longest line accepted, not counting its
 * terminator.  The caller keeps the unconsumed input and must be able to
 * hold at least max + 2 bytes of it, or the splitter cannot make progress.
 */
struct linebuf {
	size_t max;
	size_t scanned;		/* bytes of the pending input with no LF */
	int discarding;		/* inside an overlong line */
	int prev_cr;		/* while discarding: last byte was a CR */
};

void linebuf_init(struct linebuf *lb, size_t max);
/* linebuf_reset: forget any partial or overlong line (e.g. after STARTTLS). */
void linebuf_reset(struct linebuf *lb);

/*
 * linebuf_feed: look for the next line at the start of in, which must begin
 * with the first byte not yet consumed (after each call the caller drops
 * exactly *used_out bytes from the front of its input).
 *
 * PARSE_OK: *line_out is the next line (pointing into in); *used_out counts
 *   the line and its terminator.
 * PARSE_MORE: no complete line yet.  *used_out is 0, except while an
 *   overlong line is being skipped: then it is the bytes thrown away.
 * PARSE_ERR: a line longer than max ended here; it was thrown away in full
 *   (*used_out includes its last part and terminator), line_out->line is
 *   empty and line_out->end tells how it ended.  Reply 500/BAD and go on.
 *   This is reported once per overlong line, when its LF arrives, so the
 *   result does not depend on how the input was split.
 *
 * Never returns PARSE_FATAL.  The results are the same however the input
 * is split across calls.
 */
enum parse_rc linebuf_feed(struct linebuf *lb, struct span in,
    size_t *used_out, struct linebuf_line *line_out)
    __attribute__((warn_unused_result));

#endif
