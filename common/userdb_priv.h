/* Internals shared by userdb.c and userdb_resolve.c; not for other modules. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_USERDB_PRIV_H
#define LB_USERDB_PRIV_H

#include <lmdb.h>

#include "common/userdb.h"

struct userdb {
	MDB_env *env;
	MDB_dbi domains, users, aliases;
	MDB_dbi apop;			/* userdb_apop.c; valid if has_apop */
	int has_apop;
	int rdonly;
};

/* userdb_fail: format a message into a thread-local buffer, point *why at
 * it (if why is not NULL) and return -1. */
int userdb_fail(const char **why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* userdb_val: a borrowed LMDB value for the C string s (no NUL). */
MDB_val userdb_val(const char *s);
/* userdb_cstr: copy v into out as a C string; -1 if too long or has NUL. */
int userdb_cstr(const MDB_val *v, char *out, size_t outsz);
/* userdb_norm: addr_normalize with an "invalid address" message. */
int userdb_norm(const char *in, char out[USERDB_ADDR_MAX], const char **why);
/* userdb_txn: begin a read (write 0) or write transaction. */
int userdb_txn(struct userdb *db, int write, MDB_txn **txn_out,
    const char **why);
/* userdb_has: 1 if key is in dbi, 0 if not, -1 with the LMDB code. */
int userdb_has(MDB_txn *txn, MDB_dbi dbi, const char *key, int *rc_out);

#endif
