/* The mail index's LMDB environment: open, rebuild on damage, transactions, map growth. */
/* SPDX-License-Identifier: ISC */
#include "common/mailidx.h"
#include "common/mailidx_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/xmem.h"

/*
 * Layout: one environment file ROOT/index.lmdb, nine named databases
 * (mailidx_priv.h; records in mailidx.c and mailidx_msg.c).
 *
 * MDB_NOTLS for the reasons userdb.c gives: imapd may run a read
 * transaction while a callback calls back in, and a transaction is tied
 * to its handle, not its thread.
 *
 * Growth: LMDB reports MDB_MAP_FULL from a put or from the commit, and
 * the transaction is then lost.  mailidx_lmdb() aborts it, doubles the
 * map (mdb_env_set_mapsize is only allowed with no transaction of this
 * process open, so with others open it waits in want_mapsize for the
 * next begin) and returns MAILIDX_RETRY for the caller to start again.
 * Other processes see MDB_MAP_RESIZED at their next begin and adopt it.
 *
 * Threads: a handle may be used by several threads at once (imapd's
 * loop reads while a worker writes; MDB_NOTLS).  idx->mu guards the
 * count of open transactions and the map sizes; it is never held while
 * LMDB may wait for its writer lock, except to adopt another process's
 * growth (MDB_MAP_RESIZED, rare).
 */

/* ---- errors, environment, transactions ---- */

/* Double the map (capped); applied now if no transaction is open.
 * idx->mu held. */
static int
mailidx_grow(struct mailidx *idx)
{
	size_t cur = idx->want_mapsize > idx->mapsize ? idx->want_mapsize :
	    idx->mapsize;
	size_t next = cur * 2 > MAILIDX_MAP_MAX ? MAILIDX_MAP_MAX : cur * 2;
	MDB_envinfo ei;

	if (cur >= MAILIDX_MAP_MAX)
		return -1;
	idx->want_mapsize = next;
	if (idx->active == 0 && mdb_env_set_mapsize(idx->env, next) == 0 &&
	    mdb_env_info(idx->env, &ei) == 0) {
		idx->mapsize = ei.me_mapsize;
		log_info("event=mailidx_grow dir=%s map=%zu", idx->dir,
		    idx->mapsize);
	}
	return 0;
}

int
mailidx_lmdb(struct mailidx_txn *t, int rc, const char *what,
    const char **why)
{
	if (!t->write)
		return mailidx_fail(why, "mail index: %s: %s", what,
		    mdb_strerror(rc));
	t->dead = 1;
	if (rc != MDB_MAP_FULL)
		return mailidx_fail(why, "mail index: %s: %s", what,
		    mdb_strerror(rc));
	/* LMDB cannot go on with this transaction: drop it and grow. */
	mdb_txn_abort(t->txn);
	t->txn = NULL;
	t->retry = 1;
	pthread_mutex_lock(&t->idx->mu);
	t->idx->active--;
	rc = mailidx_grow(t->idx);
	pthread_mutex_unlock(&t->idx->mu);
	if (rc < 0)
		return mailidx_fail(why, "mail index is full (%llu MiB)",
		    (unsigned long long)(MAILIDX_MAP_MAX >> 20));
	mailidx_fail(why, "mail index map grown: run the transaction again");
	return MAILIDX_RETRY;
}

int
mailidx_writable(struct mailidx_txn *t, const char **why)
{
	if (!t->write)
		return mailidx_fail(why, "mail index: read-only transaction");
	if (t->dead || t->txn == NULL)
		return mailidx_fail(why, "mail index: transaction failed");
	return 0;
}

int
mailidx_txn_begin(struct mailidx *idx, int write,
    struct mailidx_txn **txn_out, const char **why)
{
	struct mailidx_txn *t;
	MDB_envinfo ei;
	MDB_txn *txn;
	int rc;

