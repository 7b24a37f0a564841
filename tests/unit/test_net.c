/* Unit tests for common/net: address parsing, listening, accept limits. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/net.h"

/* ---- parsing ---- */

struct pcase {
	const char *in;
	int rc;
	size_t n;
	const char *ip0;	/* net_peer_str of the first result */
	unsigned port;
};

static const struct pcase pcases[] = {
	{ "0.0.0.0:25", 0, 1, "0.0.0.0", 25 },
	{ "192.0.2.7:587", 0, 1, "192.0.2.7", 587 },
	{ "[::1]:143", 0, 1, "::1", 143 },
	{ "[2001:db8::5]:65535", 0, 1, "2001:db8::5", 65535 },
	{ "*:25", 0, 2, "0.0.0.0", 25 },
	{ "127.0.0.1:0", 0, 1, "127.0.0.1", 0 },
	{ "::1:25", -1, 0, NULL, 0 },		/* needs brackets */
	{ "1.2.3.4", -1, 0, NULL, 0 },
	{ "1.2.3.4:", -1, 0, NULL, 0 },
	{ "1.2.3.4:65536", -1, 0, NULL, 0 },
	{ "1.2.3.4:25x", -1, 0, NULL, 0 },
	{ "1.2.3.4:+25", -1, 0, NULL, 0 },
	{ "1.2.3.256:25", -1, 0, NULL, 0 },	/* not numeric: a name */
	{ "[1.2.3.4]:25", -1, 0, NULL, 0 },
	{ "[::1]143", -1, 0, NULL, 0 },
	{ "[::1:143", -1, 0, NULL, 0 },
	{ ":25", -1, 0, NULL, 0 },
	{ "[]:25", -1, 0, NULL, 0 },
	{ "localhost:25", -1, 0, NULL, 0 },	/* names: net_addr_resolve */
	{ "", -1, 0, NULL, 0 },
};

static unsigned
addr_port(const struct net_addr *a)
{
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void
test_parse(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		struct net_addr a[2];
		char ip[NET_PEER_STRLEN];
		const char *why = NULL;
		size_t n = 99;

		assert_int_equal(net_addr_parse(c->in, a, 2, &n, &why), c->rc);
		if (c->rc == -1) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(n, c->n);
		net_peer_str((struct sockaddr *)&a[0].ss, ip, sizeof(ip));
		assert_string_equal(ip, c->ip0);
		assert_int_equal(addr_port(&a[0]), c->port);
	}
}

static void
test_parse_star(void **state)
{
	struct net_addr a[2];
	const char *why;
	char ip[NET_PEER_STRLEN];
	size_t n;

	assert_int_equal(net_addr_parse("*:110", a, 2, &n, &why), 0);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].ss.ss_family, AF_INET);
	assert_int_equal(a[1].ss.ss_family, AF_INET6);
	assert_string_equal(net_peer_str((struct sockaddr *)&a[1].ss, ip,
	    sizeof(ip)), "::");
	assert_int_equal(addr_port(&a[1]), 110);
	/* no room for both */
	assert_int_equal(net_addr_parse("*:110", a, 1, &n, &why), -1);
}

