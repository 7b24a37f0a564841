/* libFuzzer target: ipc_frame_parse over a stream, then the typed reader on each payload. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdint.h>

#include "common/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = span_make(data, size);
	struct ipc_hdr h;
	struct span p, s;
	struct ipc_reader r;
	size_t used;
	uint32_t u;
	uint64_t v;
	char cs[64];

	while (ipc_frame_parse(in, 4096, &used, &h, &p) == PARSE_OK) {
		/* read the payload as the frame's type suggests */
		ipc_reader_init(&r, p);
		while (ipc_get_end(&r) < 0 && !r.err) {
			switch ((h.type + r.rest.n) % 4) {
			case 0: (void)ipc_get_u32(&r, &u); break;
			case 1: (void)ipc_get_u64(&r, &v); break;
			case 2: (void)ipc_get_str(&r, &s, 256); break;
			default: (void)ipc_get_cstr(&r, cs, sizeof(cs)); break;
			}
		}
		in.p += used;
		in.n -= used;
	}
	return 0;
}
