/* Unit tests for authd/server: the wire protocol over a socketpair with a fake user database. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>

#include <ev.h>
#include <sodium.h>

#include "authd/server.h"
#include "authd/server_priv.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"

/* ---- fakes: "H:" + password is the hash of password ---- */

static int db_fail, dummy_checks;

static int
fake_check(const char *hash, const unsigned char *pw, size_t pwlen)
{
	if (strcmp(hash, "dummy") == 0)
		__atomic_add_fetch(&dummy_checks, 1, __ATOMIC_SEQ_CST);
	return strncmp(hash, "H:", 2) == 0 && strlen(hash + 2) == pwlen &&
	    memcmp(hash + 2, pw, pwlen) == 0;
}

static int
fake_user_get(void *arg, const char *address, struct userdb_user *out)
{
	if (db_fail)
		return -1;
	memset(out, 0, sizeof(*out));
	if (strcmp(address, "alice@example.org") == 0 ||
	    strcmp(address, "dis@example.org") == 0 ||
	    strcmp(address, "bob@example.org") == 0) {
		snprintf(out->address, sizeof(out->address), "%s", address);
		snprintf(out->hash, sizeof(out->hash), "H:secret");
		out->quota_bytes = 1000;
		out->quota_messages = 7;
		out->flags = address[0] == 'd' ? USERDB_USER_DISABLED : 0;
		return 1;
	}
	return 0;
}

/* alice and dis have the APOP secret of RFC 1939 7's example; bob none */
static int
fake_apop_get(void *arg, const char *address, char *out, size_t outsz,
    size_t *n_out)
{
	if (db_fail)
		return -1;
	if (strcmp(address, "alice@example.org") != 0 &&
	    strcmp(address, "dis@example.org") != 0)
		return 0;
	assert_true(outsz >= 8);
	memcpy(out, "tanstaaf", 8);
	*n_out = 8;
	return 1;
}

static int
fake_resolve(void *arg, const char *address, char delim,
    struct userdb_resolution *out)
{
	if (db_fail)
		return -1;
	memset(out, 0, sizeof(*out));
	if (strcmp(address, "team@example.org") == 0) {
		out->kind = USERDB_LOCAL;
		out->n = 2;
		snprintf(out->t[0].address, USERDB_ADDR_MAX, "alice@example.org");
		out->t[0].is_mailbox = 1;
		snprintf(out->t[1].address, USERDB_ADDR_MAX, "x@elsewhere.net");
		return 0;
	}
	out->kind = strstr(address, "@example.org") ? USERDB_UNKNOWN :
	    USERDB_REMOTE;
	return 0;
}

/* ---- a client on the same loop ---- */

struct reply {
	int got, closed;
	struct ipc_hdr h;
	uint8_t payload[1024];
	size_t n;
};

static struct ev_loop *loop;
static struct verifier *ver;
static struct authd_server *srv;
static struct ipc_conn *cli;
static struct reply rep;

static int
cli_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span p, int fd,
    void *arg)
{
	rep.got++;
	rep.h = *h;
	rep.n = p.n < sizeof(rep.payload) ? p.n : sizeof(rep.payload);
	memcpy(rep.payload, p.p, rep.n);
	ev_break(loop, EVBREAK_ALL);
	return 0;
}

static void
cli_close(struct ipc_conn *c, void *arg)
{
	rep.closed = 1;
	ipc_conn_free(&cli);
	ev_break(loop, EVBREAK_ALL);
}

static void
guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	fail_msg("no reply");
}

/* A base delay well above what an unthrottled answer takes on a loaded
 * machine, so that "was it delayed" cannot be mistaken either way. */
static const struct throttle_params TP = { 200, 800, 60000 };

static int
setup(void **state)
{
	struct authd_backend be = { fake_user_get, fake_resolve, NULL,
	    fake_apop_get };
	struct authd_params p = { TP, '+' };
	int sv[2];

	loop = EV_DEFAULT;
	db_fail = 0;
	dummy_checks = 0;
	ver = verifier_new(loop, 2, 4, fake_check);
	srv = authd_server_new(loop, &p, &be, ver, "dummy");
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	authd_server_add_client(srv, sv[1]);
	cli = ipc_conn_new(loop, sv[0], IPC_MAX_PAYLOAD, cli_msg, cli_close,
	    NULL);
	return 0;
}

