/* Unit tests for common/ipc: builder, frame parser, reader, libev connection, blocking call. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <ev.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"

static void
build(struct ipc_msg *m, uint32_t type, uint64_t reqid)
{
	ipc_msg_init(m, type, reqid);
	assert_int_equal(ipc_put_u32(m, 0xdeadbeef), 0);
	assert_int_equal(ipc_put_u64(m, 0x0102030405060708ull), 0);
	assert_int_equal(ipc_put_str(m, span_make("a\0b", 3)), 0);
	assert_int_equal(ipc_put_cstr(m, "hello"), 0);
	assert_int_equal(ipc_put_cstr(m, ""), 0);
	assert_int_equal(ipc_msg_finish(m), 0);
}

static void
test_round_trip(void **state)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	struct span p, s;
	struct ipc_reader r;
	size_t used;
	uint32_t u32;
	uint64_t u64;
	char cs[8];

	build(&m, 101, 77);
	assert_int_equal(ipc_frame_parse(buf_view(&m.b), IPC_MAX_PAYLOAD,
	    &used, &h, &p), PARSE_OK);
	assert_int_equal(used, m.b.len);
	assert_int_equal(h.type, 101);
	assert_int_equal(h.reqid, 77);
	assert_int_equal(h.len, 4 + 8 + 7 + 9 + 4);
	ipc_reader_init(&r, p);
	assert_int_equal(ipc_get_u32(&r, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(ipc_get_u64(&r, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(ipc_get_str(&r, &s, 3), 0);
	assert_int_equal(s.n, 3);
	assert_memory_equal(s.p, "a\0b", 3);
	assert_int_equal(ipc_get_cstr(&r, cs, 6), 0);
	assert_string_equal(cs, "hello");
	assert_int_equal(ipc_get_cstr(&r, cs, 1), 0);
	assert_string_equal(cs, "");
	assert_int_equal(ipc_get_end(&r), 0);
	/* little endian on the wire */
	assert_int_equal(m.b.data[0], 101);
	assert_int_equal(m.b.data[16], 0xef);
	ipc_msg_fini(&m);
}

static void
test_truncated(void **state)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	struct span p;
	size_t used = 12345, n;

	build(&m, 5, 1);
	for (n = 0; n < m.b.len; n++)
		assert_int_equal(ipc_frame_parse(span_make(m.b.data, n),
		    IPC_MAX_PAYLOAD, &used, &h, &p), PARSE_MORE);
	assert_int_equal(used, 12345);
	ipc_msg_fini(&m);
}

static void
hdr_bytes(uint8_t *b, uint32_t type, uint32_t len)
{
	memset(b, 0, IPC_HDR_SIZE);
	memcpy(b, &type, 4);	/* tests run on little-endian hosts */
	memcpy(b + 4, &len, 4);
}

static void
test_lengths(void **state)
{
	uint8_t hb[IPC_HDR_SIZE];
	uint8_t *big;
	struct ipc_hdr h;
	struct span p;
	size_t used;

	/* a small receiver limit: exactly max is fine, one more is fatal
	 * as soon as the header is there */
	hdr_bytes(hb, 7, 100);
	assert_int_equal(ipc_frame_parse(span_make(hb, sizeof(hb)), 100,
	    &used, &h, &p), PARSE_MORE);
	assert_int_equal(ipc_frame_parse(span_make(hb, sizeof(hb)), 99,
	    &used, &h, &p), PARSE_FATAL);
	hdr_bytes(hb, 7, IPC_MAX_PAYLOAD + 1);
	assert_int_equal(ipc_frame_parse(span_make(hb, sizeof(hb)),
	    (size_t)-1, &used, &h, &p), PARSE_FATAL);
	big = calloc(1, IPC_HDR_SIZE + IPC_MAX_PAYLOAD);
	hdr_bytes(big, 7, IPC_MAX_PAYLOAD);
	assert_int_equal(ipc_frame_parse(span_make(big, IPC_HDR_SIZE +
	    IPC_MAX_PAYLOAD), IPC_MAX_PAYLOAD, &used, &h, &p), PARSE_OK);
	assert_int_equal(p.n, IPC_MAX_PAYLOAD);
	free(big);
	/* type 0 is never valid */
	hdr_bytes(hb, 0, 0);
	assert_int_equal(ipc_frame_parse(span_make(hb, sizeof(hb)), 100,
	    &used, &h, &p), PARSE_FATAL);
	hdr_bytes(hb, 1, 0);
	assert_int_equal(ipc_frame_parse(span_make(hb, sizeof(hb)), 0,
	    &used, &h, &p), PARSE_OK);
	assert_int_equal(used, IPC_HDR_SIZE);
}

