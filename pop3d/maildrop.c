/* The maildrop: the [IN-USE] lock, the INBOX snapshot from the index, UPDATE. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "pop3d/pop3d.h"

/*
 * The lock is flock(2) on ROOT/pop3.lock, held for the session.  flock
 * belongs to the open file description, so two sessions of one process
 * exclude each other too, and a crashed process frees it.  The file's
 * mtime is the last login (LOGIN-DELAY).
 */
#define POP3_LOCK_FILE "pop3.lock"
/* room for ROOT/FILE */
#define DROP_PATH_MAX (sizeof(((struct pop3_drop *)0)->root) + \
    MAILIDX_FILE_MAX + 16)

static int
mkdir_one(const char *p)
{
	return mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* The user's directory and Maildir, as the MDA makes them (a user who
 * never got mail has none yet). */
static int
drop_mkdirs(const char *root, const char **why)
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

static enum pop3_drop_rc
drop_lock(struct pop3_drop *dr, unsigned login_delay_s, const char **why)
{
	char p[DROP_PATH_MAX];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/" POP3_LOCK_FILE, dr->root);
	dr->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (dr->lock_fd < 0) {
		*why = "cannot open the lock file";
		return POP3_DROP_FAIL;
	}
	if (flock(dr->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return POP3_DROP_IN_USE;
		*why = "cannot lock the maildrop";
		return POP3_DROP_FAIL;
	}
	if (login_delay_s > 0 && fstat(dr->lock_fd, &sb) == 0 &&
	    sb.st_size > 0 && time(NULL) - sb.st_mtime < login_delay_s)
		return POP3_DROP_DELAY;
	/* the mtime (with one byte written once) marks this login */
	if (pwrite(dr->lock_fd, "1", 1, 0) != 1 ||
	    futimens(dr->lock_fd, NULL) != 0)
		log_warn_errno("event=lock-touch-failed dir=%s", dr->root);
	return POP3_DROP_OK;
}

/* Reconcile INBOX with its Maildir (only if new/ or cur/ changed). */
static int
reconcile_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct pop3_drop *dr = arg;
	struct mailidx_mbox mb;
	int changed = 0, rc;

	rc = mailidx_mbox_get(t, "INBOX", &mb);
	if (rc == 0)
		rc = mailidx_mbox_create(t, "INBOX", 0, &mb, why) == 0 ? 1 : -1;
	if (rc != 1)
		return -1;
	dr->mbox_id = mb.id;
	return mailidx_reconcile(t, dr->root, mb.id, 0, &changed, why);
}

struct snap_ctx {
	struct pop3_drop *dr;
	size_t cap;
	struct mailidx_txn *t;
};

/*
 * The CRLF size of a message the index knows only from its file (one
 * dropped in by another program, maybe with LF line ends): count.  Ours
 * carry a cache blob and an exact size.
 */
static uint64_t
crlf_size(const struct pop3_drop *dr, const struct mailidx_msg *m)
{
	char p[DROP_PATH_MAX], buf[65536];
	uint64_t size = 0;
	ssize_t n, i;
	int fd, prev_cr = 0;

	snprintf(p, sizeof(p), "%s/%s", dr->root, m->file);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return m->size;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && !prev_cr)
				size++;
			prev_cr = buf[i] == '\r';
		}
		size += (uint64_t)n;
	}
	close(fd);
	/* a last line without an end gets one from RETR */
	return n < 0 ? m->size : size;
}

static int
snap_fn(const struct mailidx_msg *m, void *arg)
{
	struct snap_ctx *c = arg;
	struct pop3_drop *dr = c->dr;
	struct pop3_msg *pm;
	struct span blob;

	if (dr->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		dr->msgs = xreallocarray(dr->msgs, c->cap, sizeof(*dr->msgs));
	}
	pm = &dr->msgs[dr->n++];
	memset(pm, 0, sizeof(*pm));
	pm->uid = m->uid;
	pm->size = m->size;
	if (mailidx_msg_cache(c->t, dr->mbox_id, m->uid, &blob) != 1)
		pm->size = crlf_size(dr, m);
	return 0;
}

