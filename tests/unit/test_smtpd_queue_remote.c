/* Unit tests for smtpd/queue_remote: EHLO keywords, MAIL/RCPT parameters, and transactions against a scripted TCP server. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <ev.h>

#include "common/envelope.h"
#include "smtpd/queue_remote.h"
#include "smtpd/queue_route.h"

static void
test_ehlo_parse(void **state)
{
	struct queue_remote_ext x;
	const char *r = "250-mx.example greets you\r\n250-pipelining\r\n"
	    "250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n"
	    "250-DSN\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

	(void)state;
	assert_int_equal(queue_remote_ehlo_parse(span_cstr(r), &x), 0);
	assert_true(x.esmtp && x.pipelining && x.starttls && x.chunking &&
	    x.dsn && x.eightbit && x.smtputf8 && x.size && x.auth_plain &&
	    x.auth_login);
	assert_int_equal(x.size_max, 10240000);
	/* the first line is the name, never a keyword */
	assert_int_equal(queue_remote_ehlo_parse(span_cstr("250 DSN\r\n"),
	    &x), 0);
	assert_false(x.dsn);
	assert_int_equal(queue_remote_ehlo_parse(span_cstr("250-a\n250 "
	    "SIZE\n"), &x), 0);
	assert_true(x.size);
	assert_int_equal(x.size_max, 0);
	assert_false(x.pipelining);
	assert_int_equal(queue_remote_ehlo_parse(span_cstr("500 no\r\n"),
	    &x), -1);
	assert_int_equal(queue_remote_ehlo_parse(span_cstr(""), &x), -1);
	assert_int_equal(queue_remote_ehlo_parse(span_cstr("250-a\r\n"
	    "25"), &x), -1);
}

static void
test_params(void **state)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test" };
	static const unsigned notify[] = { ENV_NOTIFY_SUCCESS |
	    ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY, ENV_NOTIFY_NEVER };
	static const char *const orcpt[] = { "rfc822;a@x.test", "" };
	struct queue_remote_txn t;
	struct queue_remote_ext x;
	char out[512];

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&x, 0, sizeof(x));
	t.rcpts = rcpts;
	t.notify = notify;
	t.orcpt = orcpt;
	t.n_rcpts = 2;
	t.off = 10;
	t.end = 110;
	t.body_8bit = 1;
	t.smtputf8 = 1;
	t.ret = ENV_RET_HDRS;
	t.envid = "QQ+2Bx";
	queue_remote_mail_params(&t, &x, out, sizeof(out));
	assert_string_equal(out, "");
	queue_remote_rcpt_params(&t, &x, 0, out, sizeof(out));
	assert_string_equal(out, "");
	x.size = x.eightbit = x.smtputf8 = x.dsn = 1;
	queue_remote_mail_params(&t, &x, out, sizeof(out));
	assert_string_equal(out, " SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS "
	    "ENVID=QQ+2Bx");
	queue_remote_rcpt_params(&t, &x, 0, out, sizeof(out));
	assert_string_equal(out, " NOTIFY=SUCCESS,FAILURE,DELAY "
	    "ORCPT=rfc822;a@x.test");
	queue_remote_rcpt_params(&t, &x, 1, out, sizeof(out));
	assert_string_equal(out, " NOTIFY=NEVER");
}

