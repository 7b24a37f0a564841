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

#include "common/buf.h"

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/msgcache.h"
#include "common/xmem.h"
#include "mda/mda.h"

/* Handles kept open; idle ones past this are closed. */
#define MDA_STORE_MAX_OPEN 64
/* A leader reconciles the Maildir with the index at most this often:
 * a rescan of new/ per delivery would make a burst quadratic. */
#define MDA_RECONCILE_EVERY 1.0
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
	double reconciled;		/* under lock: monotonic s, 0 never */
	/* group commit: deliveries waiting for the index, under qmu */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct mda_commit *pending, **pending_tail;
	int leader;			/* a thread is committing a batch */
};

/*
 * One copy waiting for its index commit.  The thread that finds no
 * leader takes every waiting copy and commits them in one go: one link
 * each, one fsync of new/, one LMDB transaction (one fsync) for all.
 */
struct mda_commit {
	struct mda_commit *next;
	struct maildir_tmp *tmp;	/* fsynced, still in tmp/ */
	struct span blob;
	uint64_t size;
	int linked;			/* in new/ as file */
	int failed;			/* link failed: why says why */
	char file[MAILIDX_FILE_MAX + 1];
	uint32_t uid;
	enum mda_status rc;
	char why[256];
	int done;			/* under qmu */
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
	pthread_mutex_destroy(&u->qmu);
	pthread_cond_destroy(&u->qcv);
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
		pthread_mutex_init(&u->qmu, NULL);
		pthread_cond_init(&u->qcv, NULL);
		u->pending_tail = &u->pending;
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
	int have, n;

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
	/* what a killed writer left in tmp/, once per open */
	if ((n = maildir_sweep_tmp(u->root, MAILDIR_TMP_MAX_AGE)) > 0)
		log_notice("event=tmp-swept dir=%s files=%d", u->root, n);
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

