/* The user database on LMDB: domains, users, aliases, hashes, quotas. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_USERDB_H
#define LB_USERDB_H

#include <stddef.h>
#include <stdint.h>

/*
 * One LMDB environment at STATE_DIR/db/users.lmdb (MDB_NOSUBDIR; lock file
 * users.lmdb-lock beside it).  authd reads it; the CLI writes it through
 * LMDB's own locking, so changes are seen by authd at its next request
 * without any reload.
 *
 * Addresses are stored normalised (addr_normalize): domain lowercased,
 * local part lowercased.  An alias key "@domain" is that domain's
 * catch-all.  All functions return 0 on success, -1 on error with a
 * static or thread-local message in *why (may be NULL to ignore).
 */

#define USERDB_ADDR_MAX 320		/* 64 + 1 + 255, plus NUL */
#define USERDB_HASH_MAX 128		/* crypto_pwhash_STRBYTES */
#define USERDB_MAX_TARGETS 64		/* per alias and per resolution */
#define USERDB_MAX_DEPTH 8		/* alias expansion depth */

#define USERDB_RDONLY 0x1
#define USERDB_CREATE 0x2		/* create the file if missing */

struct userdb;

struct userdb_user {
	char address[USERDB_ADDR_MAX];
	char hash[USERDB_HASH_MAX];	/* crypto_pwhash_str output */
	uint64_t quota_bytes;		/* 0 = unlimited */
	uint64_t quota_messages;	/* 0 = unlimited */
	uint32_t flags;			/* USERDB_USER_* */
	int64_t created;		/* unix time */
};
#define USERDB_USER_DISABLED 0x1

struct userdb_target {
	char address[USERDB_ADDR_MAX];
	int is_mailbox;			/* 1 local mailbox, 0 forward */
};

enum userdb_kind {
	USERDB_LOCAL = 1,	/* one or more targets */
	USERDB_UNKNOWN,		/* our domain, nobody there */
	USERDB_REMOTE,		/* not our domain */
};

struct userdb_resolution {
	enum userdb_kind kind;
	size_t n;
	struct userdb_target t[USERDB_MAX_TARGETS];
};

int userdb_open(const char *path, int flags, struct userdb **db_out,
    const char **why) __attribute__((warn_unused_result));
void userdb_close(struct userdb **db);

/* Domains.  del refuses while users or aliases of it exist unless force,
 * which deletes them too. */
int userdb_domain_add(struct userdb *db, const char *domain, const char **why);
int userdb_domain_del(struct userdb *db, const char *domain, int force,
    const char **why);
/* 1 exists, 0 not, -1 error */
int userdb_domain_exists(struct userdb *db, const char *domain);

typedef int (*userdb_str_fn)(const char *s, void *arg);
/* list functions call fn per entry in sorted order; fn returning non-zero
 * stops the walk and is returned. */
int userdb_domain_list(struct userdb *db, userdb_str_fn fn, void *arg);

/* Users.  add fails if the domain is not ours or the address exists (as a
 * user or an alias). */
int userdb_user_add(struct userdb *db, const struct userdb_user *u,
    const char **why);
/* 1 found (*out filled), 0 not found, -1 error */
int userdb_user_get(struct userdb *db, const char *address,
    struct userdb_user *out);
int userdb_user_set_hash(struct userdb *db, const char *address,
    const char *hash, const char **why);
int userdb_user_set_quota(struct userdb *db, const char *address,
    uint64_t bytes, uint64_t messages, const char **why);
int userdb_user_del(struct userdb *db, const char *address, const char **why);
typedef int (*userdb_user_fn)(const struct userdb_user *u, void *arg);
/* domain NULL: every user. */
int userdb_user_list(struct userdb *db, const char *domain,
    userdb_user_fn fn, void *arg);

/*
 * APOP secrets (RFC 1939 7), one per user, kept apart from the user
 * record.  SECURITY: a secret is stored as given: it is
 * plaintext-equivalent (whoever reads users.lmdb can log in with APOP as
 * that user), which is why it is optional and separate from the
 * password, whose Argon2id hash cannot answer APOP.  A secret is 1 to
 * USERDB_APOP_MAX bytes with no NUL, CR or LF.
 *
 * set: the user must exist; replaces any secret.  clear: 1 if there was
 * one, 0 if not (the user must exist), -1 error.  get: 1 found (secret
 * in out[0 .. *n_out), not NUL-terminated; outsz >= USERDB_APOP_MAX),
 * 0 none, -1 error.  Deleting a user or a domain deletes its secrets.
 */
#define USERDB_APOP_MAX 255
int userdb_apop_set(struct userdb *db, const char *address,
    const char *secret, size_t n, const char **why)
    __attribute__((warn_unused_result));
int userdb_apop_clear(struct userdb *db, const char *address,
    const char **why);
int userdb_apop_get(struct userdb *db, const char *address, char *out,
    size_t outsz, size_t *n_out);

/* Aliases: one alias to many targets.  alias "@domain" is a catch-all;
 * a target is a full address (local user, another alias or elsewhere). */
int userdb_alias_add(struct userdb *db, const char *alias, const char *target,
    const char **why);
/* target NULL deletes every target of the alias. */
int userdb_alias_del(struct userdb *db, const char *alias, const char *target,
    const char **why);
typedef int (*userdb_alias_fn)(const char *alias, const char *target,
    void *arg);
int userdb_alias_list(struct userdb *db, const char *domain,
    userdb_alias_fn fn, void *arg);

/*
 * userdb_resolve: where does mail for address go?  In order: a user of
 * that name; an alias of that name (expanded recursively, depth
 * USERDB_MAX_DEPTH, duplicates dropped, loops cut); if delim is not 0 and
 * the local part holds it, the same two steps for the part before the
 * first delim ("user+tag" -> "user"); the domain's catch-all; otherwise
 * USERDB_UNKNOWN for our domains and USERDB_REMOTE for others.
 */
int userdb_resolve(struct userdb *db, const char *address, char delim,
    struct userdb_resolution *out, const char **why);

#endif
