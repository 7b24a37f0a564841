/* Listening sockets, address parsing and a libev accept loop with limits. */
/* SPDX-License-Identifier: ISC */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/xmem.h"

#define NET_MAX_LISTENERS 64
#define NET_ACCEPT_BURST 64

static __thread char net_why_buf[512];

/* Parse a decimal port 0-65535 (the whole string). */
static int
net_port_parse(const char *s, uint16_t *port_out)
{
	unsigned long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 5)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port_out = (uint16_t)v;
	return 0;
}

static void
net_addr_v4(struct net_addr *a, const struct in_addr *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	sin->sin_family = AF_INET;
	sin->sin_addr = *ip;
	sin->sin_port = htons(port);
	a->len = sizeof(*sin);
}

static void
net_addr_v6(struct net_addr *a, const struct in6_addr *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *ip;
	sin6->sin6_port = htons(port);
	a->len = sizeof(*sin6);
}

/*
 * Split s into host and port.  Returns 0 and fills host (NUL-terminated)
 * and *bracketed, or -1 with *why.
 */
static int
net_split(const char *s, char *host, size_t hostsz, uint16_t *port_out,
    int *bracketed, const char **why)
{
	const char *colon, *hs, *he;

	*bracketed = s[0] == '[';
	if (*bracketed) {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':') {
			*why = "address: expected [IPV6]:PORT";
			return -1;
		}
		colon = he + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			*why = "address: expected HOST:PORT";
			return -1;
		}
		hs = s;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)) != NULL) {
			*why = "address: IPv6 addresses need [brackets]";
			return -1;
		}
	}
	if (he == hs || (size_t)(he - hs) >= hostsz) {
		*why = "address: empty or overlong host";
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (net_port_parse(colon + 1, port_out) == -1) {
		*why = "address: port must be 0-65535";
		return -1;
	}
	return 0;
}

/* 0 parsed, -1 malformed, 1 well-formed but the host is a name. */
static int
net_addr_parse_numeric(const char *s, struct net_addr *out, size_t max,
    size_t *n_out, const char **why, char *host, size_t hostsz,
    uint16_t *port_out)
{
	struct in_addr v4;
	struct in6_addr v6;
	int br;

	*n_out = 0;
	if (net_split(s, host, hostsz, port_out, &br, why) == -1)
		return -1;
	if (!br && strcmp(host, "*") == 0) {
		if (max < 2) {
			*why = "address: too many addresses";
			return -1;
		}
		v4.s_addr = htonl(INADDR_ANY);
		net_addr_v4(&out[0], &v4, *port_out);
		net_addr_v6(&out[1], &in6addr_any, *port_out);
		*n_out = 2;
		return 0;
	}
	if (max < 1) {
		*why = "address: too many addresses";
		return -1;
	}
	if (br) {
		if (inet_pton(AF_INET6, host, &v6) != 1) {
			*why = "address: bad IPv6 address";
			return -1;
		}
		net_addr_v6(&out[0], &v6, *port_out);
	} else if (inet_pton(AF_INET, host, &v4) == 1) {
		net_addr_v4(&out[0], &v4, *port_out);
	} else {
		*why = "address: host is not numeric";
		return 1;
	}
	*n_out = 1;
	return 0;
}

int
net_addr_parse(const char *s, struct net_addr *out, size_t max,
    size_t *n_out, const char **why)
{
	char host[256];
	uint16_t port;

	return net_addr_parse_numeric(s, out, max, n_out, why, host,
	    sizeof(host), &port) == 0 ? 0 : -1;
}

int
net_addr_resolve(const char *s, struct net_addr *out, size_t max,
    size_t *n_out, const char **why)
{
	struct addrinfo hints, *res, *ai;
	char host[256];
	uint16_t port;
	int rc;

	rc = net_addr_parse_numeric(s, out, max, n_out, why, host,
	    sizeof(host), &port);
	if (rc != 1)
		return rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(net_why_buf, sizeof(net_why_buf), "address %s: %s",
		    host, gai_strerror(rc));
		*why = net_why_buf;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct net_addr a;
		size_t i;

		if (ai->ai_family == AF_INET)
			net_addr_v4(&a, &((struct sockaddr_in *)
			    ai->ai_addr)->sin_addr, port);
		else if (ai->ai_family == AF_INET6)
			net_addr_v6(&a, &((struct sockaddr_in6 *)
			    ai->ai_addr)->sin6_addr, port);
		else
			continue;
		for (i = 0; i < *n_out; i++)
			if (out[i].len == a.len &&
			    memcmp(&out[i].ss, &a.ss, a.len) == 0)
				break;
		if (i < *n_out)
			continue;
		if (*n_out == max) {
			freeaddrinfo(res);
			*why = "address: too many addresses";
			return -1;
		}
		out[(*n_out)++] = a;
	}
	freeaddrinfo(res);
	if (*n_out == 0) {
		*why = "address: no IPv4 or IPv6 address";
		return -1;
	}
	return 0;
}

