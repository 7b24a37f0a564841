/* Unit tests for smtpd/queue_bounce: the exact DSN text (RFC 3464), xtext, headers, enqueueing. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sodium.h>

#include "smtpd/queue_bounce.h"

static const char orig[] =
    "Received: from x by y\r\nSubject: hi\r\n\r\nbody\r\n";

static void
make_env(struct envelope *env, struct envelope_rcpt *r)
{
	memset(env, 0, sizeof(*env));
	memset(r, 0, 2 * sizeof(*r));
	env->id = span_cstr("6921a0c4f3b2d1e0");
	env->arrival = 1763921604;		/* Sun, 23 Nov 2025 18:13:24 */
	env->from = span_cstr("alice@example.org");
	env->envid = span_cstr("QQ+2Bx");
	r[0].addr = span_cstr("bob@example.test");
	r[0].orcpt = span_cstr("rfc822;b+2Bo@example.test");
	r[1].addr = span_cstr("carol@example.test");
	env->rcpts = r;
	env->n_rcpts = env->max_rcpts = 2;
}

static void
test_failure_dsn_exact(void **state)
{
	static const char want[] =
	    "From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\n"
	    "To: <alice@example.org>\r\n"
	    "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: Sun, 23 Nov 2025 18:15:00 +0000\r\n"
	    "Message-ID: <b1.1763921700@mx.test>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"b1.1763921700/mx.test\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n"
	    "\r\n"
	    "--b1.1763921700/mx.test\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This is the mail system at host mx.test.\r\n"
	    "\r\n"
	    "I'm sorry to have to inform you that your message could not\r\n"
	    "be delivered to one or more recipients. It is attached below.\r\n"
	    "\r\n"
	    "<bob@example.test>: 550 5.1.1 No such user\r\n"
	    "<carol@example.test>: 5.4.7 delivery time expired\r\n"
	    "\r\n"
	    "--b1.1763921700/mx.test\r\n"
	    "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; mx.test\r\n"
	    "Original-Envelope-Id: QQ+x\r\n"
	    "X-Letterbox-Queue-ID: 6921a0c4f3b2d1e0\r\n"
	    "Arrival-Date: Sun, 23 Nov 2025 18:13:24 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@example.test\r\n"
	    "Original-Recipient: rfc822; b+o@example.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: x-local-hostname; mx.test (lmtp)\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
	    "Last-Attempt-Date: Sun, 23 Nov 2025 18:15:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; carol@example.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.4.7\r\n"
	    "Diagnostic-Code: x-letterbox; delivery time expired\r\n"
	    "Last-Attempt-Date: Sun, 23 Nov 2025 18:15:00 +0000\r\n"
	    "\r\n"
	    "--b1.1763921700/mx.test\r\n"
	    "Content-Description: Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n"
	    "\r\n"
	    "Received: from x by y\r\nSubject: hi\r\n\r\n"
	    "\r\n"
	    "--b1.1763921700/mx.test--\r\n";
	struct envelope_rcpt r[2];
	struct queue_dsn_rcpt dr[2];
	struct envelope env;
	struct queue_dsn d;
	struct buf out;
	size_t hl;

	make_env(&env, r);
	memset(dr, 0, sizeof(dr));
	dr[0].addr = r[0].addr;
	dr[0].orcpt = r[0].orcpt;
	dr[0].action = QUEUE_DSN_FAILED;
	dr[0].code = 550;
	dr[0].enh = "5.1.1";
	dr[0].text = "No such user";
	dr[0].lmtp = 1;
	dr[1].addr = r[1].addr;
	dr[1].action = QUEUE_DSN_FAILED;
	dr[1].enh = "5.4.7";
	dr[1].text = "delivery time expired";
	memset(&d, 0, sizeof(d));
	d.hostname = "mx.test";
	d.env = &env;
	d.bounce_id = "b1";
	d.now = 1763921700;
	d.rcpts = dr;
	d.n = 2;
	hl = queue_bounce_headers_len(span_cstr(orig));
	assert_int_equal(hl, strlen("Received: from x by y\r\nSubject: hi"
	    "\r\n\r\n"));
	buf_init(&out, 256, 1 << 20);
	assert_int_equal(queue_bounce_build(&d, span_make(orig, hl), &out), 0);
	assert_string_equal(buf_cstr(&out), want);
	buf_fini(&out);
}

