/* libFuzzer target for the POP3 command parser and the RETR/TOP transform. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: pop3d/pop3_cmd.c pop3d/pop3_out.c */
#include <stdint.h>
#include <stdlib.h>

#include "pop3d/pop3_cmd.h"
#include "pop3d/pop3_out.h"

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
	struct pop3_cmd c;
	struct pop3_out o;
	const char *why;
	uint8_t *out;
	size_t i, w;

	if (pop3_cmd_parse(span_make(data, size), &c, &why) == PARSE_OK) {
		if (c.n_args > 2 || c.verb >= POP3_VERB_MAX)
			abort();
		for (i = 0; i < c.n_args; i++)
			inside(c.arg[i], data, size);
	} else if (why == NULL) {
		abort();
	}
	/* the transform: bounded output, never a bare LF */
	out = malloc(pop3_out_max(size) + 2);
	pop3_out_init(&o, size > 0 && data[0] & 1, size > 1 ? data[1] % 8 : 0);
	w = pop3_out_feed(&o, span_make(data, size), out);
	if (w > pop3_out_max(size))
		abort();
	w += pop3_out_finish(&o, out + w);
	for (i = 0; i < w; i++)
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	free(out);
	return 0;
}
