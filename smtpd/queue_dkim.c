/* queued: DKIM signatures for mail that leaves, with the From domain's newest selector. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_dkim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dkim.h"
#include "common/dkim_store.h"
#include "common/log.h"
#include "common/xmem.h"

#define QUEUE_DKIM_READ (64u * 1024u)

/* ---- the From domain (pure) ---- */

/* Skip a quoted string or comment starting at v[*i]; *i ends after it. */
static void
queue_dkim_skip(struct span v, size_t *i)
{
	size_t k = *i;
	int depth = 0;

	if (v.p[k] == '"') {
		for (k++; k < v.n && v.p[k] != '"'; k++)
			if (v.p[k] == '\\' && k + 1 < v.n)
				k++;
		*i = k < v.n ? k + 1 : v.n;
		return;
	}
	/* RFC 5322 3.2.2: comments nest */
	for (; k < v.n; k++) {
		if (v.p[k] == '\\' && k + 1 < v.n)
			k++;
		else if (v.p[k] == '(')
			depth++;
		else if (v.p[k] == ')' && --depth == 0)
			break;
	}
	*i = k < v.n ? k + 1 : v.n;
}

int
queue_dkim_from_domain(struct span hdr, char *out, size_t outsz)
{
	struct span f, name, v;
	size_t off = 0, i, s, e, at;

	while (dkim_header_next(hdr, &off, &f)) {
		if (dkim_header_name(f, &name) < 0 || name.n != 4 ||
		    strncasecmp((const char *)name.p, "From", 4) != 0)
			continue;
		for (i = 0; i < f.n && f.p[i] != ':'; i++)
			;
		v = span_make(f.p + i + 1, f.n - i - 1);
		/* the first address: inside <...> when there is one
		 * before the first ',' (RFC 5322 3.4), else up to it */
		s = 0;
		e = v.n;
		for (i = 0; i < v.n;) {
			if (v.p[i] == '"' || v.p[i] == '(') {
				queue_dkim_skip(v, &i);
				continue;
			}
			if (v.p[i] == ',') {
				e = i;
				break;
			}
			if (v.p[i] == '<') {
				s = i + 1;
				for (e = s; e < v.n && v.p[e] != '>'; e++)
					;
				break;
			}
			i++;
		}
		/* the last '@' of that part that is not quoted */
		at = e;
		for (i = s; i < e;) {
			if (v.p[i] == '"' || v.p[i] == '(') {
				queue_dkim_skip(v, &i);
				continue;
			}
			if (v.p[i] == '@')
				at = i;
			i++;
		}
		if (at == e)
			return -1;
		for (i = at + 1; i < e && (v.p[i] == ' ' || v.p[i] == '\t');
		    i++)
			;
		for (s = 0; i < e && s + 1 < outsz; i++) {
			uint8_t c = v.p[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    c == '_'))
				break;
			out[s++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (s > 0 && out[s - 1] == '.')
			s--;
		if (s == 0 || s + 1 >= outsz)
			return -1;
		out[s] = '\0';
		return dkim_name_valid(out) ? 0 : -1;
	}
	return -1;
}

/* ---- keys ---- */

struct queue_dkim_dom {
	struct queue_dkim_dom *next;
	char *domain;
	struct timespec mtime, ctime;	/* of its directory when loaded */
	ino_t ino;
	char *selector;			/* NULL: no keys */
	struct dkim_key *key[DKIM_STORE_NKINDS];
};

struct queue_dkim {
	char *dir;
	struct queue_dkim_dom *doms;
};

struct queue_dkim *
queue_dkim_new(const char *dir)
{
	struct queue_dkim *qd = xcalloc(1, sizeof(*qd));

	qd->dir = xstrdup(dir);
	return qd;
}

static void
queue_dkim_dom_clear(struct queue_dkim_dom *d)
{
	for (size_t k = 0; k < DKIM_STORE_NKINDS; k++)
		dkim_key_free(&d->key[k]);
	free(d->selector);
	d->selector = NULL;
}

void
queue_dkim_free(struct queue_dkim **qdp)
{
	struct queue_dkim *qd = *qdp;
	struct queue_dkim_dom *d, *n;

	if (qd == NULL)
		return;
	for (d = qd->doms; d != NULL; d = n) {
		n = d->next;
		queue_dkim_dom_clear(d);
		free(d->domain);
		free(d);
	}
	free(qd->dir);
	free(qd);
	*qdp = NULL;
}

static int
queue_dkim_ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* The keys of domain, reloaded when its directory changed; NULL when it
 * has none. */
static struct queue_dkim_dom *
queue_dkim_keys(struct queue_dkim *qd, const char *domain)
{
	struct queue_dkim_dom *d;
	struct stat st;
	char *path, why[512], **sel = NULL;
	int n, newest;

	for (d = qd->doms; d != NULL; d = d->next)
		if (strcmp(d->domain, domain) == 0)
			break;
	path = xasprintf("%s/%s", qd->dir, domain);
	if (stat(path, &st) < 0) {
		free(path);
		if (d != NULL)
			queue_dkim_dom_clear(d);
		return NULL;	/* not one of ours, or keys removed */
	}
	if (d != NULL && d->ino == st.st_ino &&
	    queue_dkim_ts_eq(d->mtime, st.st_mtim) &&
	    queue_dkim_ts_eq(d->ctime, st.st_ctim)) {
		free(path);
		return d->selector != NULL ? d : NULL;
	}
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->domain = xstrdup(domain);
		d->next = qd->doms;
		qd->doms = d;
	}
	queue_dkim_dom_clear(d);
	d->ino = st.st_ino;
	d->mtime = st.st_mtim;
	d->ctime = st.st_ctim;
	if ((n = dkim_store_selectors(path, &sel, &newest, why,
	    sizeof(why))) < 0)
		log_err("event=dkim-keys-unreadable domain=%s reason=\"%s\"",
		    domain, why);
	if (n > 0 && newest >= 0) {
		for (size_t k = 0; k < DKIM_STORE_NKINDS; k++) {
			char *f = xasprintf("%s/%s%s", path, sel[newest],
			    dkim_store_kinds[k].file);

			if (dkim_store_load(f, &d->key[k], why,
			    sizeof(why)) < 0 && errno != ENOENT)
				log_err("event=dkim-key-refused domain=%s "
				    "reason=\"%s\"", domain, why);
			free(f);
		}
		if (d->key[0] != NULL || d->key[1] != NULL) {
			d->selector = xstrdup(sel[newest]);
			log_info("event=dkim-keys domain=%s selector=%s "
			    "ed25519=%s rsa=%s", domain, d->selector,
			    d->key[0] != NULL ? "yes" : "no",
			    d->key[1] != NULL ? "yes" : "no");
		}
	}
	dkim_store_selectors_free(sel, n > 0 ? n : 0);
	free(path);
	return d->selector != NULL ? d : NULL;
}