static void
test_relay_parse(void **state)
{
	char h[64];
	uint16_t p;

	(void)state;
	assert_int_equal(queue_route_relay_parse("smtp.example:587", h,
	    sizeof(h), &p), 0);
	assert_string_equal(h, "smtp.example");
	assert_int_equal(p, 587);
	assert_int_equal(queue_route_relay_parse("[smtp.example]", h,
	    sizeof(h), &p), 0);
	assert_string_equal(h, "smtp.example");
	assert_int_equal(p, 25);
	assert_int_equal(queue_route_relay_parse("[::1]:2525", h, sizeof(h),
	    &p), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(p, 2525);
	assert_int_equal(queue_route_relay_parse("host", h, sizeof(h), &p), 0);
	assert_int_equal(p, 25);
	assert_int_equal(queue_route_relay_parse("::1:25", h, sizeof(h), &p),
	    -1);
	assert_int_equal(queue_route_relay_parse("h:0", h, sizeof(h), &p), -1);
	assert_int_equal(queue_route_relay_parse("h:65536", h, sizeof(h), &p),
	    -1);
	assert_int_equal(queue_route_relay_parse("h:", h, sizeof(h), &p), -1);
	assert_int_equal(queue_route_relay_parse(":25", h, sizeof(h), &p), -1);
	assert_int_equal(queue_route_relay_parse("[h]x", h, sizeof(h), &p),
	    -1);
	assert_int_equal(queue_route_relay_parse("[h", h, sizeof(h), &p), -1);
}

static void
test_auth_parse(void **state)
{
	char u[16], pw[16];

	(void)state;
	assert_int_equal(queue_route_auth_parse("me pass word\r\n", u,
	    sizeof(u), pw, sizeof(pw)), 0);
	assert_string_equal(u, "me");
	assert_string_equal(pw, "pass word");
	assert_int_equal(queue_route_auth_parse("me\tx", u, sizeof(u), pw,
	    sizeof(pw)), 0);
	assert_string_equal(pw, "x");
	assert_int_equal(queue_route_auth_parse("me\n", u, sizeof(u), pw,
	    sizeof(pw)), -1);
	assert_int_equal(queue_route_auth_parse("me ", u, sizeof(u), pw,
	    sizeof(pw)), -1);
	assert_int_equal(queue_route_auth_parse(" x", u, sizeof(u), pw,
	    sizeof(pw)), -1);
	assert_int_equal(queue_route_auth_parse("u 0123456789abcdefg", u,
	    sizeof(u), pw, sizeof(pw)), -1);
}

/* ---- a scripted SMTP server on 127.0.0.1, in a thread ---- */

struct srv {
	int lfd;
	uint16_t port;
	const char *greeting;
	const char *const *replies;	/* one per command line received */
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
	int fd = accept(s->lfd, NULL, NULL), in_data = 0;
	ssize_t n;
	size_t i, start = 0;

	if (fd < 0)
		return NULL;
	(void)!write(fd, s->greeting, strlen(s->greeting));
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (s->got_len + (size_t)n > sizeof(s->got))
			break;
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
			if (*r == NULL)
				goto out;
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
srv_start(struct srv *s, const char *greeting, const char *const *replies)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int one = 1;

	memset(s, 0, sizeof(*s));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &sl),
	    0);
	s->port = ntohs(sin.sin_port);
	s->greeting = greeting;
	s->replies = replies;
	pthread_create(&s->th, NULL, srv_main, s);
}

static void
srv_stop(struct srv *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	s->got[s->got_len < sizeof(s->got) ? s->got_len :
	    sizeof(s->got) - 1] = '\0';
}

/* A port on which nothing listens: bound, never listening. */
static uint16_t
dead_port(int *fd_out)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*fd_out = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(*fd_out, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(getsockname(*fd_out, (struct sockaddr *)&sin, &sl),
	    0);
	return ntohs(sin.sin_port);
}

static void
addr_set(struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	*len = sizeof(*sin);
}

static int done_calls;
static const char *run_prefix;	/* txn->prefix of the next run_txn */

static void
on_done(void *arg, struct queue_remote_txn *txn)
{
	(void)arg;
	(void)txn;
	done_calls++;
}

static void
run_txn(const uint16_t *ports, size_t n_ports, struct lmtp_reply *replies,
    const char *msg, int body_8bit, struct queue_remote_txn *t)
{
	static const char *const rcpts[] = { "a@x.test", "b@x.test",
	    "c@x.test" };
	static const unsigned notify[] = { ENV_NOTIFY_FAILURE, 0, 0 };
	static const char *const orcpt[] = { "rfc822;a@x.test", "", "" };
	struct sockaddr_storage addrs[4];
	socklen_t lens[4];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct queue_remote_set set = { NULL };
	char path[] = "/tmp/lbq-rmsg-XXXXXX";
	int fd = mkstemp(path);
	size_t i;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	for (i = 0; i < n_ports; i++)
		addr_set(&addrs[i], &lens[i], ports[i]);
	memset(t, 0, sizeof(*t));
	t->addrs = addrs;
	t->addr_lens = lens;
	t->n_addrs = n_ports;
	t->helo = "me.test";
	t->from = "s@y.test";
	t->body_8bit = body_8bit;
	t->ret = ENV_RET_HDRS;
	t->envid = "E1";
	t->rcpts = rcpts;
	t->notify = notify;
	t->orcpt = orcpt;
	t->n_rcpts = 3;
	t->fd = fd;
	t->off = 4;		/* skip "ENV\n" */
	t->end = strlen(msg);
	t->connect_s = 5;
	t->timeout_s = 5;
	t->replies = replies;
	if (run_prefix != NULL) {
		t->prefix = (const uint8_t *)run_prefix;
		t->prefix_len = strlen(run_prefix);
	}
	done_calls = 0;
	(void)queue_remote_start(loop, &set, t, on_done, NULL);
	while (set.head != NULL)
		ev_run(loop, EVRUN_ONCE);
	assert_int_equal(done_calls, 1);
	t->addrs = NULL;
	t->addr_lens = NULL;
	close(fd);
	ev_loop_destroy(loop);
}

