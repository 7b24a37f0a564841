/* Unit tests for common/cio: lines, limits, back-pressure, timeouts, TLS. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>

#include "common/cio.h"
#include "common/tlsw.h"

#define MAXL 16

struct rec {
	struct ev_loop *loop;
	struct cio *c;
	int peer;			/* the test's end of the socketpair */
	char lines[MAXL][256];
	size_t lens[MAXL];
	unsigned flags[MAXL];
	enum linebuf_end ends[MAXL];
	int n_lines, n_overlong, n_drained, n_tls, n_timeout, closed;
	int n_events, n_data;
	enum cio_event seq[64];		/* event types in order */
	enum cio_timeout last_to;
	char why[200];
	/* behaviour switches for the callback */
	int pause_on, raw_on, starttls_on, big_on, shut_on;
	size_t raw_take;		/* raw: consume at most this */
	char raw_got[256];
	size_t raw_len;
	size_t dropped;
	SSL_CTX *ctx;
	char version[32], cipher[64];
};

static char tmpdir[64], certp[128], keyp[128];
static struct tlsw *tls;

static void
rec_cb(struct cio *c, struct cio_ev *ev, void *arg)
{
	struct rec *r = arg;
	int i = r->n_lines;

	if (r->n_events < 64)
		r->seq[r->n_events++] = ev->type;
	switch (ev->type) {
	case CIO_LINE:
		assert_true(i < MAXL && ev->data.n < 256);
		memcpy(r->lines[i], ev->data.p, ev->data.n);
		r->lines[i][ev->data.n] = '\0';
		r->lens[i] = ev->data.n;
		r->flags[i] = ev->flags;
		r->ends[i] = ev->end;
		r->n_lines++;
		if (r->pause_on && span_eq(ev->data, "PAUSE"))
			cio_pause(c);
		if (r->raw_on && span_eq(ev->data, "DATA"))
			cio_set_raw(c, 1);
		if (r->big_on && span_eq(ev->data, "a")) {
			static char chunk[65536];
			int k;

			memset(chunk, 'x', sizeof(chunk));
			for (k = 0; k < 16; k++)
				assert_int_equal(cio_write(c, chunk,
				    sizeof(chunk)), 0);
		}
		if (r->shut_on && span_eq(ev->data, "QUIT")) {
			assert_int_equal(cio_printf(c, "221 %s\r\n", "bye"), 0);
			cio_shutdown(c);
		}
		if (r->starttls_on && span_eq(ev->data, "STARTTLS")) {
			assert_int_equal(cio_write(c, "220 go\r\n", 8), 0);
			assert_int_equal(cio_starttls(c, r->ctx, &r->dropped),
			    0);
		}
		if (span_eq(ev->data, "AFTER"))
			assert_int_equal(cio_printf(c, "250 %s %s\r\n",
			    cio_tls_version(c), cio_tls_cipher(c)), 0);
		break;
	case CIO_OVERLONG:
		r->n_overlong++;
		break;
	case CIO_DATA:
		ev->used = ev->data.n < r->raw_take ? ev->data.n : r->raw_take;
		assert_true(r->raw_len + ev->used < sizeof(r->raw_got));
		memcpy(r->raw_got + r->raw_len, ev->data.p, ev->used);
		r->raw_len += ev->used;
		r->n_data++;
		break;
	case CIO_DRAINED:
		r->n_drained++;
		break;
	case CIO_TIMEOUT:
		r->n_timeout++;
		r->last_to = ev->timeout;
		break;
	case CIO_TLS_READY:
		r->n_tls++;
		assert_int_equal(cio_tls_active(c), 1);
		snprintf(r->version, sizeof(r->version), "%s",
		    cio_tls_version(c));
		snprintf(r->cipher, sizeof(r->cipher), "%s",
		    cio_tls_cipher(c));
		break;
	case CIO_CLOSED:
		snprintf(r->why, sizeof(r->why), "%s", ev->why);
		r->closed = 1;
		cio_free(&r->c);	/* allowed inside the callback */
		break;
	}
}

static void
stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until *v >= want or secs pass; returns *v. */
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
	r->loop = ev_loop_new(EVFLAG_AUTO);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	r->peer = sv[1];
	r->c = cio_new(r->loop, sv[0], o, rec_cb, r);
	r->ctx = tlsw_ctx(tls);
}

