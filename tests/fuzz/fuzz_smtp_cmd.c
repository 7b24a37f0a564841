/* libFuzzer target for the SMTP command parser: spans stay inside the line. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <stdlib.h>

#include "common/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(struct span s, const uint8_t *p, size_t n)
{
	if (s.n && (s.p < p || s.p + s.n > p + n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd c;
	struct smtp_err e;
	size_t i;

	if (smtp_cmd_parse(span_make(data, size), &c, &e) != PARSE_OK)
		return e.code == 500 || e.code == 501 ? 0 : (abort(), 0);
	inside(c.arg, data, size);
	inside(c.path, data, size);
	inside(c.initial, data, size);
	for (i = 0; i < c.n_params; i++) {
		inside(c.params[i].key, data, size);
		inside(c.params[i].value, data, size);
	}
	return 0;
}
