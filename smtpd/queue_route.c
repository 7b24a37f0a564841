/* queued: the remote recipients of an attempt, sent through the smarthost before the local ones go to the MDA. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_route.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "common/dkim.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_dkim.h"
#include "smtpd/queue_dns.h"
#include "smtpd/queue_sched_priv.h"

/* ---- TLS policy (pure) ---- */

int
queue_route_tls_name(const char *s, size_t n)
{
#define IS(w) (n == sizeof(w) - 1 && strncasecmp(s, w, n) == 0)
	if (IS("may"))
		return QUEUE_TLS_MAY;
	if (IS("none"))
		return QUEUE_TLS_NONE;
	if (IS("require"))
		return QUEUE_TLS_REQUIRE;
	if (IS("verify"))
		return QUEUE_TLS_VERIFY;
#undef IS
	return -1;
}

int
queue_route_tls_policy(const char *spec, const char *domain, int *out)
{
	size_t dl = strlen(domain), i = 0, e, c;
	int star = -1, mine = -1, pol;

	*out = QUEUE_TLS_MAY;
	if (spec == NULL)
		return 0;
	for (;;) {
		while (spec[i] == ' ' || spec[i] == ',' || spec[i] == '\t')
			i++;
		if (spec[i] == '\0')
			break;
		for (e = i; spec[e] && spec[e] != ' ' && spec[e] != ',' &&
		    spec[e] != '\t'; e++)
			;
		/* the last ':' splits DOMAIN:POLICY */
		for (c = e; c > i && spec[c - 1] != ':'; c--)
			;
		if (c <= i + 1 || (pol = queue_route_tls_name(spec + c,
		    e - c)) < 0)
			return -1;
		if (c - 1 - i == 1 && spec[i] == '*')
			star = pol;
		else if (c - 1 - i == dl && strncasecmp(spec + i, domain,
		    dl) == 0 && mine < 0)
			mine = pol;
		i = e;
	}
	*out = mine >= 0 ? mine : star >= 0 ? star : QUEUE_TLS_MAY;
	return 0;
}

static SSL_CTX *
queue_route_ctx(int verify, const char *ca_file, const char **why)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*why = "TLS: cannot make a client context";
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (!verify) {
		/* opportunistic TLS (RFC 7435): any certificate will do,
		 * it still beats clear text */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* loaded now, before a chroot could hide them */
	if (ca_file != NULL && ca_file[0] != '\0' ?
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		*why = "queued.tls_ca_file: cannot load the CA certificates";
		return NULL;
	}
	return ctx;
}

int
queue_route_tls_init(struct queue_sched *qs, const char *ca_file,
    const char *policy, const char **why)
{
	int x;

	if (queue_route_tls_policy(policy, "", &x) < 0) {
		*why = "queued.tls_policy: expected DOMAIN:POLICY, ... with "
		    "POLICY none, may, require or verify";
		return -1;
	}
	if (policy != NULL && policy[0] != '\0')
		qs->tls_policy = xstrdup(policy);
	if ((qs->tls_ctx = queue_route_ctx(0, NULL, why)) == NULL ||
	    (qs->tls_vctx = queue_route_ctx(1, ca_file, why)) == NULL)
		return -1;
	return 0;
}

/* ---- destinations ---- */

/* The destination called name ("" for the smarthost), made if new;
 * unused ones whose backoff is over are dropped on the way. */
static struct queue_dest *
queue_dest_get(struct queue_sched *qs, const char *name)
{
	struct queue_dest **pp = &qs->dests, *d;
	int64_t now = queue_now_ms();

	while ((d = *pp) != NULL) {
		if (strcasecmp(d->name, name) == 0)
			return d;
		if (d->refs == 0 && d->down_until_ms <= now) {
			*pp = d->next;
			free(d->name);
			free(d);
			continue;
		}
		pp = &d->next;
	}
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->next = qs->dests;
	qs->dests = d;
	return d;
}

void
queue_route_flush(struct queue_sched *qs)
{
	for (struct queue_dest *d = qs->dests; d != NULL; d = d->next) {
		d->fails = 0;
		d->down_until_ms = 0;
	}
}

