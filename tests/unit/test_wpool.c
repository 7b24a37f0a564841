/* Unit tests for common/wpool: jobs run on the worker threads, done() on the loop thread, each once, and free drains the queue. */
/* SPDX-License-Identifier: ISC */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <ev.h>

#include "common/wpool.h"

enum { NJOBS = 200 };

struct tjob {
	struct wpool_job job;	/* first */
	pthread_t ran_on;
	int runs, dones;
	int *left;
	struct ev_loop *loop;
};

static pthread_t loop_thread;

static void
tjob_run(struct wpool_job *job)
{
	struct tjob *j = (struct tjob *)job;

	j->ran_on = pthread_self();
	j->runs++;
	usleep(100);		/* as an fsync would */
}

static void
tjob_done(struct wpool_job *job)
{
	struct tjob *j = (struct tjob *)job;

	assert_true(pthread_equal(pthread_self(), loop_thread));
	j->dones++;
	if (--*j->left == 0)
		ev_break(j->loop, EVBREAK_ALL);
}

static void
test_jobs_run_and_return(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct wpool *p = wpool_new(loop, 4);
	static struct tjob jobs[NJOBS];
	int left = NJOBS, i, off_loop = 0;

	(void)state;
	loop_thread = pthread_self();
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < NJOBS; i++) {
		jobs[i].job.run = tjob_run;
		jobs[i].job.done = tjob_done;
		jobs[i].left = &left;
		jobs[i].loop = loop;
		wpool_submit(p, &jobs[i].job);
	}
	ev_run(loop, 0);
	assert_int_equal(left, 0);
	for (i = 0; i < NJOBS; i++) {
		assert_int_equal(jobs[i].runs, 1);
		assert_int_equal(jobs[i].dones, 1);
		off_loop += !pthread_equal(jobs[i].ran_on, loop_thread);
	}
	assert_int_equal(off_loop, NJOBS);
	wpool_free(&p);
	assert_null(p);
	ev_loop_destroy(loop);
}

/* Jobs still queued at free run, and their done() is called there. */
static void
test_free_drains(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct wpool *p = wpool_new(loop, 1);
	static struct tjob jobs[20];
	int left = 20, i;

	(void)state;
	loop_thread = pthread_self();
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 20; i++) {
		jobs[i].job.run = tjob_run;
		jobs[i].job.done = tjob_done;
		jobs[i].left = &left;
		jobs[i].loop = loop;
		wpool_submit(p, &jobs[i].job);
	}
	wpool_free(&p);
	assert_int_equal(left, 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(jobs[i].runs, 1);
		assert_int_equal(jobs[i].dones, 1);
	}
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_run_and_return),
		cmocka_unit_test(test_free_drains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
