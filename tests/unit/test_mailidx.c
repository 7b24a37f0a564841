/* Unit tests for common/mailidx: mailboxes, messages, flags, CONDSTORE, reconcile, rebuild, growth, two handles. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/maildir.h"
#include "common/mailidx.h"

struct fx {
	char dir[64];
	struct mailidx *idx;
	struct mailidx_txn *t;
	const char *why;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_mailidx.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (mailidx_open(f->dir, MAILIDX_CREATE, &f->idx, &f->why) < 0) {
		fprintf(stderr, "open: %s\n", f->why);
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

	mailidx_txn_abort(&f->t);
	mailidx_close(&f->idx);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
begin(struct fx *f, int write)
{
	f->why = NULL;
	if (mailidx_txn_begin(f->idx, write, &f->t, &f->why) < 0)
		fail_msg("begin: %s", f->why);
}

static void
commit(struct fx *f)
{
	if (mailidx_txn_commit(&f->t, &f->why) < 0)
		fail_msg("commit: %s", f->why);
	assert_null(f->t);
}

static struct mailidx_mbox
mbox(struct fx *f, const char *name)
{
	struct mailidx_mbox m;

	assert_int_equal(mailidx_mbox_get(f->t, name, &m), 1);
	return m;
}

/* ---- recount: the counters must always match the records ---- */

struct recount {
	uint32_t messages, unseen, deleted, n;
	uint64_t size, maxseq;
	uint32_t uids[64];
	uint32_t lastuid;
};

static int
recount_fn(const struct mailidx_msg *m, void *arg)
{
	struct recount *r = arg;

	assert_true(m->uid > r->lastuid);	/* ascending */
	r->lastuid = m->uid;
	r->messages++;
	r->unseen += !(m->flags & MAILIDX_F_SEEN);
	r->deleted += (m->flags & MAILIDX_F_DELETED) != 0;
	r->size += m->size;
	if (m->modseq > r->maxseq)
		r->maxseq = m->modseq;
	if (r->n < 64)
		r->uids[r->n++] = m->uid;
	return 0;
}

static void
check_counters(struct mailidx_txn *t, const char *name)
{
	struct mailidx_mbox m;
	struct recount r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(mailidx_mbox_get(t, name, &m), 1);
	assert_int_equal(mailidx_msg_range(t, m.id, 1, UINT32_MAX, recount_fn,
	    &r), 0);
	assert_int_equal(m.messages, r.messages);
	assert_int_equal(m.unseen, r.unseen);
	assert_int_equal(m.deleted, r.deleted);
	assert_true(m.size == r.size);
	assert_true(m.highestmodseq >= r.maxseq);
	assert_true(m.uidnext > r.lastuid);
}

static struct recount
uids_of(struct mailidx_txn *t, uint32_t id, uint32_t lo, uint32_t hi)
{
	struct recount r;

	memset(&r, 0, sizeof(r));
	assert_int_equal(mailidx_msg_range(t, id, lo, hi, recount_fn, &r), 0);
	return r;
}

static int
collect_name(const struct mailidx_mbox *m, void *arg)
{
	struct buf *b = arg;

	return buf_addf(b, "%s%s:%u:%d", b->len ? "," : "", m->name,
	    m->special_use, m->subscribed) < 0 ? -1 : 0;
}

static void
expect_list(struct mailidx_txn *t, const char *want)
{
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(mailidx_mbox_list(t, collect_name, &b), 0);
	assert_string_equal(buf_cstr(&b), want);
	buf_fini(&b);
}

static uint32_t
append(struct fx *f, const char *name, uint32_t flags, uint64_t size,
    const char *file, const char *cache)
{
	struct mailidx_mbox mb = mbox(f, name);
	struct mailidx_msg m;

	memset(&m, 0, sizeof(m));
	m.flags = flags;
	m.size = size;
	m.internaldate = 1700000000;
	snprintf(m.file, sizeof(m.file), "%s", file);
	if (mailidx_msg_append(f->t, mb.id, &m, span_cstr(cache), &f->why) <
	    0)
		fail_msg("append: %s", f->why);
	check_counters(f->t, name);
	return m.uid;
}

#define DEFAULTS "Archive:16:1,Drafts:2:1,INBOX:0:1,Junk:8:1,Sent:1:1," \
	"Trash:4:1"

/* ---- tests ---- */

static void
test_create_defaults(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "INBOX", "Sent", "Drafts", "Trash", "Junk",
	    "Archive" };
	uint32_t last = 0;
	struct mailidx *again;
	char p[256];
	struct stat st;

	begin(f, 0);
	expect_list(f->t, DEFAULTS);
	for (size_t i = 0; i < 6; i++) {
		struct mailidx_mbox m = mbox(f, names[i]);

		assert_int_equal(m.id, i + 1);
		assert_int_equal(m.uidnext, 1);
		assert_true(m.highestmodseq == 1);
		assert_int_equal(m.messages, 0);
		assert_true(m.uidvalidity > last);	/* new every time */
		last = m.uidvalidity;
		check_counters(f->t, names[i]);
	}
	mailidx_txn_abort(&f->t);
	assert_int_equal(mailidx_rebuilt(f->idx), 0);
	snprintf(p, sizeof(p), "%s/.Sent/cur", f->dir);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/.Archive/maildirfolder", f->dir);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/new", f->dir);
	assert_int_equal(stat(p, &st), 0);
	/* a read-only transaction cannot write */
	begin(f, 0);
	assert_int_equal(mailidx_mbox_create(f->t, "X", 0, NULL, &f->why), -1);
	mailidx_txn_abort(&f->t);
	/* no index and no CREATE: refused */
	assert_int_equal(mailidx_open("/nonexistent/x", 0, &again, &f->why),
	    -1);
	assert_null(again);
	assert_int_equal(mailidx_open(f->dir, MAILIDX_RDONLY |
	    MAILIDX_CREATE, &again, &f->why), -1);
}

