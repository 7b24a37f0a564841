/* libFuzzer target for queued's EHLO keyword parser: never reads past the input, and a parsed SIZE is what the digits say. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: smtpd/queue_remote.c smtpd/queue_lmtp.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/queue_remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_remote_ext x;
	struct queue_remote_txn t;
	uint8_t *copy = malloc(size ? size : 1);
	char out[1200];

	/* an exact-size copy, so ASan sees any read past the end */
	memcpy(copy, data, size);
	if (queue_remote_ehlo_parse(span_make(copy, size), &x) == 0) {
		if (!x.esmtp)
			abort();
		if (x.size_max && !x.size)
			abort();
		memset(&t, 0, sizeof(t));
		t.end = size;
		t.body_8bit = t.smtputf8 = 1;
		queue_remote_mail_params(&t, &x, out, sizeof(out));
		if (strlen(out) >= sizeof(out))
			abort();
	}
	free(copy);
	return 0;
}
