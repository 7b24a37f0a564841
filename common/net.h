/* Listening sockets, address parsing and a libev accept loop with limits. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_NET_H
#define LB_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

/* One socket address as bind(2)/connect(2) take it. */
struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Longest net_peer_str result, with its NUL ("ffff:...:255.255.255.255"). */
#define NET_PEER_STRLEN 46

/*
 * net_addr_parse: numeric "HOST:PORT" into addresses.  Pure: no I/O, no
 * DNS.  Accepts "192.0.2.1:25", "[2001:db8::1]:143", "*:25" (two results:
 * 0.0.0.0:25 and [::]:25, in that order).  Port 0-65535, decimal (0: the
 * kernel picks one at bind; tests use it, configs should not).  Writes
 * at most max results to out, *n_out gets their number.  0 on success;
 * -1 with *why when s is malformed, the host is not numeric (see
 * net_addr_resolve) or more than max results would be needed.
 */
int net_addr_parse(const char *s, struct net_addr *out, size_t max,
    size_t *n_out, const char **why) __attribute__((warn_unused_result));

/*
 * net_addr_resolve: like net_addr_parse, but a host name ("localhost:25")
 * is looked up with getaddrinfo(3) (blocking: startup only, never inside a
 * loop serving clients).  Numeric input gives the same as net_addr_parse.
 */
int net_addr_resolve(const char *s, struct net_addr *out, size_t max,
    size_t *n_out, const char **why) __attribute__((warn_unused_result));

/*
 * net_listen: resolve addr and bind one listening socket per result:
 * non-blocking, close-on-exec, SO_REUSEADDR, IPV6_V6ONLY on IPv6.  At most
 * max fds go to fds_out, their number to *n_out.  All or nothing: on
 * failure every socket made is closed, -1 with *why ("bind: Address
 * already in use"; static or per-thread storage).
 */
int net_listen(const char *addr, int *fds_out, size_t max, size_t *n_out,
    const char **why) __attribute__((warn_unused_result));

/*
 * net_peer_str: the printable IP of sa into out (NET_PEER_STRLEN bytes);
 * an IPv4-mapped IPv6 address prints as IPv4.  Returns out; "?" for an
 * unknown family.
 */
char *net_peer_str(const struct sockaddr *sa, char *out, size_t outsz);

/* net_local_port: the port a socket is bound to (0 if unknown). */
unsigned net_local_port(int fd);

/*
 * A server: accepts on a set of listening fds on a libev loop and enforces
 * a total and a per-address connection limit (per IPv4 address, per IPv6
 * /64).  It does not own the listening fds.
 */
struct net_server;

struct net_server_opts {
	unsigned max_connections;	/* total; 0 is taken as 1 */
	unsigned max_per_ip;		/* per address or /64; 0: no limit */
};

/*
 * Called with a freshly accepted fd (non-blocking, close-on-exec) that the
 * callee now owns, the peer address, and the tag of the listener.  An
 * accepted connection counts against the limits until
 * net_server_release(srv, peer).
 */
typedef void net_accept_fn(void *arg, int fd, const struct sockaddr *peer,
    socklen_t peer_len, uintptr_t tag);

/*
 * Called instead of net_accept_fn when a limit refuses a connection; why is
 * "too many connections" or "too many connections from your address".  The
 * callee owns fd (it may write a short reply, e.g. "421 ...", and must
 * close it).  The connection does not count.  When no refuse callback is
 * set, the server closes the fd itself.
 */
typedef void net_refuse_fn(void *arg, int fd, const struct sockaddr *peer,
    socklen_t peer_len, uintptr_t tag, const char *why);

struct net_server *net_server_new(struct ev_loop *loop,
    const struct net_server_opts *opts, net_accept_fn *on_accept,
    net_refuse_fn *on_refuse, void *arg);
/* net_server_add: accept on fd (a listening socket), tagging connections
 * with tag.  At most 64 listeners; -1 past that. */
int net_server_add(struct net_server *srv, int fd, uintptr_t tag)
    __attribute__((warn_unused_result));
/* net_server_release: a connection from peer has ended. */
void net_server_release(struct net_server *srv, const struct sockaddr *peer);
/* net_server_pause/resume: stop/start accepting (graceful stop). */
void net_server_pause(struct net_server *srv);
void net_server_resume(struct net_server *srv);
/* net_server_count: connections accepted and not yet released. */
unsigned net_server_count(const struct net_server *srv);
/* net_server_count_peer: the same for peer's address (or /64). */
unsigned net_server_count_peer(const struct net_server *srv,
    const struct sockaddr *peer);
/* net_server_free: stop watching (fds stay open); sets *srvp to NULL. */
void net_server_free(struct net_server **srvp);

#endif
