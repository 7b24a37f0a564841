/* Group commit: worker threads make spool files durable and share one directory fsync per batch. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_COMMIT_H
#define LB_QUEUE_COMMIT_H

#include <stddef.h>

#include "smtpd/queue_spool.h"

struct ev_loop;

/*
 * docs/queue.md, "Group commit".  A job is one file in tmp/.  A worker
 * thread fdatasyncs it; whichever worker then finds synced jobs waiting
 * (and no batch under way) takes all of them, renames each tmp/ID ->
 * queue/ID, fsyncs queue/ once for the batch, and hands the jobs back to
 * the loop thread, where done() runs.  A job synced while a batch is under
 * way is picked up by the batch's worker when it finishes, or by the next
 * worker to finish a sync, so none waits for a wake-up that never comes.
 *
 * Failures (status -1 in done, with why):
 *   - fdatasync fails: tmp/ID is unlinked; nothing else is affected.
 *   - the rename fails: tmp/ID is unlinked.
 *   - the fsync of queue/ fails: whether any rename of the batch is on
 *     disk is unknown, so every file of the batch is unlinked from queue/
 *     again and every job fails: its client was not told and will retry.
 * So a job that succeeds is in queue/, durable; one that fails left no
 * file behind (unless unlink itself failed, which the caller may log).
 */

/* The durability calls, replaceable so that tests can count them, delay
 * them and make them fail.  Each returns 0, or -1 with errno. */
struct queue_commit_io {
	int (*datasync)(void *arg, int fd);	/* fdatasync(fd) */
	int (*dirsync)(void *arg, int dir_fd);	/* fsync(dir_fd) */
	void *arg;
};

/* The default: the real fdatasync and fsync. */
extern const struct queue_commit_io queue_commit_io_sys;

struct queue_job {
	/* set by the caller before queue_commit_submit */
	char id[QUEUE_ID_LEN + 1];
	int fd;			/* the file, borrowed until done() */
	void *arg;		/* the caller's */
	/* set before done() */
	int status;		/* 0 committed, -1 failed */
	const char *why;	/* static: "fdatasync failed", ... */
	int err;		/* errno of the failure */
	/* private */
	struct queue_job *next;
	int renamed;
};

/* Runs on the loop thread, once per job, in no particular order.  The job
 * belongs to the caller again (it may free it inside). */
typedef void (*queue_commit_done_fn)(struct queue_job *job, void *arg);

struct queue_commit;

/*
 * queue_commit_new: start threads workers (at least 1) committing into
 * sp's directories (borrowed; they must outlive the committer).  io is
 * copied.  Completions are delivered on loop through an ev_async.
 */
struct queue_commit *queue_commit_new(struct ev_loop *loop,
    const struct queue_spool *sp, unsigned threads,
    const struct queue_commit_io *io, queue_commit_done_fn done, void *arg);

/* queue_commit_submit: queue job (borrowed until its done()).  Any thread
 * may submit; it never waits on the disk, only on a short mutex. */
void queue_commit_submit(struct queue_commit *qc, struct queue_job *job);

/* queue_commit_inflight: jobs submitted whose done() has not run yet. */
size_t queue_commit_inflight(struct queue_commit *qc);

/* queue_commit_free: finish every job submitted (their done() runs here
 * if it has not yet), stop and join the threads, free.  Loop thread, and
 * not from inside done(); nothing may submit any more. */
void queue_commit_free(struct queue_commit **qc);

#endif
