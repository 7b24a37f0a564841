/* The MDA's side of the store: per-user index handles shared by threads, quota usage, durable delivery. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/msgcache.h"
#include "common/xmem.h"
#include "mda/mda.h"

/* Handles kept open; idle ones past this are closed. */
#define MDA_STORE_MAX_OPEN 64
/* Bytes copied from the message file at a time. */
#define MDA_COPY_CHUNK (64u * 1024u)
/* The largest msgcache blob we store (msgcache.h bounds it lower). */
#define MDA_BLOB_MAX (1024u * 1024u)

struct mda_user {
	struct mda_user *next;
	char root[PATH_MAX];
	pthread_mutex_t lock;		/* every use of idx holds it */
	struct mailidx *idx;		/* NULL until opened */
	dev_t dev;			/* index.lmdb we opened */
	ino_t ino;
	unsigned refs;			/* guarded by the store's mu */
};

struct mda_store {
	char mail_dir[PATH_MAX];
	char host[256];
	pthread_mutex_t mu;		/* users, n, refs */
	struct mda_user *users;
	size_t n;
};

/* maildir_tmp_open counts names in a static without a lock. */
static pthread_mutex_t mda_tmp_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char mda_whybuf[512];

static const char *
store_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
store_why(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mda_whybuf, sizeof(mda_whybuf), fmt, ap);
	va_end(ap);
	return mda_whybuf;
}

struct mda_store *
mda_store_new(const char *mail_dir, const char *host)
{
	struct mda_store *st = xcalloc(1, sizeof(*st));

	snprintf(st->mail_dir, sizeof(st->mail_dir), "%s", mail_dir);
	snprintf(st->host, sizeof(st->host), "%s", host);
	pthread_mutex_init(&st->mu, NULL);
	return st;
}