static int
net_listen_one(const struct net_addr *a, const char **why)
{
	int fd, one = 1;
	const char *step = "socket";
	char ip[NET_PEER_STRLEN];

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	step = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	/* one socket per family: "*:25" binds both, which needs V6ONLY */
	if (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	step = "bind";
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		goto fail;
	step = "listen";
	if (listen(fd, SOMAXCONN) == -1)
		goto fail;
	return fd;
fail:
	snprintf(net_why_buf, sizeof(net_why_buf), "%s %s port %u: %s", step,
	    net_peer_str((const struct sockaddr *)&a->ss, ip, sizeof(ip)),
	    ntohs(((const struct sockaddr_in *)&a->ss)->sin_port),
	    strerror(errno));
	*why = net_why_buf;
	if (fd != -1)
		close(fd);
	return -1;
}

int
net_listen(const char *addr, int *fds_out, size_t max, size_t *n_out,
    const char **why)
{
	struct net_addr a[16];
	size_t n, i;

	*n_out = 0;
	if (net_addr_resolve(addr, a, sizeof(a) / sizeof(a[0]), &n,
	    why) == -1)
		return -1;
	if (n > max) {
		*why = "address: more sockets than room for them";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((fds_out[i] = net_listen_one(&a[i], why)) == -1) {
			while (i > 0)
				close(fds_out[--i]);
			return -1;
		}
	}
	*n_out = n;
	return 0;
}

char *
net_peer_str(const struct sockaddr *sa, char *out, size_t outsz)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->
		    sin_addr, out, (socklen_t)outsz) != NULL)
			return out;
	} else if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
			    out, (socklen_t)outsz) != NULL)
				return out;
		} else if (inet_ntop(AF_INET6, &sin6->sin6_addr, out,
		    (socklen_t)outsz) != NULL)
			return out;
	}
	snprintf(out, outsz, "?");
	return out;
}

unsigned
net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* ---- the server ---- */

/* One address (or IPv6 /64) and its connection count; count 0 = empty. */
struct net_ipslot {
	uint8_t key[16];
	uint32_t home;
	unsigned count;
};

struct net_listener {
	ev_io w;
	struct net_server *srv;
	uintptr_t tag;
};

struct net_server {
	struct ev_loop *loop;
	struct net_server_opts opts;
	net_accept_fn *on_accept;
	net_refuse_fn *on_refuse;
	void *arg;
	struct net_listener ls[NET_MAX_LISTENERS];
	size_t n_ls;
	int paused, backoff_on;
	ev_timer backoff;
	unsigned total;
	struct net_ipslot *tab;
	size_t mask;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
};

/* IPv4 and v4-mapped as ::ffff:a.b.c.d, IPv6 cut to its /64. */
static void
net_ipkey(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr))
			memcpy(key, a, 16);
		else
			memcpy(key, a, 8);
	}
}

/* SECURITY: a keyed hash, so clients cannot aim at one chain. */
static uint32_t
net_iphash(const struct net_server *srv, const uint8_t key[16])
{
	unsigned char h[crypto_shorthash_BYTES];

	crypto_shorthash(h, key, 16, srv->hkey);
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	    (uint32_t)h[3] << 24;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t
net_ipfind(const struct net_server *srv, const uint8_t key[16],
    uint32_t home)
{
	size_t i = home & srv->mask;

	while (srv->tab[i].count != 0 && memcmp(srv->tab[i].key, key, 16) != 0)
		i = (i + 1) & srv->mask;
	return i;
}

/* Empty slot i, shifting later members of its run back (no tombstones). */
static void
net_ipdel(struct net_server *srv, size_t i)
{
	size_t j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & srv->mask;
		if (srv->tab[j].count == 0)
			break;
		k = srv->tab[j].home & srv->mask;
		/* move j to i unless its home lies cyclically in (i, j] */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		srv->tab[i] = srv->tab[j];
		i = j;
	}
	srv->tab[i].count = 0;
}

static void
net_server_watch(struct net_server *srv, int on)
{
	size_t i;

	for (i = 0; i < srv->n_ls; i++) {
		if (on)
			ev_io_start(srv->loop, &srv->ls[i].w);
		else
			ev_io_stop(srv->loop, &srv->ls[i].w);
	}
}

static void
net_server_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_server *srv = w->data;

	srv->backoff_on = 0;
	if (!srv->paused)
		net_server_watch(srv, 1);
}

