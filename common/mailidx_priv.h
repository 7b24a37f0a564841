/* Internals shared by mailidx.c and mailidx_reconcile.c; not for other modules. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MAILIDX_PRIV_H
#define LB_MAILIDX_PRIV_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>

#include "common/mailidx.h"

struct mailidx {
	MDB_env *env;
	MDB_dbi names;		/* name -> u32 id */
	MDB_dbi mboxes;		/* u32 id -> mailbox record */
	MDB_dbi msgs;		/* (u32 id, u32 uid) -> message record */
	MDB_dbi cache;		/* (u32 id, u32 uid) -> msgcache blob */
	MDB_dbi modseqs;	/* (u32 id, u64 modseq) -> u32 uid */
	MDB_dbi expunged;	/* (u32 id, u64 modseq) -> u32 uid */
	MDB_dbi files;		/* (u32 id, base name) -> u32 uid */
	MDB_dbi keywords;	/* name -> u8 id */
	MDB_dbi meta;		/* name -> u64 */
	char dir[PATH_MAX];
	int rdonly;
	int rebuilt;
	/* mu guards these three: imapd writes on worker threads while its
	 * loop reads (mailidx_env.c) */
	pthread_mutex_t mu;
	int active;		/* open transactions of this handle */
	size_t mapsize;
	size_t want_mapsize;	/* growth waiting for active == 0 */
};

struct mailidx_txn {
	struct mailidx *idx;
	MDB_txn *txn;
	int write;
	int dead;		/* a write failed: only abort is allowed */
	int retry;		/* it failed on a full map: commit says RETRY */
	/* read transactions: mailidx_msg_get's cursor, on (cur_id,
	 * cur_uid) when cur_ok; the next message is a step away */
	MDB_cursor *cur;
	uint32_t cur_id, cur_uid;
	int cur_ok;
};

int mailidx_fail(const char **why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* mailidx_lmdb: turn an LMDB error into -1 (or MAILIDX_RETRY after
 * growing a full map) with a message naming what. */
int mailidx_lmdb(struct mailidx_txn *t, int rc, const char *what,
    const char **why);
/* mailidx_writable: 0 if t may write, else -1 with a message. */
int mailidx_writable(struct mailidx_txn *t, const char **why);

/* mailidx_mbox_put: write m's record (counters, mtimes, ...). */
int mailidx_mbox_put(struct mailidx_txn *t, const struct mailidx_mbox *m,
    const char **why);
/* mailidx_file_base: the base name of a "new/..." or "cur/..." file. */
struct span mailidx_file_base(const char *file);
/* mailidx_files_key: (id, base) into key (size 4 + MAILIDX_FILE_MAX). */
size_t mailidx_files_key(uint32_t id, struct span base, uint8_t *key);
void mailidx_be32(uint8_t *p, uint32_t v);
uint32_t mailidx_get_be32(const uint8_t *p);

/* mailidx_populate: a new index's mailboxes and messages (open). */
int mailidx_populate(struct mailidx_txn *t, void *arg, const char **why);
/* mailidx_uidvalidity_next: a fresh UIDVALIDITY (reads and bumps meta
 * and the root's letterbox-uidvalidity file). */
int mailidx_uidvalidity_next(struct mailidx_txn *t, uint32_t *out,
    const char **why);
/* mailidx_meta_version: set 1: record the schema version (the index is
 * populated); set 0: 1 if it is recorded, 0 if not, -1. */
int mailidx_meta_version(struct mailidx_txn *t, int set, const char **why);

#endif
