/* Unit tests for common/envelope: round trip, every field, malformed heads. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/envelope.h"

static const char full_text[] =
    "LBENV 1\n"
    "id 5f0c2a91d3e4b7a8\n"
    "arrival 1795433400\n"
    "from a@example.org\n"
    "body 8bitmime\n"
    "smtputf8 1\n"
    "ret hdrs\n"
    "envid QQ+2Bx\n"
    "auth alice@example.org\n"
    "client 192.0.2.7 mx.example.net\n"
    "rcpt bob@example.test notify=success,failure orcpt=rfc822;bob@x\n"
    "rcpt carol@example.test\n"
    "\n";

static void
test_round_trip(void **state)
{
	struct envelope_rcpt r[2] = {
		{ span_cstr("bob@example.test"),
		    ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE,
		    span_cstr("rfc822;bob@x") },
		{ span_cstr("carol@example.test"), 0, { NULL, 0 } },
	};
	struct envelope e = {
		.id = span_cstr("5f0c2a91d3e4b7a8"), .arrival = 1795433400,
		.from = span_cstr("a@example.org"), .body = ENV_BODY_8BITMIME,
		.smtputf8 = 1, .ret = ENV_RET_HDRS, .envid = span_cstr("QQ+2Bx"),
		.auth = span_cstr("alice@example.org"),
		.client_ip = span_cstr("192.0.2.7"),
		.helo = span_cstr("mx.example.net"), .rcpts = r, .n_rcpts = 2,
	};
	struct envelope_rcpt pr[4];
	struct envelope p = { .rcpts = pr, .max_rcpts = 4 };
	struct buf b;
	const char *why = NULL;
	size_t off = 0;

	buf_init(&b, 64, 4096);
	assert_int_equal(envelope_write(&e, &b), 0);
	assert_string_equal(buf_cstr(&b), full_text);
	assert_int_equal(buf_addstr(&b, "Subject: x\r\n"), 0);
	assert_int_equal(envelope_parse(buf_view(&b), &p, &off, &why),
	    PARSE_OK);
	assert_int_equal(off, strlen(full_text));
	assert_true(span_eq(p.id, "5f0c2a91d3e4b7a8"));
	assert_int_equal(p.arrival, 1795433400);
	assert_true(span_eq(p.from, "a@example.org"));
	assert_int_equal(p.body, ENV_BODY_8BITMIME);
	assert_int_equal(p.smtputf8, 1);
	assert_int_equal(p.ret, ENV_RET_HDRS);
	assert_true(span_eq(p.envid, "QQ+2Bx"));
	assert_true(span_eq(p.auth, "alice@example.org"));
	assert_true(span_eq(p.client_ip, "192.0.2.7"));
	assert_true(span_eq(p.helo, "mx.example.net"));
	assert_int_equal(p.n_rcpts, 2);
	assert_true(span_eq(pr[0].addr, "bob@example.test"));
	assert_int_equal(pr[0].notify, ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE);
	assert_true(span_eq(pr[0].orcpt, "rfc822;bob@x"));
	assert_true(span_eq(pr[1].addr, "carol@example.test"));
	assert_int_equal(pr[1].notify, 0);
	assert_int_equal(pr[1].orcpt.n, 0);
	buf_fini(&b);
}

static void
test_null_sender_and_split(void **state)
{
	static const char t[] = "LBENV 1\nid x1\narrival 5\nfrom\nbody 7bit\n"
	    "rcpt a@b\n\nBODY";
	struct envelope_rcpt pr[1];
	struct envelope p = { .rcpts = pr, .max_rcpts = 1 };
	const char *why = NULL;
	size_t off = 0, n;

	/* Every prefix shorter than the head needs more. */
	for (n = 0; n < sizeof(t) - 5; n++)
		assert_int_equal(envelope_parse(span_make(t, n), &p, &off,
		    &why), PARSE_MORE);
	assert_int_equal(envelope_parse(span_make(t, sizeof(t) - 1), &p, &off,
	    &why), PARSE_OK);
	assert_int_equal(p.from.n, 0);
	assert_string_equal(t + off, "BODY");
}

static void
test_bad(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{ "LBENV 2\n\n", "not a Letterbox envelope" },
		{ "LBENV 1\nrcpt a@b\n\n", "envelope has no id" },
		{ "LBENV 1\nid x\n\n", "envelope has no recipients" },
		{ "LBENV 1\nid x\nrcpt a@b\nrcpt c@d\n\n",
		    "too many recipients" },
		{ "LBENV 1\nid x\nbody 9bit\nrcpt a@b\n\n", "bad body type" },
		{ "LBENV 1\nid x\narrival -1\nrcpt a@b\n\n",
		    "bad arrival time" },
		{ "LBENV 1\nid x\nrcpt a@b notify=never,success\n\n",
		    "bad rcpt line" },
		{ "LBENV 1\nid x\nrcpt a@b color=red\n\n", "bad rcpt line" },
		{ "LBENV 1\nid x\nrcpt\n\n", "bad rcpt line" },
		{ "LBENV 1\nid x\nwhat 1\nrcpt a@b\n\n",
		    "unknown envelope key" },
		{ "LBENV 1\nid x\r\nrcpt a@b\n\n",
		    "control character in envelope" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope_rcpt pr[1];
		struct envelope p = { .rcpts = pr, .max_rcpts = 1 };
		const char *why = NULL;
		size_t off;

		if (envelope_parse(span_cstr(cases[i].text), &p, &off, &why) !=
		    PARSE_ERR || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: %s", i, why ? why : "(ok)");
	}
}

static void
test_write_refuses_controls(void **state)
{
	struct envelope_rcpt r = { span_cstr("a@b"), 0, { NULL, 0 } };
	struct envelope e = { .id = span_cstr("x"), .rcpts = &r, .n_rcpts = 1,
	    .helo = span_cstr("evil\r\nrcpt x@y") ,
	    .client_ip = span_cstr("1.2.3.4") };
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(envelope_write(&e, &b), -1);
	e.helo = span_cstr("ok");
	r.addr = span_cstr("\"a b\"@c");
	buf_reset(&b);
	assert_int_equal(envelope_write(&e, &b), -1);
	buf_fini(&b);
}

static void
test_notify(void **state)
{
	unsigned v;

	assert_int_equal(envelope_notify_parse(span_cstr("NEVER"), &v), 0);
	assert_int_equal(v, ENV_NOTIFY_NEVER);
	assert_int_equal(envelope_notify_parse(span_cstr("delay,Success"),
	    &v), 0);
	assert_int_equal(v, ENV_NOTIFY_DELAY | ENV_NOTIFY_SUCCESS);
	assert_int_equal(envelope_notify_parse(span_cstr(""), &v), -1);
	assert_int_equal(envelope_notify_parse(span_cstr("success,"), &v), -1);
	assert_int_equal(envelope_notify_parse(span_cstr("never,delay"), &v),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_null_sender_and_split),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_write_refuses_controls),
		cmocka_unit_test(test_notify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
