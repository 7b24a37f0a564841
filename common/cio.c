/* One non-blocking socket on the libev loop: capped input, queued output, TLS. */
/* SPDX-License-Identifier: ISC */
#include "common/cio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/log.h"
#include "common/xmem.h"
#include "common/zio.h"

#define CIO_READ_CHUNK 16384
#define CIO_MAX_ROUNDS 64	/* work per wake-up before yielding */

enum cio_tls_state {
	CIO_TLS_OFF = 0,
	CIO_TLS_FLUSH,		/* STARTTLS: plaintext reply still queued */
	CIO_TLS_HANDSHAKE,
	CIO_TLS_ON,
};

struct cio {
	struct ev_loop *loop;
	int fd;
	cio_fn *cb;
	void *arg;
	struct cio_opts o;

	struct buf in;
	size_t in_off;		/* bytes at the front already consumed */
	struct buf out;
	struct linebuf lb;

	int raw, paused, bp, eof, shutdown, dead, closed_sent;
	int stalled;		/* buffered input holds no complete item */
	int newdata;		/* raw: bytes not yet offered */
	int drain_notify;	/* output was queued since the last DRAINED */
	int rd_ready, wr_ready;
	int rd_wants_write, wr_wants_read, hs_want;
	int ssl_fatal;
	int depth, free_pending;
	int delivering;
	size_t cur_used;	/* line being delivered: its size */
	const char *why;
	char why_buf[160];

	enum cio_tls_state tls;
	SSL *ssl;

	struct zio *z;		/* cio_compress: between the protocol and TLS */
	struct buf zin;		/* read and not yet inflated */
	size_t zpending;	/* written since the last sync flush */

	ev_io rw, ww;
	ev_timer idle, deadline, hs, kick;
};

static void cio_step(struct cio *c);

static void
cio_destroy(struct cio *c)
{
	ev_io_stop(c->loop, &c->rw);
	ev_io_stop(c->loop, &c->ww);
	ev_timer_stop(c->loop, &c->idle);
	ev_timer_stop(c->loop, &c->deadline);
	ev_timer_stop(c->loop, &c->hs);
	ev_timer_stop(c->loop, &c->kick);
	SSL_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	buf_fini(&c->in);
	buf_fini(&c->out);
	buf_fini(&c->zin);
	zio_free(&c->z);
	free(c);
}

/* Something changed outside the loop's view: run a step soon. */
static void
cio_poke(struct cio *c)
{
	if (c->depth == 0 && !c->closed_sent && !ev_is_active(&c->kick)) {
		ev_timer_set(&c->kick, 0.0, 0.0);
		ev_timer_start(c->loop, &c->kick);
	}
}

static void
cio_die(struct cio *c, const char *why)
{
	if (!c->dead) {
		c->dead = 1;
		c->why = why;
	}
}

static void
cio_die_errno(struct cio *c, const char *what)
{
	snprintf(c->why_buf, sizeof(c->why_buf), "%s: %s", what,
	    strerror(errno));
	cio_die(c, c->why_buf);
}

static void
cio_die_ssl(struct cio *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[120] = "";

	c->ssl_fatal = 1;
	if (e != 0)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	else if (errno != 0)
		snprintf(ebuf, sizeof(ebuf), "%s", strerror(errno));
	else
		snprintf(ebuf, sizeof(ebuf), "unexpected EOF");
	ERR_clear_error();
	snprintf(c->why_buf, sizeof(c->why_buf), "%s: %s", what, ebuf);
	cio_die(c, c->why_buf);
}

/* Deliver one event; -1 if the owner freed c meanwhile. */
static int
cio_emit(struct cio *c, struct cio_ev *ev)
{
	c->depth++;
	c->cb(c, ev, c->arg);
	c->depth--;
	return c->free_pending ? -1 : 0;
}

static int
cio_io_open(const struct cio *c)
{
	return c->tls == CIO_TLS_OFF || c->tls == CIO_TLS_ON;
}

static int
cio_can_input(const struct cio *c)
{
	return !c->paused && !c->bp && !c->shutdown && !c->dead &&
	    cio_io_open(c);
}

static void
cio_check_bp(struct cio *c)
{
	if (c->out.len >= c->o.out_hiwat)
		c->bp = 1;
	else if (c->bp && c->out.len <= c->o.out_hiwat / 2)
		c->bp = 0;
}