static void
test_append(void **state)
{
	struct fx *f = *state;
	struct mailidx_mbox m;
	struct mailidx_msg g;
	struct recount r;
	struct span c;
	uint32_t id;

	begin(f, 1);
	id = mbox(f, "INBOX").id;
	assert_int_equal(append(f, "INBOX", 0, 100, "new/a", "cacheA"), 1);
	assert_int_equal(append(f, "INBOX", MAILIDX_F_SEEN, 200, "new/b", ""),
	    2);
	assert_int_equal(append(f, "INBOX", MAILIDX_F_SEEN | MAILIDX_F_DELETED,
	    300, "cur/c:2,ST", "C"), 3);
	m = mbox(f, "INBOX");
	assert_int_equal(m.uidnext, 4);
	assert_true(m.highestmodseq == 4);
	assert_int_equal(m.messages, 3);
	assert_int_equal(m.unseen, 1);
	assert_int_equal(m.deleted, 1);
	assert_true(m.size == 600);
	commit(f);

	begin(f, 0);
	assert_int_equal(mailidx_msg_get(f->t, id, 2, &g), 1);
	assert_true(g.modseq == 3);
	assert_true(g.emailid == 2);
	assert_true(g.size == 200);
	assert_true(g.internaldate == 1700000000);
	assert_true(g.savedate > 1700000000);
	assert_string_equal(g.file, "new/b");
	assert_int_equal(mailidx_msg_get(f->t, id, 4, &g), 0);
	assert_int_equal(mailidx_msg_cache(f->t, id, 1, &c), 1);
	assert_int_equal(c.n, 6);
	assert_memory_equal(c.p, "cacheA", 6);
	assert_int_equal(mailidx_msg_cache(f->t, id, 2, &c), 0);
	mailidx_txn_abort(&f->t);
	/* a blob stored later (reconcile stores none); no MODSEQ change */
	begin(f, 1);
	assert_int_equal(mailidx_msg_set_cache(f->t, id, 2, span_cstr("B2"),
	    &f->why), 0);
	assert_int_equal(mailidx_msg_set_cache(f->t, id, 1, span_cstr(""),
	    &f->why), 0);
	assert_int_equal(mailidx_msg_cache(f->t, id, 2, &c), 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(mailidx_msg_cache(f->t, id, 1, &c), 0);
	assert_true(mbox(f, "INBOX").highestmodseq == 4);
	commit(f);
	begin(f, 1);
	assert_int_equal(mailidx_msg_set_cache(f->t, id, 9, span_cstr("x"),
	    &f->why), -1);
	mailidx_txn_abort(&f->t);
	begin(f, 0);
	r = uids_of(f->t, id, 2, UINT32_MAX);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.uids[0], 2);
	assert_int_equal(r.uids[1], 3);
	r = uids_of(f->t, id, 1, 2);
	assert_int_equal(r.n, 2);
	r = uids_of(f->t, id + 1, 1, UINT32_MAX);	/* other mailbox */
	assert_int_equal(r.n, 0);
	mailidx_txn_abort(&f->t);

	/* bad file names are refused */
	begin(f, 1);
	memset(&g, 0, sizeof(g));
	strcpy(g.file, "tmp/x");
	assert_int_equal(mailidx_msg_append(f->t, id, &g, span_cstr(""),
	    &f->why), -1);
	mailidx_txn_abort(&f->t);
}

static const struct {
	char op;
	uint32_t flags;
	uint64_t kw;
	uint64_t unchangedsince;
	uint32_t want_flags;
	uint64_t want_kw;
	uint64_t want_modseq;
	int modified;
} store_cases[] = {
	/* message starts with no flags, modseq 2 */
	{ '+', MAILIDX_F_SEEN, 0, 0, MAILIDX_F_SEEN, 0, 3, 0 },
	{ '+', MAILIDX_F_SEEN, 0, 0, MAILIDX_F_SEEN, 0, 3, 0 },	/* no-op */
	{ '+', MAILIDX_F_DELETED, 1, 0, MAILIDX_F_SEEN | MAILIDX_F_DELETED, 1,
	  4, 0 },
	{ '-', MAILIDX_F_SEEN, 0, 0, MAILIDX_F_DELETED, 1, 5, 0 },
	{ '-', MAILIDX_F_SEEN, 0, 0, MAILIDX_F_DELETED, 1, 5, 0 },	/* no-op */
	{ '=', MAILIDX_F_FLAGGED, 2, 5, MAILIDX_F_FLAGGED, 2, 6, 0 },
	/* UNCHANGEDSINCE older than the message's modseq: refused */
	{ '=', 0, 0, 5, MAILIDX_F_FLAGGED, 2, 6, 1 },
	{ '=', MAILIDX_F_FLAGGED, 2, 6, MAILIDX_F_FLAGGED, 2, 6, 0 },
	{ '=', 0x80, 0, 0, 0, 0, 7, 0 },	/* unknown bits dropped */
};

