/* Unit tests for smtpd/queue_lmtp: dot-stuffing (every split), and one transaction against a scripted server. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include <ev.h>

#include "smtpd/queue_lmtp.h"

static const struct {
	const char *in, *out;
} dots[] = {
	{ "", ".\r\n" },
	{ "a\r\n", "a\r\n.\r\n" },
	{ ".\r\n", "..\r\n.\r\n" },
	{ ".a\r\n.\r\nb.\r\n..\r\n", "..a\r\n..\r\nb.\r\n...\r\n.\r\n" },
	{ "no end", "no end\r\n.\r\n" },
	{ "cr end\r", "cr end\r\n.\r\n" },
	{ "x\r\n.", "x\r\n..\r\n.\r\n" },
	{ "a\r\n\r\n.b", "a\r\n\r\n..b\r\n.\r\n" },
};

static void
stuff(const char *in, size_t n, size_t cut, struct buf *out)
{
	struct queue_dot d;

	queue_dot_init(&d);
	assert_int_equal(queue_dot_add(&d, span_make(in, cut), out), 0);
	assert_int_equal(queue_dot_add(&d, span_make(in + cut, n - cut), out),
	    0);
	assert_int_equal(queue_dot_end(&d, out), 0);
}

static void
test_dot_stuffing_every_split(void **state)
{
	struct buf out;
	size_t i, cut, n;

	for (i = 0; i < sizeof(dots) / sizeof(dots[0]); i++) {
		n = strlen(dots[i].in);
		for (cut = 0; cut <= n; cut++) {
			buf_init(&out, 16, 4096);
			stuff(dots[i].in, n, cut, &out);
			assert_int_equal(out.len, strlen(dots[i].out));
			assert_memory_equal(out.data, dots[i].out, out.len);
			buf_fini(&out);
		}
	}
}

static void
test_dot_cap(void **state)
{
	struct queue_dot d;
	struct buf out;

	buf_init(&out, 4, 4);
	queue_dot_init(&d);
	assert_int_equal(queue_dot_add(&d, span_cstr(".abcd"), &out), -1);
	buf_fini(&out);
}

/* ---- a scripted LMTP server on a unix socket, in a thread ---- */

struct srv {
	char path[108];
	int lfd;
	const char *const *replies;	/* sent one per line received */
	int close_after;		/* stop after this many lines */
	char got[65536];
	size_t got_len;
	pthread_t th;
};

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	const char *const *r = s->replies;
	char buf[4096];
	int fd = accept(s->lfd, NULL, NULL), lines = 0, in_data = 0;
	ssize_t n;
	size_t i, start = 0;

	if (fd < 0)
		return NULL;
	(void)!write(fd, "220 hi\r\n", 8);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		memcpy(s->got + s->got_len, buf, (size_t)n);
		s->got_len += (size_t)n;
		for (i = start; i < s->got_len; i++) {
			if (s->got[i] != '\n')
				continue;
			if (in_data && !(i - start == 2 &&
			    s->got[start] == '.')) {
				start = i + 1;
				continue;
			}
			in_data = 0;
			start = i + 1;
			if (++lines > s->close_after && s->close_after)
				goto out;
			if (*r == NULL)
				continue;
			if (strncmp(*r, "354", 3) == 0)
				in_data = 1;
			(void)!write(fd, *r, strlen(*r));
			r++;
		}
	}
out:
	close(fd);
	return NULL;
}

static void
srv_start(struct srv *s, const char *const *replies, int close_after)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	snprintf(s->path, sizeof(s->path), "/tmp/lbq-lmtp-%d.sock", getpid());
	unlink(s->path);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->path, strlen(s->path));
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(s->lfd, 4), 0);
	s->replies = replies;
	s->close_after = close_after;
	pthread_create(&s->th, NULL, srv_main, s);
}

static void
srv_stop(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	unlink(s->path);
}

static int done_calls;

static void
on_done(void *arg, struct queue_lmtp_txn *txn)
{
	done_calls++;
}

