/* queued's resolver: MX, then A/AAAA of each MX host, through c-ares on the
 * daemon's libev loop (no threads).  See queue_dns.h for the contract. */
/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>
#include <ev.h>

#include "common/xmem.h"
#include "smtpd/queue_dns.h"

#define DNS_TRIES 2	/* per query; c-ares doubles the timeout each try */

/* One c-ares socket and its watcher. */
struct dns_sock {
	ev_io io;
	struct queue_dns *dns;
	struct dns_sock *next;
};

struct dns_lookup;

/* One outstanding query: which lookup, which host, which family. */
struct dns_query {
	struct dns_lookup *lk;
	unsigned idx;
	int family;
};

enum { HOST_OK, HOST_TEMP, HOST_PERM };

struct dns_lookup {
	struct queue_dns *dns;
	queue_dns_cb *cb;
	void *arg;
	char domain[QUEUE_DNS_NAME_MAX];
	int fallback;			/* no MX: hosts[0] is the domain */
	unsigned pending;		/* queries not yet answered */
	int host_err[QUEUE_DNS_HOSTS_MAX];	/* worst of A and AAAA */
	struct in_addr v4[QUEUE_DNS_HOSTS_MAX][QUEUE_DNS_ADDRS_MAX];
	size_t n_v4[QUEUE_DNS_HOSTS_MAX];
	struct in6_addr v6[QUEUE_DNS_HOSTS_MAX][QUEUE_DNS_ADDRS_MAX];
	size_t n_v6[QUEUE_DNS_HOSTS_MAX];
	struct dns_query q[QUEUE_DNS_HOSTS_MAX * 2 + 1];
	struct queue_dns_route route;
	struct dns_lookup *next;	/* on dns->pending or dns->done */
};

struct queue_dns {
	struct ev_loop *loop;
	ares_channel ch;
	ev_timer timer;			/* ares_timeout() */
	ev_timer done_timer;		/* delivers finished lookups */
	struct dns_sock *socks;
	struct dns_lookup *pending;
	struct dns_lookup *done;
	int freeing;			/* in queue_dns_free: no callbacks */
};

static int lib_refs;			/* ares_library_init/cleanup pairs */

static void dns_rearm(struct queue_dns *);

static void
unlink_lookup(struct dns_lookup **head, struct dns_lookup *lk)
{
	for (; *head != NULL; head = &(*head)->next)
		if (*head == lk) {
			*head = lk->next;
			lk->next = NULL;
			return;
		}
}

/* finish: the lookup is answered; cb runs from done_timer, so never from
 * inside queue_dns_route() nor from inside a c-ares call. */
static void
finish(struct dns_lookup *lk, enum queue_dns_status st, const char *why)
{
	struct queue_dns *dns = lk->dns;

	lk->route.status = st;
	if (st != QUEUE_DNS_OK)
		lk->route.n_hosts = 0;
	if (why != NULL)
		snprintf(lk->route.why, sizeof(lk->route.why), "%s", why);
	unlink_lookup(&dns->pending, lk);
	lk->next = dns->done;
	dns->done = lk;
	if (!ev_is_active(&dns->done_timer)) {
		ev_timer_set(&dns->done_timer, 0., 0.);
		ev_timer_start(dns->loop, &dns->done_timer);
	}
}

static void
done_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_dns *dns = w->data;
	struct dns_lookup *lk;

	while ((lk = dns->done) != NULL) {
		dns->done = lk->next;
		lk->cb(lk->arg, &lk->route);
		free(lk);
	}
}

/* A c-ares failure as a route status: NXDOMAIN, "no such record" and a
 * name that cannot be a DNS name are permanent, the rest (SERVFAIL,
 * REFUSED, timeouts, no server, malformed answers) temporary. */
static int
ares_temp(int status)
{
	return status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	    status != ARES_EBADNAME;
}

/* Merge a host's IPv6 and IPv4 answers, alternating families (RFC 8305
 * 4), at most QUEUE_DNS_ADDRS_MAX. */
