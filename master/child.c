/* letterboxd's children: fork and exec with named fds, readiness, restart with backoff. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"
#include "master/master.h"

/* A child that lived this long before dying is not crash-looping: its
 * next restart starts again from restart_min. */
#define CHILD_STABLE_SECONDS 30.0

static void child_restart_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void
child_announce_if_all_ready(struct master *m)
{
	size_t i;

	if (m->announced_ready || m->stopping)
		return;
	for (i = 0; i < m->n_children; i++)
		if (!m->children[i].ready)
			return;
	m->announced_ready = 1;
	log_notice("event=ready daemons=%zu config=%s", m->n_children,
	    m->cfg_path);
}

static int
child_ctl_msg(struct ipc_conn *conn, const struct ipc_hdr *hdr,
    struct span payload, int fd, void *arg)
{
	struct master_child *c = arg;

	if (fd >= 0)
		close(fd);
	if (hdr->type != IPC_MASTER_READY || payload.n != 0) {
		/* SECURITY: a child is less trusted than the master. */
		log_warn("event=ctl-bad-message daemon=%s type=%u",
		    c->d->name, hdr->type);
		ipc_conn_free(&c->ctl);
		return -1;
	}
	if (!c->ready) {
		c->ready = 1;
		log_info("event=daemon-ready daemon=%s pid=%ld", c->d->name,
		    (long)c->pid);
	}
	child_announce_if_all_ready(c->m);
	return 0;
}

static void
child_ctl_close(struct ipc_conn *conn, void *arg)
{
	struct master_child *c = arg;

	ipc_conn_free(&c->ctl);
}

/* Move fd to exactly want; returns 0 or -1.  Runs in the child only. */
static int
child_place_fd(int fd, int want)
{
	/* dup2 clears FD_CLOEXEC on the copy, so it survives exec. */
	return dup2(fd, want) < 0 ? -1 : 0;
}

/* Runs in the forked child: arrange the fds and exec; never returns. */
static void __attribute__((noreturn))
child_exec(struct master_child *c, int ctl)
{
	struct master *m = c->m;
	int src[MASTER_MAX_LISTEN_FDS + 2];
	const char *names[MASTER_MAX_LISTEN_FDS + 2];
	size_t n_src = 0, i, k;
	struct buf fds;
	char *argv[4];
	sigset_t none;

	src[n_src] = ctl;
	names[n_src++] = "ctl";
	if (c->d->serves != NULL) {
		src[n_src] = m->socks[c->row].fd;
		names[n_src++] = c->d->serves;
	}
	for (i = 0; i < m->n_lfds; i++)
		for (k = 0; c->d->kinds[k] != CFG_LISTEN_KIND_MAX; k++)
			if (m->lfds[i].kind == c->d->kinds[k]) {
				src[n_src] = m->lfds[i].fd;
				names[n_src++] =
				    cfg_listener_kind_name(m->lfds[i].kind);
			}
	/* Descriptors we pass may already sit on the numbers we want:
	 * move every source above the target range first. */
	for (i = 0; i < n_src; i++)
		if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 100)) < 0)
			_exit(71);
	buf_init(&fds, 128, 4096);
	for (i = 0; i < n_src; i++) {
		if (child_place_fd(src[i], 3 + (int)i) != 0)
			_exit(71);
		(void)!buf_addf(&fds, "%s%s=%d", i ? " " : "", names[i],
		    3 + (int)i);
	}
	setenv("LB_FDS", buf_cstr(&fds), 1);
	if (m->unprivileged)
		setenv("LB_UNPRIVILEGED", "1", 1);
	else
		unsetenv("LB_UNPRIVILEGED");
	if (c->d->serves != NULL)
		setenv("LB_PEERS", m->socks[c->row].peers, 1);
	else
		unsetenv("LB_PEERS");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	argv[0] = (char *)c->d->program;
	argv[1] = "-c";
	argv[2] = m->cfg_path;
	argv[3] = NULL;
	execv(c->path, argv);
	fprintf(stderr, "letterboxd: exec %s: %s\n", c->path, strerror(errno));
	_exit(71);
}

