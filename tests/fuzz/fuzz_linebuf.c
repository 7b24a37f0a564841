/* libFuzzer target for common/linebuf: one feed must equal byte-by-byte. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/linebuf.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hash of every result, feeding [0, size) in chunks of at most step. */
static uint64_t
fuzz_run(const uint8_t *data, size_t size, size_t max, size_t step)
{
	struct linebuf lb;
	struct linebuf_line l;
	size_t start = 0, end = 0, used;
	uint64_t h = 1469598103934665603ULL;
	enum parse_rc rc;

	linebuf_init(&lb, max);
	while (end < size) {
		end = end + step < size ? end + step : size;
		while ((rc = linebuf_feed(&lb, span_make(data + start,
		    end - start), &used, &l)) != PARSE_MORE || used) {
			BUG_ON(used > end - start);
			start += used;
			if (rc == PARSE_MORE)
				continue;
			BUG_ON(rc == PARSE_OK && (l.line.n > max ||
			    memchr(l.line.p, '\n', l.line.n) != NULL));
			h = (h ^ ((uint64_t)rc << 40 | (uint64_t)l.end << 32 | l.flags |
			    (uint64_t)(l.line.p - data) << 8 |
			    (uint64_t)l.line.n << 48)) * 1099511628211ULL;
		}
		BUG_ON(end - start > max + 1);
	}
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = size ? data[0] % 64 : 0;

	BUG_ON(fuzz_run(data, size, max, size ? size : 1) !=
	    fuzz_run(data, size, max, 1));
	return 0;
}
