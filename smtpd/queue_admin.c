/* queued's admin socket and the list/show/flush/delete/hold/release operations behind `letterbox queue`. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ev.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/xmem.h"
#include "smtpd/queue_route.h"
#include "smtpd/queue_sched_priv.h"
#include "smtpd/queue_spool.h"
#include "smtpd/queue_status.h"

#define QADMIN_SOCK "admin.sock"
#define QADMIN_HOLD "hold"
#define QADMIN_CONNS 8		/* admin connections at once */
/* a listing stops short of the IPC frame limit and says how many more */
#define QADMIN_TEXT_MAX (IPC_MAX_PAYLOAD - 4096)
#define QADMIN_HEADER_MAX 8192	/* header bytes `show` prints */

struct qadmin_conn {
	struct queue_admin *qa;
	struct ipc_conn *c;
};

struct queue_admin {
	struct ev_loop *loop;
	struct queue_sched *qs;
	struct peer_listener listener;
	struct qadmin_conn conns[QADMIN_CONNS];
};

/* ---- the operations ---- */

/* An error or status line for the admin: cut if the text is full. */
static void __attribute__((format(printf, 2, 3)))
note(struct buf *out, const char *fmt, ...)
{
	char t[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (buf_addstr(out, t) < 0)
		return;
}

static struct queue_msg *
find(struct queue_sched *qs, const char *id)
{
	struct queue_msg *m;

	for (m = qs->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static int
unknown(const char *id, struct buf *out)
{
	note(out, "no message %s in the queue\n", id);
	return -1;
}

static void
fmt_dur(int64_t s, char *out, size_t outsz)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, outsz, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, outsz, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, outsz, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, outsz, "%lldd", (long long)(s / 86400));
}

static const char *
msg_state(const struct queue_msg *m)
{
	if (m->held)
		return "held";
	return m->st == QM_IDLE ? "queued" : "delivering";
}

/* When the next attempt starts, as "in 5m", "now" or "-" (none due). */
static void
next_attempt(struct queue_sched *qs, const struct queue_msg *m, char *out,
    size_t outsz)
{
	char d[32];

	if (m->held) {
		snprintf(out, outsz, "held");
	} else if (m->st != QM_IDLE) {
		snprintf(out, outsz, "now");
	} else if (ev_is_active(&m->timer)) {
		fmt_dur((int64_t)(ev_timer_remaining(qs->loop,
		    (ev_timer *)&m->timer) + 0.5), d, sizeof(d));
		snprintf(out, outsz, "in %s", d);
	} else {
		snprintf(out, outsz, "-");
	}
}

/* The latest temporary or permanent error of any recipient. */
static const struct queue_rcpt_status *
last_error(const struct queue_msg *m)
{
	const struct queue_rcpt_status *best = NULL;
	size_t i;

	for (i = 0; i < m->status.n; i++) {
		const struct queue_rcpt_status *r = &m->status.rcpts[i];

		if ((r->state == QUEUE_RCPT_DEFERRED ||
		    r->state == QUEUE_RCPT_FAILED) && r->text[0] != '\0' &&
		    (best == NULL || r->attempts >= best->attempts))
			best = r;
	}
	return best;
}

static int64_t
msg_size(struct queue_sched *qs, const struct queue_msg *m)
{
	struct stat st;

	if (fstatat(qs->sp->queue_fd, m->id, &st, 0) < 0)
		return -1;
	return (int64_t)st.st_size - (int64_t)m->body_off;
}

int
queue_sched_list(struct queue_sched *qs, struct buf *out)
{
	const struct queue_msg *m;
	size_t n = 0, shown = 0, i, open;
	int64_t now = time(NULL);
	char age[32], next[48];
	int rc = 0;

	rc |= buf_addf(out, "%-16s %10s %5s %-8s %-6s %s\n", "ID", "SIZE",
	    "AGE", "NEXT", "RCPTS", "SENDER -> RECIPIENT");
	for (m = qs->msgs; m != NULL; m = m->next) {
		const struct queue_rcpt_status *e = last_error(m);

		n++;
		if (out->len > QADMIN_TEXT_MAX)
			continue;
		shown++;
		for (i = open = 0; i < m->status.n; i++)
			open += !queue_status_final(&m->status.rcpts[i]);
		fmt_dur(now - m->env.arrival, age, sizeof(age));
		next_attempt(qs, m, next, sizeof(next));
		rc |= buf_addf(out, "%-16s %10lld %5s %-8s %zu/%-4zu <%.*s> -> "
		    "%.*s%s\n", m->id, (long long)msg_size(qs, m), age, next,
		    open, m->env.n_rcpts, (int)m->env.from.n,
		    (const char *)m->env.from.p,
		    m->env.n_rcpts ? (int)m->env.rcpts[0].addr.n : 0,
		    m->env.n_rcpts ? (const char *)m->env.rcpts[0].addr.p : "",
		    m->env.n_rcpts > 1 ? " (+more)" : "");
		if (e != NULL)
			rc |= buf_addf(out, "%-16s last error: %d %s %s\n", "",
			    e->code, e->enh[0] ? e->enh : "-", e->text);
	}
	if (shown < n)
		rc |= buf_addf(out, "... %zu more not shown\n", n - shown);
	rc |= buf_addf(out, "%zu message%s in the queue\n", n,
	    n == 1 ? "" : "s");
	return rc ? -1 : 0;
}

static const char *
rcpt_state(enum queue_rcpt_state s)
{
	switch (s) {
	case QUEUE_RCPT_PENDING:
		return "pending";
	case QUEUE_RCPT_DEFERRED:
		return "deferred";
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	default:
		return "failed";
	}
}

int
queue_sched_show(struct queue_sched *qs, const char *id, struct buf *out)
{
	const struct queue_msg *m = find(qs, id);
	int64_t now = time(NULL);
	char age[32], next[48], when[32];
	uint8_t *hdr;
	ssize_t got;
	size_t i, end;
	int rc = 0, fd;

	if (m == NULL)
		return unknown(id, out);
	fmt_dur(now - m->env.arrival, age, sizeof(age));
	next_attempt(qs, m, next, sizeof(next));
	rc |= buf_addf(out, "id: %s\nstate: %s\nfrom: <%.*s>\nsize: %lld\n"
	    "age: %s\nnext attempt: %s\n", m->id, msg_state(m),
	    (int)m->env.from.n, (const char *)m->env.from.p,
	    (long long)msg_size(qs, m), age, next);
	if (m->env.auth.n)
		rc |= buf_addf(out, "auth: %.*s\n", (int)m->env.auth.n,
		    (const char *)m->env.auth.p);
	if (m->env.client_ip.n)
		rc |= buf_addf(out, "client: %.*s %.*s\n",
		    (int)m->env.client_ip.n, (const char *)m->env.client_ip.p,
		    (int)m->env.helo.n, (const char *)m->env.helo.p);
	for (i = 0; i < m->env.n_rcpts && i < m->status.n; i++) {
		const struct queue_rcpt_status *r = &m->status.rcpts[i];

		rc |= buf_addf(out, "rcpt <%.*s>: %s",
		    (int)m->env.rcpts[i].addr.n,
		    (const char *)m->env.rcpts[i].addr.p,
		    rcpt_state(r->state));
		if (r->state == QUEUE_RCPT_DEFERRED) {
			fmt_dur(r->until / 1000 - now, when, sizeof(when));
			rc |= buf_addf(out, " attempts=%u next=%s", r->attempts,
			    when);
		}
		if (r->text[0] != '\0')
			rc |= buf_addf(out, " last=\"%d %s %s\"", r->code,
			    r->enh[0] ? r->enh : "-", r->text);
		rc |= buf_addstr(out, "\n");
	}
	/* the message's header, as it will be delivered */
	rc |= buf_addstr(out, "header:\n");
	if ((fd = openat(qs->sp->queue_fd, m->id, O_RDONLY | O_CLOEXEC)) < 0)
		return buf_addf(out, "  (unreadable: %s)\n", strerror(errno)) ?
		    -1 : rc ? -1 : 0;
	hdr = xmalloc(QADMIN_HEADER_MAX);
	got = pread(fd, hdr, QADMIN_HEADER_MAX, (off_t)m->body_off);
	close(fd);
	if (got < 0)
		got = 0;
	for (i = 0; i < (size_t)got; i = end) {
		for (end = i; end < (size_t)got && hdr[end] != '\n'; end++)
			;
		if (end == i || (end == i + 1 && hdr[i] == '\r'))
			break;	/* the blank line */
		rc |= buf_addf(out, "  %.*s\n", (int)(end - i -
		    (hdr[end - 1] == '\r')), (const char *)hdr + i);
		end++;
	}
	free(hdr);
	return rc ? -1 : 0;
}

static void
flush_one(struct queue_msg *m)
{
	size_t i;

	if (m->held || m->st != QM_IDLE)
		return;
	for (i = 0; i < m->status.n; i++)
		if (m->status.rcpts[i].state == QUEUE_RCPT_DEFERRED)
			m->status.rcpts[i].until = 0;
	queue_sched_arm(m);
}

int
queue_sched_flush(struct queue_sched *qs, const char *id, struct buf *out)
{
	struct queue_msg *m;
	size_t n = 0;

	/* the admin says "now": destinations in backoff are tried too */
	queue_route_flush(qs);
	if (id != NULL) {
		if ((m = find(qs, id)) == NULL)
			return unknown(id, out);
		if (m->held) {
			note(out, "%s is held: release it first\n",
			    id);
			return -1;
		}
		flush_one(m);
		log_notice("id=%s event=admin-flush", id);
		return buf_addf(out, "%s: flushed\n", id) ? -1 : 0;
	}
	for (m = qs->msgs; m != NULL; m = m->next) {
		flush_one(m);
		n++;
	}
	log_notice("event=admin-flush messages=%zu", n);
	return buf_addf(out, "flushed %zu message%s\n", n, n == 1 ? "" : "s") ?
	    -1 : 0;
}

int
queue_sched_delete(struct queue_sched *qs, const char *id, struct buf *out)
{
	struct queue_msg *m = find(qs, id);

	if (m == NULL)
		return unknown(id, out);
	if (m->st != QM_IDLE) {
		note(out, "%s is being delivered: try again in a "
		    "moment\n", id);
		return -1;
	}
	/* queue/ID first, as queue_remove does: a status file without its
	 * message is swept at start, the reverse would deliver again */
	if (queue_spool_unlink_queue(qs->sp, id) < 0 && errno != ENOENT) {
		note(out, "%s: cannot remove: %s\n", id,
		    strerror(errno));
		return -1;
	}
	if (fsync(qs->sp->queue_fd) < 0)
		log_warn_errno("id=%s event=fsync-failed dir=queue", id);
	if (queue_status_remove(qs->status_fd, id) < 0)
		log_warn_errno("id=%s event=status-remove-failed", id);
	{
		char path[sizeof(QADMIN_HOLD) + QUEUE_ID_LEN + 2];

		snprintf(path, sizeof(path), QADMIN_HOLD "/%s", id);
		(void)unlinkat(qs->sp->spool_fd, path, 0);
	}
	log_notice("id=%s event=admin-delete note=\"removed without a DSN\"",
	    id);
	queue_msg_free(m);
	return buf_addf(out, "%s: deleted\n", id) ? -1 : 0;
}

int
queue_sched_is_held(struct queue_sched *qs, const char *id)
{
	char path[sizeof(QADMIN_HOLD) + QUEUE_ID_LEN + 2];

	snprintf(path, sizeof(path), QADMIN_HOLD "/%s", id);
	return faccessat(qs->sp->spool_fd, path, F_OK, 0) == 0;
}

static int
hold_mark(struct queue_sched *qs, const char *id, int hold)
{
	char path[sizeof(QADMIN_HOLD) + QUEUE_ID_LEN + 2];
	int fd, dfd;

	snprintf(path, sizeof(path), QADMIN_HOLD "/%s", id);
	if (hold) {
		fd = openat(qs->sp->spool_fd, path, O_WRONLY | O_CREAT |
		    O_CLOEXEC, 0600);
		if (fd < 0)
			return -1;
		close(fd);
	} else if (unlinkat(qs->sp->spool_fd, path, 0) < 0 &&
	    errno != ENOENT) {
		return -1;
	}
	/* durable: a hold must survive a crash as the message does */
	if ((dfd = openat(qs->sp->spool_fd, QADMIN_HOLD, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
queue_sched_hold(struct queue_sched *qs, const char *id, int hold,
    struct buf *out)
{
	struct queue_msg *m = find(qs, id);

	if (m == NULL)
		return unknown(id, out);
	if (hold_mark(qs, id, hold) < 0) {
		note(out, "%s: cannot %s: %s\n", id,
		    hold ? "hold" : "release", strerror(errno));
		return -1;
	}
	m->held = hold;
	log_notice("id=%s event=admin-%s", id, hold ? "hold" : "release");
	if (hold) {
		/* an attempt under way finishes; none starts after it */
		if (m->st == QM_IDLE)
			ev_timer_stop(qs->loop, &m->timer);
		return buf_addf(out, "%s: held\n", id) ? -1 : 0;
	}
	flush_one(m);
	return buf_addf(out, "%s: released\n", id) ? -1 : 0;
}

/* ---- the socket ---- */

static void
qadmin_conn_close(struct qadmin_conn *qc)
{
	ipc_conn_free(&qc->c);
}

static void
qadmin_close_cb(struct ipc_conn *c, void *arg)
{
	struct qadmin_conn *qc = arg;

	(void)c;
	qadmin_conn_close(qc);
}

static int
qadmin_msg_cb(struct ipc_conn *c, const struct ipc_hdr *hdr,
    struct span payload, int fd, void *arg)
{
	struct qadmin_conn *qc = arg;
	struct queue_sched *qs = qc->qa->qs;
	struct ipc_reader r;
	struct ipc_msg reply;
	struct buf out;
	char id[QUEUE_ID_LEN + 1] = "";
	struct span ids = { NULL, 0 };
	int rc;

	if (fd >= 0)
		close(fd);
	ipc_reader_init(&r, payload);
	buf_init(&out, 1024, IPC_MAX_PAYLOAD - 64);
	if (hdr->type != IPC_QADMIN_LIST &&
	    (ipc_get_str(&r, &ids, QUEUE_ID_LEN) < 0 || ipc_get_end(&r) < 0 ||
	    (ids.n > 0 && !queue_spool_id_valid(ids)) ||
	    (ids.n == 0 && hdr->type != IPC_QADMIN_FLUSH))) {
		note(&out, "not a queue id (16 hex digits)\n");
		rc = -1;
		goto reply;
	}
	if (ids.n > 0)
		memcpy(id, ids.p, ids.n);
	id[ids.n] = '\0';
	switch (hdr->type) {
	case IPC_QADMIN_LIST:
		rc = ipc_get_end(&r) < 0 ? -1 : queue_sched_list(qs, &out);
		break;
	case IPC_QADMIN_SHOW:
		rc = queue_sched_show(qs, id, &out);
		break;
	case IPC_QADMIN_FLUSH:
		rc = queue_sched_flush(qs, ids.n ? id : NULL, &out);
		break;
	case IPC_QADMIN_DELETE:
		rc = queue_sched_delete(qs, id, &out);
		break;
	case IPC_QADMIN_HOLD:
	case IPC_QADMIN_RELEASE:
		rc = queue_sched_hold(qs, id, hdr->type == IPC_QADMIN_HOLD,
		    &out);
		break;
	default:
		note(&out, "unknown request\n");
		rc = -1;
		break;
	}
reply:
	ipc_msg_init(&reply, rc == 0 ? IPC_QADMIN_OK : IPC_QADMIN_ERR,
	    hdr->reqid);
	if (ipc_put_str(&reply, buf_view(&out)) < 0 ||
	    ipc_msg_finish(&reply) < 0 || ipc_conn_send(c, &reply) < 0) {
		ipc_msg_fini(&reply);
		buf_fini(&out);
		qadmin_conn_close(qc);
		return -1;
	}
	ipc_msg_fini(&reply);
	buf_fini(&out);
	return 0;
}

static void
qadmin_accept(void *arg, int fd, uid_t uid)
{
	struct queue_admin *qa = arg;
	size_t i;

	for (i = 0; i < QADMIN_CONNS; i++)
		if (qa->conns[i].c == NULL)
			break;
	if (i == QADMIN_CONNS) {
		log_warn("event=admin-refused uid=%u reason=\"busy\"",
		    (unsigned)uid);
		close(fd);
		return;
	}
	qa->conns[i].qa = qa;
	qa->conns[i].c = ipc_conn_new(qa->loop, fd, 4096, qadmin_msg_cb,
	    qadmin_close_cb, &qa->conns[i]);
}

struct queue_admin *
queue_admin_new(struct ev_loop *loop, int spool_fd, struct queue_sched *qs,
    const char **why)
{
	struct queue_admin *qa;
	struct sockaddr_un sun;
	struct peer_set peers;
	int fd, cwd;

	if (mkdirat(spool_fd, QADMIN_HOLD, 0700) < 0 && errno != EEXIST) {
		*why = "cannot make spool/hold";
		return NULL;
	}
	/* SECURITY: only root and the queue user may connect: the socket
	 * is 0600 in the 0700 spool/, and SO_PEERCRED says the same. */
	if (peer_parse(NULL, getuid(), &peers, why) < 0)
		return NULL;
	/* bind by a relative name from spool/ (queued may be chrooted) */
	if ((cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchdir(spool_fd) < 0) {
		if (cwd >= 0)
			close(cwd);
		*why = "cannot enter spool/";
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, QADMIN_SOCK, sizeof(QADMIN_SOCK));
	(void)unlink(QADMIN_SOCK);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(QADMIN_SOCK, 0600) < 0 || listen(fd, 16) < 0) {
		*why = "cannot listen on spool/" QADMIN_SOCK;
		if (fd >= 0)
			close(fd);
		if (fchdir(cwd) < 0)
			log_warn_errno("event=admin-chdir-back-failed");
		close(cwd);
		return NULL;
	}
	if (fchdir(cwd) < 0)
		log_warn_errno("event=admin-chdir-back-failed");
	close(cwd);
	qa = xcalloc(1, sizeof(*qa));
	qa->loop = loop;
	qa->qs = qs;
	peer_listener_init(&qa->listener);
	peer_listener_start(&qa->listener, loop, fd, &peers, qadmin_accept, qa);
	return qa;
}

void
queue_admin_free(struct queue_admin **qap)
{
	struct queue_admin *qa = *qap;
	size_t i;

	if (qa == NULL)
		return;
	peer_listener_stop(&qa->listener);
	for (i = 0; i < QADMIN_CONNS; i++)
		ipc_conn_free(&qa->conns[i].c);
	free(qa);
	*qap = NULL;
}
