/* SELECTED: SELECT EXAMINE CLOSE UNSELECT CHECK EXPUNGE FETCH STORE IDLE, and telling other sessions' changes. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_fetchatt.h"
#include "imapd/imap_seq.h"
#include "imapd/imapd.h"

#define SEQ_RANGES_MAX 1024	/* comma items in a sequence set */
#define FETCH_ITEMS_MAX 64

/* ---- the MSN -> UID map ---- */

static void
sel_push(struct imap_sel *sel, uint32_t uid)
{
	if (sel->n == sel->cap) {
		sel->cap = sel->cap ? sel->cap * 2 : 64;
		sel->uids = xreallocarray(sel->uids, sel->cap,
		    sizeof(*sel->uids));
	}
	sel->uids[sel->n++] = uid;
}

/* the MSN of uid, 0 if it is not in the map */
uint32_t
imap_sel_msn(const struct imap_sel *sel, uint32_t uid)
{
	uint32_t lo = 0, hi = sel->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sel->uids[mid] == uid)
			return mid + 1;
		if (sel->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* the number of UIDs in the map below uid */
static uint32_t
sel_below(const struct imap_sel *sel, uint32_t uid)
{
	uint32_t lo = 0, hi = sel->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (sel->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- \Recent (RFC 3501 2.3.2): IMAP4rev1 only ---- */

/* UIDs [lo, hi) are recent here; claims only grow, so ranges come in
 * ascending order. */
static void
sel_recent_add(struct imap_sel *sel, uint32_t lo, uint32_t hi)
{
	if (lo >= hi)
		return;
	if (sel->n_recent > 0 && sel->recent[sel->n_recent - 1][1] >= lo) {
		if (sel->recent[sel->n_recent - 1][1] < hi)
			sel->recent[sel->n_recent - 1][1] = hi;
		return;
	}
	sel->recent = xreallocarray(sel->recent, sel->n_recent + 1,
	    sizeof(*sel->recent));
	sel->recent[sel->n_recent][0] = lo;
	sel->recent[sel->n_recent][1] = hi;
	sel->n_recent++;
}

int
imap_sel_recent(const struct imap_sess *s, uint32_t uid)
{
	const struct imap_sel *sel = s->sel;
	size_t i;

	if (sel == NULL || imap_rev2(s))
		return 0;
	for (i = 0; i < sel->n_recent; i++)
		if (uid >= sel->recent[i][0] && uid < sel->recent[i][1])
			return 1;
	return 0;
}

uint32_t
imap_sel_recent_count(const struct imap_sess *s)
{
	const struct imap_sel *sel = s->sel;
	uint32_t n = 0;
	size_t i;

	if (sel == NULL || imap_rev2(s))
		return 0;
	for (i = 0; i < sel->n_recent; i++)
		n += sel_below(sel, sel->recent[i][1]) -
		    sel_below(sel, sel->recent[i][0]);
	return n;
}

struct claim_ctx {
	uint32_t mbox_id, lo, hi;
};

static int
claim_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct claim_ctx *c = arg;

	return mailidx_mbox_claim_recent(t, c->mbox_id, &c->lo, &c->hi, why);
}

static void
sel_remove(struct imap_sel *sel, uint32_t msn)
{
	memmove(&sel->uids[msn - 1], &sel->uids[msn],
	    (sel->n - msn) * sizeof(*sel->uids));
	sel->n--;
}

int
imap_sel_dir(const struct imap_sess *s, const char *name, char *out,
    size_t outsz)
{
	char dir[MAILIDX_NAME_MAX * 3 + 8];

	if (mailidx_folder_dir(name, dir, sizeof(dir)) < 0)
		return -1;
	snprintf(out, outsz, "%s%s%s", s->u->root, dir[0] ? "/" : "", dir);
	return 0;
}

void
imap_sel_free(struct imap_sess *s)
{
	struct imap_sel *sel = s->sel;

	if (sel == NULL)
		return;
	imap_watch_put(s->d, &sel->w_new);
	imap_watch_put(s->d, &sel->w_cur);
	free(sel->saved);
	free(sel->recent);
	free(sel->uids);
	free(sel);
	s->sel = NULL;
	if (s->state == IMAP_S_SELECTED)
		imap_set_state(s, IMAP_S_AUTH);
}

/* ---- flags ---- */

void
imap_flags_add(struct imap_sess *s, struct mailidx_txn *t, struct buf *b,
    uint32_t uid, uint32_t flags, uint64_t keywords)
{
	static const struct {
		uint32_t bit;
		const char *name;	/* with the space before it */
	} sys[] = {
		{ MAILIDX_F_ANSWERED, " \\Answered" },
		{ MAILIDX_F_FLAGGED, " \\Flagged" },
		{ MAILIDX_F_DELETED, " \\Deleted" },
		{ MAILIDX_F_SEEN, " \\Seen" },
		{ MAILIDX_F_DRAFT, " \\Draft" },
	};
	char kw[256];
	size_t i;
	int first = 1;

	(void)!buf_addstr(b, "FLAGS (");
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (flags & sys[i].bit) {
			(void)!buf_addstr(b, first ? sys[i].name + 1 :
			    sys[i].name);
			first = 0;
		}
	for (i = 0; keywords != 0 && i < MAILIDX_KEYWORDS; i++)
		if ((keywords >> i) & 1 &&
		    mailidx_keyword_name(t, (unsigned)i, kw, sizeof(kw)) == 1) {
			if (!first)
				(void)!buf_addstr(b, " ");
			(void)!buf_addstr(b, kw);
			first = 0;
		}
	if (imap_sel_recent(s, uid))
		(void)!buf_addstr(b, first ? "\\Recent" : " \\Recent");
	(void)!buf_addstr(b, ")");
}

/* A UID list, ascending, as a sequence set "1:3,7" */
void
imap_uidset_add(struct buf *b, const uint32_t *v, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i = j + 1) {
		for (j = i; j + 1 < n && v[j + 1] == v[j] + 1; j++)
			;
		(void)!buf_addf(b, "%s%u", i ? "," : "", v[i]);
		if (j > i)
			(void)!buf_addf(b, ":%u", v[j]);
	}
}

/* QRESYNC (RFC 7162 3.2.10): "* VANISHED uids" instead of EXPUNGEs */
static void
vanished_add(struct buf *b, const struct buf *uids, int earlier)
{
	if (uids->len == 0)
		return;
	(void)!buf_addstr(b, earlier ? "* VANISHED (EARLIER) " :
	    "* VANISHED ");
	imap_uidset_add(b, (const uint32_t *)(const void *)uids->data,
	    uids->len / sizeof(uint32_t));
	(void)!buf_addstr(b, "\r\n");
}

/* ---- telling changes (RFC 9051 7) ---- */

struct upd_ctx {
	struct imap_sess *s;
	struct mailidx_txn *t;
	uint32_t old_uidnext;
	int allow_expunge;
	struct buf out;
	struct buf gone;	/* QRESYNC: UIDs for VANISHED */
};

static int
upd_new_fn(const struct mailidx_msg *m, void *arg)
{
	struct upd_ctx *c = arg;

	sel_push(c->s->sel, m->uid);
	return 0;
}

static int
upd_changed_fn(const struct mailidx_msg *m, void *arg)
{
	struct upd_ctx *c = arg;
	uint32_t msn;

	if (m->uid >= c->old_uidnext ||
	    (msn = imap_sel_msn(c->s->sel, m->uid)) == 0)
		return 0;
	(void)!buf_addf(&c->out, "* %u FETCH (", msn);
	imap_flags_add(c->s, c->t, &c->out, m->uid, m->flags, m->keywords);
	/* RFC 7162 3.2.4: with QRESYNC every unsolicited FETCH has UID;
	 * RFC 9051 7.5.2 (Appendix E 21): in IMAP4rev2 too */
	if (c->s->enabled & (IMAP_EN_QRESYNC | IMAP_EN_REV2))
		(void)!buf_addf(&c->out, " UID %u", m->uid);
	if (c->s->enabled & IMAP_EN_CONDSTORE)
		(void)!buf_addf(&c->out, " MODSEQ (%llu)",
		    (unsigned long long)m->modseq);
	(void)!buf_addstr(&c->out, ")\r\n");
	return 0;
}

static int
upd_vanished_fn(uint32_t uid, void *arg)
{
	struct upd_ctx *c = arg;
	uint32_t msn = imap_sel_msn(c->s->sel, uid);

	if (msn == 0)
		return 0;
	sel_remove(c->s->sel, msn);
	if (c->s->enabled & IMAP_EN_QRESYNC)
		(void)!buf_add(&c->gone, &uid, sizeof(uid));
	else
		(void)!buf_addf(&c->out, "* %u EXPUNGE\r\n", msn);
	return 0;
}

struct rec_ctx {
	const char *path;
	uint32_t mbox_id;
};

static int
reconcile_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct rec_ctx *c = arg;
	int changed = 0;

	return mailidx_reconcile(t, c->path, c->mbox_id, 0, &changed, why);
}

