/* Unit tests for smtpd/queue_dns: MX ordering (RFC 5321 5.1), null MX (RFC 7505), domain literals, the loop side without a server. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <ev.h>

#include "smtpd/queue_dns.h"

/* A seeded random source (xorshift32), so runs are reproducible. */
static uint32_t
rnd_seeded(void *arg, uint32_t n)
{
	uint32_t *s = arg;

	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s % n;
}

static void
set_host(struct queue_dns_host *h, const char *name, unsigned pref)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->pref = pref;
}

static void
test_order_by_pref(void **state)
{
	struct queue_dns_host h[4];
	uint32_t seed = 1;

	set_host(&h[0], "c", 30);
	set_host(&h[1], "a", 5);
	set_host(&h[2], "d", 65535);
	set_host(&h[3], "b", 10);
	assert_int_equal(queue_dns_order(h, 4, rnd_seeded, &seed),
	    QUEUE_DNS_OK);
	assert_string_equal(h[0].name, "a");
	assert_string_equal(h[1].name, "b");
	assert_string_equal(h[2].name, "c");
	assert_string_equal(h[3].name, "d");
	assert_int_equal(h[3].pref, 65535);
}

/* Every permutation of three equal preferences occurs, and the hosts of
 * other preferences stay in place. */
static void
test_equal_prefs_all_permutations(void **state)
{
	int seen[6] = { 0 };
	uint32_t seed = 12345;

	for (int run = 0; run < 600; run++) {
		struct queue_dns_host h[5];
		int perm;

		set_host(&h[0], "z", 20);
		set_host(&h[1], "x", 10);
		set_host(&h[2], "y", 10);
		set_host(&h[3], "w", 10);
		set_host(&h[4], "first", 1);
		assert_int_equal(queue_dns_order(h, 5, rnd_seeded, &seed),
		    QUEUE_DNS_OK);
		assert_string_equal(h[0].name, "first");
		assert_string_equal(h[4].name, "z");
		/* w x y in some order: rank of the permutation */
		perm = (h[1].name[0] - 'w') * 2 + (h[2].name[0] <
		    h[3].name[0] ? 0 : 1);
		assert_true(h[1].name[0] != h[2].name[0] &&
		    h[2].name[0] != h[3].name[0] &&
		    h[1].name[0] != h[3].name[0]);
		assert_in_range(perm, 0, 5);
		seen[perm]++;
	}
	for (int i = 0; i < 6; i++)
		assert_true(seen[i] > 50);	/* ~100 each */
}

static void
test_null_mx(void **state)
{
	struct queue_dns_host h[1];
	uint32_t seed = 7;

	set_host(&h[0], "", 0);
	assert_int_equal(queue_dns_order(h, 1, rnd_seeded, &seed),
	    QUEUE_DNS_NULLMX);
	set_host(&h[0], ".", 0);
	assert_int_equal(queue_dns_order(h, 1, rnd_seeded, &seed),
	    QUEUE_DNS_NULLMX);
	assert_int_equal(queue_dns_order(h, 0, rnd_seeded, &seed),
	    QUEUE_DNS_OK);
}

/* RFC 7505 3: a null MX "MUST NOT" be mixed with other MX records; when
 * it is, the null MX is dropped and the others are used. */
static void
test_null_mx_mixed(void **state)
{
	struct queue_dns_host h[3];
	uint32_t seed = 7;

	set_host(&h[0], "mx2", 20);
	set_host(&h[1], "", 0);
	set_host(&h[2], "mx1", 10);
	assert_int_equal(queue_dns_order(h, 3, rnd_seeded, &seed),
	    QUEUE_DNS_OK);
	assert_string_equal(h[0].name, "mx1");
	assert_string_equal(h[1].name, "mx2");
	assert_string_equal(h[2].name, "");	/* cleared tail */
}

struct got {
	int calls;
	struct queue_dns_route r;
};

static void
got_cb(void *arg, const struct queue_dns_route *r)
{
	struct got *g = arg;

	g->calls++;
	g->r = *r;
}

static void
run_route(const char *domain, const char *servers, struct got *g)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	const char *why = NULL;
	struct queue_dns *dns;

	memset(g, 0, sizeof(*g));
	dns = queue_dns_new(loop, servers, 200, &why);
	assert_non_null(dns);
	assert_int_equal(queue_dns_route(dns, domain, got_cb, g), 0);
	assert_int_equal(g->calls, 0);		/* never from inside */
	ev_run(loop, 0);
	assert_int_equal(g->calls, 1);
	queue_dns_free(&dns);
	assert_null(dns);
	ev_loop_destroy(loop);
}