/* RFC 3501 2.3.2 through the index: each UID goes to one claim only. */
static void
test_claim_recent(void **state)
{
	struct fx *f = *state;
	uint32_t id, lo = 9, hi = 9;

	begin(f, 1);
	id = mbox(f, "INBOX").id;
	assert_int_equal(mbox(f, "INBOX").recent_uid, 1);
	/* empty mailbox: an empty range, nothing written */
	assert_int_equal(mailidx_mbox_claim_recent(f->t, id, &lo, &hi,
	    &f->why), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 1);
	assert_int_equal(append(f, "INBOX", 0, 10, "new/a", ""), 1);
	assert_int_equal(append(f, "INBOX", 0, 10, "new/b", ""), 2);
	assert_int_equal(mailidx_mbox_claim_recent(f->t, id, &lo, &hi,
	    &f->why), 0);
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 3);
	assert_int_equal(mbox(f, "INBOX").recent_uid, 3);
	/* the next claim gets nothing until a message comes */
	assert_int_equal(mailidx_mbox_claim_recent(f->t, id, &lo, &hi,
	    &f->why), 0);
	assert_int_equal(lo, 3);
	assert_int_equal(hi, 3);
	assert_int_equal(append(f, "INBOX", 0, 10, "new/c", ""), 3);
	commit(f);
	begin(f, 1);
	assert_int_equal(mailidx_mbox_claim_recent(f->t, id, &lo, &hi,
	    &f->why), 0);
	assert_int_equal(lo, 3);
	assert_int_equal(hi, 4);
	assert_int_equal(mailidx_mbox_claim_recent(f->t, 9999, &lo, &hi,
	    &f->why), -1);
	commit(f);
	/* a read transaction may not claim */
	begin(f, 0);
	assert_int_equal(mailidx_mbox_claim_recent(f->t, id, &lo, &hi,
	    &f->why), -1);
	mailidx_txn_abort(&f->t);
}

static void
test_store(void **state)
{
	struct fx *f = *state;
	struct mailidx_msg out, g;
	uint32_t id;
	int modified;

	begin(f, 1);
	id = mbox(f, "INBOX").id;
	append(f, "INBOX", 0, 10, "new/a", "");
	for (size_t i = 0; i < sizeof(store_cases) / sizeof(store_cases[0]);
	    i++) {
		assert_int_equal(mailidx_msg_store(f->t, id, 1,
		    store_cases[i].op, store_cases[i].flags, store_cases[i].kw,
		    store_cases[i].unchangedsince, &out, &modified, &f->why),
		    0);
		assert_int_equal(modified, store_cases[i].modified);
		assert_int_equal(mailidx_msg_get(f->t, id, 1, &g), 1);
		assert_int_equal(g.flags, store_cases[i].want_flags);
		assert_true(g.keywords == store_cases[i].want_kw);
		assert_true(g.modseq == store_cases[i].want_modseq);
		assert_true(out.modseq == g.modseq);
		assert_true(mbox(f, "INBOX").highestmodseq == g.modseq);
		check_counters(f->t, "INBOX");
	}
	assert_int_equal(mailidx_msg_store(f->t, id, 9, '+', 1, 0, 0, NULL,
	    NULL, &f->why), -1);
	mailidx_txn_abort(&f->t);
	begin(f, 1);
	assert_int_equal(mailidx_msg_store(f->t, id, 1, '?', 1, 0, 0, NULL,
	    NULL, &f->why), -1);
	mailidx_txn_abort(&f->t);
}

static void
test_keywords(void **state)
{
	struct fx *f = *state;
	unsigned kid;
	char name[32];

	begin(f, 1);
	assert_int_equal(mailidx_keyword_id(f->t, "$Junk", 0, &kid, &f->why),
	    0);
	assert_int_equal(mailidx_keyword_id(f->t, "$Junk", 1, &kid, &f->why),
	    1);
	assert_int_equal(kid, 0);
	assert_int_equal(mailidx_keyword_id(f->t, "work", 1, &kid, &f->why),
	    1);
	assert_int_equal(kid, 1);
	assert_int_equal(mailidx_keyword_id(f->t, "$Junk", 1, &kid, &f->why),
	    1);
	assert_int_equal(kid, 0);
	assert_int_equal(mailidx_keyword_name(f->t, 1, name, sizeof(name)), 1);
	assert_string_equal(name, "work");
	assert_int_equal(mailidx_keyword_name(f->t, 5, name, sizeof(name)), 0);
	assert_int_equal(mailidx_keyword_name(f->t, 1, name, 4), -1);
	for (unsigned i = 2; i < MAILIDX_KEYWORDS; i++) {
		snprintf(name, sizeof(name), "k%u", i);
		assert_int_equal(mailidx_keyword_id(f->t, name, 1, &kid,
		    &f->why), 1);
		assert_int_equal(kid, i);
	}
	/* the 65th is refused */
	assert_int_equal(mailidx_keyword_id(f->t, "one-too-many", 1, &kid,
	    &f->why), -1);
	assert_int_equal(kid, MAILIDX_KEYWORDS);
	assert_int_equal(mailidx_keyword_id(f->t, "", 1, &kid, &f->why), -1);
	commit(f);
}

static int
collect_uid(uint32_t uid, void *arg)
{
	struct buf *b = arg;

	return buf_addf(b, "%s%u", b->len ? "," : "", uid) < 0 ? -1 : 0;
}

static int
collect_msg(const struct mailidx_msg *m, void *arg)
{
	struct buf *b = arg;

	return buf_addf(b, "%s%u:%llu", b->len ? "," : "", m->uid,
	    (unsigned long long)m->modseq) < 0 ? -1 : 0;
}

static void
expect_vanished(struct fx *f, uint32_t id, uint64_t since, const char *want)
{
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(mailidx_vanished(f->t, id, since, collect_uid, &b), 0);
	assert_string_equal(buf_cstr(&b), want);
	buf_fini(&b);
}

static void
expect_changed(struct fx *f, uint32_t id, uint64_t since, const char *want)
{
	struct buf b;

	buf_init(&b, 64, 4096);
	assert_int_equal(mailidx_msg_changed(f->t, id, since, collect_msg, &b),
	    0);
	assert_string_equal(buf_cstr(&b), want);
	buf_fini(&b);
}