/* A transaction of m starts (+1) or ends (-1). */
static void
queue_route_count(struct queue_msg *m, int delta)
{
	struct queue_sched *qs = m->qs;

	if (delta > 0) {
		qs->remote_active++;
		m->rdest->active++;
		return;
	}
	BUG_ON(qs->remote_active == 0 || m->rdest->active == 0);
	qs->remote_active--;
	m->rdest->active--;
}

static void
queue_dest_push(struct queue_dest *d, struct queue_msg *m)
{
	m->rwnext = NULL;
	if (d->wait_tail != NULL)
		d->wait_tail->rwnext = m;
	else
		d->wait_head = m;
	d->wait_tail = m;
	m->rwaiting = 1;
}

static struct queue_msg *
queue_dest_pop(struct queue_dest *d)
{
	struct queue_msg *m = d->wait_head;

	if (m == NULL)
		return NULL;
	d->wait_head = m->rwnext;
	if (d->wait_head == NULL)
		d->wait_tail = NULL;
	m->rwnext = NULL;
	m->rwaiting = 0;
	return m;
}

static void
queue_dest_unwait(struct queue_dest *d, struct queue_msg *m)
{
	struct queue_msg **pp = &d->wait_head, *prev = NULL;

	while (*pp != NULL && *pp != m) {
		prev = *pp;
		pp = &(*pp)->rwnext;
	}
	if (*pp == m) {
		*pp = m->rwnext;
		if (d->wait_tail == m)
			d->wait_tail = prev;
	}
	m->rwnext = NULL;
	m->rwaiting = 0;
}

/* 1 if d is backing off now (a 4.4.1 reply for its recipients in r). */
static int
queue_dest_down(const struct queue_dest *d, struct lmtp_reply *r)
{
	int64_t now = queue_now_ms();

	if (d->down_until_ms <= now)
		return 0;
	memset(r, 0, sizeof(*r));
	r->code = 451;
	snprintf(r->enh, sizeof(r->enh), "4.4.1");
	snprintf(r->text, sizeof(r->text), "%s%s not tried for %llds after "
	    "a failure: %.150s", d->name[0] ? "" : "the smarthost",
	    d->name, (long long)((d->down_until_ms - now + 999) / 1000),
	    d->why);
	return 1;
}

/* After a transaction of d: reaching it clears its backoff; failing to
 * (a 4xx before MAIL was answered: DNS, connection, greeting, TLS, AUTH)
 * starts or lengthens it.  Failures while it is already down (sessions
 * that started before) do not count twice. */
static void
queue_dest_result(struct queue_sched *qs, struct queue_dest *d,
    const struct queue_remote_txn *t, const struct lmtp_reply *r0)
{
	int64_t now = queue_now_ms(), delay;
	unsigned i;

	if (t->reached) {
		if (d->fails > 0)
			log_info("event=destination-up dest=%s",
			    d->name[0] ? d->name : "[smarthost]");
		d->fails = 0;
		d->down_until_ms = 0;
		return;
	}
	if (r0 == NULL || lmtp_reply_class(r0) != 4 ||
	    d->down_until_ms > now)
		return;
	d->fails++;
	delay = qs->o.retry_min_ms > 0 ? qs->o.retry_min_ms : 60000;
	for (i = 1; i < d->fails && delay < (int64_t)qs->o.retry_max_ms; i++)
		delay *= 2;
	if (qs->o.retry_max_ms > 0 && delay > (int64_t)qs->o.retry_max_ms)
		delay = qs->o.retry_max_ms;
	d->down_until_ms = now + delay;
	snprintf(d->why, sizeof(d->why), "%d %s %.120s", r0->code, r0->enh,
	    r0->text);
	log_info("event=destination-down dest=%s fails=%u retry_in_ms=%lld "
	    "reason=\"%s\"", d->name[0] ? d->name : "[smarthost]", d->fails,
	    (long long)delay, d->why);
}

