/* Unit tests for common/daemon: LB_FDS parsing and lookup. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/daemon.h"

static void
test_fds_good(void **state)
{
	struct daemon_ctx ctx;
	const char *why = NULL;
	int fds[8];

	memset(&ctx, 0, sizeof(ctx));
	ctx.ctl_fd = -1;
	assert_int_equal(daemon_fds_parse(&ctx, "ctl=3 authd=4 smtp=5,6 "
	    "smtp=7", &why), 0);
	assert_int_equal(ctx.ctl_fd, 3);
	assert_int_equal(daemon_fds(&ctx, "authd", fds, 8), 1);
	assert_int_equal(fds[0], 4);
	assert_int_equal(daemon_fds(&ctx, "smtp", fds, 8), 3);
	assert_int_equal(fds[0], 5);
	assert_int_equal(fds[1], 6);
	assert_int_equal(fds[2], 7);
	assert_int_equal(daemon_fds(&ctx, "smtp", fds, 2), 2);
	assert_int_equal(daemon_fds(&ctx, "imap", fds, 8), 0);
}

static void
test_fds_bad(void **state)
{
	static const struct {
		const char *env, *why;
	} cases[] = {
		{ "ctl", "malformed entry" },
		{ "=3", "malformed entry" },
		{ "ctl=", "malformed entry" },
		{ "ctl=2", "bad descriptor number" },
		{ "ctl=x", "bad descriptor number" },
		{ "ctl=3x", "bad descriptor number" },
		{ "ctl=65536", "bad descriptor number" },
		{ "averyveryverylongname_xx=3", "malformed entry" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct daemon_ctx ctx;
		const char *why = NULL;

		memset(&ctx, 0, sizeof(ctx));
		assert_int_equal(daemon_fds_parse(&ctx, cases[i].env, &why),
		    -1);
		assert_string_equal(why, cases[i].why);
	}
}

static void
test_fds_limit(void **state)
{
	struct daemon_ctx ctx;
	const char *why = NULL;
	char env[1024];
	size_t i, o = 0;

	memset(&ctx, 0, sizeof(ctx));
	o += (size_t)snprintf(env + o, sizeof(env) - o, "x=");
	for (i = 0; i < DAEMON_MAX_FDS; i++)
		o += (size_t)snprintf(env + o, sizeof(env) - o, "%s%zu",
		    i ? "," : "", i + 3);
	assert_int_equal(daemon_fds_parse(&ctx, env, &why), 0);
	assert_int_equal(ctx.n_fds, DAEMON_MAX_FDS);
	memset(&ctx, 0, sizeof(ctx));
	snprintf(env + o, sizeof(env) - o, ",99");
	assert_int_equal(daemon_fds_parse(&ctx, env, &why), -1);
	assert_string_equal(why, "too many descriptors");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_good),
		cmocka_unit_test(test_fds_bad),
		cmocka_unit_test(test_fds_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
