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

/* One path part with '/', '%' and a leading '.' escaped; -1 if empty,
 * holding a control byte, or too long. */
static int
dir_part(const char *p, size_t n, char *out, size_t outsz, size_t *o)
{
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch == 0x7f)
			return -1;
		if (ch == '/' || ch == '%' || (ch == '.' && i == 0)) {
			if (*o + 3 >= outsz)
				return -1;
			snprintf(out + *o, 4, "%%%02X", ch);
			*o += 3;
			continue;
		}
		if (*o + 1 >= outsz)
			return -1;
		out[(*o)++] = (char)ch;
	}
	out[*o] = '\0';
	return 0;
}

int
mda_user_dir(const char *mail_dir, const char *address, char *out,
    size_t outsz)
{
	const char *at = strrchr(address, '@');
	int n;
	size_t o;

	if (at == NULL || at == address || at[1] == '\0')
		return -1;
	n = snprintf(out, outsz, "%s/", mail_dir);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	o = (size_t)n;
	if (dir_part(at + 1, strlen(at + 1), out, outsz, &o) < 0 ||
	    o + 1 >= outsz)
		return -1;
	out[o++] = '/';
	return dir_part(address, (size_t)(at - address), out, outsz, &o);
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