static void
cio_progress(struct cio *c)
{
	if (c->o.idle_s > 0 && c->tls != CIO_TLS_HANDSHAKE)
		ev_timer_again(c->loop, &c->idle);
}

/* ---- reading and writing ---- */

/* 1 progress, 0 none (would block or no room). */
static int
cio_read(struct cio *c)
{
	struct buf *dst = c->z != NULL ? &c->zin : &c->in;
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (c->in_off > 0) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
	room = dst->max - dst->len;
	if (room == 0)
		return 0;
	if (room > CIO_READ_CHUNK)
		room = CIO_READ_CHUNK;
	p = buf_reserve(dst, room);
	BUG_ON(p == NULL);
	if (c->ssl == NULL) {
		n = read(c->fd, p, room);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->rd_ready = 0;
				return 0;
			}
			if (errno == EINTR)
				return 1;
			cio_die_errno(c, "read");
			return 0;
		}
	} else {
		int r, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, p, (int)room);
		n = r;
		if (r <= 0) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ) {
				c->rd_ready = 0;
				return 0;
			}
			if (err == SSL_ERROR_WANT_WRITE) {
				c->rd_ready = 0;
				c->rd_wants_write = 1;
				return 0;
			}
			if (err != SSL_ERROR_ZERO_RETURN) {
				cio_die_ssl(c, "TLS read");
				return 0;
			}
			n = 0;
		}
	}
	if (n == 0) {
		c->eof = 1;
		return 1;
	}
	buf_commit(dst, (size_t)n);
	if (c->z == NULL) {
		c->stalled = 0;
		c->newdata = 1;
	}
	cio_progress(c);
	return 1;
}

/* COMPRESS: inflate what was read into the room the input buffer has:
 * however much it would expand to, in_max caps what is held.  1 progress,
 * 0 none. */
static int
cio_inflate(struct cio *c)
{
	size_t room, used, made;
	const char *why;
	uint8_t *p;

	if (c->in_off > 0) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
	room = c->o.in_max - c->in.len;
	p = buf_reserve(&c->in, room);
	BUG_ON(p == NULL);
	if (zio_inflate(c->z, buf_view(&c->zin), &used, p, room, &made,
	    &why) == -1) {
		snprintf(c->why_buf, sizeof(c->why_buf), "inflate: %s", why);
		cio_die(c, c->why_buf);
		return 0;
	}
	buf_consume(&c->zin, used);
	if (made == 0)
		return used > 0;
	buf_commit(&c->in, made);
	c->stalled = 0;
	c->newdata = 1;
	return 1;
}

/* 1 progress, 0 none. */
static int
cio_flush(struct cio *c)
{
	int progress = 0;

	while (c->out.len > 0 && c->wr_ready && !c->dead) {
		size_t want = c->out.len > INT_MAX ? INT_MAX : c->out.len;
		ssize_t n;

		if (c->tls != CIO_TLS_ON) {
			n = send(c->fd, c->out.data, want, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					c->wr_ready = 0;
				else if (errno != EINTR)
					cio_die_errno(c, "write");
				continue;
			}
		} else {
			int r, err;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, c->out.data, (int)want);
			if (r <= 0) {
				err = SSL_get_error(c->ssl, r);
				c->wr_ready = 0;
				if (err == SSL_ERROR_WANT_READ)
					c->wr_wants_read = 1;
				else if (err != SSL_ERROR_WANT_WRITE)
					cio_die_ssl(c, "TLS write");
				continue;
			}
			n = r;
		}
		buf_consume(&c->out, (size_t)n);
		progress = 1;
	}
	if (progress) {
		cio_check_bp(c);
		cio_progress(c);
	}
	return progress;
}

/* ---- TLS ---- */

static int cio_starttls_side(struct cio *c, SSL_CTX *ctx, int client,
    size_t *dropped_out);

