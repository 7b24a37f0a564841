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

#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_dns.h"
#include "smtpd/queue_sched_priv.h"

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
	qs->tls_ctx = NULL;
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
	if (tls == NULL || strcmp(tls, "may") == 0)
		qs->relay_tls = QUEUE_TLS_MAY;
	else if (strcmp(tls, "none") == 0)
		qs->relay_tls = QUEUE_TLS_NONE;
	else if (strcmp(tls, "require") == 0)
		qs->relay_tls = QUEUE_TLS_REQUIRE;
	else {
		*why = "queued.relay_tls: expected none, may or require";
		return -1;
	}
	if (auth_file != NULL && auth_file[0] != '\0' &&
	    queue_route_auth_read(qs, auth_file, why) < 0)
		return -1;
	/* XXX: no certificate verification yet (the `verify` policy and
	 * queued.tls_ca_file are not done): TLS here protects against a
	 * passive listener only */
	if (qs->tls_ctx == NULL &&
	    (qs->tls_ctx = SSL_CTX_new(TLS_client_method())) != NULL) {
		SSL_CTX_set_min_proto_version(qs->tls_ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(qs->tls_ctx, SSL_VERIFY_NONE, NULL);
	}
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
	return qs->n_relay > 0 ? 0 : (*why = "queued.relay_host: no "
	    "address", -1);
}

