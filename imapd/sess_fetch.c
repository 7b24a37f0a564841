/* SELECTED: FETCH and UID FETCH, produced as the output drains; bodies streamed from the Maildir file. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/log.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "common/msgcache.h"
#include "imapd/imap_fetchatt.h"
#include "imapd/imap_match.h"
#include "imapd/imap_render.h"
#include "imapd/imap_seq.h"
#include "imapd/imapd.h"

#define FETCH_RANGES_MAX 1024	/* comma items in a sequence set */
#define FETCH_ITEMS_MAX 64
#define FETCH_CHUNK 65536	/* file bytes read at a time */
#define FETCH_OUT_HIGH (256 * 1024)	/* queued output: wait to drain */

/*
 * A FETCH in progress.  The command's arguments (HEADER.FIELDS names)
 * stay in the reader's memory, which is kept while the session waits.
 * Each message's response is made in turn; a body is sent from its
 * file in FETCH_CHUNK pieces, and whenever more than FETCH_OUT_HIGH
 * bytes are queued the job waits for CIO_DRAINED.  So neither a big
 * message nor `1:* (FLAGS)` on a big mailbox is ever held whole.
 */
struct imap_fetch_job {
	struct imap_fetch f;
	struct imap_fetch_item items[FETCH_ITEMS_MAX];
	struct imap_seq_range r[FETCH_RANGES_MAX];
	struct imap_seq set;
	struct imap_seq_iter it;
	int uid;
	int in_msg;		/* a message's response is open */
	uint32_t msn;
	size_t item;		/* next item of the message */
	struct mailidx_msg m;
	int fd;			/* the message file, -1: not open */
	uint64_t file_size;
	int have_blob;		/* blob (from the index or parsed) */
	struct span blob;	/* valid while the job's txn is open */
	struct buf built;	/* a blob parsed from the file */
	int streaming;		/* a body range is being sent */
	uint64_t body_off, body_left;
	char root[PATH_MAX];
};