/* Refuse or count and hand over one accepted connection. */
static void
net_server_admit(struct net_server *srv, struct net_listener *l, int fd,
    const struct sockaddr *peer, socklen_t len)
{
	const char *why = NULL;
	uint8_t key[16];
	uint32_t home;
	size_t i;

	net_ipkey(peer, key);
	home = net_iphash(srv, key);
	i = net_ipfind(srv, key, home);
	if (srv->total >= srv->opts.max_connections)
		why = "too many connections";
	else if (srv->opts.max_per_ip != 0 &&
	    srv->tab[i].count >= srv->opts.max_per_ip)
		why = "too many connections from your address";
	if (why != NULL) {
		if (srv->on_refuse != NULL)
			srv->on_refuse(srv->arg, fd, peer, len, l->tag, why);
		else
			close(fd);
		return;
	}
	if (srv->tab[i].count == 0) {
		memcpy(srv->tab[i].key, key, 16);
		srv->tab[i].home = home;
	}
	srv->tab[i].count++;
	srv->total++;
	srv->on_accept(srv->arg, fd, peer, len, l->tag);
}

static void
net_server_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_listener *l = w->data;
	struct net_server *srv = l->srv;
	int n;

	for (n = 0; n < NET_ACCEPT_BURST && !srv->paused; n++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* out of fds or memory: stop for a second rather
			 * than spin on a readable listener */
			log_warn_errno("event=accept_fail backoff=1s");
			net_server_watch(srv, 0);
			if (!srv->backoff_on) {
				srv->backoff_on = 1;
				ev_timer_set(&srv->backoff, 1.0, 0.0);
				ev_timer_start(srv->loop, &srv->backoff);
			}
			return;
		}
		/* cio writes what a reply has at once; Nagle would only
		 * hold back the last piece of one sent in two (an untagged
		 * part, then the tagged line after a worker's fsync) until
		 * the client's delayed ACK, tens of milliseconds */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			int one = 1;

			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		}
		net_server_admit(srv, l, fd, (struct sockaddr *)&ss, len);
	}
}

struct net_server *
net_server_new(struct ev_loop *loop, const struct net_server_opts *opts,
    net_accept_fn *on_accept, net_refuse_fn *on_refuse, void *arg)
{
	struct net_server *srv = xcalloc(1, sizeof(*srv));
	size_t cap = 16;

	if (sodium_init() < 0)
		fatal("sodium_init failed");
	srv->loop = loop;
	srv->opts = *opts;
	if (srv->opts.max_connections == 0)
		srv->opts.max_connections = 1;
	srv->on_accept = on_accept;
	srv->on_refuse = on_refuse;
	srv->arg = arg;
	/* never more than max_connections entries: load stays <= 1/2 */
	while (cap < 2 * (size_t)srv->opts.max_connections)
		cap *= 2;
	srv->tab = xcalloc(cap, sizeof(*srv->tab));
	srv->mask = cap - 1;
	randombytes_buf(srv->hkey, sizeof(srv->hkey));
	ev_timer_init(&srv->backoff, net_server_backoff_cb, 1.0, 0.0);
	srv->backoff.data = srv;
	return srv;
}

int
net_server_add(struct net_server *srv, int fd, uintptr_t tag)
{
	struct net_listener *l;

	if (srv->n_ls == NET_MAX_LISTENERS)
		return -1;
	l = &srv->ls[srv->n_ls++];
	l->srv = srv;
	l->tag = tag;
	ev_io_init(&l->w, net_server_accept_cb, fd, EV_READ);
	l->w.data = l;
	if (!srv->paused && !srv->backoff_on)
		ev_io_start(srv->loop, &l->w);
	return 0;
}

void
net_server_release(struct net_server *srv, const struct sockaddr *peer)
{
	uint8_t key[16];
	size_t i;

	net_ipkey(peer, key);
	i = net_ipfind(srv, key, net_iphash(srv, key));
	BUG_ON(srv->tab[i].count == 0 || srv->total == 0);
	srv->total--;
	if (--srv->tab[i].count == 0)
		net_ipdel(srv, i);
}

void
net_server_pause(struct net_server *srv)
{
	srv->paused = 1;
	net_server_watch(srv, 0);
}

void
net_server_resume(struct net_server *srv)
{
	srv->paused = 0;
	if (!srv->backoff_on)
		net_server_watch(srv, 1);
}

unsigned
net_server_count(const struct net_server *srv)
{
	return srv->total;
}

unsigned
net_server_count_peer(const struct net_server *srv,
    const struct sockaddr *peer)
{
	uint8_t key[16];

	net_ipkey(peer, key);
	return srv->tab[net_ipfind(srv, key, net_iphash(srv, key))].count;
}

void
net_server_free(struct net_server **srvp)
{
	struct net_server *srv = *srvp;

	if (srv == NULL)
		return;
	net_server_watch(srv, 0);
	ev_timer_stop(srv->loop, &srv->backoff);
	xfree(&srv->tab);
	xfree(srvp);
}
