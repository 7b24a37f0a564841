/* Daemon startup under letterboxd: options, inherited fds, privilege drop, readiness. */
/* SPDX-License-Identifier: ISC */
#include "common/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <ev.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/xmem.h"

static void
daemon_usage(const char *name)
{
	fprintf(stderr, "usage: letterbox-%s -c FILE [-n] [-d]\n", name);
	exit(64);
}

int
daemon_fds_parse(struct daemon_ctx *ctx, const char *env, const char **why)
{
	char *copy = xstrdup(env), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, " ", &save); tok != NULL && rc == 0;
	    tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *num, *s2 = NULL;

		if (eq == NULL || eq == tok || eq[1] == '\0' ||
		    (size_t)(eq - tok) >= sizeof(ctx->fds[0].name)) {
			*why = "malformed entry";
			rc = -1;
			break;
		}
		*eq = '\0';
		for (num = strtok_r(eq + 1, ",", &s2); num != NULL;
		    num = strtok_r(NULL, ",", &s2)) {
			char *end;
			long fd = strtol(num, &end, 10);

			if (*end != '\0' || end == num || fd < 3 ||
			    fd > 65535) {
				*why = "bad descriptor number";
				rc = -1;
				break;
			}
			if (ctx->n_fds == DAEMON_MAX_FDS) {
				*why = "too many descriptors";
				rc = -1;
				break;
			}
			snprintf(ctx->fds[ctx->n_fds].name,
			    sizeof(ctx->fds[0].name), "%s", tok);
			ctx->fds[ctx->n_fds++].fd = (int)fd;
			if (strcmp(tok, "ctl") == 0)
				ctx->ctl_fd = (int)fd;
		}
	}
	free(copy);
	return rc;
}

