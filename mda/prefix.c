/* Pure helpers of the MDA: the delivery header lines, line-end conversion, user directories, reply order. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "mda/mda.h"

static int
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return 0;
	return 1;
}

int
mda_prefix(struct buf *out, const char *sender, const char *rcpt)
{
	if (!header_safe(sender) || !header_safe(rcpt))
		return -1;
	return buf_addf(out, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	    sender, rcpt);
}

size_t
mda_crlf_feed(struct mda_crlf *c, struct span in, uint8_t *out)
{
	size_t i, o = 0;

	for (i = 0; i < in.n; i++) {
		uint8_t ch = in.p[i];

		if (c->held_cr) {
			c->held_cr = 0;
			out[o++] = '\r';
			out[o++] = '\n';
			if (ch == '\n')
				continue;	/* CRLF: already written */
		}
		if (ch == '\r')
			c->held_cr = 1;
		else if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
		} else
			out[o++] = ch;
	}
	return o;
}

size_t
mda_crlf_end(struct mda_crlf *c, uint8_t *out)
{
	if (!c->held_cr)
		return 0;
	c->held_cr = 0;
	out[0] = '\r';
	out[1] = '\n';
	return 2;
}

size_t
mda_order_take(const unsigned char *done, size_t n, size_t *next)
{
	size_t k = 0;

	while (*next < n && done[*next]) {
		(*next)++;
		k++;
	}
	return k;
}
