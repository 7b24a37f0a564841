/* Worker threads for blocking work (fsync, LMDB writes, authd) off the loop; results back on it through an ev_async. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_COMMON_WPOOL_H
#define LB_COMMON_WPOOL_H

#include <ev.h>

struct wpool_job;
typedef void (*wpool_job_fn)(struct wpool_job *job);

struct wpool_job {
	wpool_job_fn run;	/* on a worker thread */
	wpool_job_fn done;	/* then on the loop thread */
	struct wpool_job *next;	/* private */
};

struct wpool;

struct wpool *wpool_new(struct ev_loop *loop, unsigned threads);
/* wpool_submit: loop thread; job borrowed until its done() ran. */
void wpool_submit(struct wpool *p, struct wpool_job *job);
/* wpool_free: run every job still queued, join the threads. */
void wpool_free(struct wpool **p);

#endif
