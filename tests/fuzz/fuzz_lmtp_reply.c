/* libFuzzer target for the LMTP/SMTP reply parser: one feed equals the same bytes fed in two pieces. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/lmtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every whole reply in in, fed at once; count, and the last one. */
static size_t
replies(struct span in, size_t cut, struct lmtp_reply *last, int *fatal)
{
	struct lmtp_reply_parser ps;
	struct lmtp_reply r;
	size_t off = 0, used, n = 0, lim = cut;
	enum parse_rc rc;

	lmtp_reply_init(&ps);
	*fatal = 0;
	for (;;) {
		rc = lmtp_reply_feed(&ps, span_make(in.p + off, lim - off),
		    &used, &r);
		if (rc == PARSE_FATAL) {
			*fatal = 1;
			return n;
		}
		if (used > lim - off)
			abort();
		off += used;
		if (rc == PARSE_OK) {
			if (r.code < 200 || r.code > 599 || r.lines == 0 ||
			    strlen(r.text) >= LMTP_REPLY_TEXT_MAX)
				abort();
			*last = r;
			n++;
			continue;
		}
		if (lim == in.n)
			return n;
		lim = in.n;	/* the second piece */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lmtp_reply a, b;
	size_t na, nb;
	int fa, fb;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	na = replies(span_make(data, size), size, &a, &fa);
	nb = replies(span_make(data, size), size / 2, &b, &fb);
	if (na != nb || fa != fb || (na && memcmp(&a, &b, sizeof(a)) != 0))
		abort();
	return 0;
}