static void
test_literal_v4(void **state)
{
	struct got g;
	const struct sockaddr_in *s4;

	/* no server can answer: a literal needs none */
	run_route("[192.0.2.1]", "127.0.0.1:1", &g);
	assert_int_equal(g.r.status, QUEUE_DNS_OK);
	assert_int_equal(g.r.n_hosts, 1);
	assert_int_equal(g.r.hosts[0].n_addr, 1);
	s4 = (const struct sockaddr_in *)&g.r.hosts[0].addr[0];
	assert_int_equal(s4->sin_family, AF_INET);
	assert_int_equal(s4->sin_port, 0);
	assert_int_equal(ntohl(s4->sin_addr.s_addr), 0xc0000201);
}

static void
test_literal_v6(void **state)
{
	struct got g;
	const struct sockaddr_in6 *s6;
	struct in6_addr want;

	run_route("[ipv6:2001:db8::1]", "127.0.0.1:1", &g);
	assert_int_equal(g.r.status, QUEUE_DNS_OK);
	s6 = (const struct sockaddr_in6 *)&g.r.hosts[0].addr[0];
	assert_int_equal(s6->sin6_family, AF_INET6);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
	assert_memory_equal(&s6->sin6_addr, &want, sizeof(want));
}

static void
test_literal_bad(void **state)
{
	static const char *const bad[] = { "[192.0.2]", "[192.0.2.1",
	    "[IPv6:192.0.2.1]", "[2001:db8::1]", "[]", "[IPv6:]",
	    "[1.2.3.4.5]" };
	struct got g;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_route(bad[i], "127.0.0.1:1", &g);
		assert_int_equal(g.r.status, QUEUE_DNS_PERM);
		assert_int_equal(g.r.n_hosts, 0);
		assert_non_null(strstr(g.r.why, "literal"));
	}
}

/* Nothing listens: the lookup ends TEMP, through the loop. */
static void
test_no_server_temp(void **state)
{
	struct got g;

	run_route("example.test", "127.0.0.1:1", &g);
	assert_int_equal(g.r.status, QUEUE_DNS_TEMP);
	assert_int_equal(g.r.n_hosts, 0);
}

/* A name DNS cannot carry (empty label, label over 63) is permanent. */
static void
test_bad_name_perm(void **state)
{
	char name[80];
	struct got g;

	run_route("a..example", "127.0.0.1:1", &g);
	assert_int_equal(g.r.status, QUEUE_DNS_PERM);
	memset(name, 'a', 70);
	snprintf(name + 70, sizeof(name) - 70, ".test");
	run_route(name, "127.0.0.1:1", &g);
	assert_int_equal(g.r.status, QUEUE_DNS_PERM);
}

static void
test_bad_args(void **state)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	const char *why = NULL;
	struct queue_dns *dns;
	char longname[QUEUE_DNS_NAME_MAX + 8];
	struct got g = { 0 };

	assert_null(queue_dns_new(loop, "not an address", 200, &why));
	assert_non_null(why);
	dns = queue_dns_new(loop, "127.0.0.1:1", 200, &why);
	assert_non_null(dns);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(queue_dns_route(dns, longname, got_cb, &g), -1);
	assert_int_equal(queue_dns_route(dns, "", got_cb, &g), -1);
	/* freed with a lookup pending: no callback, nothing leaks */
	assert_int_equal(queue_dns_route(dns, "example.test", got_cb, &g),
	    0);
	assert_int_equal(queue_dns_route(dns, "[192.0.2.1]", got_cb, &g), 0);
	queue_dns_free(&dns);
	assert_int_equal(g.calls, 0);
	queue_dns_free(&dns);			/* NULL: no-op */
	ev_loop_destroy(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_by_pref),
		cmocka_unit_test(test_equal_prefs_all_permutations),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_null_mx_mixed),
		cmocka_unit_test(test_literal_v4),
		cmocka_unit_test(test_literal_v6),
		cmocka_unit_test(test_literal_bad),
		cmocka_unit_test(test_no_server_temp),
		cmocka_unit_test(test_bad_name_perm),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
