/* Unit tests for smtpd/queue_sched: the retry schedule. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtpd/queue_sched.h"

static void
test_backoff(void **state)
{
	static const struct {
		unsigned min, max, attempts;
		uint64_t want;
	} cases[] = {
		{ 60000, 3600000, 1, 60000 },
		{ 60000, 3600000, 2, 120000 },
		{ 60000, 3600000, 3, 240000 },
		{ 60000, 3600000, 6, 1920000 },
		{ 60000, 3600000, 7, 3600000 },		/* 3840000 capped */
		{ 60000, 3600000, 1000, 3600000 },
		{ 200, 1000, 1, 200 },
		{ 200, 1000, 2, 400 },
		{ 200, 1000, 3, 800 },
		{ 200, 1000, 4, 1000 },
		{ 200, 1000, 0, 200 },			/* never below min */
		{ 5000, 1000, 3, 5000 },		/* max below min: min */
		{ 0, 0, 1, 1 },
		{ 3600000, 86400000, 40, 86400000 },	/* no overflow */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_sched_backoff_ms(cases[i].min,
		    cases[i].max, cases[i].attempts), cases[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