static int
drop_snapshot(struct pop3_drop *dr, const char **why)
{
	struct mailidx_txn *t;
	struct mailidx_mbox mb;
	struct snap_ctx c = { dr, 0, NULL };

	if (mailidx_txn_begin(dr->idx, 0, &t, why) != 0)
		return -1;
	c.t = t;
	if (mailidx_mbox_get_id(t, dr->mbox_id, &mb) != 1 ||
	    mailidx_msg_range(t, dr->mbox_id, 1, UINT32_MAX, snap_fn,
	    &c) < 0) {
		mailidx_txn_abort(&t);
		*why = "cannot read INBOX from the index";
		return -1;
	}
	dr->uidvalidity = mb.uidvalidity;
	mailidx_txn_abort(&t);
	return 0;
}

enum pop3_drop_rc
pop3_drop_open(struct pop3_drop *dr, const char *mail_dir,
    const char *address, unsigned login_delay_s, const char **why)
{
	enum pop3_drop_rc rc;

	memset(dr, 0, sizeof(*dr));
	dr->lock_fd = -1;
	if (maildir_user_dir(mail_dir, address, dr->root, sizeof(dr->root)) < 0) {
		*why = "no Maildir path for this address";
		return POP3_DROP_FAIL;
	}
	if (drop_mkdirs(dr->root, why) < 0) {
		pop3_drop_close(dr);
		return POP3_DROP_FAIL;
	}
	if ((rc = drop_lock(dr, login_delay_s, why)) != POP3_DROP_OK) {
		pop3_drop_close(dr);
		return rc;
	}
	if (mailidx_open(dr->root, MAILIDX_CREATE, &dr->idx, why) != 0) {
		dr->idx = NULL;
		pop3_drop_close(dr);
		return POP3_DROP_FAIL;
	}
	if (mailidx_write(dr->idx, reconcile_fn, dr, why) != 0 ||
	    drop_snapshot(dr, why) != 0) {
		pop3_drop_close(dr);
		return POP3_DROP_FAIL;
	}
	return POP3_DROP_OK;
}

int
pop3_drop_open_msg(struct pop3_drop *dr, size_t i, const char **why)
{
	struct mailidx_txn *t;
	struct mailidx_msg m;
	char p[DROP_PATH_MAX];
	int rc, fd;

	/* the file name now: IMAP may have renamed it (flags) since */
	if (mailidx_txn_begin(dr->idx, 0, &t, why) != 0)
		return -1;
	rc = mailidx_msg_get(t, dr->mbox_id, dr->msgs[i].uid, &m);
	mailidx_txn_abort(&t);
	if (rc != 1) {
		*why = rc == 0 ? "message expunged by another session" :
		    "index read failed";
		return -1;
	}
	snprintf(p, sizeof(p), "%s/%s", dr->root, m.file);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		*why = errno == ENOENT ? "message file gone" :
		    "cannot open message file";
		return -1;
	}
	return fd;
}

struct update_ctx {
	struct pop3_drop *dr;
	int leave, mark_read;
	unsigned expunged;
	struct buf unlink;		/* file names, NUL-separated */
};

static int
update_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct update_ctx *c = arg;
	struct pop3_drop *dr = c->dr;
	struct mailidx_msg m;
	size_t i;
	int rc, modified;

	c->expunged = 0;
	buf_reset(&c->unlink);
	for (i = 0; i < dr->n; i++) {
		struct pop3_msg *pm = &dr->msgs[i];
		int del = pm->deleted && !c->leave;
		int seen = c->mark_read && (pm->retrieved || pm->deleted);

		if (!del && !seen)
			continue;
		rc = mailidx_msg_get(t, dr->mbox_id, pm->uid, &m);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;	/* IMAP expunged it meanwhile */
		if (del) {
			if ((rc = mailidx_msg_expunge(t, dr->mbox_id, pm->uid,
			    why)) != 0)
				return rc;
			if (buf_add(&c->unlink, m.file, strlen(m.file) + 1))
				return -1;
			c->expunged++;
			continue;
		}
		if (m.flags & MAILIDX_F_SEEN)
			continue;
		if ((rc = mailidx_msg_store(t, dr->mbox_id, pm->uid, '+',
		    MAILIDX_F_SEEN, 0, 0, &m, &modified, why)) != 0)
			return rc;
	}
	return 0;
}

