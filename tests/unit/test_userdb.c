/* Unit tests for common/userdb: domains, users, aliases, resolution, two handles. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/userdb.h"

struct fx {
	char dir[64];
	char path[96];
	struct userdb *db;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *why = NULL;

	strcpy(f->dir, "/tmp/test_userdb.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/users.lmdb", f->dir);
	if (userdb_open(f->path, USERDB_CREATE, &f->db, &why) < 0) {
		fprintf(stderr, "open: %s\n", why);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	userdb_close(&f->db);
	assert_null(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Collect list output as "a,b,c" for exact comparison. */
static int
collect_str(const char *s, void *arg)
{
	struct buf *b = arg;

	if (b->len > 0 && buf_add(b, ",", 1) < 0)
		return -1;
	return buf_addstr(b, s) < 0 ? -1 : 0;
}

static int
collect_user(const struct userdb_user *u, void *arg)
{
	struct buf *b = arg;

	return buf_addf(b, "%s%s", b->len ? "," : "", u->address) < 0 ? -1 : 0;
}

static int
collect_alias(const char *a, const char *t, void *arg)
{
	struct buf *b = arg;

	return buf_addf(b, "%s%s>%s", b->len ? "," : "", a, t) < 0 ? -1 : 0;
}

static int
stop_at_first(const char *s, void *arg)
{
	return 7;
}

static void
add_user(struct userdb *db, const char *addr)
{
	struct userdb_user u;
	const char *why = NULL;

	memset(&u, 0, sizeof(u));
	snprintf(u.address, sizeof(u.address), "%s", addr);
	strcpy(u.hash, "$argon2id$v=19$m=8,t=1,p=1$fake");
	if (userdb_user_add(db, &u, &why) < 0)
		fail_msg("add %s: %s", addr, why);
}

static void
add_alias(struct userdb *db, const char *a, const char *t)
{
	const char *why = NULL;

	if (userdb_alias_add(db, a, t, &why) < 0)
		fail_msg("alias %s %s: %s", a, t, why);
}

static void
test_domains(void **state)
{
	struct fx *f = *state;
	const char *why = NULL;
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(userdb_domain_add(f->db, "Example.ORG", &why), 0);
	assert_int_equal(userdb_domain_add(f->db, "b.example", &why), 0);
	assert_int_equal(userdb_domain_add(f->db, "example.org", &why), -1);
	assert_string_equal(why, "domain example.org already exists");
	assert_int_equal(userdb_domain_add(f->db, "bad_domain", &why), -1);
	assert_string_equal(why, "invalid domain \"bad_domain\": "
	    "invalid character in domain");
	assert_int_equal(userdb_domain_add(f->db, "[1.2.3.4]", &why), -1);
	assert_int_equal(userdb_domain_exists(f->db, "EXAMPLE.org"), 1);
	assert_int_equal(userdb_domain_exists(f->db, "nope.org"), 0);
	assert_int_equal(userdb_domain_list(f->db, collect_str, &b), 0);
	assert_string_equal(buf_cstr(&b), "b.example,example.org");
	assert_int_equal(userdb_domain_list(f->db, stop_at_first, NULL), 7);

	add_user(f->db, "a@example.org");
	add_user(f->db, "keep@b.example");
	add_alias(f->db, "x@example.org", "a@example.org");
	add_alias(f->db, "x@example.org", "keep@b.example");
	add_alias(f->db, "@example.org", "a@example.org");
	add_alias(f->db, "y@b.example", "a@example.org");
	assert_int_equal(userdb_domain_del(f->db, "example.org", 0, &why), -1);
	assert_string_equal(why, "domain example.org still has 1 user and "
	    "2 aliases (use --force to delete them too)");
	assert_int_equal(userdb_domain_del(f->db, "example.org", 1, &why), 0);
	assert_int_equal(userdb_domain_exists(f->db, "example.org"), 0);
	buf_reset(&b);
	assert_int_equal(userdb_user_list(f->db, NULL, collect_user, &b), 0);
	assert_string_equal(buf_cstr(&b), "keep@b.example");
	buf_reset(&b);
	assert_int_equal(userdb_alias_list(f->db, NULL, collect_alias, &b), 0);
	assert_string_equal(buf_cstr(&b), "y@b.example>a@example.org");
	assert_int_equal(userdb_domain_del(f->db, "example.org", 1, &why), -1);
	assert_string_equal(why, "domain example.org is not a local domain");
	buf_fini(&b);
}

