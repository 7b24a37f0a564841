/* queued's LMTP client: LHLO, MAIL, RCPT..., DATA streamed with dot-stuffing, one reply per recipient. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_lmtp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ev.h>

#include "common/cio.h"
#include "common/log.h"
#include "common/xmem.h"

#define QUEUE_LMTP_CHUNK (64u * 1024u)
#define QUEUE_LMTP_OUT_LOW (256u * 1024u)

/* ---- dot-stuffing ---- */

void
queue_dot_init(struct queue_dot *d)
{
	d->bol = 1;
	d->cr = 0;
}

int
queue_dot_add(struct queue_dot *d, struct span in, struct buf *out)
{
	size_t i, start = 0;

	for (i = 0; i < in.n; i++) {
		if (d->bol && in.p[i] == '.') {
			/* flush up to here, then the extra dot */
			if (buf_add(out, in.p + start, i - start) < 0 ||
			    buf_add(out, ".", 1) < 0)
				return -1;
			start = i;
		}
		d->bol = in.p[i] == '\n';
		d->cr = in.p[i] == '\r';
	}
	return buf_add(out, in.p + start, in.n - start);
}

int
queue_dot_end(struct queue_dot *d, struct buf *out)
{
	if (!d->bol) {
		/* a message that does not end in CRLF gets one: the
		 * terminating dot must stand on a line of its own */
		if (d->cr ? buf_add(out, "\n", 1) < 0 :
		    buf_add(out, "\r\n", 2) < 0)
			return -1;
	}
	d->bol = 1;
	d->cr = 0;
	return buf_add(out, ".\r\n", 3);
}

/* ---- the session ---- */

enum queue_lmtp_st {
	QL_GREETING, QL_LHLO, QL_MAIL, QL_RCPT, QL_DATA, QL_BODY,
	QL_REPLIES, QL_QUIT, QL_DONE,
};

struct queue_lmtp {
	struct queue_lmtp *next, *prev;	/* in set */
	struct queue_lmtp_set *set;
	int reported;			/* done() ran */
	struct ev_loop *loop;
	struct queue_lmtp_txn *txn;	/* NULL once reported */
	struct queue_lmtp_txn *txn_saved;
	queue_lmtp_done_fn *done;
	void *arg;
	struct cio *io;
	struct lmtp_reply_parser ps;
	enum queue_lmtp_st st;
	size_t rcpt_i;			/* RCPT being answered */
	size_t accepted;		/* RCPTs that got 2xx */
	size_t answered;		/* post-DATA replies seen */
	int *ok;			/* per rcpt: RCPT accepted */
	uint64_t pos;			/* next byte of the message to send */
	struct queue_dot dot;
	struct buf chunk;
	ev_timer later;			/* to report a failed connect */
};

static void
queue_lmtp_fake(struct lmtp_reply *r, int code, const char *enh,
    const char *text)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", text);
	r->lines = 1;
}

/* Every recipient still without an answer gets this one. */
static void
queue_lmtp_fail_rest(struct queue_lmtp *l, const struct lmtp_reply *r)
{
	struct queue_lmtp_txn *t = l->txn;
	size_t i;

	for (i = 0; i < t->n_rcpts; i++)
		if (t->replies[i].code == 0)
			t->replies[i] = *r;
}

static void
queue_lmtp_free(struct queue_lmtp *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		l->set->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	cio_free(&l->io);
	ev_timer_stop(l->loop, &l->later);
	buf_fini(&l->chunk);
	free(l->ok);
	free(l);
}

/* Every recipient has its answer (made up from why if need be): tell
 * the owner, once.  txn is the owner's again after this. */
static void
queue_lmtp_report(struct queue_lmtp *l, const char *why)
{
	struct lmtp_reply r;

	if (l->reported)
		return;
	queue_lmtp_fake(&r, 421, "4.4.2", why != NULL ? why :
	    "lmtp: no reply");
	queue_lmtp_fail_rest(l, &r);
	l->reported = 1;
	l->txn = NULL;
	l->done(l->arg, l->txn_saved);
}

/* The end, one way or the other: report if not yet, free. */
static void
queue_lmtp_finish(struct queue_lmtp *l, const char *why)
{
	queue_lmtp_report(l, why);
	l->st = QL_DONE;
	queue_lmtp_free(l);
}

/* After the last answer: say QUIT and let the owner know now. */
static int
queue_lmtp_quit(struct queue_lmtp *l)
{
	l->st = QL_QUIT;
	if (cio_printf(l->io, "QUIT\r\n") < 0)
		return -1;
	queue_lmtp_report(l, NULL);
	return 0;
}