static void
rec_fini(struct rec *r)
{
	cio_free(&r->c);
	if (r->peer != -1)
		close(r->peer);
	ev_loop_destroy(r->loop);
}

static void
put(struct rec *r, const void *p, size_t n)
{
	assert_int_equal(write(r->peer, p, n), (ssize_t)n);
}

static void
test_lines(void **state)
{
	static const char in[] = "HELO a\r\nNOOP\nbare\rcr\r\nnul\0x\r\npart";
	struct cio_opts o = { 0 };
	struct rec r;

	rec_init(&r, &o);
	put(&r, in, sizeof(in) - 1);
	assert_int_equal(spin(&r, &r.n_lines, 4, 2.0), 4);
	assert_string_equal(r.lines[0], "HELO a");
	assert_int_equal(r.ends[0], LINEBUF_END_CRLF);
	assert_int_equal(r.flags[0], 0);
	assert_string_equal(r.lines[1], "NOOP");
	assert_int_equal(r.ends[1], LINEBUF_END_LF);
	assert_string_equal(r.lines[2], "bare\rcr");
	assert_int_equal(r.flags[2], LINEBUF_F_BARE_CR);
	assert_int_equal(r.lens[3], 5);
	assert_memory_equal(r.lines[3], "nul\0x", 5);
	assert_int_equal(r.flags[3], LINEBUF_F_NUL);
	/* the partial line is never reported; EOF closes */
	close(r.peer);
	r.peer = -1;
	assert_int_equal(spin(&r, &r.closed, 1, 2.0), 1);
	assert_int_equal(r.n_lines, 4);
	assert_string_equal(r.why, "peer closed");
	assert_null(r.c);
	rec_fini(&r);
}

static void
test_overlong(void **state)
{
	struct cio_opts o = { .line_max = 10, .in_max = 64 };
	struct rec r;
	char big[1000];

	rec_init(&r, &o);
	put(&r, "0123456789\r\n0123456789A\r\nnext\r\n", 31);
	assert_int_equal(spin(&r, &r.n_lines, 2, 2.0), 2);
	assert_int_equal(r.n_overlong, 1);
	assert_string_equal(r.lines[0], "0123456789");	/* exactly max */
	assert_string_equal(r.lines[1], "next");
	assert_int_equal(r.seq[1], CIO_OVERLONG);
	/* far past the input cap too: thrown away, reported once */
	memset(big, 'x', sizeof(big));
	put(&r, big, sizeof(big));
	put(&r, "\r\nafter\r\n", 9);
	assert_int_equal(spin(&r, &r.n_lines, 3, 2.0), 3);
	assert_int_equal(r.n_overlong, 2);
	assert_string_equal(r.lines[2], "after");
	assert_int_equal(cio_set_line_max(r.c, 63), -1);
	assert_int_equal(cio_set_line_max(r.c, 62), 0);
	rec_fini(&r);
}

static void
test_write_shutdown(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	char got[64];
	ssize_t n;
	size_t have = 0;

	rec_init(&r, &o);
	r.shut_on = 1;
	assert_int_equal(cio_write(r.c, "220 hi\r\n", 8), 0);
	assert_int_equal(spin(&r, &r.n_drained, 1, 2.0), 1);
	assert_int_equal(cio_out_pending(r.c), 0);
	/* QUIT, then a command that must not run after shutdown */
	put(&r, "QUIT\r\nNOOP\r\n", 12);
	assert_int_equal(spin(&r, &r.closed, 1, 2.0), 1);
	assert_string_equal(r.why, "closed");
	assert_int_equal(r.n_lines, 1);
	while ((n = read(r.peer, got + have, sizeof(got) - 1 - have)) > 0)
		have += (size_t)n;
	got[have] = '\0';
	assert_string_equal(got, "220 hi\r\n221 bye\r\n");	/* then EOF */
	rec_fini(&r);
}

