/* queued: the end of a delivery attempt: per-recipient records, DSNs, and removal from the queue. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_bounce.h"
#include "smtpd/queue_sched_priv.h"

#define QUEUE_REMOTE_WHY "remote delivery not available yet"

enum queue_outcome { QO_OK, QO_TEMP, QO_PERM };

struct queue_result {
	enum queue_outcome o;
	int code;
	char enh[16];
	char text[LMTP_REPLY_TEXT_MAX];
};

static void
queue_result_set(struct queue_result *r, enum queue_outcome o, int code,
    const char *enh, const char *text)
{
	r->o = o;
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

/* Combine the replies of a recipient's mailboxes: any 4xx -> try again,
 * else any 5xx -> failed, else delivered.  2xx mailboxes of a recipient
 * that is not done get a "target" record, so a retry skips them. */
static void
queue_result_local(struct queue_msg *m, struct queue_att *a,
    struct queue_result *res, struct buf *rec)
{
	const struct lmtp_reply *r, *temp = NULL, *perm = NULL, *ok = NULL;
	struct lmtp_reply none;
	size_t k;

	memset(&none, 0, sizeof(none));
	none.code = 421;
	snprintf(none.enh, sizeof(none.enh), "4.4.2");
	snprintf(none.text, sizeof(none.text), "lmtp: not attempted");
	for (k = 0; k < a->n_tix; k++) {
		r = m->replies != NULL && m->replies[a->tix[k]].code ?
		    &m->replies[a->tix[k]] : &none;
		if (lmtp_reply_class(r) == 4 && temp == NULL)
			temp = r;
		else if (lmtp_reply_class(r) == 5 && perm == NULL)
			perm = r;
		else if (lmtp_reply_class(r) == 2)
			ok = r;
	}
	r = temp != NULL ? temp : perm != NULL ? perm : ok;
	if (r == NULL) {	/* every mailbox was done before */
		queue_result_set(res, QO_OK, 250, "2.0.0", "");
		return;
	}
	queue_result_set(res, r == temp ? QO_TEMP : r == perm ? QO_PERM :
	    QO_OK, r->code, r->enh[0] ? r->enh : r == temp ? "4.0.0" :
	    r == perm ? "5.0.0" : "2.0.0", r->text);
	if (res->o == QO_OK)
		return;
	for (k = 0; k < a->n_tix; k++)
		if (m->replies != NULL &&
		    lmtp_reply_class(&m->replies[a->tix[k]]) == 2)
			queue_status_rec_target(&m->status, rec, a->idx,
			    m->mbox[a->tix[k]]);
}

static void
queue_result_of(struct queue_msg *m, struct queue_att *a,
    struct queue_result *res, struct buf *rec)
{
	if (a->kind == 0)
		queue_result_set(res, QO_TEMP, 0, "4.3.0", a->why);
	else if (a->kind == IPC_RESOLVE_UNKNOWN)
		queue_result_set(res, QO_PERM, 550, "5.1.1",
		    "no such user here");
	else if (a->kind == IPC_RESOLVE_REMOTE && !a->forward && a->rdone)
		queue_result_set(res, lmtp_reply_class(&a->rreply) == 2 ?
		    QO_OK : lmtp_reply_class(&a->rreply) == 5 ? QO_PERM :
		    QO_TEMP, a->rreply.code, a->rreply.enh[0] ?
		    a->rreply.enh : lmtp_reply_class(&a->rreply) == 2 ?
		    "2.0.0" : lmtp_reply_class(&a->rreply) == 5 ? "5.0.0" :
		    "4.0.0", a->rreply.text);
	else if (a->kind == IPC_RESOLVE_REMOTE || a->forward)
		/* XXX: the SMTP client is not written yet; nothing is lost
		 * and nothing bounces before the lifetime is over */
		queue_result_set(res, QO_TEMP, 0, "4.4.0", QUEUE_REMOTE_WHY);
	else if (a->kind != IPC_RESOLVE_LOCAL)
		queue_result_set(res, QO_TEMP, 0, "4.3.0",
		    "address lookup failed: unknown answer");
	else if (a->n_tix == 0 && m->status.rcpts[a->idx].done == NULL)
		queue_result_set(res, QO_PERM, 550, "5.1.1",
		    "no mailbox for this address");
	else
		queue_result_local(m, a, res, rec);
}

static void
queue_log_reason(const struct queue_result *r, char *out, size_t outsz)
{
	char esc[LMTP_REPLY_TEXT_MAX * 4 + 32], tmp[LMTP_REPLY_TEXT_MAX + 32];

	if (r->code)
		snprintf(tmp, sizeof(tmp), "%d %s %s", r->code, r->enh,
		    r->text);
	else
		snprintf(tmp, sizeof(tmp), "%s", r->text);
	log_escape(span_cstr(tmp), esc, sizeof(esc));
	snprintf(out, outsz, "%s", esc);
}