static void
child_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct master_child *c = w->data;
	struct master *m = c->m;
	int st = w->rstatus;
	ev_tstamp lived = ev_now(loop) - c->started;
	double delay;

	ev_child_stop(loop, w);
	ipc_conn_free(&c->ctl);
	if (WIFSIGNALED(st))
		log_warn("event=daemon-exit daemon=%s pid=%ld signal=%d "
		    "uptime=%.1fs", c->d->name, (long)c->pid, WTERMSIG(st),
		    lived);
	else
		log_info("event=daemon-exit daemon=%s pid=%ld status=%d "
		    "uptime=%.1fs", c->d->name, (long)c->pid,
		    WEXITSTATUS(st), lived);
	c->pid = 0;
	c->ready = 0;
	if (m->stopping) {
		if (master_children_running(m) == 0)
			ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (lived >= CHILD_STABLE_SECONDS)
		c->failures = 0;
	delay = m->cfg->master.restart_min_ms / 1000.0;
	for (unsigned i = 0; i < c->failures && delay <
	    m->cfg->master.restart_max_ms / 1000.0; i++)
		delay *= 2;
	if (delay > m->cfg->master.restart_max_ms / 1000.0)
		delay = m->cfg->master.restart_max_ms / 1000.0;
	c->failures++;
	log_notice("event=daemon-restart daemon=%s in=%.1fs attempt=%u",
	    c->d->name, delay, c->failures);
	ev_timer_init(&c->restart_w, child_restart_cb, delay, 0);
	c->restart_w.data = c;
	ev_timer_start(loop, &c->restart_w);
}

static void
child_restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct master_child *c = w->data;

	if (!c->m->stopping)
		master_child_start(c);
}

void
master_child_start(struct master_child *c)
{
	struct master *m = c->m;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_err_errno("event=spawn-failed daemon=%s socketpair",
		    c->d->name);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_err_errno("event=spawn-failed daemon=%s fork", c->d->name);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		child_exec(c, sv[1]);
	}
	close(sv[1]);
	c->pid = pid;
	c->ready = 0;
	c->started = ev_now(m->loop);
	c->ctl = ipc_conn_new(m->loop, sv[0], 4096, child_ctl_msg,
	    child_ctl_close, c);
	ev_child_init(&c->child_w, child_exit_cb, pid, 0);
	c->child_w.data = c;
	ev_child_start(m->loop, &c->child_w);
	log_info("event=daemon-start daemon=%s pid=%ld program=%s "
	    "instance=%u", c->d->name, (long)pid, c->path, c->instance);
}

static void
retiree_exit_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct master_retiree *r = w->data, **pp;
	struct master *m = r->m;

	ev_child_stop(loop, w);
	log_info("event=daemon-retired daemon=%s pid=%ld status=%d", r->name,
	    (long)r->pid, WIFEXITED(w->rstatus) ? WEXITSTATUS(w->rstatus) :
	    128 + WTERMSIG(w->rstatus));
	for (pp = &m->retirees; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	free(r);
	if (m->stopping && master_children_running(m) == 0)
		ev_break(loop, EVBREAK_ALL);
}

void
master_child_replace(struct master_child *c)
{
	struct master *m = c->m;
	struct master_retiree *r;

	if (c->pid <= 0) {
		master_child_start(c);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->m = m;
	r->name = c->d->name;
	r->pid = c->pid;
	ev_child_stop(m->loop, &c->child_w);
	ev_child_init(&r->w, retiree_exit_cb, r->pid, 0);
	r->w.data = r;
	ev_child_start(m->loop, &r->w);
	r->next = m->retirees;
	m->retirees = r;
	ipc_conn_free(&c->ctl);
	kill(r->pid, SIGTERM);
	log_info("event=daemon-replace daemon=%s old=%ld", c->d->name,
	    (long)r->pid);
	c->pid = 0;
	master_child_start(c);
}

void
master_children_signal(struct master *m, int sig)
{
	struct master_retiree *r;
	size_t i;

	for (i = 0; i < m->n_children; i++)
		if (m->children[i].pid > 0)
			kill(m->children[i].pid, sig);
	for (r = m->retirees; r != NULL; r = r->next)
		kill(r->pid, sig);
}

size_t
master_children_running(const struct master *m)
{
	const struct master_retiree *r;
	size_t i, n = 0;

	for (i = 0; i < m->n_children; i++)
		if (m->children[i].pid > 0)
			n++;
	for (r = m->retirees; r != NULL; r = r->next)
		n++;
	return n;
}
