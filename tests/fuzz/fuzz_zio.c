/* libFuzzer target for common/zio: a peer's stream inflated whole and in
 * small pieces gives the same bytes, never more than the room, and what
 * comes out survives our own deflate and inflate. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "common/zio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OUT_MAX (1 << 20)	/* a bomb stops here */

/* Inflate [0, size) step input bytes and room output bytes at a time;
 * -1 on a stream error. */
static int
fuzz_inflate(const uint8_t *data, size_t size, size_t step, size_t room,
    struct buf *out)
{
	struct zio *z = zio_new();
	size_t off = 0, used, made;
	const char *why;
	int rc = 0;

	while (out->len < FUZZ_OUT_MAX) {
		size_t n = size - off < step ? size - off : step;
		uint8_t *p = buf_reserve(out, room);

		BUG_ON(p == NULL);
		if ((rc = zio_inflate(z, span_make(data + off, n), &used, p,
		    room, &made, &why)) == -1)
			break;
		BUG_ON(used > n || made > room);
		buf_commit(out, made);
		off += used;
		if (used == 0 && made == 0 && off == size)
			break;
	}
	zio_free(&z);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, wire;
	struct zio *z;
	int ra, rb;

	buf_init(&a, 1024, FUZZ_OUT_MAX + 65536);
	buf_init(&b, 1024, FUZZ_OUT_MAX + 65536);
	ra = fuzz_inflate(data, size, size + 1, 65536, &a);
	rb = fuzz_inflate(data, size, 3, 7, &b);
	BUG_ON(ra != rb);
	if (ra == 0 && a.len < FUZZ_OUT_MAX && b.len < FUZZ_OUT_MAX)
		BUG_ON(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
	/* our own deflate of it, one sync-flushed batch, back again */
	z = zio_new();
	buf_init(&wire, 1024, 4 * (FUZZ_OUT_MAX + 65536));
	BUG_ON(zio_deflate(z, buf_view(&a), ZIO_SYNC, &wire) != 0);
	buf_reset(&b);
	BUG_ON(fuzz_inflate(wire.data, wire.len, wire.len + 1, 65536,
	    &b) != 0);
	BUG_ON(b.len != a.len && a.len < FUZZ_OUT_MAX);
	BUG_ON(a.len < FUZZ_OUT_MAX && memcmp(a.data, b.data, a.len) != 0);
	zio_free(&z);
	buf_fini(&wire);
	buf_fini(&a);
	buf_fini(&b);
	return 0;
}
