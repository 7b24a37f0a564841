/* One user's mail index on LMDB: meta counters, UIDVALIDITY, mailbox records, flag mapping. */
/* SPDX-License-Identifier: ISC */
#include "common/mailidx.h"
#include "common/mailidx_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/xmem.h"

/*
 * Layout: one environment file ROOT/index.lmdb, nine named databases
 * (mailidx_priv.h).  Keys are big-endian so that a cursor walks one
 * mailbox's messages in UID order and its changes in MODSEQ order;
 * records are little-endian, versioned, and only ever extended by
 * appending (a reader ignores bytes it does not know).
 */

#define MAILIDX_VERSION 1
#define MBOX_FIXED 64		/* mailbox record bytes before the name */

static _Thread_local char mailidx_whybuf[640];

int
mailidx_fail(const char **why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(mailidx_whybuf, sizeof(mailidx_whybuf), fmt, ap);
	va_end(ap);
	*why = mailidx_whybuf;
	return -1;
}

/* ---- byte order ---- */

void
mailidx_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

uint32_t
mailidx_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- meta ---- */

static int
meta_get(struct mailidx_txn *t, const char *name, uint64_t *v_out)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int rc = mdb_get(t->txn, t->idx->meta, &k, &v);

	*v_out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || v.mv_size < 8)
		return -1;
	*v_out = get_le64(v.mv_data);
	return 1;
}

static int
meta_put(struct mailidx_txn *t, const char *name, uint64_t val,
    const char **why)
{
	uint8_t b[8];
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v = { 8, b };
	int rc;

	le64(b, val);
	if ((rc = mdb_put(t->txn, t->idx->meta, &k, &v, 0)) != 0)
		return mailidx_lmdb(t, rc, "meta", why);
	return 0;
}

/* Take the next value of counter name (first value 1). */
static int
meta_next(struct mailidx_txn *t, const char *name, uint64_t *out,
    const char **why)
{
	uint64_t v;

	if (meta_get(t, name, &v) < 0)
		return mailidx_fail(why, "mail index: bad meta %s", name);
	*out = v + 1;
	return meta_put(t, name, v + 1, why);
}

/* "letterbox-uidvalidity" in the Maildir root remembers the last
 * UIDVALIDITY given out, so that a rebuilt index never reuses one. */