static int
cio_tls_begin(struct cio *c, SSL_CTX *ctx, int client)
{
	if (c->tls != CIO_TLS_OFF || c->dead)
		return -1;
	if ((c->ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(c->ssl, c->fd)) {
		cio_die_ssl(c, "TLS setup");
		cio_poke(c);
		return -1;
	}
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (client)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	c->tls = CIO_TLS_FLUSH;
	return 0;
}

static void
cio_handshake_start(struct cio *c)
{
	c->tls = CIO_TLS_HANDSHAKE;
	c->rd_ready = c->wr_ready = 1;
	ev_timer_stop(c->loop, &c->idle);
	ev_timer_set(&c->hs, c->o.handshake_s, 0.0);
	ev_timer_start(c->loop, &c->hs);
}

/* 1 done, 0 in progress, -1 failed. */
static int
cio_handshake(struct cio *c)
{
	int r, err;

	ERR_clear_error();
	errno = 0;
	/* SSL_accept or SSL_connect, as set by cio_tls_begin */
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls = CIO_TLS_ON;
		c->hs_want = 0;
		c->rd_ready = c->wr_ready = 1;
		ev_timer_stop(c->loop, &c->hs);
		if (c->o.idle_s > 0) {
			c->idle.repeat = c->o.idle_s;
			ev_timer_again(c->loop, &c->idle);
		}
		return 1;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ) {
		c->hs_want = EV_READ;
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		c->hs_want = EV_WRITE;
		return 0;
	}
	cio_die_ssl(c, "TLS handshake failed");
	return -1;
}

/* ---- delivering input ---- */

/* 1 delivered or consumed something, 0 nothing to do, -1 c freed. */
static int
cio_deliver(struct cio *c)
{
	struct cio_ev ev;
	struct span v = span_make(c->in.data + c->in_off,
	    c->in.len - c->in_off);
	struct linebuf_line l;
	size_t used, left;
	enum parse_rc rc;

	memset(&ev, 0, sizeof(ev));
	if (c->raw) {
		if (!c->newdata || v.n == 0) {
			c->stalled = 1;
			return 0;
		}
		c->newdata = 0;
		ev.type = CIO_DATA;
		ev.data = v;
		if (cio_emit(c, &ev) == -1)
			return -1;
		left = c->in.len - c->in_off;
		used = ev.used < left ? ev.used : left;
		c->in_off += used;
		if (used > 0 && used < left)
			c->newdata = 1;	/* offer the rest once more */
		else if (used == 0 && left >= c->o.in_max)
			cio_die(c, "input buffer full");
		return 1;
	}
	rc = linebuf_feed(&c->lb, v, &used, &l);
	if (rc == PARSE_MORE) {
		c->in_off += used;
		c->stalled = 1;
		return used > 0;
	}
	ev.type = rc == PARSE_OK ? CIO_LINE : CIO_OVERLONG;
	ev.data = l.line;
	ev.flags = l.flags;
	ev.end = l.end;
	c->cur_used = used;
	c->delivering = 1;
	if (cio_emit(c, &ev) == -1)
		return -1;
	c->delivering = 0;
	/* cio_starttls may have cut the buffer down to this line */
	left = c->in.len - c->in_off;
	c->in_off += c->cur_used < left ? c->cur_used : left;
	return 1;
}

/* ---- the engine ---- */

static void
cio_update_watchers(struct cio *c)
{
	int want_r = 0, want_w = 0;

	if (!c->closed_sent) {
		if (c->tls == CIO_TLS_HANDSHAKE) {
			want_r = c->hs_want == EV_READ;
			want_w = c->hs_want == EV_WRITE;
		} else {
			want_r = (cio_can_input(c) && !c->eof) ||
			    c->wr_wants_read;
			want_w = (c->out.len > 0 && !c->wr_wants_read) ||
			    c->rd_wants_write;
		}
	}
	if (want_r && !ev_is_active(&c->rw))
		ev_io_start(c->loop, &c->rw);
	else if (!want_r && ev_is_active(&c->rw))
		ev_io_stop(c->loop, &c->rw);
	if (want_w && !ev_is_active(&c->ww))
		ev_io_start(c->loop, &c->ww);
	else if (!want_w && ev_is_active(&c->ww))
		ev_io_stop(c->loop, &c->ww);
}

/* Report CIO_CLOSED once and go quiet. */
static void
cio_emit_closed(struct cio *c)
{
	struct cio_ev ev;

	c->closed_sent = 1;
	ev_timer_stop(c->loop, &c->idle);
	ev_timer_stop(c->loop, &c->deadline);
	ev_timer_stop(c->loop, &c->hs);
	ev_timer_stop(c->loop, &c->kick);
	cio_update_watchers(c);
	memset(&ev, 0, sizeof(ev));
	ev.type = CIO_CLOSED;
	ev.why = c->why;
	(void)cio_emit(c, &ev);
}

