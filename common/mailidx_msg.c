/* The mail index's messages: append, flags, expunge, CONDSTORE changes, VANISHED, keywords. */
/* SPDX-License-Identifier: ISC */
#include "common/mailidx.h"
#include "common/mailidx_priv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmem.h"

#define MSG_FIXED 64		/* message record bytes before the file */
#define MSG_KEY 8		/* (u32 mbox id, u32 uid) */
#define SEQ_KEY 12		/* (u32 mbox id, u64 modseq) */

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
msg_key(uint8_t *k, uint32_t id, uint32_t uid)
{
	mailidx_be32(k, id);
	mailidx_be32(k + 4, uid);
}

static void
seq_key(uint8_t *k, uint32_t id, uint64_t modseq)
{
	mailidx_be32(k, id);
	mailidx_be32(k + 4, (uint32_t)(modseq >> 32));
	mailidx_be32(k + 8, (uint32_t)modseq);
}

static uint64_t
seq_of(const uint8_t *k)
{
	return (uint64_t)mailidx_get_be32(k + 4) << 32 |
	    mailidx_get_be32(k + 8);
}

/*
 * Message record v1, little-endian (the uid is in the key):
 *   0 u8 version  1 u8 file length  2 u16 reserved  4 u32 flags
 *   8 u64 modseq  16 u64 keywords  24 u64 size  32 i64 internaldate
 *   40 i64 savedate  48 u64 emailid  56 u64 threadid  64 file
 */
static size_t
msg_encode(const struct mailidx_msg *m, uint8_t *r)
{
	size_t fl = strlen(m->file);

	memset(r, 0, MSG_FIXED);
	r[0] = 1;
	r[1] = (uint8_t)fl;
	put_le(r + 4, m->flags, 4);
	put_le(r + 8, m->modseq, 8);
	put_le(r + 16, m->keywords, 8);
	put_le(r + 24, m->size, 8);
	put_le(r + 32, (uint64_t)m->internaldate, 8);
	put_le(r + 40, (uint64_t)m->savedate, 8);
	put_le(r + 48, m->emailid, 8);
	put_le(r + 56, m->threadid, 8);
	memcpy(r + MSG_FIXED, m->file, fl);
	return MSG_FIXED + fl;
}

static int
msg_decode(const MDB_val *k, const MDB_val *v, struct mailidx_msg *m)
{
	const uint8_t *r = v->mv_data;
	size_t fl;

	/* every field is set below: no memset of the 256-byte name (SELECT
	 * and FETCH 1:* decode every message) */
	if (k->mv_size != MSG_KEY || v->mv_size < MSG_FIXED || r[0] < 1 ||
	    MSG_FIXED + (size_t)r[1] > v->mv_size) {
		memset(m, 0, sizeof(*m));
		return -1;
	}
	fl = r[1];
	m->uid = mailidx_get_be32((const uint8_t *)k->mv_data + 4);
	m->flags = (uint32_t)get_le(r + 4, 4);
	m->modseq = get_le(r + 8, 8);
	m->keywords = get_le(r + 16, 8);
	m->size = get_le(r + 24, 8);
	m->internaldate = (int64_t)get_le(r + 32, 8);
	m->savedate = (int64_t)get_le(r + 40, 8);
	m->emailid = get_le(r + 48, 8);
	m->threadid = get_le(r + 56, 8);
	memcpy(m->file, r + MSG_FIXED, fl);
	m->file[fl] = '\0';
	return 0;
}

struct span
mailidx_file_base(const char *file)
{
	const char *name = file;
	size_t n;

	if (strncmp(file, "new/", 4) == 0 || strncmp(file, "cur/", 4) == 0)
		name += 4;
	n = strcspn(name, ":");
	return span_make(name, n);
}

size_t
mailidx_files_key(uint32_t id, struct span base, uint8_t *key)
{
	mailidx_be32(key, id);
	memcpy(key + 4, base.p, base.n);
	return 4 + base.n;
}

static int
file_ok(const char *file)
{
	size_t n = strlen(file);

	return n > 4 && n <= MAILIDX_FILE_MAX &&
	    (strncmp(file, "new/", 4) == 0 || strncmp(file, "cur/", 4) == 0) &&
	    strchr(file + 4, '/') == NULL && file[4] != '.';
}

