/* A bounded queue of password checks served by worker threads, signalled back with ev_async. */
/* SPDX-License-Identifier: ISC */
#include "authd/verifier.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <sodium.h>

#include "common/log.h"
#include "common/xmem.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct verifier_job {
	struct verifier_job *next;
	enum job_state state;		/* under v->mu */
	int cancelled;			/* loop thread only */
	int ok;
	char hash[128];
	unsigned char *pw;		/* sodium_malloc */
	size_t pwlen;
	verifier_run_fn run;		/* NULL: check hash and pw */
	verifier_done_fn done;
	void *arg;
};

struct verifier {
	struct ev_loop *loop;
	ev_async async;
	verifier_check_fn check;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t done_cv;		/* a job finished */
	struct verifier_job *q_head, *q_tail;	/* waiting */
	struct verifier_job *done_head;		/* finished, for the loop */
	size_t queued, max_queue;
	int stopping;
	pthread_t *threads;
	unsigned n_threads;
};

int
verifier_argon2(const char *hash, const unsigned char *pw, size_t pwlen)
{
	return crypto_pwhash_str_verify(hash, (const char *)pw, pwlen) == 0;
}

static void
verifier_job_wipe(struct verifier_job *j)
{
	if (j->pw != NULL) {
		sodium_memzero(j->pw, j->pwlen + 1);
		sodium_free(j->pw);
		j->pw = NULL;
	}
}

static void *
verifier_main(void *arg)
{
	struct verifier *v = arg;
	struct verifier_job *j;

	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (v->q_head == NULL && !v->stopping)
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->q_head == NULL)
			break;
		j = v->q_head;
		v->q_head = j->next;
		if (v->q_head == NULL)
			v->q_tail = NULL;
		v->queued--;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&v->mu);

		if (j->run != NULL)
			j->ok = j->run(j->arg);
		else
			j->ok = v->check(j->hash, j->pw, j->pwlen);
		verifier_job_wipe(j);

		pthread_mutex_lock(&v->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&v->done_cv);
		j->next = v->done_head;
		v->done_head = j;
		ev_async_send(v->loop, &v->async);
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

static void
verifier_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct verifier *v = w->data;
	struct verifier_job *list, *j, *rev = NULL;

	pthread_mutex_lock(&v->mu);
	list = v->done_head;
	v->done_head = NULL;
	pthread_mutex_unlock(&v->mu);
	/* oldest first */
	while (list != NULL) {
		j = list;
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev != NULL) {
		j = rev;
		rev = j->next;
		if (!j->cancelled)
			j->done(j->arg, j->ok);
		free(j);
	}
}

struct verifier *
verifier_new(struct ev_loop *loop, unsigned threads, size_t max_queue,
    verifier_check_fn check)
{
	struct verifier *v = xcalloc(1, sizeof(*v));
	unsigned i;
	int rc;

	v->loop = loop;
	v->check = check;
	v->max_queue = max_queue;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	pthread_cond_init(&v->done_cv, NULL);
	ev_async_init(&v->async, verifier_async_cb);
	v->async.data = v;
	ev_async_start(loop, &v->async);
	/* the loop should not stay alive just for this watcher */
	ev_unref(loop);
	v->n_threads = threads ? threads : 1;
	v->threads = xcalloc(v->n_threads, sizeof(*v->threads));
	for (i = 0; i < v->n_threads; i++)
		if ((rc = pthread_create(&v->threads[i], NULL, verifier_main,
		    v)) != 0)
			fatal("authd: cannot start verifier thread: %s",
			    strerror(rc));
	return v;
}

static void
verifier_enqueue(struct verifier *v, struct verifier_job *j)
{
	pthread_mutex_lock(&v->mu);
	j->state = JOB_QUEUED;
	if (v->q_tail != NULL)
		v->q_tail->next = j;
	else
		v->q_head = j;
	v->q_tail = j;
	v->queued++;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

static int
verifier_full(struct verifier *v)
{
	int full;

	pthread_mutex_lock(&v->mu);
	full = v->queued >= v->max_queue || v->stopping;
	pthread_mutex_unlock(&v->mu);
	return full;
}

struct verifier_job *
verifier_submit_run(struct verifier *v, verifier_run_fn run,
    verifier_done_fn done, void *arg)
{
	struct verifier_job *j;

	if (verifier_full(v))
		return NULL;
	j = xcalloc(1, sizeof(*j));
	j->run = run;
	j->done = done;
	j->arg = arg;
	verifier_enqueue(v, j);
	return j;
}

struct verifier_job *
verifier_submit(struct verifier *v, const char *hash, struct span pw,
    verifier_done_fn done, void *arg)
{
	struct verifier_job *j;

	if (verifier_full(v))
		return NULL;

	j = xcalloc(1, sizeof(*j));
	snprintf(j->hash, sizeof(j->hash), "%s", hash);
	/* SECURITY: the password lives only in guarded memory, wiped after
	 * the check (verifier_job_wipe). */
	if ((j->pw = sodium_malloc(pw.n + 1)) == NULL)
		fatal("authd: sodium_malloc failed");
	if (pw.n)
		memcpy(j->pw, pw.p, pw.n);
	j->pw[pw.n] = '\0';
	j->pwlen = pw.n;
	j->done = done;
	j->arg = arg;
	verifier_enqueue(v, j);
	return j;
}

void
verifier_cancel(struct verifier *v, struct verifier_job *j)
{
	struct verifier_job **pp;

	pthread_mutex_lock(&v->mu);
	if (j->state == JOB_QUEUED) {
		for (pp = &v->q_head; *pp != j; pp = &(*pp)->next)
			;
		*pp = j->next;
		if (v->q_tail == j) {
			v->q_tail = NULL;
			for (struct verifier_job *t = v->q_head; t; t = t->next)
				v->q_tail = t;
		}
		v->queued--;
		pthread_mutex_unlock(&v->mu);
		verifier_job_wipe(j);
		free(j);
		return;
	}
	/* running or done: the async callback frees it without calling done */
	j->cancelled = 1;
	pthread_mutex_unlock(&v->mu);
}

void
verifier_cancel_sync(struct verifier *v, struct verifier_job *j)
{
	pthread_mutex_lock(&v->mu);
	while (j->state == JOB_RUNNING)
		pthread_cond_wait(&v->done_cv, &v->mu);
	pthread_mutex_unlock(&v->mu);
	verifier_cancel(v, j);
}

void
verifier_free(struct verifier **vp)
{
	struct verifier *v = *vp;
	struct verifier_job *j;
	unsigned i;

	if (v == NULL)
		return;
	pthread_mutex_lock(&v->mu);
	v->stopping = 1;
	while ((j = v->q_head) != NULL) {
		v->q_head = j->next;
		verifier_job_wipe(j);
		free(j);
	}
	v->q_tail = NULL;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	for (i = 0; i < v->n_threads; i++)
		pthread_join(v->threads[i], NULL);
	while ((j = v->done_head) != NULL) {
		v->done_head = j->next;
		free(j);
	}
	ev_ref(v->loop);
	ev_async_stop(v->loop, &v->async);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	pthread_cond_destroy(&v->done_cv);
	free(v->threads);
	free(v);
	*vp = NULL;
}
