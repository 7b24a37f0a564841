/* The user database's APOP secrets: one plaintext-equivalent secret per user, apart from the password hash. */
/* SPDX-License-Identifier: ISC */
#include "common/userdb.h"
#include "common/userdb_priv.h"

#include <string.h>

#include <lmdb.h>

/* A user's key, normalised, and whether that user exists (1), in txn. */
static int
userdb_apop_user(struct userdb *db, MDB_txn *txn, const char *address,
    char a[USERDB_ADDR_MAX], const char **why)
{
	int rc, r;

	if (userdb_norm(address, a, why) < 0)
		return -1;
	if ((r = userdb_has(txn, db->users, a, &rc)) < 0)
		return userdb_fail(why, "user database: %s", mdb_strerror(rc));
	if (r == 0)
		return userdb_fail(why, "user %s does not exist", a);
	if (!db->has_apop)
		return userdb_fail(why, "user database opened read-only "
		    "before APOP secrets existed");
	return 0;
}

int
userdb_apop_set(struct userdb *db, const char *address, const char *secret,
    size_t n, const char **why)
{
	char a[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if (n == 0 || n > USERDB_APOP_MAX)
		return userdb_fail(why, "APOP secret must be 1 to %d bytes",
		    USERDB_APOP_MAX);
	if (memchr(secret, '\0', n) != NULL || memchr(secret, '\r', n) !=
	    NULL || memchr(secret, '\n', n) != NULL)
		return userdb_fail(why, "APOP secret must not contain NUL, "
		    "CR or LF");
	if (userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	if (userdb_apop_user(db, txn, address, a, why) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	k = userdb_val(a);
	v.mv_data = (void *)secret;
	v.mv_size = n;
	if ((rc = mdb_put(txn, db->apop, &k, &v, 0)) != 0) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user database: %s", mdb_strerror(rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return userdb_fail(why, "user database: commit: %s",
		    mdb_strerror(rc));
	return 0;
}

int
userdb_apop_clear(struct userdb *db, const char *address, const char **why)
{
	char a[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if (userdb_txn(db, 1, &txn, why) < 0)
		return -1;
	if (userdb_apop_user(db, txn, address, a, why) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	k = userdb_val(a);
	rc = mdb_del(txn, db->apop, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return userdb_fail(why, "user database: %s", mdb_strerror(rc));
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return userdb_fail(why, "user database: commit: %s",
		    mdb_strerror(rc));
	return 1;
}

int
userdb_apop_get(struct userdb *db, const char *address, char *out,
    size_t outsz, size_t *n_out)
{
	char a[USERDB_ADDR_MAX];
	MDB_txn *txn;
	MDB_val k, v;
	int rc, r;

	*n_out = 0;
	if (!db->has_apop || userdb_norm(address, a, NULL) < 0)
		return 0;
	if (userdb_txn(db, 0, &txn, NULL) < 0)
		return -1;
	k = userdb_val(a);
	rc = mdb_get(txn, db->apop, &k, &v);
	if (rc == MDB_NOTFOUND)
		r = 0;
	else if (rc != 0 || v.mv_size == 0 || v.mv_size > USERDB_APOP_MAX ||
	    v.mv_size > outsz)
		r = -1;
	else {
		memcpy(out, v.mv_data, v.mv_size);
		*n_out = v.mv_size;
		r = 1;
	}
	mdb_txn_abort(txn);
	return r;
}