int
queue_route_relay_parse(const char *s, char *host, size_t hostsz,
    uint16_t *port_out)
{
	const char *end, *colon;
	unsigned long port = 25;
	char *e;
	size_t n;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		n = (size_t)(end - s - 1);
		s++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			return -1;	/* IPv6 needs brackets */
		n = colon != NULL ? (size_t)(colon - s) : strlen(s);
	}
	if (n == 0 || n >= hostsz)
		return -1;
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (colon[1] == '\0' || *e != '\0' || errno != 0 ||
		    port == 0 || port > 65535)
			return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	*port_out = (uint16_t)port;
	return 0;
}

void
queue_route_relay_fini(struct queue_sched *qs)
{
	queue_dns_free(&qs->dns);
	SSL_CTX_free(qs->tls_ctx);
	SSL_CTX_free(qs->tls_vctx);
	qs->tls_ctx = qs->tls_vctx = NULL;
	queue_dkim_free(&qs->dkim);
	free(qs->tls_policy);
	free(qs->relay_name);
	qs->tls_policy = qs->relay_name = NULL;
	while (qs->dests != NULL) {
		struct queue_dest *d = qs->dests;

		qs->dests = d->next;
		free(d->name);
		free(d);
	}
	if (qs->relay_pass != NULL)
		sodium_memzero(qs->relay_pass, strlen(qs->relay_pass));
	free(qs->relay_user);
	free(qs->relay_pass);
	qs->relay_user = qs->relay_pass = NULL;
}

int
queue_route_auth_parse(const char *in, char *user, size_t usersz,
    char *pass, size_t passsz)
{
	size_t u = 0, p;

	while (in[u] != '\0' && in[u] != ' ' && in[u] != '\t' &&
	    in[u] != '\n' && in[u] != '\r')
		u++;
	if (u == 0 || u >= usersz || (in[u] != ' ' && in[u] != '\t'))
		return -1;
	memcpy(user, in, u);
	user[u] = '\0';
	in += u;
	while (*in == ' ' || *in == '\t')
		in++;
	for (p = 0; in[p] != '\0' && in[p] != '\n' && in[p] != '\r'; p++)
		;
	if (p == 0 || p >= passsz)
		return -1;
	memcpy(pass, in, p);
	pass[p] = '\0';
	return 0;
}

/* Read the smarthost's credentials; refuse a file others could read. */
static int
queue_route_auth_read(struct queue_sched *qs, const char *path,
    const char **why)
{
	char buf[1024], user[256], pass[512];
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		*why = "queued.relay_auth_file: cannot open it";
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		*why = "queued.relay_auth_file: not a regular file";
		return -1;
	}
	if ((sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
		close(fd);
		*why = "queued.relay_auth_file: must be owned by the queue "
		    "user and mode 0600 or less (it holds a password)";
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		*why = "queued.relay_auth_file: cannot read it";
		return -1;
	}
	buf[n] = '\0';
	if (queue_route_auth_parse(buf, user, sizeof(user), pass,
	    sizeof(pass)) < 0) {
		sodium_memzero(buf, sizeof(buf));
		*why = "queued.relay_auth_file: expected one line \"user "
		    "password\"";
		return -1;
	}
	qs->relay_user = xstrdup(user);
	qs->relay_pass = xstrdup(pass);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(pass, sizeof(pass));
	return 0;
}