static int
teardown(void **state)
{
	ipc_conn_free(&cli);
	authd_server_free(&srv);
	verifier_free(&ver);
	return 0;
}

/* Send m and run the loop until one reply (or close); ms it took. */
static double
call(struct ipc_msg *m)
{
	ev_timer guard;
	double t0;

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(ipc_msg_finish(m), 0);
	assert_int_equal(ipc_conn_send(cli, m), 0);
	ipc_msg_fini(m);
	ev_timer_init(&guard, guard_cb, 5., 0.);
	ev_timer_start(loop, &guard);
	ev_now_update(loop);
	t0 = ev_now(loop);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
	ev_now_update(loop);
	return (ev_now(loop) - t0) * 1000.;
}

static double
check(const char *user, const char *pw, const char *ip)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_AUTH_CHECK, 77);
	(void)ipc_put_cstr(&m, user);
	(void)ipc_put_cstr(&m, pw);
	(void)ipc_put_cstr(&m, "imap");
	(void)ipc_put_cstr(&m, ip);
	return call(&m);
}

static void
expect_fail(uint32_t reason)
{
	struct ipc_reader r;
	uint32_t got;
	struct span text;

	assert_int_equal(rep.h.type, IPC_AUTH_FAIL);
	assert_int_equal(rep.h.reqid, 77);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_u32(&r, &got), 0);
	assert_int_equal(got, reason);
	assert_int_equal(ipc_get_str(&r, &text, 100), 0);
	assert_int_equal(ipc_get_end(&r), 0);
}

static void
expect_text(uint32_t type, const char *text)
{
	struct ipc_reader r;
	char s[128];

	assert_int_equal(rep.h.type, type);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_cstr(&r, s, sizeof(s)), 0);
	assert_int_equal(ipc_get_end(&r), 0);
	if (text != NULL)
		assert_string_equal(s, text);
}

static void
test_check_ok_and_fail(void **state)
{
	double ms;

	check("alice@example.org", "secret", "192.0.2.1");
	expect_text(IPC_AUTH_OK, "alice@example.org");
	assert_int_equal(rep.h.reqid, 77);

	ms = check("alice@example.org", "wrong", "192.0.2.1");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	assert_true(ms < 150);
	/* one failure: the next answer waits base_ms, right password too */
	ms = check("alice@example.org", "secret", "192.0.2.1");
	expect_text(IPC_AUTH_OK, "alice@example.org");
	assert_true(ms >= 195);
	/* the success cleared the account, but the IP still counts */
	ms = check("alice@example.org", "secret", "192.0.2.99");
	expect_text(IPC_AUTH_OK, NULL);
	assert_true(ms < 150);
	ms = check("nobody@example.org", "x", "192.0.2.1");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	assert_true(ms >= 195);
	/* now two from that IP: 2 x base */
	ms = check("nobody@example.org", "x", "192.0.2.1");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	assert_true(ms >= 395);
}

static void
test_unknown_and_disabled(void **state)
{
	check("ghost@example.org", "secret", "10.0.0.1");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	assert_int_equal(dummy_checks, 1);
	check("dis@example.org", "secret", "10.0.0.2");
	expect_fail(IPC_AUTH_FAIL_DISABLED);
	check("dis@example.org", "nope", "10.0.0.3");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	/* user names we cannot take are wrong ones, still checked */
	{
		struct ipc_msg m;

		ipc_msg_init(&m, IPC_AUTH_CHECK, 77);
		(void)ipc_put_str(&m, span_make("alice@example.org\0", 18));
		(void)ipc_put_cstr(&m, "secret");
		(void)ipc_put_cstr(&m, "imap");
		(void)ipc_put_cstr(&m, "10.0.0.4");
		call(&m);
		expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
		assert_int_equal(dummy_checks, 2);
	}
	db_fail = 1;
	check("alice@example.org", "secret", "10.0.0.5");
	expect_text(IPC_AUTH_TEMPFAIL, NULL);
}

