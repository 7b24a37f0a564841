/* letterbox-queued: holds the spool; takes messages from smtpd and makes them durable (docs/queue.md). */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <ev.h>
#include <sodium.h>

#include "common/cfg.h"
#include "common/daemon.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/xmem.h"
#include "smtpd/queue_admin.h"
#include "smtpd/queue_commit.h"
#include "smtpd/queue_dns.h"
#include "smtpd/queue_sched.h"
#include "smtpd/queue_server.h"
#include "smtpd/queue_spool.h"

struct queued {
	struct daemon_ctx ctx;
	struct queue_spool sp;
	struct queue_server *srv;
	struct queue_sched *sched;
	struct queue_admin *admin;	/* spool/admin.sock: letterbox queue */
	struct ev_loop *loop;
	int idle_parts;		/* server and scheduler, once stopping */
};

#define QUEUED_IPC_TIMEOUT 30.

/* Called once by the server and once by the scheduler when stopping. */
static void
queued_idle(void *arg)
{
	struct queued *q = arg;

	if (++q->idle_parts == 2)
		ev_break(q->loop, EVBREAK_ALL);
}

static void
queued_on_queued(void *arg, const char *id)
{
	struct queued *q = arg;

	/* queued.deliver = no: accept and hold (maintenance, benchmarks of
	 * reception); a reload that turns it on schedules what waits. */
	if (!q->ctx.cfg->queued.deliver) {
		log_info("id=%s event=held reason=\"queued.deliver = no\"", id);
		return;
	}
	queue_sched_add(q->sched, id);
}

/* spool/status/: per-recipient state (docs/queue.md), made like tmp/. */
static int
queued_open_status_dir(const struct queue_spool *sp)
{
	int fd;

	if (mkdirat(sp->spool_fd, "status", 0700) < 0 && errno != EEXIST)
		fatal_errno("queued: cannot make spool/status");
	fd = openat(sp->spool_fd, "status", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0700) < 0)
		fatal_errno("queued: cannot open spool/status");
	return fd;
}

static struct queue_sched *
queued_sched_new(struct queued *q, int status_fd)
{
	const struct cfg *cfg = q->ctx.cfg;
	struct queue_sched_opts o;
	struct ipcc *authd;
	char *path, *dkim_dir;
	struct queue_sched *s;

	path = xasprintf("%s/authd.sock", cfg->run_dir);
	authd = ipcc_new(q->loop, path, QUEUED_IPC_TIMEOUT);
	free(path);
	memset(&o, 0, sizeof(o));
	path = xasprintf("%s/lmtp.sock", cfg->run_dir);
	o.lmtp_path = path;
	o.hostname = cfg->hostname;
	o.sessions = cfg->queued.lmtp_sessions;
	o.retry_min_ms = cfg->queued.retry_min_ms;
	o.retry_max_ms = cfg->queued.retry_max_ms;
	o.lifetime_s = cfg->queued.lifetime_s;
	o.delay_warning_s = cfg->queued.delay_warning_s;
	o.lmtp_timeout_s = 300.;
	o.relay_host = cfg->queued.relay_host;
	o.relay_tls = cfg->queued.relay_tls;
	o.tls_policy = cfg->queued.tls_policy;
	o.tls_ca_file = cfg->queued.tls_ca_file;
	o.dest_sessions = cfg->queued.dest_sessions;
	o.dkim_dir = dkim_dir = cfg_state_path(cfg, "dkim");
	o.relay_auth_file = cfg->queued.relay_auth_file;
	o.remote_sessions = cfg->queued.remote_sessions;
	o.resolver = cfg->queued.resolver;
	o.resolver_timeout_ms = cfg->queued.resolver_timeout_ms;
	o.mx_port = cfg->queued.mx_port;
	s = queue_sched_new(q->loop, &q->sp, status_fd, authd, &o);
	free(path);
	free(dkim_dir);
	return s;
}

static void
queued_sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queued *q = w->data;

	log_notice("event=stopping signal=%d committing=%zu", w->signum,
	    queue_server_committing(q->srv));
	queue_server_shutdown(q->srv, queued_idle, q);
	queue_sched_shutdown(q->sched, queued_idle, q);
}

static void
queued_sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct queued *q = w->data;
	int was = q->ctx.cfg->queued.deliver;

	/* The commit threads and sessions stay as started; the log level
	 * and queued.deliver follow the file. */
	if (daemon_reload(&q->ctx) == 0 && !was && q->ctx.cfg->queued.deliver)
		log_notice("event=delivery-on scheduled=%zu",
		    queue_sched_start(q->sched));
}

