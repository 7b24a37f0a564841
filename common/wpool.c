/* Worker threads: blocking work (authd, fsync, LMDB) off the loop, results back through an ev_async. */
/* SPDX-License-Identifier: ISC */
#include <pthread.h>
#include <stdlib.h>

#include <ev.h>

#include "common/log.h"
#include "common/wpool.h"
#include "common/xmem.h"

struct wpool {
	struct ev_loop *loop;
	ev_async async_w;
	pthread_t *threads;
	unsigned n_threads;
	/* guarded by mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wpool_job *todo, **todo_tail;	/* FIFO */
	struct wpool_job *finished;		/* for the loop */
	size_t inflight;
	int stop;
};

static void *
wpool_main(void *arg)
{
	struct wpool *p = arg;
	struct wpool_job *job;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->todo == NULL && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->todo == NULL)
			break;
		job = p->todo;
		if ((p->todo = job->next) == NULL)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->mu);
		job->run(job);
		pthread_mutex_lock(&p->mu);
		job->next = p->finished;
		p->finished = job;
		ev_async_send(p->loop, &p->async_w);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Loop thread: run done() of every finished job, oldest first. */
static void
wpool_reap(struct wpool *p)
{
	struct wpool_job *list, *rev = NULL, *next;

	pthread_mutex_lock(&p->mu);
	list = p->finished;
	p->finished = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		list->next = rev;
		rev = list;
	}
	for (; rev != NULL; rev = next) {
		next = rev->next;
		pthread_mutex_lock(&p->mu);
		p->inflight--;
		pthread_mutex_unlock(&p->mu);
		rev->done(rev);
	}
}

static void
wpool_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	wpool_reap(w->data);
}

struct wpool *
wpool_new(struct ev_loop *loop, unsigned threads)
{
	struct wpool *p = xcalloc(1, sizeof(*p));
	unsigned i;

	p->loop = loop;
	p->n_threads = threads ? threads : 1;
	p->todo_tail = &p->todo;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	ev_async_init(&p->async_w, wpool_async_cb);
	p->async_w.data = p;
	ev_async_start(loop, &p->async_w);
	p->threads = xcalloc(p->n_threads, sizeof(*p->threads));
	for (i = 0; i < p->n_threads; i++)
		if (pthread_create(&p->threads[i], NULL, wpool_main, p) != 0)
			fatal("cannot start worker thread %u", i);
	return p;
}

void
wpool_submit(struct wpool *p, struct wpool_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	*p->todo_tail = job;
	p->todo_tail = &job->next;
	p->inflight++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
wpool_free(struct wpool **pp)
{
	struct wpool *p = *pp;
	unsigned i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* workers finish the queue before they see stop */
	for (i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	wpool_reap(p);
	ev_async_stop(p->loop, &p->async_w);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
	*pp = NULL;
}
