/* Group commit for the spool: parallel fdatasync, one shared fsync of queue/ per batch. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_commit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "common/log.h"
#include "common/xmem.h"

struct queue_commit {
	struct ev_loop *loop;
	const struct queue_spool *sp;
	struct queue_commit_io io;
	queue_commit_done_fn done;
	void *arg;
	ev_async async_w;
	pthread_t *threads;
	unsigned n_threads;

	/* everything below is guarded by mu */
	size_t inflight;		/* submitted, done() not yet run */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* todo is not empty, or stop */
	struct queue_job *todo, **todo_tail;	/* FIFO: waiting for a sync */
	struct queue_job *synced;	/* synced, waiting for a batch */
	struct queue_job *finished;	/* for the loop thread */
	int batch_busy;			/* a worker is renaming + fsyncing */
	unsigned syncing;		/* workers inside fdatasync now */
	pthread_cond_t synced_cv;	/* a worker left fdatasync */
	int stop;
};

/* How long a batch waits for fdatasyncs already under way to join it. */
#define QUEUE_BATCH_WAIT_NS 2000000L

static int
queue_commit_sys_datasync(void *arg, int fd)
{
	return fdatasync(fd);
}

static int
queue_commit_sys_dirsync(void *arg, int dir_fd)
{
	return fsync(dir_fd);
}

const struct queue_commit_io queue_commit_io_sys = {
	queue_commit_sys_datasync, queue_commit_sys_dirsync, NULL,
};

static void
queue_commit_fail(struct queue_job *job, const char *why, int err)
{
	job->status = -1;
	job->why = why;
	job->err = err;
}

/* Worker, unlocked: make one file's data durable, or drop the file. */
static void
queue_commit_sync_one(struct queue_commit *qc, struct queue_job *job)
{
	int rc;

	do
		rc = qc->io.datasync(qc->io.arg, job->fd);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return;
	queue_commit_fail(job, "fdatasync failed", errno);
	(void)queue_spool_unlink_tmp(qc->sp, job->id);
}

/*
 * Worker, unlocked, holding the batch: rename every synced file into
 * queue/ and make the renames durable with one fsync of queue/.  Only
 * files whose fdatasync has returned ever get here, so no file is
 * visible in queue/ before its data is on disk.
 */
static void
queue_commit_batch(struct queue_commit *qc, struct queue_job *batch)
{
	struct queue_job *j;
	size_t renamed = 0;
	int rc, e;

	for (j = batch; j != NULL; j = j->next) {
		if (queue_spool_commit_rename(qc->sp, j->id) == 0) {
			j->renamed = 1;
			renamed++;
			continue;
		}
		queue_commit_fail(j, "rename into queue/ failed", errno);
		(void)queue_spool_unlink_tmp(qc->sp, j->id);
	}
	if (renamed == 0)
		return;
	do
		rc = qc->io.dirsync(qc->io.arg, qc->sp->queue_fd);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return;
	/* Which renames reached the disk is unknown.  None of these
	 * clients has been told, so take every file back: a retry is
	 * better than a message queued twice or a 250 not on disk. */
	e = errno;
	for (j = batch; j != NULL; j = j->next) {
		if (!j->renamed)
			continue;
		queue_commit_fail(j, "fsync of queue/ failed", e);
		(void)queue_spool_unlink_queue(qc->sp, j->id);
	}
}

/* Locked: move a list onto finished and poke the loop. */
static void
queue_commit_finish_locked(struct queue_commit *qc, struct queue_job *list)
{
	struct queue_job *next;

	for (; list != NULL; list = next) {
		next = list->next;
		list->next = qc->finished;
		qc->finished = list;
	}
	ev_async_send(qc->loop, &qc->async_w);
}

/*
 * Locked on entry and exit.  While synced jobs wait and nobody runs a
 * batch, become the batch runner.  The check is made again after each
 * batch, under the lock, which is what keeps a job that was synced
 * during our batch from waiting for a wake-up: either we see it here, or
 * its own worker saw batch_busy == 0 and ran it itself.
 */