static void
merge_addrs(struct dns_lookup *lk, unsigned i)
{
	struct queue_dns_host *h = &lk->route.hosts[i];
	size_t a = 0, b = 0;

	h->n_addr = 0;
	while (h->n_addr < QUEUE_DNS_ADDRS_MAX &&
	    (a < lk->n_v6[i] || b < lk->n_v4[i])) {
		struct sockaddr_storage *ss = &h->addr[h->n_addr];

		memset(ss, 0, sizeof(*ss));
		if (a < lk->n_v6[i] && (a <= b || b >= lk->n_v4[i])) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_addr = lk->v6[i][a++];
			h->addr_len[h->n_addr++] = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

			s4->sin_family = AF_INET;
			s4->sin_addr = lk->v4[i][b++];
			h->addr_len[h->n_addr++] = sizeof(*s4);
		}
	}
}

/* All address queries answered: the route is OK when one host has an
 * address; otherwise TEMP when any failure was temporary, else PERM. */
static void
addrs_done(struct dns_lookup *lk)
{
	struct queue_dns_route *r = &lk->route;
	int any = 0, temp = 0;
	char why[160];

	for (unsigned i = 0; i < r->n_hosts; i++) {
		merge_addrs(lk, i);
		if (r->hosts[i].n_addr > 0)
			any = 1;
		else if (lk->host_err[i] == HOST_TEMP)
			temp = 1;
	}
	if (any) {
		finish(lk, QUEUE_DNS_OK, NULL);
		return;
	}
	if (lk->fallback)
		snprintf(why, sizeof(why), "%.80s: %s", lk->domain, temp ?
		    "address lookup failed temporarily" :
		    "no MX and no A/AAAA record");
	else
		snprintf(why, sizeof(why), "%.80s: %s", lk->domain, temp ?
		    "MX host address lookup failed temporarily" :
		    "no MX host has an address");
	finish(lk, temp ? QUEUE_DNS_TEMP : QUEUE_DNS_PERM, why);
}

static void
addr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_lookup *lk = q->lk;
	unsigned i = q->idx;
	int err = HOST_OK;

	if (status == ARES_EDESTRUCTION || lk->dns->freeing)
		return;
	if (status == ARES_SUCCESS && q->family == AF_INET) {
		struct ares_addrttl t[QUEUE_DNS_ADDRS_MAX];
		int n = QUEUE_DNS_ADDRS_MAX;

		/* Follows a CNAME chain in the answer (RFC 5321 5.1). */
		if (ares_parse_a_reply(abuf, alen, NULL, t, &n) ==
		    ARES_SUCCESS) {
			for (int k = 0; k < n; k++)
				lk->v4[i][lk->n_v4[i]++] = t[k].ipaddr;
		} else
			err = HOST_PERM;
	} else if (status == ARES_SUCCESS) {
		struct ares_addr6ttl t[QUEUE_DNS_ADDRS_MAX];
		int n = QUEUE_DNS_ADDRS_MAX;

		if (ares_parse_aaaa_reply(abuf, alen, NULL, t, &n) ==
		    ARES_SUCCESS) {
			for (int k = 0; k < n; k++)
				memcpy(&lk->v6[i][lk->n_v6[i]++],
				    &t[k].ip6addr, sizeof(struct in6_addr));
		} else
			err = HOST_PERM;
	} else
		err = ares_temp(status) ? HOST_TEMP : HOST_PERM;
	/* Matters only when the host ends with no address. */
	if (err == HOST_TEMP)
		lk->host_err[i] = HOST_TEMP;
	if (--lk->pending == 0)
		addrs_done(lk);
}

