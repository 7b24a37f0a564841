/* queued's resolver: where mail for a domain goes (RFC 5321 5.1, RFC 7505), looked up off the event loop. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_DNS_H
#define LB_QUEUE_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

#define QUEUE_DNS_HOSTS_MAX 16		/* MX hosts kept per domain */
#define QUEUE_DNS_ADDRS_MAX 8		/* addresses kept per host */
#define QUEUE_DNS_NAME_MAX 256

enum queue_dns_status {
	QUEUE_DNS_OK = 0,	/* hosts[] in the order to try */
	QUEUE_DNS_TEMP,		/* SERVFAIL, timeout, refused: retry later */
	QUEUE_DNS_PERM,		/* NXDOMAIN, or no MX and no A/AAAA, or no
				 * MX host has an address (every failure a
				 * negative answer), a bad name or literal:
				 * bounce (5.1.2) */
	QUEUE_DNS_NULLMX,	/* "MX 0 ." (RFC 7505 3): bounce at once
				 * (5.1.10) */
};

struct queue_dns_host {
	char name[QUEUE_DNS_NAME_MAX];	/* the MX host (or the domain for the
					 * A/AAAA fallback) */
	unsigned pref;			/* MX preference (0 for a fallback) */
	struct sockaddr_storage addr[QUEUE_DNS_ADDRS_MAX]; /* port 0: the
					 * caller sets 25 or its own */
	socklen_t addr_len[QUEUE_DNS_ADDRS_MAX];
	size_t n_addr;			/* 0: the host did not resolve (TEMP
					 * or PERM for this host only: try the
					 * next) */
};

/* The answer for one domain.  Hosts are sorted by preference, hosts of
 * equal preference in random order (RFC 5321 5.1); each host's addresses
 * alternate IPv6 and IPv4.  When OK, at least one host has an address;
 * hosts with none may be listed too.  Not OK: n_hosts is 0. */
struct queue_dns_route {
	enum queue_dns_status status;
	char why[160];			/* for logs and DSNs when not OK */
	struct queue_dns_host hosts[QUEUE_DNS_HOSTS_MAX];
	size_t n_hosts;
};

struct queue_dns;

/* queue_dns_new: a resolver on loop (c-ares; its sockets become ev_io
 * watchers, its timeouts one ev_timer).  servers: NULL or "" for the
 * system's (/etc/resolv.conf), or "127.0.0.1:5353,[::1]:53" (tests;
 * config key queued.resolver).  timeout_ms per query try (config key
 * queued.resolver_timeout); each query gets 2 tries and c-ares doubles
 * the second, so a lookup ends, TEMP at worst, within about 6 *
 * timeout_ms (MX, then A/AAAA).  NULL with *why set. */
struct queue_dns *queue_dns_new(struct ev_loop *loop, const char *servers,
    unsigned timeout_ms, const char **why);
/* queue_dns_free: lookups still pending are dropped, their cb is not
 * called.  Not from inside a cb.  Calls ares_library_cleanup with the
 * last resolver. */
void queue_dns_free(struct queue_dns **dns);

/* queue_dns_route: look up where mail for domain goes: MX, then the A
 * and AAAA of every MX host (or of the domain when it has no MX), and
 * call cb once, from the loop, never from inside this call.  route is
 * valid only during cb.  A domain literal ("[192.0.2.1]") is answered
 * without a query.  Returns 0, or -1 if the lookup could not start (cb
 * is then not called). */
typedef void queue_dns_cb(void *arg, const struct queue_dns_route *route);
int queue_dns_route(struct queue_dns *dns, const char *domain,
    queue_dns_cb *cb, void *arg);

/* queue_dns_order: the pure part of the above, for tests: sort hosts
 * by pref, shuffle each run of equal pref with rnd (a random source:
 * returns a value in [0, n)), detect a null MX (name "" or ".").
 * Returns QUEUE_DNS_NULLMX when every host is a null MX, else
 * QUEUE_DNS_OK; a null MX mixed with other MX records (RFC 7505 3 forbids
 * it) is dropped: the hosts move up and the freed tail entries are
 * zeroed (name ""). */
enum queue_dns_status queue_dns_order(struct queue_dns_host *hosts,
    size_t n, uint32_t (*rnd)(void *arg, uint32_t n), void *rnd_arg);

/* queue_dns_tool: "letterbox-queued -c FILE --route DOMAIN": resolve
 * DOMAIN with queued.resolver and print the route on stdout, one item a
 * line:
 *	status OK|TEMP|PERM|NULLMX
 *	why TEXT			(only when not OK)
 *	host PREF NAME ADDR...		(one per host, in the order to try;
 *					 "-" when the host has no address)
 * Exit 0 for OK, 75 (EX_TEMPFAIL) for TEMP, 69 (EX_UNAVAILABLE) for PERM
 * and NULLMX, 64/65/78 for usage, bad domain, bad config. */
int queue_dns_tool(int argc, char **argv);

#endif
