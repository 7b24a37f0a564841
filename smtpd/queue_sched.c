/* queued's delivery scheduler: load messages, time their attempts, resolve recipients, share LMTP sessions. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_sched.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_route.h"
#include "smtpd/queue_admin.h"
#include "smtpd/queue_sched_priv.h"

#define QUEUE_SCHED_ADDR_MAX 512

uint64_t
queue_sched_backoff_ms(unsigned min_ms, unsigned max_ms, unsigned attempts)
{
	uint64_t d = min_ms ? min_ms : 1;

	if (max_ms < d)
		max_ms = (unsigned)d;
	while (attempts-- > 1 && d < max_ms)
		d *= 2;
	return d > max_ms ? max_ms : d;
}

int64_t
queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- loading ---- */

/* Read and parse the envelope of queue/ID into m (its own copy of the
 * head, an rcpts array of exactly the right size). */
static int
queue_msg_load_env(struct queue_msg *m, const char **why)
{
	struct envelope_rcpt *tmp;
	size_t want = 64 * 1024, nr;
	enum parse_rc rc = PARSE_MORE;
	ssize_t n = 0;
	int fd;

	fd = openat(m->qs->sp->queue_fd, m->id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		*why = "cannot open";
		return -1;
	}
	tmp = xcalloc(ENVELOPE_MAX_RCPTS, sizeof(*tmp));
	for (;;) {
		m->head = xrealloc(m->head, want);
		if ((n = queue_spool_read_head(fd, m->head, want)) < 0) {
			*why = "cannot read";
			break;
		}
		memset(&m->env, 0, sizeof(m->env));
		m->env.rcpts = tmp;
		m->env.max_rcpts = ENVELOPE_MAX_RCPTS;
		rc = envelope_parse(span_make(m->head, (size_t)n), &m->env,
		    &m->body_off, why);
		if (rc != PARSE_MORE || (size_t)n < want ||
		    want > ENVELOPE_MAX_BYTES)
			break;
		want = ENVELOPE_MAX_BYTES + 1;
	}
	close(fd);
	if (rc == PARSE_MORE)
		*why = "envelope incomplete";
	if (rc == PARSE_OK && (m->env.id.n != QUEUE_ID_LEN ||
	    memcmp(m->env.id.p, m->id, QUEUE_ID_LEN) != 0)) {
		*why = "envelope id is not the file's id";
		rc = PARSE_ERR;
	}
	if (rc == PARSE_OK && m->env.n_rcpts == 0) {
		*why = "no recipients";
		rc = PARSE_ERR;
	}
	if (rc != PARSE_OK) {
		free(tmp);
		return -1;
	}
	/* keep only the head, and only as many rcpts as there are; the
	 * spans point into head, which no longer moves */
	m->head = xrealloc(m->head, m->body_off);
	nr = m->env.n_rcpts;
	memset(&m->env, 0, sizeof(m->env));
	m->env.rcpts = xcalloc(nr, sizeof(*tmp));
	m->env.max_rcpts = nr;
	rc = envelope_parse(span_make(m->head, m->body_off), &m->env,
	    &m->body_off, why);
	free(tmp);
	BUG_ON(rc != PARSE_OK);
	return 0;
}

int
queue_msg_reload_status(struct queue_msg *m)
{
	int torn;

	queue_status_fini(&m->status);
	queue_status_init(&m->status, m->qs->status_fd, m->id,
	    m->env.n_rcpts);
	if (queue_status_load(&m->status, &torn) < 0)
		return -1;
	if (torn)
		log_warn("id=%s event=status-torn note=\"the last record was "
		    "incomplete and is dropped\"", m->id);
	return 0;
}

static void queue_msg_timer_cb(struct ev_loop *loop, ev_timer *w, int rev);

static struct queue_msg *
queue_msg_new(struct queue_sched *qs, const char *id)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	m->qs = qs;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->fd = -1;
	ev_timer_init(&m->timer, queue_msg_timer_cb, 0., 0.);
	m->timer.data = m;
	m->next = qs->msgs;
	if (qs->msgs != NULL)
		qs->msgs->prev = m;
	qs->msgs = m;
	return m;
}