static void
user_free(struct mda_user *u)
{
	mailidx_close(&u->idx);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void
mda_store_free(struct mda_store **stp)
{
	struct mda_store *st = *stp;
	struct mda_user *u, *next;

	if (st == NULL)
		return;
	for (u = st->users; u != NULL; u = next) {
		next = u->next;
		BUG_ON(u->refs != 0);
		user_free(u);
	}
	pthread_mutex_destroy(&st->mu);
	free(st);
	*stp = NULL;
}

/* Close idle handles while more than the cap are open.  Under st->mu:
 * refs 0 means no thread holds the user, and none can take it now. */
static void
store_trim_locked(struct mda_store *st)
{
	struct mda_user **pu = &st->users, *u;

	while (st->n > MDA_STORE_MAX_OPEN && *pu != NULL) {
		u = *pu;
		if (u->refs != 0) {
			pu = &u->next;
			continue;
		}
		*pu = u->next;
		st->n--;
		user_free(u);
	}
}

static struct mda_user *
user_acquire(struct mda_store *st, const char *root)
{
	struct mda_user *u;

	pthread_mutex_lock(&st->mu);
	for (u = st->users; u != NULL; u = u->next)
		if (strcmp(u->root, root) == 0)
			break;
	if (u == NULL) {
		store_trim_locked(st);
		u = xcalloc(1, sizeof(*u));
		snprintf(u->root, sizeof(u->root), "%s", root);
		pthread_mutex_init(&u->lock, NULL);
		u->next = st->users;
		st->users = u;
		st->n++;
	}
	u->refs++;
	pthread_mutex_unlock(&st->mu);
	return u;
}

static void
user_release(struct mda_store *st, struct mda_user *u)
{
	pthread_mutex_lock(&st->mu);
	u->refs--;
	pthread_mutex_unlock(&st->mu);
}

static int
mkdir_one(const char *p)
{
	if (mkdir(p, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

/* MAIL_DIR/DOMAIN and MAIL_DIR/DOMAIN/USER. */
static int
user_mkdirs(const char *root, const char **why)
{
	char p[PATH_MAX], *slash;

	snprintf(p, sizeof(p), "%s", root);
	if ((slash = strrchr(p, '/')) == NULL)
		return -1;
	*slash = '\0';
	if (mkdir_one(p) < 0 || mkdir_one(root) < 0) {
		*why = store_why("mkdir %s: %s", root, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * With u->lock held: make sure u->idx is open on the index.lmdb that is
 * there now.  A file deleted or replaced behind our back (an admin
 * removing a damaged index) is let go, and the open rebuilds it.
 */
static int
user_open_locked(struct mda_user *u, const char **why)
{
	char p[PATH_MAX + 16];
	struct stat sb;
	int have;

	snprintf(p, sizeof(p), "%s/index.lmdb", u->root);
	have = stat(p, &sb) == 0;
	if (u->idx != NULL && (!have || sb.st_dev != u->dev ||
	    sb.st_ino != u->ino)) {
		log_notice("event=index-replaced dir=%s", u->root);
		mailidx_close(&u->idx);
	}
	if (u->idx != NULL)
		return 0;
	if (user_mkdirs(u->root, why) < 0 || maildir_make(u->root, "", why) < 0)
		return -1;
	if (mailidx_open(u->root, MAILIDX_CREATE, &u->idx, why) != 0) {
		u->idx = NULL;
		return -1;
	}
	if (mailidx_rebuilt(u->idx))
		log_notice("event=index-rebuilt dir=%s", u->root);
	if (stat(p, &sb) == 0) {
		u->dev = sb.st_dev;
		u->ino = sb.st_ino;
	}
	return 0;
}

struct usage {
	uint64_t bytes, messages;
};

static int
usage_add(const struct mailidx_mbox *m, void *arg)
{
	struct usage *us = arg;

	us->bytes += m->size;
	us->messages += m->messages;
	return 0;
}

/* With u->lock held and u->idx open. */
static int
user_usage_locked(struct mda_user *u, struct usage *us, const char **why)
{
	struct mailidx_txn *t;
	int rc;

	memset(us, 0, sizeof(*us));
	if (mailidx_txn_begin(u->idx, 0, &t, why) != 0)
		return -1;
	rc = mailidx_mbox_list(t, usage_add, us);
	mailidx_txn_abort(&t);
	if (rc < 0) {
		*why = "cannot read the mailbox counters";
		return -1;
	}
	return 0;
}

static int
over_quota(const struct mda_target *t, const struct usage *us, uint64_t size)
{
	if (t->quota_bytes != 0 && (us->bytes >= t->quota_bytes ||
	    us->bytes + size > t->quota_bytes))
		return 1;
	if (t->quota_messages != 0 && us->messages + 1 > t->quota_messages)
		return 1;
	return 0;
}

static int
user_get(struct mda_store *st, const char *address, struct mda_user **out,
    const char **why)
{
	char root[PATH_MAX];

	if (mda_user_dir(st->mail_dir, address, root, sizeof(root)) < 0) {
		*why = "no Maildir path for this address";
		return -1;
	}
	*out = user_acquire(st, root);
	return 0;
}

int
mda_store_full(struct mda_store *st, const struct mda_target *t,
    uint64_t size, const char **why)
{
	struct mda_user *u;
	struct usage us;
	int rc;

	if (t->quota_bytes == 0 && t->quota_messages == 0)
		return 0;
	if (user_get(st, t->address, &u, why) < 0)
		return -1;
	pthread_mutex_lock(&u->lock);
	rc = user_open_locked(u, why) < 0 || user_usage_locked(u, &us, why) < 0
	    ? -1 : over_quota(t, &us, size);
	pthread_mutex_unlock(&u->lock);
	user_release(st, u);
	return rc;
}

/* ---- writing one copy ---- */

struct append_ctx {
	const char *root;
	const char *file;
	uint64_t size;
	int64_t now;
	struct span blob;
	uint32_t uid;
};

/*
 * The index transaction (may run twice: mailidx_write retries after map
 * growth).  Append first, then reconcile: reconcile then finds our file
 * already indexed and takes only what other programs dropped in.
 */
static int
append_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct append_ctx *c = arg;
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	int rc, changed = 0;

	rc = mailidx_mbox_get(t, "INBOX", &mb);
	if (rc == 0)
		rc = mailidx_mbox_create(t, "INBOX", 0, &mb, why) == 0 ? 1 : -1;
	if (rc != 1) {
		if (why != NULL && *why == NULL)
			*why = "no INBOX in the index";
		return -1;
	}
	memset(&m, 0, sizeof(m));
	snprintf(m.file, sizeof(m.file), "%s", c->file);
	m.size = c->size;
	m.internaldate = c->now;
	if ((rc = mailidx_msg_append(t, mb.id, &m, c->blob, why)) != 0)
		return rc;
	c->uid = m.uid;
	return mailidx_reconcile(t, c->root, mb.id, 0, &changed, why);
}

/* Copy the message after the prefix into the tmp file, parsing both. */
static int
copy_message(struct maildir_tmp *tmp, struct msgcache_parser *ps,
    struct span prefix, int fd, uint64_t size, const char **why)
{
	uint8_t *b = xmalloc(MDA_COPY_CHUNK);
	uint64_t off = 0;
	int rc = 0;

	msgcache_feed(ps, prefix);
	if (maildir_tmp_write(tmp, prefix.p, prefix.n, why) < 0)
		rc = -1;
	while (rc == 0 && off < size) {
		size_t want = size - off < MDA_COPY_CHUNK ?
		    (size_t)(size - off) : MDA_COPY_CHUNK;
		ssize_t r = pread(fd, b, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*why = r == 0 ? "message file shorter than received" :
			    store_why("read message: %s", strerror(errno));
			rc = -1;
			break;
		}
		msgcache_feed(ps, span_make(b, (size_t)r));
		if (maildir_tmp_write(tmp, b, (size_t)r, why) < 0)
			rc = -1;
		off += (uint64_t)r;
	}
	free(b);
	/* the data first, outside the user's lock; commit's own fsync
	 * then has little left to do */
	if (rc == 0 && fdatasync(tmp->fd) < 0) {
		*why = store_why("fdatasync: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

/* With u->lock held: link into new/, fsync new/, index.  On failure
 * nothing is left in new/ (unless unlink fails, when the next
 * reconcile takes the file: docs/mda.md). */
static enum mda_status
commit_locked(struct mda_user *u, struct maildir_tmp *tmp, struct span blob,
    uint64_t size, uint32_t *uid_out, const char **why)
{
	char file[MAILDIR_NAME_MAX + 8], path[PATH_MAX + MAILDIR_NAME_MAX + 8];
	struct append_ctx c;
	int rc;

	if (user_open_locked(u, why) < 0) {
		maildir_tmp_abort(tmp);
		return MDA_TEMP;
	}
	if (maildir_commit(tmp, 0, 0, file, sizeof(file), why) < 0)
		return MDA_TEMP;
	memset(&c, 0, sizeof(c));
	c.root = u->root;
	c.file = file;
	c.size = size;
	c.now = (int64_t)time(NULL);
	c.blob = blob;
	if ((rc = mailidx_write(u->idx, append_fn, &c, why)) != 0) {
		snprintf(path, sizeof(path), "%s/%s", u->root, file);
		if (unlink(path) < 0)
			log_err_errno("event=unindexed-file-left path=%s", path);
		return MDA_TEMP;
	}
	*uid_out = c.uid;
	return MDA_OK;
}

enum mda_status
mda_store_deliver(struct mda_store *st, const struct mda_target *t,
    int msg_fd, uint64_t msg_size, const char *sender, const char *rcpt,
    uint32_t *uid_out, const char **why)
{
	struct mda_user *u;
	struct maildir_tmp tmp;
	struct msgcache_parser *ps = NULL;
	struct buf prefix, blob;
	struct usage us;
	enum mda_status rc = MDA_TEMP;
	int r;

	*why = NULL;
	if (user_get(st, t->address, &u, why) < 0)
		return MDA_TEMP;
	buf_init(&prefix, 256, 4096);
	buf_init(&blob, 4096, MDA_BLOB_MAX);
	pthread_mutex_lock(&u->lock);
	r = user_open_locked(u, why) < 0 || user_usage_locked(u, &us, why) < 0
	    ? -1 : 0;
	pthread_mutex_unlock(&u->lock);
	if (r < 0)
		goto out;
	if (mda_prefix(&prefix, sender, rcpt) < 0) {
		*why = "bad address for the header lines";
		goto out;
	}
	if (over_quota(t, &us, prefix.len + msg_size)) {
		rc = MDA_FULL;
		goto out;
	}
	pthread_mutex_lock(&mda_tmp_mu);
	r = maildir_tmp_open(u->root, st->host, &tmp, why);
	pthread_mutex_unlock(&mda_tmp_mu);
	if (r < 0)
		goto out;
	ps = msgcache_parser_new();
	if (copy_message(&tmp, ps, buf_view(&prefix), msg_fd, msg_size,
	    why) < 0) {
		maildir_tmp_abort(&tmp);
		goto out;
	}
	/* a blob that does not fit is left out: readers parse the file */
	if (msgcache_finish(ps, &blob) < 0)
		buf_reset(&blob);
	pthread_mutex_lock(&u->lock);
	rc = commit_locked(u, &tmp, buf_view(&blob), prefix.len + msg_size,
	    uid_out, why);
	pthread_mutex_unlock(&u->lock);
out:
	msgcache_parser_free(&ps);
	buf_fini(&prefix);
	buf_fini(&blob);
	user_release(st, u);
	if (rc == MDA_TEMP && *why == NULL)
		*why = "delivery failed";
	return rc;
}

/* ---- the diagnostic listing ---- */

struct print_ctx {
	struct mailidx_txn *t;
	uint32_t mbox_id;
	const char *mbox;
};

static int
print_msg(const struct mailidx_msg *m, void *arg)
{
	struct print_ctx *c = arg;
	struct msgcache_part part;
	struct span blob;
	char flags[8];
	size_t n = 0;

	if (m->flags & MAILIDX_F_DRAFT)
		flags[n++] = 'D';
	if (m->flags & MAILIDX_F_FLAGGED)
		flags[n++] = 'F';
	if (m->flags & MAILIDX_F_ANSWERED)
		flags[n++] = 'R';
	if (m->flags & MAILIDX_F_SEEN)
		flags[n++] = 'S';
	if (m->flags & MAILIDX_F_DELETED)
		flags[n++] = 'T';
	if (n == 0)
		flags[n++] = '-';
	flags[n] = '\0';
	printf("msg mailbox=%s uid=%u flags=%s size=%llu internaldate=%lld "
	    "modseq=%llu file=%s", c->mbox, m->uid, flags,
	    (unsigned long long)m->size, (long long)m->internaldate,
	    (unsigned long long)m->modseq, m->file);
	if (mailidx_msg_cache(c->t, c->mbox_id, m->uid, &blob) == 1 &&
	    blob.n > 0) {
		if (msgcache_open(blob) == 0 && msgcache_part(blob, 0,
		    &part) == 0)
			printf(" cache=ok body_off=%llu end_off=%llu",
			    (unsigned long long)part.body_off,
			    (unsigned long long)part.end_off);
		else
			printf(" cache=bad");
	} else
		printf(" cache=none");
	printf("\n");
	return 0;
}

static int
print_mbox(const struct mailidx_mbox *m, void *arg)
{
	struct print_ctx *c = arg;

	printf("mailbox name=%s uidvalidity=%u uidnext=%u messages=%u "
	    "unseen=%u deleted=%u size=%llu highestmodseq=%llu\n", m->name,
	    m->uidvalidity, m->uidnext, m->messages, m->unseen, m->deleted,
	    (unsigned long long)m->size,
	    (unsigned long long)m->highestmodseq);
	c->mbox_id = m->id;
	c->mbox = m->name;
	return mailidx_msg_range(c->t, m->id, 1, UINT32_MAX, print_msg, c) < 0
	    ? -1 : 0;
}

int
mda_store_print(const char *mail_dir, const char *address, const char **why)
{
	char root[PATH_MAX];
	struct mailidx *idx = NULL;
	struct print_ctx c;
	int rc;

	if (mda_user_dir(mail_dir, address, root, sizeof(root)) < 0) {
		*why = "no Maildir path for this address";
		return -1;
	}
	if (mailidx_open(root, MAILIDX_RDONLY, &idx, why) != 0)
		return -1;
	printf("root %s\n", root);
	memset(&c, 0, sizeof(c));
	if (mailidx_txn_begin(idx, 0, &c.t, why) != 0) {
		mailidx_close(&idx);
		return -1;
	}
	rc = mailidx_mbox_list(c.t, print_mbox, &c);
	mailidx_txn_abort(&c.t);
	mailidx_close(&idx);
	if (rc != 0) {
		*why = "cannot read the index";
		return -1;
	}
	return 0;
}