static uint64_t
uidv_file_read(const char *dir)
{
	char path[PATH_MAX + 32], b[32];
	FILE *f;
	unsigned long long v = 0;

	snprintf(path, sizeof(path), "%s/letterbox-uidvalidity", dir);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(b, sizeof(b), f) == NULL || sscanf(b, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void
uidv_file_write(const char *dir, uint64_t v)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
	FILE *f;

	snprintf(path, sizeof(path), "%s/letterbox-uidvalidity", dir);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if ((f = fopen(tmp, "we")) == NULL)
		return;
	fprintf(f, "%llu\n", (unsigned long long)v);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

int
mailidx_uidvalidity_next(struct mailidx_txn *t, uint32_t *out,
    const char **why)
{
	uint64_t last, f, now = (uint64_t)time(NULL);

	if (meta_get(t, "uidvalidity", &last) < 0)
		return mailidx_fail(why, "mail index: bad meta uidvalidity");
	f = uidv_file_read(t->idx->dir);
	if (f > last)
		last = f;
	if (last + 1 > now)
		now = last + 1;
	/* XXX: after 2106 (or 2^32 creations ahead of the clock) this
	 * wraps; RFC 9051 only asks for a 32-bit non-zero value. */
	*out = (uint32_t)now != 0 ? (uint32_t)now : 1;
	/* A value written here by a transaction that later aborts only
	 * skips a number: harmless, the sequence stays increasing. */
	uidv_file_write(t->idx->dir, now);
	return meta_put(t, "uidvalidity", now, why);
}

/* ---- mailbox records ---- */

/*
 * Mailbox record v1, little-endian:
 *   0 u8 version  1 u8 subscribed  2 u16 name length  4 u32 uidvalidity
 *   8 u32 uidnext  12 u32 messages  16 u32 unseen  20 u32 deleted
 *   24 u32 special_use  28 u32 recent_uid  32 u64 highestmodseq
 *   40 u64 size  48 i64 new_mtime_ns  56 i64 cur_mtime_ns  64 name
 */
static size_t
mbox_encode(const struct mailidx_mbox *m, uint8_t *r)
{
	size_t nl = strlen(m->name);

	r[0] = 1;
	r[1] = m->subscribed ? 1 : 0;
	r[2] = (uint8_t)nl;
	r[3] = (uint8_t)(nl >> 8);
	le32(r + 4, m->uidvalidity);
	le32(r + 8, m->uidnext);
	le32(r + 12, m->messages);
	le32(r + 16, m->unseen);
	le32(r + 20, m->deleted);
	le32(r + 24, m->special_use);
	le32(r + 28, m->recent_uid);
	le64(r + 32, m->highestmodseq);
	le64(r + 40, m->size);
	le64(r + 48, (uint64_t)m->new_mtime_ns);
	le64(r + 56, (uint64_t)m->cur_mtime_ns);
	memcpy(r + MBOX_FIXED, m->name, nl);
	return MBOX_FIXED + nl;
}

static int
mbox_decode(uint32_t id, const MDB_val *v, struct mailidx_mbox *m)
{
	const uint8_t *r = v->mv_data;
	size_t nl;

	memset(m, 0, sizeof(*m));
	if (v->mv_size < MBOX_FIXED || r[0] < 1)
		return -1;
	nl = (size_t)r[2] | (size_t)r[3] << 8;
	if (nl >= MAILIDX_NAME_MAX || MBOX_FIXED + nl > v->mv_size)
		return -1;
	m->id = id;
	m->subscribed = r[1] & 1;
	m->uidvalidity = get_le32(r + 4);
	m->uidnext = get_le32(r + 8);
	m->messages = get_le32(r + 12);
	m->unseen = get_le32(r + 16);
	m->deleted = get_le32(r + 20);
	m->special_use = get_le32(r + 24);
	m->recent_uid = get_le32(r + 28);
	m->highestmodseq = get_le64(r + 32);
	m->size = get_le64(r + 40);
	m->new_mtime_ns = (int64_t)get_le64(r + 48);
	m->cur_mtime_ns = (int64_t)get_le64(r + 56);
	memcpy(m->name, r + MBOX_FIXED, nl);
	m->name[nl] = '\0';
	return 0;
}

int
mailidx_mbox_put(struct mailidx_txn *t, const struct mailidx_mbox *m,
    const char **why)
{
	uint8_t key[4], rec[MBOX_FIXED + MAILIDX_NAME_MAX];
	MDB_val k = { 4, key }, v;
	int rc;

	mailidx_be32(key, m->id);
	v.mv_data = rec;
	v.mv_size = mbox_encode(m, rec);
	if ((rc = mdb_put(t->txn, t->idx->mboxes, &k, &v, 0)) != 0)
		return mailidx_lmdb(t, rc, "mailbox", why);
	return 0;
}

int
mailidx_mbox_get_id(struct mailidx_txn *t, uint32_t id,
    struct mailidx_mbox *out)
{
	uint8_t key[4];
	MDB_val k = { 4, key }, v;
	int rc;

	if (t->txn == NULL)
		return -1;
	mailidx_be32(key, id);
	rc = mdb_get(t->txn, t->idx->mboxes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || mbox_decode(id, &v, out) < 0)
		return -1;
	return 1;
}

static int
name_id(struct mailidx_txn *t, const char *name, uint32_t *id_out)
{
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v;
	int rc;

	if (t->txn == NULL || k.mv_size == 0 || k.mv_size >= MAILIDX_NAME_MAX)
		return t->txn == NULL ? -1 : 0;
	rc = mdb_get(t->txn, t->idx->names, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || v.mv_size != 4)
		return -1;
	*id_out = mailidx_get_be32(v.mv_data);
	return 1;
}

int
mailidx_mbox_get(struct mailidx_txn *t, const char *name,
    struct mailidx_mbox *out)
{
	uint32_t id;
	int r = name_id(t, name, &id);

	return r <= 0 ? r : mailidx_mbox_get_id(t, id, out);
}

static int
name_put(struct mailidx_txn *t, const char *name, uint32_t id,
    const char **why)
{
	uint8_t b[4];
	MDB_val k = { strlen(name), (void *)(uintptr_t)name }, v = { 4, b };
	int rc;

	mailidx_be32(b, id);
	rc = mdb_put(t->txn, t->idx->names, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return mailidx_fail(why, "mailbox %s already exists", name);
	if (rc != 0)
		return mailidx_lmdb(t, rc, "mailbox name", why);
	return 0;
}

int
mailidx_mbox_create(struct mailidx_txn *t, const char *name,
    uint32_t special_use, struct mailidx_mbox *out, const char **why)
{
	struct mailidx_mbox m;
	char dir[MAILIDX_NAME_MAX * 3 + 2];
	uint64_t id = 0;
	uint32_t existing;
	int r;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if (strlen(name) >= MAILIDX_NAME_MAX ||
	    mailidx_folder_dir(name, dir, sizeof(dir)) < 0)
		return mailidx_fail(why, "invalid mailbox name");
	if ((r = name_id(t, name, &existing)) != 0)
		return r < 0 ? mailidx_fail(why, "mail index: read failed") :
		    mailidx_fail(why, "mailbox %s already exists", name);
	memset(&m, 0, sizeof(m));
	if ((r = meta_next(t, "next_mbox_id", &id, why)) < 0)
		return r;
	if (id > UINT32_MAX)
		return mailidx_fail(why, "mail index: out of mailbox ids");
	m.id = (uint32_t)id;
	strcpy(m.name, name);
	if ((r = mailidx_uidvalidity_next(t, &m.uidvalidity, why)) < 0)
		return r;
	m.uidnext = 1;
	m.recent_uid = 1;
	m.highestmodseq = 1;
	m.special_use = special_use;
	if ((r = name_put(t, name, m.id, why)) < 0 ||
	    (r = mailidx_mbox_put(t, &m, why)) < 0)
		return r;
	if (out != NULL)
		*out = m;
	return 0;
}

/* Delete every key of dbi that starts with the 4-byte id. */
static int
del_prefix(struct mailidx_txn *t, MDB_dbi dbi, uint32_t id,
    const char **why)
{
	uint8_t key[4];
	MDB_val k = { 4, key }, v;
	MDB_cursor *c;
	int rc;

	mailidx_be32(key, id);
	if ((rc = mdb_cursor_open(t->txn, dbi, &c)) != 0)
		return mailidx_lmdb(t, rc, "cursor", why);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 4 &&
	    mailidx_get_be32(k.mv_data) == id) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		/* seek again rather than trust the cursor after a delete */
		k.mv_size = 4;
		k.mv_data = key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mailidx_lmdb(t, rc, "delete", why);
	return 0;
}

int
mailidx_mbox_delete(struct mailidx_txn *t, const char *name,
    const char **why)
{
	MDB_dbi per[] = { t->idx->msgs, t->idx->cache, t->idx->modseqs,
	    t->idx->expunged, t->idx->files };
	MDB_val k = { strlen(name), (void *)(uintptr_t)name };
	uint8_t key[4];
	MDB_val ik = { 4, key };
	uint32_t id;
	int r;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if (strcmp(name, "INBOX") == 0)
		return mailidx_fail(why, "INBOX cannot be deleted");
	if ((r = name_id(t, name, &id)) <= 0)
		return mailidx_fail(why, r < 0 ? "mail index: read failed" :
		    "no such mailbox");
	for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++)
		if ((r = del_prefix(t, per[i], id, why)) < 0)
			return r;
	mailidx_be32(key, id);
	if ((r = mdb_del(t->txn, t->idx->names, &k, NULL)) != 0 ||
	    (r = mdb_del(t->txn, t->idx->mboxes, &ik, NULL)) != 0)
		return mailidx_lmdb(t, r, "delete mailbox", why);
	return 0;
}

/* Rename one mailbox record from -> to. */
static int
rename_one(struct mailidx_txn *t, const char *from, const char *to,
    const char **why)
{
	struct mailidx_mbox m;
	MDB_val k = { strlen(from), (void *)(uintptr_t)from };
	char dir[MAILIDX_NAME_MAX * 3 + 2];
	int r;

	if (strlen(to) >= MAILIDX_NAME_MAX ||
	    mailidx_folder_dir(to, dir, sizeof(dir)) < 0)
		return mailidx_fail(why, "invalid mailbox name");
	if ((r = mailidx_mbox_get(t, from, &m)) <= 0)
		return mailidx_fail(why, "no such mailbox");
	if ((r = name_put(t, to, m.id, why)) < 0)
		return r;
	if ((r = mdb_del(t->txn, t->idx->names, &k, NULL)) != 0)
		return mailidx_lmdb(t, r, "rename", why);
	strcpy(m.name, to);
	return mailidx_mbox_put(t, &m, why);
}

int
mailidx_mbox_rename(struct mailidx_txn *t, const char *from,
    const char *to, const char **why)
{
	size_t fl = strlen(from), n = 0;
	char **kids = NULL, nn[MAILIDX_NAME_MAX + 1];
	MDB_cursor *c;
	MDB_val k = { fl, (void *)(uintptr_t)from }, v;
	int r, rc;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if (strcmp(from, "INBOX") == 0)
		return mailidx_fail(why, "INBOX cannot be renamed here");
	if (strcmp(to, "INBOX") == 0)
		return mailidx_fail(why, "mailbox INBOX already exists");
	if ((r = rename_one(t, from, to, why)) < 0)
		return r;
	/* inferiors: the names "from/..." that follow "from" in order */
	if ((rc = mdb_cursor_open(t->txn, t->idx->names, &c)) != 0)
		return mailidx_lmdb(t, rc, "cursor", why);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= fl || memcmp(k.mv_data, from, fl) != 0)
			break;
		if (((const char *)k.mv_data)[fl] != '/')
			continue;
		kids = xreallocarray(kids, n + 1, sizeof(*kids));
		kids[n++] = xstrndup(k.mv_data, k.mv_size);
	}
	mdb_cursor_close(c);
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && (size_t)snprintf(nn, sizeof(nn), "%s%s", to,
		    kids[i] + fl) >= sizeof(nn))
			r = mailidx_fail(why, "mailbox name too long");
		if (r == 0)
			r = rename_one(t, kids[i], nn, why);
		free(kids[i]);
	}
	free(kids);
	return r;
}

