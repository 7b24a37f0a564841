/* letterboxd's start-up work: config checks against this build, directories, sockets. */
/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net.h"
#include "common/tlsw.h"
#include "common/xmem.h"
#include "master/master.h"

char *
master_program_path(const char *program)
{
	char self[PATH_MAX], *slash, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			p = xasprintf("%s/%s", self, program);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	p = xasprintf("%s/%s", LB_LIBEXECDIR, program);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

static const struct master_daemon *
master_daemon_for_kind(enum cfg_listener_kind kind)
{
	size_t i, k;

	for (i = 0; i < master_n_daemons; i++)
		for (k = 0; master_daemons[i].kinds[k] != CFG_LISTEN_KIND_MAX;
		    k++)
			if (master_daemons[i].kinds[k] == kind)
				return &master_daemons[i];
	return NULL;
}

/* The TLS files load, as a daemon will load them: a certificate that
 * does not match its key fails -t, start and SIGHUP, never a daemon. */
static int
master_check_tls(const struct cfg *cfg)
{
	struct tlsw *t;
	const char *why = NULL;
	size_t i;

	for (i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls != CFG_TLS_NONE)
			break;
	if (i == cfg->n_listeners)
		return 0;
	if ((t = tlsw_new(cfg, &why)) == NULL) {
		log_err("%s: TLS: %s", cfg->path, why);
		return -1;
	}
	tlsw_free(&t);
	return 0;
}

/* Every name of a comma-separated user list exists. */
static int
master_check_users(const struct cfg *cfg, const struct master_daemon *d,
    const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *u;
	int bad = 0;

	for (u = strtok_r(copy, ", ", &save); u != NULL;
	    u = strtok_r(NULL, ", ", &save)) {
		if (getpwnam(u) == NULL) {
			log_err("%s: %s: client user \"%s\" does not exist",
			    cfg->path, d->name, u);
			bad = 1;
		}
	}
	free(copy);
	return bad ? -1 : 0;
}

int
master_check(const struct master *m, const struct cfg *cfg)
{
	int bad = 0;
	size_t i;

	if (master_check_tls(cfg) != 0)
		bad = 1;

	for (i = 0; i < cfg->n_listeners; i++) {
		const struct cfg_listener *l = &cfg->listeners[i];

		if (master_daemon_for_kind(l->kind) == NULL) {
			log_err("%s:%u: listen \"%s\": no daemon in this build "
			    "serves it", cfg->path, l->line, l->name);
			bad = 1;
		}
	}
	for (i = 0; i < master_n_daemons; i++) {
		const struct master_daemon *d = &master_daemons[i];
		const char *outside = d->outside_clients != NULL ?
		    d->outside_clients(cfg) : NULL;

		if (outside != NULL && master_check_users(cfg, d, outside) != 0)
			bad = 1;
	}
	for (i = 0; i < master_n_daemons; i++) {
		const struct master_daemon *d = &master_daemons[i];
		const struct cfg_daemon *s = d->section(cfg);
		char *path = master_program_path(d->program);

		if (path == NULL) {
			log_err("%s: program %s not found next to letterboxd "
			    "or in %s", cfg->path, d->program, LB_LIBEXECDIR);
			bad = 1;
		}
		free(path);
		if (!m->unprivileged && getpwnam(s->user) == NULL) {
			log_err("%s: %s: user \"%s\" does not exist (letterbox "
			    "init, run as root, creates it)", cfg->path,
			    d->name, s->user);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* mkdir -p one level with mode, then enforce mode and owner. */
static int
master_dir(const char *path, mode_t mode, const char *owner, int privileged,
    const char **why)
{
	static char msg[PATH_MAX + 64];
	struct passwd *pw;

	if (mkdir(path, mode) != 0 && errno != EEXIST) {
		snprintf(msg, sizeof(msg), "mkdir %s: %s", path,
		    strerror(errno));
		*why = msg;
		return -1;
	}
	if (chmod(path, mode) != 0) {
		snprintf(msg, sizeof(msg), "chmod %s: %s", path,
		    strerror(errno));
		*why = msg;
		return -1;
	}
	if (privileged && owner != NULL) {
		if ((pw = getpwnam(owner)) == NULL) {
			snprintf(msg, sizeof(msg), "user %s does not exist",
			    owner);
			*why = msg;
			return -1;
		}
		if (chown(path, pw->pw_uid, pw->pw_gid) != 0) {
			snprintf(msg, sizeof(msg), "chown %s: %s", path,
			    strerror(errno));
			*why = msg;
			return -1;
		}
	}
	return 0;
}

/* Files the CLI may have created as root inside an owned directory
 * (db/users.lmdb) must belong to the directory's daemon. */
static void
master_chown_files(const char *dir, const char *owner)
{
	struct passwd *pw = getpwnam(owner);
	struct dirent *de;
	DIR *d;

	if (pw == NULL || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fchownat(dirfd(d), de->d_name, pw->pw_uid, pw->pw_gid,
		    AT_SYMLINK_NOFOLLOW) != 0)
			log_warn_errno("event=chown file=%s/%s", dir,
			    de->d_name);
	}
	closedir(d);
}

int
master_dirs_make(const struct master *m, const char **why)
{
	const struct cfg *cfg = m->cfg;
	/* Which directory belongs to whom.  Later daemons add rows. */
	const struct {
		const char *sub;
		mode_t mode;
		const char *owner;	/* NULL: root (or us) */
	} dirs[] = {
		{ "", 0755, NULL },
		{ "db", 0700, cfg->authd.d.user },
		/* tmp/ and queue/ inside are made by queued itself */
		{ "spool", 0700, cfg->queued.d.user },
		/* mail/DOMAIN/USER/ and mail/.tmp/ are made by the mda */
		{ "mail", 0700, cfg->mda.d.user },
	};
	int privileged = !m->unprivileged;
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = cfg_state_path(cfg, dirs[i].sub);
		int rc = master_dir(p, dirs[i].mode, dirs[i].owner, privileged,
		    why);

		if (rc == 0 && privileged && dirs[i].owner != NULL)
			master_chown_files(p, dirs[i].owner);
		free(p);
		if (rc != 0)
			return -1;
	}
	return master_dir(cfg->run_dir, 0755, NULL, privileged, why);
}

static int
master_unix_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		return -1;
	(void)unlink(path);
	/* SECURITY: world-connectable on purpose; the serving daemon checks
	 * every peer's uid with SO_PEERCRED against LB_PEERS, made from the table
	 * in master/main.c. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0666) != 0 || listen(fd, 128) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
master_sockets_open(struct master *m)
{
	size_t i;

	m->socks = xcalloc(master_n_daemons, sizeof(*m->socks));
	for (i = 0; i < master_n_daemons; i++) {
		struct master_sock *s = &m->socks[i];

		s->fd = -1;
		if (master_daemons[i].serves == NULL)
			continue;
		s->path = xasprintf("%s/%s.sock", m->cfg->run_dir,
		    master_daemons[i].serves);
		if ((s->fd = master_unix_listen(s->path)) < 0) {
			log_err_errno("event=bind-failed socket=%s", s->path);
			return -1;
		}
	}
	/* Listeners: master_check has already refused any listener that no
	 * daemon of this build serves.  Bound here, as root, so that ports
	 * below 1024 work; the daemons only ever get the descriptors. */
	m->n_lfds = 0;
	for (i = 0; i < m->cfg->n_listeners; i++) {
		const struct cfg_listener *l = &m->cfg->listeners[i];
		size_t a;

		for (a = 0; a < l->n_addrs; a++) {
			int fds[4];
			size_t n = 0, k;
			const char *why = NULL;

			if (net_listen(l->addrs[a], fds, 4, &n, &why) != 0) {
				log_err("%s:%u: listen \"%s\": address %s: %s",
				    m->cfg->path, l->line, l->name,
				    l->addrs[a], why);
				return -1;
			}
			for (k = 0; k < n; k++) {
				if (m->n_lfds == MASTER_MAX_LISTEN_FDS) {
					log_err("too many listening sockets");
					return -1;
				}
				m->lfds[m->n_lfds].kind = l->kind;
				m->lfds[m->n_lfds++].fd = fds[k];
			}
			log_info("event=listen listener=%s address=%s sockets=%zu",
			    l->name, l->addrs[a], n);
		}
	}
	return 0;
}

void
master_sockets_close(struct master *m)
{
	size_t i;

	for (i = 0; m->socks != NULL && i < master_n_daemons; i++) {
		if (m->socks[i].fd >= 0)
			close(m->socks[i].fd);
		if (m->socks[i].path != NULL)
			(void)unlink(m->socks[i].path);
		free(m->socks[i].path);
	}
	xfree(&m->socks);
	for (i = 0; i < m->n_lfds; i++)
		close(m->lfds[i].fd);
	m->n_lfds = 0;
}
