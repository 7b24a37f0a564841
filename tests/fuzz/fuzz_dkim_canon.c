/* libFuzzer target for common/dkim: header split and relaxed canonicalization, body canonicalization in any chunking, and h= selection. */
/* SPDX-License-Identifier: ISC */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "common/dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dkim_key *fuzz_key;

/* Canonical header: one CRLF, at the end; no WSP run, none around it. */
static void
fuzz_check_header(struct span c)
{
	size_t i;

	if (c.n < 3 || c.p[c.n - 2] != '\r' || c.p[c.n - 1] != '\n')
		__builtin_trap();
	for (i = 0; i + 2 < c.n; i++) {
		if (c.p[i] == '\r' && c.p[i + 1] == '\n')
			__builtin_trap();
		if (c.p[i] == '\t' || (c.p[i] == ' ' && (c.p[i + 1] == ' ' ||
		    i + 3 == c.n)))
			__builtin_trap();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span msg = span_make(data, size), hdr, body, f;
	uint8_t h1[DKIM_HASH_LEN], h2[DKIM_HASH_LEN], bh[DKIM_HASH_LEN];
	struct dkim_sign_req req = { "example.org", "fuzz", 1 };
	struct dkim_body b;
	struct buf c1, c2, sig;
	const char *why;
	size_t off = 0, step = size ? (size_t)data[0] % 7 + 1 : 1;

	if (fuzz_key == NULL) {
		uint8_t seed[32] = { 1 };

		if (sodium_init() < 0 || dkim_key_from_seed(seed, &fuzz_key, &why) < 0)
			__builtin_trap();
	}
	buf_init(&c1, 256, 4 * size + 64);
	buf_init(&c2, 256, 4 * size + 64);
	buf_init(&sig, 256, DKIM_SIG_MAX);
	dkim_split(msg, &hdr, &body);
	if (hdr.n + body.n > size)
		__builtin_trap();
	while (dkim_header_next(hdr, &off, &f)) {
		buf_reset(&c1);
		if (dkim_canon_header(f, &c1) == 0)
			fuzz_check_header(buf_view(&c1));
	}
	/* one feed, and chunks of step bytes: the same bytes and hash */
	buf_reset(&c1);
	dkim_body_init(&b, &c1);
	dkim_body_feed(&b, body);
	(void)dkim_body_finish(&b, h1);
	dkim_body_init(&b, &c2);
	for (off = 0; off < body.n; off += step)
		dkim_body_feed(&b, span_make(body.p + off, body.n - off < step ?
		    body.n - off : step));
	(void)dkim_body_finish(&b, h2);
	if (c1.len != c2.len || memcmp(c1.data, c2.data, c1.len) != 0 ||
	    memcmp(h1, h2, sizeof(h1)) != 0)
		__builtin_trap();
	/* no trailing empty line, no WSP before a CRLF, CRLF last */
	if (c1.len > 0 && (c1.len < 2 || memcmp(c1.data + c1.len - 2, "\r\n",
	    2) != 0 || (c1.len >= 4 && memcmp(c1.data + c1.len - 4, "\r\n\r\n",
	    4) == 0) || (c1.len == 2)))
		__builtin_trap();
	for (off = 0; off + 2 < c1.len; off++)
		if ((c1.data[off] == ' ' || c1.data[off] == '\t') &&
		    c1.data[off + 1] == '\r' && c1.data[off + 2] == '\n')
			__builtin_trap();
	dkim_body_hash(span_make("", 0), bh);
	if (dkim_sign(fuzz_key, &req, hdr, bh, &sig, &why) == 0 &&
	    (sig.len < 16 || memcmp(sig.data, "DKIM-Signature: ", 16) != 0 ||
	    memcmp(sig.data + sig.len - 2, "\r\n", 2) != 0))
		__builtin_trap();
	buf_fini(&c1);
	buf_fini(&c2);
	buf_fini(&sig);
	return 0;
}