/* Ask for the A and AAAA of every host. */
static void
query_addrs(struct dns_lookup *lk)
{
	ares_channel ch = lk->dns->ch;
	unsigned nq = 0;

	lk->pending = (unsigned)lk->route.n_hosts * 2;
	for (unsigned i = 0; i < lk->route.n_hosts; i++) {
		const char *name = lk->route.hosts[i].name;

		lk->host_err[i] = HOST_PERM;	/* until an answer says OK */
		lk->q[nq] = (struct dns_query){ lk, i, AF_INET };
		lk->q[nq + 1] = (struct dns_query){ lk, i, AF_INET6 };
		/* The callbacks may run right here (an immediate error):
		 * the lookup then finishes through done_timer, later. */
		ares_query(ch, name, ns_c_in, ns_t_a, addr_cb, &lk->q[nq]);
		ares_query(ch, name, ns_c_in, ns_t_aaaa, addr_cb,
		    &lk->q[nq + 1]);
		nq += 2;
	}
}

/* Keep at most QUEUE_DNS_HOSTS_MAX MX records, the most preferred. */
static void
keep_mx(struct queue_dns_route *r, const char *host, unsigned pref)
{
	size_t i = r->n_hosts;

	if (r->n_hosts == QUEUE_DNS_HOSTS_MAX) {
		size_t worst = 0;

		for (size_t k = 1; k < r->n_hosts; k++)
			if (r->hosts[k].pref > r->hosts[worst].pref)
				worst = k;
		if (r->hosts[worst].pref <= pref)
			return;
		i = worst;
	} else
		r->n_hosts++;
	memset(&r->hosts[i], 0, sizeof(r->hosts[i]));
	snprintf(r->hosts[i].name, sizeof(r->hosts[i].name), "%s", host);
	r->hosts[i].pref = pref;
}

static uint32_t
rnd_system(void *arg, uint32_t n)
{
	(void)arg;
	return arc4random_uniform(n);
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_lookup *lk = arg;
	struct queue_dns_route *r = &lk->route;
	struct ares_mx_reply *mx = NULL;
	char why[160];
	enum queue_dns_status st;

	if (status == ARES_EDESTRUCTION || lk->dns->freeing)
		return;
	if (status == ARES_ENOTFOUND || status == ARES_EBADNAME) {
		snprintf(why, sizeof(why), "%.80s: %s", lk->domain,
		    status == ARES_ENOTFOUND ? "no such domain (NXDOMAIN)" :
		    "not a valid domain name");
		finish(lk, QUEUE_DNS_PERM, why);
		return;
	}
	if (status != ARES_SUCCESS && status != ARES_ENODATA) {
		snprintf(why, sizeof(why), "%.80s: MX lookup failed: %s",
		    lk->domain, ares_strerror(status));
		finish(lk, QUEUE_DNS_TEMP, why);
		return;
	}
	if (status == ARES_SUCCESS) {
		int pst = ares_parse_mx_reply(abuf, alen, &mx);

		if (pst != ARES_SUCCESS && pst != ARES_ENODATA) {
			snprintf(why, sizeof(why), "%.80s: bad MX answer: %s",
			    lk->domain, ares_strerror(pst));
			finish(lk, QUEUE_DNS_TEMP, why);
			return;
		}
		for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
			keep_mx(r, m->host, m->priority);
		ares_free_data(mx);
	}
	if (r->n_hosts == 0) {
		/* No MX (or only a CNAME without MX at its end): the
		 * domain itself, as an implicit MX of preference 0 (RFC
		 * 5321 5.1). */
		lk->fallback = 1;
		snprintf(r->hosts[0].name, sizeof(r->hosts[0].name), "%s",
		    lk->domain);
		r->hosts[0].pref = 0;
		r->n_hosts = 1;
	} else {
		st = queue_dns_order(r->hosts, r->n_hosts, rnd_system, NULL);
		if (st == QUEUE_DNS_NULLMX) {
			snprintf(why, sizeof(why),
			    "%.80s: domain does not accept mail (null MX)",
			    lk->domain);
			r->n_hosts = 0;
			finish(lk, st, why);
			return;
		}
		/* queue_dns_order dropped a null MX mixed with others. */
		while (r->n_hosts > 0 &&
		    r->hosts[r->n_hosts - 1].name[0] == '\0')
			r->n_hosts--;
	}
	query_addrs(lk);
}

