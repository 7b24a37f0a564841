/* SELECTED: SEARCH and UID SEARCH (RFC 9051 6.4.4, ESEARCH RFC 4731) through imap_match. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_match.h"
#include "imapd/imap_search.h"
#include "imapd/imapd.h"

#define SEARCH_NODES_MAX 512
#define SEARCH_SAVED_RANGES 1024	/* "$" in a SEARCH key */

struct search_ctx {
	struct imap_sess *s;
	struct mailidx_txn *t;
	struct imap_match_ctx mc;
	char root[PATH_MAX];		/* the mailbox's folder */
	const struct mailidx_msg *cur;	/* the message being matched */
	int fd;				/* its file, opened on first read */
	int failed;
	uint64_t max_modseq;		/* of the hits (RFC 7162 3.1.5) */
	uint32_t *hits;			/* MSNs or UIDs, ascending */
	size_t n_hits, cap_hits;
	struct kept *kept;		/* SORT, THREAD: the hits' records */
	int keep;
	struct imap_seq saved_set;	/* "$" as UID ranges */
	struct imap_seq_range saved_r[SEARCH_SAVED_RANGES];
};

/* A matching message kept for SORT and THREAD (its blob points into
 * the read transaction, which stays open until they are done). */
struct kept {
	struct mailidx_msg m;
	struct span blob;
	const char *root;
};

/* SORT and THREAD read a file only for what the blob lacks: open,
 * read, close each time, so no descriptor is held per message. */
static ssize_t
kept_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct kept *k = arg;
	char p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", k->root, k->m.file);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	do
		n = pread(fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n;
}