	if (maildir_user_dir(st->mail_dir, address, root, sizeof(root)) < 0) {
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

/* ---- writing copies: group commit ---- */

struct batch_ctx {
	struct mda_user *u;
	struct mda_commit *items;
	int64_t now;
	int need_sync;			/* links since the last new/ fsync */
	int reconcile;
};

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The index transaction of a batch (mailidx_write runs it again after
 * map growth, so the links are made once and remembered in the items).
 * The links happen inside the write transaction: any other reconcile
 * needs the writer lock too, so none sees a file of ours that is in
 * new/ but not yet in the index.  Append first, then reconcile, which
 * then finds our files indexed and takes only what other programs
 * dropped in.
 */
static int
batch_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct batch_ctx *c = arg;
	struct mda_commit *it;
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	char sub[PATH_MAX + 8];
	const char *lwhy;
	int rc, changed = 0;

	rc = mailidx_mbox_get(t, "INBOX", &mb);
	if (rc == 0)
		rc = mailidx_mbox_create(t, "INBOX", 0, &mb, why) == 0 ? 1 : -1;
	if (rc != 1) {
		if (why != NULL && *why == NULL)
			*why = "no INBOX in the index";
		return -1;
	}
	for (it = c->items; it != NULL; it = it->next) {
		if (it->linked || it->failed)
			continue;
		lwhy = NULL;
		if (maildir_link(it->tmp, 0, 0, it->file, sizeof(it->file),
		    &lwhy) < 0) {
			it->failed = 1;
			snprintf(it->why, sizeof(it->why), "%s",
			    lwhy != NULL ? lwhy : "link failed");
			continue;
		}
		it->linked = 1;
		c->need_sync = 1;
	}
	if (c->need_sync) {
		snprintf(sub, sizeof(sub), "%s/new", c->u->root);
		if (maildir_fsync_dir(sub, why) < 0)
			return -1;
		c->need_sync = 0;
	}
	for (it = c->items; it != NULL; it = it->next) {
		if (!it->linked)
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(m.file, sizeof(m.file), "%s", it->file);
		m.size = it->size;
		m.internaldate = c->now;
		if ((rc = mailidx_msg_append(t, mb.id, &m, it->blob, why)) != 0)
			return rc;
		it->uid = m.uid;
	}
	if (!c->reconcile)
		return 0;
	return mailidx_reconcile(t, c->u->root, mb.id, 0, &changed, why);
}

/* With u->lock held: commit a batch; every item gets rc (and why). */
static void
commit_batch_locked(struct mda_user *u, struct mda_commit *items)
{
	char path[PATH_MAX + MAILDIR_NAME_MAX + 8];
	struct mda_commit *it;
	struct batch_ctx c;
	const char *why = NULL;
	double now = mono_now();
	int rc;

	if (user_open_locked(u, &why) < 0) {
		for (it = items; it != NULL; it = it->next) {
			maildir_tmp_abort(it->tmp);
			it->rc = MDA_TEMP;
			snprintf(it->why, sizeof(it->why), "%s", why);
		}
		return;
	}
	memset(&c, 0, sizeof(c));
	c.u = u;
	c.items = items;
	c.now = (int64_t)time(NULL);
	c.reconcile = u->reconciled == 0 ||
	    now - u->reconciled >= MDA_RECONCILE_EVERY;
	rc = mailidx_write(u->idx, batch_fn, &c, &why);
	if (rc == 0 && c.reconcile)
		u->reconciled = now;
	for (it = items; it != NULL; it = it->next) {
		if (it->failed) {
			it->rc = MDA_TEMP;
			continue;
		}
		if (rc == 0) {
			it->rc = MDA_OK;
			continue;
		}
		it->rc = MDA_TEMP;
		snprintf(it->why, sizeof(it->why), "%s",
		    why != NULL ? why : "index update failed");
		if (it->linked) {
			/* not indexed: take it back, or the next reconcile
			 * takes it (docs/mda.md) */
			snprintf(path, sizeof(path), "%s/%s", u->root,
			    it->file);
			if (unlink(path) < 0)
				log_err_errno("event=unindexed-file-left "
				    "path=%s", path);
		} else
			maildir_tmp_abort(it->tmp);
	}
}

/* Queue one copy for the index and wait until a batch took it: ours,
 * as leader, or another thread's. */
static void
commit_wait(struct mda_user *u, struct mda_commit *me)
{
	struct mda_commit *batch, *it, *next;

	pthread_mutex_lock(&u->qmu);
	me->next = NULL;
	*u->pending_tail = me;
	u->pending_tail = &me->next;
	while (!me->done) {
		if (u->leader) {
			pthread_cond_wait(&u->qcv, &u->qmu);
			continue;
		}
		/* no leader and we are not done: we are still pending */
		u->leader = 1;
		batch = u->pending;
		u->pending = NULL;
		u->pending_tail = &u->pending;
		pthread_mutex_unlock(&u->qmu);
		pthread_mutex_lock(&u->lock);
		commit_batch_locked(u, batch);
		pthread_mutex_unlock(&u->lock);
		pthread_mutex_lock(&u->qmu);
		for (it = batch; it != NULL; it = next) {
			next = it->next;
			it->done = 1;	/* it may be gone once qmu drops */
		}
		u->leader = 0;
		pthread_cond_broadcast(&u->qcv);
	}
	pthread_mutex_unlock(&u->qmu);
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
	/* here, on this thread and outside every lock, so that copies
	 * reach the disk in parallel; the batch only links them */
	if (rc == 0 && fsync(tmp->fd) < 0) {
		*why = store_why("fsync: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

enum mda_status
mda_store_deliver(struct mda_store *st, const struct mda_target *t,
    int msg_fd, uint64_t msg_size, const char *sender, const char *rcpt,
    uint32_t *uid_out, const char **why)
{
	struct mda_user *u;
	struct maildir_tmp tmp;
	struct mda_commit me;
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
	memset(&me, 0, sizeof(me));
	me.tmp = &tmp;
	me.blob = buf_view(&blob);
	me.size = prefix.len + msg_size;
	commit_wait(u, &me);
	rc = me.rc;
	if (rc == MDA_OK)
		*uid_out = me.uid;
	else
		*why = store_why("%s", me.why);
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

	if (maildir_user_dir(mail_dir, address, root, sizeof(root)) < 0) {
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