static void
queue_commit_batches_locked(struct queue_commit *qc)
{
	struct queue_job *batch;
	struct timespec until;

	while (qc->synced != NULL && !qc->batch_busy) {
		qc->batch_busy = 1;
		/* Files other workers are syncing right now would each need
		 * a directory fsync of their own a moment later: wait (a
		 * little, bounded) so that one fsync covers them too.  With
		 * one client nothing is in flight and nothing waits. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += QUEUE_BATCH_WAIT_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (qc->syncing > 0 && pthread_cond_timedwait(&qc->synced_cv,
		    &qc->mu, &until) == 0)
			;
		batch = qc->synced;
		qc->synced = NULL;
		pthread_mutex_unlock(&qc->mu);
		queue_commit_batch(qc, batch);
		pthread_mutex_lock(&qc->mu);
		qc->batch_busy = 0;
		queue_commit_finish_locked(qc, batch);
	}
}

static void *
queue_commit_worker(void *arg)
{
	struct queue_commit *qc = arg;
	struct queue_job *job;

	pthread_mutex_lock(&qc->mu);
	for (;;) {
		while (qc->todo == NULL && !qc->stop)
			pthread_cond_wait(&qc->cv, &qc->mu);
		if (qc->todo == NULL)
			break;		/* stopping, and nothing left */
		job = qc->todo;
		if ((qc->todo = job->next) == NULL)
			qc->todo_tail = &qc->todo;
		qc->syncing++;
		pthread_mutex_unlock(&qc->mu);

		queue_commit_sync_one(qc, job);

		pthread_mutex_lock(&qc->mu);
		qc->syncing--;
		pthread_cond_broadcast(&qc->synced_cv);
		if (job->status == 0) {
			job->next = qc->synced;
			qc->synced = job;
		} else {
			job->next = NULL;
			queue_commit_finish_locked(qc, job);
		}
		queue_commit_batches_locked(qc);
	}
	pthread_mutex_unlock(&qc->mu);
	return NULL;
}

/* Loop thread: run done() for every finished job. */
static void
queue_commit_drain(struct queue_commit *qc)
{
	struct queue_job *list, *next;

	pthread_mutex_lock(&qc->mu);
	list = qc->finished;
	qc->finished = NULL;
	pthread_mutex_unlock(&qc->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = NULL;
		pthread_mutex_lock(&qc->mu);
		BUG_ON(qc->inflight == 0);
		qc->inflight--;
		pthread_mutex_unlock(&qc->mu);
		qc->done(list, qc->arg);
	}
}

static void
queue_commit_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	queue_commit_drain(w->data);
}

struct queue_commit *
queue_commit_new(struct ev_loop *loop, const struct queue_spool *sp,
    unsigned threads, const struct queue_commit_io *io,
    queue_commit_done_fn done, void *arg)
{
	struct queue_commit *qc = xcalloc(1, sizeof(*qc));
	unsigned i;
	int e;

	qc->loop = loop;
	qc->sp = sp;
	qc->io = *io;
	qc->done = done;
	qc->arg = arg;
	qc->todo_tail = &qc->todo;
	pthread_mutex_init(&qc->mu, NULL);
	pthread_cond_init(&qc->cv, NULL);
	pthread_cond_init(&qc->synced_cv, NULL);
	ev_async_init(&qc->async_w, queue_commit_async_cb);
	qc->async_w.data = qc;
	ev_async_start(loop, &qc->async_w);
	qc->n_threads = threads ? threads : 1;
	qc->threads = xcalloc(qc->n_threads, sizeof(*qc->threads));
	for (i = 0; i < qc->n_threads; i++)
		if ((e = pthread_create(&qc->threads[i], NULL,
		    queue_commit_worker, qc)) != 0)
			fatal("queued: cannot start commit thread: %s",
			    strerror(e));
	return qc;
}

void
queue_commit_submit(struct queue_commit *qc, struct queue_job *job)
{
	job->status = 0;
	job->why = NULL;
	job->err = 0;
	job->renamed = 0;
	job->next = NULL;
	pthread_mutex_lock(&qc->mu);
	qc->inflight++;
	*qc->todo_tail = job;
	qc->todo_tail = &job->next;
	pthread_cond_signal(&qc->cv);
	pthread_mutex_unlock(&qc->mu);
}

size_t
queue_commit_inflight(struct queue_commit *qc)
{
	size_t n;

	pthread_mutex_lock(&qc->mu);
	n = qc->inflight;
	pthread_mutex_unlock(&qc->mu);
	return n;
}

void
queue_commit_free(struct queue_commit **qcp)
{
	struct queue_commit *qc = *qcp;
	unsigned i;

	if (qc == NULL)
		return;
	pthread_mutex_lock(&qc->mu);
	qc->stop = 1;
	pthread_cond_broadcast(&qc->cv);
	pthread_mutex_unlock(&qc->mu);
	/* workers drain todo before they leave: every job gets an answer */
	for (i = 0; i < qc->n_threads; i++)
		pthread_join(qc->threads[i], NULL);
	queue_commit_drain(qc);
	BUG_ON(qc->inflight != 0);
	ev_async_stop(qc->loop, &qc->async_w);
	pthread_cond_destroy(&qc->cv);
	pthread_cond_destroy(&qc->synced_cv);
	pthread_mutex_destroy(&qc->mu);
	free(qc->threads);
	free(qc);
	*qcp = NULL;
}