static void
date_add(struct buf *b, int64_t when)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)when;
	struct tm tm;

	gmtime_r(&tt, &tm);
	(void)!buf_addf(b, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
	    mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/* The message file, opened once per message. */
static int
msg_open(struct imap_sess *s, struct imap_fetch_job *j)
{
	char p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	off_t end;

	if (j->fd >= 0)
		return 0;
	snprintf(p, sizeof(p), "%s/%s", j->root, j->m.file);
	if ((j->fd = open(p, O_RDONLY | O_CLOEXEC)) < 0) {
		log_warn_errno("conn=%s event=fetch-open-failed file=%s",
		    s->id, p);
		return -1;
	}
	end = lseek(j->fd, 0, SEEK_END);
	j->file_size = end > 0 ? (uint64_t)end : 0;
	return 0;
}

static void
msg_close(struct imap_fetch_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->have_blob = 0;
	j->streaming = 0;
	j->body_left = 0;
	buf_reset(&j->built);
}

/* The parsed-header blob: the index's, or (a file another program
 * dropped in) parsed from the file now, in pieces. */
static int
msg_blob(struct imap_sess *s, struct imap_fetch_job *j,
    struct mailidx_txn *t)
{
	struct msgcache_parser *ps;
	uint8_t chunk[FETCH_CHUNK];
	uint64_t off = 0;
	ssize_t n;

	if (j->have_blob)
		return 0;
	if (mailidx_msg_cache(t, s->sel->mbox_id, j->m.uid, &j->blob) == 1 &&
	    msgcache_open(j->blob) == 0) {
		j->have_blob = 1;
		return 0;
	}
	if (msg_open(s, j) != 0)
		return -1;
	ps = msgcache_parser_new();
	while ((n = pread(j->fd, chunk, sizeof(chunk), (off_t)off)) > 0) {
		msgcache_feed(ps, span_make(chunk, (size_t)n));
		off += (uint64_t)n;
	}
	buf_reset(&j->built);
	if (n < 0 || msgcache_finish(ps, &j->built) != 0 ||
	    msgcache_open(buf_view(&j->built)) != 0) {
		msgcache_parser_free(&ps);
		return -1;
	}
	msgcache_parser_free(&ps);
	j->blob = buf_view(&j->built);
	j->have_blob = 1;
	return 0;
}

/* "BODY[1.2.HEADER.FIELDS (A B)]<10>" as the response names it. */
static void
item_name(struct buf *b, const struct imap_fetch_item *it)
{
	static const char *const sect[] = { "", "HEADER", "HEADER.FIELDS",
	    "HEADER.FIELDS.NOT", "TEXT", "MIME" };
	const struct imap_arg *f;
	struct span v;
	size_t i;

	switch (it->att) {
	case IMAP_FA_RFC822:
		(void)!buf_addstr(b, "RFC822");
		return;
	case IMAP_FA_RFC822_HEADER:
		(void)!buf_addstr(b, "RFC822.HEADER");
		return;
	case IMAP_FA_RFC822_TEXT:
		(void)!buf_addstr(b, "RFC822.TEXT");
		return;
	case IMAP_FA_BINARY:
		(void)!buf_addstr(b, "BINARY[");
		break;
	case IMAP_FA_BINARY_SIZE:
		(void)!buf_addstr(b, "BINARY.SIZE[");
		break;
	default:
		(void)!buf_addstr(b, "BODY[");
		break;
	}
	for (i = 0; i < it->n_part; i++)
		(void)!buf_addf(b, "%s%u", i ? "." : "", it->part[i]);
	if (it->sect != IMAP_FS_NONE)
		(void)!buf_addf(b, "%s%s", it->n_part ? "." : "",
		    sect[it->sect]);
	if (it->sect == IMAP_FS_HEADER_FIELDS ||
	    it->sect == IMAP_FS_HEADER_FIELDS_NOT) {
		(void)!buf_addstr(b, " (");
		for (f = imap_args_at(it->fields, 0); f != NULL;
		    f = imap_args_next(it->fields, f)) {
			if (imap_arg_astring(f, &v) != 0)
				continue;
			if (f != imap_args_at(it->fields, 0))
				(void)!buf_addstr(b, " ");
			(void)!imap_quote(b, (const char *)v.p, v.n);
		}
		(void)!buf_addstr(b, ")");
	}
	(void)!buf_addstr(b, "]");
	if (it->partial && it->att != IMAP_FA_BINARY_SIZE)
		(void)!buf_addf(b, "<%llu>", (unsigned long long)it->offset);
}

/* <partial> on n bytes: the offset and length to send */
static void
partial(const struct imap_fetch_item *it, uint64_t n, uint64_t *off,
    uint64_t *len)
{
	*off = 0;
	*len = n;
	if (!it->partial)
		return;
	*off = it->offset < n ? it->offset : n;
	*len = n - *off < it->length ? n - *off : it->length;
}

/* A literal from memory: "{n}" CRLF bytes (literal8 "~{n}" if NUL). */
static void
lit_mem(struct buf *b, const struct imap_fetch_item *it, struct span v,
    int nul)
{
	uint64_t off, len;

	partial(it, v.n, &off, &len);
	(void)!buf_addf(b, " %s{%llu}\r\n", nul ? "~" : "",
	    (unsigned long long)len);
	(void)!buf_add(b, v.p + off, (size_t)len);
}

/*
 * One section item.  RANGE plans are streamed from the file (j->streaming
 * set, the caller sends the bytes as the output drains); FILTER reads
 * at most the header; DECODE (BINARY) decodes the part into memory.
 * XXX: BINARY holds the decoded part in memory (up to APPENDLIMIT); a
 * counting first pass would let it stream too.
 * 0, or -1 with the command answered NO (*why).
 */
static int
item_section(struct imap_sess *s, struct imap_fetch_job *j,
    struct mailidx_txn *t, struct buf *b, const struct imap_fetch_item *it,
    const char **why)
{
	struct imap_plan plan;
	struct imap_cte_dec dec;
	struct buf tmp;
	uint8_t chunk[FETCH_CHUNK];
	uint64_t off, len, pos;
	ssize_t n;
	int rc = 0;

	if (msg_open(s, j) != 0 || msg_blob(s, j, t) != 0) {
		*why = "[SERVERBUG] Cannot read the message";
		return -1;
	}
	if (imap_section_plan(j->blob, j->file_size, it, &plan, why) != 0)
		return -1;
	item_name(b, it);
	if (plan.kind == IMAP_PLAN_NONE) {
		(void)!buf_addstr(b, it->att == IMAP_FA_BINARY_SIZE ? " 0" :
		    " \"\"");
		return 0;
	}
	if (plan.kind == IMAP_PLAN_RANGE && it->att != IMAP_FA_BINARY_SIZE) {
		partial(it, plan.len, &off, &len);
		/* BINARY of undecoded bytes may hold NUL: literal8, which
		 * RFC 3516's grammar allows for any BINARY answer */
		(void)!buf_addf(b, " %s{%llu}\r\n", it->att ==
		    IMAP_FA_BINARY ? "~" : "", (unsigned long long)len);
		j->body_off = plan.off + off;
		j->body_left = len;
		j->streaming = len > 0;
		return 0;
	}
	if (plan.kind == IMAP_PLAN_RANGE) {	/* BINARY.SIZE of a range */
		(void)!buf_addf(b, " %llu", (unsigned long long)plan.len);
		return 0;
	}
	buf_init(&tmp, 4096, plan.kind == IMAP_PLAN_FILTER ?
	    2 * IMAP_HEADER_READ_MAX : IMAP_APPEND_MAX);
	if (plan.kind == IMAP_PLAN_FILTER) {
		len = plan.len < IMAP_HEADER_READ_MAX ? plan.len :
		    IMAP_HEADER_READ_MAX;
		uint8_t *hb = xmalloc(len ? len : 1);

		n = pread(j->fd, hb, (size_t)len, (off_t)plan.off);
		rc = n < 0 ? -1 : imap_header_filter(span_make(hb, (size_t)n),
		    it->fields, it->sect == IMAP_FS_HEADER_FIELDS_NOT, &tmp);
		free(hb);
		if (rc == 0)
			lit_mem(b, it, buf_view(&tmp), 0);
		buf_fini(&tmp);
		if (rc != 0)
			*why = "[SERVERBUG] Cannot read the header";
		return rc;
	}
	/* DECODE: BINARY[...] and BINARY.SIZE[...] (RFC 3516) */
	imap_cte_dec_init(&dec, plan.cte);
	for (pos = 0; rc == 0 && pos < plan.len; pos += (uint64_t)n) {
		size_t want = plan.len - pos < sizeof(chunk) ?
		    (size_t)(plan.len - pos) : sizeof(chunk);

		n = pread(j->fd, chunk, want, (off_t)(plan.off + pos));
		if (n <= 0) {
			rc = -1;
			break;
		}
		rc = imap_cte_dec_feed(&dec, span_make(chunk, (size_t)n),
		    pos + (uint64_t)n >= plan.len,
		    it->att == IMAP_FA_BINARY_SIZE ? NULL : &tmp);
	}
	if (rc == 0 && plan.len == 0)
		rc = imap_cte_dec_feed(&dec, span_make(NULL, 0), 1,
		    it->att == IMAP_FA_BINARY_SIZE ? NULL : &tmp);
	if (rc == 0 && it->att == IMAP_FA_BINARY_SIZE)
		(void)!buf_addf(b, " %llu", (unsigned long long)dec.n_out);
	else if (rc == 0)
		lit_mem(b, it, buf_view(&tmp), dec.has_nul);
	buf_fini(&tmp);
	if (rc != 0)
		*why = "[SERVERBUG] Cannot decode the part";
	return rc;
}

/* Stream the current range; 1 done, 0 wait for the output to drain. */
static int
body_stream(struct imap_sess *s, struct imap_fetch_job *j)
{
	uint8_t chunk[FETCH_CHUNK];

	while (j->body_left > 0) {
		size_t want = j->body_left < sizeof(chunk) ?
		    (size_t)j->body_left : sizeof(chunk);
		ssize_t n;

		if (cio_out_pending(s->io) > FETCH_OUT_HIGH)
			return 0;
		do
			n = pread(j->fd, chunk, want, (off_t)j->body_off);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			/* the file shrank or broke: the literal's size was
			 * promised, so the connection cannot go on */
			log_err("conn=%s event=fetch-read-failed", s->id);
			imap_close(s, "message file read failed");
			return 0;
		}
		imap_send(s, chunk, (size_t)n);
		j->body_off += (uint64_t)n;
		j->body_left -= (uint64_t)n;
	}
	j->streaming = 0;
	return 1;
}

