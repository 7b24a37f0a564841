/* Framed IPC messages: building, pure parsing, a libev connection, blocking calls. */
/* SPDX-License-Identifier: ISC */
#include "common/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <ev.h>

#include "common/log.h"
#include "common/xmem.h"

#define IPC_OUT_MAX (1024u * 1024u)
/* Reads per readable event before yielding to other watchers. */
#define IPC_READS_PER_EVENT 64
/* Room for a few fds, so that a peer sending too many is seen, not
 * silently truncated. */
#define IPC_CMSG_FDS 8

static void
le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

/* ---- building ---- */

void
ipc_msg_init(struct ipc_msg *m, uint32_t type, uint64_t reqid)
{
	uint8_t *h;

	buf_init(&m->b, 128, IPC_HDR_SIZE + IPC_MAX_PAYLOAD);
	h = buf_reserve(&m->b, IPC_HDR_SIZE);
	le32_put(h, type);
	le32_put(h + 4, 0);
	le64_put(h + 8, reqid);
	buf_commit(&m->b, IPC_HDR_SIZE);
	m->fd = -1;
}

void
ipc_msg_set_reqid(struct ipc_msg *m, uint64_t reqid)
{
	le64_put(m->b.data + 8, reqid);
}

void
ipc_msg_fini(struct ipc_msg *m)
{
	buf_fini(&m->b);
	m->fd = -1;
}

/* A poisoned message has max 0: every later add fails, and finish sees it. */
static int
ipc_msg_add(struct ipc_msg *m, const void *a, size_t an, const void *b,
    size_t bn)
{
	uint8_t *t;

	if (m->b.max == 0 || bn > IPC_MAX_PAYLOAD ||
	    (t = buf_reserve(&m->b, an + bn)) == NULL) {
		m->b.max = 0;
		return -1;
	}
	memcpy(t, a, an);
	if (bn)
		memcpy(t + an, b, bn);
	buf_commit(&m->b, an + bn);
	return 0;
}

int
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	uint8_t p[4];

	le32_put(p, v);
	return ipc_msg_add(m, p, sizeof(p), NULL, 0);
}

int
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	uint8_t p[8];

	le64_put(p, v);
	return ipc_msg_add(m, p, sizeof(p), NULL, 0);
}

int
ipc_put_str(struct ipc_msg *m, struct span s)
{
	uint8_t p[4];

	if (s.n > IPC_MAX_PAYLOAD) {
		m->b.max = 0;
		return -1;
	}
	le32_put(p, (uint32_t)s.n);
	return ipc_msg_add(m, p, sizeof(p), s.p, s.n);
}

int
ipc_put_cstr(struct ipc_msg *m, const char *s)
{
	return ipc_put_str(m, span_cstr(s));
}

int
ipc_msg_finish(struct ipc_msg *m)
{
	if (m->b.max == 0 || m->b.len < IPC_HDR_SIZE)
		return -1;
	le32_put(m->b.data + 4, (uint32_t)(m->b.len - IPC_HDR_SIZE));
	return 0;
}

/* ---- decoding ---- */

enum parse_rc
ipc_frame_parse(struct span in, size_t max_payload, size_t *used_out,
    struct ipc_hdr *hdr_out, struct span *payload_out)
{
	struct ipc_hdr h;

	if (in.n < IPC_HDR_SIZE)
		return PARSE_MORE;
	h.type = le32_get(in.p);
	h.len = le32_get(in.p + 4);
	h.reqid = le64_get(in.p + 8);
	/* SECURITY: h.len comes from the peer; it is checked against our own
	 * limit before anything is sized or waited for from it. */
	if (h.type == 0 || h.len > max_payload || h.len > IPC_MAX_PAYLOAD)
		return PARSE_FATAL;
	if (in.n - IPC_HDR_SIZE < h.len)
		return PARSE_MORE;
	*hdr_out = h;
	*payload_out = span_make(in.p + IPC_HDR_SIZE, h.len);
	*used_out = IPC_HDR_SIZE + (size_t)h.len;
	return PARSE_OK;
}

