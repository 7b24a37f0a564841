/* letterboxd: reads the config, makes directories, binds sockets, runs and supervises the daemons. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xmem.h"
#include "master/master.h"

static const struct cfg_daemon *
section_authd(const struct cfg *cfg)
{
	return &cfg->authd.d;
}

/* SECURITY: mda.lmtp_clients names other MTAs (Postfix's lmtp client
 * runs as "postfix") that may hand mail to the MDA; nothing else. */
static const char *
lmtp_outside_clients(const struct cfg *cfg)
{
	return cfg->mda.lmtp_clients;
}

static const struct cfg_daemon *
section_smtpd(const struct cfg *cfg)
{
	return &cfg->smtpd.d;
}

static const struct cfg_daemon *
section_queued(const struct cfg *cfg)
{
	return &cfg->queued.d;
}

static const struct cfg_daemon *
section_mda(const struct cfg *cfg)
{
	return &cfg->mda.d;
}

static const struct cfg_daemon *
section_pop3d(const struct cfg *cfg)
{
	return &cfg->pop3d.d;
}

static const struct cfg_daemon *
section_imapd(const struct cfg *cfg)
{
	return &cfg->imapd.d;
}

/*
 * SECURITY: the process topology, reviewable at a glance.  Each row is a
 * daemon letterboxd starts: which listeners it gets, which unix socket it
 * serves (RUN_DIR/NAME.sock), and which served sockets its uid may
 * connect to.  Nothing else is passed to a child.  Later daemons (smtpd, queued, mda, imapd, pop3d)
 * are added here as they are built.
 */
const struct master_daemon master_daemons[] = {
	{
		.name = "authd", .program = "letterbox-authd",
		.section = section_authd, .serves = "authd",
		.asks = { NULL }, .kinds = { CFG_LISTEN_KIND_MAX },
	},
	{
		.name = "queued", .program = "letterbox-queued",
		.section = section_queued, .serves = "queued",
		.asks = { "authd", "lmtp", NULL },
		.kinds = { CFG_LISTEN_KIND_MAX },
	},
	{
		/* workers are its delivery threads, not processes */
		.name = "mda", .program = "letterbox-mda",
		.section = section_mda, .serves = "lmtp",
		.asks = { "authd", NULL }, .kinds = { CFG_LISTEN_KIND_MAX },
		.outside_clients = lmtp_outside_clients,
	},
	{
		.name = "smtpd", .program = "letterbox-smtpd",
		.section = section_smtpd, .serves = NULL,
		.asks = { "authd", "queued", NULL },
		.kinds = { CFG_LISTEN_SMTP, CFG_LISTEN_SUBMISSION,
		    CFG_LISTEN_SUBMISSIONS, CFG_LISTEN_KIND_MAX },
		.multi = 1, .restart_on_reload = 1,
	},
	{
		/* lb-mail like the MDA: it reads and expunges Maildirs */
		.name = "pop3d", .program = "letterbox-pop3d",
		.section = section_pop3d, .serves = NULL,
		.asks = { "authd", NULL },
		.kinds = { CFG_LISTEN_POP3, CFG_LISTEN_POP3S,
		    CFG_LISTEN_KIND_MAX },
		.multi = 1, .restart_on_reload = 1,
	},
	{
		/* lb-mail like the MDA: it reads and changes Maildirs */
		.name = "imapd", .program = "letterbox-imapd",
		.section = section_imapd, .serves = NULL,
		.asks = { "authd", NULL },
		.kinds = { CFG_LISTEN_IMAP, CFG_LISTEN_IMAPS,
		    CFG_LISTEN_KIND_MAX },
		.multi = 1, .restart_on_reload = 1,
	},
};
const size_t master_n_daemons = sizeof(master_daemons) /
    sizeof(master_daemons[0]);

static void
usage(void)
{
	fprintf(stderr, "usage: letterboxd -c FILE [-t] [-d]\n");
	exit(64);
}

