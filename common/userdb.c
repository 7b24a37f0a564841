/* The user database on LMDB: domains, users, aliases, and address resolution. */
/* SPDX-License-Identifier: ISC */
#include "common/userdb.h"
#include "common/userdb_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/xmem.h"

/*
 * Layout: one environment file, three named databases.
 *   domains: key domain, value a domain record (version, created).
 *   users:   key address, value a user record (below).
 *   aliases: MDB_DUPSORT; key alias address or "@domain" (catch-all),
 *            one value per target address.
 *   apop:    key address, value the user's APOP secret (userdb_apop.c);
 *            deleted with the user.  A database made before APOP has
 *            none: a read-only open then sees no secrets.
 * Keys and values hold no NUL terminator.
 *
 * MDB_NOTLS: a read transaction is tied to its MDB_txn, not to the
 * calling thread.  authd serves lookups from several worker threads on
 * one shared handle, and the list functions call back into user code
 * while their read transaction is open; with NOTLS a callback may call
 * userdb again on the same thread (without it that second read would
 * fail with MDB_BAD_RSLOT).  The cost is one reader-slot claim per
 * transaction, which is negligible next to an Argon2id check.
 * Every public function runs in its own short transaction, so a reader
 * sees the CLI's last commit at its next call.
 */

#define USERDB_MAPSIZE (64UL * 1024 * 1024)
#define USERDB_REC_VERSION 1
#define USERDB_REC_FIXED 32	/* bytes before the hash in a v1 record */
#define USERDB_DOM_REC 9	/* version + created */

/* Formatted messages for *why: per thread, valid until the next call. */
static _Thread_local char userdb_whybuf[640];

int
userdb_fail(const char **why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(userdb_whybuf, sizeof(userdb_whybuf), fmt, ap);
	va_end(ap);
	*why = userdb_whybuf;
	return -1;
}

MDB_val
userdb_val(const char *s)
{
	MDB_val v = { strlen(s), (void *)(uintptr_t)s };

	return v;
}

/* Copy an LMDB key or value into a C string; 0, or -1 if it is too long. */
int
userdb_cstr(const MDB_val *v, char *out, size_t outsz)
{
	if (v->mv_size >= outsz || memchr(v->mv_data, 0, v->mv_size) != NULL)
		return -1;
	memcpy(out, v->mv_data, v->mv_size);
	out[v->mv_size] = '\0';
	return 0;
}

/* 1 if the address or "@domain" key k belongs to domain dom. */
static int
userdb_key_in(const MDB_val *k, const char *dom)
{
	const char *at = memrchr(k->mv_data, '@', k->mv_size);
	size_t n;

	if (dom == NULL)
		return 1;
	if (at == NULL)
		return 0;
	n = k->mv_size - (size_t)(at + 1 - (const char *)k->mv_data);
	return n == strlen(dom) && memcmp(at + 1, dom, n) == 0;
}

static void
userdb_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
userdb_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * The user record, little-endian:
 *   0 u8 version   1 u8 reserved   2 u16 hash length   4 u32 flags
 *   8 u64 quota_bytes   16 u64 quota_messages   24 i64 created
 *   32 hash bytes (no NUL)
 * Later versions only append after the hash; a reader ignores bytes it
 * does not know, so an older authd keeps working on a newer file.
 */
static size_t
userdb_user_encode(const struct userdb_user *u, uint8_t *rec)
{
	size_t hl = strlen(u->hash);

	rec[0] = USERDB_REC_VERSION;
	rec[1] = 0;
	rec[2] = (uint8_t)hl;
	rec[3] = (uint8_t)(hl >> 8);
	rec[4] = (uint8_t)u->flags;
	rec[5] = (uint8_t)(u->flags >> 8);
	rec[6] = (uint8_t)(u->flags >> 16);
	rec[7] = (uint8_t)(u->flags >> 24);
	userdb_put64(rec + 8, u->quota_bytes);
	userdb_put64(rec + 16, u->quota_messages);
	userdb_put64(rec + 24, (uint64_t)u->created);
	memcpy(rec + USERDB_REC_FIXED, u->hash, hl);
	return USERDB_REC_FIXED + hl;
}

