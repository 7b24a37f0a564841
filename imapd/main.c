/* letterbox-imapd: IMAP on 143 (STARTTLS) and 993 (TLS) over each user's Maildir and index. */
/* SPDX-License-Identifier: ISC */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/daemon.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/net.h"
#include "common/tlsw.h"
#include "common/wpool.h"
#include "common/xmem.h"
#include "imapd/imap_coro.h"
#include "imapd/imapd.h"

/* How long imapd waits for authd before answering [SYS/TEMP]. */
#define IMAPD_IPC_TIMEOUT 60.0

static const enum cfg_listener_kind imapd_kinds[] = {
	CFG_LISTEN_IMAP, CFG_LISTEN_IMAPS,
};

static struct imapd imapd;
static struct daemon_ctx ctx;

static void
accept_cb(void *arg, int fd, const struct sockaddr *peer, socklen_t len,
    uintptr_t tag)
{
	imap_sess_new(arg, fd, peer, len, (enum cfg_listener_kind)tag);
}

static void
refuse_cb(void *arg, int fd, const struct sockaddr *peer, socklen_t len,
    uintptr_t tag, const char *why)
{
	struct imapd *d = arg;
	const struct cfg_listener *l = cfg_listener_find(d->cfg,
	    (enum cfg_listener_kind)tag);
	char ip[NET_PEER_STRLEN], line[256];
	int n;

	net_peer_str(peer, ip, sizeof(ip));
	log_notice("event=refused ip=%s reason=\"%s\"", ip, why);
	/* No plain text on an implicit-TLS port: just close. */
	if (l != NULL && l->tls != CFG_TLS_IMPLICIT) {
		n = snprintf(line, sizeof(line), "* BYE [UNAVAILABLE] %s; "
		    "try again later\r\n", why);
		if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("event=refuse-reply-lost ip=%s", ip);
	}
	close(fd);
}

static void
sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	size_t i;

	if (imapd.stopping)
		return;
	imapd.stopping = 1;
	log_notice("event=stopping sessions=%u", imapd.n_sessions);
	for (i = 0; i < CFG_LISTEN_KIND_MAX; i++)
		if (imapd.srv[i] != NULL)
			net_server_pause(imapd.srv[i]);
	if (imapd.n_sessions == 0)
		ev_break(loop, EVBREAK_ALL);
	else
		imap_sess_stop_all(&imapd);
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	/* New settings apply to new sessions; the TLS key is read as root,
	 * so a new certificate arrives with a new imapd (docs/imapd.md). */
	if (daemon_reload(&ctx) == 0)
		imapd.cfg = ctx.cfg;
}

static void
listeners_open(struct imapd *d)
{
	size_t i, k, n;
	int fds[CFG_MAX_ADDRS * 2];

	for (i = 0; i < sizeof(imapd_kinds) / sizeof(imapd_kinds[0]); i++) {
		enum cfg_listener_kind kind = imapd_kinds[i];
		const struct cfg_listener *l = cfg_listener_find(d->cfg, kind);
		struct net_server_opts o;

		n = daemon_fds(&ctx, cfg_listener_kind_name(kind), fds,
		    sizeof(fds) / sizeof(fds[0]));
		if (n == 0 || l == NULL)
			continue;
		o.max_connections = l->max_connections;
		o.max_per_ip = l->max_per_ip;
		d->srv[kind] = net_server_new(d->loop, &o, accept_cb,
		    refuse_cb, d);
		for (k = 0; k < n; k++)
			if (net_server_add(d->srv[kind], fds[k],
			    (uintptr_t)kind) != 0)
				fatal("imapd: too many listening sockets");
		log_info("event=listening listener=%s sockets=%zu tls=%s",
		    l->name, n, l->tls == CFG_TLS_IMPLICIT ? "implicit" :
		    l->tls == CFG_TLS_STARTTLS ? "starttls" : "none");
	}
}

/*
 * A burst of logins leaves the heap holding the freed TLS handshake and
 * command buffers between the sessions that stayed, and glibc keeps
 * such pages (it gives back only the top of the heap).  With thousands
 * of idle connections per process that is most of its memory.  So once
 * sessions have stopped coming and going for a tick, malloc_trim gives
 * back every free page in every arena; under a steady trickle, once per
 * IMAPD_TRIM_MAX ticks.
 */
#define IMAPD_TRIM_TICK 1.0
#define IMAPD_TRIM_MAX 30

static void
trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct imapd *d = w->data;

	(void)loop;
	(void)revents;
	if (d->churn != d->churn_seen) {
		d->churn_seen = d->churn;
		d->trim_due = 1;
		if (++d->trim_busy < IMAPD_TRIM_MAX)
			return;
	}
	if (!d->trim_due)
		return;
	d->trim_busy = 0;
	d->trim_due = 0;
	(void)malloc_trim(0);
}

int
main(int argc, char **argv)
{
	ev_signal sig_term, sig_int, sig_hup;
	const char *why = NULL;
	char *path;
	size_t i;
	int tls = 0;

	daemon_init(&ctx, "imapd", argc, argv);
	signal(SIGPIPE, SIG_IGN);
	imapd.cfg = ctx.cfg;
	imapd.loop = EV_DEFAULT;
	for (i = 0; i < ctx.cfg->n_listeners; i++)
		if (ctx.cfg->listeners[i].tls != CFG_TLS_NONE)
			tls = 1;
	/* The key is read now, as root, before the privileges go. */
	if (tls && (imapd.tls = tlsw_new(ctx.cfg, &why)) == NULL)
		fatal("imapd: TLS: %s", why);
	listeners_open(&imapd);
	daemon_drop_privs(&ctx, &ctx.cfg->imapd.d);
	imapd.mail_dir = cfg_state_path(ctx.cfg, "mail");

	path = xasprintf("%s/authd.sock", ctx.cfg->run_dir);
	imapd.authd = ipcc_new(imapd.loop, path, IMAPD_IPC_TIMEOUT);
	free(path);
	imap_auth_fetch_mechs(&imapd);
	imap_watch_init(&imapd);
	/* after the drop: the threads run as the unprivileged user */
	imapd.pool = wpool_new(imapd.loop, ctx.cfg->imapd.write_threads);

	ev_signal_init(&sig_term, sigterm_cb, SIGTERM);
	ev_signal_init(&sig_int, sigterm_cb, SIGINT);
	ev_signal_init(&sig_hup, sighup_cb, SIGHUP);
	ev_signal_start(imapd.loop, &sig_term);
	ev_signal_start(imapd.loop, &sig_int);
	ev_signal_start(imapd.loop, &sig_hup);
	ev_timer_init(&imapd.trim_w, trim_cb, IMAPD_TRIM_TICK,
	    IMAPD_TRIM_TICK);
	imapd.trim_w.data = &imapd;
	ev_timer_start(imapd.loop, &imapd.trim_w);
	log_notice("event=started");
	daemon_ready(&ctx);
	ev_run(imapd.loop, 0);

	for (i = 0; i < CFG_LISTEN_KIND_MAX; i++)
		net_server_free(&imapd.srv[i]);
	ipcc_free(&imapd.authd);
	wpool_free(&imapd.pool);	/* no session left, so no job */
	coro_cache_drop();
	imap_watch_fini(&imapd);
	free(imapd.mail_dir);
	tlsw_free(&imapd.tls);
	log_notice("event=stopped");
	daemon_fini(&ctx);
	return 0;
}
