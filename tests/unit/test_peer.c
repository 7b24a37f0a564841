/* Unit tests for common/peer: LB_PEERS parsing and the SO_PEERCRED check. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/peer.h"

static void
test_parse_default(void **state)
{
	struct peer_set s;
	const char *why = NULL;

	assert_int_equal(peer_parse(NULL, 1000, &s, &why), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.uids[0], 0);
	assert_int_equal(s.uids[1], 1000);
	/* root alone when we are root */
	assert_int_equal(peer_parse("", 0, &s, &why), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.uids[0], 0);
}

static void
test_parse_list(void **state)
{
	static const struct {
		const char *in;
		int rc;
		size_t n;
	} cases[] = {
		{ "0,101,102", 0, 3 },
		{ "7", 0, 1 },
		{ "4294967294", 0, 1 },		/* largest valid uid */
		{ "4294967295", -1, 0 },	/* (uid_t)-1 is no uid */
		{ "99999999999", -1, 0 },
		{ "1,,2", -1, 0 },
		{ "1,", -1, 0 },
		{ ",1", -1, 0 },
		{ "1;2", -1, 0 },
		{ "-1", -1, 0 },
		{ "+1", -1, 0 },
		{ " 1", -1, 0 },
		{ "1 ", -1, 0 },
		{ "abc", -1, 0 },
	};
	struct peer_set s;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		assert_int_equal(peer_parse(cases[i].in, 5, &s, &why),
		    cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(s.n, cases[i].n);
		else
			assert_non_null(why);
	}
	assert_int_equal(peer_parse("0,101,102", 5, &s, &why), 0);
	assert_int_equal(s.uids[2], 102);
}

/* Exactly PEER_MAX uids fit; one more does not. */
static void
test_parse_limit(void **state)
{
	char list[PEER_MAX * 4 + 8];
	struct peer_set s;
	const char *why = NULL;
	size_t i, off = 0;

	for (i = 0; i < PEER_MAX; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%zu",
		    i ? "," : "", i);
	assert_int_equal(peer_parse(list, 5, &s, &why), 0);
	assert_int_equal(s.n, PEER_MAX);
	snprintf(list + off, sizeof(list) - off, ",99");
	assert_int_equal(peer_parse(list, 5, &s, &why), -1);
	assert_string_equal(why, "too many uids");
}

static void
test_check(void **state)
{
	struct peer_set s;
	const char *why = NULL;
	uid_t uid;
	int sv[2];
	char list[32];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	snprintf(list, sizeof(list), "%u", (unsigned)getuid());
	assert_int_equal(peer_parse(list, getuid(), &s, &why), 0);
	assert_int_equal(peer_check(&s, sv[0], &uid), 1);
	assert_int_equal(uid, getuid());
	/* a list without us refuses us */
	snprintf(list, sizeof(list), "%u", (unsigned)getuid() + 1);
	assert_int_equal(peer_parse(list, getuid(), &s, &why), 0);
	assert_int_equal(peer_check(&s, sv[0], &uid), 0);
	assert_int_equal(uid, getuid());
	close(sv[0]);
	close(sv[1]);
	/* a closed fd: refused, uid unknown */
	assert_int_equal(peer_check(&s, sv[0], &uid), 0);
	assert_int_equal(uid, (uid_t)-1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_default),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_parse_limit),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