static int
queue_lmtp_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static int
queue_lmtp_mail(struct queue_lmtp *l)
{
	struct queue_lmtp_txn *t = l->txn;
	char params[64];
	size_t i;
	int utf8 = t->smtputf8 || queue_lmtp_8bit(t->from);

	for (i = 0; i < t->n_rcpts; i++)
		utf8 |= queue_lmtp_8bit(t->rcpts[i]);
	snprintf(params, sizeof(params), "%s%s",
	    t->body_8bit ? " BODY=8BITMIME" : "", utf8 ? " SMTPUTF8" : "");
	return cio_printf(l->io, "MAIL FROM:<%s>%s\r\n", t->from, params);
}

/* Queue more of the message while little is waiting to go out. */
static int
queue_lmtp_pump(struct queue_lmtp *l)
{
	struct queue_lmtp_txn *t = l->txn;
	size_t want;
	ssize_t n;
	uint8_t *p;

	while (cio_out_pending(l->io) < QUEUE_LMTP_OUT_LOW) {
		if (l->pos >= t->end) {
			buf_reset(&l->chunk);
			if (queue_dot_end(&l->dot, &l->chunk) < 0 ||
			    cio_write(l->io, l->chunk.data, l->chunk.len) < 0)
				return -1;
			t->data_sent = 1;
			l->st = QL_REPLIES;
			return 0;
		}
		want = t->end - l->pos > QUEUE_LMTP_CHUNK ? QUEUE_LMTP_CHUNK :
		    (size_t)(t->end - l->pos);
		buf_reset(&l->chunk);
		/* the raw bytes go to the end of chunk's room, stuffed below */
		p = xmalloc(want);
		/* the spool file was just read for its envelope: page cache */
		do
			n = pread(t->fd, p, want, (off_t)l->pos);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			free(p);
			return -1;
		}
		l->pos += (uint64_t)n;
		if (queue_dot_add(&l->dot, span_make(p, (size_t)n),
		    &l->chunk) < 0) {
			free(p);
			return -1;
		}
		free(p);
		if (cio_write(l->io, l->chunk.data, l->chunk.len) < 0)
			return -1;
	}
	return 0;
}

/* The next RCPT, or DATA when every one was sent.  -1: give up. */
static int
queue_lmtp_next_rcpt(struct queue_lmtp *l)
{
	struct queue_lmtp_txn *t = l->txn;

	if (l->rcpt_i < t->n_rcpts) {
		l->st = QL_RCPT;
		return cio_printf(l->io, "RCPT TO:<%s>\r\n",
		    t->rcpts[l->rcpt_i]);
	}
	if (l->accepted == 0)
		return queue_lmtp_quit(l);
	l->st = QL_DATA;
	return cio_printf(l->io, "DATA\r\n");
}

/* One whole reply in the current state.  -1 ends the session. */
static int
queue_lmtp_reply(struct queue_lmtp *l, const struct lmtp_reply *r)
{
	struct queue_lmtp_txn *t = l->txn;
	size_t i;

	switch (l->st) {
	case QL_GREETING:
		if (r->code != 220)
			break;
		l->st = QL_LHLO;
		return cio_printf(l->io, "LHLO %s\r\n", t->helo);
	case QL_LHLO:
		if (r->code != 250)
			break;
		l->st = QL_MAIL;
		return queue_lmtp_mail(l);
	case QL_MAIL:
		if (lmtp_reply_class(r) != 2) {
			queue_lmtp_fail_rest(l, r);
			return queue_lmtp_quit(l);
		}
		l->rcpt_i = 0;
		return queue_lmtp_next_rcpt(l);
	case QL_RCPT:
		if (lmtp_reply_class(r) == 2) {
			l->ok[l->rcpt_i] = 1;
			l->accepted++;
		} else {
			t->replies[l->rcpt_i] = *r;
		}
		l->rcpt_i++;
		return queue_lmtp_next_rcpt(l);
	case QL_DATA:
		if (r->code != 354) {
			queue_lmtp_fail_rest(l, r);
			return queue_lmtp_quit(l);
		}
		l->st = QL_BODY;
		l->pos = t->off;
		queue_dot_init(&l->dot);
		return queue_lmtp_pump(l);
	case QL_BODY:
		return -1;	/* nothing is due while we send */
	case QL_REPLIES:
		/* RFC 2033 4.2: one reply per accepted RCPT, in order */
		for (i = 0; i < t->n_rcpts; i++)
			if (l->ok[i] && t->replies[i].code == 0)
				break;
		BUG_ON(i == t->n_rcpts);
		t->replies[i] = *r;
		if (++l->answered < l->accepted)
			return 0;
		return queue_lmtp_quit(l);
	case QL_QUIT:
		queue_lmtp_finish(l, NULL);
		return 1;
	case QL_DONE:
		break;
	}
	return -1;
}

