/* RETR and TOP output: dot-stuffing, CRLF line ends, the TOP line count; pure. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_POP3_OUT_H
#define LB_POP3_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * A message file is streamed through pop3_out_feed in chunks of any
 * size.  Every line that starts with '.' gets one more (RFC 1939 3), a
 * bare LF becomes CRLF (files other programs dropped into the Maildir
 * may have LF line ends; ours have CRLF already), and with a line limit
 * (TOP) the output stops after the header, the blank line and that many
 * body lines.  pop3_out_finish ends a last line that had no line end.
 * The caller then sends ".\r\n".
 */
struct pop3_out {
	int bol;		/* at the beginning of a line */
	int prev_cr;		/* the last byte written was CR */
	size_t line_len;	/* bytes of the current line so far */
	int in_body;		/* the header's blank line has passed */
	int limited;		/* TOP: count body lines */
	uint32_t lines_left;	/* TOP: body lines still to send */
	int done;		/* TOP: enough was sent; ignore the rest */
};

/* pop3_out_init: limited 0 for RETR, 1 for TOP with top_lines lines. */
void pop3_out_init(struct pop3_out *o, int limited, uint32_t top_lines);

/*
 * pop3_out_feed: transform in into out, which must have room for
 * pop3_out_max(in.n) bytes.  Returns the bytes written.  Once o->done is
 * set, the rest of in (and of the file) is ignored.
 */
size_t pop3_out_feed(struct pop3_out *o, struct span in, uint8_t *out);
/* pop3_out_max: the most output n input bytes can make. */
static inline size_t
pop3_out_max(size_t n)
{
	return 2 * n + 2;
}
/* pop3_out_finish: CRLF if the last line had no end (room: 2 bytes);
 * returns the bytes written. */
size_t pop3_out_finish(struct pop3_out *o, uint8_t *out);

#endif