/* Open spool/ itself; created by letterboxd, but be forgiving when run by
 * hand in a fresh state directory. */
static int
queued_open_spool_dir(const struct cfg *cfg)
{
	char *path = cfg_state_path(cfg, "spool");
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		fatal_errno("queued: cannot make the spool %s", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fatal_errno("queued: cannot open the spool %s", path);
	free(path);
	return fd;
}

/* Empty tmp/ (nothing there was ever acknowledged) and count queue/. */
static size_t
queued_recover(struct queued *q)
{
	size_t removed, failed, ignored;
	long n;

	if (queue_spool_clean_tmp(&q->sp, &removed, &failed) < 0)
		fatal_errno("queued: cannot read spool/tmp");
	if (removed || failed)
		log_notice("event=tmp-cleaned removed=%zu failed=%zu", removed,
		    failed);
	if ((n = queue_spool_scan(&q->sp, NULL, NULL, &ignored)) < 0)
		fatal_errno("queued: cannot read spool/queue");
	if (ignored)
		log_warn("event=queue-foreign-files count=%zu note=\"names "
		    "that are not queue ids are left alone\"", ignored);
	return (size_t)n;
}

int
main(int argc, char **argv)
{
	static struct queued q;
	ev_signal sig_term, sig_int, sig_hup;
	struct peer_set peers;
	const char *why = NULL;
	unsigned threads;
	size_t queued, loaded;
	int spool_fd, status_fd, fds[2];

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--route") == 0)
			return queue_dns_tool(argc, argv);
	daemon_init(&q.ctx, "queued", argc, argv);
	if (sodium_init() < 0)
		fatal("queued: libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	if (daemon_fds(&q.ctx, "queued", fds, 2) != 1)
		fatal("queued: expected exactly one listening socket named "
		    "\"queued\" in LB_FDS (letterboxd binds "
		    "RUN_DIR/queued.sock)");
	spool_fd = queued_open_spool_dir(q.ctx.cfg);
	daemon_drop_privs(&q.ctx, &q.ctx.cfg->queued.d);

	/*
	 * tmp/ and queue/ are made after the drop, through the spool fd
	 * opened before it: so they belong to the queue user (spool/ is
	 * its, from letterboxd), and the fd still works inside a chroot.
	 */
	if (queue_spool_open(spool_fd, &q.sp, &why) < 0)
		fatal_errno("queued: spool: %s", why);
	queued = queued_recover(&q);
	status_fd = queued_open_status_dir(&q.sp);

	/* after the drop, so that "our own uid" is the unprivileged one */
	if (peer_parse(getenv("LB_PEERS"), getuid(), &peers, &why) < 0)
		fatal("queued: LB_PEERS: %s", why);

	q.loop = EV_DEFAULT;
	threads = q.ctx.cfg->queued.commit_threads ?
	    q.ctx.cfg->queued.commit_threads : 1;
	q.srv = queue_server_new(q.loop, &q.sp, threads, &queue_commit_io_sys);
	q.sched = queued_sched_new(&q, status_fd);
	queue_server_on_queued(q.srv, queued_on_queued, &q);
	queue_server_listen(q.srv, fds[0], &peers);
	if ((q.admin = queue_admin_new(q.loop, q.sp.spool_fd, q.sched,
	    &why)) == NULL)
		log_err_errno("event=admin-unavailable reason=\"%s\"", why);

	ev_signal_init(&sig_term, queued_sigterm_cb, SIGTERM);
	ev_signal_init(&sig_int, queued_sigterm_cb, SIGINT);
	ev_signal_init(&sig_hup, queued_sighup_cb, SIGHUP);
	sig_term.data = sig_int.data = sig_hup.data = &q;
	ev_signal_start(q.loop, &sig_term);
	ev_signal_start(q.loop, &sig_int);
	ev_signal_start(q.loop, &sig_hup);

	loaded = q.ctx.cfg->queued.deliver ? queue_sched_start(q.sched) : 0;
	if (!q.ctx.cfg->queued.deliver)
		log_notice("event=delivery-off note=\"queued.deliver = no: "
		    "mail is accepted and held\"");
	log_notice("event=started queued=%zu commit_threads=%u peers=%zu "
	    "scheduled=%zu lmtp_sessions=%u", queued, threads, peers.n,
	    loaded, q.ctx.cfg->queued.lmtp_sessions);
	daemon_ready(&q.ctx);
	ev_run(q.loop, 0);

	queue_admin_free(&q.admin);
	queue_server_free(&q.srv);
	queue_sched_free(&q.sched);
	queue_spool_close(&q.sp);
	log_notice("event=stopped");
	daemon_fini(&q.ctx);
	return 0;
}