static void
test_resolve_userinfo(void **state)
{
	struct ipc_msg m;
	struct ipc_reader r;
	uint32_t kind, n, flags, found;
	uint64_t qb, qm;
	char a[USERDB_ADDR_MAX];

	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 5);
	(void)ipc_put_cstr(&m, "team@example.org");
	call(&m);
	assert_int_equal(rep.h.type, IPC_AUTH_RESOLVED);
	assert_int_equal(rep.h.reqid, 5);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_u32(&r, &kind), 0);
	assert_int_equal(kind, IPC_RESOLVE_LOCAL);
	assert_int_equal(ipc_get_u32(&r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ipc_get_u32(&r, &flags), 0);
	assert_int_equal(flags, IPC_TARGET_MAILBOX);
	assert_int_equal(ipc_get_cstr(&r, a, sizeof(a)), 0);
	assert_string_equal(a, "alice@example.org");
	assert_int_equal(ipc_get_u32(&r, &flags), 0);
	assert_int_equal(flags, IPC_TARGET_FORWARD);
	assert_int_equal(ipc_get_cstr(&r, a, sizeof(a)), 0);
	assert_string_equal(a, "x@elsewhere.net");
	assert_int_equal(ipc_get_end(&r), 0);

	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 6);
	(void)ipc_put_cstr(&m, "who@remote.net");
	call(&m);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_u32(&r, &kind), 0);
	assert_int_equal(kind, IPC_RESOLVE_REMOTE);
	assert_int_equal(ipc_get_u32(&r, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ipc_get_end(&r), 0);

	ipc_msg_init(&m, IPC_AUTH_USERINFO, 8);
	(void)ipc_put_cstr(&m, "alice@example.org");
	call(&m);
	assert_int_equal(rep.h.type, IPC_AUTH_USER);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_u32(&r, &found), 0);
	assert_int_equal(found, 1);
	assert_int_equal(ipc_get_cstr(&r, a, sizeof(a)), 0);
	assert_string_equal(a, "alice@example.org");
	assert_int_equal(ipc_get_u64(&r, &qb), 0);
	assert_int_equal(ipc_get_u64(&r, &qm), 0);
	assert_int_equal(qb, 1000);
	assert_int_equal(qm, 7);
	assert_int_equal(ipc_get_end(&r), 0);

	ipc_msg_init(&m, IPC_AUTH_USERINFO, 9);
	(void)ipc_put_cstr(&m, "ghost@example.org");
	call(&m);
	ipc_reader_init(&r, span_make(rep.payload, rep.n));
	assert_int_equal(ipc_get_u32(&r, &found), 0);
	assert_int_equal(found, 0);
}

static void
test_malformed(void **state)
{
	struct ipc_msg m;

	/* trailing bytes after the address */
	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 3);
	(void)ipc_put_cstr(&m, "team@example.org");
	(void)ipc_put_u32(&m, 1);
	call(&m);
	expect_text(IPC_AUTH_ERROR, NULL);
	assert_int_equal(rep.h.reqid, 3);
	/* and then the connection is closed */
	ev_run(loop, 0);
	assert_int_equal(rep.closed, 1);
}

static void
test_unknown_type(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_AUTH_OK, 4);
	call(&m);
	expect_text(IPC_AUTH_ERROR, NULL);
	ev_run(loop, 0);
	assert_int_equal(rep.closed, 1);
}

/* ---- APOP (RFC 1939 7) ---- */

#define TS "<1896.697170952@dbc.mtview.ca.us>"
#define DIGEST "c4c9334bac560ecc979e58001b3e22fb"

static double
apop(const char *user, const char *ts, const char *digest, const char *ip)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_AUTH_APOP, 77);
	(void)ipc_put_cstr(&m, user);
	(void)ipc_put_cstr(&m, ts);
	(void)ipc_put_cstr(&m, digest);
	(void)ipc_put_cstr(&m, "pop3");
	(void)ipc_put_cstr(&m, ip);
	return call(&m);
}