void
imap_sel_update(struct imap_sess *s, int allow_expunge)
{
	struct imap_sel *sel = s->sel;
	struct upd_ctx c = { s, NULL, 0, allow_expunge, { 0 }, { 0 } };
	struct mailidx_mbox mb;
	struct rec_ctx rc;
	const char *why = NULL;
	char recent[32] = "";
	size_t exists_end;
	uint32_t n0;

	if (sel == NULL)
		return;
	if (sel->changed) {
		/* files other programs dropped in or removed; cleared
		 * first: an event while the write waits sets it again */
		sel->changed = 0;
		rc.path = s->u->root;
		rc.mbox_id = sel->mbox_id;
		if (imap_idx_write(s, reconcile_fn, &rc, &why) != 0)
			log_warn("conn=%s event=reconcile-failed reason=\"%s\"",
			    s->id, why ? why : "?");
		if (s->sel != sel)
			return;	/* closed meanwhile */
	}
	if (mailidx_txn_begin(s->u->idx, 0, &c.t, &why) != 0)
		return;
	if (mailidx_mbox_get_id(c.t, sel->mbox_id, &mb) != 1) {
		/* deleted by another session: RFC 9051 7.1 */
		mailidx_txn_abort(&c.t);
		imap_printf(s, "* BYE [NONEXISTENT] The selected mailbox was "
		    "deleted\r\n");
		imap_close(s, "mailbox deleted");
		return;
	}
	if (mb.highestmodseq == sel->modseq && mb.uidnext == sel->uidnext &&
	    (!allow_expunge || sel->exp_modseq == mb.highestmodseq)) {
		mailidx_txn_abort(&c.t);
		return;
	}
	buf_init(&c.out, 1024, (size_t)64 << 20);
	buf_init(&c.gone, 256, (size_t)64 << 20);
	if (allow_expunge)
		(void)mailidx_vanished(c.t, sel->mbox_id, sel->exp_modseq,
		    upd_vanished_fn, &c);
	vanished_add(&c.out, &c.gone, 0);
	buf_fini(&c.gone);
	c.old_uidnext = sel->uidnext;
	n0 = sel->n;
	if (mb.uidnext > sel->uidnext)
		(void)mailidx_msg_range(c.t, sel->mbox_id, sel->uidnext,
		    UINT32_MAX, upd_new_fn, &c);
	if (sel->n != n0)
		(void)!buf_addf(&c.out, "* %u EXISTS\r\n", sel->n);
	exists_end = c.out.len;
	(void)mailidx_msg_changed(c.t, sel->mbox_id, sel->modseq,
	    upd_changed_fn, &c);
	mailidx_txn_abort(&c.t);
	/* RFC 3501 2.3.2: new messages are \Recent in the first session
	 * told of them; EXAMINE looks without taking them (7.3.2: RECENT
	 * follows EXISTS) */
	if (!imap_rev2(s) && mb.uidnext > sel->uidnext) {
		struct claim_ctx cl = { sel->mbox_id, 0, 0 };

		if (sel->readonly)
			sel_recent_add(sel, mb.recent_uid > sel->uidnext ?
			    mb.recent_uid : sel->uidnext, mb.uidnext);
		else if (mb.recent_uid < mb.uidnext &&	/* not all taken */
		    imap_idx_write(s, claim_fn, &cl, &why) == 0)
			sel_recent_add(sel, cl.lo, cl.hi);
		if (sel->n != n0)
			snprintf(recent, sizeof(recent), "* %u RECENT\r\n",
			    imap_sel_recent_count(s));
	}
	sel->uidnext = mb.uidnext;
	sel->modseq = mb.highestmodseq;
	/* an expunge not yet told keeps its cursor where it is */
	if (allow_expunge)
		sel->exp_modseq = mb.highestmodseq;
	if (recent[0] != '\0') {
		imap_send(s, c.out.data, exists_end);
		imap_send(s, recent, strlen(recent));
		buf_consume(&c.out, exists_end);
	}
	imap_send(s, c.out.data, c.out.len);
	buf_fini(&c.out);
}