int
queue_route_mx_init(struct queue_sched *qs, const char *resolver,
    unsigned timeout_ms, const char **why)
{
	/* XXX: opportunistic TLS without verification to MX hosts, as
	 * for the smarthost (no per-domain policy, no DANE/MTA-STS yet) */
	if (qs->tls_ctx == NULL &&
	    (qs->tls_ctx = SSL_CTX_new(TLS_client_method())) != NULL) {
		SSL_CTX_set_min_proto_version(qs->tls_ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(qs->tls_ctx, SSL_VERIFY_NONE, NULL);
	}
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
		/* RFC 5321 5.1: the hosts in order of preference (equal
		 * ones shuffled by queue_dns), each address in turn */
		for (h = 0; h < route->n_hosts; h++)
			for (k = 0; k < route->hosts[h].n_addr &&
			    n < QUEUE_MX_ADDRS_MAX; k++) {
				struct sockaddr_storage *sa = &m->maddr[n];

				memcpy(sa, &route->hosts[h].addr[k],
				    route->hosts[h].addr_len[k]);
				m->mlen[n] = route->hosts[h].addr_len[k];
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
		qs->remote_active++;
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
	qs->remote_active++;
	m->rlookup = lk;
	return 0;
}

/* Start the waiting transactions while sessions are free. */
static void
queue_route_next(struct queue_sched *qs)
{
	struct queue_msg *m;

	while (!qs->stopping && qs->remote_active < qs->o.remote_sessions &&
	    (m = qs->rwait_head) != NULL) {
		qs->rwait_head = m->rwnext;
		m->rwnext = NULL;
		m->rwaiting = 0;
		if (queue_route_go(m) < 0) {
			/* counted as a session that ended at once */
			qs->remote_active++;
			queue_route_done(m, &m->rtxn);
		}
	}
}

static void
queue_route_done(void *arg, struct queue_remote_txn *t)
{
	struct queue_msg *m = arg;
	struct queue_sched *qs = m->qs;
	size_t i;

	m->remote = NULL;	/* it says QUIT and frees itself */
	BUG_ON(qs->remote_active == 0);
	qs->remote_active--;
	for (i = 0; i < m->n_r; i++) {
		struct queue_att *a = &m->att[m->ratt[i]];

		a->rreply = t->replies[i];
		a->rdone = 1;
	}
	log_info("id=%s event=relay-session peer=%s rcpts=%zu data=%s "
	    "tls=%s", m->id, t->peer[0] ? t->peer : "none", m->n_r,
	    t->data_sent ? "yes" : "no", t->tls_done ? "yes" : "no");
	queue_route_fini(m);
	m->st = QM_RESOLVING;
	queue_msg_plan(m);	/* m may be gone after this */
	queue_route_next(qs);
}

int
queue_route_start(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	struct queue_remote_txn *t = &m->rtxn;
	struct stat sb;
	size_t i, n = 0;

	if ((qs->n_relay == 0 && qs->dns == NULL) || qs->stopping)
		return 0;
	for (i = 0; i < m->n_att; i++)
		n += queue_route_wanted(&m->att[i]);
	if (n == 0)
		return 0;
	/* MX delivery: one domain per transaction (the first one waiting;
	 * the others follow when queue_msg_plan comes back here) */
	if (qs->n_relay == 0) {
		for (i = 0; i < m->n_att; i++)
			if (queue_route_wanted(&m->att[i]))
				break;
		m->rdomain = queue_route_dup(queue_route_domain(
		    m->env.rcpts[m->att[i].idx].addr));
	}
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
	if (t->fd < 0 || fstat(t->fd, &sb) < 0) {
		log_err_errno("id=%s event=unreadable", m->id);
		for (i = 0; i < m->n_r; i++) {
			struct queue_att *a = &m->att[m->ratt[i]];

			a->rdone = 1;
			a->rreply.code = 451;
			snprintf(a->rreply.enh, sizeof(a->rreply.enh), "4.3.0");
			snprintf(a->rreply.text, sizeof(a->rreply.text),
			    "the queue file cannot be read");
		}
		queue_route_fini(m);
		return 0;
	}
	m->envid = queue_route_dup(m->env.envid);
	t->addrs = qs->relay_addr;
	t->addr_lens = qs->relay_len;
	t->n_addrs = qs->n_relay;
	t->helo = qs->o.hostname;
	t->tls = (enum queue_remote_tls)qs->relay_tls;
	t->tls_ctx = qs->tls_ctx;
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
	t->connect_s = 30;
	t->timeout_s = qs->o.remote_timeout_s;
	t->replies = m->rreplies;
	m->st = QM_REMOTE;
	/* XXX: no reuse of a connection for the next message yet, and no
	 * per-destination limit (one relay: remote_sessions is it) */
	if (qs->remote_active >= qs->o.remote_sessions) {
		struct queue_msg **pp = &qs->rwait_head;

		while (*pp != NULL)
			pp = &(*pp)->rwnext;
		*pp = m;
		m->rwaiting = 1;
		return 1;
	}
	if (queue_route_go(m) < 0) {
		/* rare (the resolver refused the query): every remote
		 * recipient of this attempt, of any domain, is deferred */
		struct lmtp_reply r = m->rreplies[0];

		for (i = 0; i < m->n_att; i++) {
			struct queue_att *a = &m->att[i];

			if (!queue_route_wanted(a))
				continue;
			a->rreply = r;
			a->rdone = 1;
		}
		queue_route_fini(m);
		m->st = QM_RESOLVING;
		return 0;
	}
	return 1;
}

void
queue_route_fini(struct queue_msg *m)
{
	struct queue_sched *qs = m->qs;
	size_t i;

	if (m->rwaiting) {
		struct queue_msg **pp = &qs->rwait_head;

		while (*pp != NULL && *pp != m)
			pp = &(*pp)->rwnext;
		if (*pp == m)
			*pp = m->rwnext;
		m->rwnext = NULL;
		m->rwaiting = 0;
	}
	if (m->remote != NULL || m->rlookup != NULL) {
		BUG_ON(qs->remote_active == 0);
		qs->remote_active--;
	}
	if (m->rlookup != NULL) {
		m->rlookup->alive = 0;	/* the callback frees it */
		m->rlookup = NULL;
	}
	free(m->rdomain);
	free(m->maddr);
	free(m->mlen);
	m->rdomain = NULL;
	m->maddr = NULL;
	m->mlen = NULL;
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