/* A read transaction's mailidx_msg_get walks one cursor: in order,
 * skipping, backwards, missing UIDs and other mailboxes between give
 * the same answers as lookups from the root (write transactions). */
static void
test_msg_get_cursor(void **state)
{
	struct fx *f = *state;
	static const uint32_t ask[] = { 1, 2, 3, 5, 6, 4, 4, 1, 9, 2, 6, 7,
	    3, 3, 8, 1 };
	struct mailidx_msg m;
	uint32_t in, sent;
	size_t i;
	char file[32];

	begin(f, 1);
	in = mbox(f, "INBOX").id;
	sent = mbox(f, "Sent").id;
	for (i = 1; i <= 6; i++) {
		snprintf(file, sizeof(file), "new/i%zu", i);
		append(f, "INBOX", 0, 100 + i, file, "");
		snprintf(file, sizeof(file), "new/s%zu", i);
		append(f, "Sent", 0, 200 + i, file, "");
	}
	/* a hole at INBOX 4 */
	assert_int_equal(mailidx_msg_expunge(f->t, in, 4, &f->why), 0);
	commit(f);
	begin(f, 0);
	for (i = 0; i < sizeof(ask) / sizeof(ask[0]); i++) {
		uint32_t uid = ask[i];
		int want = uid >= 1 && uid <= 6 && uid != 4;

		assert_int_equal(mailidx_msg_get(f->t, in, uid, &m), want);
		if (want) {
			snprintf(file, sizeof(file), "new/i%u", uid);
			assert_int_equal(m.uid, uid);
			assert_string_equal(m.file, file);
			assert_true(m.size == 100 + uid);
		}
		/* the other mailbox between: the cursor moves away */
		if (i % 3 == 2) {
			assert_int_equal(mailidx_msg_get(f->t, sent, uid, &m),
			    uid <= 6);
			if (uid <= 6)
				assert_true(m.size == 200 + uid);
		}
	}
	mailidx_txn_abort(&f->t);
}

static void
test_expunge_changed(void **state)
{
	struct fx *f = *state;
	uint32_t id;

	begin(f, 1);
	id = mbox(f, "INBOX").id;
	append(f, "INBOX", 0, 10, "new/a", "x");	/* uid 1 modseq 2 */
	append(f, "INBOX", MAILIDX_F_DELETED, 20, "new/b", "");	/* 2: 3 */
	append(f, "INBOX", 0, 30, "new/c", "");		/* 3: 4 */
	append(f, "INBOX", MAILIDX_F_DELETED, 40, "new/d", "");	/* 4: 5 */
	/* uid 1 changes last: changed-since is still in UID order */
	assert_int_equal(mailidx_msg_store(f->t, id, 1, '+', MAILIDX_F_SEEN, 0,
	    0, NULL, NULL, &f->why), 0);	/* 1: 6 */
	expect_changed(f, id, 0, "1:6,2:3,3:4,4:5");
	expect_changed(f, id, 4, "1:6,4:5");
	expect_changed(f, id, 6, "");
	expect_vanished(f, id, 0, "");
	commit(f);
	begin(f, 1);
	assert_int_equal(mailidx_msg_expunge(f->t, id, 4, &f->why), 0);	/* 7 */
	check_counters(f->t, "INBOX");
	assert_int_equal(mailidx_msg_expunge(f->t, id, 2, &f->why), 0);	/* 8 */
	check_counters(f->t, "INBOX");
	assert_int_equal(mailidx_msg_expunge(f->t, id, 2, &f->why), -1);
	mailidx_txn_abort(&f->t);	/* a failed call: abort */
	begin(f, 1);
	assert_int_equal(mailidx_msg_expunge(f->t, id, 4, &f->why), 0);
	assert_int_equal(mailidx_msg_expunge(f->t, id, 2, &f->why), 0);
	commit(f);
	begin(f, 0);
	assert_true(mbox(f, "INBOX").highestmodseq == 8);
	assert_int_equal(mbox(f, "INBOX").messages, 2);
	assert_int_equal(mbox(f, "INBOX").deleted, 0);
	expect_vanished(f, id, 0, "2,4");
	expect_vanished(f, id, 7, "2");
	expect_vanished(f, id, 8, "");
	expect_changed(f, id, 0, "1:6,3:4");
	assert_int_equal(mailidx_msg_cache(f->t, id, 1, &(struct span){ 0 }),
	    1);
	check_counters(f->t, "INBOX");
	mailidx_txn_abort(&f->t);
}