int
mailidx_mbox_subscribe(struct mailidx_txn *t, const char *name, int on,
    const char **why)
{
	struct mailidx_mbox m;

	if (mailidx_writable(t, why) < 0)
		return -1;
	if (mailidx_mbox_get(t, name, &m) <= 0)
		return mailidx_fail(why, "no such mailbox");
	m.subscribed = on ? 1 : 0;
	return mailidx_mbox_put(t, &m, why);
}

int
mailidx_mbox_claim_recent(struct mailidx_txn *t, uint32_t mbox_id,
    uint32_t *lo_out, uint32_t *hi_out, const char **why)
{
	struct mailidx_mbox m;

	*lo_out = *hi_out = 0;
	if (mailidx_writable(t, why) < 0)
		return -1;
	if (mailidx_mbox_get_id(t, mbox_id, &m) <= 0)
		return mailidx_fail(why, "no such mailbox");
	/* an index from before recent_uid was kept has 0 there */
	*lo_out = m.recent_uid > 0 ? m.recent_uid : 1;
	*hi_out = m.uidnext > *lo_out ? m.uidnext : *lo_out;
	if (m.recent_uid == *hi_out)
		return 0;
	m.recent_uid = *hi_out;
	return mailidx_mbox_put(t, &m, why);
}

int
mailidx_mbox_list(struct mailidx_txn *t, mailidx_mbox_fn fn, void *arg)
{
	struct mailidx_mbox m;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (t->txn == NULL ||
	    mdb_cursor_open(t->txn, t->idx->names, &c) != 0)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size != 4 || mailidx_mbox_get_id(t,
		    mailidx_get_be32(v.mv_data), &m) <= 0) {
			r = -1;
			break;
		}
		r = fn(&m, arg);
	}
	mdb_cursor_close(c);
	return r;
}

