/* libFuzzer target for common/msgcache: split feeds agree, blobs open, and the readers survive the raw input as a blob. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/msgcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
blob_of(const uint8_t *p, size_t n, size_t step, struct buf *out)
{
	struct msgcache_parser *ps = msgcache_parser_new();
	size_t off = 0;

	buf_init(out, 1024, 1 << 22);
	for (; off < n; off += step)
		msgcache_feed(ps, span_make(p + off, n - off < step ?
		    n - off : step));
	if (msgcache_finish(ps, out) < 0)
		__builtin_trap();
	msgcache_parser_free(&ps);
}

static void
read_all(struct span blob)
{
	struct msgcache_part pt;
	struct msgcache_env e;
	struct msgcache_addr a;
	struct span c, k, v;
	uint32_t i, nums[3] = { 1, 2, 1 };
	size_t f, j;

	for (i = 0; i < MSGCACHE_MAX_PARTS + 1; i++) {
		if (msgcache_part(blob, i, &pt) == 0) {
			c = pt.params;
			while (msgcache_param_next(&c, &k, &v))
				;
			c = pt.disp_params;
			while (msgcache_param_next(&c, &k, &v))
				;
			c = pt.language;
			while (msgcache_list_next(&c, &v))
				;
		}
		if (msgcache_envelope(blob, i, &e) == 0)
			for (f = 0; f < 6; f++)
				for (j = 0; j < e.n_addrs[f]; j++)
					(void)msgcache_addr(&e,
					    (enum msgcache_field)f, j, &a);
	}
	for (i = 0; i <= 3; i++)
		(void)msgcache_section(blob, nums, i, &pt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;
	size_t step = size ? (size_t)data[0] % 13 + 1 : 1;

	blob_of(data, size, size ? size : 1, &a);
	blob_of(data, size, step, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		__builtin_trap();
	if (msgcache_open(buf_view(&a)) != 0)
		__builtin_trap();
	read_all(buf_view(&a));
	/* the input itself as a corrupt blob, and with a valid header */
	(void)msgcache_open(span_make(data, size));
	read_all(span_make(data, size));
	if (size >= 32 && a.len >= 32) {
		uint8_t *m = malloc(size);

		memcpy(m, data, size);
		memcpy(m, a.data, 32);
		read_all(span_make(m, size));
		free(m);
	}
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