	*txn_out = NULL;
	if (write && idx->rdonly)
		return mailidx_fail(why, "mail index opened read-only");
	pthread_mutex_lock(&idx->mu);
	if (idx->active == 0 && idx->want_mapsize > idx->mapsize &&
	    mdb_env_set_mapsize(idx->env, idx->want_mapsize) == 0 &&
	    mdb_env_info(idx->env, &ei) == 0)
		idx->mapsize = ei.me_mapsize;
	idx->active++;		/* ours from here: no resize meanwhile */
	pthread_mutex_unlock(&idx->mu);
	rc = mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED) {
		pthread_mutex_lock(&idx->mu);
		/* another process grew the map: adopt its size, if no
		 * other transaction of this handle is open */
		if (idx->active == 1 && mdb_env_set_mapsize(idx->env, 0) ==
		    0 && mdb_env_info(idx->env, &ei) == 0)
			idx->mapsize = ei.me_mapsize;
		rc = mdb_txn_begin(idx->env, NULL, write ? 0 : MDB_RDONLY,
		    &txn);
		pthread_mutex_unlock(&idx->mu);
	}
	if (rc != 0) {
		pthread_mutex_lock(&idx->mu);
		idx->active--;
		pthread_mutex_unlock(&idx->mu);
		return mailidx_fail(why, "mail index %s: %s", idx->dir,
		    mdb_strerror(rc));
	}
	t = xcalloc(1, sizeof(*t));
	t->idx = idx;
	t->txn = txn;
	t->write = write;
	*txn_out = t;
	return 0;
}

int
mailidx_txn_commit(struct mailidx_txn **tp, const char **why)
{
	struct mailidx_txn *t = *tp;
	int rc;

	if (t->dead || t->txn == NULL) {
		int retry = t->retry;

		mailidx_txn_abort(tp);
		if (retry) {
			mailidx_fail(why, "mail index map grown: run it again");
			return MAILIDX_RETRY;
		}
		return mailidx_fail(why, "mail index: transaction failed");
	}
	if (t->cur != NULL)
		mdb_cursor_close(t->cur);
	rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	pthread_mutex_lock(&t->idx->mu);
	t->idx->active--;
	if (rc == MDB_MAP_FULL)
		rc = mailidx_grow(t->idx) < 0 ? MDB_PANIC : MDB_MAP_FULL;
	pthread_mutex_unlock(&t->idx->mu);
	if (rc == MDB_MAP_FULL || rc == MDB_PANIC) {
		rc = rc == MDB_PANIC ? -1 : MAILIDX_RETRY;
		xfree(tp);
		if (rc == -1)
			return mailidx_fail(why, "mail index is full");
		mailidx_fail(why, "mail index map grown: run it again");
		return MAILIDX_RETRY;
	}
	xfree(tp);
	if (rc != 0)
		return mailidx_fail(why, "mail index: commit: %s",
		    mdb_strerror(rc));
	return 0;
}

void
mailidx_txn_abort(struct mailidx_txn **tp)
{
	if (*tp == NULL)
		return;
	if ((*tp)->txn != NULL) {
		/* LMDB: a read transaction's cursor is closed by hand */
		if ((*tp)->cur != NULL)
			mdb_cursor_close((*tp)->cur);
		mdb_txn_abort((*tp)->txn);
		pthread_mutex_lock(&(*tp)->idx->mu);
		(*tp)->idx->active--;
		pthread_mutex_unlock(&(*tp)->idx->mu);
	}
	xfree(tp);
}

int
mailidx_write(struct mailidx *idx, mailidx_txn_fn fn, void *arg,
    const char **why)
{
	struct mailidx_txn *t;
	int rc;

	for (;;) {
		if (mailidx_txn_begin(idx, 1, &t, why) < 0)
			return -1;
		rc = fn(t, arg, why);
		if (rc == 0)
			rc = mailidx_txn_commit(&t, why);
		else
			mailidx_txn_abort(&t);
		if (rc != MAILIDX_RETRY)
			return rc;
	}
}

/* ---- open and close ---- */

static int
open_dbis(struct mailidx *idx, const char **why)
{
	static const char *const names[] = { "names", "mboxes", "msgs",
	    "cache", "modseqs", "expunged", "files", "keywords", "meta" };
	MDB_dbi *dbis[] = { &idx->names, &idx->mboxes, &idx->msgs,
	    &idx->cache, &idx->modseqs, &idx->expunged, &idx->files,
	    &idx->keywords, &idx->meta };
	MDB_txn *txn;
	unsigned c = idx->rdonly ? 0 : MDB_CREATE;
	int rc;

	rc = mdb_txn_begin(idx->env, NULL, idx->rdonly ? MDB_RDONLY : 0,
	    &txn);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < 9; i++)
		if ((rc = mdb_dbi_open(txn, names[i], c, dbis[i])) != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
	(void)why;
	return mdb_txn_commit(txn);
}