void
queue_msg_attempt_fini(struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->n_att; i++) {
		if (m->att[i].pending)
			ipcc_cancel(m->qs->authd, m->att[i].reqid);
		free(m->att[i].tix);
	}
	free(m->att);
	m->att = NULL;
	m->n_att = m->resolving = 0;
	for (i = 0; i < m->n_mbox; i++)
		free(m->mbox[i]);
	free(m->mbox);
	m->mbox = NULL;
	m->n_mbox = 0;
	free(m->replies);
	m->replies = NULL;
	queue_lmtp_cancel(&m->lmtp);
	queue_route_fini(m);
	free(m->from);
	m->from = NULL;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

static void
queue_wait_remove(struct queue_sched *qs, struct queue_msg *m)
{
	struct queue_msg **pp;

	for (pp = &qs->wait_head; *pp != NULL; pp = &(*pp)->wnext)
		if (*pp == m) {
			*pp = m->wnext;
			break;
		}
	qs->wait_tail = NULL;
	for (pp = &qs->wait_head; *pp != NULL; pp = &(*pp)->wnext)
		qs->wait_tail = *pp;
	m->wnext = NULL;
}

void
queue_msg_free(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;

	if (m->st == QM_WAITING)
		queue_wait_remove(qs, m);
	if (m->st == QM_DELIVERING && m->lmtp != NULL)
		qs->active--;
	ev_timer_stop(qs->loop, &m->timer);
	queue_msg_attempt_fini(m);
	queue_status_fini(&m->status);
	free(m->env.rcpts);
	free(m->head);
	free(m->dkim);
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		qs->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	free(m);
}

/* Arm the timer for the earliest deferred recipient (pending ones: now). */
void
queue_sched_arm(struct queue_msg *m)
{
	int64_t now = queue_now_ms(), next = INT64_MAX;
	size_t i;

	ev_timer_stop(m->qs->loop, &m->timer);
	m->st = QM_IDLE;
	if (m->qs->stopping || m->held)
		return;
	for (i = 0; i < m->status.n; i++) {
		const struct queue_rcpt_status *r = &m->status.rcpts[i];

		if (r->state == QUEUE_RCPT_PENDING ||
		    (queue_status_final(r) && !r->reported))
			next = now;
		else if (r->state == QUEUE_RCPT_DEFERRED && r->until < next)
			next = r->until;
	}
	if (next == INT64_MAX)
		return;
	ev_timer_set(&m->timer, next > now ? (double)(next - now) / 1000. :
	    0., 0.);
	ev_timer_start(m->qs->loop, &m->timer);
}