static int
userdb_user_decode(const MDB_val *k, const MDB_val *v,
    struct userdb_user *u)
{
	const uint8_t *r = v->mv_data;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (v->mv_size < USERDB_REC_FIXED || r[0] < USERDB_REC_VERSION)
		return -1;
	hl = (size_t)r[2] | (size_t)r[3] << 8;
	if (hl >= USERDB_HASH_MAX || USERDB_REC_FIXED + hl > v->mv_size)
		return -1;
	if (userdb_cstr(k, u->address, sizeof(u->address)) < 0)
		return -1;
	u->flags = (uint32_t)r[4] | (uint32_t)r[5] << 8 |
	    (uint32_t)r[6] << 16 | (uint32_t)r[7] << 24;
	u->quota_bytes = userdb_get64(r + 8);
	u->quota_messages = userdb_get64(r + 16);
	u->created = (int64_t)userdb_get64(r + 24);
	memcpy(u->hash, r + USERDB_REC_FIXED, hl);
	u->hash[hl] = '\0';
	return 0;
}

/* Normalise an address for use as a key, with a message naming it. */
int
userdb_norm(const char *in, char out[USERDB_ADDR_MAX], const char **why)
{
	struct addr_parts ap;
	const char *w = "invalid address";
	char esc[USERDB_ADDR_MAX];

	if (addr_parse(span_cstr(in), &ap, &w) == 0 &&
	    addr_normalize(in, out, USERDB_ADDR_MAX) == 0)
		return 0;
	log_escape(span_cstr(in), esc, sizeof(esc));
	return userdb_fail(why, "invalid address \"%s\": %s", esc, w);
}

static int
userdb_domnorm(const char *in, char out[ADDR_DOMAIN_MAX + 1],
    const char **why)
{
	const char *w = "invalid domain";
	char esc[USERDB_ADDR_MAX];

	if (addr_domain_valid(span_cstr(in), &w) &&
	    addr_domain_normalize(in, out, ADDR_DOMAIN_MAX + 1) == 0)
		return 0;
	log_escape(span_cstr(in), esc, sizeof(esc));
	return userdb_fail(why, "invalid domain \"%s\": %s", esc, w);
}

/* An alias key: an address, or "@domain" for the catch-all. */
static int
userdb_aliasnorm(const char *in, char out[USERDB_ADDR_MAX], const char **why)
{
	if (in[0] != '@')
		return userdb_norm(in, out, why);
	out[0] = '@';
	return userdb_domnorm(in + 1, out + 1, why);
}

int
userdb_txn(struct userdb *db, int write, MDB_txn **txn_out, const char **why)
{
	int rc;

	if (write && db->rdonly)
		return userdb_fail(why, "user database opened read-only");
	rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY, txn_out);
	if (rc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size */
		if (mdb_env_set_mapsize(db->env, 0) == 0)
			rc = mdb_txn_begin(db->env, NULL,
			    write ? 0 : MDB_RDONLY, txn_out);
	}
	if (rc != 0)
		return userdb_fail(why, "user database: %s",
		    mdb_strerror(rc));
	return 0;
}

static int
userdb_commit(MDB_txn *txn, const char **why)
{
	int rc = mdb_txn_commit(txn);

	if (rc == MDB_MAP_FULL)
		return userdb_fail(why, "user database is full (%lu MiB)",
		    USERDB_MAPSIZE >> 20);
	if (rc != 0)
		return userdb_fail(why, "user database: commit: %s",
		    mdb_strerror(rc));
	return 0;
}

/* Abort txn and fail with the LMDB error rc. */
static int
userdb_abort_rc(MDB_txn *txn, int rc, const char **why)
{
	mdb_txn_abort(txn);
	if (rc == MDB_MAP_FULL)
		return userdb_fail(why, "user database is full (%lu MiB)",
		    USERDB_MAPSIZE >> 20);
	return userdb_fail(why, "user database: %s", mdb_strerror(rc));
}