static void
test_apop_digest(void **state)
{
	char hex[33];

	/* the example of RFC 1939 7 */
	assert_int_equal(authd_apop_digest(span_make(TS, strlen(TS)),
	    "tanstaaf", 8, hex), 0);
	assert_string_equal(hex, DIGEST);
	assert_int_equal(authd_apop_match(span_make(TS, strlen(TS)),
	    "tanstaaf", 8, DIGEST), 1);
	assert_int_equal(authd_apop_match(span_make(TS, strlen(TS)),
	    "tanstaaF", 8, DIGEST), 0);
	assert_int_equal(authd_apop_match(span_make(TS, strlen(TS) - 1),
	    "tanstaaf", 8, DIGEST), 0);
}

static void
test_apop(void **state)
{
	double ms;

	apop("alice@example.org", TS, DIGEST, "192.0.2.1");
	expect_text(IPC_AUTH_OK, "alice@example.org");
	/* hex digits in upper case are the same digest */
	apop("alice@example.org", TS, "C4C9334BAC560ECC979E58001B3E22FB",
	    "192.0.2.1");
	expect_text(IPC_AUTH_OK, "alice@example.org");
	/* another timestamp: the digest no longer fits */
	ms = apop("alice@example.org", "<1.2@x>", DIGEST, "192.0.2.1");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	assert_true(ms < 150);
	/* and it is throttled like a wrong password */
	ms = apop("alice@example.org", TS, DIGEST, "192.0.2.1");
	expect_text(IPC_AUTH_OK, "alice@example.org");
	assert_true(ms >= 195);
	/* no secret, no user, not hex, too short: all plain failures */
	apop("bob@example.org", TS, DIGEST, "192.0.2.2");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	apop("ghost@example.org", TS, DIGEST, "192.0.2.3");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	apop("alice@example.org", TS, "x4c9334bac560ecc979e58001b3e22fb",
	    "192.0.2.4");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	apop("alice@example.org", TS, "c4c9334bac560ecc979e58001b3e22f",
	    "192.0.2.5");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	/* the right digest for a disabled account */
	apop("dis@example.org", TS, DIGEST, "192.0.2.6");
	expect_fail(IPC_AUTH_FAIL_DISABLED);
	/* the database is down */
	db_fail = 1;
	apop("alice@example.org", TS, DIGEST, "192.0.2.7");
	expect_text(IPC_AUTH_TEMPFAIL, NULL);
}

static void
test_apop_malformed(void **state)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_AUTH_APOP, 5);
	(void)ipc_put_cstr(&m, "alice@example.org");
	(void)ipc_put_cstr(&m, TS);
	call(&m);
	expect_text(IPC_AUTH_ERROR, NULL);
	ev_run(loop, 0);
	assert_int_equal(rep.closed, 1);
}

static int idle_called;

static void
on_idle(void *arg)
{
	idle_called++;
}

static void
test_shutdown_answers_in_flight(void **state)
{
	struct ipc_msg m;

	check("alice@example.org", "bad", "192.0.2.50");
	expect_fail(IPC_AUTH_FAIL_CREDENTIALS);
	/* this one waits on the throttle timer when we shut down */
	ipc_msg_init(&m, IPC_AUTH_CHECK, 78);
	(void)ipc_put_cstr(&m, "alice@example.org");
	(void)ipc_put_cstr(&m, "secret");
	(void)ipc_put_cstr(&m, "imap");
	(void)ipc_put_cstr(&m, "192.0.2.50");
	assert_int_equal(ipc_msg_finish(&m), 0);
	assert_int_equal(ipc_conn_send(cli, &m), 0);
	ipc_msg_fini(&m);
	memset(&rep, 0, sizeof(rep));
	ev_run(loop, EVRUN_NOWAIT);
	idle_called = 0;
	authd_server_shutdown(srv, on_idle, NULL);
	assert_int_equal(idle_called, 0);
	ev_run(loop, 0);
	assert_int_equal(rep.h.type, IPC_AUTH_OK);
	assert_int_equal(rep.h.reqid, 78);
	assert_int_equal(idle_called, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_ok_and_fail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_disabled,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_userinfo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_answers_in_flight,
		    setup, teardown),
		cmocka_unit_test(test_apop_digest),
		cmocka_unit_test_setup_teardown(test_apop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apop_malformed, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test_authd_server", LOG_DEST_STDERR, LOG_LVL_ERR, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