static void
test_mbox_ops(void **state)
{
	struct fx *f = *state;
	struct mailidx_mbox w, s, j;

	begin(f, 1);
	assert_int_equal(mailidx_mbox_create(f->t, "Work", 0, &w, &f->why), 0);
	assert_int_equal(mailidx_mbox_create(f->t, "Work/Sub", 0, &s, &f->why),
	    0);
	assert_int_equal(mailidx_mbox_create(f->t, "Workshop", 0, NULL,
	    &f->why), 0);
	assert_true(s.uidvalidity > w.uidvalidity);
	assert_int_equal(w.id, 7);
	assert_int_equal(mailidx_mbox_create(f->t, "Work", 0, NULL, &f->why),
	    -1);
	mailidx_txn_abort(&f->t);
	begin(f, 1);
	assert_int_equal(mailidx_mbox_create(f->t, "Work", 0, &w, &f->why), 0);
	assert_int_equal(mailidx_mbox_create(f->t, "Work/Sub", 0, &s, &f->why),
	    0);
	assert_int_equal(mailidx_mbox_create(f->t, "Workshop", 0, NULL,
	    &f->why), 0);
	append(f, "Work", MAILIDX_F_SEEN, 5, "new/w1", "");
	assert_int_equal(mailidx_mbox_subscribe(f->t, "Work", 1, &f->why), 0);
	assert_int_equal(mailidx_mbox_subscribe(f->t, "Trash", 0, &f->why), 0);
	commit(f);

	begin(f, 1);
	expect_list(f->t, "Archive:16:1,Drafts:2:1,INBOX:0:1,Junk:8:1,"
	    "Sent:1:1,Trash:4:0,Work:0:1,Work/Sub:0:0,Workshop:0:0");
	assert_int_equal(mailidx_mbox_rename(f->t, "Work", "Job", &f->why), 0);
	j = mbox(f, "Job");
	assert_int_equal(j.id, w.id);
	assert_int_equal(j.uidvalidity, w.uidvalidity);
	assert_int_equal(j.messages, 1);
	assert_int_equal(j.uidnext, 2);
	assert_int_equal(mbox(f, "Job/Sub").uidvalidity, s.uidvalidity);
	assert_int_equal(mailidx_mbox_get(f->t, "Work", &j), 0);
	assert_int_equal(mailidx_mbox_get(f->t, "Work/Sub", &j), 0);
	expect_list(f->t, "Archive:16:1,Drafts:2:1,INBOX:0:1,Job:0:1,"
	    "Job/Sub:0:0,Junk:8:1,Sent:1:1,Trash:4:0,Workshop:0:0");
	assert_int_equal(mailidx_mbox_delete(f->t, "Job", &f->why), 0);
	assert_int_equal(mailidx_mbox_get(f->t, "Job", &j), 0);
	assert_int_equal(uids_of(f->t, w.id, 1, UINT32_MAX).n, 0);
	expect_vanished(f, w.id, 0, "");
	/* created again at once: a new id and a new UIDVALIDITY */
	assert_int_equal(mailidx_mbox_create(f->t, "Job", 0, &j, &f->why), 0);
	assert_true(j.id > w.id);
	assert_true(j.uidvalidity > mbox(f, "Job/Sub").uidvalidity);
	assert_true(j.uidvalidity > w.uidvalidity);
	assert_int_equal(j.uidnext, 1);
	commit(f);

	/* refusals: each in its own transaction (a failed call kills it) */
	{
		static const struct {
			int op;
			const char *a, *b;
		} bad[] = {
			{ 0, "INBOX", NULL }, { 0, "Nope", NULL },
			{ 1, "INBOX", "X" }, { 1, "Sent", "INBOX" },
			{ 1, "Sent", "Drafts" }, { 1, "Nope", "X" },
			{ 1, "Sent", "a//b" }, { 2, "", NULL },
			{ 2, "a/", NULL }, { 2, "/a", NULL },
			{ 2, "Sent", NULL }, { 3, "Nope", NULL },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int rc;

			begin(f, 1);
			rc = bad[i].op == 0 ? mailidx_mbox_delete(f->t,
			    bad[i].a, &f->why) : bad[i].op == 1 ?
			    mailidx_mbox_rename(f->t, bad[i].a, bad[i].b,
			    &f->why) : bad[i].op == 2 ? mailidx_mbox_create(
			    f->t, bad[i].a, 0, NULL, &f->why) :
			    mailidx_mbox_subscribe(f->t, bad[i].a, 1,
			    &f->why);
			assert_int_equal(rc, -1);
			assert_non_null(f->why);
			mailidx_txn_abort(&f->t);
		}
	}
}

static const struct {
	const char *name, *dir;
} folder_cases[] = {
	{ "INBOX", "" },
	{ "Sent", ".Sent" },
	{ "Archive/2024", ".Archive.2024" },
	{ "a.b/c%d", ".a%2Eb.c%25d" },
	{ "Entwürfe", ".Entwürfe" },
	{ "INBOX/x", ".INBOX.x" },
	{ "", NULL }, { "/a", NULL }, { "a/", NULL }, { "a//b", NULL },
};

