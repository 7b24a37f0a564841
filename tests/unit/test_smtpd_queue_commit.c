/* Unit tests for smtpd/queue_commit: group commit counts, ordering, lost wake-ups, injected failures. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <ev.h>
#include <sodium.h>

#include "common/log.h"
#include "smtpd/queue_commit.h"
#include "smtpd/queue_spool.h"

#define MAX_FD 4096
#define MAX_JOBS 256

/* What the fake durability calls saw, and what they should do. */
struct io {
	pthread_mutex_t mu;
	const struct queue_spool *sp;
	unsigned datasyncs, dirsyncs;
	unsigned per_fd[MAX_FD];	/* fdatasyncs per file */
	char id_by_fd[MAX_FD][QUEUE_ID_LEN + 1];
	unsigned order_violations;	/* file not in tmp/ while syncing */
	int fail_datasync_fd;		/* EIO for this fd, -1 none */
	unsigned fail_dirsync_nth;	/* EIO on the nth dirsync, 0 none */
	unsigned gate_first_dirsync;	/* hold dirsync 1 until n synced */
	unsigned datasyncs_done;
	size_t queued_at_dirsync[MAX_JOBS];	/* files in queue/ per call */
	useconds_t datasync_us, dirsync_us;
};

static struct io io;

static int
in_dir(int dir_fd, const char *id)
{
	return faccessat(dir_fd, id, F_OK, 0) == 0;
}