/* An "MX ." host: c-ares gives the root as "" (some versions "."). */
static int
is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

/* RFC 5321 5.1: lowest preference first, equal preferences in random
 * order.  RFC 7505 3: a single "MX 0 ." means no mail; a domain that
 * mixes a null MX with other MX records is misconfigured ("MUST NOT
 * advertise any other MX RR"): we drop the null MX and use the others,
 * as they are the only hosts that could take the mail. */
enum queue_dns_status
queue_dns_order(struct queue_dns_host *hosts, size_t n,
    uint32_t (*rnd)(void *arg, uint32_t n), void *rnd_arg)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_root(hosts[i].name))
			continue;
		if (kept != i)
			hosts[kept] = hosts[i];
		kept++;
	}
	if (kept == 0)
		return n > 0 ? QUEUE_DNS_NULLMX : QUEUE_DNS_OK;
	/* Insertion sort, stable: n is at most a few dozen. */
	for (size_t i = 1; i < kept; i++) {
		struct queue_dns_host t = hosts[i];
		size_t j = i;

		for (; j > 0 && hosts[j - 1].pref > t.pref; j--)
			hosts[j] = hosts[j - 1];
		if (j != i)
			hosts[j] = t;
	}
	/* Fisher-Yates within each run of equal preference. */
	for (size_t s = 0; s < kept;) {
		size_t e = s + 1;

		while (e < kept && hosts[e].pref == hosts[s].pref)
			e++;
		for (size_t k = e - s; k > 1; k--) {
			size_t j = s + rnd(rnd_arg, (uint32_t)k);

			if (j != s + k - 1) {
				struct queue_dns_host t = hosts[j];

				hosts[j] = hosts[s + k - 1];
				hosts[s + k - 1] = t;
			}
		}
		s = e;
	}
	/* Clear what was compacted away. */
	for (size_t i = kept; i < n; i++)
		memset(&hosts[i], 0, sizeof(hosts[i]));
	return QUEUE_DNS_OK;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3): 1 when the
 * domain is a literal (route filled in), 0 when it is a name. */