void
imap_notify(struct imapd *d, int wd)
{
	struct imap_sess *s;

	for (s = d->sessions; s != NULL; s = s->next) {
		struct imap_sel *sel = s->sel;

		if (sel == NULL || (wd >= 0 && (sel->w_new == NULL ||
		    sel->w_new->wd != wd) && (sel->w_cur == NULL ||
		    sel->w_cur->wd != wd)))
			continue;
		sel->changed = 1;
		/* RFC 2177: IDLE tells changes as they happen */
		imap_sess_idle_update(s);
	}
}

/* ---- SELECT / EXAMINE (RFC 9051 6.3.2) ---- */

struct sel_ctx {
	struct imap_sel *sel;
	const char *root;
	struct mailidx_mbox mb;
	uint32_t unseen_msn;	/* first unseen, rev1's [UNSEEN n] */
	uint64_t keywords;
	int claim;		/* rev1 SELECT: take the \Recent ones */
	uint32_t recent_lo, recent_hi;	/* and these are they */
};

static int
sel_msg_fn(const struct mailidx_msg *m, void *arg)
{
	struct sel_ctx *c = arg;

	sel_push(c->sel, m->uid);
	if (c->unseen_msn == 0 && !(m->flags & MAILIDX_F_SEEN))
		c->unseen_msn = c->sel->n;
	c->keywords |= m->keywords;
	return 0;
}

static int
select_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct sel_ctx *c = arg;
	int rc, changed = 0;

	if ((rc = mailidx_mbox_get(t, c->sel->name, &c->mb)) != 1)
		return rc == 0 ? 1 : -1;
	if (mailidx_reconcile(t, c->root, c->mb.id, 0, &changed, why) != 0)
		return -1;
	if (mailidx_mbox_get(t, c->sel->name, &c->mb) != 1)
		return -1;
	/* RFC 3501 2.3.2: SELECT takes what no session was told of yet;
	 * EXAMINE sees them recent but leaves them (6.3.2: no change of
	 * state) */
	c->recent_lo = c->mb.recent_uid > 0 ? c->mb.recent_uid : 1;
	c->recent_hi = c->mb.uidnext;
	if (c->claim)
		return mailidx_mbox_claim_recent(t, c->mb.id, &c->recent_lo,
		    &c->recent_hi, why);
	return 0;
}

/* SELECT's QRESYNC parameter (RFC 7162 3.2.5). */
struct qresync {
	int on;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seq known;		/* known UIDs, or none (n 0) */
	struct imap_seq_range r[256];
	int have_known;
};

static int
num_atom(const struct imap_arg *a, uint64_t max, uint64_t *out)
{
	char tmp[24], *end;

	if (a == NULL || a->type != IMAP_ARG_ATOM || a->s.n == 0 ||
	    a->s.n > 20 || a->s.p[0] < '0' || a->s.p[0] > '9')
		return -1;
	/* the reader's spans are not NUL-terminated */
	memcpy(tmp, a->s.p, a->s.n);
	tmp[a->s.n] = '\0';
	errno = 0;
	*out = strtoull(tmp, &end, 10);
	return *end == '\0' && errno == 0 && *out <= max ? 0 : -1;
}

static int
select_params(struct imap_sess *s, const struct imap_arg *par,
    struct qresync *q)
{
	struct imap_args items = imap_arg_items(par), qi;
	const struct imap_arg *a = imap_args_at(items, 0), *v;
	const char *why;
	uint64_t n;

	if (par->type != IMAP_ARG_LIST || a == NULL)
		return -1;
	if (imap_arg_atom_is(a, "CONDSTORE") && par->n_items == 1) {
		/* RFC 7162 3.1.8: SELECT (CONDSTORE) enables CONDSTORE */
		s->enabled |= IMAP_EN_CONDSTORE;
		return 0;
	}
	if (!imap_arg_atom_is(a, "QRESYNC") ||
	    !(s->enabled & IMAP_EN_QRESYNC) ||
	    (v = imap_args_next(items, a)) == NULL ||
	    v->type != IMAP_ARG_LIST || imap_args_next(items, v) != NULL)
		return -1;
	qi = imap_arg_items(v);
	a = imap_args_at(qi, 0);
	if (num_atom(a, UINT32_MAX, &n) != 0 || n == 0)
		return -1;
	q->uidvalidity = (uint32_t)n;
	a = imap_args_next(qi, a);
	if (num_atom(a, UINT64_MAX, &q->modseq) != 0 || q->modseq == 0)
		return -1;
	imap_seq_init(&q->known, q->r, sizeof(q->r) / sizeof(q->r[0]));
	if ((a = imap_args_next(qi, a)) != NULL && a->type == IMAP_ARG_ATOM) {
		if (imap_seq_parse(&q->known, a->s, UINT32_MAX, 0, &why) != 0)
			return -1;
		q->have_known = 1;
		a = imap_args_next(qi, a);
	}
	/* the sequence match data is optional to use (3.2.5.2) */
	if (a != NULL && (a->type != IMAP_ARG_LIST ||
	    imap_args_next(qi, a) != NULL))
		return -1;
	q->on = 1;
	return 0;
}