static void
test_backpressure(void **state)
{
	struct cio_opts o = { .out_hiwat = 65536 };
	struct rec r;
	static char sink[65536];
	size_t total = 0;
	ssize_t n;
	ev_tstamp end;

	rec_init(&r, &o);
	r.big_on = 1;
	assert_int_equal(fcntl(r.peer, F_SETFL, O_NONBLOCK), 0);
	put(&r, "a\r\nb\r\n", 6);
	assert_int_equal(spin(&r, &r.n_lines, 1, 2.0), 1);
	/* 1 MiB queued, the peer reads nothing: "b" must wait */
	spin(&r, &r.n_lines, 2, 0.2);
	assert_int_equal(r.n_lines, 1);
	assert_true(cio_out_pending(r.c) > 65536);
	end = ev_time() + 5.0;
	while (r.n_drained == 0 && ev_time() < end) {
		while ((n = read(r.peer, sink, sizeof(sink))) > 0)
			total += (size_t)n;
		spin(&r, &r.n_drained, 1, 0.01);
	}
	while ((n = read(r.peer, sink, sizeof(sink))) > 0)
		total += (size_t)n;
	assert_int_equal(total, 16 * 65536);
	assert_int_equal(spin(&r, &r.n_lines, 2, 2.0), 2);
	assert_string_equal(r.lines[1], "b");
	rec_fini(&r);
}

static void
test_pause_raw(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;

	rec_init(&r, &o);
	r.pause_on = 1;
	r.raw_on = 1;
	r.raw_take = 3;
	put(&r, "PAUSE\r\nNEXT\r\n", 13);
	assert_int_equal(spin(&r, &r.n_lines, 1, 2.0), 1);
	spin(&r, &r.n_lines, 2, 0.1);
	assert_int_equal(r.n_lines, 1);
	cio_resume(r.c);
	assert_int_equal(spin(&r, &r.n_lines, 2, 2.0), 2);
	assert_string_equal(r.lines[1], "NEXT");
	/* raw mode: the bytes after DATA come as CIO_DATA, 3 at a time */
	put(&r, "DATA\r\nabcdefg", 13);
	assert_int_equal(spin(&r, &r.n_lines, 3, 2.0), 3);
	/* offered again after each partial take: abc, def, g */
	assert_int_equal(spin(&r, &r.n_data, 3, 2.0), 3);
	spin(&r, &r.n_data, 4, 0.05);
	assert_int_equal(r.n_data, 3);
	assert_int_equal(r.raw_len, 7);
	assert_memory_equal(r.raw_got, "abcdefg", 7);
	/* back to lines */
	cio_set_raw(r.c, 0);
	put(&r, "L\r\n", 3);
	assert_int_equal(spin(&r, &r.n_lines, 4, 2.0), 4);
	assert_string_equal(r.lines[3], "L");
	rec_fini(&r);
}

static void
test_timeouts(void **state)
{
	struct cio_opts o = { .idle_s = 0.05 };
	struct rec r;

	rec_init(&r, &o);
	assert_int_equal(spin(&r, &r.n_timeout, 1, 2.0), 1);
	assert_int_equal(r.last_to, CIO_TO_IDLE);
	cio_set_idle(r.c, 0);
	cio_set_deadline(r.c, 0.05);
	assert_int_equal(spin(&r, &r.n_timeout, 2, 2.0), 2);
	assert_int_equal(r.last_to, CIO_TO_DEADLINE);
	spin(&r, &r.n_timeout, 3, 0.15);
	assert_int_equal(r.n_timeout, 2);	/* each fires once */
	cio_abort(r.c, "timeout");
	assert_int_equal(spin(&r, &r.closed, 1, 2.0), 1);
	assert_string_equal(r.why, "timeout");
	rec_fini(&r);
}

/* ---- TLS: a client thread with blocking OpenSSL ---- */

struct client {
	int fd;
	int min_v, max_v;
	const char *seclevel0;
	const char *plain_send;		/* sent before the handshake */
	int starttls;			/* read "220 go" first */
	int big;			/* send "a", read 1 MiB back */
	size_t big_got;
	int ok;				/* handshake succeeded */
	char reply[256];
	pthread_t th;
};

