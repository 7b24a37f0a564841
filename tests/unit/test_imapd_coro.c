/* Unit tests for imapd/imap_coro: run to the end, yield and resume, locals kept across yields, many stopped at once, stacks reused. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "imapd/imap_coro.h"

struct probe {
	int steps;		/* yields to make */
	int at;			/* steps done */
	int ended;
	struct coro *self;	/* coro_self() inside */
	unsigned sum;		/* of a big local, after the yields */
};

static void
body(void *arg)
{
	struct probe *p = arg;
	unsigned char big[48 * 1024];	/* a command's PATH_MAX buffers */
	unsigned sum = 0;
	size_t i;

	p->self = coro_self();
	memset(big, 0x5a, sizeof(big));
	for (p->at = 0; p->at < p->steps; p->at++)
		coro_yield();
	for (i = 0; i < sizeof(big); i++)
		sum += big[i];
	p->sum = sum;
	p->ended = 1;
}

static void
test_runs_to_end(void **state)
{
	struct probe p = { 0, 0, 0, NULL, 0 };
	struct coro *co = NULL;

	(void)state;
	assert_null(coro_self());
	assert_int_equal(coro_run(body, &p, &co), 1);
	assert_true(p.ended);
	assert_ptr_equal(p.self, co);	/* *out was set before it ran */
	assert_int_equal(p.sum, 0x5a * 48 * 1024);
	assert_null(coro_self());
}

static void
test_yield_resume(void **state)
{
	struct probe p = { 3, 0, 0, NULL, 0 };
	struct coro *co = NULL;

	(void)state;
	assert_int_equal(coro_run(body, &p, &co), 0);
	assert_int_equal(p.at, 0);
	assert_false(p.ended);
	assert_null(coro_self());	/* back on our own stack */
	assert_int_equal(coro_resume(co), 0);
	assert_int_equal(p.at, 1);
	assert_int_equal(coro_resume(co), 0);
	assert_int_equal(coro_resume(co), 1);
	assert_true(p.ended);
	/* its stack survived the yields */
	assert_int_equal(p.sum, 0x5a * 48 * 1024);
}

/* More stopped at once than the cache keeps; ended in another order. */
static void
test_many_stopped(void **state)
{
	enum { N = 40 };
	struct probe p[N];
	struct coro *co[N];
	int i;

	(void)state;
	for (i = 0; i < N; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].steps = 1 + i % 3;
		assert_int_equal(coro_run(body, &p[i], &co[i]), 0);
	}
	for (i = 0; i < N; i++)
		assert_ptr_not_equal(co[i], co[(i + 1) % N]);
	for (int round = 0; round < 3; round++)
		for (i = N - 1; i >= 0; i--)
			if (!p[i].ended)
				(void)coro_resume(co[i]);
	for (i = 0; i < N; i++) {
		assert_true(p[i].ended);
		assert_int_equal(p[i].sum, 0x5a * 48 * 1024);
	}
	coro_cache_drop();
}

/* A stack goes back to the cache and the next coroutine gets it. */
static void
test_stack_reused(void **state)
{
	struct probe a = { 1, 0, 0, NULL, 0 }, b = { 0, 0, 0, NULL, 0 };
	struct coro *ca, *cb;

	(void)state;
	coro_cache_drop();
	assert_int_equal(coro_run(body, &a, &ca), 0);
	assert_int_equal(coro_resume(ca), 1);
	assert_int_equal(coro_run(body, &b, &cb), 1);
	assert_ptr_equal(ca, cb);
	coro_cache_drop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_to_end),
		cmocka_unit_test(test_yield_resume),
		cmocka_unit_test(test_many_stopped),
		cmocka_unit_test(test_stack_reused),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	coro_cache_drop();
	return rc;
}