/* a job never started */
static void
job_discard(struct imap_fetch_job *j)
{
	buf_fini(&j->built);
	free(j);
}

static void
job_free(struct imap_sess *s)
{
	struct imap_fetch_job *j = s->fetch;

	if (j == NULL)
		return;
	msg_close(j);
	buf_fini(&j->built);
	free(j);
	s->fetch = NULL;
}

/* The items of the current message from j->item on; 1 when the message
 * is done, 0 when waiting inside a body, -1 on an error (*why). */
static int
job_items(struct imap_sess *s, struct imap_fetch_job *j,
    struct mailidx_txn *t, struct buf *b, const char **why)
{
	int utf8 = imap_utf8(s);

	for (; j->item < j->f.n; j->item++) {
		const struct imap_fetch_item *it = &j->f.items[j->item];

		if (j->streaming) {
			imap_send(s, b->data, b->len);
			buf_reset(b);
			if (!body_stream(s, j))
				return 0;
			continue;
		}
		if (j->item > 0)
			(void)!buf_addstr(b, " ");
		switch (it->att) {
		case IMAP_FA_UID:
			(void)!buf_addstr(b, "UID ");
			(void)!buf_addu(b, j->m.uid);
			break;
		case IMAP_FA_FLAGS:
			imap_flags_add(s, t, b, j->m.uid, j->m.flags,
			    j->m.keywords);
			break;
		case IMAP_FA_INTERNALDATE:
			(void)!buf_addstr(b, "INTERNALDATE ");
			date_add(b, j->m.internaldate);
			break;
		case IMAP_FA_RFC822_SIZE:
			(void)!buf_addf(b, "RFC822.SIZE %llu",
			    (unsigned long long)j->m.size);
			break;
		case IMAP_FA_MODSEQ:
			(void)!buf_addf(b, "MODSEQ (%llu)",
			    (unsigned long long)j->m.modseq);
			break;
		case IMAP_FA_SAVEDATE:	/* RFC 8514 */
			(void)!buf_addstr(b, "SAVEDATE ");
			date_add(b, j->m.savedate);
			break;
		case IMAP_FA_EMAILID:	/* RFC 8474 */
		case IMAP_FA_THREADID: {
			char id[IMAP_OBJECTID_LEN + 1];
			int e = it->att == IMAP_FA_EMAILID;
			uint64_t v = e ? j->m.emailid : j->m.threadid;

			imap_objectid_fmt(id, e ? 'M' : 'T', v);
			if (v == 0)
				(void)!buf_addf(b, "%s NIL", e ? "EMAILID" :
				    "THREADID");
			else
				(void)!buf_addf(b, "%s (%s)", e ? "EMAILID" :
				    "THREADID", id);
			break;
		}
		case IMAP_FA_ENVELOPE:
			(void)!buf_addstr(b, "ENVELOPE ");
			if (msg_blob(s, j, t) != 0 || imap_render_envelope(
			    j->blob, 0, utf8, b) != 0) {
				*why = "[SERVERBUG] Cannot read the message";
				return -1;
			}
			break;
		case IMAP_FA_BODY:
		case IMAP_FA_BODYSTRUCTURE:
			(void)!buf_addstr(b, it->att == IMAP_FA_BODY ?
			    "BODY " : "BODYSTRUCTURE ");
			if (msg_blob(s, j, t) != 0 || imap_render_body(j->blob,
			    it->att == IMAP_FA_BODYSTRUCTURE, utf8, b) != 0) {
				*why = "[SERVERBUG] Cannot read the message";
				return -1;
			}
			break;
		default:
			if (item_section(s, j, t, b, it, why) != 0)
				return -1;
			if (j->streaming) {
				imap_send(s, b->data, b->len);
				buf_reset(b);
				if (!body_stream(s, j))
					return 0;
			}
			break;
		}
	}
	return 1;
}