static int
io_datasync(void *arg, int fd)
{
	struct io *t = arg;
	const char *id = t->id_by_fd[fd];
	int bad = 0;

	/* The file must sit in tmp/, not queue/, for the whole call: a
	 * rename before the sync returned would show up here. */
	if (!in_dir(t->sp->tmp_fd, id) || in_dir(t->sp->queue_fd, id))
		bad = 1;
	if (t->datasync_us)
		usleep(t->datasync_us);
	if (!in_dir(t->sp->tmp_fd, id) || in_dir(t->sp->queue_fd, id))
		bad = 1;
	pthread_mutex_lock(&t->mu);
	t->datasyncs++;
	t->per_fd[fd]++;
	t->order_violations += bad;
	pthread_mutex_unlock(&t->mu);
	if (fd == t->fail_datasync_fd) {
		errno = EIO;
		return -1;
	}
	if (fdatasync(fd) < 0)
		return -1;
	pthread_mutex_lock(&t->mu);
	t->datasyncs_done++;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static int
io_dirsync(void *arg, int dir_fd)
{
	struct io *t = arg;
	size_t ign;
	unsigned n;
	int i;

	pthread_mutex_lock(&t->mu);
	n = ++t->dirsyncs;
	pthread_mutex_unlock(&t->mu);
	if (dir_fd != t->sp->queue_fd)
		t->order_violations++;	/* no cmocka asserts off the main thread */
	if (n == 1 && t->gate_first_dirsync) {
		/* hold the batch while every other job gets synced */
		for (i = 0; i < 5000; i++) {
			pthread_mutex_lock(&t->mu);
			if (t->datasyncs_done >= t->gate_first_dirsync) {
				pthread_mutex_unlock(&t->mu);
				break;
			}
			pthread_mutex_unlock(&t->mu);
			usleep(1000);
		}
		usleep(20000);	/* let them reach the synced list */
	}
	if (n < MAX_JOBS)
		t->queued_at_dirsync[n] = (size_t)queue_spool_scan(t->sp, NULL,
		    NULL, &ign);
	if (t->dirsync_us)
		usleep(t->dirsync_us);
	if (n == t->fail_dirsync_nth) {
		errno = EIO;
		return -1;
	}
	return fsync(dir_fd);
}

static const struct queue_commit_io test_io = { io_datasync, io_dirsync, &io };

/* ---- fixture: a spool in a fresh temp dir, a loop ---- */

struct fx {
	char dir[64];
	struct queue_spool sp;
	struct ev_loop *loop;
	struct queue_commit *qc;
	struct queue_job jobs[MAX_JOBS];
	size_t n_jobs, n_done, n_ok, n_failed;
	pthread_mutex_t mu;		/* n_jobs, for producer threads */
	ev_timer deadline;
};

static void
job_done(struct queue_job *job, void *arg)
{
	struct fx *f = arg;

	f->n_done++;
	if (job->status == 0) {
		f->n_ok++;
		/* committed: in queue/, gone from tmp/ */
		assert_true(in_dir(f->sp.queue_fd, job->id));
		assert_false(in_dir(f->sp.tmp_fd, job->id));
	} else {
		f->n_failed++;
		assert_non_null(job->why);
		/* failed: no file anywhere */
		assert_false(in_dir(f->sp.queue_fd, job->id));
		assert_false(in_dir(f->sp.tmp_fd, job->id));
	}
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	fail_msg("jobs not answered in time: a lost wake-up?");
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *why = NULL;
	int fd;

	snprintf(f->dir, sizeof(f->dir), "/tmp/lbq-commit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(queue_spool_open(fd, &f->sp, &why), 0);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	pthread_mutex_init(&f->mu, NULL);
	memset(&io, 0, sizeof(io));
	pthread_mutex_init(&io.mu, NULL);
	io.sp = &f->sp;
	io.fail_datasync_fd = -1;
	ev_timer_init(&f->deadline, deadline_cb, 30., 0.);
	ev_timer_start(f->loop, &f->deadline);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	size_t i;

	queue_commit_free(&f->qc);
	for (i = 0; i < f->n_jobs; i++)
		close(f->jobs[i].fd);
	queue_spool_close(&f->sp);
	ev_timer_stop(f->loop, &f->deadline);
	ev_loop_destroy(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* Make one tmp/ file with some bytes and submit it (any thread). */
static struct queue_job *
make_and_submit(struct fx *f)
{
	struct queue_job *job;
	char text[128];
	int fd, wfd;
	size_t n;

	pthread_mutex_lock(&f->mu);
	assert_true(f->n_jobs < MAX_JOBS);
	job = &f->jobs[f->n_jobs++];
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(queue_spool_create(&f->sp, job->id, &fd, &wfd), 0);
	assert_true(fd < MAX_FD);
	n = (size_t)snprintf(text, sizeof(text), "message %s\r\n", job->id);
	assert_int_equal(write(wfd, text, n), (ssize_t)n);
	close(wfd);
	pthread_mutex_lock(&io.mu);
	memcpy(io.id_by_fd[fd], job->id, sizeof(job->id));
	pthread_mutex_unlock(&io.mu);
	job->fd = fd;
	job->arg = f;
	queue_commit_submit(f->qc, job);
	return job;
}

static void
run_until_done(struct fx *f, size_t n)
{
	while (f->n_done < n)
		ev_run(f->loop, EVRUN_ONCE);
	assert_int_equal(queue_commit_inflight(f->qc), 0);
}

static void
test_one_job(void **state)
{
	struct fx *f = *state;
	struct queue_job *job;
	char path[128], buf[128], want[128];
	FILE *fp;
	size_t n;

	f->qc = queue_commit_new(f->loop, &f->sp, 4, &test_io, job_done, f);
	job = make_and_submit(f);
	run_until_done(f, 1);
	assert_int_equal(job->status, 0);
	assert_int_equal(io.datasyncs, 1);
	assert_int_equal(io.dirsyncs, 1);
	assert_int_equal(io.order_violations, 0);
	snprintf(path, sizeof(path), "%s/queue/%s", f->dir, job->id);
	assert_non_null(fp = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "message %s\r\n", job->id);
	assert_string_equal(buf, want);
}

#define PRODUCERS 4
#define PER_PRODUCER 50

static void *
producer(void *arg)
{
	struct fx *f = arg;
	int i;

	for (i = 0; i < PER_PRODUCER; i++) {
		make_and_submit(f);
		if (i % 7 == 0)
			usleep(200);
	}
	return NULL;
}

/* 200 jobs from 4 threads: all committed, each file synced once, and the
 * directory fsync shared. */
static void
test_many_jobs_share_dirsync(void **state)
{
	struct fx *f = *state;
	pthread_t th[PRODUCERS];
	size_t i;
	const size_t n = PRODUCERS * PER_PRODUCER;

	io.datasync_us = 500;
	io.dirsync_us = 2000;
	f->qc = queue_commit_new(f->loop, &f->sp, 4, &test_io, job_done, f);
	for (i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer, f), 0);
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	run_until_done(f, n);
	assert_int_equal(f->n_ok, n);
	assert_int_equal(io.datasyncs, n);
	for (i = 0; i < n; i++)
		assert_int_equal(io.per_fd[f->jobs[i].fd], 1);
	assert_int_equal(io.order_violations, 0);
	assert_true(io.dirsyncs >= 1);
	assert_true(io.dirsyncs < n);
	print_message("    200 jobs: %u fdatasyncs, %u queue/ fsyncs\n",
	    io.datasyncs, io.dirsyncs);
}

/* Make a tmp/ file and a job for it without submitting it. */
static struct queue_job *
make_job(struct fx *f)
{
	struct queue_job *job;
	int fd, wfd;

	pthread_mutex_lock(&f->mu);
	job = &f->jobs[f->n_jobs++];
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(queue_spool_create(&f->sp, job->id, &fd, &wfd), 0);
	close(wfd);
	memcpy(io.id_by_fd[fd], job->id, sizeof(job->id));
	job->fd = fd;
	job->arg = f;
	return job;
}

/* fdatasync fails for one file: only that job fails, its file is gone. */
static void
test_datasync_failure(void **state)
{
	struct fx *f = *state;
	struct queue_job *bad, *ok1, *ok2;

	io.datasync_us = 2000;
	f->qc = queue_commit_new(f->loop, &f->sp, 2, &test_io, job_done, f);
	bad = make_job(f);
	io.fail_datasync_fd = bad->fd;
	queue_commit_submit(f->qc, bad);
	ok1 = make_and_submit(f);
	ok2 = make_and_submit(f);
	run_until_done(f, 3);
	assert_int_equal(bad->status, -1);
	assert_int_equal(bad->err, EIO);
	assert_string_equal(bad->why, "fdatasync failed");
	assert_false(in_dir(f->sp.tmp_fd, bad->id));
	assert_false(in_dir(f->sp.queue_fd, bad->id));
	assert_int_equal(ok1->status, 0);
	assert_int_equal(ok2->status, 0);
	assert_int_equal(f->n_ok, 2);
	assert_int_equal(f->n_failed, 1);
	assert_int_equal(io.datasyncs, 3);
	assert_int_equal(io.order_violations, 0);
}

/*
 * Jobs synced while another thread holds the batch are committed without
 * any further submit (no lost wake-up), in a batch of their own.
 */
static void
test_synced_during_batch(void **state)
{
	struct fx *f = *state;
	const size_t n = 8;
	size_t i;

	io.gate_first_dirsync = (unsigned)n;
	f->qc = queue_commit_new(f->loop, &f->sp, 2, &test_io, job_done, f);
	for (i = 0; i < n; i++)
		make_and_submit(f);
	run_until_done(f, n);
	assert_int_equal(f->n_ok, n);
	assert_int_equal(io.datasyncs, n);
	/* the first batch held the rest back: they shared few fsyncs (one,
	 * when the first batch's short wait caught them all) */
	assert_true(io.dirsyncs >= 1 && io.dirsyncs <= 3);
	assert_int_equal(io.order_violations, 0);
}

/*
 * The fsync of queue/ fails for the second batch: every job of that batch
 * fails and its file is taken out of queue/ again; the first batch's
 * jobs stay committed.
 */
static void
test_dirsync_failure(void **state)
{
	struct fx *f = *state;
	const size_t n = 8;
	size_t i, first_batch;

	io.gate_first_dirsync = (unsigned)n;
	io.fail_dirsync_nth = 2;
	/* syncs slower than a batch's wait for stragglers, so that there
	 * is a second batch to fail */
	io.datasync_us = 5000;
	f->qc = queue_commit_new(f->loop, &f->sp, 2, &test_io, job_done, f);
	for (i = 0; i < n; i++)
		make_and_submit(f);
	run_until_done(f, n);
	first_batch = io.queued_at_dirsync[1];
	assert_true(first_batch >= 1);
	assert_int_equal(f->n_ok, first_batch);
	assert_int_equal(f->n_failed, n - first_batch);
	assert_true(f->n_failed >= 2);	/* a whole batch, not one job */
	for (i = 0; i < n; i++)
		if (f->jobs[i].status != 0) {
			assert_string_equal(f->jobs[i].why,
			    "fsync of queue/ failed");
			assert_int_equal(f->jobs[i].err, EIO);
		}
	/* on disk: exactly the first batch in queue/, nothing in tmp/ */
	{
		size_t ign;

		assert_int_equal(queue_spool_scan(&f->sp, NULL, NULL, &ign),
		    (long)first_batch);
	}
}

/* queue_commit_free with jobs still in flight answers them all first. */
static void
test_free_finishes_jobs(void **state)
{
	struct fx *f = *state;
	size_t i;

	io.datasync_us = 3000;
	f->qc = queue_commit_new(f->loop, &f->sp, 2, &test_io, job_done, f);
	for (i = 0; i < 10; i++)
		make_and_submit(f);
	queue_commit_free(&f->qc);
	assert_int_equal(f->n_done, 10);
	assert_int_equal(f->n_ok, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_jobs_share_dirsync,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_datasync_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_synced_during_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dirsync_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_finishes_jobs, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test_smtpd_queue_commit", LOG_DEST_STDERR, LOG_LVL_ERR,
	    NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
