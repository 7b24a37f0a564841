/* libFuzzer target for queued's From-domain parser (smtpd/queue_dkim.c): never reads past the input, and what it returns is a lowercase DNS name that is safe as a file name. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: smtpd/queue_dkim.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/queue_dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	char out[256];
	size_t i, n;

	/* an exact-size copy, so ASan sees any read past the end */
	memcpy(copy, data, size);
	if (queue_dkim_from_domain(span_make(copy, size), out,
	    sizeof(out)) == 0) {
		n = strlen(out);
		if (n == 0 || n >= sizeof(out) || out[0] == '.' ||
		    strstr(out, "..") != NULL || out[n - 1] == '.')
			abort();
		for (i = 0; i < n; i++)
			if (!((out[i] >= 'a' && out[i] <= 'z') ||
			    (out[i] >= '0' && out[i] <= '9') || out[i] == '-' ||
			    out[i] == '.' || out[i] == '_'))
				abort();
	}
	free(copy);
	return 0;
}