void
ipc_reader_init(struct ipc_reader *r, struct span payload)
{
	r->rest = payload;
	r->err = 0;
}

static const uint8_t *
ipc_take(struct ipc_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err || r->rest.n < n) {
		r->err = 1;
		return NULL;
	}
	p = r->rest.p;
	r->rest.p += n;
	r->rest.n -= n;
	return p;
}

int
ipc_get_u32(struct ipc_reader *r, uint32_t *out)
{
	const uint8_t *p = ipc_take(r, 4);

	if (p == NULL)
		return -1;
	*out = le32_get(p);
	return 0;
}

int
ipc_get_u64(struct ipc_reader *r, uint64_t *out)
{
	const uint8_t *p = ipc_take(r, 8);

	if (p == NULL)
		return -1;
	*out = le64_get(p);
	return 0;
}

int
ipc_get_str(struct ipc_reader *r, struct span *out, size_t max)
{
	uint32_t n;
	const uint8_t *p;

	if (ipc_get_u32(r, &n) < 0)
		return -1;
	/* SECURITY: n is the peer's; it is bounded by what is really left. */
	if (n > max) {
		r->err = 1;
		return -1;
	}
	if ((p = ipc_take(r, n)) == NULL)
		return -1;
	*out = span_make(p, n);
	return 0;
}

int
ipc_get_cstr(struct ipc_reader *r, char *out, size_t outsz)
{
	struct span s;

	if (outsz == 0) {
		r->err = 1;
		return -1;
	}
	if (ipc_get_str(r, &s, outsz - 1) < 0)
		return -1;
	if (span_has_nul(s)) {
		r->err = 1;
		return -1;
	}
	if (s.n)
		memcpy(out, s.p, s.n);
	out[s.n] = '\0';
	return 0;
}

int
ipc_get_end(struct ipc_reader *r)
{
	return r->err || r->rest.n != 0 ? -1 : 0;
}

/* ---- fd passing ---- */

/* Send n bytes; if fd >= 0 it rides on the first byte.  Returns bytes
 * sent or -1 (errno). */
static ssize_t
ipc_sendmsg(int sock, const uint8_t *p, size_t n, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { (void *)(uintptr_t)p, n };
	struct msghdr mh;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/*
 * Receive up to n bytes.  *fd_out is -1 or the one fd that came along.
 * Returns bytes read, 0 at EOF, -1 with errno, or -2 when the ancillary
 * data was bad (more than one fd, truncated): every fd received is
 * closed then.
 */
static ssize_t
ipc_recvmsg(int sock, uint8_t *p, size_t n, int *fd_out)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * IPC_CMSG_FDS)];
	} cm;
	struct iovec iov = { p, n };
	struct msghdr mh;
	struct cmsghdr *c;
	int nfds = 0, bad = 0, fd = -1;
	ssize_t r;

	*fd_out = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t i, k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				fd = got;
			else
				close(got);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		bad = 1;
	if (bad || nfds > 1) {
		if (fd >= 0)
			close(fd);
		return -2;
	}
	*fd_out = fd;
	return r;
}

/* ---- connection ---- */

struct ipc_out {
	struct ipc_out *next;
	size_t len, off;
	int fd;			/* dup'ed, closed once its first byte went */
	uint8_t data[];
};

struct ipc_conn {
	struct ev_loop *loop;
	ev_io rw, ww;
	int fd;
	size_t max_payload;
	struct buf in;		/* only ever the current frame */
	int in_fd;		/* fd that came with the current frame */
	struct ipc_out *out_head, *out_tail;
	size_t out_bytes;
	ipc_msg_fn on_msg;
	ipc_close_fn on_close;
	void *arg;
	int closed;
};

static void
ipc_conn_stop(struct ipc_conn *c)
{
	ev_io_stop(c->loop, &c->rw);
	ev_io_stop(c->loop, &c->ww);
}

/* The owner may free c inside on_close: touch nothing after the call. */
static void
ipc_conn_fail(struct ipc_conn *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = 1;
	ipc_conn_stop(c);
	if (why != NULL)
		log_warn("event=ipc-close fd=%d reason=\"%s\"", c->fd, why);
	c->on_close(c, c->arg);
}