struct qr_ctx {
	struct imap_sess *s;
	struct qresync *q;
	struct mailidx_txn *t;
	struct buf gone, *out;
};

static int
qr_vanished_fn(uint32_t uid, void *arg)
{
	struct qr_ctx *c = arg;

	if (!c->q->have_known || imap_seq_contains(&c->q->known, uid))
		(void)!buf_add(&c->gone, &uid, sizeof(uid));
	return 0;
}

static int
qr_changed_fn(const struct mailidx_msg *m, void *arg)
{
	struct qr_ctx *c = arg;
	uint32_t msn = imap_sel_msn(c->s->sel, m->uid);

	if (msn == 0 || (c->q->have_known &&
	    !imap_seq_contains(&c->q->known, m->uid)))
		return 0;
	(void)!buf_addf(c->out, "* %u FETCH (UID %u ", msn, m->uid);
	imap_flags_add(c->s, c->t, c->out, m->uid, m->flags, m->keywords);
	(void)!buf_addf(c->out, " MODSEQ (%llu))\r\n",
	    (unsigned long long)m->modseq);
	return 0;
}

/* RFC 7162 3.2.5.1: what changed since the client's MODSEQ */
static void
qresync_tell(struct imap_sess *s, struct qresync *q, struct buf *out)
{
	struct qr_ctx c = { s, q, NULL, { 0 }, out };
	const char *why = NULL;

	if (mailidx_txn_begin(s->u->idx, 0, &c.t, &why) != 0)
		return;
	buf_init(&c.gone, 256, (size_t)64 << 20);
	(void)mailidx_vanished(c.t, s->sel->mbox_id, q->modseq,
	    qr_vanished_fn, &c);
	vanished_add(out, &c.gone, 1);
	(void)mailidx_msg_changed(c.t, s->sel->mbox_id, q->modseq,
	    qr_changed_fn, &c);
	mailidx_txn_abort(&c.t);
	buf_fini(&c.gone);
}

static void
select_common(struct imap_sess *s, struct imap_args args, int ro)
{
	const char *verb = ro ? "EXAMINE" : "SELECT";
	char path[PATH_MAX], sub[PATH_MAX + 8], kw[256];
	struct sel_ctx c;
	struct mailidx_txn *t;
	const char *why = NULL;
	struct buf b;
	unsigned i;
	int rc;

	const struct imap_arg *par = imap_args_at(args, 1);
	struct qresync q;
	int was_selected = s->sel != NULL;

	memset(&q, 0, sizeof(q));
	if (imap_args_count(args) > 2 || imap_args_count(args) < 1 ||
	    (par != NULL && select_params(s, par, &q) != 0)) {
		imap_bad(s, "%s takes a mailbox name and optionally "
		    "(CONDSTORE) or (QRESYNC (uidvalidity modseq [uids])), "
		    "QRESYNC once enabled", verb);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.sel = xcalloc(1, sizeof(*c.sel));
	if (imap_mbox_name(s, imap_args_at(args, 0), c.sel->name,
	    sizeof(c.sel->name)) != 0) {
		free(c.sel);
		return;
	}
	/* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected;
	 * RFC 7162 3.2.11: [CLOSED] tells where the old one's responses
	 * end */
	imap_sel_free(s);
	if (was_selected)
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	if (imap_sel_dir(s, c.sel->name, path, sizeof(path)) != 0) {
		free(c.sel);
		imap_no(s, "[NONEXISTENT] No such mailbox");
		return;
	}
	c.root = s->u->root;
	c.claim = !ro && !imap_rev2(s);
	rc = imap_idx_write(s, select_fn, &c, &why);
	if (rc == 0 && mailidx_txn_begin(s->u->idx, 0, &t, &why) == 0) {
		rc = mailidx_msg_range(t, c.mb.id, 1, UINT32_MAX, sel_msg_fn,
		    &c) < 0 ? -1 : 0;
		buf_init(&b, 256, 64 * 1024);
		(void)!buf_addstr(&b, "* FLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft");
		for (i = 0; i < MAILIDX_KEYWORDS; i++)
			if (mailidx_keyword_name(t, i, kw, sizeof(kw)) == 1)
				(void)!buf_addf(&b, " %s", kw);
		mailidx_txn_abort(&t);
	} else {
		buf_init(&b, 256, 64 * 1024);
		rc = rc == 0 ? -1 : rc;
	}
	if (rc != 0) {
		buf_fini(&b);
		free(c.sel->uids);
		free(c.sel);
		if (rc == 1)
			imap_no(s, "[NONEXISTENT] No such mailbox");
		else
			imap_no(s, "[SERVERBUG] Cannot read the mailbox");
		return;
	}
	c.sel->mbox_id = c.mb.id;
	c.sel->readonly = ro;
	c.sel->uidvalidity = c.mb.uidvalidity;
	c.sel->uidnext = c.mb.uidnext;
	c.sel->modseq = c.mb.highestmodseq;
	c.sel->exp_modseq = c.mb.highestmodseq;
	s->sel = c.sel;
	sel_recent_add(s->sel, c.recent_lo, c.recent_hi);
	snprintf(sub, sizeof(sub), "%s/new", path);
	s->sel->w_new = imap_watch_add(s->d, sub);
	snprintf(sub, sizeof(sub), "%s/cur", path);
	s->sel->w_cur = imap_watch_add(s->d, sub);
	imap_set_state(s, IMAP_S_SELECTED);
	(void)!buf_addstr(&b, ")\r\n");
	/* RFC 9051 Appendix E 11 and 12: IMAP4rev2 has no RECENT
	 * response, and [UNSEEN n] is deprecated (SEARCH RETURN (MIN)
	 * UNSEEN tells the same) */
	(void)!buf_addf(&b, "* %u EXISTS\r\n", s->sel->n);
	if (!imap_rev2(s))
		(void)!buf_addf(&b, "* %u RECENT\r\n",
		    imap_sel_recent_count(s));
	if (c.unseen_msn != 0 && !imap_rev2(s))
		(void)!buf_addf(&b, "* OK [UNSEEN %u] First unseen\r\n",
		    c.unseen_msn);
	(void)!buf_addf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n"
	    "* OK [UIDNEXT %u] Predicted next UID\r\n",
	    c.mb.uidvalidity, c.mb.uidnext);
	/* RFC 8474 4.2: stable across RENAME, new with a new mailbox */
	(void)!buf_addf(&b, "* OK [MAILBOXID (F%08x%08x)] Ok\r\n",
	    c.mb.uidvalidity, c.mb.id);
	if (s->enabled & IMAP_EN_CONDSTORE)
		(void)!buf_addf(&b, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		    (unsigned long long)c.mb.highestmodseq);
	(void)!buf_addstr(&b, ro ? "* OK [PERMANENTFLAGS ()] Read-only "
	    "mailbox\r\n" : "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
	    "\\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n");
	if (q.on && q.uidvalidity == c.mb.uidvalidity)
		qresync_tell(s, &q, &b);
	imap_send(s, b.data, b.len);
	buf_fini(&b);
	/* RFC 9051 6.3.2: a LIST response with the mailbox's attributes */
	if (imap_rev2(s))
		imap_mbox_list_one(s, s->sel->name);
	imap_ok(s, "[%s] %s completed", ro ? "READ-ONLY" : "READ-WRITE",
	    verb);
}