static void
run_txn(struct srv *s, struct lmtp_reply *replies, const char *msg)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test",
	    "c@x.test" };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct queue_lmtp_set set = { NULL };
	struct queue_lmtp_txn t;
	char path[] = "/tmp/lbq-msg-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	memset(&t, 0, sizeof(t));
	t.sock_path = s->path;
	t.helo = "me.test";
	t.from = "s@y.test";
	t.body_8bit = 1;
	t.rcpts = rcpts;
	t.n_rcpts = 3;
	t.fd = fd;
	t.off = 4;		/* skip "ENV\n" */
	t.end = strlen(msg);
	t.timeout_s = 5;
	t.replies = replies;
	done_calls = 0;
	(void)queue_lmtp_start(loop, &set, &t, on_done, NULL);
	while (set.head != NULL)
		ev_run(loop, EVRUN_ONCE);
	assert_int_equal(done_calls, 1);
	close(fd);
	ev_loop_destroy(loop);
}

static void
test_txn_per_recipient(void **state)
{
	static const char *const script[] = {
		"250-me\r\n250 PIPELINING\r\n",		/* LHLO */
		"250 2.1.0 Ok\r\n",			/* MAIL */
		"250 2.1.5 Ok\r\n",			/* RCPT a */
		"550 5.1.1 No such\r\n",		/* RCPT b */
		"250 2.1.5 Ok\r\n",			/* RCPT c */
		"354 go\r\n",				/* DATA */
		"250 2.0.0 a ok\r\n452-4.2.2 c\r\n452 4.2.2 full\r\n",
		"221 bye\r\n",
		NULL,
	};
	struct lmtp_reply rep[3];
	struct srv s;

	memset(&s, 0, sizeof(s));
	srv_start(&s, script, 0);
	run_txn(&s, rep, "ENV\n.dot\r\nbody\r\n");
	srv_stop(&s);
	assert_int_equal(rep[0].code, 250);
	assert_int_equal(rep[1].code, 550);
	assert_string_equal(rep[1].enh, "5.1.1");
	assert_int_equal(rep[2].code, 452);
	assert_string_equal(rep[2].text, "c full");
	s.got[s.got_len] = '\0';
	assert_non_null(strstr(s.got, "LHLO me.test\r\n"
	    "MAIL FROM:<s@y.test> BODY=8BITMIME\r\n"
	    "RCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
	    "RCPT TO:<c@x.test>\r\nDATA\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n"));
}

/* The server goes away after the final dot: every recipient gets a
 * made-up 421 4.4.2, so the caller retries (the one duplicate). */
static void
test_txn_connection_lost(void **state)
{
	static const char *const script[] = {
		"250 me\r\n", "250 Ok\r\n", "250 Ok\r\n", "250 Ok\r\n",
		"250 Ok\r\n", "354 go\r\n", NULL,
	};
	struct lmtp_reply rep[3];
	struct srv s;
	size_t i;

	memset(&s, 0, sizeof(s));
	srv_start(&s, script, 7);
	run_txn(&s, rep, "ENV\nbody\r\n");
	srv_stop(&s);
	for (i = 0; i < 3; i++) {
		assert_int_equal(rep[i].code, 421);
		assert_string_equal(rep[i].enh, "4.4.2");
	}
}

static void
test_txn_no_server(void **state)
{
	struct lmtp_reply rep[3];
	struct srv s;

	memset(&s, 0, sizeof(s));
	snprintf(s.path, sizeof(s.path), "/tmp/lbq-none-%d.sock", getpid());
	run_txn(&s, rep, "ENV\nbody\r\n");
	assert_int_equal(rep[0].code, 421);
	assert_string_equal(rep[2].text, "lmtp: cannot connect to the MDA");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_stuffing_every_split),
		cmocka_unit_test(test_dot_cap),
		cmocka_unit_test(test_txn_per_recipient),
		cmocka_unit_test(test_txn_connection_lost),
		cmocka_unit_test(test_txn_no_server),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