static void
test_folder_dir(void **state)
{
	char out[64], back[64];

	for (size_t i = 0; i < sizeof(folder_cases) / sizeof(folder_cases[0]);
	    i++) {
		int rc = mailidx_folder_dir(folder_cases[i].name, out,
		    sizeof(out));

		if (folder_cases[i].dir == NULL) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(out, folder_cases[i].dir);
		if (out[0] == '\0')
			continue;
		assert_int_equal(mailidx_folder_name(out, back, sizeof(back)),
		    0);
		assert_string_equal(back, folder_cases[i].name);
	}
	/* limits: "abc" needs 5 bytes (".abc" + NUL) */
	assert_int_equal(mailidx_folder_dir("abc", out, 5), 0);
	assert_int_equal(mailidx_folder_dir("abc", out, 4), -1);
	assert_int_equal(mailidx_folder_dir("a.", out, 6), 0);
	assert_int_equal(mailidx_folder_dir("a.", out, 5), -1);
	assert_int_equal(mailidx_folder_name(".", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name("..", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name(".a..b", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name(".a.", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name(".a%41", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name("a", back, sizeof(back)), -1);
	assert_int_equal(mailidx_folder_name(".INBOX", back, sizeof(back)),
	    -1);
	assert_int_equal(mailidx_folder_name(".a%2e", back, sizeof(back)), 0);
	assert_string_equal(back, "a.");
	assert_int_equal(mailidx_folder_name(".abc", back, 3), -1);
	assert_int_equal(mailidx_folder_name(".abc", back, 4), 0);
}

static void
test_flag_map(void **state)
{
	uint64_t p = MAILDIR_FL_PASSED | maildir_flag_bit('a');

	assert_int_equal(mailidx_flags_from_maildir(MAILDIR_FL_SEEN |
	    MAILDIR_FL_REPLIED | MAILDIR_FL_TRASHED | MAILDIR_FL_DRAFT |
	    MAILDIR_FL_FLAGGED | p), MAILIDX_F_SEEN | MAILIDX_F_ANSWERED |
	    MAILIDX_F_DELETED | MAILIDX_F_DRAFT | MAILIDX_F_FLAGGED);
	assert_true(mailidx_flags_to_maildir(MAILIDX_F_SEEN, p |
	    MAILDIR_FL_TRASHED) == (p | MAILDIR_FL_SEEN));
	assert_true(mailidx_flags_to_maildir(0, 0) == 0);
}

/* ---- reconcile and rebuild ---- */

static void
deliver(struct fx *f, const char *folder, const char *body, char *file,
    size_t filesz)
{
	char dir[256];

	snprintf(dir, sizeof(dir), "%s%s%s", f->dir, folder[0] ? "/" : "",
	    folder);
	if (maildir_deliver(dir, "test.host", body, strlen(body), file, filesz,
	    &f->why) < 0)
		fail_msg("deliver: %s", f->why);
}

static int
reconcile(struct fx *f, const char *name, int force)
{
	int changed = -1;

	begin(f, 1);
	if (mailidx_reconcile(f->t, f->dir, mbox(f, name).id, force, &changed,
	    &f->why) < 0)
		fail_msg("reconcile: %s", f->why);
	check_counters(f->t, name);
	commit(f);
	return changed;
}

static void
test_reconcile(void **state)
{
	struct fx *f = *state;
	char a[300], b[300], from[600], to[600];
	struct mailidx_msg g;
	struct mailidx_mbox m;
	uint32_t id;

	assert_int_equal(reconcile(f, "INBOX", 0), 0);
	deliver(f, "", "Subject: a\r\n\r\na\r\n", a, sizeof(a));
	usleep(2000);
	deliver(f, "", "Subject: b\r\n\r\nbb\r\n", b, sizeof(b));
	/* a file another program dropped into new/ shows up */
	assert_int_equal(reconcile(f, "INBOX", 0), 1);
	assert_int_equal(reconcile(f, "INBOX", 0), 0);	/* nothing new */
	begin(f, 0);
	m = mbox(f, "INBOX");
	id = m.id;
	assert_int_equal(m.messages, 2);
	assert_int_equal(m.unseen, 2);
	assert_int_equal(m.uidnext, 3);
	assert_int_equal(mailidx_msg_get(f->t, id, 1, &g), 1);
	assert_string_equal(g.file, a);		/* name order */
	assert_true(g.size == 17);
	assert_int_equal(mailidx_msg_get(f->t, id, 2, &g), 1);
	assert_string_equal(g.file, b);
	assert_true(g.size == 18);
	mailidx_txn_abort(&f->t);

	/* flags renamed by hand (mutt reads message 2) */
	snprintf(from, sizeof(from), "%s/%s", f->dir, b);
	snprintf(to, sizeof(to), "%s/cur/%s:2,FS", f->dir, b + 4);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(reconcile(f, "INBOX", 0), 1);
	begin(f, 0);
	assert_int_equal(mailidx_msg_get(f->t, id, 2, &g), 1);
	assert_int_equal(g.flags, MAILIDX_F_SEEN | MAILIDX_F_FLAGGED);
	assert_int_equal(strncmp(g.file, "cur/", 4), 0);
	assert_true(g.modseq == mbox(f, "INBOX").highestmodseq);
	assert_int_equal(mbox(f, "INBOX").unseen, 1);
	expect_changed(f, id, 3, "2:4");
	mailidx_txn_abort(&f->t);

	/* a file removed by hand disappears and is remembered as vanished */
	snprintf(from, sizeof(from), "%s/%s", f->dir, a);
	assert_int_equal(unlink(from), 0);
	assert_int_equal(reconcile(f, "INBOX", 1), 1);
	begin(f, 0);
	assert_int_equal(mailidx_msg_get(f->t, id, 1, &g), 0);
	assert_int_equal(mbox(f, "INBOX").messages, 1);
	expect_vanished(f, id, 0, "1");
	mailidx_txn_abort(&f->t);
	/* a rename that keeps the flags changes only the file */
	snprintf(from, sizeof(from), "%s", to);
	snprintf(to, sizeof(to), "%s/cur/%s:2,FPS", f->dir, b + 4);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(reconcile(f, "INBOX", 1), 1);
	begin(f, 0);
	assert_int_equal(mailidx_msg_get(f->t, id, 2, &g), 1);
	assert_true(g.modseq == 4);
	assert_non_null(strstr(g.file, ":2,FPS"));
	mailidx_txn_abort(&f->t);

	/* another program's names: no ",S=" (size from the file), and a
	 * symlink, which is never indexed */
	{
		FILE *fp;

		snprintf(from, sizeof(from), "%s/cur/zz-foreign:2,S", f->dir);
		assert_non_null(fp = fopen(from, "w"));
		fputs("Subject: lf\n\nbody\n", fp);
		fclose(fp);
		snprintf(to, sizeof(to), "%s/new/zzz-link", f->dir);
		assert_int_equal(symlink(from, to), 0);
		snprintf(to, sizeof(to), "%s/new/.hidden", f->dir);
		assert_non_null(fp = fopen(to, "w"));
		fclose(fp);
	}
	assert_int_equal(reconcile(f, "INBOX", 1), 1);
	begin(f, 0);
	assert_int_equal(mbox(f, "INBOX").messages, 2);
	assert_int_equal(mailidx_msg_get(f->t, id, 3, &g), 1);
	assert_string_equal(g.file, "cur/zz-foreign:2,S");
	assert_true(g.size == 18);
	assert_int_equal(g.flags, MAILIDX_F_SEEN);
	assert_int_equal(mailidx_msg_get(f->t, id, 4, &g), 0);
	mailidx_txn_abort(&f->t);
}

/* Set new/ and cur/ of the root to an old mtime (one the index keeps). */
static void
age_dirs(struct fx *f)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char p[256];

	snprintf(p, sizeof(p), "%s/new", f->dir);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	snprintf(p, sizeof(p), "%s/cur", f->dir);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void
test_reconcile_mtime(void **state)
{
	struct fx *f = *state;
	char a[300];

	age_dirs(f);
	assert_int_equal(reconcile(f, "INBOX", 0), 0);
	begin(f, 0);
	assert_true(mbox(f, "INBOX").new_mtime_ns == 1000000000LL *
	    1000000000LL);
	mailidx_txn_abort(&f->t);
	/* unchanged mtimes: no look (the file is not seen yet) */
	deliver(f, "", "x\r\n", a, sizeof(a));
	age_dirs(f);
	assert_int_equal(reconcile(f, "INBOX", 0), 0);
	begin(f, 0);
	assert_int_equal(mbox(f, "INBOX").messages, 0);
	mailidx_txn_abort(&f->t);
	/* force looks anyway */
	assert_int_equal(reconcile(f, "INBOX", 1), 1);
	begin(f, 0);
	assert_int_equal(mbox(f, "INBOX").messages, 1);
	mailidx_txn_abort(&f->t);
	/* a recent mtime is not kept: the next look happens regardless */
	deliver(f, "", "y\r\n", a, sizeof(a));
	assert_int_equal(reconcile(f, "INBOX", 0), 1);
	begin(f, 0);
	assert_true(mbox(f, "INBOX").new_mtime_ns == 0);
	mailidx_txn_abort(&f->t);
}

static int
refuse_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	const char *name = arg;

	return mailidx_mbox_create(t, name, 0, NULL, why) < 0 ? -1 : 7;
}

static void
test_write_fn(void **state)
{
	struct fx *f = *state;

	/* a non-zero return aborts: nothing of it is kept */
	assert_int_equal(mailidx_write(f->idx, refuse_fn, "Kept", &f->why), 7);
	begin(f, 0);
	assert_int_equal(mailidx_mbox_get(f->t, "Kept", &(struct mailidx_mbox)
	    { 0 }), 0);
	mailidx_txn_abort(&f->t);
}

struct snap {
	char list[512];
	uint32_t uidv[16];
	uint32_t n;
};

static int
snap_fn(const struct mailidx_mbox *m, void *arg)
{
	struct snap *s = arg;
	size_t l = strlen(s->list);

	snprintf(s->list + l, sizeof(s->list) - l, "%s%s:%u:%u:%u", l ? "," :
	    "", m->name, m->messages, m->unseen, m->deleted);
	s->uidv[s->n++] = m->uidvalidity;
	return 0;
}

static void
rebuild_check(struct fx *f, int corrupt)
{
	struct snap before, after;
	char p[256], w[300];
	FILE *fp;

	begin(f, 1);
	assert_int_equal(mailidx_mbox_create(f->t, "Work/2024", 0, NULL,
	    &f->why), 0);
	commit(f);
	assert_int_equal(maildir_make(f->dir, ".Work.2024", &f->why), 0);
	deliver(f, "", "a\r\n", w, sizeof(w));
	deliver(f, ".Work.2024", "b\r\n", w, sizeof(w));
	begin(f, 1);
	{
		struct mailidx_mbox m;
		int ch;

		m = mbox(f, "Work/2024");
		assert_int_equal(mailidx_reconcile(f->t, f->dir, m.id, 1, &ch,
		    &f->why), 0);
		m = mbox(f, "INBOX");
		assert_int_equal(mailidx_reconcile(f->t, f->dir, m.id, 1, &ch,
		    &f->why), 0);
	}
	commit(f);
	/* \Seen \Deleted set by hand in the work folder */
	{
		char from[600], to[600];

		snprintf(from, sizeof(from), "%s/.Work.2024/%s", f->dir, w);
		snprintf(to, sizeof(to), "%s/.Work.2024/cur/%s:2,ST", f->dir,
		    w + 4);
		assert_int_equal(rename(from, to), 0);
	}
	assert_int_equal(reconcile(f, "Work/2024", 1), 1);
	memset(&before, 0, sizeof(before));
	begin(f, 0);
	assert_int_equal(mailidx_mbox_list(f->t, snap_fn, &before), 0);
	mailidx_txn_abort(&f->t);
	assert_string_equal(before.list, "Archive:0:0:0,Drafts:0:0:0,"
	    "INBOX:1:1:0,Junk:0:0:0,Sent:0:0:0,Trash:0:0:0,Work/2024:1:0:1");
	mailidx_close(&f->idx);

	snprintf(p, sizeof(p), "%s/index.lmdb", f->dir);
	if (corrupt) {
		assert_non_null(fp = fopen(p, "w"));
		for (int i = 0; i < 3000; i++)
			fputs("not an lmdb file ", fp);
		fclose(fp);
	} else
		assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/index.lmdb-lock", f->dir);
	unlink(p);
	assert_int_equal(mailidx_open(f->dir, MAILIDX_CREATE, &f->idx,
	    &f->why), 0);
	assert_int_equal(mailidx_rebuilt(f->idx), 1);
	memset(&after, 0, sizeof(after));
	begin(f, 0);
	assert_int_equal(mailidx_mbox_list(f->t, snap_fn, &after), 0);
	/* the same mailboxes and messages, flags from the names */
	assert_string_equal(after.list, "Archive:0:0:0,Drafts:0:0:0,"
	    "INBOX:1:1:0,Junk:0:0:0,Sent:0:0:0,Trash:0:0:0,Work/2024:1:0:1");
	for (uint32_t i = 0; i < after.n; i++)
		for (uint32_t j = 0; j < before.n; j++)
			assert_int_not_equal(after.uidv[i], before.uidv[j]);
	assert_true(mbox(f, "Work/2024").subscribed);
	assert_int_equal(mbox(f, "Sent").special_use, MAILIDX_SU_SENT);
	check_counters(f->t, "INBOX");
	check_counters(f->t, "Work/2024");
	mailidx_txn_abort(&f->t);
}

static void
test_rebuild_deleted(void **state)
{
	rebuild_check(*state, 0);
}

static void
test_rebuild_corrupt(void **state)
{
	rebuild_check(*state, 1);
}

/* ---- map growth ---- */

struct grow_arg {
	uint32_t id;
	int n;
	char cache[4096];
	int runs;
};

static int
grow_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct grow_arg *g = arg;
	int r = 0;

	g->runs++;
	for (int i = 0; i < g->n && r == 0; i++) {
		struct mailidx_msg m;

		memset(&m, 0, sizeof(m));
		m.size = 1;
		snprintf(m.file, sizeof(m.file), "new/m%d.%d", g->runs, i);
		r = mailidx_msg_append(t, g->id, &m, span_make(g->cache,
		    sizeof(g->cache)), why);
	}
	return r;
}

static void
test_map_growth(void **state)
{
	struct fx *f = *state;
	struct grow_arg g;
	size_t start;
	uint32_t total = 0;

	mailidx_close(&f->idx);
	assert_int_equal(unlink(strcat(strcpy((char[96]){ 0 }, f->dir),
	    "/index.lmdb")), 0);
	assert_int_equal(mailidx_open_map(f->dir, MAILIDX_CREATE, 256 * 1024,
	    &f->idx, &f->why), 0);
	start = mailidx_map_size(f->idx);
	assert_true(start <= 256 * 1024);
	memset(&g, 'c', sizeof(g));
	begin(f, 0);
	g.id = mbox(f, "INBOX").id;
	mailidx_txn_abort(&f->t);
	g.runs = 0;
	/* many small transactions, then one that alone passes the map */
	g.n = 1;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(mailidx_write(f->idx, grow_fn, &g, &f->why),
		    0);
		total++;
	}
	g.n = 200;
	g.runs = 1000;
	assert_int_equal(mailidx_write(f->idx, grow_fn, &g, &f->why), 0);
	total += 200;
	assert_true(g.runs > 1001);	/* retried from the start */
	assert_true(mailidx_map_size(f->idx) >= 4 * start);
	begin(f, 0);
	assert_int_equal(mbox(f, "INBOX").messages, total);
	assert_int_equal(mbox(f, "INBOX").uidnext, total + 1);
	check_counters(f->t, "INBOX");
	mailidx_txn_abort(&f->t);
	/* by hand: MAILIDX_RETRY surfaces and a new transaction works */
	{
		int rc = 0, retries = 0;

		g.n = 400;
		for (;;) {
			begin(f, 1);
			rc = grow_fn(f->t, &g, &f->why);
			if (rc == 0)
				rc = mailidx_txn_commit(&f->t, &f->why);
			else
				mailidx_txn_abort(&f->t);
			if (rc != MAILIDX_RETRY)
				break;
			retries++;
		}
		assert_int_equal(rc, 0);
		assert_true(retries >= 1);
	}
}

/* ---- two handles (two processes: LMDB allows one env per process) ---- */

static void
test_two_handles(void **state)
{
	struct fx *f = *state;
	struct mailidx_txn *old;
	int status;
	pid_t pid;

	begin(f, 1);
	append(f, "INBOX", 0, 10, "new/one", "");
	commit(f);
	/* a snapshot taken before the other process writes */
	assert_int_equal(mailidx_txn_begin(f->idx, 0, &old, &f->why), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mailidx *b;
		struct mailidx_txn *t;
		struct mailidx_mbox m;
		struct mailidx_msg g;
		int ok;

		/* the child never touches the parent's handle */
		if (mailidx_open(f->dir, 0, &b, NULL) < 0 ||
		    mailidx_txn_begin(b, 1, &t, NULL) < 0 ||
		    mailidx_mbox_get(t, "INBOX", &m) != 1)
			_exit(2);
		ok = m.messages == 1;	/* sees the parent's commit */
		memset(&g, 0, sizeof(g));
		strcpy(g.file, "new/two");
		g.size = 20;
		if (mailidx_msg_append(t, m.id, &g, span_cstr(""), NULL) < 0 ||
		    mailidx_txn_commit(&t, NULL) < 0)
			_exit(3);
		mailidx_close(&b);
		_exit(ok ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	{
		struct mailidx_mbox m;

		assert_int_equal(mailidx_mbox_get(old, "INBOX", &m), 1);
		assert_int_equal(m.messages, 1);	/* still the snapshot */
	}
	mailidx_txn_abort(&old);
	begin(f, 0);	/* the next transaction sees the child's commit */
	assert_int_equal(mbox(f, "INBOX").messages, 2);
	assert_true(mbox(f, "INBOX").size == 30);
	check_counters(f->t, "INBOX");
	mailidx_txn_abort(&f->t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_recent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msg_get_cursor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunge_changed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_mbox_ops, setup, teardown),
		cmocka_unit_test(test_folder_dir),
		cmocka_unit_test(test_flag_map),
		cmocka_unit_test_setup_teardown(test_reconcile, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reconcile_mtime, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_fn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_deleted, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_corrupt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_map_growth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