static ssize_t
search_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct search_ctx *c = arg;
	char p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	ssize_t n;

	if (c->fd < 0) {
		snprintf(p, sizeof(p), "%s/%s", c->root, c->cur->file);
		if ((c->fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
			return -1;
	}
	do
		n = pread(c->fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
search_keyword(void *arg, struct span name)
{
	struct search_ctx *c = arg;
	char kw[256];
	unsigned id;

	if (name.n >= sizeof(kw))
		return -1;
	memcpy(kw, name.p, name.n);
	kw[name.n] = '\0';
	return mailidx_keyword_id(c->t, kw, 0, &id, NULL) == 1 ? (int)id :
	    -1;
}

static int
search_msg_fn(const struct mailidx_msg *m, void *arg)
{
	struct search_ctx *c = arg;
	struct imap_match_msg mm;
	uint32_t msn;
	int rc;

	/* only messages the client was told of (RFC 9051 7.4.1) */
	if ((msn = imap_sel_msn(c->s->sel, m->uid)) == 0)
		return 0;
	memset(&mm, 0, sizeof(mm));
	mm.seq = msn;
	mm.m = m;
	mm.recent = imap_sel_recent(c->s, m->uid);	/* RECENT NEW OLD */
	if (mailidx_msg_cache(c->t, c->s->sel->mbox_id, m->uid,
	    &mm.blob) != 1)
		mm.blob = span_make(NULL, 0);
	mm.read = search_read;
	mm.read_arg = c;
	c->cur = m;
	c->fd = -1;
	rc = imap_match(&c->mc, &mm);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (rc < 0) {
		c->failed = 1;
		return 1;
	}
	if (rc == 1) {
		if (c->n_hits == c->cap_hits) {
			c->cap_hits = c->cap_hits ? c->cap_hits * 2 : 256;
			c->hits = xreallocarray(c->hits, c->cap_hits,
			    sizeof(*c->hits));
			if (c->keep)
				c->kept = xreallocarray(c->kept, c->cap_hits,
				    sizeof(*c->kept));
		}
		if (c->keep) {
			c->kept[c->n_hits].m = *m;
			c->kept[c->n_hits].blob = mm.blob;
			c->kept[c->n_hits].root = c->root;
		}
		c->hits[c->n_hits++] = msn;
		if (m->modseq > c->max_modseq)
			c->max_modseq = m->modseq;
	}
	return 0;
}

int
imap_sel_seq(struct imap_sess *s, struct imap_seq *set, struct span text,
    int uid, const char **why)
{
	struct imap_sel *sel = s->sel;
	size_t i;
	uint32_t v;

	if (imap_seq_parse(set, text, uid ? (sel->n ? sel->uids[sel->n - 1] :
	    0) : sel->n, 1, why) != 0)
		return -1;
	if (!set->saved)
		return 0;
	/* RFC 5182 2.1: "$" is the saved UIDs; expunged ones drop out */
	set->saved = 0;
	set->n = 0;
	for (i = 0; i < sel->n_saved; i++) {
		if ((v = imap_sel_msn(sel, sel->saved[i])) == 0)
			continue;
		if (imap_seq_add(set, uid ? sel->saved[i] : v,
		    uid ? sel->saved[i] : v) != 0) {
			*why = "saved result too fragmented";
			return -1;
		}
	}
	return 0;
}

/* Parse the search keys and run them over the selected mailbox; the
 * read transaction stays open in c->t (the caller aborts it).  0, or
 * -1 with the answer sent. */
static int
run_search(struct imap_sess *s, struct imap_args args, struct search_ctx *c,
    struct imap_search *srch, struct imap_snode *nodes)
{
	struct imap_search_err err;
	const char *why = NULL;

	if (imap_search_parse(args, nodes, SEARCH_NODES_MAX, srch,
	    &err) != 0) {
		if (err.resp_code != NULL)
			imap_reply(s, err.no ? "NO" : "BAD", "[%s] %s",
			    err.resp_code, err.text);
		else
			imap_reply(s, err.no ? "NO" : "BAD", "%s", err.text);
		return -1;
	}
	/* RFC 5182: "$" in SEARCH matches the saved UIDs */
	if (srch->uses_saved) {
		size_t i;

		imap_seq_init(&c->saved_set, c->saved_r, SEARCH_SAVED_RANGES);
		for (i = 0; i < s->sel->n_saved; i++)
			if (imap_seq_add(&c->saved_set, s->sel->saved[i],
			    s->sel->saved[i]) != 0) {
				imap_no(s, "[LIMIT] Saved result too "
				    "fragmented");
				return -1;
			}
		c->mc.saved = &c->saved_set;
	}
	if (srch->uses_modseq)
		s->enabled |= IMAP_EN_CONDSTORE;	/* RFC 7162 3.1 */
	c->s = s;
	c->fd = -1;
	c->mc.s = srch;
	c->mc.n_msgs = s->sel->n;
	c->mc.max_uid = s->sel->n ? s->sel->uids[s->sel->n - 1] : 0;
	c->mc.keyword_id = search_keyword;
	c->mc.keyword_arg = c;
	c->mc.now = (int64_t)time(NULL);
	c->mc.zone_min = 0;	/* INTERNALDATE is told in UTC */
	if (imap_sel_dir(s, s->sel->name, c->root, sizeof(c->root)) != 0 ||
	    mailidx_txn_begin(s->u->idx, 0, &c->t, &why) != 0) {
		imap_no(s, "[SERVERBUG] Cannot read the index");
		return -1;
	}
	if (mailidx_msg_range(c->t, s->sel->mbox_id, 1, UINT32_MAX,
	    search_msg_fn, c) < 0 || c->failed) {
		mailidx_txn_abort(&c->t);
		imap_no(s, "[SERVERBUG] Cannot read a message");
		return -1;
	}
	return 0;
}

/* RFC 5182 2.4: the result as UIDs; with MIN and/or MAX (and not ALL
 * or COUNT) only those.  Hits are MSNs here. */
static void
search_save(struct imap_sess *s, struct search_ctx *c,
    const struct imap_search *srch)
{
	struct imap_sel *sel = s->sel;
	unsigned r = srch->ret;
	size_t i;

	free(sel->saved);
	sel->saved = NULL;
	sel->n_saved = 0;
	if (c->n_hits == 0)
		return;
	sel->saved = xcalloc(c->n_hits, sizeof(*sel->saved));
	if ((r & (IMAP_SRET_MIN | IMAP_SRET_MAX)) &&
	    !(r & (IMAP_SRET_ALL | IMAP_SRET_COUNT))) {
		if (r & IMAP_SRET_MIN)
			sel->saved[sel->n_saved++] = sel->uids[c->hits[0] - 1];
		if ((r & IMAP_SRET_MAX) && (sel->n_saved == 0 ||
		    c->n_hits > 1))
			sel->saved[sel->n_saved++] =
			    sel->uids[c->hits[c->n_hits - 1] - 1];
		return;
	}
	for (i = 0; i < c->n_hits; i++)
		sel->saved[sel->n_saved++] = sel->uids[c->hits[i] - 1];
}

void
imap_cmd_search(struct imap_sess *s, struct imap_args args, int uid)
{
	struct search_ctx c;
	struct imap_search srch;
	struct imap_snode *nodes;
	struct buf b;
	size_t i;

	memset(&c, 0, sizeof(c));
	nodes = xcalloc(SEARCH_NODES_MAX, sizeof(*nodes));
	if (run_search(s, args, &c, &srch, nodes) != 0) {
		free(nodes);
		free(c.hits);
		return;
	}
	mailidx_txn_abort(&c.t);
	free(nodes);
	/* RFC 9051 6.4.4: IMAP4rev2 answers ESEARCH only; no RETURN means
	 * RETURN (ALL) */
	if (imap_rev2(s) && !srch.esearch) {
		srch.esearch = 1;
		srch.ret = IMAP_SRET_ALL;
	}
	if (srch.ret & IMAP_SRET_SAVE)
		search_save(s, &c, &srch);
	if (uid)
		for (i = 0; i < c.n_hits; i++)
			c.hits[i] = s->sel->uids[c.hits[i] - 1];
	buf_init(&b, 1024, (size_t)64 << 20);
	if (srch.esearch && srch.ret == IMAP_SRET_SAVE) {
		/* RFC 5182 2.4: SAVE alone sends no ESEARCH */
	} else if (srch.esearch) {
		/* RFC 4731 3.1: the tag, UID, then what was asked */
		(void)!buf_addf(&b, "* ESEARCH (TAG \"%s\")%s", s->tag,
		    uid ? " UID" : "");
		if ((srch.ret & IMAP_SRET_MIN) && c.n_hits > 0)
			(void)!buf_addf(&b, " MIN %u", c.hits[0]);
		if ((srch.ret & IMAP_SRET_MAX) && c.n_hits > 0)
			(void)!buf_addf(&b, " MAX %u", c.hits[c.n_hits - 1]);
		if ((srch.ret & IMAP_SRET_ALL) && c.n_hits > 0) {
			(void)!buf_addstr(&b, " ALL ");
			imap_uidset_add(&b, c.hits, c.n_hits);
		}
		if (srch.ret & IMAP_SRET_COUNT)
			(void)!buf_addf(&b, " COUNT %zu", c.n_hits);
		if (srch.uses_modseq && c.n_hits > 0)
			(void)!buf_addf(&b, " MODSEQ %llu",
			    (unsigned long long)c.max_modseq);
	} else {
		(void)!buf_addstr(&b, "* SEARCH");
		for (i = 0; i < c.n_hits; i++)
			(void)!buf_addf(&b, " %u", c.hits[i]);
		/* RFC 7162 3.1.5: the highest MODSEQ of what matched */
		if (srch.uses_modseq && c.n_hits > 0)
			(void)!buf_addf(&b, " (MODSEQ %llu)",
			    (unsigned long long)c.max_modseq);
	}
	if (b.len > 0) {
		(void)!buf_addstr(&b, "\r\n");
		imap_send(s, b.data, b.len);
	}
	buf_fini(&b);
	free(c.hits);
	imap_ok(s, "%sSEARCH completed", uid ? "UID " : "");
}

/* The charset argument of SORT and THREAD (RFC 5256 3): 0 or -1 with
 * the answer sent. */
static int
sort_charset(struct imap_sess *s, const struct imap_arg *a)
{
	struct span cs;

	if (a == NULL || imap_arg_astring(a, &cs) != 0) {
		imap_bad(s, "A charset is needed");
		return -1;
	}
	if (!span_eq_ci(cs, "UTF-8") && !span_eq_ci(cs, "US-ASCII")) {
		imap_no(s, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return -1;
	}
	return 0;
}

static struct imap_sort_msg *
sort_msgs(struct search_ctx *c)
{
	struct imap_sort_msg *v = xcalloc(c->n_hits ? c->n_hits : 1,
	    sizeof(*v));
	size_t i;

	for (i = 0; i < c->n_hits; i++) {
		v[i].mm.seq = c->hits[i];
		v[i].mm.m = &c->kept[i].m;
		v[i].mm.blob = c->kept[i].blob;
		v[i].mm.read = kept_read;
		v[i].mm.read_arg = &c->kept[i];
	}
	return v;
}

/* SORT (RFC 5256 3): (criteria) charset keys. */
void
imap_cmd_sort(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *crit = imap_args_at(args, 0);
	const struct imap_arg *cs = crit ? imap_args_next(args, crit) : NULL;
	struct imap_sort_crit sc;
	struct imap_search srch;
	struct imap_snode *nodes;
	struct imap_sort_msg *v;
	struct search_ctx c;
	const char *why = NULL;
	size_t *order, i;
	struct buf b;
	int rc;

	if (crit == NULL || crit->type != IMAP_ARG_LIST || cs == NULL ||
	    imap_args_next(args, cs) == NULL) {
		imap_bad(s, "SORT takes (criteria), a charset and search keys");
		return;
	}
	if (imap_sort_parse(crit, &sc, &why) != 0) {
		imap_bad(s, "%s", why);
		return;
	}
	if (sort_charset(s, cs) != 0)
		return;
	memset(&c, 0, sizeof(c));
	c.keep = 1;
	nodes = xcalloc(SEARCH_NODES_MAX, sizeof(*nodes));
	if (run_search(s, imap_args_rest(args, imap_args_next(args, cs)), &c,
	    &srch, nodes) != 0) {
		free(nodes);
		free(c.hits);
		free(c.kept);
		return;
	}
	v = sort_msgs(&c);
	order = xcalloc(c.n_hits ? c.n_hits : 1, sizeof(*order));
	rc = imap_sort(&sc, v, c.n_hits, order);
	buf_init(&b, 1024, (size_t)64 << 20);
	(void)!buf_addstr(&b, "* SORT");
	for (i = 0; rc == 0 && i < c.n_hits; i++)
		(void)!buf_addf(&b, " %u", uid ? c.kept[order[i]].m.uid :
		    c.hits[order[i]]);
	(void)!buf_addstr(&b, "\r\n");
	mailidx_txn_abort(&c.t);
	if (rc == 0)
		imap_send(s, b.data, b.len);
	buf_fini(&b);
	free(order);
	free(v);
	free(nodes);
	free(c.hits);
	free(c.kept);
	if (rc != 0)
		imap_no(s, "[SERVERBUG] Cannot sort");
	else
		imap_ok(s, "%sSORT completed", uid ? "UID " : "");
}

/* THREAD (RFC 5256 4): algorithm charset keys. */
void
imap_cmd_thread(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *alg = imap_args_at(args, 0);
	const struct imap_arg *cs = alg ? imap_args_next(args, alg) : NULL;
	enum imap_thread_alg ta;
	struct imap_search srch;
	struct imap_snode *nodes;
	struct imap_sort_msg *v;
	struct search_ctx c;
	struct buf b;
	int rc;

	if (alg == NULL || cs == NULL || imap_args_next(args, cs) == NULL) {
		imap_bad(s, "THREAD takes an algorithm, a charset and search "
		    "keys");
		return;
	}
	if (imap_arg_atom_is(alg, "REFERENCES"))
		ta = IMAP_THREAD_REFERENCES;
	else if (imap_arg_atom_is(alg, "ORDEREDSUBJECT"))
		ta = IMAP_THREAD_ORDEREDSUBJECT;
	else {
		imap_bad(s, "Unknown threading algorithm");
		return;
	}
	if (sort_charset(s, cs) != 0)
		return;
	memset(&c, 0, sizeof(c));
	c.keep = 1;
	nodes = xcalloc(SEARCH_NODES_MAX, sizeof(*nodes));
	if (run_search(s, imap_args_rest(args, imap_args_next(args, cs)), &c,
	    &srch, nodes) != 0) {
		free(nodes);
		free(c.hits);
		free(c.kept);
		return;
	}
	v = sort_msgs(&c);
	buf_init(&b, 1024, (size_t)64 << 20);
	(void)!buf_addstr(&b, "* THREAD ");
	rc = imap_thread(ta, v, c.n_hits, uid, &b);
	(void)!buf_addstr(&b, "\r\n");
	mailidx_txn_abort(&c.t);
	if (rc == 0)
		imap_send(s, b.data, b.len);
	buf_fini(&b);
	free(v);
	free(nodes);
	free(c.hits);
	free(c.kept);
	if (rc != 0)
		imap_no(s, "[SERVERBUG] Cannot thread");
	else
		imap_ok(s, "%sTHREAD completed", uid ? "UID " : "");
}