/* The output side: TLS start, writes, DRAINED, shutdown.  -1 if freed. */
static int
cio_step_out(struct cio *c, int *progress)
{
	struct cio_ev ev;
	int r;

	if (c->tls == CIO_TLS_FLUSH && c->out.len == 0)
		cio_handshake_start(c);
	if (c->tls == CIO_TLS_HANDSHAKE) {
		if ((r = cio_handshake(c)) == 1) {
			memset(&ev, 0, sizeof(ev));
			ev.type = CIO_TLS_READY;
			if (cio_emit(c, &ev) == -1)
				return -1;
			*progress = 1;
		}
		if (r != 1)
			return 0;
	}
	if (c->zpending > 0 && !c->dead) {
		/* COMPRESS: the end of a batch: make it decodable now, so
		 * the peer never waits for more (RFC 4978 4) */
		c->zpending = 0;
		if (zio_deflate(c->z, span_make(NULL, 0), ZIO_SYNC,
		    &c->out) == -1)
			cio_die(c, "output full");
	}
	if (cio_flush(c))
		*progress = 1;
	if (c->out.len > 0)
		c->drain_notify = 1;
	else if (c->drain_notify && !c->dead) {
		c->drain_notify = 0;
		memset(&ev, 0, sizeof(ev));
		ev.type = CIO_DRAINED;
		if (cio_emit(c, &ev) == -1)
			return -1;
		*progress = 1;
	}
	if (c->shutdown && c->out.len == 0 && !c->dead) {
		if (c->tls == CIO_TLS_ON && !c->ssl_fatal) {
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);	/* best effort */
		}
		cio_die(c, "closed");
	}
	return 0;
}

static void
cio_step(struct cio *c)
{
	int round, progress = 1;

	for (round = 0; progress && round < CIO_MAX_ROUNDS; round++) {
		progress = 0;
		if (c->free_pending || c->closed_sent)
			return;
		if (c->dead) {
			cio_emit_closed(c);
			return;
		}
		if (cio_step_out(c, &progress) == -1)
			return;
		if (c->dead) {
			/* another round tells CIO_CLOSED (a failed TLS
			 * handshake dies here with nothing else to wake us) */
			progress = 1;
			continue;
		}
		if (cio_can_input(c)) {
			int r;

			if (c->z != NULL)
				progress |= cio_inflate(c);
			if ((r = cio_deliver(c)) == -1)
				return;
			progress |= r;
			cio_check_bp(c);
		}
		if (cio_can_input(c) && !c->eof &&
		    (c->rd_ready || (c->ssl && SSL_has_pending(c->ssl))))
			progress |= cio_read(c);
		if (c->eof && c->stalled && c->out.len == 0)
			cio_die(c, "peer closed");
		progress |= c->dead;
	}
	if (progress && !c->closed_sent && !ev_is_active(&c->kick)) {
		/* more to do: yield to other connections first */
		ev_timer_set(&c->kick, 0.0, 0.0);
		ev_timer_start(c->loop, &c->kick);
	}
}

/* Common tail of every entry from the loop. */
static void
cio_leave(struct cio *c)
{
	if (--c->depth > 0)
		return;
	if (c->free_pending) {
		cio_destroy(c);
		return;
	}
	cio_update_watchers(c);
}

static void
cio_rw_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cio *c = w->data;

	c->depth++;
	if (revents & EV_READ) {
		c->rd_ready = 1;
		if (c->wr_wants_read) {
			c->wr_wants_read = 0;
			c->wr_ready = 1;
		}
	}
	if (revents & EV_WRITE) {
		c->wr_ready = 1;
		if (c->rd_wants_write) {
			c->rd_wants_write = 0;
			c->rd_ready = 1;
		}
	}
	cio_step(c);
	cio_leave(c);
}