static int
load_config(const char *path, struct cfg **out)
{
	struct buf errs;
	int rc;

	buf_init(&errs, 256, 64 * 1024);
	rc = cfg_load(path, out, &errs);
	if (rc != 0)
		fprintf(stderr, "%s", buf_cstr(&errs));
	buf_fini(&errs);
	return rc;
}

/* Append ",uid" for each user of a comma-separated list (checked to
 * exist by master_check). */
static void
master_outside_uids(const char *list, struct buf *b)
{
	char *copy, *save = NULL, *u;

	if (list == NULL)
		return;
	copy = xstrdup(list);
	for (u = strtok_r(copy, ", ", &save); u != NULL;
	    u = strtok_r(NULL, ", ", &save)) {
		struct passwd *pw = getpwnam(u);

		if (pw != NULL)
			(void)!buf_addf(b, ",%u", (unsigned)pw->pw_uid);
	}
	free(copy);
}

/* LB_PEERS of each served socket: root (the admin CLI), our own uid, and
 * the uid of each daemon the table says may connect to it. */
static void
peers_make(struct master *m)
{
	size_t i, j, k;

	for (i = 0; i < master_n_daemons; i++) {
		const char *name = master_daemons[i].serves;
		struct buf b;

		if (name == NULL)
			continue;
		buf_init(&b, 64, sizeof(m->socks[i].peers) - 1);
		(void)!buf_addf(&b, "0,%u", (unsigned)getuid());
		for (j = 0; j < master_n_daemons && !m->unprivileged; j++) {
			const struct master_daemon *d = &master_daemons[j];

			for (k = 0; d->asks[k] != NULL; k++) {
				struct passwd *pw;

				if (strcmp(d->asks[k], name) != 0)
					continue;
				pw = getpwnam(d->section(m->cfg)->user);
				if (pw != NULL)
					(void)!buf_addf(&b, ",%u",
					    (unsigned)pw->pw_uid);
			}
		}
		if (master_daemons[i].outside_clients != NULL)
			master_outside_uids(master_daemons[i].outside_clients(
			    m->cfg), &b);
		snprintf(m->socks[i].peers, sizeof(m->socks[i].peers), "%s",
		    buf_cstr(&b));
		buf_fini(&b);
	}
}

static void
stop_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct master *m = w->data;

	log_warn("event=stop-grace-expired killing=%zu",
	    master_children_running(m));
	master_children_signal(m, SIGKILL);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct master *m = w->data;
	size_t i;

	if (m->stopping)
		return;
	m->stopping = 1;
	log_notice("event=stopping signal=%d grace=%ums", w->signum,
	    m->cfg->master.shutdown_grace_ms);
	for (i = 0; i < m->n_children; i++)
		ev_timer_stop(loop, &m->children[i].restart_w);
	if (master_children_running(m) == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	master_children_signal(m, SIGTERM);
	ev_timer_init(&m->grace_w, stop_grace_cb,
	    m->cfg->master.shutdown_grace_ms / 1000.0, 0);
	m->grace_w.data = m;
	ev_timer_start(loop, &m->grace_w);
}

static void
reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct master *m = w->data;
	struct cfg *n = NULL;

	log_notice("event=reload config=%s", m->cfg_path);
	if (load_config(m->cfg_path, &n) != 0 || master_check(m, n) != 0) {
		log_err("event=reload-failed keeping=old-config");
		cfg_free(&n);
		return;
	}
	/* Sockets stay as bound at start (they may need root to bind);
	 * children re-read the file themselves on SIGHUP. */
	if (n->n_listeners != m->cfg->n_listeners)
		log_warn("event=reload note=\"listener changes take effect "
		    "at the next restart\"");
	cfg_free(&m->cfg);
	m->cfg = n;
	log_set_level(n->log_level);
	for (size_t i = 0; i < m->n_children; i++) {
		struct master_child *c = &m->children[i];

		if (c->d->restart_on_reload)
			master_child_replace(c);
		else if (c->pid > 0)
			kill(c->pid, SIGHUP);
	}
}