static void
test_poison(void **state)
{
	struct ipc_msg m;
	char *chunk = calloc(1, IPC_MAX_PAYLOAD);

	ipc_msg_init(&m, 3, 0);
	/* 4 + (MAX - 4) is exactly full */
	assert_int_equal(ipc_put_str(&m, span_make(chunk, IPC_MAX_PAYLOAD - 4)),
	    0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	assert_int_equal(ipc_put_u32(&m, 1), -1);
	assert_int_equal(ipc_msg_finish(&m), -1);
	assert_int_equal(ipc_put_cstr(&m, ""), -1);
	ipc_msg_fini(&m);

	ipc_msg_init(&m, 3, 0);
	assert_int_equal(ipc_put_str(&m, span_make(chunk, IPC_MAX_PAYLOAD)), -1);
	assert_int_equal(m.b.len, IPC_HDR_SIZE);
	assert_int_equal(ipc_put_u32(&m, 1), -1);	/* stays poisoned */
	assert_int_equal(ipc_msg_finish(&m), -1);
	ipc_msg_fini(&m);
	free(chunk);
}

static void
test_reader_errors(void **state)
{
	struct ipc_msg m;
	struct ipc_reader r;
	struct span s;
	uint32_t u;
	uint64_t v;
	char cs[4];

	/* trailing bytes */
	ipc_reader_init(&r, span_make("\1\0\0\0x", 5));
	assert_int_equal(ipc_get_u32(&r, &u), 0);
	assert_int_equal(ipc_get_end(&r), -1);
	/* short u64 sets err, and later gets fail too */
	ipc_reader_init(&r, span_make("\1\0\0\0\0", 5));
	assert_int_equal(ipc_get_u64(&r, &v), -1);
	assert_int_equal(ipc_get_u32(&r, &u), -1);
	assert_int_equal(ipc_get_end(&r), -1);
	/* string length past the payload */
	ipc_reader_init(&r, span_make("\5\0\0\0abcd", 8));
	assert_int_equal(ipc_get_str(&r, &s, 100), -1);
	assert_int_equal(ipc_get_end(&r), -1);
	/* longer than max: exactly max ok, max + 1 not */
	ipc_reader_init(&r, span_make("\3\0\0\0abc", 7));
	assert_int_equal(ipc_get_str(&r, &s, 3), 0);
	assert_int_equal(ipc_get_end(&r), 0);
	ipc_reader_init(&r, span_make("\3\0\0\0abc", 7));
	assert_int_equal(ipc_get_str(&r, &s, 2), -1);
	assert_int_equal(ipc_get_end(&r), -1);
	/* cstr: embedded NUL, too long, exact fit */
	ipc_reader_init(&r, span_make("\3\0\0\0a\0c", 7));
	assert_int_equal(ipc_get_cstr(&r, cs, sizeof(cs)), -1);
	assert_int_equal(ipc_get_end(&r), -1);
	ipc_reader_init(&r, span_make("\4\0\0\0abcd", 8));
	assert_int_equal(ipc_get_cstr(&r, cs, sizeof(cs)), -1);
	ipc_reader_init(&r, span_make("\3\0\0\0abc", 7));
	assert_int_equal(ipc_get_cstr(&r, cs, sizeof(cs)), 0);
	assert_string_equal(cs, "abc");
	assert_int_equal(ipc_get_end(&r), 0);
	/* an empty payload read to its end */
	ipc_msg_init(&m, 9, 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	ipc_reader_init(&r, span_make(m.b.data + IPC_HDR_SIZE, 0));
	assert_int_equal(ipc_get_end(&r), 0);
	ipc_msg_fini(&m);
}

/* Feed stream in pieces of at most step bytes (split at 'split' first),
 * parse frames as they complete, describe what was seen into out. */
static enum parse_rc
feed(struct span stream, size_t split, size_t step, struct buf *out)
{
	struct buf in;
	size_t off = 0;
	enum parse_rc rc = PARSE_MORE;

	buf_init(&in, 16, 1 << 20);
	while (off < stream.n) {
		size_t n = stream.n - off;
		struct ipc_hdr h;
		struct span p;
		size_t used;

		if (off < split && n > split - off)
			n = split - off;
		if (step && n > step)
			n = step;
		assert_int_equal(buf_add(&in, stream.p + off, n), 0);
		off += n;
		while ((rc = ipc_frame_parse(buf_view(&in), 64, &used, &h,
		    &p)) == PARSE_OK) {
			assert_int_equal(buf_addf(out, "[%u %llu %zu:", h.type,
			    (unsigned long long)h.reqid, p.n), 0);
			assert_int_equal(buf_addspan(out, p), 0);
			assert_int_equal(buf_addstr(out, "]"), 0);
			buf_consume(&in, used);
		}
		if (rc == PARSE_FATAL)
			break;
	}
	buf_fini(&in);
	return rc;
}

static void
test_split_every_offset(void **state)
{
	struct buf stream, whole, part;
	struct ipc_msg m;
	size_t k;
	enum parse_rc rc;
	uint32_t i;

	buf_init(&stream, 64, 1 << 20);
	for (i = 1; i <= 3; i++) {
		ipc_msg_init(&m, i, i * 1000);
		assert_int_equal(ipc_put_cstr(&m, i == 2 ? "" : "payload"), 0);
		assert_int_equal(ipc_put_u64(&m, i), 0);
		assert_int_equal(ipc_msg_finish(&m), 0);
		assert_int_equal(buf_addspan(&stream, buf_view(&m.b)), 0);
		ipc_msg_fini(&m);
	}
	/* then a frame over the 64-byte limit: fatal at the same point */
	ipc_msg_init(&m, 4, 4);
	assert_int_equal(ipc_put_str(&m, span_make(stream.data, 65)), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	assert_int_equal(buf_addspan(&stream, buf_view(&m.b)), 0);
	ipc_msg_fini(&m);

	buf_init(&whole, 64, 1 << 20);
	rc = feed(buf_view(&stream), 0, 0, &whole);
	assert_int_equal(rc, PARSE_FATAL);
	assert_non_null(memmem(whole.data, whole.len, "[3 3000 ", 8));
	buf_init(&part, 64, 1 << 20);
	assert_int_equal(feed(buf_view(&stream), 0, 1, &part), rc);
	assert_int_equal(part.len, whole.len);
	assert_memory_equal(part.data, whole.data, whole.len);
	for (k = 0; k <= stream.len; k++) {
		buf_reset(&part);
		assert_int_equal(feed(buf_view(&stream), k, 0, &part), rc);
		assert_int_equal(part.len, whole.len);
		assert_memory_equal(part.data, whole.data, whole.len);
	}
	buf_fini(&part);
	buf_fini(&whole);
	buf_fini(&stream);
}

/* ---- ipc_conn over a socketpair ---- */

struct side {
	struct ipc_conn *c;
	int nmsg, closed, fd, cloexec;
	uint32_t type;
	uint64_t reqid;
	char text[64];
	int stop_after;
};

static int
on_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span p, int fd,
    void *arg)
{
	struct side *s = arg;
	struct ipc_reader r;

	s->nmsg++;
	s->type = h->type;
	s->reqid = h->reqid;
	ipc_reader_init(&r, p);
	if (ipc_get_cstr(&r, s->text, sizeof(s->text)) < 0)
		s->text[0] = '\0';
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	if (fd >= 0)
		s->cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	if (s->nmsg >= s->stop_after)
		ev_break(EV_DEFAULT, EVBREAK_ALL);
	return 0;
}

static void
on_close(struct ipc_conn *c, void *arg)
{
	struct side *s = arg;

	s->closed = 1;
	ipc_conn_free(&s->c);
	ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void
side_init(struct side *s, int fd, int stop_after)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->stop_after = stop_after;
	s->c = ipc_conn_new(EV_DEFAULT, fd, 1024, on_msg, on_close, s);
}

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fail_msg("event loop did not finish");
}

static void
run_loop(void)
{
	ev_timer guard;

	/* a guard so a broken test fails instead of hanging */
	ev_timer_init(&guard, guard_cb, 5., 0.);
	ev_timer_start(EV_DEFAULT, &guard);
	ev_run(EV_DEFAULT, 0);
	ev_timer_stop(EV_DEFAULT, &guard);
}

static void
test_conn_fd_passing(void **state)
{
	struct side a, b;
	struct ipc_msg m;
	int sv[2], pfd[2];
	int i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pfd), 0);
	side_init(&a, sv[0], 1);
	side_init(&b, sv[1], 3);

	ipc_msg_init(&m, 42, 9);
	assert_int_equal(ipc_put_cstr(&m, "with-fd"), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	m.fd = pfd[1];
	assert_int_equal(ipc_conn_send(a.c, &m), 0);
	m.fd = -1;
	for (i = 0; i < 2; i++)
		assert_int_equal(ipc_conn_send(a.c, &m), 0);
	ipc_msg_fini(&m);
	close(pfd[1]);		/* the sender keeps no reference */
	run_loop();
	assert_int_equal(b.nmsg, 3);
	assert_int_equal(b.type, 42);
	assert_int_equal(b.reqid, 9);
	assert_string_equal(b.text, "with-fd");
	/* the last frame had no fd; the first one's arrived with CLOEXEC */
	assert_int_equal(b.fd, -1);
	assert_int_equal(b.cloexec, 1);
	assert_int_equal(b.closed, 0);

	/* and the passed fd works: reply the other way */
	ipc_msg_init(&m, 43, 10);
	assert_int_equal(ipc_put_cstr(&m, "back"), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	assert_int_equal(ipc_conn_send(b.c, &m), 0);
	ipc_msg_fini(&m);
	run_loop();
	assert_int_equal(a.nmsg, 1);
	assert_string_equal(a.text, "back");

	ipc_conn_free(&b.c);
	run_loop();
	assert_int_equal(a.closed, 1);
	assert_null(a.c);
	close(pfd[0]);
}

static void
test_conn_fd_check(void **state)
{
	struct side b;
	struct ipc_msg m;
	int sv[2], pfd[2];
	size_t half;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pfd), 0);
	side_init(&b, sv[1], 1);
	ipc_msg_init(&m, 42, 9);
	assert_int_equal(ipc_put_cstr(&m, "fd-in-the-middle"), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	/* first half without fd, second half carrying one: malformed */
	half = m.b.len / 2;
	assert_int_equal(write(sv[0], m.b.data, half), (ssize_t)half);
	{
		struct ipc_msg tail;

		tail.b = m.b;
		tail.b.data += half;
		tail.b.len -= half;
		tail.fd = pfd[0];
		/* reuse the blocking sender's fd path on a bare tail */
		struct msghdr mh;
		struct iovec iov = { tail.b.data, tail.b.len };
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		struct cmsghdr *c;

		memset(&mh, 0, sizeof(mh));
		memset(&cm, 0, sizeof(cm));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &tail.fd, sizeof(int));
		assert_true(sendmsg(sv[0], &mh, 0) > 0);
	}
	run_loop();
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.nmsg, 0);
	ipc_msg_fini(&m);
	close(sv[0]);
	close(pfd[0]);
	close(pfd[1]);
}