void
imap_cmd_select(struct imap_sess *s, struct imap_args args, int uid)
{
	select_common(s, args, 0);
}

void
imap_cmd_examine(struct imap_sess *s, struct imap_args args, int uid)
{
	select_common(s, args, 1);
}

/* ---- EXPUNGE, CLOSE, UNSELECT, CHECK ---- */

struct exp_ctx {
	struct imap_sess *s;
	const struct imap_seq *uids;	/* UID EXPUNGE's set, or NULL */
	struct buf files;		/* "uid\0file\0" of the expunged */
	uint32_t *gone;
	size_t n_gone;
};

static int
exp_collect_fn(const struct mailidx_msg *m, void *arg)
{
	struct exp_ctx *c = arg;

	if (!(m->flags & MAILIDX_F_DELETED) ||
	    (c->uids != NULL && !imap_seq_contains(c->uids, m->uid)))
		return 0;
	if (buf_add(&c->files, &m->uid, sizeof(m->uid)) != 0 ||
	    buf_add(&c->files, m->file, strlen(m->file) + 1) != 0)
		return -1;
	return 0;
}

static int
exp_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct exp_ctx *c = arg;
	size_t off;
	uint32_t uid;
	int rc;

	buf_reset(&c->files);
	if (mailidx_msg_range(t, c->s->sel->mbox_id, 1, UINT32_MAX,
	    exp_collect_fn, c) < 0)
		return -1;
	for (off = 0; off < c->files.len;
	    off += sizeof(uid) + strlen((char *)c->files.data + off +
	    sizeof(uid)) + 1) {
		memcpy(&uid, c->files.data + off, sizeof(uid));
		if ((rc = mailidx_msg_expunge(t, c->s->sel->mbox_id, uid,
		    why)) != 0)
			return rc;
	}
	return 0;
}

/* Expunge the \Deleted messages (of uids if not NULL); tell them with
 * EXPUNGE responses unless silent (CLOSE).  0 or -1. */
static int
expunge(struct imap_sess *s, const struct imap_seq *uids, int silent)
{
	struct exp_ctx c = { s, uids, { 0 }, NULL, 0 };
	char root[PATH_MAX], p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	const char *why = NULL;
	struct buf out, gone;
	size_t off;
	uint32_t uid, msn;
	int rc;

	if (imap_sel_dir(s, s->sel->name, root, sizeof(root)) != 0)
		return -1;
	buf_init(&c.files, 1024, (size_t)64 << 20);
	rc = imap_idx_write(s, exp_fn, &c, &why);
	if (rc != 0) {
		buf_fini(&c.files);
		return -1;
	}
	buf_init(&out, 1024, (size_t)64 << 20);
	buf_init(&gone, 256, (size_t)64 << 20);
	/* the index no longer has them: the files go */
	for (off = 0; off < c.files.len; off += sizeof(uid) +
	    strlen((char *)c.files.data + off + sizeof(uid)) + 1) {
		const char *file = (char *)c.files.data + off + sizeof(uid);

		memcpy(&uid, c.files.data + off, sizeof(uid));
		snprintf(p, sizeof(p), "%s/%s", root, file);
		if (unlink(p) != 0 && errno != ENOENT)
			log_warn_errno("event=unlink-failed file=%s", p);
		if (!silent && (msn = imap_sel_msn(s->sel, uid)) != 0) {
			sel_remove(s->sel, msn);
			if (s->enabled & IMAP_EN_QRESYNC)
				(void)!buf_add(&gone, &uid, sizeof(uid));
			else
				(void)!buf_addf(&out, "* %u EXPUNGE\r\n",
				    msn);
		}
	}
	vanished_add(&out, &gone, 0);
	buf_fini(&gone);
	imap_send(s, out.data, out.len);
	buf_fini(&out);
	buf_fini(&c.files);
	return 0;
}

