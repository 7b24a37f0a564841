/* libFuzzer target for modified UTF-7 mailbox names: what decodes encodes back to the same bytes, and the other way round. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: imapd/imap_mutf7.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_mutf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = span_make(data, size);
	struct buf a, b;

	buf_init(&a, 64, 8 * size + 16);
	buf_init(&b, 64, 8 * size + 16);
	/* the decoder takes only the canonical form */
	if (imap_mutf7_decode(in, &a) == 0) {
		if (a.len * 8 > size * 9 ||
		    imap_mutf7_encode(buf_view(&a), &b) != 0 ||
		    b.len != size || memcmp(b.data, data, size) != 0)
			abort();
	} else if (a.len != 0)
		abort();
	buf_reset(&a);
	buf_reset(&b);
	if (imap_mutf7_encode(in, &a) == 0) {
		if (!imap_utf8_valid(in) ||
		    imap_mutf7_decode(buf_view(&a), &b) != 0 ||
		    b.len != size || memcmp(b.data, data, size) != 0)
			abort();
	} else if (imap_utf8_valid(in) || a.len != 0)
		abort();
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
