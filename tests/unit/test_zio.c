/* Unit tests for common/zio: round trips, sync flushes, split input,
 * corrupt streams, bombs, trimming and memory. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <zlib.h>

#include "common/zio.h"

/* IMAP-like text: repetitive, with some variety. */
static size_t
sample(uint8_t *p, size_t n)
{
	size_t len = 0;
	unsigned i = 1;

	while (len < n) {
		char line[128];
		int k = snprintf(line, sizeof(line),
		    "* %u FETCH (UID %u FLAGS (\\Seen) RFC822.SIZE %u)\r\n", i,
		    i * 7 + 3, i * 131 % 9973);
		size_t m = (size_t)k < n - len ? (size_t)k : n - len;

		memcpy(p + len, line, m);
		len += m;
		i++;
	}
	return len;
}

/* Inflate all of in with z, room bytes at a time, in pieces of step
 * bytes; append to out.  The return of the last zio_inflate. */
static int
inflate_all(struct zio *z, const uint8_t *in, size_t n, size_t step,
    size_t room, struct buf *out)
{
	size_t off = 0, used, made;
	const char *why;

	for (;;) {
		size_t avail = n - off < step ? n - off : step;
		uint8_t *p = buf_reserve(out, room);

		assert_non_null(p);
		if (zio_inflate(z, span_make(in + off, avail), &used, p, room,
		    &made, &why) == -1) {
			assert_non_null(why);
			return -1;
		}
		assert_true(made <= room);
		assert_true(used <= avail);
		buf_commit(out, made);
		off += used;
		if (off == n && !zio_inflate_more(z))
			return 0;
		if (used == 0 && made == 0 && avail == n - off &&
		    !zio_inflate_more(z))
			return 0;	/* needs input that is not there */
	}
}

/* A raw deflate stream as a client would make it (zlib, 32 KiB). */
static void
peer_deflate(const uint8_t *in, size_t n, int flush, int level,
    struct buf *out)
{
	z_stream s;
	uint8_t *p;
	size_t room = n + n / 2 + 1024;

	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, level, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	p = buf_reserve(out, room);
	assert_non_null(p);
	s.next_in = (Bytef *)(uintptr_t)in;
	s.avail_in = (uInt)n;
	s.next_out = p;
	s.avail_out = (uInt)room;
	assert_true(deflate(&s, flush) != Z_STREAM_ERROR);
	assert_int_equal(s.avail_in, 0);
	buf_commit(out, room - s.avail_out);
	deflateEnd(&s);
}

/* Decode our output as a peer would (zlib, raw). */
static void
peer_inflate(const struct buf *in, struct buf *out)
{
	z_stream s;
	int rc;

	memset(&s, 0, sizeof(s));
	assert_int_equal(inflateInit2(&s, -15), Z_OK);
	s.next_in = in->data;
	s.avail_in = (uInt)in->len;
	do {
		uint8_t *p = buf_reserve(out, 65536);

		assert_non_null(p);
		s.next_out = p;
		s.avail_out = 65536;
		rc = inflate(&s, Z_SYNC_FLUSH);
		buf_commit(out, 65536 - s.avail_out);
	} while (rc == Z_OK && s.avail_out == 0);
	assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
	assert_int_equal(s.avail_in, 0);
	inflateEnd(&s);
}

static void
test_round_trip(void **state)
{
	static uint8_t text[300000];
	size_t n = sample(text, sizeof(text)), off, steps[] = { 1, 7, 4096 };
	struct zio *z = zio_new(), *back = zio_new();
	struct buf wire, plain;
	unsigned k;

	buf_init(&wire, 1024, 1 << 22);
	buf_init(&plain, 1024, 1 << 22);
	/* written in uneven pieces, one flush at the end */
	for (off = 0; off < n; off += 1000)
		assert_int_equal(zio_deflate(z, span_make(text + off,
		    n - off < 1000 ? n - off : 1000), ZIO_NONE, &wire), 0);
	assert_int_equal(zio_deflate(z, span_make(NULL, 0), ZIO_SYNC, &wire),
	    0);
	assert_true(wire.len < n / 4);
	/* a sync flush ends with an empty stored block */
	assert_memory_equal(wire.data + wire.len - 4, "\x00\x00\xff\xff", 4);
	assert_true(wire.len <= zio_deflate_bound(z, n));
	peer_inflate(&wire, &plain);
	assert_int_equal(plain.len, n);
	assert_memory_equal(plain.data, text, n);
	/* our inflater, fed one byte at a time and in odd pieces, with a
	 * tiny and a normal output room: always the same bytes */
	for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		zio_free(&back);
		back = zio_new();
		buf_reset(&plain);
		assert_int_equal(inflate_all(back, wire.data, wire.len,
		    steps[k], k == 0 ? 4096 : k == 1 ? 1 : 65536, &plain), 0);
		assert_int_equal(plain.len, n);
		assert_memory_equal(plain.data, text, n);
	}
	zio_free(&z);
	zio_free(&back);
	assert_null(z);
	buf_fini(&wire);
	buf_fini(&plain);
}