void
imap_cmd_expunge(struct imap_sess *s, struct imap_args args, int uid)
{
	struct imap_seq_range r[SEQ_RANGES_MAX];
	struct imap_seq set;
	const char *why = NULL;
	struct span text;

	imap_seq_init(&set, r, SEQ_RANGES_MAX);
	if (uid ? imap_args_count(args) != 1 ||
	    imap_args_at(args, 0)->type != IMAP_ARG_ATOM :
	    imap_args_count(args) != 0) {
		imap_bad(s, uid ? "UID EXPUNGE takes a UID set" :
		    "EXPUNGE takes no arguments");
		return;
	}
	if (uid) {
		text = imap_args_at(args, 0)->s;
		if (imap_sel_seq(s, &set, text, 1, &why) != 0) {
			imap_bad(s, "Bad UID set: %s", why);
			return;
		}
	}
	if (s->sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox was opened with EXAMINE");
		return;
	}
	if (expunge(s, uid ? &set : NULL, 0) != 0) {
		imap_no(s, "[SERVERBUG] Cannot expunge");
		return;
	}
	/* others' expunges and our own, all told now */
	imap_sel_update(s, 1);
	imap_ok(s, "%sEXPUNGE completed", uid ? "UID " : "");
}

void
imap_cmd_close(struct imap_sess *s, struct imap_args args, int uid)
{
	if (imap_args_count(args) != 0) {
		imap_bad(s, "CLOSE takes no arguments");
		return;
	}
	/* RFC 9051 6.4.1: expunge silently, unless read-only */
	if (!s->sel->readonly && expunge(s, NULL, 1) != 0)
		log_warn("conn=%s event=close-expunge-failed", s->id);
	imap_sel_free(s);
	imap_ok(s, "CLOSE completed");
}

void
imap_cmd_unselect(struct imap_sess *s, struct imap_args args, int uid)
{
	if (imap_args_count(args) != 0) {
		imap_bad(s, "UNSELECT takes no arguments");
		return;
	}
	imap_sel_free(s);
	imap_ok(s, "UNSELECT completed");
}

void
imap_cmd_check(struct imap_sess *s, struct imap_args args, int uid)
{
	if (imap_args_count(args) != 0) {
		imap_bad(s, "CHECK takes no arguments");
		return;
	}
	/* every change is committed when it is made */
	imap_ok(s, "CHECK completed");
}

/* ---- IDLE (RFC 2177) ---- */

void
imap_cmd_idle(struct imap_sess *s, struct imap_args args, int uid)
{
	if (imap_args_count(args) != 0) {
		imap_bad(s, "IDLE takes no arguments");
		return;
	}
	imap_printf(s, "+ idling\r\n");
	imap_wait_begin(s, IMAP_W_IDLE, 0);
}

void
imap_idle_line(struct imap_sess *s, struct span line)
{
	if (!span_eq_ci(line, "DONE")) {
		imap_bad(s, "Expected DONE to end IDLE");
		imap_wait_end(s);
		return;
	}
	if (s->state == IMAP_S_SELECTED)
		imap_sel_update(s, 1);
	imap_ok(s, "IDLE terminated");
	imap_wait_end(s);
}

/* ---- STORE (RFC 9051 6.4.6) ---- */

struct store_ctx {
	struct imap_sess *s;
	const struct imap_seq *set;
	int uid;
	char op;
	uint32_t flags;
	uint64_t keywords;
	struct span kwnames[MAILIDX_KEYWORDS];
	size_t n_kw;
	struct buf recs;	/* store_rec, file NUL */
	uint64_t before;	/* highestmodseq before our changes */
	uint64_t unchangedsince;	/* RFC 7162 3.1.3, 0: none */
	int unch_zero;		/* UNCHANGEDSINCE 0: every message fails */
	struct buf modified;	/* u32 MSNs or UIDs that failed it */
	char root[PATH_MAX];	/* the mailbox's directory */
	struct buf renamed;	/* old NUL new NUL: undone if not committed */
};

struct store_rec {
	uint32_t uid, msn, flags;
	uint64_t keywords, modseq;
};

/* Put back the names of a transaction that was not committed. */
static void
store_undo(struct store_ctx *c)
{
	char from[PATH_MAX + MAILIDX_FILE_MAX + 2];
	char to[PATH_MAX + MAILIDX_FILE_MAX + 2];
	size_t off = 0;

	while (off < c->renamed.len) {
		const char *old = (const char *)c->renamed.data + off;
		const char *now = old + strlen(old) + 1;

		off += strlen(old) + strlen(now) + 2;
		snprintf(from, sizeof(from), "%s/%s", c->root, now);
		snprintf(to, sizeof(to), "%s/%s", c->root, old);
		if (rename(from, to) < 0)
			log_warn("event=store-undo-failed file=%s reason=\"%s\"",
			    now, strerror(errno));
	}
	buf_reset(&c->renamed);
}

/* The file's ":2," letters follow the flags (docs/store.md), so other
 * Maildir readers agree.  Renamed in the transaction that stores the
 * flags, and the new name recorded there: one commit.  A crash before
 * the commit leaves a name reconcile matches by its base and takes the
 * letters of (common/mailidx_reconcile.c); a failed commit is undone. */
static int
store_file(struct store_ctx *c, struct mailidx_txn *t,
    const struct mailidx_msg *m, const char **why)
{
	char file[MAILIDX_FILE_MAX + 1];
	const char *info = strstr(m->file, ":2,"), *err = NULL;
	uint64_t letters = 0, want;
	int rc;

	if (info != NULL && maildir_flags_parse(span_cstr(info + 3),
	    &letters) != 0)
		letters = 0;
	want = mailidx_flags_to_maildir(m->flags, letters);
	if (info != NULL && want == letters && strncmp(m->file, "cur/", 4) == 0)
		return 0;
	if ((rc = maildir_set_flags(c->root, m->file, want, file,
	    sizeof(file), &err)) != 0) {
		if (rc < 0)	/* the flags stand; the name follows later */
			log_warn("conn=%s event=rename-failed reason=\"%s\"",
			    c->s->id, err ? err : "?");
		return 0;	/* 1: gone, another program removed it */
	}
	if (strcmp(file, m->file) == 0)
		return 0;
	if (buf_add(&c->renamed, m->file, strlen(m->file) + 1) != 0 ||
	    buf_add(&c->renamed, file, strlen(file) + 1) != 0) {
		*why = "out of memory";
		return -1;
	}
	rc = mailidx_msg_set_file(t, c->s->sel->mbox_id, m->uid, file, why);
	return rc < 0 ? -1 : 0;
}

