/* Unit tests for common/ipcc: requests, replies, timeouts, loss, reconnect, cancel. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ev.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/ipcc.h"
#include "common/log.h"

#define T_REQ 100
#define T_REPLY 200
#define MAXHELD 8

/* ---- a tiny server on the same loop ---- */

enum srv_mode { SRV_ECHO, SRV_HOLD };

struct srv {
	char dir[64];
	char path[96];
	int lfd;
	ev_io lw;
	struct ipc_conn *conn;
	enum srv_mode mode;
	int naccepted;
	int nheld;
	struct {
		uint64_t reqid;
		char text[64];
	} held[MAXHELD];
	int fd_to_send;		/* -1, or attached to every reply */
};

static struct srv S;

static void
srv_send(struct srv *s, uint64_t reqid, const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, T_REPLY, reqid);
	assert_int_equal(ipc_put_cstr(&m, text), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	m.fd = s->fd_to_send;
	assert_non_null(s->conn);
	assert_int_equal(ipc_conn_send(s->conn, &m), 0);
	ipc_msg_fini(&m);
}

static int
srv_on_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span p,
    int fd, void *arg)
{
	struct srv *s = arg;
	struct ipc_reader r;
	char text[64];

	assert_int_equal(h->type, T_REQ);
	assert_int_equal(fd, -1);
	ipc_reader_init(&r, p);
	assert_int_equal(ipc_get_cstr(&r, text, sizeof(text)), 0);
	assert_int_equal(ipc_get_end(&r), 0);
	if (s->mode == SRV_ECHO) {
		srv_send(s, h->reqid, text);
		return 0;
	}
	assert_true(s->nheld < MAXHELD);
	s->held[s->nheld].reqid = h->reqid;
	snprintf(s->held[s->nheld].text, sizeof(s->held[0].text), "%s", text);
	s->nheld++;
	return 0;
}

static void
srv_on_close(struct ipc_conn *c, void *arg)
{
	struct srv *s = arg;

	ipc_conn_free(&s->conn);
}

static void
srv_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct srv *s = w->data;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return;
	/* one client at a time: a new one replaces the old */
	ipc_conn_free(&s->conn);
	s->conn = ipc_conn_new(loop, fd, IPC_MAX_PAYLOAD, srv_on_msg,
	    srv_on_close, s);
	s->naccepted++;
}

static void
srv_listen(struct srv *s)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(s->lfd, 16), 0);
	ev_io_init(&s->lw, srv_accept_cb, s->lfd, EV_READ);
	s->lw.data = s;
	ev_io_start(EV_DEFAULT, &s->lw);
}

/* Stop listening, drop the client, remove the socket file. */
static void
srv_shutdown(struct srv *s)
{
	ipc_conn_free(&s->conn);
	if (s->lfd >= 0) {
		ev_io_stop(EV_DEFAULT, &s->lw);
		close(s->lfd);
		s->lfd = -1;
	}
	unlink(s->path);
}

static int
setup(void **state)
{
	memset(&S, 0, sizeof(S));
	S.lfd = -1;
	S.fd_to_send = -1;
	snprintf(S.dir, sizeof(S.dir), "/tmp/test_ipcc.XXXXXX");
	assert_non_null(mkdtemp(S.dir));
	snprintf(S.path, sizeof(S.path), "%s/srv.sock", S.dir);
	srv_listen(&S);
	return 0;
}

static int
teardown(void **state)
{
	srv_shutdown(&S);
	rmdir(S.dir);
	return 0;
}

/* ---- the client side ---- */

struct rec {
	int called;
	int had_hdr;
	uint64_t reqid;
	uint32_t type;
	char text[64];
	int fd;
	char why[32];
	int inside_request;
};

static int in_request;		/* set around every ipcc_request call */
static int ncalls;

static void
reply_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct rec *r = arg;
	struct ipc_reader rd;

	r->called++;
	ncalls++;
	if (in_request)
		r->inside_request = 1;
	r->fd = fd;
	if (hdr == NULL) {
		assert_non_null(why);
		assert_int_equal(payload.n, 0);
		assert_int_equal(fd, -1);
		snprintf(r->why, sizeof(r->why), "%s", why);
		return;
	}
	r->had_hdr = 1;
	r->reqid = hdr->reqid;
	r->type = hdr->type;
	ipc_reader_init(&rd, payload);
	assert_int_equal(ipc_get_cstr(&rd, r->text, sizeof(r->text)), 0);
	assert_int_equal(ipc_get_end(&rd), 0);
}