/* After each ZIO_SYNC the peer can decode everything written so far
 * from what it has, with no more bytes to come (the client never
 * waits); ZIO_NONE alone may keep bytes back. */
static void
test_partial_flushes(void **state)
{
	static const char *const batch[] = {
		"* OK [CAPABILITY IMAP4rev1] ready\r\n",
		"a1 OK done\r\n",
		"* 1 EXISTS\r\n* 1 RECENT\r\n",
		"+ idling\r\n",
		"",
	};
	struct zio *z = zio_new(), *in = zio_new();
	struct buf wire, plain, want;
	size_t i, sent = 0;

	buf_init(&wire, 64, 1 << 20);
	buf_init(&plain, 64, 1 << 20);
	buf_init(&want, 64, 1 << 20);
	for (i = 0; i < sizeof(batch) / sizeof(batch[0]); i++) {
		size_t before = wire.len;

		assert_int_equal(zio_deflate(z, span_cstr(batch[i]), ZIO_NONE,
		    &wire), 0);
		assert_int_equal(buf_addstr(&want, batch[i]), 0);
		assert_int_equal(zio_deflate(z, span_make(NULL, 0), ZIO_SYNC,
		    &wire), 0);
		if (batch[i][0] == '\0')	/* nothing new: nothing sent */
			assert_int_equal(wire.len, before);
		assert_int_equal(inflate_all(in, wire.data + sent,
		    wire.len - sent, 3, 2, &plain), 0);
		sent = wire.len;
		assert_int_equal(plain.len, want.len);
		assert_memory_equal(plain.data, want.data, want.len);
	}
	zio_free(&z);
	zio_free(&in);
	buf_fini(&wire);
	buf_fini(&plain);
	buf_fini(&want);
}

/* What a client sends (zlib's own deflate with the full 32 KiB window,
 * references far back, several flushes) comes out exactly. */
static void
test_peer_window(void **state)
{
	static uint8_t text[100000];
	struct zio *z = zio_new();
	struct buf wire, plain;
	size_t i;

	srand(7);
	for (i = 0; i < 30000; i++)
		text[i] = (uint8_t)rand();
	memcpy(text + 30000, text, 30000);	/* 30000 back: > our 4 KiB */
	memset(text + 60000, 'a', sizeof(text) - 60000);
	buf_init(&wire, 1024, 1 << 20);
	buf_init(&plain, 1024, 1 << 20);
	peer_deflate(text, sizeof(text), Z_SYNC_FLUSH, 9, &wire);
	assert_true(wire.len < 40000);
	assert_int_equal(inflate_all(z, wire.data, wire.len, 5000, 4096,
	    &plain), 0);
	assert_int_equal(plain.len, sizeof(text));
	assert_memory_equal(plain.data, text, sizeof(text));
	zio_free(&z);
	buf_fini(&wire);
	buf_fini(&plain);
}

static void
test_corrupt(void **state)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x12, 0x34 };
	struct zio *z = zio_new();
	uint8_t out[64];
	size_t used, made;
	const char *why = NULL;
	struct buf wire;

	/* block type 3 is reserved (RFC 1951 3.2.3) */
	assert_int_equal(zio_inflate(z, span_make(junk, sizeof(junk)), &used,
	    out, sizeof(out), &made, &why), -1);
	assert_string_equal(why, "invalid block type");
	assert_int_equal(made, 0);
	/* and it stays broken */
	assert_int_equal(zio_inflate(z, span_make("x", 1), &used, out,
	    sizeof(out), &made, &why), -1);
	assert_non_null(why);
	zio_free(&z);

	/* a stored block whose NLEN is not the complement of LEN */
	z = zio_new();
	assert_int_equal(zio_inflate(z, span_make("\x00\x05\x00\x00\x00", 5),
	    &used, out, sizeof(out), &made, &why), -1);
	assert_string_equal(why, "invalid stored block lengths");
	zio_free(&z);

	/* a final block, then more: refused after the valid part */
	z = zio_new();
	buf_init(&wire, 64, 4096);
	peer_deflate((const uint8_t *)"a1 LOGOUT\r\n", 11, Z_FINISH, 6,
	    &wire);
	assert_int_equal(buf_add(&wire, "\x01", 1), 0);
	assert_int_equal(zio_inflate(z, buf_view(&wire), &used, out,
	    sizeof(out), &made, &why), 0);
	assert_int_equal(made, 11);
	assert_memory_equal(out, "a1 LOGOUT\r\n", 11);
	assert_int_equal(used, wire.len - 1);
	assert_int_equal(zio_inflate(z, span_make(NULL, 0), &used, out,
	    sizeof(out), &made, &why), 0);
	assert_int_equal(zio_inflate(z, span_make("\x01", 1), &used, out,
	    sizeof(out), &made, &why), -1);
	assert_string_equal(why, "data after the end of the compressed stream");
	zio_free(&z);
	buf_fini(&wire);
}