/* Run the job until done (tagged OK) or the output is full. */
static void
job_run(struct imap_sess *s)
{
	struct imap_fetch_job *j = s->fetch;
	struct mailidx_txn *t;
	const char *why = NULL;
	struct buf b;
	uint32_t v;
	int rc;

	/* a blob from the index lived in the previous transaction */
	if (j->have_blob && j->blob.p != j->built.data)
		j->have_blob = 0;
	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0) {
		if (j->in_msg) {
			imap_close(s, "index read failed");
			return;
		}
		job_free(s);
		imap_no(s, "[SERVERBUG] Cannot read the index");
		imap_wait_end(s);
		return;
	}
	buf_init(&b, 1024, (size_t)1 << 20);
	for (;;) {
		if (s->state == IMAP_S_LOGOUT)
			break;
		if (!j->in_msg) {
			if (cio_out_pending(s->io) > FETCH_OUT_HIGH)
				break;
			if (!imap_seq_iter_next(&j->set, &j->it, &v)) {
				int uid = j->uid;

				mailidx_txn_abort(&t);
				imap_send(s, b.data, b.len);
				buf_fini(&b);
				job_free(s);
				imap_ok(s, "%sFETCH completed", uid ? "UID " :
				    "");
				imap_wait_end(s);
				return;
			}
			if (j->uid) {
				/* 1:* asks for the UIDs in order: the next
				 * message is most often the next UID */
				if (j->msn < s->sel->n &&
				    s->sel->uids[j->msn] == v)
					j->msn++;
				else if ((j->msn = imap_sel_msn(s->sel, v)) ==
				    0)
					continue;
			} else
				j->msn = v;
			/* expunged by another session, not yet told: RFC
			 * 9051 7.5.1 lets it be left out */
			if (mailidx_msg_get(t, s->sel->mbox_id,
			    s->sel->uids[j->msn - 1], &j->m) != 1)
				continue;
			/* RFC 7162 3.1.4.1 */
			if (j->f.changedsince &&
			    j->m.modseq <= j->f.changedsince_modseq)
				continue;
			j->in_msg = 1;
			j->item = 0;
			(void)!buf_addstr(&b, "* ");
			(void)!buf_addu(&b, j->msn);
			(void)!buf_addstr(&b, " FETCH (");
		}
		rc = job_items(s, j, t, &b, &why);
		if (rc == 0)
			break;
		if (rc < 0) {
			/* the response is cut: a FETCH's answer for one
			 * message cannot be taken back; RFC 9051 7.5.2 has
			 * no way out but NO after it.  Before any of it was
			 * sent, the message is just left out. */
			log_warn("conn=%s event=fetch-item-failed uid=%u "
			    "reason=\"%s\"", s->id, j->m.uid, why);
			(void)!buf_addstr(&b, ")\r\n");
			imap_send(s, b.data, b.len);
			buf_reset(&b);
			msg_close(j);
			j->in_msg = 0;
			mailidx_txn_abort(&t);
			buf_fini(&b);
			job_free(s);
			imap_no(s, "%s", why);
			imap_wait_end(s);
			return;
		}
		(void)!buf_addstr(&b, ")\r\n");
		imap_send(s, b.data, b.len);
		buf_reset(&b);
		msg_close(j);
		j->in_msg = 0;
	}
	imap_send(s, b.data, b.len);
	buf_fini(&b);
	mailidx_txn_abort(&t);
}

