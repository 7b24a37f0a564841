/* Who may connect to a served unix socket: the LB_PEERS uid list and the SO_PEERCRED check. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_PEER_H
#define LB_PEER_H

#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

/*
 * letterboxd passes a daemon that serves a unix socket the uids allowed to
 * connect to it in LB_PEERS ("0,1001,1002"), made from the table in
 * master/main.c (docs/master.md).  The socket itself is mode 0666: this
 * check is the access control.
 */

#define PEER_MAX 32

struct peer_set {
	uid_t uids[PEER_MAX];
	size_t n;
};

/*
 * peer_parse: "0,1001" -> *set_out.  s NULL or empty (started by hand):
 * root and self.  Decimal uids separated by single commas, at most
 * PEER_MAX of them.  Returns 0, or -1 with *why_out (a static string).
 */
int peer_parse(const char *s, uid_t self, struct peer_set *set_out,
    const char **why_out) __attribute__((warn_unused_result));

/* peer_allowed: 1 if uid is in set, else 0. */
int peer_allowed(const struct peer_set *set, uid_t uid);

/*
 * peer_check: SECURITY: 1 if the process at the other end of the
 * connected unix socket fd runs with a uid in set (SO_PEERCRED, the
 * credentials at connect time, which the peer cannot forge), else 0.
 * *uid_out is the peer's uid, or (uid_t)-1 if it could not be read.
 */
int peer_check(const struct peer_set *set, int fd, uid_t *uid_out);

/*
 * A listening unix socket on a libev loop that hands over only the
 * connections peer_check accepts; the others are closed and logged
 * (`event=peer-refused uid=N`).  fn gets a non-blocking, close-on-exec fd
 * it now owns and the peer's uid.
 */
typedef void peer_client_fn(void *arg, int fd, uid_t uid);

struct peer_listener {
	struct ev_loop *loop;
	ev_io w;
	int fd;			/* -1 when not listening */
	struct peer_set peers;
	peer_client_fn *fn;
	void *arg;
};

/* peer_listener_init: a listener that listens to nothing yet. */
void peer_listener_init(struct peer_listener *pl);
/* peer_listener_start: accept on fd (owned from now on). */
void peer_listener_start(struct peer_listener *pl, struct ev_loop *loop,
    int fd, const struct peer_set *peers, peer_client_fn *fn, void *arg);
/* peer_listener_stop: stop accepting and close the socket (graceful stop). */
void peer_listener_stop(struct peer_listener *pl);

#endif
