/* libFuzzer target for the SMTP DATA reader: split feeds must agree with one feed. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum parse_rc
feed(const uint8_t *p, size_t n, size_t step, uint8_t *out, size_t *outn,
    unsigned *flags)
{
	struct smtp_data d;
	enum parse_rc rc = PARSE_MORE;
	size_t off = 0, used, o;

	smtp_data_init(&d, 4096);
	*outn = 0;
	while (off < n && rc == PARSE_MORE) {
		size_t len = n - off < step ? n - off : step;

		rc = smtp_data_feed(&d, span_make(p + off, len), out + *outn,
		    &o, &used);
		*outn += o;
		off += used;
	}
	*flags = d.flags;
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *a = malloc(size + 1), *b = malloc(size + 1);
	size_t na, nb;
	unsigned fa, fb;
	size_t step = size ? (size_t)data[0] % 7 + 1 : 1;

	if (feed(data, size, size ? size : 1, a, &na, &fa) !=
	    feed(data, size, step, b, &nb, &fb) || na != nb || fa != fb ||
	    memcmp(a, b, na) != 0)
		abort();
	free(a);
	free(b);
	return 0;
}