void
imap_fetch_drained(struct imap_sess *s)
{
	if (s->fetch != NULL && s->wait == IMAP_W_OUTPUT)
		job_run(s);
}

void
imap_fetch_stop(struct imap_sess *s)
{
	job_free(s);
}

struct van_ctx {
	const struct imap_seq *set;
	struct buf uids;
};

static int
van_fn(uint32_t uid, void *arg)
{
	struct van_ctx *c = arg;

	if (imap_seq_contains(c->set, uid))
		(void)!buf_add(&c->uids, &uid, sizeof(uid));
	return 0;
}

/* RFC 7162 3.2.6: UID FETCH (CHANGEDSINCE m VANISHED) first tells the
 * UIDs of the set expunged since m. */
static void
fetch_vanished(struct imap_sess *s, struct imap_fetch_job *j)
{
	struct van_ctx c = { &j->set, { 0 } };
	struct mailidx_txn *t;
	const char *why = NULL;
	struct buf b;

	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0)
		return;
	buf_init(&c.uids, 256, (size_t)64 << 20);
	(void)mailidx_vanished(t, s->sel->mbox_id, j->f.changedsince_modseq,
	    van_fn, &c);
	mailidx_txn_abort(&t);
	if (c.uids.len > 0) {
		buf_init(&b, 256, (size_t)64 << 20);
		(void)!buf_addstr(&b, "* VANISHED (EARLIER) ");
		imap_uidset_add(&b, (const uint32_t *)(void *)c.uids.data,
		    c.uids.len / sizeof(uint32_t));
		(void)!buf_addstr(&b, "\r\n");
		imap_send(s, b.data, b.len);
		buf_fini(&b);
	}
	buf_fini(&c.uids);
}