static void
rec_init(struct rec *r, size_t n)
{
	memset(r, 0, n * sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i].fd = -1;
}

/* A request carrying text; the request id we put in is a decoy that
 * ipcc must replace with its own. */
static int
req(struct ipcc *c, const char *text, struct rec *r, uint64_t *id)
{
	struct ipc_msg m;
	int rc;

	ipc_msg_init(&m, T_REQ, 0xdecafbad);
	assert_int_equal(ipc_put_cstr(&m, text), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	in_request = 1;
	rc = ipcc_request(c, &m, reply_cb, r, id);
	in_request = 0;
	ipc_msg_fini(&m);
	return rc;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Run the loop until *v reaches want; fail after 5 s. */
static void
run_until(const int *v, int want)
{
	ev_tstamp end = ev_time() + 5.;
	ev_timer tick;

	ev_timer_init(&tick, tick_cb, 0.02, 0.02);
	ev_timer_start(EV_DEFAULT, &tick);
	while (*v < want) {
		if (ev_time() > end)
			fail_msg("waited 5 s for %d, have %d", want, *v);
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	}
	ev_timer_stop(EV_DEFAULT, &tick);
}

/* Run the loop for a while (for "nothing happens" checks). */
static void
run_for(double s)
{
	ev_tstamp end = ev_time() + s;
	ev_timer tick;

	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(EV_DEFAULT, &tick);
	while (ev_time() < end)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	ev_timer_stop(EV_DEFAULT, &tick);
}

/* 1 if every write end of the pipe whose read end is rfd is closed. */
static int
pipe_writers_gone(int rfd)
{
	char ch;
	ssize_t n;

	(void)fcntl(rfd, F_SETFL, O_NONBLOCK);
	n = read(rfd, &ch, 1);
	return n == 0;
}

/* ---- tests ---- */

static void
test_one_request(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r;
	uint64_t id = 0;

	rec_init(&r, 1);
	ncalls = 0;
	assert_int_equal(req(c, "hello", &r, &id), 0);
	assert_true(id != 0 && id != 0xdecafbad);
	assert_int_equal(ipcc_pending(c), 1);
	assert_int_equal(r.called, 0);
	run_until(&ncalls, 1);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.had_hdr, 1);
	assert_true(r.reqid == id);
	assert_int_equal(r.type, T_REPLY);
	assert_string_equal(r.text, "hello");
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.why[0], '\0');
	assert_int_equal(ipcc_pending(c), 0);
	/* a second request on the same connection gets a new id */
	{
		struct rec r2;
		uint64_t id2 = 0;

		rec_init(&r2, 1);
		assert_int_equal(req(c, "again", &r2, &id2), 0);
		assert_true(id2 != id);
		run_until(&ncalls, 2);
		assert_true(r2.reqid == id2);
		assert_string_equal(r2.text, "again");
	}
	assert_int_equal(S.naccepted, 1);
	assert_int_equal(r.inside_request, 0);
	ipcc_free(&c);
	assert_null(c);
}

static void
test_pipelined_out_of_order(void **state)
{
	static const int order[] = { 2, 0, 3, 1 };
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r[4];
	uint64_t id[4];
	char text[16];
	int i;

	S.mode = SRV_HOLD;
	rec_init(r, 4);
	ncalls = 0;
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "req-%d", i);
		assert_int_equal(req(c, text, &r[i], &id[i]), 0);
	}
	assert_int_equal(ipcc_pending(c), 4);
	run_until(&S.nheld, 4);
	for (i = 0; i < 4; i++) {
		assert_true(S.held[i].reqid == id[i]);
		snprintf(text, sizeof(text), "req-%d", i);
		assert_string_equal(S.held[i].text, text);
	}
	/* answer out of order, each with its own request's text */
	for (i = 0; i < 4; i++) {
		int k = order[i];

		snprintf(text, sizeof(text), "reply-%d", k);
		srv_send(&S, S.held[k].reqid, text);
	}
	run_until(&ncalls, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(r[i].called, 1);
		assert_true(r[i].reqid == id[i]);
		snprintf(text, sizeof(text), "reply-%d", i);
		assert_string_equal(r[i].text, text);
		assert_int_equal(r[i].inside_request, 0);
	}
	assert_int_equal(ipcc_pending(c), 0);
	ipcc_free(&c);
}