int
queue_route_relay_init(struct queue_sched *qs, const char *relay,
    const char *tls, const char *auth_file, const char **why)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[8];
	uint16_t p;
	int rc;

	qs->n_relay = 0;
	if (relay == NULL || relay[0] == '\0')
		return 0;
	if ((qs->relay_tls = tls == NULL ? QUEUE_TLS_MAY :
	    queue_route_tls_name(tls, strlen(tls))) < 0) {
		*why = "queued.relay_tls: expected none, may, require or "
		    "verify";
		return -1;
	}
	if (auth_file != NULL && auth_file[0] != '\0' &&
	    queue_route_auth_read(qs, auth_file, why) < 0)
		return -1;
	if (queue_route_relay_parse(relay, host, sizeof(host), &p) < 0) {
		*why = "queued.relay_host: expected HOST:PORT or [HOST]:PORT";
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* XXX: resolved once at start with the system resolver until
	 * queue_dns (feat/dns) lands; a later change of its addresses
	 * needs a restart */
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*why = "queued.relay_host: the host does not resolve";
		log_err("event=relay-host-unresolved host=%s error=\"%s\"",
		    host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && qs->n_relay < QUEUE_RELAY_ADDRS_MAX;
	    ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(qs->relay_addr[0]))
			continue;
		memcpy(&qs->relay_addr[qs->n_relay], ai->ai_addr,
		    ai->ai_addrlen);
		qs->relay_len[qs->n_relay++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	/* the name its certificate must show (verify) and SNI */
	qs->relay_name = xstrdup(host);
	for (size_t i = 0; i < qs->n_relay; i++)
		qs->relay_names[i] = qs->relay_name;
	return qs->n_relay > 0 ? 0 : (*why = "queued.relay_host: no "
	    "address", -1);
}

int
queue_route_mx_init(struct queue_sched *qs, const char *resolver,
    unsigned timeout_ms, const char **why)
{
	/* TLS per domain: queued.tls_policy (no DANE or MTA-STS yet) */
	qs->relay_tls = QUEUE_TLS_MAY;
	qs->dns = queue_dns_new(qs->loop, resolver != NULL &&
	    resolver[0] != '\0' ? resolver : NULL,
	    timeout_ms ? timeout_ms : 5000, why);
	return qs->dns != NULL ? 0 : -1;
}

/* span_dup, also of an empty span (whose pointer may be NULL) */
static char *
queue_route_dup(struct span s)
{
	return s.n > 0 ? span_dup(s) : xstrdup("");
}

static int
queue_route_wanted(const struct queue_att *a)
{
	/* XXX: forward targets to remote addresses are still held */
	return a->kind == IPC_RESOLVE_REMOTE && !a->forward && !a->rdone;
}

static void queue_route_done(void *arg, struct queue_remote_txn *t);

/* The domain of an address (after its last '@'), or empty. */
static struct span
queue_route_domain(struct span addr)
{
	size_t i = addr.n;

	while (i > 0 && addr.p[i - 1] != '@')
		i--;
	return i > 0 ? span_make(addr.p + i, addr.n - i) : span_make("", 0);
}

/* A pending MX lookup; alive is cleared when its message lets go. */
struct queue_route_lookup {
	struct queue_msg *m;
	int alive;
};

/* Every recipient of this transaction gets the same reply. */
static void __attribute__((format(printf, 4, 5)))
queue_route_all(struct queue_msg *m, int code, const char *enh,
    const char *fmt, ...)
{
	char text[LMTP_REPLY_TEXT_MAX];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; i < m->n_r; i++) {
		struct lmtp_reply *r = &m->rreplies[i];

		memset(r, 0, sizeof(*r));
		r->code = code;
		snprintf(r->enh, sizeof(r->enh), "%s", enh);
		snprintf(r->text, sizeof(r->text), "%s", text);
	}
}

