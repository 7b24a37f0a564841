/* libFuzzer target for common/addr: parse, normalise and strip tags. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_parts ap;
	char in[512], out[320], again[320], stripped[320];

	if (addr_parse(span_make(data, size), &ap, NULL) == 0 &&
	    ap.local.n + 1 + ap.domain.n != size)
		__builtin_trap();
	if (size >= sizeof(in) || memchr(data, 0, size) != NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (addr_normalize(in, out, sizeof(out)) < 0)
		return 0;
	/* normalising is idempotent */
	if (addr_normalize(out, again, sizeof(again)) < 0 ||
	    strcmp(out, again) != 0)
		__builtin_trap();
	if (addr_strip_tag(out, '+', stripped, sizeof(stripped)) < 0)
		__builtin_trap();
	return 0;
}
