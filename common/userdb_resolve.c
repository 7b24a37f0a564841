/* Address resolution over the user database: users, aliases, +tags, catch-alls. */
/* SPDX-License-Identifier: ISC */
#include "common/userdb.h"
#include "common/userdb_priv.h"

#include <stdio.h>
#include <string.h>

#include "common/addr.h"

/*
 * One resolution in one read transaction.  path holds the aliases being
 * expanded from the top down to the current one: a target already on it
 * is a loop and is cut.  An alias deeper than USERDB_MAX_DEPTH levels is
 * dropped.  Targets are deduplicated by address.
 *
 * A target that is neither a user nor an alias is a forward
 * (is_mailbox 0) when its domain is not ours.  In our own domains it is
 * tried once more without its +tag (alias -> bob+x@ours reaches bob);
 * otherwise it is dropped: forwarding it would only come back here, and
 * through a catch-all it would loop.  An alias whose every target is
 * dropped or cut resolves to USERDB_UNKNOWN, so SMTP refuses it at RCPT
 * instead of accepting mail it cannot deliver.
 */
struct userdb_walk {
	struct userdb *db;
	MDB_txn *txn;
	char delim;
	struct userdb_resolution *out;
	const char *path[USERDB_MAX_DEPTH];
	const char **why;
};

static int
userdb_resolve_add(struct userdb_walk *w, const char *addr, int is_mailbox)
{
	struct userdb_resolution *r = w->out;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->t[i].address, addr) == 0)
			return 0;
	if (r->n == USERDB_MAX_TARGETS)
		return userdb_fail(w->why, "%s expands to more than %d "
		    "targets", w->path[0], USERDB_MAX_TARGETS);
	snprintf(r->t[r->n].address, sizeof(r->t[r->n].address), "%s", addr);
	r->t[r->n].is_mailbox = is_mailbox;
	r->n++;
	return 0;
}

static int
userdb_resolve_on_path(const struct userdb_walk *w, const char *addr,
    int depth)
{
	for (int i = 0; i <= depth && i < USERDB_MAX_DEPTH; i++)
		if (strcmp(w->path[i], addr) == 0)
			return 1;
	return 0;
}

static int userdb_resolve_expand(struct userdb_walk *w, const char *addr,
    int depth);

/* A target of an alias at depth: expand it or add it. */
static int
userdb_resolve_target(struct userdb_walk *w, const char *t, int depth)
{
	char base[USERDB_ADDR_MAX];
	int r, rc;

	if (userdb_resolve_on_path(w, t, depth))
		return 0;
	if ((r = userdb_resolve_expand(w, t, depth + 1)) != 0)
		return r < 0 ? -1 : 0;
	r = userdb_has(w->txn, w->db->domains, addr_domain_of(t), &rc);
	if (r < 0)
		return userdb_fail(w->why, "user database: %s",
		    mdb_strerror(rc));
	if (r == 0)
		return userdb_resolve_add(w, t, 0);
	if (addr_strip_tag(t, w->delim, base, sizeof(base)) == 1 &&
	    !userdb_resolve_on_path(w, base, depth) &&
	    userdb_resolve_expand(w, base, depth + 1) < 0)
		return -1;
	return 0;
}

/*
 * Expand addr at depth (0 for the address asked about).  Returns 1 if it
 * is a user or an alias (its targets added), 0 if neither, -1 on error.
 */
static int
userdb_resolve_expand(struct userdb_walk *w, const char *addr, int depth)
{
	char t[USERDB_ADDR_MAX];
	MDB_cursor *cur;
	MDB_val k = userdb_val(addr), v;
	int r, rc;

	if ((r = userdb_has(w->txn, w->db->users, addr, &rc)) != 0) {
		if (r < 0)
			return userdb_fail(w->why, "user database: %s",
			    mdb_strerror(rc));
		return userdb_resolve_add(w, addr, 1) < 0 ? -1 : 1;
	}
	if ((rc = mdb_cursor_open(w->txn, w->db->aliases, &cur)) != 0)
		return userdb_fail(w->why, "user database: %s",
		    mdb_strerror(rc));
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc != 0 || depth >= USERDB_MAX_DEPTH) {
		mdb_cursor_close(cur);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return userdb_fail(w->why, "user database: %s",
			    mdb_strerror(rc));
		return rc == 0;	/* too deep: exists, contributes nothing */
	}
	w->path[depth] = addr;
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (userdb_cstr(&v, t, sizeof(t)) < 0)
			continue;
		if (userdb_resolve_target(w, t, depth) < 0) {
			mdb_cursor_close(cur);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return userdb_fail(w->why, "user database: %s",
		    mdb_strerror(rc));
	return 1;
}

static int
userdb_resolve_steps(struct userdb_walk *w, const char *a)
{
	char base[USERDB_ADDR_MAX], catchall[USERDB_ADDR_MAX];
	const char *dom = addr_domain_of(a);
	int r, rc;

	if ((r = userdb_resolve_expand(w, a, 0)) != 0)
		return r;
	if (addr_strip_tag(a, w->delim, base, sizeof(base)) == 1 &&
	    (r = userdb_resolve_expand(w, base, 0)) != 0)
		return r;
	snprintf(catchall, sizeof(catchall), "@%s", dom);
	if ((r = userdb_resolve_expand(w, catchall, 0)) != 0)
		return r;
	r = userdb_has(w->txn, w->db->domains, dom, &rc);
	if (r < 0)
		return userdb_fail(w->why, "user database: %s",
		    mdb_strerror(rc));
	w->out->kind = r ? USERDB_UNKNOWN : USERDB_REMOTE;
	return 0;
}

int
userdb_resolve(struct userdb *db, const char *address, char delim,
    struct userdb_resolution *out, const char **why)
{
	char a[USERDB_ADDR_MAX];
	struct userdb_walk w;
	int r;

	out->kind = USERDB_UNKNOWN;
	out->n = 0;
	if (userdb_norm(address, a, why) < 0)
		return -1;
	memset(&w, 0, sizeof(w));
	w.db = db;
	w.delim = delim;
	w.out = out;
	w.why = why;
	w.path[0] = a;
	if (userdb_txn(db, 0, &w.txn, why) < 0)
		return -1;
	r = userdb_resolve_steps(&w, a);
	if (r == 1)
		out->kind = out->n > 0 ? USERDB_LOCAL : USERDB_UNKNOWN;
	mdb_txn_abort(w.txn);
	if (r < 0) {
		out->n = 0;
		return -1;
	}
	return 0;
}