static void
queue_route_dns_cb(void *arg, const struct queue_dns_route *route)
{
	struct queue_route_lookup *lk = arg;
	struct queue_msg *m = lk->m;
	struct queue_sched *qs;
	size_t h, k, n = 0;

	if (!lk->alive) {
		free(lk);
		return;
	}
	free(lk);
	m->rlookup = NULL;
	qs = m->qs;
	switch (route->status) {
	case QUEUE_DNS_OK:
		m->maddr = xcalloc(QUEUE_MX_ADDRS_MAX, sizeof(*m->maddr));
		m->mlen = xcalloc(QUEUE_MX_ADDRS_MAX, sizeof(*m->mlen));
		m->mnames = xcalloc(QUEUE_MX_ADDRS_MAX, sizeof(*m->mnames));
		/* RFC 5321 5.1: the hosts in order of preference (equal
		 * ones shuffled by queue_dns), each address in turn */
		for (h = 0; h < route->n_hosts; h++)
			for (k = 0; k < route->hosts[h].n_addr &&
			    n < QUEUE_MX_ADDRS_MAX; k++) {
				struct sockaddr_storage *sa = &m->maddr[n];

				memcpy(sa, &route->hosts[h].addr[k],
				    route->hosts[h].addr_len[k]);
				m->mlen[n] = route->hosts[h].addr_len[k];
				m->mnames[n] = xstrdup(route->hosts[h].name);
				if (sa->ss_family == AF_INET)
					((struct sockaddr_in *)sa)->sin_port =
					    htons((uint16_t)qs->o.mx_port);
				else
					((struct sockaddr_in6 *)sa)->sin6_port =
					    htons((uint16_t)qs->o.mx_port);
				n++;
			}
		if (n == 0) {
			queue_route_all(m, 451, "4.4.4", "no address for the "
			    "mail servers of %s", m->rdomain);
			break;
		}
		m->rtxn.addrs = m->maddr;
		m->rtxn.addr_lens = m->mlen;
		m->rtxn.addr_names = (const char *const *)m->mnames;
		m->rtxn.n_addrs = n;
		log_info("id=%s event=route domain=%s addresses=%zu", m->id,
		    m->rdomain, n);
		m->remote = queue_remote_start(qs->loop, &qs->remotes,
		    &m->rtxn, queue_route_done, m);
		return;
	case QUEUE_DNS_NULLMX:
		/* RFC 7505 3: the domain takes no mail; fail at once */
		queue_route_all(m, 556, "5.1.10", "%s does not accept mail "
		    "(null MX)", m->rdomain);
		break;
	case QUEUE_DNS_PERM:
		queue_route_all(m, 550, "5.1.2", "no mail server for the "
		    "domain: %s", route->why);
		break;
	default:
		queue_route_all(m, 451, "4.4.3", "DNS lookup failed, will "
		    "retry: %s", route->why);
		break;
	}
	queue_route_done(m, &m->rtxn);
}

/* Run m's transaction: the smarthost, or look up its domain's MX.
 * -1: the lookup could not start; every reply says so (451) and no
 * session is counted. */