void
queue_sched_add(struct queue_sched *qs, const char *id)
{
	struct queue_msg *m;
	const char *why = NULL;

	for (m = qs->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return;
	m = queue_msg_new(qs, id);
	if (queue_msg_load_env(m, &why) < 0) {
		/* XXX: left in queue/ for the admin; never delivered */
		log_err("id=%s event=unreadable reason=\"%s\"", id, why);
		queue_msg_free(m);
		return;
	}
	queue_status_init(&m->status, qs->status_fd, id, m->env.n_rcpts);
	if (queue_msg_reload_status(m) < 0) {
		log_err_errno("id=%s event=status-unreadable", id);
		queue_msg_free(m);
		return;
	}
	if (queue_deliver_report(m))
		return;
	m->held = queue_sched_is_held(qs, id);
	queue_sched_arm(m);
}

/* ---- an attempt ---- */


static void
queue_resolve_cb(void *arg, const struct ipc_hdr *hdr, struct span payload,
    int fd, const char *why)
{
	struct queue_att *a = arg;
	struct queue_msg *m = a->m;
	struct ipc_reader r;
	uint32_t kind, n, flags, i;
	struct span addr;

	if (fd >= 0)
		close(fd);
	a->pending = 0;
	a->reqid = 0;
	if (hdr == NULL || hdr->type != IPC_AUTH_RESOLVED) {
		snprintf(a->why, sizeof(a->why), "address lookup failed: %s",
		    hdr == NULL ? (why ? why : "no answer") : "temporary "
		    "failure");
		goto out;
	}
	ipc_reader_init(&r, payload);
	if (ipc_get_u32(&r, &kind) < 0 || ipc_get_u32(&r, &n) < 0 ||
	    n > ENVELOPE_MAX_RCPTS) {
		snprintf(a->why, sizeof(a->why), "address lookup failed: "
		    "malformed answer");
		goto out;
	}
	a->tix = xcalloc(n ? n : 1, sizeof(*a->tix));
	for (i = 0; i < n; i++) {
		size_t j;

		if (ipc_get_u32(&r, &flags) < 0 ||
		    ipc_get_str(&r, &addr, QUEUE_SCHED_ADDR_MAX) < 0 ||
		    addr.n == 0 || span_has_nul(addr))
			break;
		if (!(flags & IPC_TARGET_MAILBOX)) {
			a->forward = 1;
			continue;
		}
		for (j = 0; j < m->n_mbox; j++)
			if (strlen(m->mbox[j]) == addr.n &&
			    memcmp(m->mbox[j], addr.p, addr.n) == 0)
				break;
		if (j == m->n_mbox) {
			m->mbox = xrealloc(m->mbox, (m->n_mbox + 1) *
			    sizeof(*m->mbox));
			m->mbox[m->n_mbox++] = span_dup(addr);
		}
		a->tix[a->n_tix++] = j;
	}
	if (i < n || ipc_get_end(&r) < 0) {
		snprintf(a->why, sizeof(a->why), "address lookup failed: "
		    "malformed answer");
		a->n_tix = 0;
		goto out;
	}
	a->kind = (int)kind;
out:
	BUG_ON(m->resolving == 0);
	if (--m->resolving == 0)
		queue_msg_plan(m);
}

static void queue_sched_next_session(struct queue_sched *qs);

static void
queue_lmtp_done(void *arg, struct queue_lmtp_txn *txn)
{
	struct queue_msg *m = arg;
	struct queue_sched *qs = m->qs;

	m->lmtp = NULL;		/* it says QUIT and frees itself */
	BUG_ON(qs->active == 0);
	qs->active--;
	queue_deliver_results(m);
	queue_sched_next_session(qs);
}

static void
queue_msg_deliver(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	struct stat sb;

	m->st = QM_DELIVERING;
	m->fd = openat(qs->sp->queue_fd, m->id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &sb) < 0) {
		log_err_errno("id=%s event=unreadable", m->id);
		queue_deliver_results(m);	/* every target: no reply */
		return;
	}
	m->replies = xcalloc(m->n_mbox, sizeof(*m->replies));
	memset(&m->txn, 0, sizeof(m->txn));
	m->txn.sock_path = qs->o.lmtp_path;
	m->txn.helo = qs->o.hostname;
	m->from = span_dup(m->env.from);
	m->txn.from = m->from;
	m->txn.body_8bit = m->env.body != ENV_BODY_7BIT;
	m->txn.smtputf8 = m->env.smtputf8;
	m->txn.rcpts = (const char *const *)m->mbox;
	m->txn.n_rcpts = m->n_mbox;
	m->txn.fd = m->fd;
	m->txn.off = m->body_off;
	m->txn.end = (uint64_t)sb.st_size;
	m->txn.timeout_s = qs->o.lmtp_timeout_s;
	m->txn.replies = m->replies;
	qs->active++;
	m->lmtp = queue_lmtp_start(qs->loop, &qs->lmtps, &m->txn,
	    queue_lmtp_done, m);
}

static void
queue_sched_next_session(struct queue_sched *qs)
{
	struct queue_msg *m;

	while (qs->active < qs->o.sessions && (m = qs->wait_head) != NULL) {
		if ((qs->wait_head = m->wnext) == NULL)
			qs->wait_tail = NULL;
		m->wnext = NULL;
		queue_msg_deliver(m);
	}
	if (qs->stopping && qs->active == 0 && qs->idle != NULL) {
		void (*fn)(void *) = qs->idle;

		qs->idle = NULL;
		fn(qs->idle_arg);
	}
}

/* Every due recipient is resolved: deliver, or straight to results.
 * Remote recipients go first, through the relay (queue_route.c), which
 * calls this again when their transaction is over. */
