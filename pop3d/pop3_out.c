/* RETR and TOP output transform: dot-stuffing, LF to CRLF, TOP's limit. */
/* SPDX-License-Identifier: ISC */
#include "pop3d/pop3_out.h"

#include <string.h>

void
pop3_out_init(struct pop3_out *o, int limited, uint32_t top_lines)
{
	memset(o, 0, sizeof(*o));
	o->bol = 1;
	o->limited = limited;
	o->lines_left = top_lines;
	if (limited && top_lines == 0)
		o->lines_left = 0;
}

/* A line has just ended: advance TOP's count. */
static void
line_ended(struct pop3_out *o, size_t content_len)
{
	if (!o->limited)
		return;
	if (!o->in_body) {
		if (content_len == 0) {
			o->in_body = 1;
			if (o->lines_left == 0)
				o->done = 1;
		}
		return;
	}
	if (o->lines_left > 0)
		o->lines_left--;
	if (o->lines_left == 0)
		o->done = 1;
}

size_t
pop3_out_feed(struct pop3_out *o, struct span in, uint8_t *out)
{
	size_t i = 0, w = 0;

	while (i < in.n && !o->done) {
		const uint8_t *lf;
		size_t seg;

		if (o->bol && in.p[i] == '.')
			out[w++] = '.';
		lf = memchr(in.p + i, '\n', in.n - i);
		seg = (lf != NULL ? (size_t)(lf - in.p) : in.n) - i;
		if (seg > 0) {
			memcpy(out + w, in.p + i, seg);
			w += seg;
			o->prev_cr = in.p[i + seg - 1] == '\r';
			o->line_len += seg;
			o->bol = 0;
			i += seg;
		}
		if (lf == NULL)
			break;
		if (!o->prev_cr)
			out[w++] = '\r';
		out[w++] = '\n';
		i++;
		line_ended(o, o->line_len - (o->prev_cr ? 1 : 0));
		o->bol = 1;
		o->prev_cr = 0;
		o->line_len = 0;
	}
	return w;
}

size_t
pop3_out_finish(struct pop3_out *o, uint8_t *out)
{
	size_t w = 0;

	if (o->bol || o->done)
		return 0;
	if (!o->prev_cr)
		out[w++] = '\r';
	out[w++] = '\n';
	o->bol = 1;
	return w;
}
