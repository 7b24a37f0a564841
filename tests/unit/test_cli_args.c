/* Unit tests for the CLI's argument pieces: options, sizes, the table. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cli.h"

struct args_case {
	const char *argv[6];
	int argc;
	int rc;			/* positional count, or -1 */
	const char *why;	/* when rc is -1 */
	const char *pos0, *quota;
	int flag;
};

static void
test_args_table(void **state)
{
	static const struct args_case cases[] = {
		{ { "add", "a@b" }, 2, 2, NULL, "add", NULL, 0 },
		{ { "add", "a@b", "--force" }, 3, 2, NULL, "add", NULL, 1 },
		{ { "--force", "add" }, 2, 1, NULL, "add", NULL, 1 },
		{ { "add", "--quota", "1G", "x" }, 4, 2, NULL, "add", "1G", 0 },
		{ { "add", "--quota=2M" }, 2, 1, NULL, "add", "2M", 0 },
		{ { "add", "--quota=" }, 2, 1, NULL, "add", "", 0 },
		{ { "--", "--force" }, 2, 1, NULL, "--force", NULL, 0 },
		{ { "-" }, 1, 1, NULL, "-", NULL, 0 },
		{ { "add", "--quota" }, 2, -1, "option --quota needs a value",
		    NULL, NULL, 0 },
		{ { "add", "--forc" }, 2, -1, "unknown option \"--forc\"",
		    NULL, NULL, 0 },
		{ { "add", "--bogus=1" }, 2, -1, "unknown option \"--bogus\"",
		    NULL, NULL, 0 },
		{ { "add", "--force=yes" }, 2, -1,
		    "option --force takes no value", NULL, NULL, 0 },
		{ { "a", "b", "c" }, 3, -1, "unexpected argument \"c\"",
		    NULL, NULL, 0 },
		{ { NULL }, 0, 0, NULL, NULL, NULL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *pos[2] = { NULL, NULL }, *why = NULL;
		const char *quota = NULL;
		int force = 0, rc;
		const struct cli_opt opts[] = {
			{ "force", NULL, &force },
			{ "quota", &quota, NULL },
			{ NULL, NULL, NULL },
		};

		rc = cli_args(cases[i].argc, (char **)cases[i].argv, opts, pos,
		    2, &why);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d why %s", i, rc,
			    why ? why : "-");
		if (rc < 0) {
			assert_string_equal(why, cases[i].why);
			continue;
		}
		if (cases[i].pos0 != NULL)
			assert_string_equal(pos[0], cases[i].pos0);
		if (cases[i].quota != NULL)
			assert_string_equal(quota, cases[i].quota);
		else
			assert_null(quota);
		assert_int_equal(force, cases[i].flag);
	}
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t out;
		const char *fmt;
	} cases[] = {
		{ "0", 0, 0, "unlimited" },
		{ "unlimited", 0, 0, "unlimited" },
		{ "1500", 0, 1500, "1500" },
		{ "1536", 0, 1536, "1536" },
		{ "2048", 0, 2048, "2K" },
		{ "10b", 0, 10, "10" },
		{ "1k", 0, 1024, "1K" },
		{ "1536K", 0, 1536 * 1024, "1536K" },
		{ "512M", 0, 512ULL << 20, "512M" },
		{ "1G", 0, 1ULL << 30, "1G" },
		{ "3T", 0, 3ULL << 40, "3T" },
		{ "16777215T", 0, 16777215ULL << 40, "16777215T" },
		{ "16777216T", -1, 0, NULL },
		{ "18446744073709551615", 0, UINT64_MAX,
		    "18446744073709551615" },
		{ "18446744073709551616", -1, 0, NULL },
		{ "", -1, 0, NULL },
		{ "G", -1, 0, NULL },
		{ "-1", -1, 0, NULL },
		{ "1.5G", -1, 0, NULL },
		{ "1 G", -1, 0, NULL },
		{ "1GB", -1, 0, NULL },
		{ "1P", -1, 0, NULL },
	};
	char buf[32], back[32];
	const char *why;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cli_parse_size(cases[i].in, &v, &why);

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d", cases[i].in, rc);
		if (rc < 0)
			continue;
		assert_true(v == cases[i].out);
		assert_string_equal(cli_fmt_size(v, buf), cases[i].fmt);
		/* the printed form parses back to the same value */
		assert_int_equal(cli_parse_size(buf, &v, &why), 0);
		assert_string_equal(cli_fmt_size(v, back), buf);
	}
	assert_int_equal(cli_parse_size("x", &v, &why), -1);
	assert_string_equal(why, "invalid size \"x\" (a number with an "
	    "optional unit B, K, M, G or T, or unlimited)");
	assert_int_equal(cli_parse_count("5000", &v, &why), 0);
	assert_true(v == 5000);
	assert_string_equal(cli_fmt_count(v, buf), "5000");
	assert_int_equal(cli_parse_count("unlimited", &v, &why), 0);
	assert_string_equal(cli_fmt_count(v, buf), "unlimited");
	assert_int_equal(cli_parse_count("5k", &v, &why), -1);
	assert_string_equal(why, "invalid number \"5k\" (digits, or unlimited)");
}

static void
test_table(void **state)
{
	static const char *const names[] = {
		"init", "config", "domain", "user", "alias", "quota",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct cli_cmd *c = cli_cmd_find(names[i]);

		assert_non_null(c);
		assert_true((c->run == NULL) != (c->run_path == NULL));
		assert_int_equal(strncmp(c->usage, names[i],
		    strlen(names[i])), 0);
	}
	assert_null(cli_cmd_find("users"));
	assert_null(cli_cmd_find(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_table),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
