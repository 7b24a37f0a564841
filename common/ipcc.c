/* Asynchronous IPC client: one reconnecting connection, replies matched by request id. */
/* SPDX-License-Identifier: ISC */
#include "common/ipcc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/log.h"
#include "common/xmem.h"

struct ipcc_req {
	struct ipcc_req *next;
	uint64_t id;
	ev_tstamp deadline;
	ipcc_reply_fn *fn;
	void *arg;		/* NULL fn: cancelled */
};

struct ipcc {
	struct ev_loop *loop;
	char *path;
	double timeout_s;
	struct ipc_conn *conn;
	struct ipcc_req *head;	/* oldest first */
	struct ipcc_req **tail;
	uint64_t next_id;
	size_t n_pending;
	ev_timer timer;		/* deadlines; runs while requests wait */
	/* Requests failed by a lost connection are answered from here, on
	 * the next loop iteration, so that no callback runs inside another
	 * caller's stack. */
	struct ipcc_req *failed;
	const char *failed_why;
	ev_idle idle;
};

static void ipcc_fail_all(struct ipcc *c, const char *why);

static struct ipcc_req *
ipcc_take(struct ipcc *c, uint64_t id)
{
	struct ipcc_req **pp, *r;

	for (pp = &c->head; (r = *pp) != NULL; pp = &r->next) {
		if (r->id != id)
			continue;
		*pp = r->next;
		if (c->tail == &r->next)
			c->tail = pp;
		c->n_pending--;
		return r;
	}
	return NULL;
}

static int
ipcc_on_msg(struct ipc_conn *conn, const struct ipc_hdr *hdr,
    struct span payload, int fd, void *arg)
{
	struct ipcc *c = arg;
	struct ipcc_req *r = ipcc_take(c, hdr->reqid);

	if (r == NULL || r->fn == NULL) {
		/* late reply to a cancelled or timed-out request */
		if (fd >= 0)
			close(fd);
		free(r);
		return 0;
	}
	r->fn(r->arg, hdr, payload, fd, NULL);
	free(r);
	return 0;
}

static void
ipcc_on_close(struct ipc_conn *conn, void *arg)
{
	struct ipcc *c = arg;

	log_warn("event=ipc-lost socket=%s pending=%zu", c->path,
	    c->n_pending);
	ipc_conn_free(&c->conn);
	ipcc_fail_all(c, "connection lost");
}

static void
ipcc_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct ipcc *c = w->data;
	struct ipcc_req *r;

	ev_idle_stop(loop, w);
	while ((r = c->failed) != NULL) {
		c->failed = r->next;
		if (r->fn != NULL)
			r->fn(r->arg, NULL, span_make(NULL, 0), -1,
			    c->failed_why);
		free(r);
	}
}

static void
ipcc_fail_all(struct ipcc *c, const char *why)
{
	struct ipcc_req **pp = &c->failed;

	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = c->head;
	c->head = NULL;
	c->tail = &c->head;
	c->n_pending = 0;
	c->failed_why = why;
	ev_timer_stop(c->loop, &c->timer);
	ev_idle_start(c->loop, &c->idle);
}

static void
ipcc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ipcc *c = w->data;
	ev_tstamp now = ev_now(loop);
	struct ipcc_req *r;

	/* Requests are in send order, so deadlines are too. */
	while ((r = c->head) != NULL && r->deadline <= now) {
		c->head = r->next;
		if (c->head == NULL)
			c->tail = &c->head;
		c->n_pending--;
		log_warn("event=ipc-timeout socket=%s reqid=%llu", c->path,
		    (unsigned long long)r->id);
		if (r->fn != NULL)
			r->fn(r->arg, NULL, span_make(NULL, 0), -1, "timeout");
		free(r);
	}
	if (c->head != NULL) {
		w->repeat = c->head->deadline - now;
		ev_timer_again(loop, w);
	} else {
		ev_timer_stop(loop, w);
	}
}

struct ipcc *
ipcc_new(struct ev_loop *loop, const char *path, double timeout_s)
{
	struct ipcc *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->path = xstrdup(path);
	c->timeout_s = timeout_s;
	c->tail = &c->head;
	c->next_id = 1;
	ev_init(&c->timer, ipcc_timer_cb);
	c->timer.data = c;
	ev_idle_init(&c->idle, ipcc_idle_cb);
	c->idle.data = c;
	return c;
}

static int
ipcc_connect(struct ipcc *c)
{
	int fd;

	if (c->conn != NULL)
		return 0;
	if ((fd = ipc_connect_unix(c->path)) < 0) {
		log_warn_errno("event=ipc-connect-failed socket=%s", c->path);
		return -1;
	}
	c->conn = ipc_conn_new(c->loop, fd, IPC_MAX_PAYLOAD, ipcc_on_msg,
	    ipcc_on_close, c);
	return 0;
}

int
ipcc_send(struct ipcc *c, struct ipc_msg *m)
{
	if (ipcc_connect(c) != 0)
		return -1;
	return ipc_conn_send(c->conn, m);
}

int
ipcc_request(struct ipcc *c, struct ipc_msg *m, ipcc_reply_fn *fn, void *arg,
    uint64_t *reqid_out)
{
	struct ipcc_req *r;

	ipc_msg_set_reqid(m, c->next_id);
	if (ipcc_send(c, m) != 0)
		return -1;
	r = xcalloc(1, sizeof(*r));
	r->id = c->next_id++;
	r->fn = fn;
	r->arg = arg;
	r->deadline = ev_now(c->loop) + c->timeout_s;
	*c->tail = r;
	c->tail = &r->next;
	if (c->n_pending++ == 0) {
		c->timer.repeat = c->timeout_s;
		ev_timer_again(c->loop, &c->timer);
	}
	if (reqid_out != NULL)
		*reqid_out = r->id;
	return 0;
}

void
ipcc_cancel(struct ipcc *c, uint64_t reqid)
{
	struct ipcc_req *r;

	for (r = c->head; r != NULL; r = r->next)
		if (r->id == reqid)
			r->fn = NULL;
	for (r = c->failed; r != NULL; r = r->next)
		if (r->id == reqid)
			r->fn = NULL;
}

size_t
ipcc_pending(const struct ipcc *c)
{
	return c->n_pending;
}

void
ipcc_free(struct ipcc **cp)
{
	struct ipcc *c = *cp;
	struct ipcc_req *r;

	if (c == NULL)
		return;
	ev_timer_stop(c->loop, &c->timer);
	ev_idle_stop(c->loop, &c->idle);
	ipc_conn_free(&c->conn);
	while ((r = c->head) != NULL) {
		c->head = r->next;
		free(r);
	}
	while ((r = c->failed) != NULL) {
		c->failed = r->next;
		free(r);
	}
	free(c->path);
	free(c);
	*cp = NULL;
}