static int
msg_put(struct mailidx_txn *t, uint32_t id, const struct mailidx_msg *m,
    const char **why)
{
	uint8_t key[MSG_KEY], rec[MSG_FIXED + MAILIDX_FILE_MAX];
	MDB_val k = { MSG_KEY, key }, v = { 0, rec };
	int rc;

	msg_key(key, id, m->uid);
	v.mv_size = msg_encode(m, rec);
	if ((rc = mdb_put(t->txn, t->idx->msgs, &k, &v, 0)) != 0)
		return mailidx_lmdb(t, rc, "message", why);
	return 0;
}

/* Put (add) or delete the (id, modseq) -> uid entry of dbi. */
static int
seq_put(struct mailidx_txn *t, MDB_dbi dbi, uint32_t id, uint64_t modseq,
    uint32_t uid, int add, const char **why)
{
	uint8_t key[SEQ_KEY], val[4];
	MDB_val k = { SEQ_KEY, key }, v = { 4, val };
	int rc;

	seq_key(key, id, modseq);
	mailidx_be32(val, uid);
	rc = add ? mdb_put(t->txn, dbi, &k, &v, 0) :
	    mdb_del(t->txn, dbi, &k, NULL);
	if (rc != 0 && !(rc == MDB_NOTFOUND && !add))
		return mailidx_lmdb(t, rc, "modseq", why);
	return 0;
}

static int
files_put(struct mailidx_txn *t, uint32_t id, const char *file, uint32_t uid,
    int add, const char **why)
{
	uint8_t key[4 + MAILIDX_FILE_MAX], val[4];
	MDB_val k = { 0, key }, v = { 4, val };
	int rc;

	k.mv_size = mailidx_files_key(id, mailidx_file_base(file), key);
	mailidx_be32(val, uid);
	rc = add ? mdb_put(t->txn, t->idx->files, &k, &v, 0) :
	    mdb_del(t->txn, t->idx->files, &k, NULL);
	if (rc != 0 && !(rc == MDB_NOTFOUND && !add))
		return mailidx_lmdb(t, rc, "file name", why);
	return 0;
}

/* The counters' share of one message: sign +1 adds it, -1 takes it. */
static void
account(struct mailidx_mbox *mb, const struct mailidx_msg *m, int sign)
{
	mb->messages += (uint32_t)sign;
	if (!(m->flags & MAILIDX_F_SEEN))
		mb->unseen += (uint32_t)sign;
	if (m->flags & MAILIDX_F_DELETED)
		mb->deleted += (uint32_t)sign;
	mb->size += (uint64_t)(int64_t)sign * m->size;
}

static int
get_mbox(struct mailidx_txn *t, uint32_t id, struct mailidx_mbox *mb,
    const char **why)
{
	int r;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if ((r = mailidx_mbox_get_id(t, id, mb)) <= 0)
		return mailidx_fail(why, r < 0 ? "mail index: bad mailbox" :
		    "no such mailbox");
	return 0;
}

int
mailidx_msg_append(struct mailidx_txn *t, uint32_t mbox_id,
    struct mailidx_msg *msg, struct span cache, const char **why)
{
	struct mailidx_mbox mb;
	uint8_t key[MSG_KEY], emb[8];
	MDB_val k = { MSG_KEY, key }, v;
	static const char nexte[] = "next_emailid";
	MDB_val mk = { sizeof(nexte) - 1, (void *)(uintptr_t)nexte }, mv;
	int r, rc;

	if ((r = get_mbox(t, mbox_id, &mb, why)) < 0)
		return r;
	if (!file_ok(msg->file))
		return mailidx_fail(why, "invalid message file name");
	if (mb.uidnext == UINT32_MAX)
		return mailidx_fail(why, "mailbox %s has no UIDs left",
		    mb.name);
	msg->flags &= MAILIDX_F_SEEN | MAILIDX_F_ANSWERED |
	    MAILIDX_F_FLAGGED | MAILIDX_F_DELETED | MAILIDX_F_DRAFT;
	msg->uid = mb.uidnext++;
	msg->modseq = ++mb.highestmodseq;
	msg->savedate = (int64_t)time(NULL);
	if (msg->emailid == 0) {
		rc = mdb_get(t->txn, t->idx->meta, &mk, &mv);
		msg->emailid = rc == 0 && mv.mv_size == 8 ?
		    get_le(mv.mv_data, 8) + 1 : 1;
		put_le(emb, msg->emailid, 8);
		mv.mv_size = 8;
		mv.mv_data = emb;
		if ((rc = mdb_put(t->txn, t->idx->meta, &mk, &mv, 0)) != 0)
			return mailidx_lmdb(t, rc, "meta", why);
	}
	account(&mb, msg, 1);
	msg_key(key, mbox_id, msg->uid);
	v.mv_size = cache.n;
	v.mv_data = (void *)(uintptr_t)cache.p;
	if ((r = msg_put(t, mbox_id, msg, why)) < 0 ||
	    (cache.n > 0 && (rc = mdb_put(t->txn, t->idx->cache, &k, &v, 0))
	    != 0 && (r = mailidx_lmdb(t, rc, "cache", why)) < 0) ||
	    (r = seq_put(t, t->idx->modseqs, mbox_id, msg->modseq, msg->uid,
	    1, why)) < 0 ||
	    (r = files_put(t, mbox_id, msg->file, msg->uid, 1, why)) < 0 ||
	    (r = mailidx_mbox_put(t, &mb, why)) < 0)
		return r;
	return 0;
}