/* ---- flags ---- */

static const struct {
	uint64_t letter;
	uint32_t flag;
} mailidx_letters[] = {
	{ MAILDIR_FL_DRAFT, MAILIDX_F_DRAFT },
	{ MAILDIR_FL_FLAGGED, MAILIDX_F_FLAGGED },
	{ MAILDIR_FL_REPLIED, MAILIDX_F_ANSWERED },
	{ MAILDIR_FL_SEEN, MAILIDX_F_SEEN },
	{ MAILDIR_FL_TRASHED, MAILIDX_F_DELETED },
};

uint32_t
mailidx_flags_from_maildir(uint64_t letters)
{
	uint32_t f = 0;

	for (size_t i = 0; i < 5; i++)
		if (letters & mailidx_letters[i].letter)
			f |= mailidx_letters[i].flag;
	return f;
}

uint64_t
mailidx_flags_to_maildir(uint32_t flags, uint64_t old)
{
	for (size_t i = 0; i < 5; i++) {
		old &= ~mailidx_letters[i].letter;
		if (flags & mailidx_letters[i].flag)
			old |= mailidx_letters[i].letter;
	}
	return old;
}

int
mailidx_meta_version(struct mailidx_txn *t, int set, const char **why)
{
	uint64_t v;

	if (set)
		return meta_put(t, "version", MAILIDX_VERSION, why);
	return meta_get(t, "version", &v);
}