static void
pidfile_write(struct master *m)
{
	FILE *f;

	m->pid_path = xasprintf("%s/letterboxd.pid", m->cfg->run_dir);
	if ((f = fopen(m->pid_path, "w")) == NULL) {
		log_warn_errno("event=pidfile path=%s", m->pid_path);
		return;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
main(int argc, char **argv)
{
	struct master m;
	const char *path = NULL, *why = NULL;
	char abspath[PATH_MAX];
	int ch, test = 0, debug = 0;
	size_t i, k;

	memset(&m, 0, sizeof(m));
	log_ident("letterboxd");
	while ((ch = getopt(argc, argv, "c:td")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'd':
			debug = 1;
			break;
		default:
			usage();
		}
	}
	if (path == NULL || optind != argc)
		usage();
	if (load_config(path, &m.cfg) != 0)
		return 1;
	if (realpath(path, abspath) == NULL)
		fatal_errno("%s", path);
	m.cfg_path = xstrdup(abspath);
	m.unprivileged = geteuid() != 0;
	if (master_check(&m, m.cfg) != 0) {
		cfg_free(&m.cfg);
		free(m.cfg_path);
		return 1;
	}
	if (test) {
		printf("%s: OK\n", path);
		cfg_free(&m.cfg);
		free(m.cfg_path);
		return 0;
	}
	log_init("letterboxd", m.cfg->log_dest,
	    debug ? LOG_LVL_DEBUG : m.cfg->log_level, m.cfg->syslog_facility);
	if (m.unprivileged)
		log_warn("event=unprivileged uid=%u note=\"not started as "
		    "root: every daemon runs as this user and the user "
		    "settings are ignored\"", (unsigned)getuid());
	if (master_dirs_make(&m, &why) != 0)
		fatal("%s", why);
	if (master_sockets_open(&m) != 0)
		return 1;
	peers_make(&m);
	pidfile_write(&m);

	signal(SIGPIPE, SIG_IGN);
	m.loop = ev_default_loop(EVFLAG_AUTO);
	ev_signal_init(&m.sigterm_w, stop_cb, SIGTERM);
	ev_signal_init(&m.sigint_w, stop_cb, SIGINT);
	ev_signal_init(&m.sighup_w, reload_cb, SIGHUP);
	m.sigterm_w.data = m.sigint_w.data = m.sighup_w.data = &m;
	ev_signal_start(m.loop, &m.sigterm_w);
	ev_signal_start(m.loop, &m.sigint_w);
	ev_signal_start(m.loop, &m.sighup_w);

	/* One process per row, or `workers` of them for multi rows. */
	for (i = 0; i < master_n_daemons; i++)
		m.n_children += master_daemons[i].multi ?
		    master_daemons[i].section(m.cfg)->workers : 1;
	m.children = xcalloc(m.n_children, sizeof(*m.children));
	for (i = 0, k = 0; i < master_n_daemons; i++) {
		unsigned n = master_daemons[i].multi ?
		    master_daemons[i].section(m.cfg)->workers : 1, j;

		for (j = 0; j < n; j++, k++) {
			struct master_child *c = &m.children[k];

			c->d = &master_daemons[i];
			c->row = i;
			c->instance = j;
			c->m = &m;
			c->path = master_program_path(c->d->program);
			ev_init(&c->restart_w, NULL);
		}
	}
	log_notice("event=start config=%s daemons=%zu", m.cfg_path,
	    m.n_children);
	for (i = 0; i < m.n_children; i++)
		master_child_start(&m.children[i]);
	ev_run(m.loop, 0);

	ev_timer_stop(m.loop, &m.grace_w);
	for (i = 0; i < m.n_children; i++) {
		ipc_conn_free(&m.children[i].ctl);
		free(m.children[i].path);
	}
	free(m.children);
	master_sockets_close(&m);
	if (m.pid_path != NULL)
		(void)unlink(m.pid_path);
	free(m.pid_path);
	log_notice("event=stopped");
	cfg_free(&m.cfg);
	free(m.cfg_path);
	return 0;
}