/* Apply one recipient's result: a record and a log line. */
static void
queue_apply(struct queue_msg *m, struct queue_att *a,
    struct queue_result *res, struct buf *rec, int64_t now)
{
	struct queue_sched *qs = m->qs;
	struct queue_rcpt_status *rs = &m->status.rcpts[a->idx];
	int64_t expiry = (m->env.arrival + (int64_t)qs->o.lifetime_s) * 1000,
	    until;
	char addr[1024], why[2200], text[QUEUE_STATUS_TEXT_MAX];

	log_escape(m->env.rcpts[a->idx].addr, addr, sizeof(addr));
	queue_log_reason(res, why, sizeof(why));
	if (res->o == QO_OK) {
		queue_status_rec_delivered(&m->status, rec, a->idx, res->enh,
		    !a->rdone ? QUEUE_VIA_LOCAL : a->rdsn ? QUEUE_VIA_PASSED :
		    QUEUE_VIA_RELAYED);
		log_info("id=%s event=delivered rcpt=<%s> relay=%s status=%s",
		    m->id, addr, a->rdone ? "smtp" : "lmtp", res->enh);
	} else if (res->o == QO_PERM) {
		queue_status_rec_failed(&m->status, rec, a->idx, res->code,
		    res->enh, res->text);
		log_notice("id=%s event=failed rcpt=<%s> status=%s "
		    "reason=\"%s\"", m->id, addr, res->enh, why);
	} else if (now >= expiry) {
		snprintf(text, sizeof(text), "delivery time expired (last "
		    "error: %.300s)", why);
		queue_status_rec_failed(&m->status, rec, a->idx, 0, "5.4.7",
		    text);
		log_notice("id=%s event=failed rcpt=<%s> status=5.4.7 "
		    "reason=\"%s\"", m->id, addr, text);
	} else {
		until = now + (int64_t)queue_sched_backoff_ms(
		    qs->o.retry_min_ms, qs->o.retry_max_ms, rs->attempts + 1);
		if (until > expiry)
			until = expiry;
		queue_status_rec_deferred(&m->status, rec, a->idx, until,
		    res->code, res->enh, res->text);
		log_info("id=%s event=deferred rcpt=<%s> status=%s "
		    "attempts=%u next=%.1f reason=\"%s\"", m->id, addr,
		    res->enh, rs->attempts, (double)(until - now) / 1000.,
		    why);
		if (strcmp(res->text, QUEUE_REMOTE_WHY) == 0 &&
		    rs->attempts == 1)
			log_notice("id=%s event=remote-held rcpt=<%s> "
			    "note=\"kept in the queue until remote delivery "
			    "exists or the lifetime ends\"", m->id, addr);
	}
}

/* The records could not be made durable: forget what we did in memory,
 * read the file again, and try the message later. */
static void
queue_commit_failed(struct queue_msg *m, const char *what)
{
	struct queue_sched *qs = m->qs;

	log_err_errno("id=%s event=status-write-failed step=%s", m->id, what);
	if (queue_msg_reload_status(m) < 0)
		log_err_errno("id=%s event=status-unreadable", m->id);
	m->st = QM_IDLE;
	if (qs->stopping)
		return;
	ev_timer_stop(qs->loop, &m->timer);
	ev_timer_set(&m->timer, qs->o.retry_min_ms / 1000., 0.);
	ev_timer_start(qs->loop, &m->timer);
}

static int queue_dsn_wanted(const struct queue_msg *m, size_t i,
    enum queue_dsn_action *act);

/*
 * The common case, every recipient delivered and no DSN asked for, with
 * nothing on disk yet in status/: removing queue/ID is the whole record.
 * A crash before the removal reaches the disk delivers again, as a crash
 * between the MDA's reply and a status write would.  The fsync of queue/
 * is shared by every removal of this loop turn.  1: removed and freed.
 */
static int
queue_done_quietly(struct queue_msg *m)
{
	enum queue_dsn_action act;
	size_t i;

	if (m->status.fd >= 0)
		return 0;
	for (i = 0; i < m->status.n; i++)
		if (!queue_status_final(&m->status.rcpts[i]) ||
		    queue_dsn_wanted(m, i, &act))
			return 0;
	if (queue_spool_unlink_queue(m->qs->sp, m->id) < 0 &&
	    errno != ENOENT)
		return 0;
	queue_sched_unlinked(m->qs);
	log_info("id=%s event=removed", m->id);
	queue_msg_free(m);
	return 1;
}