static const char *const esmtp_ok[] = {
	"250-mx.test\r\n250-SIZE 1000\r\n250-DSN\r\n250 8BITMIME\r\n",
	"250 2.1.0 ok\r\n",
	"250 2.1.5 ok\r\n",
	"550 5.1.1 no such user\r\n",
	"250 2.1.5 ok\r\n",
	"354 go\r\n",
	"250 2.0.0 queued as X\r\n",
	"221 bye\r\n",
	NULL,
};

/* The first address refuses the connection; the second takes the
 * message: per-recipient results, parameters, dot-stuffing. */
static void
test_txn_fallback_and_results(void **state)
{
	struct queue_remote_txn t;
	struct lmtp_reply rep[3];
	struct srv s;
	uint16_t ports[2];
	int dfd;

	(void)state;
	srv_start(&s, "220 mx.test ESMTP\r\n", esmtp_ok);
	ports[0] = dead_port(&dfd);
	ports[1] = s.port;
	run_txn(ports, 2, rep, "ENV\nSubject: x\r\n\r\n.dot\r\n", 1, &t);
	srv_stop(&s);
	close(dfd);
	assert_string_equal(s.got, "EHLO me.test\r\n"
	    "MAIL FROM:<s@y.test> SIZE=20 BODY=8BITMIME RET=HDRS ENVID=E1\r\n"
	    "RCPT TO:<a@x.test> NOTIFY=FAILURE ORCPT=rfc822;a@x.test\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
	    "Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
	assert_int_equal(rep[0].code, 250);
	assert_string_equal(rep[0].enh, "2.0.0");
	assert_int_equal(rep[1].code, 550);
	assert_string_equal(rep[1].enh, "5.1.1");
	assert_int_equal(rep[2].code, 250);
	assert_true(t.data_sent);
	assert_true(t.ext.dsn && t.ext.eightbit);
	assert_int_equal(t.ext.size_max, 1000);
}

/* PIPELINING: MAIL, the RCPTs and DATA go out together (RFC 2920 3.1)
 * and each reply is matched to its command by counting; the prefix (the
 * DKIM-Signature fields) goes before the message, dot-stuffed like it,
 * and counts in SIZE. */
static void
test_txn_pipelined_prefix(void **state)
{
	static const char *const replies[] = {
		"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-DSN\r\n250 8BITMIME\r\n",
		"250 2.1.0 ok\r\n", "550 5.1.1 no\r\n", "250 2.1.5 ok\r\n",
		"450 4.2.0 later\r\n", "354 go\r\n", "250 2.0.0 ok\r\n",
		"221 bye\r\n", NULL,
	};
	struct queue_remote_txn t;
	struct lmtp_reply rep[3];
	struct srv s;

	(void)state;
	srv_start(&s, "220 mx.test ESMTP\r\n", replies);
	run_prefix = "DKIM-Signature: x\r\n\t.y\r\n";
	run_txn(&s.port, 1, rep, "ENV\nSubject: x\r\n\r\n.dot\r\n", 0, &t);
	run_prefix = NULL;
	srv_stop(&s);
	assert_string_equal(s.got, "EHLO me.test\r\n"
	    "MAIL FROM:<s@y.test> SIZE=44 RET=HDRS ENVID=E1\r\n"
	    "RCPT TO:<a@x.test> NOTIFY=FAILURE ORCPT=rfc822;a@x.test\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
	    "DKIM-Signature: x\r\n\t.y\r\n"
	    "Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
	assert_true(t.pipelined);
	assert_false(t.chunked);
	assert_true(t.reached);
	assert_int_equal(rep[0].code, 550);
	assert_int_equal(rep[1].code, 250);
	assert_string_equal(rep[1].enh, "2.0.0");
	assert_int_equal(rep[2].code, 450);
}

/* TLS policy names and the per-domain list (docs/relay.md). */
static void
test_tls_policy(void **state)
{
	const char *spec = "bank.example:verify, partner.example:require "
	    "*:none";
	int p;

	(void)state;
	assert_int_equal(queue_route_tls_name("verify", 6), QUEUE_TLS_VERIFY);
	assert_int_equal(queue_route_tls_name("MAY", 3), QUEUE_TLS_MAY);
	assert_int_equal(queue_route_tls_name("mayb", 4), -1);
	assert_int_equal(queue_route_tls_policy(spec, "Bank.Example", &p), 0);
	assert_int_equal(p, QUEUE_TLS_VERIFY);
	assert_int_equal(queue_route_tls_policy(spec, "partner.example", &p),
	    0);
	assert_int_equal(p, QUEUE_TLS_REQUIRE);
	assert_int_equal(queue_route_tls_policy(spec, "other.example", &p), 0);
	assert_int_equal(p, QUEUE_TLS_NONE);
	/* no entry and no "*": opportunistic */
	assert_int_equal(queue_route_tls_policy("a.example:verify", "b", &p),
	    0);
	assert_int_equal(p, QUEUE_TLS_MAY);
	assert_int_equal(queue_route_tls_policy(NULL, "b", &p), 0);
	assert_int_equal(p, QUEUE_TLS_MAY);
	/* a subdomain is not the domain */
	assert_int_equal(queue_route_tls_policy("example:verify",
	    "x.example", &p), 0);
	assert_int_equal(p, QUEUE_TLS_MAY);
	assert_int_equal(queue_route_tls_policy("a.example", "a", &p), -1);
	assert_int_equal(queue_route_tls_policy("a.example:", "a", &p), -1);
	assert_int_equal(queue_route_tls_policy(":verify", "a", &p), -1);
	assert_int_equal(queue_route_tls_policy("a:strict", "a", &p), -1);
	assert_int_equal(queue_route_tls_policy(" , ", "a", &p), 0);
}

/* A 4xx greeting moves on to the next address (RFC 5321 5.1); when
 * none is left, every recipient is deferred. */
static void
test_txn_greeting_refused(void **state)
{
	static const char *const none[] = { NULL };
	struct queue_remote_txn t;
	struct lmtp_reply rep[3];
	struct srv s;
	uint16_t port;

	(void)state;
	srv_start(&s, "421 busy\r\n", none);
	port = s.port;
	run_txn(&port, 1, rep, "ENV\nx\r\n", 0, &t);
	srv_stop(&s);
	assert_int_equal(rep[0].code, 421);
	assert_int_equal(rep[2].code, 421);
	assert_false(t.data_sent);
}

/* A server that refuses EHLO gets HELO; an 8bit message to it is
 * refused with 5.6.3 (RFC 6152 3) without MAIL. */
static void
test_txn_helo_8bit(void **state)
{
	static const char *const helo[] = { "500 what\r\n", "250 hi\r\n",
	    "221 bye\r\n", NULL };
	struct queue_remote_txn t;
	struct lmtp_reply rep[3];
	struct srv s;
	uint16_t port;

	(void)state;
	srv_start(&s, "220 old\r\n", helo);
	port = s.port;
	run_txn(&port, 1, rep, "ENV\nx\r\n", 1, &t);
	srv_stop(&s);
	assert_string_equal(s.got, "EHLO me.test\r\nHELO me.test\r\nQUIT\r\n");
	assert_int_equal(rep[0].code, 554);
	assert_string_equal(rep[1].enh, "5.6.3");
	assert_false(t.ext.esmtp);
}

/* MAIL refused: every recipient gets that reply. */
static void
test_txn_mail_refused(void **state)
{
	static const char *const r[] = { "250 mx\r\n", "451 4.3.0 later\r\n",
	    "221 bye\r\n", NULL };
	struct queue_remote_txn t;
	struct lmtp_reply rep[3];
	struct srv s;
	uint16_t port;

	(void)state;
	srv_start(&s, "220 mx\r\n", r);
	port = s.port;
	run_txn(&port, 1, rep, "ENV\nx\r\n", 0, &t);
	srv_stop(&s);
	assert_string_equal(s.got, "EHLO me.test\r\nMAIL FROM:<s@y.test>\r\n"
	    "QUIT\r\n");
	assert_int_equal(rep[0].code, 451);
	assert_int_equal(rep[2].code, 451);
	assert_string_equal(rep[1].text, "later");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ehlo_parse),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_relay_parse),
		cmocka_unit_test(test_auth_parse),
		cmocka_unit_test(test_txn_fallback_and_results),
		cmocka_unit_test(test_txn_pipelined_prefix),
		cmocka_unit_test(test_tls_policy),
		cmocka_unit_test(test_txn_greeting_refused),
		cmocka_unit_test(test_txn_helo_8bit),
		cmocka_unit_test(test_txn_mail_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