static int
userdb_open_dbis(struct userdb *db, const char *path, const char **why)
{
	MDB_txn *txn;
	unsigned c = db->rdonly ? 0 : MDB_CREATE;
	int rc;

	if (userdb_txn(db, !db->rdonly, &txn, why) < 0)
		return -1;
	if ((rc = mdb_dbi_open(txn, "domains", c, &db->domains)) != 0 ||
	    (rc = mdb_dbi_open(txn, "users", c, &db->users)) != 0 ||
	    (rc = mdb_dbi_open(txn, "aliases", c | MDB_DUPSORT,
	    &db->aliases)) != 0) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			return userdb_fail(why, "%s: not a user database",
			    path);
		return userdb_fail(why, "%s: %s", path, mdb_strerror(rc));
	}
	/* XXX: a read-only handle (authd) on a database made before APOP
	 * existed sees no secrets until it is reopened, even after the CLI
	 * has created the table (docs/pop3d.md, known limits). */
	rc = mdb_dbi_open(txn, "apop", c, &db->apop);
	if (rc == 0)
		db->has_apop = 1;
	else if (rc != MDB_NOTFOUND || !db->rdonly) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "%s: %s", path, mdb_strerror(rc));
	}
	return userdb_commit(txn, why);
}

int
userdb_open(const char *path, int flags, struct userdb **db_out,
    const char **why)
{
	struct userdb *db;
	struct stat st;
	unsigned ef = MDB_NOSUBDIR | MDB_NOTLS;
	int rc;

	*db_out = NULL;
	if ((flags & USERDB_RDONLY) && (flags & USERDB_CREATE))
		return userdb_fail(why, "cannot create a read-only database");
	if (!(flags & USERDB_CREATE) && stat(path, &st) < 0)
		return userdb_fail(why, "%s: %s", path, strerror(errno));
	db = xcalloc(1, sizeof(*db));
	db->rdonly = (flags & USERDB_RDONLY) != 0;
	if (db->rdonly)
		ef |= MDB_RDONLY;
	if ((rc = mdb_env_create(&db->env)) != 0) {
		xfree(&db);
		return userdb_fail(why, "%s: %s", path, mdb_strerror(rc));
	}
	if ((rc = mdb_env_set_maxdbs(db->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(db->env, USERDB_MAPSIZE)) != 0 ||
	    (rc = mdb_env_open(db->env, path, ef, 0600)) != 0) {
		mdb_env_close(db->env);
		xfree(&db);
		return userdb_fail(why, "%s: %s", path, mdb_strerror(rc));
	}
	if (userdb_open_dbis(db, path, why) < 0) {
		mdb_env_close(db->env);
		xfree(&db);
		return -1;
	}
	*db_out = db;
	return 0;
}

void
userdb_close(struct userdb **db)
{
	if (*db == NULL)
		return;
	mdb_env_close((*db)->env);
	xfree(db);
}

/* 1 if key is in dbi, 0 if not, -1 (rc in *rc_out) on error. */
int
userdb_has(MDB_txn *txn, MDB_dbi dbi, const char *key, int *rc_out)
{
	MDB_val k = userdb_val(key), v;
	int rc = mdb_get(txn, dbi, &k, &v);

	*rc_out = rc;
	if (rc == 0)
		return 1;
	return rc == MDB_NOTFOUND ? 0 : -1;
}

/* Fail unless dom is one of ours (used inside a transaction). */
static int
userdb_need_domain(MDB_txn *txn, struct userdb *db, const char *dom,
    const char **why)
{
	int rc, r = userdb_has(txn, db->domains, dom, &rc);

	if (r < 0)
		return userdb_abort_rc(txn, rc, why);
	if (r == 0) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "domain %s is not a local domain",
		    dom);
	}
	return 0;
}

/* ---- domains ---- */