/* ---- signing ---- */

/* pread all of [off, off + n) into p; 0 or -1. */
static int
queue_dkim_read(int fd, uint8_t *p, size_t n, uint64_t off)
{
	ssize_t r;

	while (n > 0) {
		do
			r = pread(fd, p, n, (off_t)off);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* The length of the header section at the start of p[0..n) including
 * the empty line after it, or 0 when the empty line is not in p. */
static size_t
queue_dkim_head_len(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;	/* no header fields at all */
	for (size_t i = 0; i + 4 <= n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 4;
	return 0;
}

enum queue_dkim_rc
queue_dkim_sign(struct queue_dkim *qd, int fd, uint64_t off, uint64_t end,
    int64_t now, struct buf *out, char *dom_out, size_t domsz, char *why,
    size_t whysz)
{
	struct queue_dkim_dom *d;
	struct dkim_body b;
	struct span hdr, body;
	uint8_t bh[DKIM_HASH_LEN], *p;
	size_t have, hl = 0, want;
	uint64_t pos;
	enum queue_dkim_rc rc = QUEUE_DKIM_NONE;

	dom_out[0] = '\0';
	/* the header section: 64 KiB at a time up to DKIM_HDR_MAX */
	have = end - off < QUEUE_DKIM_READ ? (size_t)(end - off) :
	    QUEUE_DKIM_READ;
	p = xmalloc(have > 0 ? have : 1);
	for (;;) {
		if (queue_dkim_read(fd, p, have, off) < 0) {
			snprintf(why, whysz, "the queue file cannot be read");
			free(p);
			return QUEUE_DKIM_ERROR;
		}
		if ((hl = queue_dkim_head_len(p, have)) > 0 ||
		    off + have >= end || have >= DKIM_HDR_MAX)
			break;
		want = have * 2 > DKIM_HDR_MAX ? DKIM_HDR_MAX : have * 2;
		if (want > end - off)
			want = (size_t)(end - off);
		p = xrealloc(p, want);
		have = want;
	}
	if (hl == 0) {
		if (off + have < end) {
			/* over DKIM_HDR_MAX: nobody signs that */
			snprintf(why, whysz, "header section too big to sign");
			free(p);
			return QUEUE_DKIM_NONE;
		}
		hl = have;	/* all header, no body */
	}
	dkim_split(span_make(p, hl), &hdr, &body);
	if (queue_dkim_from_domain(hdr, dom_out, domsz) < 0 ||
	    (d = queue_dkim_keys(qd, dom_out)) == NULL) {
		free(p);
		return QUEUE_DKIM_NONE;
	}
	/* the body: what followed the empty line in p, then the file in
	 * pieces of its own (p keeps the header for the signatures) */
	dkim_body_init(&b, NULL);
	if (hl < have)
		dkim_body_feed(&b, span_make(p + hl, have - hl));
	pos = off + have;
	if (pos < end) {
		uint8_t *piece = xmalloc(QUEUE_DKIM_READ);

		while (pos < end) {
			want = end - pos < QUEUE_DKIM_READ ?
			    (size_t)(end - pos) : QUEUE_DKIM_READ;
			if (queue_dkim_read(fd, piece, want, pos) < 0) {
				dkim_body_fini(&b);
				free(piece);
				free(p);
				snprintf(why, whysz, "the queue file cannot "
				    "be read");
				return QUEUE_DKIM_ERROR;
			}
			dkim_body_feed(&b, span_make(piece, want));
			pos += want;
		}
		free(piece);
	}
	(void)dkim_body_finish(&b, bh);
	for (size_t k = 0; k < DKIM_STORE_NKINDS; k++) {
		struct dkim_sign_req req = { d->domain, NULL, now };
		const char *kwhy = NULL;
		char sel[DKIM_NAME_MAX + 1];

		if (d->key[k] == NULL)
			continue;
		/* the DNS names of the two keys: docs/relay.md */
		snprintf(sel, sizeof(sel), "%s%s", d->selector,
		    dkim_store_kinds[k].dns);
		req.selector = sel;
		if (dkim_sign(d->key[k], &req, hdr, bh, out, &kwhy) < 0) {
			snprintf(why, whysz, "%s", kwhy);
			continue;
		}
		rc = QUEUE_DKIM_SIGNED;
	}
	free(p);
	return rc;
}
