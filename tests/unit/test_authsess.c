/* Unit tests for common/authsess: base64 lines, mechanism lists, authd's replies, and a session against a small scripted authd. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ev.h>
#include <sodium.h>

#include "common/authsess.h"
#include "common/buf.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/userdb.h"

/* ---- pure helpers ---- */

static void
test_mech_listed(void **state)
{
	static const struct {
		const char *list, *mech;
		int want;
	} t[] = {
		{ "PLAIN LOGIN", "PLAIN", 1 },
		{ "PLAIN LOGIN", "login", 1 },
		{ "PLAIN LOGIN", "LOG", 0 },
		{ "PLAIN LOGIN", "LOGINX", 0 },
		{ "PLAIN LOGIN", "", 0 },
		{ "", "PLAIN", 0 },
		{ "PLAIN  LOGIN ", "LOGIN", 1 },
		{ "SCRAM-SHA-256", "SCRAM-SHA-1", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(authsess_mech_listed(t[i].list,
		    span_make(t[i].mech, strlen(t[i].mech))), t[i].want);
}

static int
dec(const char *in, unsigned char *out, size_t outsz, size_t *n)
{
	return authsess_b64_decode(span_make(in, strlen(in)), out, outsz, n);
}

static void
test_b64(void **state)
{
	unsigned char out[8];
	size_t n = 99;

	assert_int_equal(dec("=", out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	n = 99;
	assert_int_equal(dec("", out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dec("AHVAZABw", out, sizeof(out), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "\0u@d\0p", 6);
	assert_int_equal(dec("YQ==", out, sizeof(out), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(dec("YQ", out, sizeof(out), &n), -1);	/* no pad */
	assert_int_equal(dec("Y Q==", out, sizeof(out), &n), -1);
	assert_int_equal(dec("*", out, sizeof(out), &n), -1);
	assert_int_equal(dec("==", out, sizeof(out), &n), -1);
	/* exactly outsz decoded bytes, and one past */
	assert_int_equal(dec("MTIzNDU2Nzg=", out, 8, &n), 0);	/* 8 bytes */
	assert_int_equal(n, 8);
	assert_int_equal(dec("MTIzNDU2Nzg5", out, 8, &n), -1);	/* 9 bytes */
}

/* A finished message's payload. */
static struct span
payload(struct ipc_msg *m)
{
	assert_int_equal(ipc_msg_finish(m), 0);
	return span_make(m->b.data + IPC_HDR_SIZE, m->b.len - IPC_HDR_SIZE);
}

static void
test_decode_reply(void **state)
{
	char b64[sodium_base64_ENCODED_LEN(8, sodium_base64_VARIANT_ORIGINAL)];
	char big[USERDB_ADDR_MAX];
	struct authsess_result res;
	struct ipc_msg m;

	/* OK with an address */
	ipc_msg_init(&m, IPC_AUTH_OK, 1);
	assert_int_equal(ipc_put_cstr(&m, "u@example.org"), 0);
	authsess_decode_reply(IPC_AUTH_OK, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_OK);
	assert_true(span_eq(res.user, "u@example.org"));
	ipc_msg_fini(&m);

	/* OK with an empty, an over-long or a NUL-bearing address */
	ipc_msg_init(&m, IPC_AUTH_OK, 1);
	assert_int_equal(ipc_put_cstr(&m, ""), 0);
	authsess_decode_reply(IPC_AUTH_OK, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	ipc_msg_fini(&m);
	memset(big, 'a', sizeof(big));
	ipc_msg_init(&m, IPC_AUTH_OK, 1);
	assert_int_equal(ipc_put_str(&m, span_make(big, USERDB_ADDR_MAX - 1)),
	    0);
	authsess_decode_reply(IPC_AUTH_OK, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_OK);	/* at the limit */
	ipc_msg_fini(&m);
	ipc_msg_init(&m, IPC_AUTH_OK, 1);
	assert_int_equal(ipc_put_str(&m, span_make(big, USERDB_ADDR_MAX)), 0);
	authsess_decode_reply(IPC_AUTH_OK, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);	/* one past */
	ipc_msg_fini(&m);
	ipc_msg_init(&m, IPC_AUTH_OK, 1);
	assert_int_equal(ipc_put_str(&m, span_make("a\0b", 3)), 0);
	authsess_decode_reply(IPC_AUTH_OK, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	ipc_msg_fini(&m);

	/* FAIL carries a reason; without one it is malformed */
	ipc_msg_init(&m, IPC_AUTH_FAIL, 1);
	assert_int_equal(ipc_put_u32(&m, IPC_AUTH_FAIL_DISABLED), 0);
	assert_int_equal(ipc_put_cstr(&m, "disabled"), 0);
	authsess_decode_reply(IPC_AUTH_FAIL, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_FAIL);
	assert_int_equal(res.fail_reason, IPC_AUTH_FAIL_DISABLED);
	ipc_msg_fini(&m);
	authsess_decode_reply(IPC_AUTH_FAIL, span_make(NULL, 0), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);

	/* TEMPFAIL, no reply, something else */
	authsess_decode_reply(IPC_AUTH_TEMPFAIL, span_make(NULL, 0), 0, 8,
	    b64, sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	authsess_decode_reply(0, span_make(NULL, 0), 0, 8, b64, sizeof(b64),
	    "timeout", &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	assert_string_equal(res.why, "timeout");
	authsess_decode_reply(IPC_AUTH_ERROR, span_make(NULL, 0), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);

	/* CHALLENGE: the right sid, at the size limit, empty */
	ipc_msg_init(&m, IPC_AUTH_SASL_CHALLENGE, 1);
	assert_int_equal(ipc_put_u64(&m, 77), 0);
	assert_int_equal(ipc_put_str(&m, span_make("12345678", 8)), 0);
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 77, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_CHALLENGE);
	assert_string_equal(res.challenge, "MTIzNDU2Nzg=");
	/* the wrong sid, no exchange, one byte over sasl_max */
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 78, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 0, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 77, 7, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	/* a b64 buffer too small is refused, not overrun */
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 77, 8, b64,
	    8, NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	ipc_msg_fini(&m);
	ipc_msg_init(&m, IPC_AUTH_SASL_CHALLENGE, 1);
	assert_int_equal(ipc_put_u64(&m, 77), 0);
	assert_int_equal(ipc_put_str(&m, span_make(NULL, 0)), 0);
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 77, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_CHALLENGE);
	assert_string_equal(res.challenge, "");
	ipc_msg_fini(&m);
	/* trailing bytes after a challenge */
	ipc_msg_init(&m, IPC_AUTH_SASL_CHALLENGE, 1);
	assert_int_equal(ipc_put_u64(&m, 77), 0);
	assert_int_equal(ipc_put_str(&m, span_make("x", 1)), 0);
	assert_int_equal(ipc_put_u32(&m, 1), 0);
	authsess_decode_reply(IPC_AUTH_SASL_CHALLENGE, payload(&m), 77, 8, b64,
	    sizeof(b64), NULL, &res);
	assert_int_equal(res.kind, AUTHSESS_TEMPFAIL);
	ipc_msg_fini(&m);
}

/* ---- a session against a scripted authd on the same loop ---- */

struct fake {
	char dir[64];
	char path[96];
	int lfd;
	ev_io lw;
	struct ipc_conn *conn;
	uint32_t last_type;
	uint64_t sid;		/* the exchange authd saw */
	int aborts;
	char service[16];
	char got[64];		/* password or SASL response seen */
	size_t got_n;
};

static struct fake F;

struct got {
	int calls;
	enum authsess_kind kind;
	char user[USERDB_ADDR_MAX];
	char challenge[64];
	uint32_t reason;
};

static void
reply(uint32_t type, uint64_t reqid, uint64_t sid, const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, type, reqid);
	if (type == IPC_AUTH_SASL_CHALLENGE)
		assert_int_equal(ipc_put_u64(&m, sid), 0);
	if (type == IPC_AUTH_FAIL)
		assert_int_equal(ipc_put_u32(&m, IPC_AUTH_FAIL_CREDENTIALS),
		    0);
	assert_int_equal(ipc_put_cstr(&m, text), 0);
	assert_int_equal(ipc_msg_finish(&m), 0);
	assert_int_equal(ipc_conn_send(F.conn, &m), 0);
	ipc_msg_fini(&m);
}

static int
fake_on_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span p,
    int fd, void *arg)
{
	struct ipc_reader r;
	struct span user, pass, mech, resp;
	uint32_t has;
	char ip[64];

	F.last_type = h->type;
	ipc_reader_init(&r, p);
	switch (h->type) {
	case IPC_AUTH_CHECK:
		assert_int_equal(ipc_get_str(&r, &user, 320), 0);
		assert_int_equal(ipc_get_str(&r, &pass, 64), 0);
		assert_int_equal(ipc_get_cstr(&r, F.service,
		    sizeof(F.service)), 0);
		assert_int_equal(ipc_get_cstr(&r, ip, sizeof(ip)), 0);
		assert_int_equal(ipc_get_end(&r), 0);
		memcpy(F.got, pass.p, pass.n);
		F.got_n = pass.n;
		if (span_eq(pass, "right"))
			reply(IPC_AUTH_OK, h->reqid, 0, "u@example.org");
		else if (span_eq(pass, "later"))
			reply(IPC_AUTH_TEMPFAIL, h->reqid, 0, "throttled");
		else
			reply(IPC_AUTH_FAIL, h->reqid, 0, "no");
		break;
	case IPC_AUTH_SASL_START:
		assert_int_equal(ipc_get_u64(&r, &F.sid), 0);
		assert_int_equal(ipc_get_str(&r, &mech, 32), 0);
		assert_int_equal(ipc_get_cstr(&r, F.service,
		    sizeof(F.service)), 0);
		assert_int_equal(ipc_get_cstr(&r, ip, sizeof(ip)), 0);
		assert_int_equal(ipc_get_u32(&r, &has), 0);
		assert_int_equal(ipc_get_str(&r, &resp, 64), 0);
		assert_int_equal(ipc_get_end(&r), 0);
		memcpy(F.got, resp.p, resp.n);
		F.got_n = resp.n;
		reply(IPC_AUTH_SASL_CHALLENGE, h->reqid, F.sid, "Username:");
		break;
	case IPC_AUTH_SASL_STEP:
		assert_int_equal(ipc_get_u64(&r, &F.sid), 0);
		assert_int_equal(ipc_get_str(&r, &resp, 64), 0);
		assert_int_equal(ipc_get_end(&r), 0);
		memcpy(F.got, resp.p, resp.n);
		F.got_n = resp.n;
		if (span_eq(resp, "right"))
			reply(IPC_AUTH_OK, h->reqid, 0, "u@example.org");
		else if (span_eq(resp, "more"))
			reply(IPC_AUTH_SASL_CHALLENGE, h->reqid, F.sid, "");
		else
			reply(IPC_AUTH_FAIL, h->reqid, 0, "no");
		break;
	case IPC_AUTH_SASL_ABORT:
		assert_int_equal(ipc_get_u64(&r, &F.sid), 0);
		F.aborts++;
		break;
	case IPC_AUTH_APOP: {
		struct span ts, digest;

		assert_int_equal(ipc_get_str(&r, &user, 320), 0);
		assert_int_equal(ipc_get_str(&r, &ts, 64), 0);
		assert_int_equal(ipc_get_str(&r, &digest, 64), 0);
		assert_int_equal(ipc_get_cstr(&r, F.service,
		    sizeof(F.service)), 0);
		assert_int_equal(ipc_get_cstr(&r, ip, sizeof(ip)), 0);
		assert_int_equal(ipc_get_end(&r), 0);
		memcpy(F.got, ts.p, ts.n);
		F.got_n = ts.n;
		if (span_eq(digest, "c4c9334bac560ecc979e58001b3e22fb"))
			reply(IPC_AUTH_OK, h->reqid, 0, "u@example.org");
		else
			reply(IPC_AUTH_FAIL, h->reqid, 0, "no");
		break;
	}
	case IPC_AUTH_SASL_MECHS:
		reply(IPC_AUTH_SASL_MECHLIST, h->reqid, 0, "PLAIN LOGIN");
		break;
	default:
		fail();
	}
	return 0;
}

static void
fake_on_close(struct ipc_conn *c, void *arg)
{
	ipc_conn_free(&F.conn);
}

static void
fake_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd = accept(F.lfd, NULL, NULL);

	if (fd < 0)
		return;
	ipc_conn_free(&F.conn);
	F.conn = ipc_conn_new(loop, fd, IPC_MAX_PAYLOAD, fake_on_msg,
	    fake_on_close, NULL);
}

static int
setup(void **state)
{
	struct sockaddr_un sun;

	memset(&F, 0, sizeof(F));
	snprintf(F.dir, sizeof(F.dir), "/tmp/test_authsess.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	snprintf(F.path, sizeof(F.path), "%s/authd.sock", F.dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", F.path);
	F.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(F.lfd >= 0);
	assert_int_equal(bind(F.lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(F.lfd, 4), 0);
	ev_io_init(&F.lw, fake_accept_cb, F.lfd, EV_READ);
	ev_io_start(EV_DEFAULT, &F.lw);
	return 0;
}

static int
teardown(void **state)
{
	ipc_conn_free(&F.conn);
	ev_io_stop(EV_DEFAULT, &F.lw);
	close(F.lfd);
	unlink(F.path);
	rmdir(F.dir);
	return 0;
}

static void
got_cb(void *arg, const struct authsess_result *res)
{
	struct got *g = arg;

	g->calls++;
	g->kind = res->kind;
	g->reason = res->fail_reason;
	if (res->kind == AUTHSESS_OK)
		snprintf(g->user, sizeof(g->user), "%.*s", (int)res->user.n,
		    (const char *)res->user.p);
	if (res->kind == AUTHSESS_CHALLENGE)
		snprintf(g->challenge, sizeof(g->challenge), "%s",
		    res->challenge);
}

/* Run the loop until the callback has been called n times. */
static void
wait_calls(struct got *g, int n)
{
	int i;

	for (i = 0; i < 1000 && g->calls < n; i++)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	assert_int_equal(g->calls, n);
}

static struct span
S(const char *s)
{
	return span_make(s, strlen(s));
}

static void
test_check(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, F.path, 5);
	struct authsess a;
	struct got g = { 0 };
	uint64_t id = 0;

	authsess_init(&a, c, "imap", 64);
	assert_int_equal(authsess_check(&a, S("u"), S("right"), "192.0.2.1",
	    got_cb, &g, &id), AUTHSESS_SENT);
	assert_true(id != 0);
	assert_int_equal(g.calls, 0);	/* never from inside the request */
	wait_calls(&g, 1);
	assert_int_equal(g.kind, AUTHSESS_OK);
	assert_string_equal(g.user, "u@example.org");
	assert_string_equal(F.service, "imap");
	assert_int_equal(F.got_n, 5);

	assert_int_equal(authsess_check(&a, S("u"), S("wrong"), "192.0.2.1",
	    got_cb, &g, NULL), AUTHSESS_SENT);
	wait_calls(&g, 2);
	assert_int_equal(g.kind, AUTHSESS_FAIL);
	assert_int_equal(g.reason, IPC_AUTH_FAIL_CREDENTIALS);

	assert_int_equal(authsess_check(&a, S("u"), S("later"), "192.0.2.1",
	    got_cb, &g, NULL), AUTHSESS_SENT);
	wait_calls(&g, 3);
	assert_int_equal(g.kind, AUTHSESS_TEMPFAIL);

	/* cancelled: the callback never comes */
	assert_int_equal(authsess_check(&a, S("u"), S("right"), "192.0.2.1",
	    got_cb, &g, NULL), AUTHSESS_SENT);
	authsess_cancel(&a);
	ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	ev_run(EV_DEFAULT, EVRUN_NOWAIT);
	assert_int_equal(g.calls, 3);
	ipcc_free(&c);
}

static void
test_apop(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, F.path, 5);
	struct authsess a;
	struct got g = { 0 };

	authsess_init(&a, c, "pop3", 64);
	assert_int_equal(authsess_apop(&a, S("u"), "<1.2@h>",
	    S("c4c9334bac560ecc979e58001b3e22fb"), "192.0.2.1", got_cb, &g,
	    NULL), AUTHSESS_SENT);
	wait_calls(&g, 1);
	assert_int_equal(g.kind, AUTHSESS_OK);
	assert_string_equal(F.service, "pop3");
	assert_int_equal(F.got_n, 7);
	assert_memory_equal(F.got, "<1.2@h>", 7);
	assert_int_equal(authsess_apop(&a, S("u"), "<1.2@h>",
	    S("00000000000000000000000000000000"), "192.0.2.1", got_cb, &g,
	    NULL), AUTHSESS_SENT);
	wait_calls(&g, 2);
	assert_int_equal(g.kind, AUTHSESS_FAIL);
	ipcc_free(&c);
}

static void
test_sasl(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, F.path, 5);
	struct authsess a;
	struct got g = { 0 };

	authsess_init(&a, c, "smtp", 64);
	/* bad initial response: nothing sent, no exchange */
	assert_int_equal(authsess_sasl_start(&a, S("LOGIN"), 1, S("!!"),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_E_B64);
	assert_int_equal(a.sid, 0);

	/* LOGIN: start (with "=" initial: empty), challenge, step, OK */
	assert_int_equal(authsess_sasl_start(&a, S("LOGIN"), 1, S("="),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_SENT);
	assert_string_equal(a.mech, "LOGIN");
	wait_calls(&g, 1);
	assert_int_equal(g.kind, AUTHSESS_CHALLENGE);
	assert_string_equal(g.challenge, "VXNlcm5hbWU6");	/* Username: */
	assert_int_equal(F.got_n, 0);
	assert_true(a.sid != 0 && a.sid == F.sid);
	assert_string_equal(F.service, "smtp");
	assert_int_equal(authsess_sasl_line(&a, S("bW9yZQ=="), NULL),
	    AUTHSESS_SENT);				/* "more" */
	wait_calls(&g, 2);
	assert_int_equal(g.kind, AUTHSESS_CHALLENGE);
	assert_string_equal(g.challenge, "");
	assert_int_equal(authsess_sasl_line(&a, S("cmlnaHQ="), NULL),
	    AUTHSESS_SENT);				/* "right" */
	wait_calls(&g, 3);
	assert_int_equal(g.kind, AUTHSESS_OK);
	assert_int_equal(a.sid, 0);		/* the exchange is over */
	assert_int_equal(F.aborts, 0);

	/* a failed step ends the exchange without an abort */
	assert_int_equal(authsess_sasl_start(&a, S("LOGIN"), 0, S(""),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_SENT);
	wait_calls(&g, 4);
	assert_int_equal(authsess_sasl_line(&a, S("d3Jvbmc="), NULL),
	    AUTHSESS_SENT);
	wait_calls(&g, 5);
	assert_int_equal(g.kind, AUTHSESS_FAIL);
	assert_int_equal(a.sid, 0);

	/* "*" cancels and tells authd */
	assert_int_equal(authsess_sasl_start(&a, S("LOGIN"), 0, S(""),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_SENT);
	wait_calls(&g, 6);
	assert_int_equal(authsess_sasl_line(&a, S("*"), NULL),
	    AUTHSESS_E_CANCEL);
	assert_int_equal(a.sid, 0);
	while (F.aborts == 0)
		ev_run(EV_DEFAULT, EVRUN_ONCE);

	/* bad base64 in a step aborts too */
	assert_int_equal(authsess_sasl_start(&a, S("LOGIN"), 0, S(""),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_SENT);
	wait_calls(&g, 7);
	assert_int_equal(authsess_sasl_line(&a, S("not base64"), NULL),
	    AUTHSESS_E_B64);
	assert_int_equal(a.sid, 0);
	while (F.aborts == 1)
		ev_run(EV_DEFAULT, EVRUN_ONCE);

	/* a response longer than sasl_max decoded is refused */
	authsess_init(&a, c, "smtp", 4);
	assert_int_equal(authsess_sasl_start(&a, S("PLAIN"), 1, S("cmlnaHQ="),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_E_B64);
	assert_int_equal(authsess_sasl_start(&a, S("PLAIN"), 1, S("cmlnaA=="),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_SENT);	/* 4 */
	wait_calls(&g, 8);
	/* authd's 9-byte challenge is over sasl_max as well */
	assert_int_equal(g.kind, AUTHSESS_TEMPFAIL);
	assert_int_equal(a.sid, 0);
	authsess_cancel(&a);
	ipcc_free(&c);
}

static void
test_no_authd(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, "/nonexistent/authd.sock", 5);
	struct authsess a;
	struct got g = { 0 };
	struct authsess_mechs m = { .asked = 0 };

	authsess_init(&a, c, "pop3", 64);
	assert_int_equal(authsess_check(&a, S("u"), S("p"), "192.0.2.1",
	    got_cb, &g, NULL), AUTHSESS_E_TEMP);
	assert_int_equal(authsess_sasl_start(&a, S("PLAIN"), 0, S(""),
	    "192.0.2.1", got_cb, &g, NULL), AUTHSESS_E_TEMP);
	assert_int_equal(a.sid, 0);
	assert_int_equal(a.reqid, 0);
	authsess_mechs_fetch(&m, c);
	assert_int_equal(m.asked, 0);	/* ask again next time */
	assert_string_equal(m.list, "");
	assert_int_equal(g.calls, 0);
	ipcc_free(&c);
}

static void
test_mechs(void **state)
{
	struct ipcc *c = ipcc_new(EV_DEFAULT, F.path, 5);
	struct authsess_mechs m = { .asked = 0 };
	int i;

	authsess_mechs_fetch(&m, c);
	assert_int_equal(m.asked, 1);
	for (i = 0; i < 1000 && m.list[0] == '\0'; i++)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	assert_string_equal(m.list, "PLAIN LOGIN");
	authsess_mechs_fetch(&m, c);	/* known: not asked again */
	assert_int_equal(ipcc_pending(c), 0);
	ipcc_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_listed),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_decode_reply),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sasl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apop, setup, teardown),
		cmocka_unit_test(test_no_authd),
		cmocka_unit_test_setup_teardown(test_mechs, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