static void
queue_lmtp_io_cb(struct cio *c, struct cio_ev *ev, void *arg)
{
	struct queue_lmtp *l = arg;
	struct lmtp_reply r;
	size_t used;
	enum parse_rc rc;
	int x;

	switch (ev->type) {
	case CIO_DATA:
		ev->used = 0;
		for (;;) {
			rc = lmtp_reply_feed(&l->ps, span_make(ev->data.p +
			    ev->used, ev->data.n - ev->used), &used, &r);
			if (rc == PARSE_FATAL) {
				queue_lmtp_finish(l, "lmtp: malformed reply");
				return;
			}
			ev->used += used;
			if (rc == PARSE_MORE)
				return;
			if ((x = queue_lmtp_reply(l, &r)) == 1)
				return;		/* finished and freed */
			if (x < 0) {
				queue_lmtp_finish(l, "lmtp: unexpected reply");
				return;
			}
		}
	case CIO_DRAINED:
		if (l->st == QL_BODY && queue_lmtp_pump(l) < 0)
			queue_lmtp_finish(l, "lmtp: cannot send the message");
		return;
	case CIO_TIMEOUT:
		queue_lmtp_finish(l, "lmtp: timeout");
		return;
	case CIO_CLOSED:
		/* after QUIT was answered we are gone already; a close
		 * while waiting for QUIT's answer loses nothing */
		queue_lmtp_finish(l, l->st == QL_QUIT ? NULL :
		    "lmtp: connection lost");
		return;
	default:
		queue_lmtp_finish(l, "lmtp: unexpected event");
		return;
	}
}

static void
queue_lmtp_later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	queue_lmtp_finish(w->data, "lmtp: cannot connect to the MDA");
}

static int
queue_lmtp_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* a unix socket connects at once or not at all (EAGAIN: the
	 * backlog is full; that is a temporary failure like any other) */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct queue_lmtp *
queue_lmtp_start(struct ev_loop *loop, struct queue_lmtp_set *set,
    struct queue_lmtp_txn *txn, queue_lmtp_done_fn *done, void *arg)
{
	struct queue_lmtp *l = xcalloc(1, sizeof(*l));
	struct cio_opts o;
	int fd;

	l->set = set;
	l->next = set->head;
	if (set->head != NULL)
		set->head->prev = l;
	set->head = l;
	l->loop = loop;
	l->txn = l->txn_saved = txn;
	l->done = done;
	l->arg = arg;
	l->ok = xcalloc(txn->n_rcpts ? txn->n_rcpts : 1, sizeof(*l->ok));
	memset(txn->replies, 0, txn->n_rcpts * sizeof(*txn->replies));
	txn->data_sent = 0;
	lmtp_reply_init(&l->ps);
	/* a 64 KiB chunk can grow by half when every line starts with '.' */
	buf_init(&l->chunk, 4096, QUEUE_LMTP_CHUNK * 2 + 8);
	ev_timer_init(&l->later, queue_lmtp_later_cb, 0., 0.);
	l->later.data = l;
	if ((fd = queue_lmtp_connect(txn->sock_path)) < 0) {
		log_debug("event=lmtp-connect-failed path=%s errno=%d",
		    txn->sock_path, errno);
		ev_timer_start(loop, &l->later);
		return l;
	}
	memset(&o, 0, sizeof(o));
	o.idle_s = txn->timeout_s;
	o.in_max = 4 * LMTP_REPLY_LINE_MAX;
	o.line_max = LMTP_REPLY_LINE_MAX;
	l->io = cio_new(loop, fd, &o, queue_lmtp_io_cb, l);
	cio_set_raw(l->io, 1);
	l->st = QL_GREETING;
	return l;
}

void
queue_lmtp_cancel(struct queue_lmtp **lp)
{
	if (*lp == NULL)
		return;
	BUG_ON((*lp)->reported);
	queue_lmtp_free(*lp);
	*lp = NULL;
}

void
queue_lmtp_set_fini(struct queue_lmtp_set *set)
{
	while (set->head != NULL)
		queue_lmtp_free(set->head);
}