static int
store_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct store_ctx *c = arg;
	struct imap_sel *sel = c->s->sel;
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	struct imap_seq_iter it;
	struct store_rec rec;
	char name[256];
	uint32_t v, msn;
	unsigned id;
	size_t i;
	int modified, rc;

	store_undo(c);		/* a run again after the map grew */
	buf_reset(&c->recs);
	buf_reset(&c->modified);
	c->keywords = 0;
	for (i = 0; i < c->n_kw; i++) {
		snprintf(name, sizeof(name), "%.*s", (int)c->kwnames[i].n,
		    (const char *)c->kwnames[i].p);
		if (mailidx_keyword_id(t, name, c->op != '-', &id, why) == 1)
			c->keywords |= 1ULL << id;
		else if (c->op != '-')
			return -1;
	}
	if (mailidx_mbox_get_id(t, sel->mbox_id, &mb) != 1)
		return -1;
	c->before = mb.highestmodseq;
	for (imap_seq_iter_init(&it); imap_seq_iter_next(c->set, &it, &v);) {
		if (c->uid) {
			if ((msn = imap_sel_msn(sel, v)) == 0)
				continue;
		} else
			msn = v;
		/* expunged by another session meanwhile: skipped */
		if ((rc = mailidx_msg_get(t, sel->mbox_id, sel->uids[msn - 1],
		    &m)) != 1) {
			if (rc < 0)
				return -1;
			continue;
		}
		modified = c->unch_zero;
		rc = c->unch_zero ? 0 : mailidx_msg_store(t, sel->mbox_id,
		    sel->uids[msn - 1], c->op, c->flags, c->keywords,
		    c->unchangedsince, &m, &modified, why);
		if (rc != 0)
			return rc;
		if (modified) {
			v = c->uid ? m.uid : msn;
			if (buf_add(&c->modified, &v, sizeof(v)) != 0)
				return -1;
			continue;
		}
		rec.modseq = m.modseq;
		rec.uid = m.uid;
		rec.msn = msn;
		rec.flags = m.flags;
		rec.keywords = m.keywords;
		if (buf_add(&c->recs, &rec, sizeof(rec)) != 0 ||
		    buf_add(&c->recs, m.file, strlen(m.file) + 1) != 0 ||
		    store_file(c, t, &m, why) < 0)
			return -1;
	}
	return 0;
}

/* The flags stored and the files renamed, in one write transaction. */
static int
store_run(struct imap_sess *s, struct store_ctx *c, const char **why)
{
	int rc;

	if (imap_sel_dir(s, s->sel->name, c->root, sizeof(c->root)) != 0) {
		*why = "mailbox path too long";
		return -1;
	}
	buf_init(&c->renamed, 1024, (size_t)64 << 20);
	rc = imap_idx_write(s, store_fn, c, why);
	if (rc != 0)
		store_undo(c);
	buf_fini(&c->renamed);
	return rc;
}

static int
store_flags_parse(struct store_ctx *c, struct imap_args list,
    const char **why)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} sys[] = {
		{ "\\Seen", MAILIDX_F_SEEN }, { "\\Answered", MAILIDX_F_ANSWERED },
		{ "\\Flagged", MAILIDX_F_FLAGGED },
		{ "\\Deleted", MAILIDX_F_DELETED }, { "\\Draft", MAILIDX_F_DRAFT },
	};
	const struct imap_arg *a;
	size_t i;

	for (a = imap_args_at(list, 0); a != NULL;
	    a = imap_args_next(list, a)) {
		if (a->type != IMAP_ARG_ATOM) {
			*why = "Flags are atoms";
			return -1;
		}
		for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (imap_arg_atom_is(a, sys[i].name))
				break;
		if (i < sizeof(sys) / sizeof(sys[0])) {
			c->flags |= sys[i].bit;
			continue;
		}
		if (imap_arg_atom_is(a, "\\Recent"))
			continue;	/* RFC 3501 2.3.2: not storable */
		if (a->s.p[0] == '\\') {
			*why = "Unknown system flag";
			return -1;
		}
		if (span_find_byte(a->s, '*', &i) || span_find_byte(a->s, '%',
		    &i) || span_find_byte(a->s, ']', &i) ||
		    a->s.n > 64) {
			*why = "Bad keyword";
			return -1;
		}
		if (c->n_kw == MAILIDX_KEYWORDS) {
			*why = "Too many keywords";
			return -1;
		}
		c->kwnames[c->n_kw++] = a->s;
	}
	return 0;
}