/* The renamed files, recorded in the index in one transaction. */
struct rename_ctx {
	struct pop3_drop *dr;
	struct buf recs;		/* u32 uid, then the name and a NUL */
};

static int
rename_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct rename_ctx *c = arg;
	size_t off = 0;
	uint32_t uid;
	int rc;

	while (off < c->recs.len) {
		const char *file;

		memcpy(&uid, c->recs.data + off, sizeof(uid));
		file = (const char *)c->recs.data + off + sizeof(uid);
		off += sizeof(uid) + strlen(file) + 1;
		rc = mailidx_msg_set_file(t, c->dr->mbox_id, uid, file, why);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * Messages that get \Seen also get the "S" letter in their file name
 * (cur/NAME:2,S), so Maildir readers agree.  The renames come first and
 * one transaction then records the new names; a crash between the two
 * leaves files that reconcile matches by their base names.
 */
static void
seen_rename(struct pop3_drop *dr, int leave)
{
	struct rename_ctx c = { dr, { 0 } };
	struct mailidx_txn *t;
	struct mailidx_msg m;
	char file[MAILIDX_FILE_MAX + 1];
	const char *why = NULL;
	size_t i;

	if (mailidx_txn_begin(dr->idx, 0, &t, &why) != 0)
		return;
	buf_init(&c.recs, 4096, (size_t)64 << 20);
	for (i = 0; i < dr->n; i++) {
		struct pop3_msg *pm = &dr->msgs[i];
		uint64_t letters = 0;
		const char *info;

		if (!(pm->retrieved || pm->deleted) || (pm->deleted && !leave))
			continue;
		if (mailidx_msg_get(t, dr->mbox_id, pm->uid, &m) != 1 ||
		    !(m.flags & MAILIDX_F_SEEN))
			continue;
		info = strstr(m.file, ":2,");
		if (info != NULL && strchr(info + 3, 'S') != NULL)
			continue;
		if (info != NULL && maildir_flags_parse(span_cstr(info + 3),
		    &letters) != 0)
			letters = 0;
		letters = mailidx_flags_to_maildir(m.flags, letters);
		if (maildir_set_flags(dr->root, m.file, letters, file,
		    sizeof(file), &why) != 0)
			continue;
		if (buf_add(&c.recs, &pm->uid, sizeof(pm->uid)) != 0 ||
		    buf_add(&c.recs, file, strlen(file) + 1) != 0)
			break;
	}
	mailidx_txn_abort(&t);
	if (c.recs.len > 0 && mailidx_write(dr->idx, rename_fn, &c,
	    &why) != 0)
		log_warn("event=seen-rename-failed dir=%s reason=\"%s\"",
		    dr->root, why ? why : "?");
	buf_fini(&c.recs);
}

int
pop3_drop_update(struct pop3_drop *dr, int leave, int mark_read,
    unsigned *expunged_out, const char **why)
{
	struct update_ctx c = { dr, leave, mark_read, 0, { 0 } };
	char p[DROP_PATH_MAX];
	size_t off;
	int rc;

	buf_init(&c.unlink, 1024, 64 << 20);
	rc = mailidx_write(dr->idx, update_fn, &c, why);
	if (rc == 0) {
		/* the index no longer has them: the files can go */
		for (off = 0; off < c.unlink.len;
		    off += strlen((char *)c.unlink.data + off) + 1) {
			snprintf(p, sizeof(p), "%s/%s", dr->root,
			    (char *)c.unlink.data + off);
			if (unlink(p) != 0 && errno != ENOENT)
				log_warn_errno("event=unlink-failed file=%s",
				    p);
		}
		if (mark_read)
			seen_rename(dr, leave);
	}
	*expunged_out = c.expunged;
	buf_fini(&c.unlink);
	return rc == 0 ? 0 : -1;
}

void
pop3_drop_close(struct pop3_drop *dr)
{
	if (dr->idx != NULL)
		mailidx_close(&dr->idx);
	if (dr->lock_fd >= 0)
		close(dr->lock_fd);
	dr->lock_fd = -1;
	free(dr->msgs);
	dr->msgs = NULL;
	dr->n = 0;
}