static void
test_conn_two_fds(void **state)
{
	struct side b;
	struct ipc_msg m;
	int sv[2], pfd[2];
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct cmsghdr *c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pfd), 0);
	side_init(&b, sv[1], 1);
	ipc_msg_init(&m, 42, 9);
	assert_int_equal(ipc_msg_finish(&m), 0);
	iov.iov_base = m.b.data;
	iov.iov_len = m.b.len;
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), pfd, 2 * sizeof(int));
	assert_true(sendmsg(sv[0], &mh, 0) > 0);
	run_loop();
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.nmsg, 0);
	ipc_msg_fini(&m);
	close(sv[0]);
	close(pfd[0]);
	close(pfd[1]);
}

static void
test_conn_malformed(void **state)
{
	struct side b;
	uint8_t hb[IPC_HDR_SIZE];
	int sv[2];

	/* one byte over the connection's limit of 1024 */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_init(&b, sv[1], 1);
	hdr_bytes(hb, 5, 1025);
	assert_int_equal(write(sv[0], hb, sizeof(hb)), (ssize_t)sizeof(hb));
	run_loop();
	assert_int_equal(b.closed, 1);
	close(sv[0]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	side_init(&b, sv[1], 1);
	hdr_bytes(hb, 0, 0);
	assert_int_equal(write(sv[0], hb, sizeof(hb)), (ssize_t)sizeof(hb));
	run_loop();
	assert_int_equal(b.closed, 1);
	close(sv[0]);

	/* exactly the limit is delivered */
	{
		uint8_t fr[IPC_HDR_SIZE + 1024];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		side_init(&b, sv[1], 1);
		memset(fr, 'x', sizeof(fr));
		hdr_bytes(fr, 5, 1024);
		assert_int_equal(write(sv[0], fr, sizeof(fr)),
		    (ssize_t)sizeof(fr));
		run_loop();
		assert_int_equal(b.closed, 0);
		assert_int_equal(b.nmsg, 1);
		ipc_conn_free(&b.c);
		close(sv[0]);
	}
}

static void
test_call(void **state)
{
	struct ipc_msg m, rep;
	struct ipc_hdr h;
	struct buf reply;
	int sv[2];
	uint8_t junk[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&reply, 64, 4096);
	ipc_msg_init(&m, 100, 5);
	assert_int_equal(ipc_put_cstr(&m, "q"), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);

	/* the reply is already waiting in the socket */
	ipc_msg_init(&rep, 150, 5);
	assert_int_equal(ipc_put_cstr(&rep, "answer"), 0);
	assert_int_equal(ipc_msg_finish(&rep), 0);
	assert_int_equal(ipc_send_blocking(sv[1], &rep), 0);
	assert_int_equal(ipc_call(sv[0], &m, 1000, &h, &reply), 0);
	assert_int_equal(h.type, 150);
	assert_int_equal(reply.len, 10);
	assert_memory_equal(reply.data + 4, "answer", 6);
	assert_true(read(sv[1], junk, sizeof(junk)) > 0);

	/* timeout */
	errno = 0;
	assert_int_equal(ipc_call(sv[0], &m, 50, &h, &reply), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(read(sv[1], junk, sizeof(junk)) > 0);

	/* a reply to another request */
	ipc_msg_fini(&rep);
	ipc_msg_init(&rep, 150, 6);
	assert_int_equal(ipc_msg_finish(&rep), 0);
	assert_int_equal(ipc_send_blocking(sv[1], &rep), 0);
	assert_int_equal(ipc_call(sv[0], &m, 1000, &h, &reply), -1);
	assert_int_equal(errno, EPROTO);

	/* unfinished messages are refused */
	ipc_msg_fini(&rep);
	ipc_msg_init(&rep, 150, 6);
	assert_int_equal(ipc_put_u32(&rep, 1), 0);
	assert_int_equal(ipc_send_blocking(sv[1], &rep), -1);

	/* peer gone */
	close(sv[1]);
	assert_int_equal(ipc_call(sv[0], &m, 1000, &h, &reply), -1);
	ipc_msg_fini(&rep);
	ipc_msg_fini(&m);
	buf_fini(&reply);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_poison),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_split_every_offset),
		cmocka_unit_test(test_conn_fd_passing),
		cmocka_unit_test(test_conn_fd_check),
		cmocka_unit_test(test_conn_two_fds),
		cmocka_unit_test(test_conn_malformed),
		cmocka_unit_test(test_call),
	};

	log_init("test_ipc", LOG_DEST_STDERR, LOG_LVL_ERR, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