/* A read transaction's lookups go through one cursor: FETCH 1:* and
 * SEARCH ask for the UIDs in order, and the next one is then one step
 * (MDB_NEXT) from the last instead of a search from the root. */
static int
msg_get_cursor(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    MDB_val *k, MDB_val *v)
{
	MDB_val want = *k;		/* MDB_NEXT overwrites k */
	const uint8_t *kp;
	int rc;

	if (t->cur == NULL) {
		if ((rc = mdb_cursor_open(t->txn, t->idx->msgs, &t->cur)) != 0) {
			t->cur = NULL;
			return rc;
		}
		t->cur_ok = 0;
	}
	rc = MDB_NOTFOUND;
	if (t->cur_ok && t->cur_id == mbox_id && t->cur_uid < uid) {
		rc = mdb_cursor_get(t->cur, k, v, MDB_NEXT);
		kp = k->mv_data;
		if (rc == 0 && (k->mv_size != MSG_KEY || mailidx_get_be32(kp) !=
		    mbox_id || mailidx_get_be32(kp + 4) != uid))
			rc = MDB_NOTFOUND;
	}
	if (rc == MDB_NOTFOUND) {
		*k = want;
		rc = mdb_cursor_get(t->cur, k, v, MDB_SET_KEY);
	}
	t->cur_ok = rc == 0;
	t->cur_id = mbox_id;
	t->cur_uid = uid;
	return rc;
}

int
mailidx_msg_get(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    struct mailidx_msg *out)
{
	uint8_t key[MSG_KEY];
	MDB_val k = { MSG_KEY, key }, v;
	int rc;

	if (t->txn == NULL)
		return -1;
	msg_key(key, mbox_id, uid);
	/* a write transaction's puts would move a cursor: look up */
	if (t->write)
		rc = mdb_get(t->txn, t->idx->msgs, &k, &v);
	else
		rc = msg_get_cursor(t, mbox_id, uid, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || msg_decode(&k, &v, out) < 0)
		return -1;
	return 1;
}