static void
cio_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cio *c = w->data;
	struct cio_ev ev;

	c->depth++;
	memset(&ev, 0, sizeof(ev));
	if (c->closed_sent) {
		/* nothing */
	} else if (w == &c->hs) {
		cio_die(c, "TLS handshake timeout");
	} else if (w == &c->idle || w == &c->deadline) {
		ev.type = CIO_TIMEOUT;
		ev.timeout = w == &c->idle ? CIO_TO_IDLE : CIO_TO_DEADLINE;
		if (w == &c->idle)
			ev_timer_stop(loop, w);	/* re-armed by progress */
		if (cio_emit(c, &ev) == -1) {
			cio_leave(c);
			return;
		}
	}
	cio_step(c);
	cio_leave(c);
}

/* ---- public ---- */

struct cio *
cio_new(struct ev_loop *loop, int fd, const struct cio_opts *opts,
    cio_fn *cb, void *arg)
{
	struct cio *c = xcalloc(1, sizeof(*c));
	int fl;

	c->loop = loop;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	c->o = *opts;
	if (c->o.line_max == 0)
		c->o.line_max = 998;
	if (c->o.in_max == 0)
		c->o.in_max = 65536;
	if (c->o.in_max < c->o.line_max + 2)
		c->o.in_max = c->o.line_max + 2;
	if (c->o.out_hiwat == 0)
		c->o.out_hiwat = 262144;
	if (c->o.out_max == 0)
		c->o.out_max = 16 << 20;
	if (c->o.out_max < c->o.out_hiwat)
		c->o.out_max = c->o.out_hiwat;
	if (c->o.handshake_s <= 0)
		c->o.handshake_s = 30.0;
	if ((fl = fcntl(fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	buf_init(&c->in, 512, c->o.in_max);
	buf_init(&c->out, 512, c->o.out_max);
	linebuf_init(&c->lb, c->o.line_max);
	c->rd_ready = c->wr_ready = 1;
	ev_io_init(&c->rw, cio_rw_cb, fd, EV_READ);
	ev_io_init(&c->ww, cio_rw_cb, fd, EV_WRITE);
	c->rw.data = c->ww.data = c;
	ev_init(&c->idle, cio_timer_cb);
	ev_init(&c->deadline, cio_timer_cb);
	ev_init(&c->hs, cio_timer_cb);
	ev_init(&c->kick, cio_timer_cb);
	c->idle.data = c->deadline.data = c->hs.data = c->kick.data = c;
	cio_set_idle(c, c->o.idle_s);
	cio_update_watchers(c);
	return c;
}

void
cio_free(struct cio **cp)
{
	struct cio *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->depth > 0) {
		c->free_pending = 1;	/* cio_leave frees it */
		return;
	}
	cio_destroy(c);
}

void
cio_set_raw(struct cio *c, int raw)
{
	c->raw = raw != 0;
	linebuf_reset(&c->lb);
	c->newdata = c->in.len > c->in_off;
	c->stalled = 0;
	cio_poke(c);
}

int
cio_set_line_max(struct cio *c, size_t max)
{
	if (max > c->o.in_max - 2)
		return -1;
	c->o.line_max = max;
	c->lb.max = max;
	return 0;
}

void
cio_pause(struct cio *c)
{
	c->paused = 1;
	cio_poke(c);
}

void
cio_resume(struct cio *c)
{
	c->paused = 0;
	c->stalled = 0;
	if (c->raw)
		c->newdata = c->in.len > c->in_off;
	cio_progress(c);
	cio_poke(c);
}

void
cio_set_idle(struct cio *c, double secs)
{
	c->o.idle_s = secs;
	ev_timer_stop(c->loop, &c->idle);
	if (secs > 0 && c->tls != CIO_TLS_HANDSHAKE && !c->closed_sent) {
		c->idle.repeat = secs;
		ev_timer_again(c->loop, &c->idle);
	}
}

void
cio_set_deadline(struct cio *c, double secs)
{
	ev_timer_stop(c->loop, &c->deadline);
	if (secs > 0 && !c->closed_sent) {
		ev_timer_set(&c->deadline, secs, 0.0);
		ev_timer_start(c->loop, &c->deadline);
	}
}

int
cio_write(struct cio *c, const void *p, size_t n)
{
	if (c->dead || c->closed_sent || c->shutdown)
		return -1;
	if (c->z != NULL) {
		if (zio_deflate_bound(c->z, n) > c->o.out_max - c->out.len)
			return -1;
		if (zio_deflate(c->z, span_make(p, n), ZIO_NONE,
		    &c->out) == -1) {
			cio_die(c, "output full");	/* stream broken */
			return -1;
		}
		c->zpending += n;
	} else if (buf_add(&c->out, p, n) == -1)
		return -1;
	if (n > 0)
		c->drain_notify = 1;
	cio_check_bp(c);
	cio_poke(c);
	return 0;
}

int
cio_printf(struct cio *c, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return cio_write(c, small, (size_t)n);
	big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = cio_write(c, big, (size_t)n);
	free(big);
	return rc;
}

size_t
cio_out_pending(const struct cio *c)
{
	return c->out.len + c->zpending;
}

void
cio_shutdown(struct cio *c)
{
	c->shutdown = 1;
	cio_poke(c);
}

void
cio_abort(struct cio *c, const char *why)
{
	cio_die(c, why);
	buf_reset(&c->out);
	cio_poke(c);
}

int
cio_tls_accept(struct cio *c, SSL_CTX *ctx)
{
	if (cio_tls_begin(c, ctx, 0) == -1)
		return -1;
	/* nothing was read yet; if it was, it was not TLS */
	buf_reset(&c->in);
	c->in_off = 0;
	/* straight to the handshake: queued output must wait for TLS */
	cio_handshake_start(c);
	cio_poke(c);
	return 0;
}

int
cio_starttls(struct cio *c, SSL_CTX *ctx, size_t *dropped_out)
{
	return cio_starttls_side(c, ctx, 0, dropped_out);
}

int
cio_starttls_client(struct cio *c, SSL_CTX *ctx, size_t *dropped_out)
{
	return cio_starttls_side(c, ctx, 1, dropped_out);
}

SSL *
cio_ssl(struct cio *c)
{
	return c->ssl;
}

static int
cio_starttls_side(struct cio *c, SSL_CTX *ctx, int client,
    size_t *dropped_out)
{
	size_t keep, dropped;

	*dropped_out = 0;
	if (c->tls != CIO_TLS_OFF)
		return -1;
	/* SECURITY: drop everything after the STARTTLS line (injection) */
	keep = c->in_off + (c->delivering && !c->raw ? c->cur_used : 0);
	if (keep > c->in.len)
		keep = c->in.len;
	dropped = c->in.len - keep;
	c->in.len = keep;
	c->in.data[keep] = '\0';
	linebuf_reset(&c->lb);
	c->newdata = 0;
	if (cio_tls_begin(c, ctx, client) == -1)
		return -1;
	*dropped_out = dropped;
	cio_poke(c);
	return 0;
}

int
cio_tls_active(const struct cio *c)
{
	return c->tls == CIO_TLS_ON;
}

const char *
cio_tls_version(const struct cio *c)
{
	return c->tls == CIO_TLS_ON ? SSL_get_version(c->ssl) : NULL;
}

const char *
cio_tls_cipher(const struct cio *c)
{
	return c->tls == CIO_TLS_ON ? SSL_get_cipher_name(c->ssl) : NULL;
}

int
cio_compress(struct cio *c, size_t pending)
{
	size_t unread = c->in.len - c->in_off, keep;

	if (c->z != NULL || c->dead || c->closed_sent ||
	    (c->tls != CIO_TLS_OFF && c->tls != CIO_TLS_ON))
		return -1;
	if (!c->raw) {
		size_t cur = c->delivering ? c->cur_used : 0;

		pending = unread - (cur < unread ? cur : unread);
	}
	if (pending > unread)
		pending = unread;
	/* what followed the command was sent after it: compressed */
	keep = c->in.len - pending;
	c->z = zio_new();
	buf_init(&c->zin, 512, c->o.in_max);
	BUG_ON(buf_add(&c->zin, c->in.data + keep, pending) != 0);
	c->in.len = keep;
	c->in.data[keep] = '\0';
	cio_poke(c);
	return 0;
}

int
cio_compress_active(const struct cio *c)
{
	return c->z != NULL;
}

void
cio_trim(struct cio *c)
{
	/* a line being delivered points into in: leave it where it is */
	if (!c->delivering) {
		if (c->in_off > 0) {
			buf_consume(&c->in, c->in_off);
			c->in_off = 0;
		}
		buf_shrink(&c->in, 0);
	}
	buf_shrink(&c->out, 0);
	if (c->z != NULL) {
		buf_shrink(&c->zin, 0);
		zio_trim(c->z);
	}
}