void
queue_deliver_results(struct queue_msg *m)
{
	struct queue_result res;
	struct buf rec;
	int64_t now = queue_now_ms();
	size_t i;

	buf_init(&rec, 1024, 64u * 1024u * 1024u);
	for (i = 0; i < m->n_att; i++) {
		queue_result_of(m, &m->att[i], &res, &rec);
		queue_apply(m, &m->att[i], &res, &rec, now);
	}
	queue_msg_attempt_fini(m);
	if (queue_done_quietly(m)) {
		buf_fini(&rec);
		return;
	}
	if (rec.len > 0 && queue_status_commit(&m->status, &rec) < 0) {
		buf_fini(&rec);
		queue_commit_failed(m, "results");
		return;
	}
	buf_fini(&rec);
	if (queue_deliver_report(m))
		return;
	queue_sched_arm(m);
}

/* ---- DSNs ---- */

static int
queue_dsn_wanted(const struct queue_msg *m, size_t i,
    enum queue_dsn_action *act)
{
	const struct queue_rcpt_status *r = &m->status.rcpts[i];
	unsigned notify = m->env.rcpts[i].notify;

	if (notify & ENV_NOTIFY_NEVER)
		return 0;
	if (r->state == QUEUE_RCPT_FAILED &&
	    (notify == 0 || (notify & ENV_NOTIFY_FAILURE))) {
		*act = QUEUE_DSN_FAILED;
		return 1;
	}
	if (r->state == QUEUE_RCPT_DELIVERED && (notify & ENV_NOTIFY_SUCCESS)) {
		/* RFC 3461 5.2.2 (b): "relayed" when the next hop does not
		 * take DSN requests; one that does got NOTIFY and answers
		 * for itself (5.2.1: we send none) */
		if (r->via == QUEUE_VIA_PASSED)
			return 0;
		*act = r->via == QUEUE_VIA_RELAYED ? QUEUE_DSN_RELAYED :
		    QUEUE_DSN_DELIVERED;
		return 1;
	}
	return 0;
}