void
imap_cmd_store(struct imap_sess *s, struct imap_args args, int uid)
{
	struct imap_seq_range r[SEQ_RANGES_MAX];
	struct store_ctx c;
	struct imap_seq set;
	const struct imap_arg *a = imap_args_at(args, 0), *op, *fl;
	const char *why = NULL;
	struct imap_args flist;
	struct store_rec rec;
	struct mailidx_txn *t;
	struct buf out;
	struct span name;
	size_t off;
	int silent = 0, rc;

	memset(&c, 0, sizeof(c));
	op = a != NULL ? imap_args_next(args, a) : NULL;
	/* RFC 7162 3.1.3: STORE set (UNCHANGEDSINCE n) item flags */
	if (op != NULL && op->type == IMAP_ARG_LIST) {
		struct imap_args mods = imap_arg_items(op);
		const struct imap_arg *k = imap_args_at(mods, 0);
		const struct imap_arg *n = k ? imap_args_next(mods, k) : NULL;

		if (imap_args_count(mods) != 2 ||
		    !imap_arg_atom_is(k, "UNCHANGEDSINCE") ||
		    num_atom(n, UINT64_MAX, &c.unchangedsince) != 0) {
			imap_bad(s, "STORE modifier must be (UNCHANGEDSINCE "
			    "n)");
			return;
		}
		/* 0 is allowed: it fails for every message (3.1.3) */
		c.unch_zero = c.unchangedsince == 0;
		s->enabled |= IMAP_EN_CONDSTORE;
		op = imap_args_next(args, op);
	}
	fl = op != NULL ? imap_args_next(args, op) : NULL;
	if (fl == NULL || a->type != IMAP_ARG_ATOM ||
	    op->type != IMAP_ARG_ATOM) {
		imap_bad(s, "STORE takes a sequence set, an item and flags");
		return;
	}
	name = op->s;
	c.op = '=';
	if (name.n > 0 && (name.p[0] == '+' || name.p[0] == '-')) {
		c.op = (char)name.p[0];
		name.p++;
		name.n--;
	}
	if (span_eq_ci(name, "FLAGS.SILENT"))
		silent = 1;
	else if (!span_eq_ci(name, "FLAGS")) {
		imap_bad(s, "STORE item must be FLAGS, +FLAGS or -FLAGS "
		    "(.SILENT)");
		return;
	}
	/* a list, or the flags as the remaining arguments */
	if (fl->type == IMAP_ARG_LIST && imap_args_next(args, fl) == NULL)
		flist = imap_arg_items(fl);
	else
		flist = imap_args_rest(args, fl);
	if (store_flags_parse(&c, flist, &why) != 0) {
		imap_bad(s, "%s", why);
		return;
	}
	imap_seq_init(&set, r, SEQ_RANGES_MAX);
	if (imap_sel_seq(s, &set, a->s, uid, &why) != 0) {
		imap_bad(s, "Bad sequence set: %s", why);
		return;
	}
	if (!uid && imap_seq_max(&set) > s->sel->n) {
		imap_bad(s, "Message sequence number out of range");
		return;
	}
	if (s->sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox was opened with EXAMINE");
		return;
	}
	c.s = s;
	c.set = &set;
	c.uid = uid;
	buf_init(&c.recs, 1024, (size_t)64 << 20);
	buf_init(&c.modified, 64, (size_t)16 << 20);
	rc = store_run(s, &c, &why);
	if (rc != 0) {
		buf_fini(&c.recs);
		buf_fini(&c.modified);
		imap_no(s, c.n_kw > 0 && c.op != '-' ? "[LIMIT] Cannot store "
		    "the flags (at most 64 keywords)" :
		    "[SERVERBUG] Cannot store the flags");
		return;
	}
	/* our own changes are told here; the cursor moves past them only
	 * if nothing of others' was pending */
	if (c.before == s->sel->modseq && mailidx_txn_begin(s->u->idx, 0, &t,
	    &why) == 0) {
		struct mailidx_mbox mb;

		if (mailidx_mbox_get_id(t, s->sel->mbox_id, &mb) == 1 &&
		    mb.uidnext == s->sel->uidnext)
			s->sel->modseq = mb.highestmodseq;
		mailidx_txn_abort(&t);
	}
	buf_init(&out, 1024, (size_t)64 << 20);
	if (!silent && mailidx_txn_begin(s->u->idx, 0, &t, &why) == 0) {
		for (off = 0; off < c.recs.len; off += sizeof(rec) +
		    strlen((const char *)c.recs.data + off + sizeof(rec)) + 1) {
			memcpy(&rec, c.recs.data + off, sizeof(rec));
			(void)!buf_addf(&out, "* %u FETCH (", rec.msn);
			imap_flags_add(s, t, &out, rec.uid, rec.flags,
			    rec.keywords);
			if (uid)
				(void)!buf_addf(&out, " UID %u", rec.uid);
			if (s->enabled & IMAP_EN_CONDSTORE)
				(void)!buf_addf(&out, " MODSEQ (%llu)",
				    (unsigned long long)rec.modseq);
			(void)!buf_addstr(&out, ")\r\n");
		}
		mailidx_txn_abort(&t);
	}
	imap_send(s, out.data, out.len);
	buf_fini(&c.recs);
	if (c.modified.len > 0) {
		/* RFC 7162 3.1.3: the ones that changed since */
		uint32_t *v = (uint32_t *)(void *)c.modified.data;
		size_t n = c.modified.len / sizeof(*v), i, k;

		buf_reset(&out);
		(void)!buf_addf(&out, "%s OK [MODIFIED ", s->tag);
		for (i = 0; i < n; i = k + 1) {
			for (k = i; k + 1 < n && v[k + 1] == v[k] + 1; k++)
				;
			(void)!buf_addf(&out, "%s%u", i ? "," : "", v[i]);
			if (k > i)
				(void)!buf_addf(&out, ":%u", v[k]);
		}
		(void)!buf_addstr(&out, "] Conditional STORE failed\r\n");
		imap_send(s, out.data, out.len);
	} else
		imap_ok(s, "%sSTORE completed", uid ? "UID " : "");
	buf_fini(&out);
	buf_fini(&c.modified);
}

/* FETCH of a body without PEEK: \Seen on the set, files renamed, the
 * change told by the FETCH responses themselves (their FLAGS). */
void
imap_mark_seen(struct imap_sess *s, const struct imap_seq *set, int uid)
{
	struct store_ctx c;
	struct mailidx_txn *t;
	const char *why = NULL;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.set = set;
	c.uid = uid;
	c.op = '+';
	c.flags = MAILIDX_F_SEEN;
	buf_init(&c.recs, 1024, (size_t)64 << 20);
	buf_init(&c.modified, 64, 1024);
	if (store_run(s, &c, &why) == 0) {
		if (c.before == s->sel->modseq && mailidx_txn_begin(s->u->idx,
		    0, &t, &why) == 0) {
			struct mailidx_mbox mb;

			if (mailidx_mbox_get_id(t, s->sel->mbox_id, &mb) == 1 &&
			    mb.uidnext == s->sel->uidnext)
				s->sel->modseq = mb.highestmodseq;
			mailidx_txn_abort(&t);
		}
	} else
		log_warn("conn=%s event=seen-failed reason=\"%s\"", s->id,
		    why ? why : "?");
	buf_fini(&c.recs);
	buf_fini(&c.modified);
}