void
queue_msg_plan(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	char **keep;
	size_t i, j, n = 0, *map;

	if (queue_route_start(m))
		return;

	/* drop mailboxes already delivered for every recipient naming them
	 * (a "target" record from an earlier partial attempt) */
	map = xcalloc(m->n_mbox ? m->n_mbox : 1, sizeof(*map));
	keep = xcalloc(m->n_mbox ? m->n_mbox : 1, sizeof(*keep));
	for (j = 0; j < m->n_mbox; j++) {
		int needed = 0;

		for (i = 0; i < m->n_att; i++) {
			struct queue_att *a = &m->att[i];
			size_t k;

			if (a->kind != IPC_RESOLVE_LOCAL || a->forward)
				continue;
			for (k = 0; k < a->n_tix; k++)
				if (a->tix[k] == j && !queue_status_target_done(
				    &m->status.rcpts[a->idx], m->mbox[j]))
					needed = 1;
		}
		map[j] = needed ? n : (size_t)-1;
		if (needed)
			keep[n++] = m->mbox[j];
		else
			free(m->mbox[j]);
	}
	for (i = 0; i < m->n_att; i++) {
		struct queue_att *a = &m->att[i];
		size_t k, o = 0;

		for (k = 0; k < a->n_tix; k++)
			if (map[a->tix[k]] != (size_t)-1)
				a->tix[o++] = map[a->tix[k]];
		/* remember that some were done: all done means delivered */
		a->n_tix = o;
	}
	free(map);
	free(m->mbox);
	m->mbox = keep;
	m->n_mbox = n;
	if (n == 0 || qs->stopping) {
		queue_deliver_results(m);
		return;
	}
	m->st = QM_WAITING;
	if (qs->wait_tail != NULL)
		qs->wait_tail->wnext = m;
	else
		qs->wait_head = m;
	qs->wait_tail = m;
	queue_sched_next_session(qs);
}

static void
queue_msg_attempt(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	struct ipc_msg req;
	size_t i, n = 0;
	char addr[QUEUE_SCHED_ADDR_MAX];

	m->now_ms = queue_now_ms();
	m->att = xcalloc(m->env.n_rcpts, sizeof(*m->att));
	for (i = 0; i < m->env.n_rcpts; i++) {
		const struct queue_rcpt_status *r = &m->status.rcpts[i];

		if (queue_status_final(r) || (r->state ==
		    QUEUE_RCPT_DEFERRED && r->until > m->now_ms))
			continue;
		m->att[n].m = m;
		m->att[n].idx = i;
		n++;
	}
	m->n_att = n;
	if (n == 0) {
		queue_msg_attempt_fini(m);
		if (!queue_deliver_report(m))
			queue_sched_arm(m);
		return;
	}
	m->st = QM_RESOLVING;
	m->resolving = n + 1;	/* +1: nothing completes while we send */
	for (i = 0; i < n; i++) {
		struct queue_att *a = &m->att[i];
		struct span s = m->env.rcpts[a->idx].addr;

		snprintf(addr, sizeof(addr), "%.*s", (int)s.n,
		    (const char *)s.p);
		ipc_msg_init(&req, IPC_AUTH_RESOLVE, 0);
		if (ipc_put_cstr(&req, addr) == 0 &&
		    ipc_msg_finish(&req) == 0 && ipcc_request(qs->authd, &req,
		    queue_resolve_cb, a, &a->reqid) == 0) {
			a->pending = 1;
		} else {
			snprintf(a->why, sizeof(a->why), "address lookup "
			    "failed: authd unavailable");
			m->resolving--;
		}
		ipc_msg_fini(&req);
	}
	if (--m->resolving == 0)
		queue_msg_plan(m);
}

static void
queue_msg_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_msg *m = w->data;

	if (m->st != QM_IDLE || m->qs->stopping)
		return;
	queue_msg_attempt(m);
}

/* ---- the scheduler ---- */

static void
queue_unlinked_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct queue_sched *qs = w->data;

	ev_prepare_stop(loop, w);
	if (fsync(qs->sp->queue_fd) < 0)
		log_warn_errno("event=fsync-failed dir=queue");
}

