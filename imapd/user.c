/* The per-process table of users' indexes and the one inotify fd with its shared watches. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imapd.h"

static int
mkdir_one(const char *p)
{
	return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The user's directory and Maildir, as the MDA makes them (a user who
 * never got mail has none yet). */
static int
user_mkdirs(const char *root, const char **why)
{
	char p[PATH_MAX], *slash;

	snprintf(p, sizeof(p), "%s", root);
	if ((slash = strrchr(p, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (mkdir_one(p) < 0 || mkdir_one(root) < 0) {
		*why = "cannot make the user's directory";
		return -1;
	}
	return maildir_make(root, "", why);
}

struct imap_user *
imap_user_get(struct imapd *d, const char *address, const char **why)
{
	struct imap_user *u;
	char root[PATH_MAX];

	for (u = d->users; u != NULL; u = u->next)
		if (strcmp(u->addr, address) == 0) {
			u->refs++;
			return u;
		}
	if (maildir_user_dir(d->mail_dir, address, root, sizeof(root)) < 0) {
		*why = "no Maildir path for this address";
		return NULL;
	}
	if (user_mkdirs(root, why) < 0)
		return NULL;
	u = xcalloc(1, sizeof(*u));
	snprintf(u->addr, sizeof(u->addr), "%s", address);
	u->root = xstrdup(root);
	if (mailidx_open(root, MAILIDX_CREATE, &u->idx, why) != 0) {
		free(u->root);
		free(u);
		return NULL;
	}
	u->refs = 1;
	u->next = d->users;
	if (d->users != NULL)
		d->users->prev = u;
	d->users = u;
	return u;
}

void
imap_user_put(struct imapd *d, struct imap_user **up)
{
	struct imap_user *u = *up;

	*up = NULL;
	if (u == NULL || --u->refs > 0)
		return;
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		d->users = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	mailidx_close(&u->idx);
	free(u->root);
	free(u);
}

/* ---- inotify ---- */

/* Watches no session uses are kept, up to this many per process: a
 * client that logs in and out (phones, Outlook's extra connections)
 * would otherwise pay for a new inotify watch at each SELECT, and the
 * kernel marks every entry of the directory for it (linear in the
 * mailbox's size). */
#define IMAP_WATCH_KEEP 64

static void
watch_free(struct imapd *d, struct imap_watch *w, int rm)
{
	if (rm && d->ino_fd >= 0)
		(void)inotify_rm_watch(d->ino_fd, w->wd);
	if (w->refs == 0)
		d->idle_watches--;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		d->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/* The kernel dropped wd (its directory went, or we removed it). */
static void
watch_ignored(struct imapd *d, int wd)
{
	struct imap_watch *w;

	for (w = d->watches; w != NULL; w = w->next)
		if (w->wd == wd) {
			/* a session's watch stays until the session puts
			 * it (its mailbox is gone, which it looks at), but
			 * is not kept after: wd is no longer ours */
			if (w->refs == 0) {
				watch_free(d, w, 0);
				return;
			}
			imap_notify(d, wd);
			w->wd = -1;
			return;
		}
}

static void
ino_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct imapd *d = w->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	const struct inotify_event *e;
	ssize_t n;
	size_t off;

	while ((n = read(d->ino_fd, buf, sizeof(buf))) > 0)
		for (off = 0; off < (size_t)n; off += sizeof(*e) + e->len) {
			e = (const struct inotify_event *)(void *)(buf + off);
			if (e->mask & IN_Q_OVERFLOW)
				imap_notify(d, -1);	/* every watch */
			else if (e->mask & IN_IGNORED)
				watch_ignored(d, e->wd);
			else
				imap_notify(d, e->wd);
		}
}

void
imap_watch_init(struct imapd *d)
{
	d->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ino_fd < 0) {
		log_warn_errno("event=inotify-unavailable");
		return;
	}
	ev_io_init(&d->ino_w, ino_cb, d->ino_fd, EV_READ);
	d->ino_w.data = d;
	ev_io_start(d->loop, &d->ino_w);
}

void
imap_watch_fini(struct imapd *d)
{
	struct imap_watch *w, *next;

	for (w = d->watches; w != NULL; w = next) {
		next = w->next;
		if (w->refs == 0)
			watch_free(d, w, 1);
	}
	if (d->ino_fd < 0)
		return;
	ev_io_stop(d->loop, &d->ino_w);
	close(d->ino_fd);
	d->ino_fd = -1;
}

/* A watch on path (a Maildir's new/ or cur/): the same inode gives the
 * same wd, so sessions share it.  NULL if inotify fails (then changes
 * show at the next command, not in IDLE). */
struct imap_watch *
imap_watch_add(struct imapd *d, const char *path)
{
	struct imap_watch *w;
	int wd;

	if (d->ino_fd < 0)
		return NULL;
	wd = inotify_add_watch(d->ino_fd, path, IN_CREATE | IN_DELETE |
	    IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR);
	if (wd < 0) {
		log_warn_errno("event=inotify-watch-failed path=%s", path);
		return NULL;
	}
	for (w = d->watches; w != NULL; w = w->next)
		if (w->wd == wd) {
			if (w->refs++ == 0)
				d->idle_watches--;
			return w;
		}
	w = xcalloc(1, sizeof(*w));
	w->wd = wd;
	w->refs = 1;
	w->next = d->watches;
	if (d->watches != NULL)
		d->watches->prev = w;
	d->watches = w;
	return w;
}

void
imap_watch_put(struct imapd *d, struct imap_watch **wp)
{
	struct imap_watch *w = *wp;

	*wp = NULL;
	if (w == NULL || --w->refs > 0)
		return;
	d->idle_watches++;
	if (w->wd < 0) {		/* the kernel dropped it */
		watch_free(d, w, 0);
		return;
	}
	if (d->idle_watches <= IMAP_WATCH_KEEP)
		return;
	/* too many kept: drop the one added longest ago (the list's
	 * tail; new ones go to the head) that no session uses */
	for (w = d->watches; w->next != NULL; w = w->next)
		;
	for (; w != NULL && w->refs > 0; w = w->prev)
		;
	if (w != NULL)
		watch_free(d, w, 1);
}
