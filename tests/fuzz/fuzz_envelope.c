/* libFuzzer target for the spool envelope parser: parse, rewrite, parse again. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_rcpt r1[8], r2[8];
	struct envelope a = { .rcpts = r1, .max_rcpts = 8 };
	struct envelope b = { .rcpts = r2, .max_rcpts = 8 };
	const char *why;
	size_t off, off2;
	struct buf out;

	if (envelope_parse(span_make(data, size), &a, &off, &why) != PARSE_OK)
		return 0;
	if (off > size)
		abort();
	/* What we parsed we can write, and it reads back the same. */
	buf_init(&out, 256, 1 << 20);
	if (envelope_write(&a, &out) == 0) {
		if (envelope_parse(buf_view(&out), &b, &off2, &why) !=
		    PARSE_OK || b.n_rcpts != a.n_rcpts ||
		    b.arrival != a.arrival || off2 != out.len)
			abort();
	}
	buf_fini(&out);
	return 0;
}