/* Open the environment; an LMDB error code (0: open). */
static int
env_open(struct mailidx *idx, const char *path, size_t map)
{
	unsigned ef = MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC |
	    (idx->rdonly ? MDB_RDONLY : 0);
	MDB_envinfo ei;
	int rc;

	if ((rc = mdb_env_create(&idx->env)) != 0)
		return rc;
	if ((rc = mdb_env_set_maxdbs(idx->env, 12)) != 0 ||
	    (rc = mdb_env_set_mapsize(idx->env, map)) != 0 ||
	    (rc = mdb_env_open(idx->env, path, ef, 0600)) != 0 ||
	    (rc = open_dbis(idx, NULL)) != 0) {
		mdb_env_close(idx->env);
		idx->env = NULL;
		return rc;
	}
	if (mdb_env_info(idx->env, &ei) == 0)
		idx->mapsize = ei.me_mapsize;
	return 0;
}

/* LMDB's verdicts that mean "this file is not a usable index". */
static int
is_corrupt(int rc)
{
	return rc == MDB_INVALID || rc == MDB_CORRUPTED ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INCOMPATIBLE || rc == MDB_BAD_VALSIZE;
}

/* Move a broken index aside (kept for a post-mortem) with its lock. */
static void
move_aside(const char *path)
{
	char bad[PATH_MAX + 64], lock[PATH_MAX + 32];

	snprintf(bad, sizeof(bad), "%s.bad.%lld", path, (long long)time(NULL));
	snprintf(lock, sizeof(lock), "%s-lock", path);
	log_warn("event=mailidx_corrupt file=%s moved_to=%s", path, bad);
	if (rename(path, bad) < 0)
		unlink(path);
	unlink(lock);
}

static int
is_new_index(struct mailidx *idx)
{
	struct mailidx_txn *t;
	int r;

	if (mailidx_txn_begin(idx, 0, &t, NULL) < 0)
		return -1;
	r = mailidx_meta_version(t, 0, NULL);
	mailidx_txn_abort(&t);
	return r < 0 ? -1 : r == 0;
}

int
mailidx_open_map(const char *dir, int flags, size_t map,
    struct mailidx **idx_out, const char **why)
{
	struct mailidx *idx;
	char path[PATH_MAX + 16];
	struct stat st;
	int rc, fresh;

	*idx_out = NULL;
	if ((flags & MAILIDX_RDONLY) && (flags & MAILIDX_CREATE))
		return mailidx_fail(why, "cannot create a read-only index");
	if (strlen(dir) >= sizeof(idx->dir))
		return mailidx_fail(why, "%s: path too long", dir);
	snprintf(path, sizeof(path), "%s/index.lmdb", dir);
	if (flags & MAILIDX_CREATE) {
		if (maildir_make(dir, "", why) < 0)
			return -1;
	} else if (stat(path, &st) < 0)
		return mailidx_fail(why, "%s: %s", path, strerror(errno));
	idx = xcalloc(1, sizeof(*idx));
	pthread_mutex_init(&idx->mu, NULL);
	strcpy(idx->dir, dir);
	idx->rdonly = (flags & MAILIDX_RDONLY) != 0;
	rc = env_open(idx, path, map);
	if (rc != 0 && is_corrupt(rc) && (flags & MAILIDX_CREATE)) {
		move_aside(path);
		rc = env_open(idx, path, map);
	}
	if (rc != 0) {
		pthread_mutex_destroy(&idx->mu);
		xfree(&idx);
		if (rc == MDB_NOTFOUND)
			return mailidx_fail(why, "%s: not a mail index", path);
		return mailidx_fail(why, "%s: %s", path, mdb_strerror(rc));
	}
	if ((fresh = is_new_index(idx)) < 0 || (fresh && idx->rdonly)) {
		mailidx_close(&idx);
		return mailidx_fail(why, "%s: not a mail index", path);
	}
	if (fresh) {
		/* populate checks again inside its transaction: another
		 * process may have populated it since */
		if (mailidx_write(idx, mailidx_populate, NULL, why) < 0) {
			mailidx_close(&idx);
			return -1;
		}
	}
	*idx_out = idx;
	return 0;
}

int
mailidx_open(const char *dir, int flags, struct mailidx **idx_out,
    const char **why)
{
	return mailidx_open_map(dir, flags, MAILIDX_MAP_INIT, idx_out, why);
}

void
mailidx_close(struct mailidx **idx)
{
	if (*idx == NULL)
		return;
	BUG_ON((*idx)->active != 0);
	mdb_env_close((*idx)->env);
	pthread_mutex_destroy(&(*idx)->mu);
	xfree(idx);
}

size_t
mailidx_map_size(const struct mailidx *idx)
{
	return idx->mapsize;
}

int
mailidx_rebuilt(const struct mailidx *idx)
{
	return idx->rebuilt;
}

const char *
mailidx_dir(const struct mailidx *idx)
{
	return idx->dir;
}