void
imap_cmd_fetch(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *a = imap_args_at(args, 0);
	struct imap_fetch_job *j;
	const char *why = NULL;
	size_t i;
	int seen = 0;

	if (a == NULL || a->type != IMAP_ARG_ATOM ||
	    imap_args_next(args, a) == NULL) {
		imap_bad(s, "FETCH takes a sequence set and data items");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->fd = -1;
	buf_init(&j->built, 4096, (size_t)16 << 20);
	j->uid = uid;
	imap_seq_init(&j->set, j->r, FETCH_RANGES_MAX);
	if (imap_sel_seq(s, &j->set, a->s, uid, &why) != 0) {
		job_discard(j);
		imap_bad(s, "Bad sequence set: %s", why);
		return;
	}
	if (imap_fetch_parse(imap_args_rest(args, imap_args_next(args, a)),
	    uid, j->items, FETCH_ITEMS_MAX, &j->f, &why) != 0) {
		job_discard(j);
		imap_bad(s, "%s", why);
		return;
	}
	for (i = 0; i < j->f.n; i++) {
		const struct imap_fetch_item *it = &j->f.items[i];

		if (it->att == IMAP_FA_MODSEQ)
			s->enabled |= IMAP_EN_CONDSTORE;	/* 3.1 */
		/* RFC 9051 6.4.5: these set \Seen unless PEEK */
		if ((it->att == IMAP_FA_BODY_SECTION ||
		    it->att == IMAP_FA_BINARY || it->att == IMAP_FA_RFC822 ||
		    it->att == IMAP_FA_RFC822_TEXT) && !it->peek)
			seen = 1;
	}
	if (j->f.vanished && !(s->enabled & IMAP_EN_QRESYNC)) {
		job_discard(j);
		imap_bad(s, "VANISHED needs ENABLE QRESYNC first");
		return;
	}
	if (j->f.changedsince || (s->enabled & IMAP_EN_CONDSTORE)) {
		/* RFC 7162 3.1.4.1, 3.1.2: MODSEQ comes with the answer */
		s->enabled |= IMAP_EN_CONDSTORE;
		for (i = 0; i < j->f.n && j->f.items[i].att != IMAP_FA_MODSEQ;
		    i++)
			;
		if (i == j->f.n && j->f.changedsince &&
		    j->f.n < FETCH_ITEMS_MAX) {
			memset(&j->items[j->f.n], 0, sizeof(j->items[0]));
			j->items[j->f.n++].att = IMAP_FA_MODSEQ;
		}
	}
	/* RFC 9051 6.4.5: a sequence number past the end is BAD */
	if (!uid && imap_seq_max(&j->set) > s->sel->n) {
		job_discard(j);
		imap_bad(s, "Message sequence number out of range");
		return;
	}
	if (imap_sel_dir(s, s->sel->name, j->root, sizeof(j->root)) != 0) {
		job_discard(j);
		imap_no(s, "[SERVERBUG] Bad mailbox");
		return;
	}
	/* RFC 9051 6.4.5: BODY[] sets \Seen; the FLAGS are then told */
	if (seen && !s->sel->readonly) {
		imap_mark_seen(s, &j->set, uid);
		for (i = 0; i < j->f.n && j->f.items[i].att != IMAP_FA_FLAGS;
		    i++)
			;
		if (i == j->f.n && j->f.n < FETCH_ITEMS_MAX) {
			memset(&j->items[j->f.n], 0, sizeof(j->items[0]));
			j->items[j->f.n++].att = IMAP_FA_FLAGS;
		}
	}
	if (j->f.vanished)
		fetch_vanished(s, j);
	imap_seq_iter_init(&j->it);
	s->fetch = j;
	imap_wait_begin(s, IMAP_W_OUTPUT, 0);
	job_run(s);
}
