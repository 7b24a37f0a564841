/* SMTP/LMTP reply parser: pure, incremental, multi-line replies (RFC 5321 4.2, RFC 2033 4.2). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_LMTP_REPLY_H
#define LB_LMTP_REPLY_H

#include <stddef.h>

#include "common/buf.h"
#include "common/parse.h"

/*
 * A reply is one or more lines "CODE-text" ending with "CODE text" (or a
 * bare "CODE"); every line carries the same code.  The first line's text
 * may start with an enhanced status code (RFC 2034/3463) "c.s.d" whose
 * class digit equals the code's; it is taken out into enh, and the same
 * code at the start of a continuation line is dropped too.  The texts of
 * the lines are joined with one space, bytes that are not printable ASCII
 * become '?', and the result is cut at LMTP_REPLY_TEXT_MAX - 1 bytes.
 *
 * Lines end in CRLF (a bare LF is accepted, a CR before it dropped).
 * Limits: LMTP_REPLY_LINE_MAX bytes per line and LMTP_REPLY_LINES_MAX
 * lines per reply; past either, or on a line that is not a reply line
 * (no three digits 2xx..5xx, a fourth byte other than ' ' or '-', a
 * continuation with another code), the parser answers PARSE_FATAL: the
 * peer is out of step and the connection must be dropped.
 */

#define LMTP_REPLY_LINE_MAX 2048
#define LMTP_REPLY_LINES_MAX 64
#define LMTP_REPLY_TEXT_MAX 512

struct lmtp_reply {
	int code;			/* 200..599 */
	char enh[16];			/* "5.1.1", or "" when none */
	char text[LMTP_REPLY_TEXT_MAX];	/* NUL-terminated, see above */
	size_t lines;
};

/* Zero it (memset or = {0}) to start; no _fini needed, nothing is owned. */
struct lmtp_reply_parser {
	struct lmtp_reply cur;		/* the reply being assembled */
	size_t text_len;
};

/* lmtp_reply_init: ready for the first line of a reply. */
void lmtp_reply_init(struct lmtp_reply_parser *ps);

/*
 * lmtp_reply_feed: consume complete lines from in.
 *   PARSE_OK:    *reply_out is a whole reply; *used_out bytes were
 *                consumed (up to and including its last line); the
 *                parser is ready for the next reply.
 *   PARSE_MORE:  no whole reply yet; *used_out bytes (complete
 *                continuation lines) were consumed and are remembered:
 *                feed the rest again with more bytes after it.
 *   PARSE_FATAL: malformed or past a limit; *used_out is undefined.
 * Pure: no I/O, no allocation, no logging.
 */
enum parse_rc lmtp_reply_feed(struct lmtp_reply_parser *ps, struct span in,
    size_t *used_out, struct lmtp_reply *reply_out);

/* lmtp_reply_class: 2, 4 or 5 (the code's first digit). */
static inline int
lmtp_reply_class(const struct lmtp_reply *r)
{
	return r->code / 100;
}

#endif
