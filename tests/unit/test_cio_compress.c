/* Unit tests for cio_compress (common/cio.c over common/zio.c): the
 * switch inside a command's callback, pipelined compressed input, big
 * output, a corrupt stream and a decompression bomb. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <zlib.h>

#include "common/cio.h"

#define BIG (1 << 20)

struct rec {
	struct ev_loop *loop;
	struct cio *c;
	int peer;
	int n_lines, n_overlong, closed, compress_rc, again_rc;
	char last[256];
	char why[200];
	/* the peer's two streams, as a client's */
	z_stream d, i;
};

static uint8_t big_text[BIG];

static void
rec_cb(struct cio *c, struct cio_ev *ev, void *arg)
{
	struct rec *r = arg;
	size_t off;

	switch (ev->type) {
	case CIO_LINE:
		r->n_lines++;
		snprintf(r->last, sizeof(r->last), "%.*s", (int)ev->data.n,
		    (const char *)ev->data.p);
		if (span_eq(ev->data, "COMPRESS")) {
			assert_int_equal(cio_write(c, "OK\r\n", 4), 0);
			r->compress_rc = cio_compress(c, 0);
			r->again_rc = cio_compress(c, 0);
		} else if (span_eq(ev->data, "BIG")) {
			/* like imapd's FETCH: 64 KiB pieces */
			for (off = 0; off < BIG; off += 65536)
				assert_int_equal(cio_write(c, big_text + off,
				    65536), 0);
		} else
			assert_int_equal(cio_printf(c, "got %s\r\n", r->last),
			    0);
		break;
	case CIO_OVERLONG:
		r->n_overlong++;
		break;
	case CIO_CLOSED:
		snprintf(r->why, sizeof(r->why), "%s", ev->why);
		r->closed = 1;
		cio_free(&r->c);
		break;
	default:
		break;
	}
}

static void
stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

static int
spin(struct rec *r, const int *v, int want, double secs)
{
	ev_timer guard;
	ev_tstamp end;

	ev_now_update(r->loop);
	end = ev_now(r->loop) + secs;
	ev_timer_init(&guard, stop_cb, 0.01, 0.0);
	while (*v < want && ev_now(r->loop) < end) {
		ev_timer_start(r->loop, &guard);
		ev_run(r->loop, EVRUN_ONCE);
		ev_timer_stop(r->loop, &guard);
	}
	return *v;
}