static int
literal_route(const char *domain, struct queue_dns_route *r)
{
	size_t len = strlen(domain);
	char buf[64];
	struct queue_dns_host *h = &r->hosts[0];

	if (len == 0 || domain[0] != '[')
		return 0;
	snprintf(h->name, sizeof(h->name), "%s", domain);
	h->pref = 0;
	if (domain[len - 1] != ']' || len - 2 >= sizeof(buf))
		goto bad;
	memcpy(buf, domain + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->addr[0];

		if (inet_pton(AF_INET6, buf + 5, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		h->addr_len[0] = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&h->addr[0];

		if (inet_pton(AF_INET, buf, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		h->addr_len[0] = sizeof(*s4);
	}
	h->n_addr = 1;
	r->n_hosts = 1;
	r->status = QUEUE_DNS_OK;
	return 1;
bad:
	memset(h, 0, sizeof(*h));
	r->n_hosts = 0;
	r->status = QUEUE_DNS_PERM;
	snprintf(r->why, sizeof(r->why), "%.80s: bad address literal",
	    domain);
	return 1;
}

int
queue_dns_route(struct queue_dns *dns, const char *domain, queue_dns_cb *cb,
    void *arg)
{
	struct dns_lookup *lk;
	size_t len = strlen(domain);

	if (len == 0 || len >= QUEUE_DNS_NAME_MAX)
		return -1;
	lk = xcalloc(1, sizeof(*lk));
	lk->dns = dns;
	lk->cb = cb;
	lk->arg = arg;
	memcpy(lk->domain, domain, len + 1);
	lk->next = dns->pending;
	dns->pending = lk;
	if (literal_route(domain, &lk->route)) {
		finish(lk, lk->route.status, NULL);
		return 0;
	}
	ares_query(dns->ch, domain, ns_c_in, ns_t_mx, mx_cb, lk);
	dns_rearm(dns);
	return 0;
}

/* --- the event loop side --- */

static void
dns_rearm(struct queue_dns *dns)
{
	struct timeval tv, *tp;

	ev_timer_stop(dns->loop, &dns->timer);
	tp = ares_timeout(dns->ch, NULL, &tv);
	if (tp == NULL)
		return;
	ev_timer_set(&dns->timer, (double)tp->tv_sec + tp->tv_usec / 1e6,
	    0.);
	ev_timer_start(dns->loop, &dns->timer);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_dns *dns = w->data;

	ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm(dns);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_sock *s = w->data;
	struct queue_dns *dns = s->dns;
	int fd = w->fd;

	/* s may be freed inside (sock_state_cb closing the socket). */
	ares_process_fd(dns->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_rearm(dns);
}

/* c-ares opens, changes or closes a socket: mirror it in an ev_io. */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct queue_dns *dns = data;
	struct dns_sock **pp, *s;

	for (pp = &dns->socks; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->io.fd == fd)
			break;
	s = *pp;
	if (s != NULL) {
		ev_io_stop(dns->loop, &s->io);
		if (!readable && !writable) {
			*pp = s->next;
			free(s);
			return;
		}
	} else {
		if (!readable && !writable)
			return;
		s = xcalloc(1, sizeof(*s));
		s->dns = dns;
		s->next = dns->socks;
		dns->socks = s;
	}
	ev_io_init(&s->io, io_cb, fd,
	    (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	s->io.data = s;
	ev_io_start(dns->loop, &s->io);
}

struct queue_dns *
queue_dns_new(struct ev_loop *loop, const char *servers, unsigned timeout_ms,
    const char **why)
{
	struct queue_dns *dns;
	struct ares_options o;
	int rc;

	if (lib_refs == 0 && ares_library_init(ARES_LIB_INIT_ALL) !=
	    ARES_SUCCESS) {
		*why = "c-ares: library init failed";
		return NULL;
	}
	lib_refs++;
	dns = xcalloc(1, sizeof(*dns));
	dns->loop = loop;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = dns;
	o.timeout = (int)(timeout_ms > 0 ? timeout_ms : 5000);
	o.tries = DNS_TRIES;
	rc = ares_init_options(&dns->ch, &o, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		goto fail;
	}
	if (servers != NULL && servers[0] != '\0') {
		rc = ares_set_servers_ports_csv(dns->ch, servers);
		if (rc != ARES_SUCCESS) {
			*why = "bad resolver address list (want "
			    "\"127.0.0.1:5353,[::1]:53\")";
			ares_destroy(dns->ch);
			goto fail;
		}
	}
	ev_init(&dns->timer, timer_cb);
	dns->timer.data = dns;
	ev_init(&dns->done_timer, done_cb);
	dns->done_timer.data = dns;
	return dns;
fail:
	free(dns);
	if (--lib_refs == 0)
		ares_library_cleanup();
	return NULL;
}

/* Lookups not answered yet are dropped: their callbacks are not called. */
void
queue_dns_free(struct queue_dns **dnsp)
{
	struct queue_dns *dns = *dnsp;
	struct dns_lookup *lk;

	if (dns == NULL)
		return;
	dns->freeing = 1;
	ares_destroy(dns->ch);	/* closes its sockets via sock_state_cb */
	while (dns->socks != NULL) {
		struct dns_sock *s = dns->socks;

		dns->socks = s->next;
		ev_io_stop(dns->loop, &s->io);
		free(s);
	}
	ev_timer_stop(dns->loop, &dns->timer);
	ev_timer_stop(dns->loop, &dns->done_timer);
	while ((lk = dns->pending) != NULL) {
		dns->pending = lk->next;
		free(lk);
	}
	while ((lk = dns->done) != NULL) {
		dns->done = lk->next;
		free(lk);
	}
	free(dns);
	*dnsp = NULL;
	if (--lib_refs == 0)
		ares_library_cleanup();
}
