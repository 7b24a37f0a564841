/* libFuzzer target: cfg_parse on arbitrary bytes must never crash or leak. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *cfg = NULL;
	struct buf errs;

	buf_init(&errs, 256, 64 * 1024);
	if (cfg_parse("fuzz.conf", span_make(data, size), &cfg, &errs) == 0)
		cfg_free(&cfg);
	buf_fini(&errs);
	return 0;
}
