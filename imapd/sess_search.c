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
};

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
		}
		c->hits[c->n_hits++] = msn;
		if (m->modseq > c->max_modseq)
			c->max_modseq = m->modseq;
	}
	return 0;
}

/* ESEARCH ALL: a sequence set "1:3,7" */
static void
esearch_all(struct buf *b, const uint32_t *v, size_t n)
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

void
imap_cmd_search(struct imap_sess *s, struct imap_args args, int uid)
{
	struct search_ctx c;
	struct imap_search srch;
	struct imap_search_err err;
	struct imap_snode *nodes;
	const char *why = NULL;
	struct buf b;
	size_t i;

	nodes = xcalloc(SEARCH_NODES_MAX, sizeof(*nodes));
	if (imap_search_parse(args, nodes, SEARCH_NODES_MAX, &srch,
	    &err) != 0) {
		if (err.resp_code != NULL)
			imap_reply(s, err.no ? "NO" : "BAD", "[%s] %s",
			    err.resp_code, err.text);
		else
			imap_reply(s, err.no ? "NO" : "BAD", "%s", err.text);
		free(nodes);
		return;
	}
	if (srch.uses_saved || (srch.ret & IMAP_SRET_SAVE)) {
		free(nodes);
		imap_bad(s, "SEARCHRES ($, SAVE) is not offered");
		return;
	}
	if (srch.uses_modseq)
		s->enabled |= IMAP_EN_CONDSTORE;	/* RFC 7162 3.1 */
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.fd = -1;
	c.mc.s = &srch;
	c.mc.n_msgs = s->sel->n;
	c.mc.max_uid = s->sel->n ? s->sel->uids[s->sel->n - 1] : 0;
	c.mc.saved = NULL;
	c.mc.keyword_id = search_keyword;
	c.mc.keyword_arg = &c;
	c.mc.now = (int64_t)time(NULL);
	c.mc.zone_min = 0;	/* INTERNALDATE is told in UTC */
	if (imap_sel_dir(s, s->sel->name, c.root, sizeof(c.root)) != 0 ||
	    mailidx_txn_begin(s->u->idx, 0, &c.t, &why) != 0) {
		free(nodes);
		imap_no(s, "[SERVERBUG] Cannot read the index");
		return;
	}
	if (mailidx_msg_range(c.t, s->sel->mbox_id, 1, UINT32_MAX,
	    search_msg_fn, &c) < 0)
		c.failed = 1;
	mailidx_txn_abort(&c.t);
	free(nodes);
	if (c.failed) {
		free(c.hits);
		imap_no(s, "[SERVERBUG] Cannot read a message");
		return;
	}
	if (uid)
		for (i = 0; i < c.n_hits; i++)
			c.hits[i] = s->sel->uids[c.hits[i] - 1];
	buf_init(&b, 1024, (size_t)64 << 20);
	if (srch.esearch) {
		/* RFC 4731 3.1: the tag, UID, then what was asked */
		(void)!buf_addf(&b, "* ESEARCH (TAG \"%s\")%s", s->tag,
		    uid ? " UID" : "");
		if ((srch.ret & IMAP_SRET_MIN) && c.n_hits > 0)
			(void)!buf_addf(&b, " MIN %u", c.hits[0]);
		if ((srch.ret & IMAP_SRET_MAX) && c.n_hits > 0)
			(void)!buf_addf(&b, " MAX %u", c.hits[c.n_hits - 1]);
		if ((srch.ret & IMAP_SRET_ALL) && c.n_hits > 0) {
			(void)!buf_addstr(&b, " ALL ");
			esearch_all(&b, c.hits, c.n_hits);
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
	(void)!buf_addstr(&b, "\r\n");
	imap_send(s, b.data, b.len);
	buf_fini(&b);
	free(c.hits);
	imap_ok(s, "%sSEARCH completed", uid ? "UID " : "");
}
