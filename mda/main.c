/* letterbox-mda: the LMTP server on RUN_DIR/lmtp.sock, and the one-shot subcommands (docs/mda.md). */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <sodium.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/xmem.h"
#include "mda/mda.h"

struct mda {
	struct daemon_ctx ctx;
	struct ev_loop *loop;
	struct lmtp_server *srv;
};

static void
mda_usage(void)
{
	fprintf(stderr, "usage: letterbox-mda -c FILE [-n] [-d]\n"
	    "       letterbox-mda -c FILE deliver [-f SENDER] ADDRESS "
	    "< message\n"
	    "       letterbox-mda -c FILE index ADDRESS\n");
	exit(MDA_EX_USAGE);
}

static void
mda_idle(void *arg)
{
	struct mda *m = arg;

	ev_break(m->loop, EVBREAK_ALL);
}

static void
mda_sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct mda *m = w->data;

	log_notice("event=stopping signal=%d", w->signum);
	lmtp_server_stop(m->srv, mda_idle, m);
}

static void
mda_sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct mda *m = w->data;

	/* Worker count and paths need a restart; limits apply at once. */
	if (daemon_reload(&m->ctx) == 0)
		lmtp_server_set_cfg(m->srv, m->ctx.cfg);
}

/* STATE_DIR/mail (made by letterboxd, owned by us) and its .tmp/. */
static void
mda_dirs(const struct cfg *cfg, char **mail_out, char **tmp_out)
{
	*mail_out = cfg_state_path(cfg, "mail");
	*tmp_out = xasprintf("%s/.tmp", *mail_out);
	if (mkdir(*mail_out, 0700) < 0 && errno != EEXIST)
		fatal_errno("mda: cannot make %s", *mail_out);
	if (mkdir(*tmp_out, 0700) < 0 && errno != EEXIST)
		fatal_errno("mda: cannot make %s", *tmp_out);
}

static int
mda_daemon(int argc, char **argv)
{
	static struct mda m;
	ev_signal sig_term, sig_int, sig_hup;
	struct peer_set peers;
	struct wpool *pool;
	struct mda_store *st;
	const char *why = NULL;
	char *mail_dir, *tmp_dir, *authd_path;
	unsigned workers;
	int fds[2];

	daemon_init(&m.ctx, "mda", argc, argv);
	if (sodium_init() < 0)
		fatal("mda: libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	if (daemon_fds(&m.ctx, "lmtp", fds, 2) != 1)
		fatal("mda: expected exactly one listening socket named "
		    "\"lmtp\" in LB_FDS (letterboxd binds RUN_DIR/lmtp.sock)");
	daemon_drop_privs(&m.ctx, &m.ctx.cfg->mda.d);
	mda_dirs(m.ctx.cfg, &mail_dir, &tmp_dir);
	/* after the drop, so that "our own uid" is the unprivileged one */
	if (peer_parse(getenv("LB_PEERS"), getuid(), &peers, &why) < 0)
		fatal("mda: LB_PEERS: %s", why);

	m.loop = EV_DEFAULT;
	workers = m.ctx.cfg->mda.d.workers ? m.ctx.cfg->mda.d.workers : 1;
	pool = wpool_new(m.loop, workers);
	st = mda_store_new(mail_dir, m.ctx.cfg->hostname);
	authd_path = xasprintf("%s/authd.sock", m.ctx.cfg->run_dir);
	m.srv = lmtp_server_new(m.loop, m.ctx.cfg, pool, st, authd_path,
	    tmp_dir);
	lmtp_server_listen(m.srv, fds[0], &peers);

	ev_signal_init(&sig_term, mda_sigterm_cb, SIGTERM);
	ev_signal_init(&sig_int, mda_sigterm_cb, SIGINT);
	ev_signal_init(&sig_hup, mda_sighup_cb, SIGHUP);
	sig_term.data = sig_int.data = sig_hup.data = &m;
	ev_signal_start(m.loop, &sig_term);
	ev_signal_start(m.loop, &sig_int);
	ev_signal_start(m.loop, &sig_hup);
	log_notice("event=started workers=%u peers=%zu", workers, peers.n);
	daemon_ready(&m.ctx);
	ev_run(m.loop, 0);

	lmtp_server_free(&m.srv);
	wpool_free(&pool);
	mda_store_free(&st);
	free(authd_path);
	free(mail_dir);
	free(tmp_dir);
	log_notice("event=stopped");
	daemon_fini(&m.ctx);
	return 0;
}

/* "letterbox-mda -c FILE SUBCOMMAND ARGS...": the config, logging to
 * stderr, then the subcommand with argv[0] its name. */
static int
mda_subcommand(int argc, char **argv)
{
	const char *path = NULL;
	struct cfg *cfg = NULL;
	struct buf errs;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else
			mda_usage();
	}
	if (path == NULL || i == argc)
		mda_usage();
	log_ident("letterbox-mda");
	buf_init(&errs, 256, 64 * 1024);
	if (cfg_load(path, &cfg, &errs) != 0) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_fini(&errs);
		/* the mail stays with the caller, which retries */
		return MDA_EX_TEMPFAIL;
	}
	buf_fini(&errs);
	log_init(strcmp(argv[i], "deliver") == 0 ? "mda[deliver]" :
	    "mda[index]", LOG_DEST_STDERR, LOG_LVL_WARN, cfg->syslog_facility);
	if (strcmp(argv[i], "deliver") == 0)
		rc = mda_cmd_deliver(cfg, argc - i, argv + i);
	else if (strcmp(argv[i], "index") == 0)
		rc = mda_cmd_index(cfg, argc - i, argv + i);
	else {
		cfg_free(&cfg);
		mda_usage();
	}
	cfg_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	int i;

	/* a word that is no option's argument names a subcommand */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			return mda_subcommand(argc, argv);
	}
	return mda_daemon(argc, argv);
}