static void
test_reply_with_fd(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r;
	int pfd[2];
	char buf[8];

	assert_int_equal(pipe(pfd), 0);
	S.fd_to_send = pfd[1];
	rec_init(&r, 1);
	ncalls = 0;
	assert_int_equal(req(c, "give me an fd", &r, NULL), 0);
	run_until(&ncalls, 1);
	S.fd_to_send = -1;
	close(pfd[1]);
	assert_true(r.fd >= 0);
	assert_true(r.fd != pfd[1]);
	assert_int_equal(write(r.fd, "ok", 2), 2);
	close(r.fd);
	assert_int_equal(read(pfd[0], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ok", 2);
	/* the callee owned the only write end left */
	assert_true(pipe_writers_gone(pfd[0]));
	close(pfd[0]);
	ipcc_free(&c);
}

static void
test_timeout_then_late_reply_dropped(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 0.2);
	struct rec r, r2;
	ev_tstamp t0;
	int pfd[2];

	S.mode = SRV_HOLD;
	rec_init(&r, 1);
	ncalls = 0;
	t0 = ev_time();
	assert_int_equal(req(c, "slow", &r, NULL), 0);
	run_until(&ncalls, 1);
	assert_true(ev_time() - t0 >= 0.15);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.had_hdr, 0);
	assert_string_equal(r.why, "timeout");
	assert_int_equal(r.inside_request, 0);
	assert_int_equal(ipcc_pending(c), 0);
	assert_int_equal(S.nheld, 1);

	/* the late reply, with an fd, is dropped and its fd closed */
	assert_int_equal(pipe(pfd), 0);
	S.fd_to_send = pfd[1];
	srv_send(&S, S.held[0].reqid, "too late");
	S.fd_to_send = -1;
	close(pfd[1]);
	run_for(0.3);
	assert_int_equal(r.called, 1);
	assert_int_equal(ncalls, 1);
	assert_true(pipe_writers_gone(pfd[0]));
	close(pfd[0]);

	/* the connection is still good for the next request */
	S.mode = SRV_ECHO;
	rec_init(&r2, 1);
	assert_int_equal(req(c, "fast", &r2, NULL), 0);
	run_until(&ncalls, 2);
	assert_string_equal(r2.text, "fast");
	assert_int_equal(S.naccepted, 1);
	ipcc_free(&c);
}

static void
test_connection_lost_fails_all_then_reconnects(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r[3], r2;
	uint64_t id = 0;
	int i;

	S.mode = SRV_HOLD;
	rec_init(r, 3);
	ncalls = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(req(c, "pending", &r[i], NULL), 0);
	run_until(&S.nheld, 3);
	/* the server goes away entirely, as a crashed daemon would */
	srv_shutdown(&S);
	run_until(&ncalls, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(r[i].called, 1);
		assert_int_equal(r[i].had_hdr, 0);
		assert_string_equal(r[i].why, "connection lost");
		assert_int_equal(r[i].inside_request, 0);
	}
	assert_int_equal(ipcc_pending(c), 0);

	/* nothing listens now: refused at once, no callback */
	rec_init(&r2, 1);
	assert_int_equal(req(c, "nobody", &r2, NULL), -1);
	run_for(0.05);
	assert_int_equal(r2.called, 0);
	assert_int_equal(ipcc_pending(c), 0);

	/* a restarted server on the same path: the next request reconnects */
	S.mode = SRV_ECHO;
	S.nheld = 0;
	S.naccepted = 0;
	srv_listen(&S);
	assert_int_equal(req(c, "back", &r2, &id), 0);
	run_until(&ncalls, 4);
	assert_int_equal(r2.called, 1);
	assert_true(r2.reqid == id);
	assert_string_equal(r2.text, "back");
	assert_int_equal(S.naccepted, 1);
	ipcc_free(&c);
}

static void
test_close_fails_pending_not_inside_request(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r[2];

	/* the server drops the connection but keeps listening; a request
	 * made before the client noticed must still be answered later */
	S.mode = SRV_HOLD;
	rec_init(r, 2);
	ncalls = 0;
	assert_int_equal(req(c, "one", &r[0], NULL), 0);
	run_until(&S.nheld, 1);
	ipc_conn_free(&S.conn);
	assert_int_equal(req(c, "two", &r[1], NULL), 0);
	assert_int_equal(ncalls, 0);
	run_until(&ncalls, 2);
	assert_string_equal(r[0].why, "connection lost");
	assert_string_equal(r[1].why, "connection lost");
	assert_int_equal(r[0].inside_request + r[1].inside_request, 0);
	ipcc_free(&c);
}