int
userdb_domain_add(struct userdb *db, const char *domain, const char **why)
{
	char d[ADDR_DOMAIN_MAX + 1];
	uint8_t rec[USERDB_DOM_REC];
	MDB_txn *txn;
	MDB_val k, v = { sizeof(rec), rec };
	int rc;

	if (userdb_domnorm(domain, d, why) < 0 ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	rec[0] = USERDB_REC_VERSION;
	userdb_put64(rec + 1, (uint64_t)time(NULL));
	k = userdb_val(d);
	rc = mdb_put(txn, db->domains, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "domain %s already exists", d);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

/*
 * Collect the keys of dbi that belong to dom (one per key, duplicates
 * skipped) into a fresh array of heap strings; *n_out is the count.
 */
static int
userdb_keys_in(MDB_txn *txn, MDB_dbi dbi, const char *dom, char ***keys_out,
    size_t *n_out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char **keys = NULL;
	size_t n = 0;
	int rc;

	*keys_out = NULL;
	*n_out = 0;
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP)) {
		if (!userdb_key_in(&k, dom))
			continue;
		keys = xreallocarray(keys, n + 1, sizeof(*keys));
		keys[n++] = xstrndup(k.mv_data, k.mv_size);
	}
	mdb_cursor_close(cur);
	*keys_out = keys;
	*n_out = n;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static void
userdb_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* Delete every key in keys from dbi (all duplicates too). */
static int
userdb_del_keys(MDB_txn *txn, MDB_dbi dbi, char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		MDB_val k = userdb_val(keys[i]);
		int rc = mdb_del(txn, dbi, &k, NULL);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The APOP secrets of dom's users go with them. */
static int
userdb_apop_del_domain(MDB_txn *txn, struct userdb *db, const char *dom)
{
	char **keys = NULL;
	size_t n = 0;
	int rc;

	if (!db->has_apop)
		return 0;
	if ((rc = userdb_keys_in(txn, db->apop, dom, &keys, &n)) != 0)
		return rc;
	rc = userdb_del_keys(txn, db->apop, keys, n);
	userdb_keys_free(keys, n);
	return rc;
}

int
userdb_domain_del(struct userdb *db, const char *domain, int force,
    const char **why)
{
	char d[ADDR_DOMAIN_MAX + 1], **users = NULL, **aliases = NULL;
	size_t nu = 0, na = 0;
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if (userdb_domnorm(domain, d, why) < 0 ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	if (userdb_need_domain(txn, db, d, why) < 0)
		return -1;
	if ((rc = userdb_keys_in(txn, db->users, d, &users, &nu)) != 0 ||
	    (rc = userdb_keys_in(txn, db->aliases, d, &aliases, &na)) != 0)
		goto fail;
	if ((nu > 0 || na > 0) && !force) {
		userdb_keys_free(users, nu);
		userdb_keys_free(aliases, na);
		mdb_txn_abort(txn);
		return userdb_fail(why, "domain %s still has %zu user%s and "
		    "%zu alias%s (use --force to delete them too)", d,
		    nu, nu == 1 ? "" : "s", na, na == 1 ? "" : "es");
	}
	if ((rc = userdb_del_keys(txn, db->users, users, nu)) != 0 ||
	    (rc = userdb_del_keys(txn, db->aliases, aliases, na)) != 0 ||
	    (rc = userdb_apop_del_domain(txn, db, d)) != 0)
		goto fail;
	k = userdb_val(d);
	if ((rc = mdb_del(txn, db->domains, &k, NULL)) != 0)
		goto fail;
	userdb_keys_free(users, nu);
	userdb_keys_free(aliases, na);
	return userdb_commit(txn, why);
fail:
	userdb_keys_free(users, nu);
	userdb_keys_free(aliases, na);
	return userdb_abort_rc(txn, rc, why);
}

int
userdb_domain_exists(struct userdb *db, const char *domain)
{
	char d[ADDR_DOMAIN_MAX + 1];
	MDB_txn *txn;
	int rc, r;

	if (addr_domain_normalize(domain, d, sizeof(d)) < 0)
		return 0;
	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	r = userdb_has(txn, db->domains, d, &rc);
	mdb_txn_abort(txn);
	return r;
}

/* Walk every key of dbi (optionally only one domain's) in order, calling
 * fn with the key as a C string. */
static int
userdb_walk_keys(struct userdb *db, MDB_dbi dbi, userdb_str_fn fn, void *arg)
{
	char key[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (userdb_cstr(&k, key, sizeof(key)) == 0)
			ret = fn(key, arg);
	}
	if (ret == 0 && rc != MDB_NOTFOUND)
		ret = -1;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

int
userdb_domain_list(struct userdb *db, userdb_str_fn fn, void *arg)
{
	return userdb_walk_keys(db, db->domains, fn, arg);
}

/* ---- users ---- */

static int
userdb_hash_ok(const char *hash, const char **why)
{
	if (memchr(hash, '\0', USERDB_HASH_MAX) == NULL)
		return userdb_fail(why, "password hash longer than %d bytes",
		    USERDB_HASH_MAX - 1);
	return 0;
}

int
userdb_user_add(struct userdb *db, const struct userdb_user *u,
    const char **why)
{
	struct userdb_user n = *u;
	uint8_t rec[USERDB_REC_FIXED + USERDB_HASH_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, r;

	if (userdb_hash_ok(u->hash, why) < 0 ||
	    userdb_norm(u->address, n.address, why) < 0 ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	if (userdb_need_domain(txn, db, addr_domain_of(n.address), why) < 0)
		return -1;
	if ((r = userdb_has(txn, db->aliases, n.address, &rc)) != 0) {
		if (r < 0)
			return userdb_abort_rc(txn, rc, why);
		mdb_txn_abort(txn);
		return userdb_fail(why, "%s already exists as an alias",
		    n.address);
	}
	if (n.created == 0)
		n.created = (int64_t)time(NULL);
	k = userdb_val(n.address);
	v.mv_data = rec;
	v.mv_size = userdb_user_encode(&n, rec);
	rc = mdb_put(txn, db->users, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user %s already exists", n.address);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

int
userdb_user_get(struct userdb *db, const char *address,
    struct userdb_user *out)
{
	char a[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, r;

	if (addr_normalize(address, a, sizeof(a)) < 0)
		return 0;
	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	k = userdb_val(a);
	rc = mdb_get(txn, db->users, &k, &v);
	if (rc == 0)
		r = userdb_user_decode(&k, &v, out) == 0 ? 1 : -1;
	else
		r = rc == MDB_NOTFOUND ? 0 : -1;
	mdb_txn_abort(txn);
	return r;
}

typedef void (*userdb_edit_fn)(struct userdb_user *u, const void *arg);

/* Read, change and write back one user record in one transaction. */
static int
userdb_user_edit(struct userdb *db, const char *address, userdb_edit_fn fn,
    const void *arg, const char **why)
{
	char a[USERDB_ADDR_MAX];
	uint8_t rec[USERDB_REC_FIXED + USERDB_HASH_MAX];
	struct userdb_user u;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (userdb_norm(address, a, why) < 0 ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	k = userdb_val(a);
	if ((rc = mdb_get(txn, db->users, &k, &v)) == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user %s does not exist", a);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	if (userdb_user_decode(&k, &v, &u) < 0) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user %s: damaged record", a);
	}
	fn(&u, arg);
	v.mv_data = rec;
	v.mv_size = userdb_user_encode(&u, rec);
	if ((rc = mdb_put(txn, db->users, &k, &v, 0)) != 0)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

static void
userdb_edit_hash(struct userdb_user *u, const void *arg)
{
	snprintf(u->hash, sizeof(u->hash), "%s", (const char *)arg);
}

int
userdb_user_set_hash(struct userdb *db, const char *address,
    const char *hash, const char **why)
{
	if (userdb_hash_ok(hash, why) < 0)
		return -1;
	return userdb_user_edit(db, address, userdb_edit_hash, hash, why);
}

static void
userdb_edit_quota(struct userdb_user *u, const void *arg)
{
	const uint64_t *q = arg;

	u->quota_bytes = q[0];
	u->quota_messages = q[1];
}

int
userdb_user_set_quota(struct userdb *db, const char *address,
    uint64_t bytes, uint64_t messages, const char **why)
{
	uint64_t q[2] = { bytes, messages };

	return userdb_user_edit(db, address, userdb_edit_quota, q, why);
}

int
userdb_user_del(struct userdb *db, const char *address, const char **why)
{
	char a[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if (userdb_norm(address, a, why) < 0 ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	k = userdb_val(a);
	if ((rc = mdb_del(txn, db->users, &k, NULL)) == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user %s does not exist", a);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	/* SECURITY: a user added again later must not inherit the secret */
	if (db->has_apop && (rc = mdb_del(txn, db->apop, &k, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

int
userdb_user_list(struct userdb *db, const char *domain,
    userdb_user_fn fn, void *arg)
{
	char d[ADDR_DOMAIN_MAX + 1];
	struct userdb_user u;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	if (domain != NULL && addr_domain_normalize(domain, d,
	    sizeof(d)) < 0)
		return -1;
	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	if (mdb_cursor_open(txn, db->users, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (userdb_key_in(&k, domain != NULL ? d : NULL) &&
		    userdb_user_decode(&k, &v, &u) == 0)
			ret = fn(&u, arg);
	}
	if (ret == 0 && rc != MDB_NOTFOUND)
		ret = -1;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- aliases ---- */

int
userdb_alias_add(struct userdb *db, const char *alias, const char *target,
    const char **why)
{
	char a[USERDB_ADDR_MAX], t[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t count = 0;
	int rc, r;

	if (userdb_aliasnorm(alias, a, why) < 0 ||
	    userdb_norm(target, t, why) < 0)
		return -1;
	if (strcmp(a, t) == 0)
		return userdb_fail(why, "alias %s cannot point to itself", a);
	if (userdb_txn(db, 1, &txn, why) < 0 ||
	    userdb_need_domain(txn, db, addr_domain_of(a), why) < 0)
		return -1;
	if ((r = userdb_has(txn, db->users, a, &rc)) != 0) {
		if (r < 0)
			return userdb_abort_rc(txn, rc, why);
		mdb_txn_abort(txn);
		return userdb_fail(why, "%s already exists as a user", a);
	}
	if ((rc = mdb_cursor_open(txn, db->aliases, &cur)) != 0)
		return userdb_abort_rc(txn, rc, why);
	k = userdb_val(a);
	if (mdb_cursor_get(cur, &k, &v, MDB_SET) == 0)
		(void)mdb_cursor_count(cur, &count);
	mdb_cursor_close(cur);
	v = userdb_val(t);
	rc = mdb_put(txn, db->aliases, &k, &v, MDB_NODUPDATA);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "alias %s already has target %s", a, t);
	}
	if (rc == 0 && count >= USERDB_MAX_TARGETS) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "alias %s already has %d targets", a,
		    USERDB_MAX_TARGETS);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

int
userdb_alias_del(struct userdb *db, const char *alias, const char *target,
    const char **why)
{
	char a[USERDB_ADDR_MAX], t[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, r;

	if (userdb_aliasnorm(alias, a, why) < 0 ||
	    (target != NULL && userdb_norm(target, t, why) < 0) ||
	    userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	k = userdb_val(a);
	if (target != NULL)
		v = userdb_val(t);
	rc = mdb_del(txn, db->aliases, &k, target != NULL ? &v : NULL);
	if (rc == MDB_NOTFOUND) {
		r = userdb_has(txn, db->aliases, a, &rc);
		mdb_txn_abort(txn);
		if (r == 1)
			return userdb_fail(why, "alias %s has no target %s",
			    a, t);
		return userdb_fail(why, "alias %s does not exist", a);
	}
	if (rc != 0)
		return userdb_abort_rc(txn, rc, why);
	return userdb_commit(txn, why);
}

int
userdb_alias_list(struct userdb *db, const char *domain,
    userdb_alias_fn fn, void *arg)
{
	char d[ADDR_DOMAIN_MAX + 1], a[USERDB_ADDR_MAX], t[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret = 0;

	if (domain != NULL && addr_domain_normalize(domain, d,
	    sizeof(d)) < 0)
		return -1;
	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	if (mdb_cursor_open(txn, db->aliases, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (userdb_key_in(&k, domain != NULL ? d : NULL) &&
		    userdb_cstr(&k, a, sizeof(a)) == 0 &&
		    userdb_cstr(&v, t, sizeof(t)) == 0)
			ret = fn(a, t, arg);
	}
	if (ret == 0 && rc != MDB_NOTFOUND)
		ret = -1;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