static int
queue_route_go(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	struct queue_route_lookup *lk;

	if (qs->n_relay > 0) {
		queue_route_count(m, 1);
		m->remote = queue_remote_start(qs->loop, &qs->remotes,
		    &m->rtxn, queue_route_done, m);
		return 0;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->m = m;
	lk->alive = 1;
	if (queue_dns_route(qs->dns, m->rdomain, queue_route_dns_cb,
	    lk) < 0) {
		free(lk);
		queue_route_all(m, 451, "4.4.3", "DNS lookup could not "
		    "start for %s", m->rdomain);
		return -1;
	}
	queue_route_count(m, 1);
	m->rlookup = lk;
	return 0;
}

/* Start waiting transactions while sessions are free: one per
 * destination with room in each pass, so every destination moves. */
static void
queue_route_next(struct queue_sched *qs)
{
	struct queue_dest *d;
	struct queue_msg *m;
	struct lmtp_reply r;
	int progress = 1;

	if (qs->in_next)
		return;		/* the outer call goes on */
	qs->in_next = 1;
	while (progress && !qs->stopping &&
	    qs->remote_active < qs->o.remote_sessions) {
		progress = 0;
		for (d = qs->dests; d != NULL && !qs->stopping &&
		    qs->remote_active < qs->o.remote_sessions; d = d->next) {
			if (d->wait_head == NULL ||
			    d->active >= qs->o.dest_sessions)
				continue;
			m = queue_dest_pop(d);
			progress = 1;
			if (queue_dest_down(d, &r)) {
				for (size_t i = 0; i < m->n_r; i++)
					m->rreplies[i] = r;
			} else if (queue_route_go(m) == 0) {
				continue;
			}
			/* counted as a session that ended at once; the
			 * list may change under us: start over */
			queue_route_count(m, 1);
			queue_route_done(m, &m->rtxn);
			break;
		}
	}
	qs->in_next = 0;
}

/* queue_remote_more_fn: the next message waiting for the destination
 * that l just delivered to goes over the same connection. */
static struct queue_remote_txn *
queue_route_more(void *arg, struct queue_remote *l,
    const struct queue_remote_txn *prev, queue_remote_done_fn **done,
    void **done_arg)
{
	struct queue_sched *qs = arg;
	struct queue_msg *pm = (struct queue_msg *)(void *)((const char *)
	    prev - offsetof(struct queue_msg, rtxn));
	struct queue_msg *m;

	if (qs->stopping || pm->rdest == NULL ||
	    (m = queue_dest_pop(pm->rdest)) == NULL)
		return NULL;
	queue_route_count(m, 1);
	m->remote = l;
	*done = queue_route_done;
	*done_arg = m;
	log_info("id=%s event=relay-reuse peer=%s nth=%u", m->id, prev->peer,
	    prev->nth + 1);
	return &m->rtxn;
}

static void
queue_route_done(void *arg, struct queue_remote_txn *t)
{
	struct queue_msg *m = arg;
	struct queue_sched *qs = m->qs;
	size_t i;

	m->remote = NULL;	/* it goes on, or says QUIT, by itself */
	queue_route_count(m, -1);
	queue_dest_result(qs, m->rdest, t, m->n_r > 0 ? &t->replies[0] :
	    NULL);
	for (i = 0; i < m->n_r; i++) {
		struct queue_att *a = &m->att[m->ratt[i]];

		a->rreply = t->replies[i];
		a->rdone = 1;
		a->rdsn = t->ext.dsn;
	}
	log_info("id=%s event=relay-session peer=%s rcpts=%zu data=%s "
	    "tls=%s pipelining=%s bdat=%s dkim=%s nth=%u", m->id,
	    t->peer[0] ? t->peer : "none", m->n_r, t->data_sent ? "yes" :
	    "no", t->tls_done ? "yes" : "no", t->pipelined ? "yes" : "no",
	    t->chunked ? "yes" : "no", t->prefix_len ? "yes" : "no", t->nth);
	queue_route_fini(m);
	m->st = QM_RESOLVING;
	queue_msg_plan(m);	/* m may be gone after this */
	queue_route_next(qs);
}

/* Sign m once, at its first remote attempt (the signature stays valid
 * for later ones).  -1: the file could not be read. */
static int
queue_route_sign(struct queue_msg *m, int fd, uint64_t end)
{
	struct queue_sched *qs = m->qs;
	char why[256] = "", dom[256];
	struct buf out;
	enum queue_dkim_rc rc;

	if (qs->dkim == NULL || m->dkim_done)
		return 0;
	buf_init(&out, 1024, 4 * DKIM_SIG_MAX);
	/* XXX: on the loop; an RSA-2048 signature costs about 1 ms */
	rc = queue_dkim_sign(qs->dkim, fd, m->body_off, end,
	    (int64_t)time(NULL), &out, dom, sizeof(dom), why, sizeof(why));
	if (rc == QUEUE_DKIM_ERROR) {
		buf_fini(&out);
		log_err("id=%s event=dkim-failed reason=\"%s\"", m->id, why);
		return -1;
	}
	m->dkim_done = 1;
	if (rc == QUEUE_DKIM_SIGNED) {
		m->dkim_len = out.len;
		m->dkim = xmalloc(out.len);
		memcpy(m->dkim, out.data, out.len);
		log_info("id=%s event=dkim-signed domain=%s", m->id, dom);
	} else if (why[0] != '\0') {
		log_warn("id=%s event=dkim-unsigned domain=%s reason=\"%s\"",
		    m->id, dom, why);
	}
	buf_fini(&out);
	return 0;
}

/* Every remote rcpt of m waiting for dom (NULL: all) gets r now. */
static void
queue_route_skip(struct queue_msg *m, const char *dom,
    const struct lmtp_reply *r)
{
	for (size_t i = 0; i < m->n_att; i++) {
		struct queue_att *a = &m->att[i];

		if (!queue_route_wanted(a) || (dom != NULL && !span_eq_ci(
		    queue_route_domain(m->env.rcpts[a->idx].addr), dom)))
			continue;
		a->rreply = *r;
		a->rdone = 1;
	}
}

/* queue_route_start's work for one transaction: 1 started or waiting,
 * 0 nothing to send, 2 answered at once (go on with the next). */
static int
queue_route_one(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	struct queue_remote_txn *t = &m->rtxn;
	struct queue_dest *d;
	struct lmtp_reply down;
	struct stat sb;
	size_t i, n;
	int pol = QUEUE_TLS_MAY;

	if ((qs->n_relay == 0 && qs->dns == NULL) || qs->stopping)
		return 0;
	/* MX delivery: one domain per transaction (the first one waiting;
	 * the others follow when queue_msg_plan comes back here); a
	 * destination backing off answers for its recipients at once */
	for (;;) {
		struct span dom = span_make("", 0);

		for (n = 0, i = 0; i < m->n_att; i++)
			if (queue_route_wanted(&m->att[i]) && n++ == 0)
				dom = queue_route_domain(
				    m->env.rcpts[m->att[i].idx].addr);
		if (n == 0)
			return 0;
		free(m->rdomain);
		m->rdomain = qs->n_relay == 0 ? queue_route_dup(dom) : NULL;
		d = queue_dest_get(qs, m->rdomain != NULL ? m->rdomain : "");
		if (!queue_dest_down(d, &down))
			break;
		queue_route_skip(m, m->rdomain, &down);
	}
	m->rdest = d;
	d->refs++;
	m->ratt = xcalloc(n, sizeof(*m->ratt));
	m->rrcpts = xcalloc(n, sizeof(*m->rrcpts));
	m->rorcpt = xcalloc(n, sizeof(*m->rorcpt));
	m->rnotify = xcalloc(n, sizeof(*m->rnotify));
	m->rreplies = xcalloc(n, sizeof(*m->rreplies));
	for (i = 0; i < m->n_att && m->n_r < n; i++) {
		const struct envelope_rcpt *er;

		if (!queue_route_wanted(&m->att[i]))
			continue;
		er = &m->env.rcpts[m->att[i].idx];
		if (m->rdomain != NULL && !span_eq_ci(queue_route_domain(
		    er->addr), m->rdomain))
			continue;
		m->ratt[m->n_r] = i;
		m->rrcpts[m->n_r] = queue_route_dup(er->addr);
		m->rorcpt[m->n_r] = queue_route_dup(er->orcpt);
		m->rnotify[m->n_r] = er->notify;
		m->n_r++;
	}
	memset(t, 0, sizeof(*t));
	t->fd = openat(qs->sp->queue_fd, m->id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (t->fd < 0 || fstat(t->fd, &sb) < 0 ||
	    queue_route_sign(m, t->fd, (uint64_t)sb.st_size) < 0) {
		log_err_errno("id=%s event=unreadable", m->id);
		memset(&down, 0, sizeof(down));
		down.code = 451;
		snprintf(down.enh, sizeof(down.enh), "4.3.0");
		snprintf(down.text, sizeof(down.text), "the queue file cannot "
		    "be read");
		queue_route_fini(m);
		queue_route_skip(m, NULL, &down);	/* every domain */
		return 0;
	}
	if (m->rdomain != NULL && queue_route_tls_policy(qs->tls_policy,
	    m->rdomain, &pol) < 0)
		pol = QUEUE_TLS_MAY;	/* checked at start */
	m->envid = queue_route_dup(m->env.envid);
	t->addrs = qs->relay_addr;
	t->addr_lens = qs->relay_len;
	t->addr_names = qs->relay_names;
	t->n_addrs = qs->n_relay;
	t->helo = qs->o.hostname;
	t->tls = (enum queue_remote_tls)(qs->n_relay > 0 ? qs->relay_tls :
	    pol);
	t->tls_ctx = qs->tls_ctx;
	t->tls_vctx = qs->tls_vctx;
	t->auth_user = qs->relay_user;
	t->auth_pass = qs->relay_pass;
	if (m->from == NULL)
		m->from = queue_route_dup(m->env.from);
	t->from = m->from;
	t->body_8bit = m->env.body != ENV_BODY_7BIT;
	t->smtputf8 = m->env.smtputf8;
	t->ret = m->env.ret;
	t->envid = m->envid;
	t->rcpts = (const char *const *)m->rrcpts;
	t->orcpt = (const char *const *)m->rorcpt;
	t->notify = m->rnotify;
	t->n_rcpts = m->n_r;
	t->off = m->body_off;
	t->end = (uint64_t)sb.st_size;
	t->prefix = m->dkim;
	t->prefix_len = m->dkim_len;
	t->connect_s = 30;
	t->timeout_s = qs->o.remote_timeout_s;
	t->replies = m->rreplies;
	m->st = QM_REMOTE;
	/* wait for a session (or a connection to the destination that
	 * ends its message: queue_route_more) */
	if (qs->remote_active >= qs->o.remote_sessions ||
	    d->active >= qs->o.dest_sessions) {
		queue_dest_push(d, m);
		return 1;
	}
	if (queue_route_go(m) < 0) {
		/* rare (the resolver refused the query): this domain's
		 * recipients are deferred, the next domain is tried */
		for (i = 0; i < m->n_r; i++) {
			struct queue_att *a = &m->att[m->ratt[i]];

			a->rreply = m->rreplies[i];
			a->rdone = 1;
		}
		queue_route_fini(m);
		m->st = QM_RESOLVING;
		return 2;
	}
	return 1;
}

int
queue_route_init(struct queue_sched *qs, const struct queue_sched_opts *o,
    const char **why)
{
	if (qs->o.dest_sessions == 0)
		qs->o.dest_sessions = 20;
	qs->remotes.more = queue_route_more;
	qs->remotes.more_arg = qs;
	if (o->dkim_dir != NULL)
		qs->dkim = queue_dkim_new(o->dkim_dir);
	if (queue_route_tls_init(qs, o->tls_ca_file, o->tls_policy, why) < 0 ||
	    queue_route_relay_init(qs, o->relay_host, o->relay_tls,
	    o->relay_auth_file, why) < 0)
		return -1;
	if (qs->n_relay == 0 && queue_route_mx_init(qs, o->resolver,
	    o->resolver_timeout_ms, why) < 0)
		return -1;
	return 0;
}

int
queue_route_start(struct queue_msg *m)
{
	int rc;

	while ((rc = queue_route_one(m)) == 2)
		;
	return rc;
}

void
queue_route_fini(struct queue_msg *m)
{
	size_t i;

	if (m->rwaiting)
		queue_dest_unwait(m->rdest, m);
	if (m->remote != NULL || m->rlookup != NULL)
		queue_route_count(m, -1);
	if (m->rlookup != NULL) {
		m->rlookup->alive = 0;	/* the callback frees it */
		m->rlookup = NULL;
	}
	if (m->rdest != NULL) {
		BUG_ON(m->rdest->refs == 0);
		m->rdest->refs--;
		m->rdest = NULL;
	}
	free(m->rdomain);
	free(m->maddr);
	free(m->mlen);
	for (i = 0; m->mnames != NULL && i < QUEUE_MX_ADDRS_MAX; i++)
		free(m->mnames[i]);
	free(m->mnames);
	m->rdomain = NULL;
	m->maddr = NULL;
	m->mlen = NULL;
	m->mnames = NULL;
	queue_remote_cancel(&m->remote);
	for (i = 0; i < m->n_r; i++) {
		free(m->rrcpts[i]);
		free(m->rorcpt[i]);
	}
	if (m->ratt != NULL && m->rtxn.fd >= 0)
		close(m->rtxn.fd);
	free(m->ratt);
	free(m->rrcpts);
	free(m->rorcpt);
	free(m->rnotify);
	free(m->rreplies);
	free(m->envid);
	m->ratt = NULL;
	m->rrcpts = m->rorcpt = NULL;
	m->rnotify = NULL;
	m->rreplies = NULL;
	m->envid = NULL;
	m->n_r = 0;
	memset(&m->rtxn, 0, sizeof(m->rtxn));
	m->rtxn.fd = -1;
}
