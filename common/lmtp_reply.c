/* SMTP/LMTP reply parser: lines in, whole (multi-line) replies out; pure. */
/* SPDX-License-Identifier: ISC */
#include "common/lmtp_reply.h"

#include <string.h>

void
lmtp_reply_init(struct lmtp_reply_parser *ps)
{
	memset(ps, 0, sizeof(*ps));
}

static int
lmtp_reply_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* "c.s.d" at the start of t with class digit cls, followed by a space or
 * the end: its length, else 0.  RFC 3463: subject and detail 1-3 digits. */
static size_t
lmtp_reply_enh_len(struct span t, int cls)
{
	size_t i = 0, part, n;

	if (t.n < 5 || t.p[0] != (uint8_t)('0' + cls) || t.p[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < t.n && lmtp_reply_digit(t.p[i]) && n < 3; n++)
			i++;
		if (n == 0)
			return 0;
		if (part == 0) {
			if (i >= t.n || t.p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < t.n && t.p[i] != ' ')
		return 0;
	return i;
}

static void
lmtp_reply_add_text(struct lmtp_reply_parser *ps, struct span t)
{
	size_t i;

	if (t.n == 0)
		return;
	if (ps->text_len > 0 && ps->text_len < LMTP_REPLY_TEXT_MAX - 1)
		ps->cur.text[ps->text_len++] = ' ';
	for (i = 0; i < t.n && ps->text_len < LMTP_REPLY_TEXT_MAX - 1; i++)
		ps->cur.text[ps->text_len++] =
		    (t.p[i] >= 0x20 && t.p[i] < 0x7f) ? (char)t.p[i] : '?';
	ps->cur.text[ps->text_len] = '\0';
}

/* One line without its terminator.  1 last line, 0 continuation, -1 bad. */
static int
lmtp_reply_line(struct lmtp_reply_parser *ps, struct span l)
{
	struct span t;
	size_t e;
	int code, cls, last;

	if (l.n < 3 || !lmtp_reply_digit(l.p[0]) || !lmtp_reply_digit(l.p[1])
	    || !lmtp_reply_digit(l.p[2]) || l.p[0] < '2' || l.p[0] > '5')
		return -1;
	if (l.n > 3 && l.p[3] != ' ' && l.p[3] != '-')
		return -1;
	code = (l.p[0] - '0') * 100 + (l.p[1] - '0') * 10 + (l.p[2] - '0');
	if (ps->cur.lines > 0 && code != ps->cur.code)
		return -1;
	if (++ps->cur.lines > LMTP_REPLY_LINES_MAX)
		return -1;
	last = l.n == 3 || l.p[3] == ' ';
	cls = code / 100;
	ps->cur.code = code;
	t = l.n > 4 ? span_make(l.p + 4, l.n - 4) : span_make(l.p, 0);
	if ((e = lmtp_reply_enh_len(t, cls)) > 0) {
		if (ps->cur.lines == 1 && e < sizeof(ps->cur.enh)) {
			memcpy(ps->cur.enh, t.p, e);
			ps->cur.enh[e] = '\0';
		}
		/* drop the code (and its space) from every line's text when
		 * it repeats the first line's */
		if (ps->cur.lines == 1 || (strlen(ps->cur.enh) == e &&
		    memcmp(ps->cur.enh, t.p, e) == 0)) {
			t.p += e;
			t.n -= e;
			if (t.n > 0) {
				t.p++;
				t.n--;
			}
		}
	}
	lmtp_reply_add_text(ps, t);
	return last;
}

enum parse_rc
lmtp_reply_feed(struct lmtp_reply_parser *ps, struct span in,
    size_t *used_out, struct lmtp_reply *reply_out)
{
	size_t off = 0, nl, len;
	struct span rest;
	int r;

	*used_out = 0;
	for (;;) {
		rest = span_make(in.p + off, in.n - off);
		if (!span_find_byte(rest, '\n', &nl)) {
			if (rest.n > LMTP_REPLY_LINE_MAX)
				return PARSE_FATAL;
			return PARSE_MORE;
		}
		if (nl > LMTP_REPLY_LINE_MAX)
			return PARSE_FATAL;
		len = nl;
		if (len > 0 && rest.p[len - 1] == '\r')
			len--;
		r = lmtp_reply_line(ps, span_make(rest.p, len));
		if (r < 0)
			return PARSE_FATAL;
		off += nl + 1;
		*used_out = off;
		if (r == 1) {
			*reply_out = ps->cur;
			if (ps->text_len == 0)
				reply_out->text[0] = '\0';
			lmtp_reply_init(ps);
			return PARSE_OK;
		}
	}
}