/* 16 MiB of 'x' in about 16 KiB: never more than room comes out of one
 * call, however small the input, so the caller's cap holds. */
static void
test_bomb(void **state)
{
	const size_t big = (size_t)16 << 20;
	uint8_t *plain = malloc(big), out[4096];
	struct zio *z = zio_new();
	struct buf wire;
	size_t used, made, off = 0, total = 0;
	const char *why;
	int calls = 0;

	assert_non_null(plain);
	memset(plain, 'x', big);
	buf_init(&wire, 1024, big * 2);
	peer_deflate(plain, big, Z_SYNC_FLUSH, 9, &wire);
	free(plain);
	assert_true(wire.len < big / 500);
	/* a 64-byte piece of it already fills the room */
	assert_int_equal(zio_inflate(z, span_make(wire.data, 64), &used, out,
	    sizeof(out), &made, &why), 0);
	assert_int_equal(made, sizeof(out));
	assert_int_equal(zio_inflate_more(z), 1);
	off += used;
	total += made;
	/* the rest, room bytes per call */
	while (off < wire.len || zio_inflate_more(z)) {
		assert_int_equal(zio_inflate(z, span_make(wire.data + off,
		    wire.len - off), &used, out, sizeof(out), &made, &why), 0);
		assert_true(made <= sizeof(out));
		off += used;
		total += made;
		if (made > 0)
			assert_true(out[made - 1] == 'x');
		calls++;
	}
	assert_int_equal(total, big);
	assert_true(calls >= (int)(big / sizeof(out)) - 1);
	/* and the inflater's memory did not grow with it */
	assert_true(zio_mem(z) < 48 * 1024);
	zio_free(&z);
	buf_fini(&wire);
}

/* zio_trim frees the deflater after a sync flush; the stream the peer
 * sees stays one valid stream. */
static void
test_trim_and_memory(void **state)
{
	static uint8_t text[50000];
	size_t n = sample(text, sizeof(text)), m0, m1, m2;
	struct zio *z = zio_new(), *in = zio_new();
	struct buf wire, plain;

	buf_init(&wire, 1024, 1 << 20);
	buf_init(&plain, 1024, 1 << 20);
	m0 = zio_mem(z);		/* the inflater's state only */
	assert_true(m0 > 0 && m0 < 12 * 1024);
	assert_int_equal(zio_deflate(z, span_make(text, n / 2), ZIO_NONE,
	    &wire), 0);
	m1 = zio_mem(z);		/* plus the deflater */
	assert_true(m1 > m0 + 24 * 1024 && m1 < m0 + 48 * 1024);
	zio_trim(z);			/* data pending: not yet */
	assert_int_equal(zio_mem(z), m1);
	assert_int_equal(zio_deflate(z, span_make(NULL, 0), ZIO_SYNC,
	    &wire), 0);
	assert_int_equal(zio_mem(z), m0);
	/* the next write starts a fresh deflater */
	assert_int_equal(zio_deflate(z, span_make(text + n / 2, n - n / 2),
	    ZIO_SYNC, &wire), 0);
	m2 = zio_mem(z);
	assert_int_equal(m2, m1);
	zio_trim(z);			/* flushed: at once */
	assert_int_equal(zio_mem(z), m0);
	zio_trim(z);
	assert_int_equal(inflate_all(in, wire.data, wire.len, 100, 4096,
	    &plain), 0);
	assert_int_equal(plain.len, n);
	assert_memory_equal(plain.data, text, n);
	/* the inflater's 32 KiB window came with its first output */
	assert_true(zio_mem(in) >= m0 + 32 * 1024);
	/* one connection: the inflater with its window plus a deflater */
	m2 = zio_mem(in) + m1 - m0;
	print_message("zio: inflater %zu bytes (state %zu), deflater %zu, "
	    "both %zu\n", zio_mem(in), m0, m1 - m0, m2);
	assert_true(m2 < 84 * 1024);
	zio_free(&z);
	zio_free(&in);
	buf_fini(&wire);
	buf_fini(&plain);
}

/* out's cap: -1, never a write past it. */
static void
test_out_cap(void **state)
{
	static uint8_t text[100000];
	struct zio *z = zio_new();
	struct buf wire;
	size_t i;

	srand(3);
	for (i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)rand();
	buf_init(&wire, 64, 50000);
	assert_int_equal(zio_deflate(z, span_make(text, sizeof(text)),
	    ZIO_SYNC, &wire), -1);
	assert_true(wire.len <= 50000);
	zio_free(&z);
	buf_fini(&wire);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_partial_flushes),
		cmocka_unit_test(test_peer_window),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_bomb),
		cmocka_unit_test(test_trim_and_memory),
		cmocka_unit_test(test_out_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
