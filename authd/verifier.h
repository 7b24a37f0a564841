/* Password verification on worker threads, results back on the libev loop. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHD_VERIFIER_H
#define LB_AUTHD_VERIFIER_H

#include <stddef.h>

#include "common/buf.h"

struct ev_loop;

/* verifier_check_fn: 1 if pw matches hash, else 0.  Runs on a worker
 * thread; must be thread-safe.  verifier_argon2 is the real one. */
typedef int (*verifier_check_fn)(const char *hash, const unsigned char *pw,
    size_t pwlen);
/* verifier_done_fn: runs on the loop thread with the check's result. */
typedef void (*verifier_done_fn)(void *arg, int ok);

struct verifier;
struct verifier_job;

int verifier_argon2(const char *hash, const unsigned char *pw, size_t pwlen);

/* verifier_new: threads workers (>= 1) and at most max_queue jobs waiting
 * (not counting those running). */
struct verifier *verifier_new(struct ev_loop *loop, unsigned threads,
    size_t max_queue, verifier_check_fn check);

/*
 * verifier_submit: check pw against hash (at most 127 chars, copied) on a
 * worker.  pw is copied into sodium_malloc memory, wiped and freed right
 * after the check.  done(arg, ok) runs later on the loop, never from
 * inside this call.  NULL if the queue is full.
 */
struct verifier_job *verifier_submit(struct verifier *v, const char *hash,
    struct span pw, verifier_done_fn done, void *arg);
/*
 * verifier_submit_run: run(arg) on a worker instead of a password check
 * (for work that may check passwords itself, such as a SASL step); its
 * result goes to done(arg, result) on the loop as for verifier_submit.
 * arg must stay valid until done runs or verifier_cancel_sync returns:
 * plain verifier_cancel does not wait for a running job.  Same queue and
 * limit as verifier_submit; NULL if the queue is full.
 */
typedef int (*verifier_run_fn)(void *arg);
struct verifier_job *verifier_submit_run(struct verifier *v,
    verifier_run_fn run, verifier_done_fn done, void *arg);

/* verifier_cancel: done will not be called; job is invalid afterwards. */
void verifier_cancel(struct verifier *v, struct verifier_job *job);
/* verifier_cancel_sync: as verifier_cancel, but if the job is running,
 * wait until it has finished (blocks: for teardown only). */
void verifier_cancel_sync(struct verifier *v, struct verifier_job *job);

/* verifier_free: wait for the workers to finish what runs, drop the
 * queue (without calling done), join them. */
void verifier_free(struct verifier **v);

#endif
