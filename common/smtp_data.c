/* SMTP DATA reader: dot-unstuffing, strict CRLF, smuggling-proof end of data. */
/* SPDX-License-Identifier: ISC */
#include "common/smtp_data.h"

enum {
	DS_BOL = 0,	/* at the start of a line (after CRLF, or first) */
	DS_DOT,		/* a line began with "." */
	DS_DOTCR,	/* a line began with ".\r" */
	DS_TEXT,	/* inside a line */
	DS_CR,		/* inside a line, a CR held back */
};

void
smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	d->state = DS_BOL;
	d->flags = 0;
	d->size = 0;
	d->max_size = max_size;
}

/* Append one message byte unless the message is already refused. */
static inline void
data_emit(struct smtp_data *d, uint8_t c, uint8_t *out, size_t *o)
{
	if (d->flags & SMTP_DATA_REFUSE)
		return;
	if (d->max_size != 0 && d->size >= d->max_size) {
		d->flags |= SMTP_DATA_TOO_BIG;
		return;
	}
	d->size++;
	out[(*o)++] = c;
}

/* A byte inside a line that is not CR or LF. */
static inline void
data_text(struct smtp_data *d, uint8_t c, uint8_t *out, size_t *o)
{
	if (c == '\0')
		d->flags |= SMTP_DATA_NUL;
	data_emit(d, c, out, o);
	d->state = DS_TEXT;
}

enum parse_rc
smtp_data_feed(struct smtp_data *d, struct span in, uint8_t *out,
    size_t *out_len, size_t *used_out)
{
	size_t i, o = 0;

	for (i = 0; i < in.n; i++) {
		uint8_t c = in.p[i];

		switch (d->state) {
		case DS_BOL:
			if (c == '.')
				d->state = DS_DOT;
			else if (c == '\r')
				d->state = DS_CR;
			else if (c == '\n')
				d->flags |= SMTP_DATA_BARE_LF;
			else
				data_text(d, c, out, &o);
			break;
		case DS_DOT:
			/* The stuffed dot is dropped whatever follows. */
			if (c == '\r')
				d->state = DS_DOTCR;
			else if (c == '\n') {
				d->flags |= SMTP_DATA_BARE_LF;
				d->state = DS_TEXT;
			} else
				data_text(d, c, out, &o);
			break;
		case DS_DOTCR:
			if (c == '\n') {
				*out_len = o;
				*used_out = i + 1;
				d->state = DS_BOL;
				return PARSE_OK;
			}
			d->flags |= SMTP_DATA_BARE_CR;
			if (c == '\r')
				d->state = DS_CR;
			else
				data_text(d, c, out, &o);
			break;
		case DS_TEXT:
			if (c == '\r')
				d->state = DS_CR;
			else if (c == '\n')
				d->flags |= SMTP_DATA_BARE_LF;
			else
				data_text(d, c, out, &o);
			break;
		case DS_CR:
			if (c == '\n') {
				data_emit(d, '\r', out, &o);
				data_emit(d, '\n', out, &o);
				d->state = DS_BOL;
			} else {
				d->flags |= SMTP_DATA_BARE_CR;
				if (c != '\r')
					data_text(d, c, out, &o);
			}
			break;
		}
	}
	*out_len = o;
	*used_out = in.n;
	return PARSE_MORE;
}

unsigned
smtp_bdat_scan(int *prev_cr, struct span in, int last)
{
	unsigned flags = 0;
	size_t i;

	for (i = 0; i < in.n; i++) {
		uint8_t c = in.p[i];

		if (*prev_cr && c != '\n')
			flags |= SMTP_DATA_BARE_CR;
		if (c == '\n' && !*prev_cr)
			flags |= SMTP_DATA_BARE_LF;
		if (c == '\0')
			flags |= SMTP_DATA_NUL;
		*prev_cr = c == '\r';
	}
	if (last && *prev_cr)
		flags |= SMTP_DATA_BARE_CR;
	return flags;
}