int
mailidx_msg_cache(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    struct span *out)
{
	uint8_t key[MSG_KEY];
	MDB_val k = { MSG_KEY, key }, v;
	int rc;

	*out = span_make(NULL, 0);
	if (t->txn == NULL)
		return -1;
	msg_key(key, mbox_id, uid);
	rc = mdb_get(t->txn, t->idx->cache, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -1;
	*out = span_make(v.mv_data, v.mv_size);
	return 1;
}

int
mailidx_msg_set_cache(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    struct span cache, const char **why)
{
	uint8_t key[MSG_KEY];
	MDB_val k = { MSG_KEY, key }, v = { cache.n,
	    (void *)(uintptr_t)cache.p };
	struct mailidx_msg m;
	int rc;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if (mailidx_msg_get(t, mbox_id, uid, &m) <= 0)
		return mailidx_fail(why, "no such message");
	msg_key(key, mbox_id, uid);
	rc = cache.n > 0 ? mdb_put(t->txn, t->idx->cache, &k, &v, 0) :
	    mdb_del(t->txn, t->idx->cache, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mailidx_lmdb(t, rc, "cache", why);
	return 0;
}

int
mailidx_msg_range(struct mailidx_txn *t, uint32_t mbox_id, uint32_t lo,
    uint32_t hi, mailidx_msg_fn fn, void *arg)
{
	struct mailidx_msg m;
	uint8_t key[MSG_KEY];
	MDB_val k = { MSG_KEY, key }, v;
	MDB_cursor *c;
	int rc, r = 0;

	if (t->txn == NULL || mdb_cursor_open(t->txn, t->idx->msgs, &c) != 0)
		return -1;
	msg_key(key, mbox_id, lo);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != MSG_KEY ||
		    mailidx_get_be32(k.mv_data) != mbox_id)
			break;
		if (msg_decode(&k, &v, &m) < 0) {
			r = -1;
			break;
		}
		if (m.uid > hi || (r = fn(&m, arg)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return r;
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The uids of dbi's (id, modseq > since) entries, sorted. */
static int
seq_uids(struct mailidx_txn *t, MDB_dbi dbi, uint32_t id, uint64_t since,
    uint32_t **uids_out, size_t *n_out)
{
	uint8_t key[SEQ_KEY];
	MDB_val k = { SEQ_KEY, key }, v;
	MDB_cursor *c;
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc;

	*uids_out = NULL;
	*n_out = 0;
	if (t->txn == NULL || since == UINT64_MAX ||
	    mdb_cursor_open(t->txn, dbi, &c) != 0)
		return t->txn == NULL ? -1 : 0;
	seq_key(key, id, since + 1);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != SEQ_KEY || v.mv_size != 4 ||
		    mailidx_get_be32(k.mv_data) != id || seq_of(k.mv_data) <=
		    since)
			break;
		uids = xreallocarray(uids, n + 1, sizeof(*uids));
		uids[n++] = mailidx_get_be32(v.mv_data);
	}
	mdb_cursor_close(c);
	if (n > 1)
		qsort(uids, n, sizeof(*uids), uid_cmp);
	*uids_out = uids;
	*n_out = n;
	return 0;
}

int
mailidx_msg_changed(struct mailidx_txn *t, uint32_t mbox_id,
    uint64_t since, mailidx_msg_fn fn, void *arg)
{
	struct mailidx_msg m;
	uint32_t *uids;
	size_t n;
	int r = 0;

	if (seq_uids(t, t->idx->modseqs, mbox_id, since, &uids, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++) {
		int g = mailidx_msg_get(t, mbox_id, uids[i], &m);

		r = g < 0 ? -1 : g == 0 ? 0 : fn(&m, arg);
	}
	free(uids);
	return r;
}

int
mailidx_vanished(struct mailidx_txn *t, uint32_t mbox_id, uint64_t since,
    mailidx_uid_fn fn, void *arg)
{
	uint32_t *uids;
	size_t n;
	int r = 0;

	if (seq_uids(t, t->idx->expunged, mbox_id, since, &uids, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && r == 0; i++)
		r = fn(uids[i], arg);
	free(uids);
	return r;
}

/* Write m (modseq already new) over old: records, index, counters. */
static int
msg_replace(struct mailidx_txn *t, struct mailidx_mbox *mb,
    const struct mailidx_msg *old, const struct mailidx_msg *m,
    const char **why)
{
	int r;

	account(mb, old, -1);
	account(mb, m, 1);
	if ((r = msg_put(t, mb->id, m, why)) < 0)
		return r;
	if (old->modseq != m->modseq &&
	    ((r = seq_put(t, t->idx->modseqs, mb->id, old->modseq, old->uid,
	    0, why)) < 0 || (r = seq_put(t, t->idx->modseqs, mb->id,
	    m->modseq, m->uid, 1, why)) < 0))
		return r;
	return mailidx_mbox_put(t, mb, why);
}

int
mailidx_msg_store(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    char op, uint32_t flags, uint64_t keywords, uint64_t unchangedsince,
    struct mailidx_msg *out, int *modified_out, const char **why)
{
	struct mailidx_mbox mb;
	struct mailidx_msg old, m;
	int r;

	if (modified_out != NULL)
		*modified_out = 0;
	if ((r = get_mbox(t, mbox_id, &mb, why)) < 0)
		return r;
	if ((r = mailidx_msg_get(t, mbox_id, uid, &old)) <= 0)
		return mailidx_fail(why, r < 0 ? "mail index: bad message" :
		    "no such message");
	flags &= MAILIDX_F_SEEN | MAILIDX_F_ANSWERED | MAILIDX_F_FLAGGED |
	    MAILIDX_F_DELETED | MAILIDX_F_DRAFT;
	m = old;
	if (out != NULL)
		*out = old;
	if (unchangedsince != 0 && old.modseq > unchangedsince) {
		if (modified_out != NULL)
			*modified_out = 1;
		return 0;
	}
	switch (op) {
	case '=': m.flags = flags; m.keywords = keywords; break;
	case '+': m.flags |= flags; m.keywords |= keywords; break;
	case '-': m.flags &= ~flags; m.keywords &= ~keywords; break;
	default: return mailidx_fail(why, "bad store operation");
	}
	if (m.flags == old.flags && m.keywords == old.keywords)
		return 0;
	m.modseq = ++mb.highestmodseq;
	if ((r = msg_replace(t, &mb, &old, &m, why)) < 0)
		return r;
	if (out != NULL)
		*out = m;
	return 0;
}

int
mailidx_msg_set_file(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    const char *file, const char **why)
{
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	struct span ob, nb;
	int r;

	if ((r = get_mbox(t, mbox_id, &mb, why)) < 0)
		return r;
	if (!file_ok(file))
		return mailidx_fail(why, "invalid message file name");
	if ((r = mailidx_msg_get(t, mbox_id, uid, &m)) <= 0)
		return mailidx_fail(why, "no such message");
	ob = mailidx_file_base(m.file);
	nb = mailidx_file_base(file);
	if (ob.n != nb.n || memcmp(ob.p, nb.p, ob.n) != 0) {
		if ((r = files_put(t, mbox_id, m.file, uid, 0, why)) < 0 ||
		    (r = files_put(t, mbox_id, file, uid, 1, why)) < 0)
			return r;
	}
	strcpy(m.file, file);
	return msg_put(t, mbox_id, &m, why);
}

int
mailidx_msg_expunge(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    const char **why)
{
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	uint8_t key[MSG_KEY];
	MDB_val k = { MSG_KEY, key };
	int r, rc;

	if ((r = get_mbox(t, mbox_id, &mb, why)) < 0)
		return r;
	if ((r = mailidx_msg_get(t, mbox_id, uid, &m)) <= 0)
		return mailidx_fail(why, "no such message");
	msg_key(key, mbox_id, uid);
	if ((rc = mdb_del(t->txn, t->idx->msgs, &k, NULL)) != 0)
		return mailidx_lmdb(t, rc, "expunge", why);
	rc = mdb_del(t->txn, t->idx->cache, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mailidx_lmdb(t, rc, "expunge", why);
	account(&mb, &m, -1);
	if ((r = seq_put(t, t->idx->modseqs, mbox_id, m.modseq, uid, 0,
	    why)) < 0 ||
	    (r = files_put(t, mbox_id, m.file, uid, 0, why)) < 0 ||
	    (r = seq_put(t, t->idx->expunged, mbox_id, ++mb.highestmodseq,
	    uid, 1, why)) < 0)
		return r;
	return mailidx_mbox_put(t, &mb, why);
}

/* ---- keywords ---- */

int
mailidx_keyword_id(struct mailidx_txn *t, const char *name, int create,
    unsigned *id_out, const char **why)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	MDB_stat st;
	uint8_t b;
	int rc;

	*id_out = MAILIDX_KEYWORDS;
	if (t->txn == NULL || k.mv_size == 0 || k.mv_size > 255)
		return mailidx_fail(why, "invalid keyword");
	rc = mdb_get(t->txn, t->idx->keywords, &k, &v);
	if (rc == 0 && v.mv_size == 1) {
		*id_out = *(const uint8_t *)v.mv_data;
		return 1;
	}
	if (rc != MDB_NOTFOUND)
		return mailidx_lmdb(t, rc, "keyword", why);
	if (!create)
		return 0;
	if (mailidx_writable(t, why) < 0)
		return -1;
	/* ids are given in order and never freed: the count is the next */
	if ((rc = mdb_stat(t->txn, t->idx->keywords, &st)) != 0)
		return mailidx_lmdb(t, rc, "keyword", why);
	if (st.ms_entries >= MAILIDX_KEYWORDS)
		return mailidx_fail(why, "too many keywords (%d)",
		    MAILIDX_KEYWORDS);
	b = (uint8_t)st.ms_entries;
	v.mv_size = 1;
	v.mv_data = &b;
	if ((rc = mdb_put(t->txn, t->idx->keywords, &k, &v, 0)) != 0)
		return mailidx_lmdb(t, rc, "keyword", why);
	*id_out = b;
	return 1;
}

int
mailidx_keyword_name(struct mailidx_txn *t, unsigned id, char *out,
    size_t outsz)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (t->txn == NULL || mdb_cursor_open(t->txn, t->idx->keywords, &c)
	    != 0)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size != 1 || *(const uint8_t *)v.mv_data != id)
			continue;
		if (k.mv_size >= outsz) {
			r = -1;
			break;
		}
		memcpy(out, k.mv_data, k.mv_size);
		out[k.mv_size] = '\0';
		r = 1;
		break;
	}
	mdb_cursor_close(c);
	return r;
}