static void
test_nothing_listens(void **state)
{
	char path[128];
	struct ipcc *c;
	struct rec r;

	snprintf(path, sizeof(path), "%s/none.sock", S.dir);
	c = ipcc_new(EV_DEFAULT, path, 5.);
	rec_init(&r, 1);
	ncalls = 0;
	assert_int_equal(req(c, "x", &r, NULL), -1);
	run_for(0.05);
	assert_int_equal(ncalls, 0);
	assert_int_equal(ipcc_pending(c), 0);
	ipcc_free(&c);
}

static void
test_cancel(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r[3];
	uint64_t id[3];
	int pfd[2], i;

	S.mode = SRV_HOLD;
	rec_init(r, 3);
	ncalls = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(req(c, "c", &r[i], &id[i]), 0);
	run_until(&S.nheld, 3);
	ipcc_cancel(c, id[0]);
	ipcc_cancel(c, id[2]);
	/* the cancelled one's reply comes with an fd: it must be closed */
	assert_int_equal(pipe(pfd), 0);
	S.fd_to_send = pfd[1];
	srv_send(&S, S.held[0].reqid, "zero");
	S.fd_to_send = -1;
	close(pfd[1]);
	srv_send(&S, S.held[1].reqid, "one");
	run_until(&ncalls, 1);
	run_for(0.1);
	assert_int_equal(r[0].called, 0);
	assert_int_equal(r[1].called, 1);
	assert_string_equal(r[1].text, "one");
	assert_true(pipe_writers_gone(pfd[0]));
	close(pfd[0]);
	/* the third, cancelled, then lost with the connection: no call */
	srv_shutdown(&S);
	run_for(0.1);
	assert_int_equal(r[2].called, 0);
	assert_int_equal(ncalls, 1);
	assert_int_equal(ipcc_pending(c), 0);
	ipcc_free(&c);
}

static void
test_cancel_after_timeout_is_harmless(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 0.05);
	struct rec r;
	uint64_t id;

	S.mode = SRV_HOLD;
	rec_init(&r, 1);
	ncalls = 0;
	assert_int_equal(req(c, "t", &r, &id), 0);
	run_until(&ncalls, 1);
	assert_string_equal(r.why, "timeout");
	ipcc_cancel(c, id);
	ipcc_cancel(c, 12345);
	ipcc_free(&c);
}

static void
test_free_with_pending(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, S.path, 5.);
	struct rec r[3];
	int i;

	S.mode = SRV_HOLD;
	rec_init(r, 3);
	ncalls = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(req(c, "p", &r[i], NULL), 0);
	run_until(&S.nheld, 3);
	ipcc_free(&c);
	assert_null(c);
	ipcc_free(&c);		/* NULL is fine */
	/* a reply to a freed client goes nowhere; no callback runs */
	srv_send(&S, S.held[0].reqid, "nobody home");
	run_for(0.1);
	assert_int_equal(ncalls, 0);

	/* and with requests failed by a lost connection not yet answered */
	c = ipcc_new(EV_DEFAULT, S.path, 5.);
	S.nheld = 0;
	for (i = 0; i < 2; i++)
		assert_int_equal(req(c, "q", &r[i], NULL), 0);
	run_until(&S.nheld, 2);
	ipc_conn_free(&S.conn);
	{
		/* one iteration at a time, until the client has seen the
		 * close: the failed requests wait for the idle watcher */
		ev_tstamp end = ev_time() + 5.;
		ev_timer tick;

		ev_timer_init(&tick, tick_cb, 0.02, 0.02);
		ev_timer_start(EV_DEFAULT, &tick);
		while (ipcc_pending(c) > 0 && ev_time() < end)
			ev_run(EV_DEFAULT, EVRUN_ONCE);
		ev_timer_stop(EV_DEFAULT, &tick);
	}
	assert_int_equal(ipcc_pending(c), 0);
	ipcc_free(&c);
	run_for(0.05);
	assert_int_equal(ncalls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_out_of_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_with_fd, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_timeout_then_late_reply_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_connection_lost_fails_all_then_reconnects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_fails_pending_not_inside_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_nothing_listens, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_cancel_after_timeout_is_harmless, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_pending, setup,
		    teardown),
	};

	log_init("test_ipcc", LOG_DEST_STDERR, LOG_LVL_ERR, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
