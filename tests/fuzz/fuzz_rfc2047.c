/* libFuzzer target for common/rfc2047: decoding never fails but on the cap, and text without "=?" is copied as it is. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <string.h>

#include "common/rfc2047.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b;
	size_t cs = size ? data[0] % 16 : 0;

	buf_init(&b, 16, 8 * size + 64);
	if (rfc2047_decode(span_make(data, size), &b) != 0)
		__builtin_trap();
	if (memmem(data, size, "=?", 2) == NULL &&
	    (b.len != size || memcmp(b.data, data, size) != 0))
		__builtin_trap();
	buf_reset(&b);
	if (size > cs + 1 &&
	    rfc2047_to_utf8(span_make(data + 1, cs), span_make(data + 1 + cs,
	    size - 1 - cs), &b) == 0 && !rfc2047_utf8_valid(buf_view(&b)) &&
	    span_eq_ci(span_make(data + 1, cs), "utf-8"))
		__builtin_trap();
	buf_fini(&b);
	return 0;
}