static void
test_resolve(void **state)
{
	struct net_addr a[8];
	const char *why = NULL;
	size_t n, i;

	assert_int_equal(net_addr_resolve("localhost:25", a, 8, &n, &why), 0);
	assert_true(n >= 1);
	for (i = 0; i < n; i++) {
		char ip[NET_PEER_STRLEN];

		net_peer_str((struct sockaddr *)&a[i].ss, ip, sizeof(ip));
		assert_true(strcmp(ip, "::1") == 0 ||
		    strncmp(ip, "127.", 4) == 0);
		assert_int_equal(addr_port(&a[i]), 25);
	}
	/* numeric input gives the same as net_addr_parse */
	assert_int_equal(net_addr_resolve("[::1]:7", a, 8, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(net_addr_resolve("::1:7", a, 8, &n, &why), -1);
}

static void
test_peer_str(void **state)
{
	struct sockaddr_in6 s6;
	char ip[NET_PEER_STRLEN];

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.9",
	    &s6.sin6_addr), 1);
	assert_string_equal(net_peer_str((struct sockaddr *)&s6, ip,
	    sizeof(ip)), "192.0.2.9");
	assert_int_equal(inet_pton(AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &s6.sin6_addr), 1);
	assert_string_equal(net_peer_str((struct sockaddr *)&s6, ip,
	    sizeof(ip)), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	s6.sin6_family = AF_UNIX;
	assert_string_equal(net_peer_str((struct sockaddr *)&s6, ip,
	    sizeof(ip)), "?");
}

static void
test_listen(void **state)
{
	int fds[2], fds2[2];
	size_t n = 9, n2 = 9;
	const char *why = NULL;
	char addr[64];
	unsigned port;

	assert_int_equal(net_listen("127.0.0.1:0", fds, 2, &n, &why), 0);
	assert_int_equal(n, 1);
	port = net_local_port(fds[0]);
	assert_int_not_equal(port, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(net_listen(addr, fds2, 2, &n2, &why), -1);
	assert_int_equal(n2, 0);
	assert_non_null(strstr(why, "bind 127.0.0.1 port"));
	assert_non_null(strstr(why, "Address already in use"));
	assert_int_equal(net_listen("nonsense", fds2, 2, &n2, &why), -1);
	close(fds[0]);
}

/* ---- the server ---- */

struct srvt {
	struct ev_loop *loop;
	struct net_server *srv;
	int accepted, refused;
	int fds[64];
	struct sockaddr_storage peers[64];
	uintptr_t last_tag;
	const char *last_why;
};

static void
on_accept(void *arg, int fd, const struct sockaddr *peer, socklen_t len,
    uintptr_t tag)
{
	struct srvt *t = arg;

	assert_true(t->accepted < 64);
	t->fds[t->accepted] = fd;
	memcpy(&t->peers[t->accepted], peer, len);
	t->accepted++;
	t->last_tag = tag;
}

static void
on_refuse(void *arg, int fd, const struct sockaddr *peer, socklen_t len,
    uintptr_t tag, const char *why)
{
	struct srvt *t = arg;

	t->refused++;
	t->last_why = why;
	t->last_tag = tag;
	close(fd);
}

static void
stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run the loop until accepted+refused reaches want or 2 s pass. */
static void
spin(struct srvt *t, int want)
{
	ev_timer guard;
	ev_tstamp end = ev_time() + 2.0;

	ev_timer_init(&guard, stop_cb, 0.02, 0.0);
	while (t->accepted + t->refused < want && ev_time() < end) {
		ev_timer_start(t->loop, &guard);
		ev_run(t->loop, EVRUN_ONCE);
		ev_timer_stop(t->loop, &guard);
	}
}

/* A blocking client connected from src (NULL: any) to port on dst. */
static int
client(int family, const char *src, const char *dst, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		len = sizeof(*s);
		if (src != NULL) {
			assert_int_equal(inet_pton(AF_INET, src, &s->sin_addr),
			    1);
			assert_int_equal(bind(fd, (struct sockaddr *)s, len),
			    0);
		}
		assert_int_equal(inet_pton(AF_INET, dst, &s->sin_addr), 1);
		s->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		len = sizeof(*s);
		assert_int_equal(inet_pton(AF_INET6, dst, &s->sin6_addr), 1);
		s->sin6_port = htons(port);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

static void
srvt_init(struct srvt *t, unsigned max, unsigned per_ip)
{
	struct net_server_opts o = { max, per_ip };

	memset(t, 0, sizeof(*t));
	t->loop = ev_loop_new(EVFLAG_AUTO);
	t->srv = net_server_new(t->loop, &o, on_accept, on_refuse, t);
}

static void
srvt_fini(struct srvt *t)
{
	int i;

	for (i = 0; i < t->accepted; i++)
		close(t->fds[i]);
	net_server_free(&t->srv);
	assert_null(t->srv);
	ev_loop_destroy(t->loop);
}

static void
test_limits_v4(void **state)
{
	struct srvt t;
	int lfd, c[8], i;
	size_t n;
	const char *why;
	unsigned port;

	srvt_init(&t, 4, 2);
	assert_int_equal(net_listen("127.0.0.1:0", &lfd, 1, &n, &why), 0);
	port = net_local_port(lfd);
	assert_int_equal(net_server_add(t.srv, lfd, 25), 0);

	/* per address: exactly the limit, then one past */
	c[0] = client(AF_INET, "127.0.0.1", "127.0.0.1", port);
	c[1] = client(AF_INET, "127.0.0.1", "127.0.0.1", port);
	spin(&t, 2);
	assert_int_equal(t.accepted, 2);
	assert_int_equal(t.last_tag, 25);
	assert_int_equal(net_server_count_peer(t.srv,
	    (struct sockaddr *)&t.peers[0]), 2);
	c[2] = client(AF_INET, "127.0.0.1", "127.0.0.1", port);
	spin(&t, 3);
	assert_int_equal(t.accepted, 2);
	assert_int_equal(t.refused, 1);
	assert_string_equal(t.last_why,
	    "too many connections from your address");

	/* other addresses still get in, up to the total */
	c[3] = client(AF_INET, "127.0.0.2", "127.0.0.1", port);
	c[4] = client(AF_INET, "127.0.0.3", "127.0.0.1", port);
	spin(&t, 5);
	assert_int_equal(t.accepted, 4);
	assert_int_equal(net_server_count(t.srv), 4);
	c[5] = client(AF_INET, "127.0.0.4", "127.0.0.1", port);
	spin(&t, 6);
	assert_int_equal(t.accepted, 4);
	assert_int_equal(t.refused, 2);
	assert_string_equal(t.last_why, "too many connections");

	/* a release makes room again for that address */
	net_server_release(t.srv, (struct sockaddr *)&t.peers[0]);
	assert_int_equal(net_server_count(t.srv), 3);
	assert_int_equal(net_server_count_peer(t.srv,
	    (struct sockaddr *)&t.peers[1]), 1);
	c[6] = client(AF_INET, "127.0.0.1", "127.0.0.1", port);
	spin(&t, 7);
	assert_int_equal(t.accepted, 5);

	/* paused: nothing is accepted until resumed */
	net_server_release(t.srv, (struct sockaddr *)&t.peers[1]);
	net_server_pause(t.srv);
	c[7] = client(AF_INET, "127.0.0.5", "127.0.0.1", port);
	spin(&t, 8);
	assert_int_equal(t.accepted + t.refused, 7);
	net_server_resume(t.srv);
	spin(&t, 8);
	assert_int_equal(t.accepted, 6);

	for (i = 0; i < 8; i++)
		close(c[i]);
	srvt_fini(&t);
	close(lfd);
}

/*
 * Addresses in and out of a small table (8 entries in 16 slots, so runs of
 * colliding slots are common), released in mixed orders; each round has a
 * new hash key and so a new collision pattern.
 */
static void
test_table_churn(void **state)
{
	int round;

	for (round = 0; round < 12; round++) {
		struct srvt t;
		int lfd, c[8], i, k;
		size_t n;
		const char *why;
		unsigned port;

		srvt_init(&t, 8, 1);
		assert_int_equal(net_listen("127.0.0.1:0", &lfd, 1, &n, &why),
		    0);
		port = net_local_port(lfd);
		assert_int_equal(net_server_add(t.srv, lfd, 7), 0);
		for (i = 0; i < 8; i++) {
			char src[32];

			snprintf(src, sizeof(src), "127.0.%d.%d", i % 3,
			    10 + i + round);
			c[i] = client(AF_INET, src, "127.0.0.1", port);
			spin(&t, i + 1);
		}
		assert_int_equal(t.accepted, 8);
		for (k = 0; k < 8; k++) {
			i = (k * 3 + round) % 8;	/* a permutation */
			assert_int_equal(net_server_count_peer(t.srv,
			    (struct sockaddr *)&t.peers[i]), 1);
			net_server_release(t.srv,
			    (struct sockaddr *)&t.peers[i]);
			assert_int_equal(net_server_count_peer(t.srv,
			    (struct sockaddr *)&t.peers[i]), 0);
			assert_int_equal(net_server_count(t.srv), 7 - k);
			/* everyone not yet released is still found */
			for (n = (size_t)k + 1; n < 8; n++)
				assert_int_equal(net_server_count_peer(t.srv,
				    (struct sockaddr *)
				    &t.peers[(n * 3 + (size_t)round) % 8]), 1);
		}
		for (k = 0; k < 8; k++)
			close(c[k]);
		srvt_fini(&t);
		close(lfd);
	}
}

static void
test_limits_v6(void **state)
{
	struct srvt t;
	struct sockaddr_in6 other;
	int lfd, c[3], i;
	size_t n;
	const char *why;
	unsigned port;

	if (net_listen("[::1]:0", &lfd, 1, &n, &why) == -1) {
		print_message("skipping: no ::1 (%s)\n", why);
		skip();
	}
	srvt_init(&t, 10, 2);
	port = net_local_port(lfd);
	assert_int_equal(net_server_add(t.srv, lfd, 143), 0);
	for (i = 0; i < 3; i++)
		c[i] = client(AF_INET6, NULL, "::1", port);
	spin(&t, 3);
	assert_int_equal(t.accepted, 2);
	assert_int_equal(t.refused, 1);
	assert_int_equal(t.last_tag, 143);
	assert_string_equal(t.last_why,
	    "too many connections from your address");

	/* counted per /64: ::2 shares ::1's, 1::1 does not */
	memset(&other, 0, sizeof(other));
	other.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::2", &other.sin6_addr),
	    1);
	assert_int_equal(net_server_count_peer(t.srv,
	    (struct sockaddr *)&other), 2);
	assert_int_equal(inet_pton(AF_INET6, "0:0:0:1::1", &other.sin6_addr),
	    1);
	assert_int_equal(net_server_count_peer(t.srv,
	    (struct sockaddr *)&other), 0);

	for (i = 0; i < 3; i++)
		close(c[i]);
	srvt_fini(&t);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_star),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_peer_str),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_limits_v4),
		cmocka_unit_test(test_table_churn),
		cmocka_unit_test(test_limits_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
