/* letterboxd's own declarations: the daemon table, children, directories. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MASTER_H
#define LB_MASTER_H

#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

#include "common/cfg.h"

struct ipc_conn;

/* One row per daemon letterboxd can start (master/main.c). */
struct master_daemon {
	const char *name;		/* "authd": log tag, LB_FDS name */
	const char *program;		/* "letterbox-authd" */
	/* its section of the config (user, group, chroot, workers) */
	const struct cfg_daemon *(*section)(const struct cfg *cfg);
	/* the unix socket it serves, RUN_DIR/NAME.sock, passed to it as
	 * LB_FDS name NAME; NULL for none */
	const char *serves;
	/* the sockets it may connect to (checked by the serving daemon
	 * against LB_PEERS); NULL-terminated */
	const char *asks[4];
	/* for a serving row: a comma-separated list of system users outside
	 * the suite that the config lets connect too (NULL: none) */
	const char *(*outside_clients)(const struct cfg *cfg);
	/* listener kinds it serves, CFG_LISTEN_KIND_MAX-terminated */
	enum cfg_listener_kind kinds[4];
	/* workers in its section are processes (else threads, its own) */
	int multi;
	/* on SIGHUP, replace it with a fresh process instead of signalling
	 * it: it read its TLS key as root and cannot read it again */
	int restart_on_reload;
};

/* A process being replaced (SIGHUP): it finishes its sessions and goes. */
struct master_retiree {
	struct master_retiree *next;
	struct master *m;
	const char *name;
	pid_t pid;
	ev_child w;
};

/* A running (or restarting) child. */
struct master_child {
	const struct master_daemon *d;
	size_t row;			/* index of d in master_daemons */
	unsigned instance;		/* 0.. workers - 1 */
	char *path;			/* resolved program path */
	pid_t pid;			/* 0 while not running */
	int ready;			/* sent IPC_MASTER_READY since start */
	unsigned failures;		/* quick exits in a row, for backoff */
	ev_tstamp started;
	ev_child child_w;
	ev_timer restart_w;
	struct ipc_conn *ctl;
	struct master *m;
};

#define MASTER_MAX_LISTEN_FDS 64

struct master {
	struct ev_loop *loop;
	struct cfg *cfg;
	char *cfg_path;			/* absolute */
	int unprivileged;		/* not started as root */
	int stopping;
	int announced_ready;
	/* one served socket per daemon row (index as master_daemons) */
	struct master_sock {
		int fd;			/* -1 if the row serves none */
		char *path;
		char peers[256];	/* LB_PEERS for its server */
	} *socks;
	char *pid_path;
	struct {
		enum cfg_listener_kind kind;
		int fd;
	} lfds[MASTER_MAX_LISTEN_FDS];
	size_t n_lfds;
	struct master_child *children;
	size_t n_children;
	struct master_retiree *retirees;
	ev_signal sigterm_w, sigint_w, sighup_w;
	ev_timer grace_w;
};

extern const struct master_daemon master_daemons[];
extern const size_t master_n_daemons;

/* master/dirs.c: make the state directories with owners and modes. */
int master_dirs_make(const struct master *m, const char **why);
/* master/dirs.c: bind every configured listener and the authd socket. */
int master_sockets_open(struct master *m);
void master_sockets_close(struct master *m);
/* master/dirs.c: check the config against this build (-t and startup):
 * listeners whose daemon is missing, users missing when root. 0 or -1
 * after logging each problem as FILE:LINE: message. */
int master_check(const struct master *m, const struct cfg *cfg);
/* master/dirs.c: where a daemon program lives: next to letterboxd, else
 * LB_LIBEXECDIR.  Fresh heap string or NULL. */
char *master_program_path(const char *program);

/* master/child.c */
void master_child_start(struct master_child *c);
/* master_child_replace: start a new process for c and let the old one
 * finish gracefully (SIGTERM). */
void master_child_replace(struct master_child *c);
void master_children_signal(struct master *m, int sig);
size_t master_children_running(const struct master *m);

#endif
