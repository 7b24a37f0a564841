/* LB_PEERS parsing and the SO_PEERCRED uid check shared by every daemon that serves a socket. */
/* SPDX-License-Identifier: ISC */
#include "common/peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

int
peer_parse(const char *s, uid_t self, struct peer_set *set_out,
    const char **why_out)
{
	const char *p = s;

	memset(set_out, 0, sizeof(*set_out));
	if (s == NULL || *s == '\0') {
		set_out->uids[set_out->n++] = 0;
		if (self != 0)
			set_out->uids[set_out->n++] = self;
		return 0;
	}
	while (*p != '\0') {
		char *end;
		unsigned long v;

		/* strtoul would take "-1", " 1" and "+1"; we want digits */
		if (*p < '0' || *p > '9') {
			*why_out = "expected a numeric uid";
			return -1;
		}
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v > 0xfffffffeul) {
			*why_out = "uid out of range";
			return -1;
		}
		if (set_out->n == PEER_MAX) {
			*why_out = "too many uids";
			return -1;
		}
		set_out->uids[set_out->n++] = (uid_t)v;
		p = end;
		if (*p == ',' && p[1] != '\0')
			p++;
		else if (*p != '\0') {
			*why_out = "expected ',' between uids";
			return -1;
		}
	}
	return 0;
}

int
peer_allowed(const struct peer_set *set, uid_t uid)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->uids[i] == uid)
			return 1;
	return 0;
}

int
peer_check(const struct peer_set *set, int fd, uid_t *uid_out)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	*uid_out = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr))
		return 0;
	*uid_out = cr.uid;
	return peer_allowed(set, cr.uid);
}

void
peer_listener_init(struct peer_listener *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->fd = -1;
}

static void
peer_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer_listener *pl = w->data;
	uid_t uid;
	int fd;

	for (;;) {
		fd = accept4(pl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn_errno("event=accept-failed");
			return;
		}
		/* SECURITY: only the daemons letterboxd lets talk to us
		 * (and root) get further than this. */
		uid = (uid_t)-1;
		if (!peer_check(&pl->peers, fd, &uid)) {
			log_warn("event=peer-refused uid=%ld",
			    uid == (uid_t)-1 ? -1L : (long)uid);
			close(fd);
			continue;
		}
		pl->fn(pl->arg, fd, uid);
	}
}

void
peer_listener_start(struct peer_listener *pl, struct ev_loop *loop, int fd,
    const struct peer_set *peers, peer_client_fn *fn, void *arg)
{
	pl->loop = loop;
	pl->fd = fd;
	pl->peers = *peers;
	pl->fn = fn;
	pl->arg = arg;
	ev_io_init(&pl->w, peer_accept_cb, fd, EV_READ);
	pl->w.data = pl;
	ev_io_start(loop, &pl->w);
}

void
peer_listener_stop(struct peer_listener *pl)
{
	if (pl->fd < 0)
		return;
	ev_io_stop(pl->loop, &pl->w);
	close(pl->fd);
	pl->fd = -1;
}