static void
rec_init(struct rec *r, const struct cio_opts *o)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	r->compress_rc = r->again_rc = 99;
	r->loop = ev_loop_new(EVFLAG_AUTO);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	r->peer = sv[1];
	r->c = cio_new(r->loop, sv[0], o, rec_cb, r);
	assert_int_equal(deflateInit2(&r->d, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	assert_int_equal(inflateInit2(&r->i, -15), Z_OK);
	assert_int_equal(fcntl(r->peer, F_SETFL, O_NONBLOCK), 0);
}

static void
rec_fini(struct rec *r)
{
	cio_free(&r->c);
	close(r->peer);
	deflateEnd(&r->d);
	inflateEnd(&r->i);
	ev_loop_destroy(r->loop);
}

/* Send n bytes, spinning the loop while the socket is full. */
static void
put(struct rec *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	int zero = 0;

	while (n > 0) {
		ssize_t k = write(r->peer, b, n);

		if (k < 0) {
			assert_int_equal(errno, EAGAIN);
			spin(r, &zero, 1, 0.01);
			continue;
		}
		b += k;
		n -= (size_t)k;
	}
}

/* Compress as a client and send, ending with a sync flush. */
static void
zput(struct rec *r, const void *p, size_t n)
{
	static uint8_t out[65536];

	r->d.next_in = (Bytef *)(uintptr_t)p;
	r->d.avail_in = (uInt)n;
	do {
		r->d.next_out = out;
		r->d.avail_out = sizeof(out);
		assert_true(deflate(&r->d, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
		put(r, out, sizeof(out) - r->d.avail_out);
	} while (r->d.avail_out == 0);
}

/* Read from the socket (spinning the loop) until want bytes came;
 * plain_n of them are read as they are, the rest inflated.  dst has
 * room for want + 64, so that more than asked for shows. */
static size_t
get(struct rec *r, uint8_t *dst, size_t plain_n, size_t want)
{
	size_t cap = want + 64;
	static uint8_t raw[65536];
	size_t have = 0;
	int zero = 0;
	ev_tstamp end = ev_time() + 10.0;

	while (have < want && ev_time() < end) {
		ssize_t k;
		size_t off = 0;

		if (plain_n > have) {
			k = read(r->peer, dst + have, plain_n - have);
			if (k > 0) {
				have += (size_t)k;
				continue;
			}
		} else if ((k = read(r->peer, raw, sizeof(raw))) > 0) {
			r->i.next_in = raw;
			r->i.avail_in = (uInt)k;
			while (r->i.avail_in > 0) {
				r->i.next_out = dst + have + off;
				r->i.avail_out = (uInt)(cap - have - off);
				assert_int_equal(inflate(&r->i, Z_SYNC_FLUSH),
				    Z_OK);
				off = cap - have - r->i.avail_out;
			}
			have += off;
			continue;
		}
		spin(r, &zero, 1, 0.01);
	}
	return have;
}

static void
test_switch_and_pipelined(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	uint8_t got[128], z[64];
	uLong zn;

	rec_init(&r, &o);
	/* compressed commands right behind COMPRESS, in the same read:
	 * they are inflated, not taken as text */
	put(&r, "COMPRESS\r\n", 10);
	r.d.next_in = (Bytef *)"a\r\nb\r\n";
	r.d.avail_in = 6;
	r.d.next_out = z;
	r.d.avail_out = sizeof(z);
	assert_int_equal(deflate(&r.d, Z_SYNC_FLUSH), Z_OK);
	zn = sizeof(z) - r.d.avail_out;
	put(&r, z, zn);
	assert_int_equal(spin(&r, &r.n_lines, 3, 2.0), 3);
	assert_int_equal(r.compress_rc, 0);
	assert_int_equal(r.again_rc, -1);
	assert_int_equal(cio_compress_active(r.c), 1);
	assert_string_equal(r.last, "b");
	/* the OK in clear, then compressed, each batch flushed: all of
	 * it decodes without more bytes coming */
	assert_int_equal(get(&r, got, 4, 4 + 14), 18);
	assert_memory_equal(got, "OK\r\ngot a\r\ngot b\r\n", 18);
	zput(&r, "c\r\n", 3);
	assert_int_equal(get(&r, got, 0, 7), 7);
	assert_memory_equal(got, "got c\r\n", 7);
	rec_fini(&r);
}

/* 1 MiB written in 64 KiB pieces comes out exactly, through the
 * out_hiwat back-pressure. */
static void
test_big_output(void **state)
{
	struct cio_opts o = { .out_hiwat = 65536, .in_max = 4096 };
	struct rec r;
	static uint8_t got[BIG + 128];
	size_t i;

	for (i = 0; i < BIG; i++)
		big_text[i] = (uint8_t)("abcdefghij\r\n"[i % 12] +
		    (i % 4099 == 0 ? 1 : 0));
	rec_init(&r, &o);
	put(&r, "COMPRESS\r\n", 10);
	assert_int_equal(get(&r, got, 4, 4), 4);
	zput(&r, "BIG\r\nx\r\n", 8);
	assert_int_equal(get(&r, got, 0, BIG + 7), BIG + 7);
	assert_memory_equal(got, big_text, BIG);
	assert_memory_equal(got + BIG, "got x\r\n", 7);
	assert_int_equal(cio_out_pending(r.c), 0);
	rec_fini(&r);
}

static void
test_corrupt(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	uint8_t got[68];

	rec_init(&r, &o);
	put(&r, "COMPRESS\r\n", 10);
	assert_int_equal(get(&r, got, 4, 4), 4);
	zput(&r, "a\r\n", 3);
	assert_int_equal(spin(&r, &r.n_lines, 2, 2.0), 2);
	/* block type 3 does not exist */
	put(&r, "\xff\xff\xff", 3);
	assert_int_equal(spin(&r, &r.closed, 1, 2.0), 1);
	assert_string_equal(r.why, "inflate: invalid block type");
	assert_int_equal(r.n_lines, 2);
	rec_fini(&r);
}

/* 8 MiB without a line end, in about 8 KiB: the line limit throws it
 * away as it would plain input, and the input buffer never grows past
 * in_max (ASan would see a write past it). */
static void
test_bomb(void **state)
{
	struct cio_opts o = { .line_max = 998, .in_max = 4096 };
	struct rec r;
	uint8_t got[68];
	static uint8_t x[65536];
	size_t i;

	memset(x, 'x', sizeof(x));
	rec_init(&r, &o);
	put(&r, "COMPRESS\r\n", 10);
	assert_int_equal(get(&r, got, 4, 4), 4);
	for (i = 0; i < 128; i++)
		zput(&r, x, sizeof(x));
	zput(&r, "\r\nafter\r\n", 9);
	assert_int_equal(spin(&r, &r.n_lines, 2, 10.0), 2);
	assert_int_equal(r.n_overlong, 1);
	assert_string_equal(r.last, "after");
	assert_int_equal(r.closed, 0);
	rec_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch_and_pipelined),
		cmocka_unit_test(test_big_output),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_bomb),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