void
queue_sched_unlinked(struct queue_sched *qs)
{
	ev_prepare_start(qs->loop, &qs->unlinked_w);
}

struct queue_sched *
queue_sched_new(struct ev_loop *loop, const struct queue_spool *sp,
    int status_fd, struct ipcc *authd, const struct queue_sched_opts *o)
{
	struct queue_sched *qs = xcalloc(1, sizeof(*qs));
	const char *why = NULL;

	qs->loop = loop;
	qs->sp = sp;
	qs->status_fd = status_fd;
	qs->authd = authd;
	qs->o = *o;
	ev_prepare_init(&qs->unlinked_w, queue_unlinked_cb);
	qs->unlinked_w.data = qs;
	qs->o.lmtp_path = xstrdup(o->lmtp_path);
	qs->o.hostname = xstrdup(o->hostname);
	if (qs->o.sessions == 0)
		qs->o.sessions = 1;
	if (qs->o.lmtp_timeout_s <= 0)
		qs->o.lmtp_timeout_s = 300;
	if (qs->o.remote_sessions == 0)
		qs->o.remote_sessions = 50;
	if (qs->o.remote_timeout_s <= 0)
		qs->o.remote_timeout_s = 300;
	qs->o.relay_host = NULL;	/* resolved below, not kept */
	qs->o.resolver = NULL;		/* given to the resolver, not kept */
	if (qs->o.mx_port == 0)
		qs->o.mx_port = 25;
	qs->o.tls_policy = qs->o.tls_ca_file = qs->o.dkim_dir = NULL;
	qs->o.relay_tls = qs->o.relay_auth_file = NULL;
	if (queue_route_init(qs, o, &why) < 0)
		fatal("queued: %s", why);	/* refuse to start */
	return qs;
}

static int
queue_sched_add_cb(const char *id, void *arg)
{
	queue_sched_add(arg, id);
	return 0;
}

size_t
queue_sched_start(struct queue_sched *qs)
{
	struct dirent *de;
	struct queue_msg *m;
	size_t ignored, n = 0, orphans = 0;
	struct stat sb;
	DIR *d;
	int fd;

	/* a status file whose message is gone: the crash came between the
	 * two unlinks of a removal (queue/ID goes first) */
	fd = openat(qs->status_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!queue_spool_id_valid(span_cstr(de->d_name)))
				continue;
			if (fstatat(qs->sp->queue_fd, de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
			    queue_status_remove(qs->status_fd, de->d_name) == 0)
				orphans++;
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	if (orphans)
		log_notice("event=status-orphans removed=%zu", orphans);
	if (queue_spool_scan(qs->sp, queue_sched_add_cb, qs, &ignored) < 0)
		log_err_errno("event=scan-failed dir=queue");
	for (m = qs->msgs; m != NULL; m = m->next)
		n++;
	return n;
}

void
queue_sched_shutdown(struct queue_sched *qs, void (*idle)(void *),
    void *arg)
{
	struct queue_msg *m;

	qs->stopping = 1;
	qs->idle = idle;
	qs->idle_arg = arg;
	for (m = qs->msgs; m != NULL; m = m->next) {
		ev_timer_stop(qs->loop, &m->timer);
		if (m->st == QM_RESOLVING || m->st == QM_WAITING) {
			if (m->st == QM_WAITING)
				queue_wait_remove(qs, m);
			queue_msg_attempt_fini(m);
			m->st = QM_IDLE;
		}
	}
	queue_sched_next_session(qs);
}

void
queue_sched_free(struct queue_sched **qsp)
{
	struct queue_sched *qs = *qsp;

	if (qs == NULL)
		return;
	while (qs->msgs != NULL)
		queue_msg_free(qs->msgs);
	if (ev_is_active(&qs->unlinked_w))
		queue_unlinked_cb(qs->loop, &qs->unlinked_w, 0);
	queue_lmtp_set_fini(&qs->lmtps);
	queue_remote_set_fini(&qs->remotes);
	queue_route_relay_fini(qs);
	ipcc_free(&qs->authd);
	close(qs->status_fd);
	free((char *)qs->o.lmtp_path);
	free((char *)qs->o.hostname);
	free(qs);
	*qsp = NULL;
}