static int
daemon_load(const char *path, struct cfg **out)
{
	struct buf errs;
	int rc;

	buf_init(&errs, 256, 64 * 1024);
	rc = cfg_load(path, out, &errs);
	if (rc != 0) {
		/* Each line is already FILE:LINE:COL: message. */
		const char *p = buf_cstr(&errs), *nl;

		while (*p != '\0') {
			nl = strchr(p, '\n');
			log_err("%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
			p = nl ? nl + 1 : p + strlen(p);
		}
	}
	buf_fini(&errs);
	return rc;
}

void
daemon_init(struct daemon_ctx *ctx, const char *name, int argc, char **argv)
{
	const char *env, *why = NULL;
	int ch, check = 0, debug = 0;
	static char tag[48];

	memset(ctx, 0, sizeof(*ctx));
	ctx->name = name;
	ctx->ctl_fd = -1;
	snprintf(tag, sizeof(tag), "%s", name);
	log_ident(tag);

	while ((ch = getopt(argc, argv, "c:nd")) != -1) {
		switch (ch) {
		case 'c':
			ctx->cfg_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'd':
			debug = 1;
			break;
		default:
			daemon_usage(name);
		}
	}
	if (ctx->cfg_path == NULL || optind != argc)
		daemon_usage(name);
	if (daemon_load(ctx->cfg_path, &ctx->cfg) != 0)
		exit(1);
	if (check) {
		printf("%s: config OK\n", ctx->cfg_path);
		exit(0);
	}
	log_init(tag, ctx->cfg->log_dest,
	    debug ? LOG_LVL_DEBUG : ctx->cfg->log_level,
	    ctx->cfg->syslog_facility);
	env = getenv("LB_UNPRIVILEGED");
	ctx->unprivileged = env != NULL && strcmp(env, "1") == 0;
	env = getenv("LB_FDS");
	/* The master wrote LB_FDS, so a bad value is a bug, but we still
	 * refuse it cleanly. */
	if (env != NULL && daemon_fds_parse(ctx, env, &why) != 0)
		fatal("LB_FDS=\"%s\": %s", env, why);
	/* Every inherited socket but ctl is a listener served by a loop:
	 * a blocking one would stall the loop on its second accept. */
	for (size_t i = 0; i < ctx->n_fds; i++) {
		int fl, fd = ctx->fds[i].fd;

		if (fd == ctx->ctl_fd)
			continue;
		if ((fl = fcntl(fd, F_GETFL)) < 0 ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			fatal_errno("LB_FDS: descriptor %d (%s)", fd,
			    ctx->fds[i].name);
	}
}

size_t
daemon_fds(const struct daemon_ctx *ctx, const char *name, int *out,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < ctx->n_fds; i++)
		if (strcmp(ctx->fds[i].name, name) == 0 && n < max)
			out[n++] = ctx->fds[i].fd;
	return n;
}

/* SECURITY: after this, the process holds no root privilege and cannot
 * regain it; any failure on the way is fatal, never a warning. */
void
daemon_drop_privs(struct daemon_ctx *ctx, const struct cfg_daemon *d)
{
	struct rlimit rl = { 0, 0 };
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		log_warn_errno("event=setrlimit what=core");
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(d->user);
		struct group *gr;
		gid_t gid;

		if (pw == NULL)
			fatal("%s: user \"%s\" does not exist "
			    "(letterbox init as root creates it)",
			    ctx->name, d->user);
		if (pw->pw_uid == 0)
			fatal("%s: refusing to run as root (user \"%s\")",
			    ctx->name, d->user);
		gid = pw->pw_gid;
		if (d->group != NULL && strcmp(d->group, d->user) != 0) {
			if ((gr = getgrnam(d->group)) == NULL)
				fatal("%s: group \"%s\" does not exist",
				    ctx->name, d->group);
			gid = gr->gr_gid;
		}
		if (d->chroot != NULL) {
			if (chroot(d->chroot) != 0 || chdir("/") != 0)
				fatal_errno("%s: chroot %s", ctx->name,
				    d->chroot);
		}
		if (setgroups(1, &gid) != 0 ||
		    setresgid(gid, gid, gid) != 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
			fatal_errno("%s: cannot drop privileges to %s",
			    ctx->name, d->user);
		if (setresuid(0, 0, 0) == 0 || setegid(0) == 0)
			fatal("%s: could regain root after dropping "
			    "privileges", ctx->name);
		log_info("event=privileges user=%s uid=%u gid=%u chroot=%s",
		    d->user, (unsigned)pw->pw_uid, (unsigned)gid,
		    d->chroot ? d->chroot : "-");
	} else if (!ctx->unprivileged && ctx->ctl_fd < 0) {
		log_debug("event=privileges unprivileged uid=%u",
		    (unsigned)getuid());
	}
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		fatal_errno("%s: getresuid", ctx->name);
	if (ru == 0 || eu == 0 || su == 0)
		fatal("%s: refusing to run as root", ctx->name);
}

/* The master never closes ctl while it runs: EOF means it died (kill -9).
 * A daemon must not outlive it holding sockets and files, so it stops the
 * way SIGTERM stops it: gracefully, through its own handler. */
static void
daemon_ctl_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	char b[64];
	ssize_t r = recv(w->fd, b, sizeof(b), MSG_DONTWAIT);

	if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	ev_io_stop(loop, w);
	log_warn("event=master-gone action=stop");
	raise(SIGTERM);
}

void
daemon_ready(struct daemon_ctx *ctx)
{
	static ev_io ctl_w;
	struct ipc_msg m;

	if (ctx->ctl_fd < 0)
		return;
	ev_io_init(&ctl_w, daemon_ctl_cb, ctx->ctl_fd, EV_READ);
	ev_io_start(EV_DEFAULT, &ctl_w);
	ipc_msg_init(&m, IPC_MASTER_READY, 0);
	if (ipc_msg_finish(&m) != 0 || ipc_send_blocking(ctx->ctl_fd, &m) != 0)
		log_warn_errno("event=ready-notify-failed");
	ipc_msg_fini(&m);
}

int
daemon_reload(struct daemon_ctx *ctx)
{
	struct cfg *n = NULL;

	if (daemon_load(ctx->cfg_path, &n) != 0) {
		log_err("event=reload-failed keeping=old-config");
		return -1;
	}
	cfg_free(&ctx->cfg);
	ctx->cfg = n;
	log_set_level(n->log_level);
	log_info("event=reload config=%s", ctx->cfg_path);
	return 0;
}

void
daemon_fini(struct daemon_ctx *ctx)
{
	cfg_free(&ctx->cfg);
}