static void
test_success_dsn_full(void **state)
{
	struct envelope_rcpt r[2];
	struct queue_dsn_rcpt dr;
	struct envelope env;
	struct queue_dsn d;
	struct buf out;
	const char *s;

	make_env(&env, r);
	env.envid = span_make(NULL, 0);
	memset(&dr, 0, sizeof(dr));
	dr.addr = r[1].addr;
	dr.action = QUEUE_DSN_DELIVERED;
	dr.code = 250;
	dr.enh = "2.0.0";
	dr.text = "Ok";
	memset(&d, 0, sizeof(d));
	d.hostname = "mx.test";
	d.env = &env;
	d.bounce_id = "b2";
	d.now = 1763921700;
	d.rcpts = &dr;
	d.n = 1;
	d.full = 1;
	buf_init(&out, 256, 1 << 20);
	assert_int_equal(queue_bounce_build(&d, span_cstr(orig), &out), 0);
	s = buf_cstr(&out);
	assert_non_null(strstr(s, "Subject: Successful Mail Delivery "
	    "Report\r\n"));
	assert_null(strstr(s, "Original-Envelope-Id"));
	assert_null(strstr(s, "Original-Recipient"));
	assert_non_null(strstr(s, "\r\nAction: delivered\r\nStatus: 2.0.0\r\n"));
	assert_non_null(strstr(s, "Content-Type: message/rfc822\r\n\r\n"
	    "Received: from x by y\r\nSubject: hi\r\n\r\nbody\r\n\r\n--b2."));
	assert_non_null(strstr(s, "<carol@example.test>: delivered to "
	    "mailbox\r\n"));
	buf_fini(&out);
}

static void
test_xtext_and_headers(void **state)
{
	char out[64];

	queue_bounce_xtext_decode(span_cstr("a+2Bb+3Dc+0Ad+zz+4"), out,
	    sizeof(out));
	assert_string_equal(out, "a+b=c?d+zz+4");
	queue_bounce_xtext_decode(span_cstr("abcdef"), out, 4);
	assert_string_equal(out, "abc");
	/* no empty line: all of it */
	assert_int_equal(queue_bounce_headers_len(span_cstr("A: b\r\n")), 6);
	assert_int_equal(queue_bounce_headers_len(span_cstr("A: b\n\nx")), 6);
}

static void
test_enqueue(void **state)
{
	char dir[] = "/tmp/lbq-bounce-XXXXXX", id[QUEUE_ID_LEN + 1], p[128];
	struct queue_spool sp;
	const char *why = NULL;
	char buf[512];
	ssize_t n;
	int fd;

	assert_true(sodium_init() >= 0);
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(queue_spool_open(fd, &sp, &why), 0);
	assert_int_equal(queue_bounce_enqueue(&sp, "alice@example.org", 0, 0,
	    span_cstr("Subject: x\r\n\r\nbody\r\n"), 1763921700, id), 0);
	fd = openat(sp.queue_fd, id, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(p, sizeof(p), "LBENV 1\nid %s\narrival 1763921700\nfrom\n", id);
	assert_int_equal(strncmp(buf, p, strlen(p)), 0);
	assert_non_null(strstr(buf, "\nrcpt alice@example.org notify=never\n"
	    "\nSubject: x\r\n\r\nbody\r\n"));
	queue_spool_close(&sp);
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_dsn_exact),
		cmocka_unit_test(test_success_dsn_full),
		cmocka_unit_test(test_xtext_and_headers),
		cmocka_unit_test(test_enqueue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