static void
client_readline_plain(int fd, char *out, size_t outsz)
{
	size_t n = 0;

	/* byte by byte: the TLS records after it are not ours to take */
	while (n + 1 < outsz && read(fd, out + n, 1) == 1)
		if (out[n++] == '\n')
			break;
	out[n] = '\0';
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char line[64];
	int n;

	if (cl->plain_send != NULL)
		(void)!write(cl->fd, cl->plain_send, strlen(cl->plain_send));
	if (cl->starttls) {
		client_readline_plain(cl->fd, line, sizeof(line));
		if (strcmp(line, "220 go\r\n") != 0)
			goto out_ctx;
	}
	SSL_CTX_set_min_proto_version(ctx, cl->min_v);
	SSL_CTX_set_max_proto_version(ctx, cl->max_v);
	if (cl->seclevel0)
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, cl->fd);
	if (SSL_connect(ssl) == 1) {
		cl->ok = 1;
		if (cl->big) {
			static char buf[16384];

			SSL_write(ssl, "a\r\n", 3);
			while (cl->big_got < 16 * 65536 &&
			    (n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
				cl->big_got += (size_t)n;
				usleep(100);	/* a slow reader */
			}
		}
		SSL_write(ssl, "AFTER\r\n", 7);
		n = SSL_read(ssl, cl->reply, sizeof(cl->reply) - 1);
		if (n > 0)
			cl->reply[n] = '\0';
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
out_ctx:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	shutdown(cl->fd, SHUT_RDWR);
	return NULL;
}

static void
client_start(struct client *cl, struct rec *r)
{
	cl->fd = r->peer;
	r->peer = -1;
	if (cl->min_v == 0)
		cl->min_v = TLS1_2_VERSION;
	if (cl->max_v == 0)
		cl->max_v = TLS1_3_VERSION;
	assert_int_equal(pthread_create(&cl->th, NULL, client_main, cl), 0);
}

static void
client_join(struct client *cl)
{
	pthread_join(cl->th, NULL);
	close(cl->fd);
}

static void
test_tls_implicit(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	struct client cl = { 0 };

	rec_init(&r, &o);
	assert_int_equal(cio_tls_accept(r.c, r.ctx), 0);
	assert_int_equal(cio_tls_accept(r.c, r.ctx), -1);
	assert_int_equal(cio_tls_active(r.c), 0);
	assert_null(cio_tls_version(r.c));
	client_start(&cl, &r);
	assert_int_equal(spin(&r, &r.closed, 1, 5.0), 1);
	client_join(&cl);
	assert_int_equal(cl.ok, 1);
	assert_int_equal(r.n_tls, 1);
	assert_int_equal(r.seq[0], CIO_TLS_READY);
	assert_string_equal(r.version, "TLSv1.3");
	assert_true(strncmp(r.cipher, "TLS_", 4) == 0);
	assert_string_equal(r.lines[0], "AFTER");
	snprintf(r.why, sizeof(r.why), "250 TLSv1.3 %s\r\n", r.cipher);
	assert_string_equal(cl.reply, r.why);
	rec_fini(&r);
}

/* Output far past the socket buffer over TLS: partial writes and
 * WANT_WRITE, with back-pressure holding the next command. */
static void
test_tls_bulk(void **state)
{
	struct cio_opts o = { .out_hiwat = 65536 };
	struct rec r;
	struct client cl = { .big = 1 };

	rec_init(&r, &o);
	r.big_on = 1;
	assert_int_equal(cio_tls_accept(r.c, r.ctx), 0);
	client_start(&cl, &r);
	assert_int_equal(spin(&r, &r.closed, 1, 10.0), 1);
	client_join(&cl);
	assert_int_equal(cl.ok, 1);
	assert_int_equal(cl.big_got, 16 * 65536);
	assert_int_equal(r.n_lines, 2);
	assert_string_equal(r.lines[1], "AFTER");
	assert_non_null(strstr(cl.reply, "250 TLSv1.3 TLS_"));
	rec_fini(&r);
}

static void
test_tls12_cipher(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	struct client cl = { .max_v = TLS1_2_VERSION };

	rec_init(&r, &o);
	assert_int_equal(cio_tls_accept(r.c, r.ctx), 0);
	client_start(&cl, &r);
	assert_int_equal(spin(&r, &r.closed, 1, 5.0), 1);
	client_join(&cl);
	assert_int_equal(cl.ok, 1);
	assert_string_equal(r.version, "TLSv1.2");
	/* our list, server order, EC key */
	assert_string_equal(r.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
	rec_fini(&r);
}

static void
test_starttls_injection(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	struct client cl = { .plain_send = "STARTTLS\r\nINJECTED\r\n",
	    .starttls = 1 };
	int i;

	rec_init(&r, &o);
	r.starttls_on = 1;
	client_start(&cl, &r);
	assert_int_equal(spin(&r, &r.closed, 1, 5.0), 1);
	client_join(&cl);
	assert_int_equal(cl.ok, 1);
	assert_int_equal(r.dropped, 10);	/* "INJECTED\r\n" */
	assert_int_equal(r.n_lines, 2);
	assert_string_equal(r.lines[0], "STARTTLS");
	assert_string_equal(r.lines[1], "AFTER");
	for (i = 0; i < r.n_lines; i++)
		assert_null(strstr(r.lines[i], "INJECTED"));
	assert_int_equal(r.n_tls, 1);
	assert_string_equal(r.version, "TLSv1.3");
	assert_non_null(strstr(cl.reply, "250 TLSv1.3 TLS_"));
	rec_fini(&r);
}

static void
test_tls11_refused(void **state)
{
	struct cio_opts o = { 0 };
	struct rec r;
	struct client cl = { .min_v = TLS1_VERSION, .max_v = TLS1_1_VERSION,
	    .seclevel0 = "yes" };

	rec_init(&r, &o);
	assert_int_equal(cio_tls_accept(r.c, r.ctx), 0);
	client_start(&cl, &r);
	assert_int_equal(spin(&r, &r.closed, 1, 5.0), 1);
	client_join(&cl);
	assert_int_equal(cl.ok, 0);
	assert_int_equal(r.n_tls, 0);
	assert_int_equal(r.n_lines, 0);
	/* refused by our minimum, not by the client's own limits */
	assert_string_equal(r.why, "TLS handshake failed: "
	    "error:0A000102:SSL routines::unsupported protocol");
	rec_fini(&r);
}

/* A server that answers the handshake, then holds the connection open
 * without a word: nothing from the peer wakes the client. */
static void *
hold_server_main(void *arg)
{
	int fd = *(int *)arg;
	SSL *ssl = SSL_new(tlsw_ctx(tls));

	SSL_set_fd(ssl, fd);
	(void)SSL_accept(ssl);		/* the client refuses our cert */
	usleep(1500 * 1000);
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

/* The client side of STARTTLS refusing the server's certificate: the
 * failed handshake ends in CIO_CLOSED with the reason while the peer
 * keeps the connection open.  (The race fixed in cio_step, a death in
 * cio_step_out with no other progress, depends on event order and is
 * exercised by tests/proto/test_relay_out.py's verify test.) */
static void
test_tls_client_verify_fails(void **state)
{
	struct cio_opts o = { .handshake_s = 5.0 };
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct rec r;
	pthread_t th;
	size_t dropped;
	int sfd;

	rec_init(&r, &o);
	sfd = r.peer;
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);	/* no CA */
	assert_int_equal(pthread_create(&th, NULL, hold_server_main, &sfd),
	    0);
	assert_int_equal(cio_starttls_client(r.c, cctx, &dropped), 0);
	assert_int_equal(spin(&r, &r.closed, 1, 1.0), 1);
	assert_non_null(strstr(r.why, "TLS handshake failed"));
	assert_non_null(strstr(r.why, "certificate verify failed"));
	pthread_join(th, NULL);
	SSL_CTX_free(cctx);
	rec_fini(&r);
}

static void
test_tls_handshake_timeout(void **state)
{
	struct cio_opts o = { .handshake_s = 0.05, .idle_s = 0.01 };
	struct rec r;

	rec_init(&r, &o);
	assert_int_equal(cio_tls_accept(r.c, r.ctx), 0);
	assert_int_equal(spin(&r, &r.closed, 1, 2.0), 1);
	assert_string_equal(r.why, "TLS handshake timeout");
	assert_int_equal(r.n_timeout, 0);	/* idle is off meanwhile */
	rec_fini(&r);
}

static int
group_setup(void **state)
{
	struct cfg c;
	const char *why;

	signal(SIGPIPE, SIG_IGN);
	strcpy(tmpdir, "/tmp/lb-cio-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(certp, sizeof(certp), "%s/cert.pem", tmpdir);
	snprintf(keyp, sizeof(keyp), "%s/key.pem", tmpdir);
	if (tlsw_selfsigned_write(certp, keyp, "mx.test", 1, &why) == -1)
		return -1;
	memset(&c, 0, sizeof(c));
	c.tls.cert = certp;
	c.tls.key = keyp;
	c.tls.min_version = 12;
	tls = tlsw_new(&c, &why);
	return tls == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	tlsw_free(&tls);
	unlink(certp);
	unlink(keyp);
	rmdir(tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_write_shutdown),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_pause_raw),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_tls_implicit),
		cmocka_unit_test(test_tls_client_verify_fails),
		cmocka_unit_test(test_tls_bulk),
		cmocka_unit_test(test_tls12_cipher),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_tls_handshake_timeout),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