/* Write queued frames; 0 ok (maybe more left), -1 on a socket error. */
static int
ipc_conn_flush(struct ipc_conn *c)
{
	while (c->out_head != NULL) {
		struct ipc_out *o = c->out_head;
		ssize_t r;

		r = ipc_sendmsg(c->fd, o->data + o->off, o->len - o->off,
		    o->off == 0 ? o->fd : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		if (o->fd >= 0 && r > 0) {
			close(o->fd);
			o->fd = -1;
		}
		o->off += (size_t)r;
		c->out_bytes -= (size_t)r;
		if (o->off < o->len)
			continue;
		c->out_head = o->next;
		if (c->out_head == NULL)
			c->out_tail = NULL;
		free(o);
	}
	if (c->out_head == NULL)
		ev_io_stop(c->loop, &c->ww);
	else
		ev_io_start(c->loop, &c->ww);
	return 0;
}

static void
ipc_conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;

	if (ipc_conn_flush(c) < 0)
		ipc_conn_fail(c, NULL);
}

/* How many bytes the current frame still needs; 0 if it is complete.
 * -1 if the header announces too much. */
static ssize_t
ipc_conn_need(struct ipc_conn *c, struct ipc_hdr *hdr, struct span *payload)
{
	size_t used, len;

	if (c->in.len < IPC_HDR_SIZE)
		return (ssize_t)(IPC_HDR_SIZE - c->in.len);
	switch (ipc_frame_parse(buf_view(&c->in), c->max_payload, &used, hdr,
	    payload)) {
	case PARSE_OK:
		return 0;
	case PARSE_MORE:
		len = le32_get(c->in.data + 4);
		return (ssize_t)(IPC_HDR_SIZE + len - c->in.len);
	default:
		return -1;
	}
}

/*
 * Reads never run past the end of the current frame, so an fd that
 * arrives belongs to the frame whose first byte this read starts at; one
 * arriving mid-frame, or a second one, means the peer does not follow
 * the protocol.
 */
static void
ipc_conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_conn *c = w->data;
	int i;

	for (i = 0; i < IPC_READS_PER_EVENT; i++) {
		struct ipc_hdr hdr;
		struct span payload;
		ssize_t need, r;
		uint8_t *t;
		int fd;

		need = ipc_conn_need(c, &hdr, &payload);
		if (need < 0) {
			ipc_conn_fail(c, "frame too long or of type 0");
			return;
		}
		if (need > 0) {
			t = buf_reserve(&c->in, (size_t)need);
			BUG_ON(t == NULL);
			r = ipc_recvmsg(c->fd, t, (size_t)need, &fd);
			if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR))
				return;
			if (r == -2) {
				ipc_conn_fail(c, "bad ancillary data");
				return;
			}
			if (r <= 0) {
				ipc_conn_fail(c, r == 0 ? NULL : "read error");
				return;
			}
			if (fd >= 0 && (c->in.len != 0 || c->in_fd >= 0)) {
				close(fd);
				ipc_conn_fail(c, "fd not on a frame's first byte");
				return;
			}
			if (fd >= 0)
				c->in_fd = fd;
			buf_commit(&c->in, (size_t)r);
			continue;
		}
		fd = c->in_fd;
		c->in_fd = -1;
		if (c->on_msg(c, &hdr, payload, fd, c->arg) < 0)
			return;		/* freed by the callback */
		buf_reset(&c->in);
		if (c->closed)
			return;
	}
}