/* The part of the original that goes back: headers, or all of it. */
static uint8_t *
queue_dsn_original(struct queue_msg *m, int *full, size_t *len_out)
{
	struct stat sb;
	uint8_t *p;
	size_t want;
	ssize_t n = 0, r;
	int fd;

	fd = openat(m->qs->sp->queue_fd, m->id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || (uint64_t)sb.st_size <
	    m->body_off) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	want = (size_t)sb.st_size - m->body_off;
	*full = m->env.ret == ENV_RET_FULL && want <= QUEUE_DSN_MAX_FULL;
	if (!*full && want > QUEUE_DSN_MAX_HEADERS)
		want = QUEUE_DSN_MAX_HEADERS;
	p = xmalloc(want ? want : 1);
	while ((size_t)n < want) {
		r = pread(fd, p + n, want - (size_t)n,
		    (off_t)(m->body_off + (size_t)n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	close(fd);
	*len_out = *full ? (size_t)n : queue_bounce_headers_len(
	    span_make(p, (size_t)n));
	return p;
}

/* Build and queue one DSN for the recipients in list.  0 or -1. */
static int
queue_dsn_send(struct queue_msg *m, struct queue_dsn_rcpt *list, size_t n)
{
	struct queue_dsn d;
	struct buf out;
	char id2[QUEUE_ID_LEN + 1], *to;
	uint8_t *orig;
	size_t olen = 0;
	int full = 0, rc;

	if ((orig = queue_dsn_original(m, &full, &olen)) == NULL)
		return -1;
	memset(&d, 0, sizeof(d));
	d.hostname = m->qs->o.hostname;
	d.env = &m->env;
	queue_spool_id_make(queue_now_ms() / 1000, id2);	/* for the text */
	d.bounce_id = id2;
	d.now = queue_now_ms() / 1000;
	d.rcpts = list;
	d.n = n;
	d.full = full;
	d.retry_until = m->env.arrival + (int64_t)m->qs->o.lifetime_s;
	buf_init(&out, 8192, QUEUE_DSN_MAX_FULL + 2u * 1024u * 1024u);
	rc = queue_bounce_build(&d, span_make(orig, olen), &out);
	free(orig);
	to = span_dup(m->env.from);
	if (rc == 0)
		rc = queue_bounce_enqueue(m->qs->sp, to,
		    m->env.body != ENV_BODY_7BIT, m->env.smtputf8,
		    buf_view(&out), d.now, id2);
	free(to);
	buf_fini(&out);
	if (rc < 0)
		return -1;
	log_info("id=%s event=bounce bounce_id=%s rcpts=%zu type=%s", m->id,
	    id2, n, list[0].action == QUEUE_DSN_FAILED ? "failure" :
	    list[0].action == QUEUE_DSN_DELAYED ? "delay" : "success");
	queue_sched_add(m->qs, id2);
	return 0;
}

static int
queue_remove(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;

	/* queue/ID first: a status file left alone is swept at start,
	 * while a message without its status would go out again */
	if (queue_spool_unlink_queue(qs->sp, m->id) < 0 && errno != ENOENT) {
		log_err_errno("id=%s event=remove-failed", m->id);
		return -1;
	}
	if (fsync(qs->sp->queue_fd) < 0)
		log_warn_errno("id=%s event=fsync-failed dir=queue", m->id);
	if (queue_status_remove(qs->status_fd, m->id) < 0)
		log_warn_errno("id=%s event=status-remove-failed", m->id);
	log_info("id=%s event=removed", m->id);
	return 0;
}

/*
 * RFC 3464 "delayed": one DSN per recipient still deferred once the
 * message is older than queued.delay_warning, if its NOTIFY allows it
 * (RFC 3461 4.1: DELAY given, or no NOTIFY at all), never to the null
 * sender.  The "warned" records keep it to one across restarts.  A
 * failure is logged and tried again at the next report.
 */
static void
queue_delay_warn(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	int64_t now = queue_now_ms() / 1000;
	struct queue_dsn_rcpt *list;
	struct buf rec;
	size_t i, n = 0, *idx;

	if (qs->o.delay_warning_s == 0 || m->env.from.n == 0 ||
	    now - m->env.arrival < (int64_t)qs->o.delay_warning_s)
		return;
	list = xcalloc(m->status.n, sizeof(*list));
	idx = xcalloc(m->status.n, sizeof(*idx));
	for (i = 0; i < m->status.n; i++) {
		const struct queue_rcpt_status *r = &m->status.rcpts[i];
		unsigned notify = m->env.rcpts[i].notify;

		if (r->state != QUEUE_RCPT_DEFERRED || r->warned ||
		    (notify != 0 && !(notify & ENV_NOTIFY_DELAY)))
			continue;
		list[n].addr = m->env.rcpts[i].addr;
		list[n].orcpt = m->env.rcpts[i].orcpt;
		list[n].action = QUEUE_DSN_DELAYED;
		list[n].code = r->code;
		list[n].enh = r->enh;
		list[n].text = r->text;
		list[n].lmtp = r->code != 0;
		idx[n++] = i;
	}
	if (n > 0 && queue_dsn_send(m, list, n) < 0) {
		log_err_errno("id=%s event=bounce-failed type=delay", m->id);
		n = 0;
	}
	if (n > 0) {
		buf_init(&rec, 256, 1024u * 1024u);
		for (i = 0; i < n; i++)
			queue_status_rec_warned(&m->status, &rec, idx[i]);
		/* lost: a second warning after a restart, nothing worse */
		if (queue_status_commit(&m->status, &rec) < 0)
			log_err_errno("id=%s event=status-write-failed "
			    "step=warned", m->id);
		buf_fini(&rec);
	}
	free(list);
	free(idx);
}

int
queue_deliver_report(struct queue_msg *m)
{
	struct queue_dsn_rcpt *list;
	enum queue_dsn_action act;
	struct buf rec;
	size_t i, n = 0, todo = 0, dropped = 0, done = 0;

	queue_delay_warn(m);
	list = xcalloc(m->status.n, sizeof(*list));
	for (i = 0; i < m->status.n; i++) {
		struct queue_rcpt_status *r = &m->status.rcpts[i];

		if (!queue_status_final(r))
			continue;
		done++;
		if (r->reported)
			continue;
		todo++;
		if (!queue_dsn_wanted(m, i, &act))
			continue;
		if (m->env.from.n == 0) {
			/* RFC 5321 6.1: never to the null sender */
			if (act == QUEUE_DSN_FAILED)
				dropped++;
			continue;
		}
		list[n].addr = m->env.rcpts[i].addr;
		list[n].orcpt = m->env.rcpts[i].orcpt;
		list[n].action = act;
		list[n].code = r->code;
		list[n].enh = r->enh;
		list[n].text = r->text;
		list[n].lmtp = r->code != 0;
		n++;
	}
	if (dropped)
		log_notice("id=%s event=bounce-dropped rcpts=%zu reason=\"null "
		    "sender\"", m->id, dropped);
	if (n > 0 && queue_dsn_send(m, list, n) < 0) {
		log_err_errno("id=%s event=bounce-failed", m->id);
		free(list);
		queue_commit_failed(m, "bounce");
		return 0;
	}
	free(list);
	if (todo > 0) {
		buf_init(&rec, 256, 64u * 1024u * 1024u);
		for (i = 0; i < m->status.n; i++)
			if (queue_status_final(&m->status.rcpts[i]) &&
			    !m->status.rcpts[i].reported)
				queue_status_rec_reported(&m->status, &rec, i);
		if (queue_status_commit(&m->status, &rec) < 0) {
			buf_fini(&rec);
			queue_commit_failed(m, "reported");
			return 0;
		}
		buf_fini(&rec);
	}
	if (done < m->status.n || queue_remove(m) < 0)
		return 0;
	queue_msg_free(m);
	return 1;
}
