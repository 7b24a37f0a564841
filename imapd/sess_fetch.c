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
#include "imapd/imap_fetchatt.h"
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
	int fd;			/* body being sent, -1 */
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

/* The whole message (BODY[], RFC822) with <partial>: what it sends. */
static int
is_whole(const struct imap_fetch_item *it)
{
	return it->att == IMAP_FA_RFC822 ||
	    (it->att == IMAP_FA_BODY_SECTION && it->n_part == 0 &&
	    it->sect == IMAP_FS_NONE);
}

static void
body_name(struct buf *b, const struct imap_fetch_item *it)
{
	if (it->att == IMAP_FA_RFC822)
		(void)!buf_addstr(b, "RFC822");
	else if (it->partial)
		(void)!buf_addf(b, "BODY[]<%llu>",
		    (unsigned long long)it->offset);
	else
		(void)!buf_addstr(b, "BODY[]");
}

/* Open the body of the current item: its literal header, then the
 * bytes to stream (a file gone sends an empty literal). */
static void
body_begin(struct imap_sess *s, struct imap_fetch_job *j, struct buf *b,
    const struct imap_fetch_item *it)
{
	char p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	uint64_t size = j->m.size, off = 0, len;

	snprintf(p, sizeof(p), "%s/%s", j->root, j->m.file);
	j->fd = open(p, O_RDONLY | O_CLOEXEC);
	if (j->fd >= 0) {
		off_t end = lseek(j->fd, 0, SEEK_END);

		size = end > 0 ? (uint64_t)end : 0;
	} else {
		log_warn_errno("conn=%s event=fetch-open-failed file=%s",
		    s->id, p);
		size = 0;
	}
	len = size;
	if (it->partial) {
		off = it->offset < size ? it->offset : size;
		len = size - off < it->length ? size - off : it->length;
	}
	body_name(b, it);
	(void)!buf_addf(b, " {%llu}\r\n", (unsigned long long)len);
	j->body_off = off;
	j->body_left = len;
	if (len == 0 && j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
}

/* Stream the body; 1 done, 0 wait for the output to drain. */
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
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	return 1;
}

static void
job_free(struct imap_sess *s)
{
	struct imap_fetch_job *j = s->fetch;

	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	s->fetch = NULL;
}

/* The items of the current message from j->item on; 1 when the message
 * is done, 0 when waiting inside a body. */
static int
job_items(struct imap_sess *s, struct imap_fetch_job *j,
    struct mailidx_txn *t, struct buf *b)
{
	for (; j->item < j->f.n; j->item++) {
		const struct imap_fetch_item *it = &j->f.items[j->item];

		if (j->fd >= 0 || j->body_left > 0) {
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
			(void)!buf_addf(b, "UID %u", j->m.uid);
			break;
		case IMAP_FA_FLAGS:
			imap_flags_add(s, t, b, j->m.flags, j->m.keywords);
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
		default:
			body_begin(s, j, b, it);
			imap_send(s, b->data, b->len);
			buf_reset(b);
			if (!body_stream(s, j))
				return 0;
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
				if ((j->msn = imap_sel_msn(s->sel, v)) == 0)
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
			(void)!buf_addf(&b, "* %u FETCH (", j->msn);
		}
		if (!job_items(s, j, t, &b))
			break;
		(void)!buf_addstr(&b, ")\r\n");
		imap_send(s, b.data, b.len);
		buf_reset(&b);
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
	j->uid = uid;
	imap_seq_init(&j->set, j->r, FETCH_RANGES_MAX);
	if (imap_seq_parse(&j->set, a->s, uid ? (s->sel->n ?
	    s->sel->uids[s->sel->n - 1] : 0) : s->sel->n, 0, &why) != 0) {
		free(j);
		imap_bad(s, "Bad sequence set: %s", why);
		return;
	}
	if (imap_fetch_parse(imap_args_rest(args, imap_args_next(args, a)),
	    uid, j->items, FETCH_ITEMS_MAX, &j->f, &why) != 0) {
		free(j);
		imap_bad(s, "%s", why);
		return;
	}
	for (i = 0; i < j->f.n; i++) {
		const struct imap_fetch_item *it = &j->f.items[i];

		if (it->att == IMAP_FA_MODSEQ)
			s->enabled |= IMAP_EN_CONDSTORE;	/* 3.1 */
		if (it->att == IMAP_FA_UID || it->att == IMAP_FA_FLAGS ||
		    it->att == IMAP_FA_INTERNALDATE ||
		    it->att == IMAP_FA_RFC822_SIZE ||
		    it->att == IMAP_FA_MODSEQ)
			continue;
		if (!is_whole(it)) {
			/* XXX: ENVELOPE, BODY(STRUCTURE), sections, BINARY:
			 * imap_render (feat/imaprender) */
			imap_no(s, "[CANNOT] %s is not served yet",
			    imap_fatt_name(it->att));
			free(j);
			return;
		}
		if (!it->peek)
			seen = 1;
	}
	if (j->f.vanished) {
		free(j);
		imap_bad(s, "VANISHED needs QRESYNC, which is not offered");
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
		free(j);
		imap_bad(s, "Message sequence number out of range");
		return;
	}
	if (imap_sel_dir(s, s->sel->name, j->root, sizeof(j->root)) != 0) {
		free(j);
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
	imap_seq_iter_init(&j->it);
	s->fetch = j;
	imap_wait_begin(s, IMAP_W_OUTPUT, 0);
	job_run(s);
}