struct ipc_conn *
ipc_conn_new(struct ev_loop *loop, int fd, size_t max_payload,
    ipc_msg_fn on_msg, ipc_close_fn on_close, void *arg)
{
	struct ipc_conn *c = xcalloc(1, sizeof(*c));
	int fl;

	if (max_payload > IPC_MAX_PAYLOAD)
		max_payload = IPC_MAX_PAYLOAD;
	if ((fl = fcntl(fd, F_GETFL)) >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	c->loop = loop;
	c->fd = fd;
	c->max_payload = max_payload;
	buf_init(&c->in, 256, IPC_HDR_SIZE + max_payload);
	c->in_fd = -1;
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->arg = arg;
	ev_io_init(&c->rw, ipc_conn_read_cb, fd, EV_READ);
	ev_io_init(&c->ww, ipc_conn_write_cb, fd, EV_WRITE);
	c->rw.data = c;
	c->ww.data = c;
	ev_io_start(loop, &c->rw);
	return c;
}

int
ipc_conn_send(struct ipc_conn *c, const struct ipc_msg *m)
{
	struct ipc_out *o;
	size_t n = m->b.len;

	if (c->closed || n < IPC_HDR_SIZE || c->out_bytes + n > IPC_OUT_MAX)
		return -1;
	o = xmalloc(sizeof(*o) + n);
	o->next = NULL;
	o->len = n;
	o->off = 0;
	o->fd = -1;
	if (m->fd >= 0 && (o->fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		log_warn_errno("event=ipc-send fd=%d dup failed", c->fd);
		free(o);
		return -1;
	}
	memcpy(o->data, m->b.data, n);
	if (c->out_tail != NULL)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += n;
	/* Write now if nothing is ahead of us; a socket error is reported
	 * from the write watcher, never from inside the caller. */
	if (c->out_head == o && ipc_conn_flush(c) < 0)
		ev_io_start(c->loop, &c->ww);
	return 0;
}

int
ipc_conn_fd(const struct ipc_conn *c)
{
	return c->fd;
}

void
ipc_conn_free(struct ipc_conn **cp)
{
	struct ipc_conn *c = *cp;
	struct ipc_out *o, *next;

	if (c == NULL)
		return;
	ipc_conn_stop(c);
	for (o = c->out_head; o != NULL; o = next) {
		next = o->next;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	if (c->in_fd >= 0)
		close(c->in_fd);
	buf_fini(&c->in);
	close(c->fd);
	free(c);
	*cp = NULL;
}

/* ---- blocking helpers ---- */

int
ipc_connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
ipc_send_blocking(int fd, const struct ipc_msg *m)
{
	size_t off = 0;

	if (m->b.len < IPC_HDR_SIZE ||
	    le32_get(m->b.data + 4) != m->b.len - IPC_HDR_SIZE) {
		errno = EINVAL;
		return -1;
	}
	while (off < m->b.len) {
		ssize_t r = ipc_sendmsg(fd, m->b.data + off, m->b.len - off,
		    off == 0 ? m->fd : -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}

static int64_t
ipc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes before the deadline; any fd sent along is
 * dropped by the kernel since we pass no control buffer. */
static int
ipc_read_full(int fd, uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - ipc_now_ms();
		ssize_t r;
		int pr;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pr = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -1;
		if (pr == 0)
			continue;	/* the deadline check above ends it */
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
ipc_call(int fd, const struct ipc_msg *m, int timeout_ms,
    struct ipc_hdr *hdr_out, struct buf *reply)
{
	int64_t deadline = ipc_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	uint8_t hb[IPC_HDR_SIZE];
	struct ipc_hdr h;
	uint8_t *t;

	if (ipc_send_blocking(fd, m) < 0)
		return -1;
	if (ipc_read_full(fd, hb, sizeof(hb), deadline) < 0)
		return -1;
	h.type = le32_get(hb);
	h.len = le32_get(hb + 4);
	h.reqid = le64_get(hb + 8);
	/* SECURITY: the length is the peer's; refuse it before reading. */
	if (h.type == 0 || h.len > IPC_MAX_PAYLOAD ||
	    h.reqid != le64_get(m->b.data + 8)) {
		errno = EPROTO;
		return -1;
	}
	buf_reset(reply);
	if ((t = buf_reserve(reply, h.len)) == NULL) {
		errno = EMSGSIZE;
		return -1;
	}
	if (ipc_read_full(fd, t, h.len, deadline) < 0)
		return -1;
	buf_commit(reply, h.len);
	*hdr_out = h;
	return 0;
}
