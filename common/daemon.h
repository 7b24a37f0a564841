/* How every daemon starts under letterboxd: arguments, fds, privileges, readiness. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_DAEMON_H
#define LB_DAEMON_H

#include <stddef.h>

#include "common/cfg.h"

/*
 * letterboxd starts a daemon as
 *     letterbox-NAME -c /path/letterbox.conf
 * with these environment variables:
 *     LB_FDS="ctl=3 authd=4 smtp=5,6 ..."   named inherited descriptors;
 *         "ctl" is the control socket to the master (IPC frames, see
 *         ipc_msg.h IPC_MASTER_*), the others are listening sockets.
 *     LB_PEERS="0,1001,1002"  (a daemon that serves a socket) the uids
 *         allowed to connect to it, from the table in master/main.c.
 *     LB_UNPRIVILEGED=1   the master is not root: run as the current user
 *         and ignore user/group settings (the master already warned).
 * A daemon started by hand without LB_FDS has no inherited sockets and
 * must say so and exit, except in check mode.
 *
 * Options every daemon takes:  -c FILE (config), -n (check config, exit),
 * -d (log level debug).
 */

#define DAEMON_MAX_FDS 64

struct daemon_fd {
	char name[24];
	int fd;
};

struct daemon_ctx {
	const char *name;		/* "authd" */
	const char *cfg_path;
	struct cfg *cfg;		/* owned; replaced by daemon_reload */
	int ctl_fd;			/* -1 when not started by letterboxd */
	int unprivileged;		/* LB_UNPRIVILEGED was set */
	struct daemon_fd fds[DAEMON_MAX_FDS];
	size_t n_fds;
};

/*
 * daemon_init: parse argv, load the config (on error print every message
 * and exit 1; with -n print "NAME: config OK" and exit 0), start logging
 * with tag "NAME", collect LB_FDS.  Does not drop privileges yet: the
 * caller opens what it needs first, then calls daemon_drop_privs.
 */
void daemon_init(struct daemon_ctx *ctx, const char *name, int argc,
    char **argv);

/* daemon_fds_parse: add the entries of an LB_FDS value to ctx->fds (and
 * ctx->ctl_fd for "ctl").  0, or -1 with *why on a malformed value. */
int daemon_fds_parse(struct daemon_ctx *ctx, const char *env, const char **why)
    __attribute__((warn_unused_result));

/* daemon_fds: the descriptors named name in LB_FDS, in order, into out
 * (up to max); returns how many. */
size_t daemon_fds(const struct daemon_ctx *ctx, const char *name, int *out,
    size_t max);

/*
 * daemon_drop_privs: SECURITY: if running as root, chroot (if d->chroot),
 * setgroups/setresgid/setresuid to d->user and d->group, verify that root
 * cannot be regained, else fatal.  If not root: nothing (but fatal if the
 * process could still regain root).  Either way, a daemon never continues
 * with uid or euid 0.  Also sets RLIMIT_CORE to 0.
 */
void daemon_drop_privs(struct daemon_ctx *ctx, const struct cfg_daemon *d);

/* daemon_ready: tell the master we serve (IPC_MASTER_READY on ctl), and
 * watch ctl on the default libev loop (every daemon's one loop): if the
 * master dies, the daemon raises SIGTERM on itself and so stops through
 * its own graceful path. */
void daemon_ready(struct daemon_ctx *ctx);

/*
 * daemon_reload: load the config again (for SIGHUP).  On success frees the
 * old one, sets ctx->cfg, and returns 0; on error logs every message, keeps
 * the old config and returns -1.
 */
int daemon_reload(struct daemon_ctx *ctx);

void daemon_fini(struct daemon_ctx *ctx);

#endif