static void
test_users(void **state)
{
	struct fx *f = *state;
	struct userdb_user u, got;
	const char *why = NULL;
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(userdb_domain_add(f->db, "example.org", &why), 0);
	assert_int_equal(userdb_domain_add(f->db, "other.org", &why), 0);
	memset(&u, 0, sizeof(u));
	strcpy(u.address, "Bob.Smith@EXAMPLE.org");
	strcpy(u.hash, "$argon2id$h1");
	u.quota_bytes = 1ULL << 30;
	u.quota_messages = 5000;
	u.flags = USERDB_USER_DISABLED;
	u.created = 1700000000;
	assert_int_equal(userdb_user_add(f->db, &u, &why), 0);
	assert_int_equal(userdb_user_add(f->db, &u, &why), -1);
	assert_string_equal(why, "user bob.smith@example.org already exists");
	strcpy(u.address, "a@nope.org");
	assert_int_equal(userdb_user_add(f->db, &u, &why), -1);
	assert_string_equal(why, "domain nope.org is not a local domain");
	strcpy(u.address, "a b@example.org");
	assert_int_equal(userdb_user_add(f->db, &u, &why), -1);
	assert_string_equal(why, "invalid address \"a b@example.org\": "
	    "invalid character in local part");
	add_alias(f->db, "al@example.org", "bob.smith@example.org");
	strcpy(u.address, "AL@example.org");
	assert_int_equal(userdb_user_add(f->db, &u, &why), -1);
	assert_string_equal(why, "al@example.org already exists as an alias");
	memset(u.hash, 'h', sizeof(u.hash));
	strcpy(u.address, "long@example.org");
	assert_int_equal(userdb_user_add(f->db, &u, &why), -1);
	assert_string_equal(why, "password hash longer than 127 bytes");

	/* every field round-trips; lookups normalise too */
	assert_int_equal(userdb_user_get(f->db, "BOB.SMITH@example.ORG", &got),
	    1);
	assert_string_equal(got.address, "bob.smith@example.org");
	assert_string_equal(got.hash, "$argon2id$h1");
	assert_true(got.quota_bytes == 1ULL << 30);
	assert_true(got.quota_messages == 5000);
	assert_int_equal(got.flags, USERDB_USER_DISABLED);
	assert_true(got.created == 1700000000);
	assert_int_equal(userdb_user_get(f->db, "nobody@example.org", &got),
	    0);
	assert_int_equal(userdb_user_get(f->db, "not an address", &got), 0);

	assert_int_equal(userdb_user_set_hash(f->db, "Bob.Smith@example.org",
	    "$argon2id$h2", &why), 0);
	assert_int_equal(userdb_user_set_quota(f->db, "bob.smith@example.org",
	    42, 0, &why), 0);
	assert_int_equal(userdb_user_get(f->db, "bob.smith@example.org", &got),
	    1);
	assert_string_equal(got.hash, "$argon2id$h2");
	assert_true(got.quota_bytes == 42 && got.quota_messages == 0);
	assert_int_equal(got.flags, USERDB_USER_DISABLED);
	assert_int_equal(userdb_user_set_hash(f->db, "x@example.org", "$h",
	    &why), -1);
	assert_string_equal(why, "user x@example.org does not exist");
	assert_int_equal(userdb_user_set_quota(f->db, "x@example.org", 1, 1,
	    &why), -1);
	assert_string_equal(why, "user x@example.org does not exist");

	/* created defaults to now */
	add_user(f->db, "c@other.org");
	assert_int_equal(userdb_user_get(f->db, "c@other.org", &got), 1);
	assert_true(got.created > 1700000000);
	add_user(f->db, "a@example.org");
	assert_int_equal(userdb_user_list(f->db, NULL, collect_user, &b), 0);
	assert_string_equal(buf_cstr(&b),
	    "a@example.org,bob.smith@example.org,c@other.org");
	buf_reset(&b);
	assert_int_equal(userdb_user_list(f->db, "Example.org", collect_user,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "a@example.org,bob.smith@example.org");
	buf_reset(&b);
	assert_int_equal(userdb_user_list(f->db, "none.org", collect_user,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "");

	assert_int_equal(userdb_user_del(f->db, "A@Example.org", &why), 0);
	assert_int_equal(userdb_user_del(f->db, "a@example.org", &why), -1);
	assert_string_equal(why, "user a@example.org does not exist");
	assert_int_equal(userdb_user_get(f->db, "a@example.org", &got), 0);
	buf_fini(&b);
}

static void
test_aliases(void **state)
{
	struct fx *f = *state;
	const char *why = NULL;
	struct buf b;
	char t[32];
	int i;

	buf_init(&b, 64, 8192);
	assert_int_equal(userdb_domain_add(f->db, "example.org", &why), 0);
	add_user(f->db, "u@example.org");
	add_alias(f->db, "Team@example.org", "u@example.org");
	add_alias(f->db, "team@example.org", "Ext@Remote.NET");
	add_alias(f->db, "@example.org", "u@example.org");
	assert_int_equal(userdb_alias_add(f->db, "team@example.org",
	    "ext@remote.net", &why), -1);
	assert_string_equal(why, "alias team@example.org already has target "
	    "ext@remote.net");
	assert_int_equal(userdb_alias_add(f->db, "u@example.org", "x@y.org",
	    &why), -1);
	assert_string_equal(why, "u@example.org already exists as a user");
	assert_int_equal(userdb_alias_add(f->db, "x@remote.net", "u@example.org",
	    &why), -1);
	assert_string_equal(why, "domain remote.net is not a local domain");
	assert_int_equal(userdb_alias_add(f->db, "s@example.org",
	    "S@example.org", &why), -1);
	assert_string_equal(why, "alias s@example.org cannot point to itself");
	assert_int_equal(userdb_alias_add(f->db, "s@example.org",
	    "@example.org", &why), -1);
	assert_string_equal(why, "invalid address \"@example.org\": "
	    "empty local part");
	assert_int_equal(userdb_alias_list(f->db, "example.org", collect_alias,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "@example.org>u@example.org,"
	    "team@example.org>ext@remote.net,team@example.org>u@example.org");
	buf_reset(&b);
	assert_int_equal(userdb_alias_list(f->db, "remote.net", collect_alias,
	    &b), 0);
	assert_string_equal(buf_cstr(&b), "");

	assert_int_equal(userdb_alias_del(f->db, "team@example.org",
	    "nobody@x.org", &why), -1);
	assert_string_equal(why, "alias team@example.org has no target "
	    "nobody@x.org");
	assert_int_equal(userdb_alias_del(f->db, "team@example.org",
	    "EXT@remote.net", &why), 0);
	assert_int_equal(userdb_alias_del(f->db, "TEAM@example.org", NULL,
	    &why), 0);
	assert_int_equal(userdb_alias_del(f->db, "team@example.org", NULL,
	    &why), -1);
	assert_string_equal(why, "alias team@example.org does not exist");
	assert_int_equal(userdb_alias_del(f->db, "@example.org", NULL, &why),
	    0);

	/* at most USERDB_MAX_TARGETS targets per alias */
	for (i = 0; i < USERDB_MAX_TARGETS; i++) {
		snprintf(t, sizeof(t), "t%d@x.org", i);
		add_alias(f->db, "big@example.org", t);
	}
	assert_int_equal(userdb_alias_add(f->db, "big@example.org",
	    "one-more@x.org", &why), -1);
	assert_string_equal(why, "alias big@example.org already has 64 "
	    "targets");
	buf_fini(&b);
}

/* The fixture for resolution, one line per case in the table below. */
static void
resolve_fixture(struct userdb *db)
{
	const char *why = NULL;
	char a[32], t[32];
	int i;

	assert_int_equal(userdb_domain_add(db, "ex.org", &why), 0);
	assert_int_equal(userdb_domain_add(db, "catch.org", &why), 0);
	add_user(db, "alice@ex.org");
	add_user(db, "bob@ex.org");
	add_user(db, "carol@catch.org");
	add_user(db, "x+y@ex.org");		/* a user with the delim in it */
	add_alias(db, "team@ex.org", "alice@ex.org");
	add_alias(db, "team@ex.org", "bob@ex.org");
	add_alias(db, "team@ex.org", "out@remote.net");
	add_alias(db, "all@ex.org", "team@ex.org");	/* nested + dedupe */
	add_alias(db, "all@ex.org", "alice@ex.org");
	add_alias(db, "all@ex.org", "bob+tag@ex.org");
	add_alias(db, "loopa@ex.org", "loopb@ex.org");	/* a -> b -> a */
	add_alias(db, "loopa@ex.org", "alice@ex.org");
	add_alias(db, "loopb@ex.org", "loopa@ex.org");
	add_alias(db, "loopb@ex.org", "bob@ex.org");
	add_alias(db, "self1@ex.org", "self2@ex.org");	/* a pure loop */
	add_alias(db, "self2@ex.org", "self1@ex.org");
	add_alias(db, "gone@ex.org", "deleted@ex.org");	/* dangling */
	add_alias(db, "list@ex.org", "alice@ex.org");	/* for list+x */
	add_alias(db, "@catch.org", "carol@catch.org");
	add_alias(db, "Fwd@ex.org", "Someone@Remote.NET");
	/* d0 -> d1 -> ... -> d8 -> alice: 9 alias levels */
	for (i = 0; i < 9; i++) {
		snprintf(a, sizeof(a), "d%d@ex.org", i);
		snprintf(t, sizeof(t), "d%d@ex.org", i + 1);
		add_alias(db, a, i == 8 ? "alice@ex.org" : t);
	}
}

struct resolve_case {
	const char *addr;
	char delim;
	enum userdb_kind kind;
	const char *targets;	/* "addr:m" mailbox, "addr:f" forward */
};

static void
fmt_resolution(const struct userdb_resolution *r, struct buf *b)
{
	buf_reset(b);
	for (size_t i = 0; i < r->n; i++)
		assert_int_equal(buf_addf(b, "%s%s:%c", i ? "," : "",
		    r->t[i].address, r->t[i].is_mailbox ? 'm' : 'f'), 0);
}

static void
test_resolve_table(void **state)
{
	static const struct resolve_case cases[] = {
		{ "alice@ex.org", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "ALICE@EX.ORG", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "\"alice\"@ex.org", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "team@ex.org", '+', USERDB_LOCAL,
		    "alice@ex.org:m,bob@ex.org:m,out@remote.net:f" },
		/* nested, deduplicated, tag on a target stripped */
		{ "all@ex.org", '+', USERDB_LOCAL,
		    "alice@ex.org:m,bob@ex.org:m,out@remote.net:f" },
		/* a -> b -> a cut, both ends' other targets kept; targets come
		 * depth first in each alias's sorted target order */
		{ "loopa@ex.org", '+', USERDB_LOCAL,
		    "alice@ex.org:m,bob@ex.org:m" },
		{ "loopb@ex.org", '+', USERDB_LOCAL,
		    "bob@ex.org:m,alice@ex.org:m" },
		{ "self1@ex.org", '+', USERDB_UNKNOWN, "" },
		{ "gone@ex.org", '+', USERDB_UNKNOWN, "" },
		{ "fwd@ex.org", '+', USERDB_LOCAL, "someone@remote.net:f" },
		/* plus-addressing */
		{ "alice+news@ex.org", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "alice+news@ex.org", 0, USERDB_UNKNOWN, "" },
		{ "alice-news@ex.org", '-', USERDB_LOCAL, "alice@ex.org:m" },
		{ "list+x@ex.org", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "x+y@ex.org", '+', USERDB_LOCAL, "x+y@ex.org:m" },
		{ "x+z@ex.org", '+', USERDB_UNKNOWN, "" },
		/* catch-all, after users, aliases and tags */
		{ "anything@catch.org", '+', USERDB_LOCAL, "carol@catch.org:m" },
		{ "carol+t@catch.org", '+', USERDB_LOCAL, "carol@catch.org:m" },
		{ "nobody@ex.org", '+', USERDB_UNKNOWN, "" },
		{ "someone@remote.net", '+', USERDB_REMOTE, "" },
		{ "a@[192.0.2.1]", '+', USERDB_REMOTE, "" },
		/* depth: d1 is 8 levels above alice, d0 is 9 */
		{ "d1@ex.org", '+', USERDB_LOCAL, "alice@ex.org:m" },
		{ "d0@ex.org", '+', USERDB_UNKNOWN, "" },
	};
	struct fx *f = *state;
	struct userdb_resolution r;
	const char *why = NULL;
	struct buf b;
	size_t i;

	buf_init(&b, 64, 8192);
	resolve_fixture(f->db);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (userdb_resolve(f->db, cases[i].addr, cases[i].delim, &r,
		    &why) < 0)
			fail_msg("%s: %s", cases[i].addr, why);
		fmt_resolution(&r, &b);
		if (r.kind != cases[i].kind ||
		    strcmp(buf_cstr(&b), cases[i].targets) != 0)
			fail_msg("%s delim %c: kind %d targets %s", cases[i].addr,
			    cases[i].delim ? cases[i].delim : '0', r.kind,
			    buf_cstr(&b));
	}
	assert_int_equal(userdb_resolve(f->db, "bad address", '+', &r, &why),
	    -1);
	assert_string_equal(why, "invalid address \"bad address\": "
	    "no @ in address");
	buf_fini(&b);
}

static void
test_resolve_too_many(void **state)
{
	struct fx *f = *state;
	struct userdb_resolution r;
	const char *why = NULL;
	char t[32];
	int i;

	assert_int_equal(userdb_domain_add(f->db, "ex.org", &why), 0);
	for (i = 0; i < 40; i++) {
		snprintf(t, sizeof(t), "a%d@x.org", i);
		add_alias(f->db, "l1@ex.org", t);
		snprintf(t, sizeof(t), "b%d@x.org", i);
		add_alias(f->db, "l2@ex.org", t);
	}
	add_alias(f->db, "both@ex.org", "l1@ex.org");
	add_alias(f->db, "both@ex.org", "l2@ex.org");
	assert_int_equal(userdb_resolve(f->db, "l1@ex.org", '+', &r, &why), 0);
	assert_int_equal(r.n, 40);
	assert_int_equal(userdb_resolve(f->db, "both@ex.org", '+', &r, &why),
	    -1);
	assert_string_equal(why, "both@ex.org expands to more than 64 targets");
	assert_int_equal(r.n, 0);
}

/* A second process writes through its own handle; ours sees it at once. */
static void
test_apop(void **state)
{
	struct fx *f = *state;
	struct userdb *ro;
	const char *why = NULL;
	char sec[USERDB_APOP_MAX + 1], big[USERDB_APOP_MAX + 2];
	size_t n = 99;

	assert_int_equal(userdb_domain_add(f->db, "example.org", &why), 0);
	add_user(f->db, "alice@example.org");
	add_user(f->db, "bob@example.org");
	assert_int_equal(userdb_apop_get(f->db, "alice@example.org", sec,
	    sizeof(sec), &n), 0);
	assert_int_equal(n, 0);
	/* set, read back (any case of the address), replace */
	assert_int_equal(userdb_apop_set(f->db, "Alice@Example.ORG",
	    "tanstaaf", 8, &why), 0);
	assert_int_equal(userdb_apop_get(f->db, "alice@example.org", sec,
	    sizeof(sec), &n), 1);
	assert_int_equal(n, 8);
	assert_memory_equal(sec, "tanstaaf", 8);
	assert_int_equal(userdb_apop_set(f->db, "alice@example.org", "x y", 3,
	    &why), 0);
	assert_int_equal(userdb_apop_get(f->db, "alice@example.org", sec,
	    sizeof(sec), &n), 1);
	assert_int_equal(n, 3);
	/* the user record is untouched: bob has none */
	assert_int_equal(userdb_apop_get(f->db, "bob@example.org", sec,
	    sizeof(sec), &n), 0);
	/* limits: exactly USERDB_APOP_MAX, one past, empty, CR LF NUL */
	memset(big, 's', sizeof(big));
	assert_int_equal(userdb_apop_set(f->db, "bob@example.org", big,
	    USERDB_APOP_MAX, &why), 0);
	assert_int_equal(userdb_apop_get(f->db, "bob@example.org", sec,
	    sizeof(sec), &n), 1);
	assert_int_equal(n, USERDB_APOP_MAX);
	assert_int_equal(userdb_apop_set(f->db, "bob@example.org", big,
	    USERDB_APOP_MAX + 1, &why), -1);
	assert_int_equal(userdb_apop_set(f->db, "bob@example.org", "", 0,
	    &why), -1);
	assert_int_equal(userdb_apop_set(f->db, "bob@example.org", "a\nb", 3,
	    &why), -1);
	assert_int_equal(userdb_apop_set(f->db, "bob@example.org", "a\0b", 3,
	    &why), -1);
	/* no such user */
	assert_int_equal(userdb_apop_set(f->db, "ghost@example.org", "s", 1,
	    &why), -1);
	assert_string_equal(why, "user ghost@example.org does not exist");
	assert_int_equal(userdb_apop_clear(f->db, "ghost@example.org", &why),
	    -1);
	/* clear: 1 then 0 */
	assert_int_equal(userdb_apop_clear(f->db, "bob@example.org", &why), 1);
	assert_int_equal(userdb_apop_clear(f->db, "bob@example.org", &why), 0);
	assert_int_equal(userdb_apop_get(f->db, "bob@example.org", sec,
	    sizeof(sec), &n), 0);
	/* a read-only handle sees it */
	assert_int_equal(userdb_open(f->path, USERDB_RDONLY, &ro, &why), 0);
	assert_int_equal(userdb_apop_get(ro, "alice@example.org", sec,
	    sizeof(sec), &n), 1);
	/* deleting the user deletes the secret: added again, none */
	assert_int_equal(userdb_user_del(f->db, "alice@example.org", &why), 0);
	add_user(f->db, "alice@example.org");
	assert_int_equal(userdb_apop_get(ro, "alice@example.org", sec,
	    sizeof(sec), &n), 0);
	/* and so does deleting the domain */
	assert_int_equal(userdb_apop_set(f->db, "alice@example.org", "s", 1,
	    &why), 0);
	assert_int_equal(userdb_domain_del(f->db, "example.org", 1, &why), 0);
	assert_int_equal(userdb_domain_add(f->db, "example.org", &why), 0);
	add_user(f->db, "alice@example.org");
	assert_int_equal(userdb_apop_get(ro, "alice@example.org", sec,
	    sizeof(sec), &n), 0);
	userdb_close(&ro);
}

static void
test_two_handles(void **state)
{
	struct fx *f = *state;
	struct userdb *ro;
	struct userdb_user u;
	const char *why = NULL;
	pid_t pid;
	int st;

	assert_int_equal(userdb_open(f->path, USERDB_RDONLY, &ro, &why), 0);
	assert_int_equal(userdb_domain_exists(ro, "late.org"), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct userdb *w;

		/* the child must not use the parent's environments */
		if (userdb_open(f->path, 0, &w, &why) < 0 ||
		    userdb_domain_add(w, "late.org", &why) < 0)
			_exit(1);
		add_user(w, "new@late.org");
		userdb_close(&w);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(userdb_domain_exists(ro, "late.org"), 1);
	assert_int_equal(userdb_user_get(ro, "new@late.org", &u), 1);
	assert_int_equal(userdb_domain_exists(f->db, "late.org"), 1);
	assert_int_equal(userdb_domain_add(ro, "x.org", &why), -1);
	assert_string_equal(why, "user database opened read-only");
	userdb_close(&ro);
}

static void
test_open_errors(void **state)
{
	struct fx *f = *state;
	struct userdb *db = (struct userdb *)1;
	const char *why = NULL;
	char p[128];

	snprintf(p, sizeof(p), "%s/missing.lmdb", f->dir);
	assert_int_equal(userdb_open(p, 0, &db, &why), -1);
	assert_null(db);
	assert_non_null(strstr(why, "missing.lmdb: No such file or directory"));
	assert_int_equal(userdb_open(p, USERDB_RDONLY | USERDB_CREATE, &db,
	    &why), -1);
	assert_string_equal(why, "cannot create a read-only database");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_table, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resolve_too_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
