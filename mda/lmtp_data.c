/* LMTP DATA: the message into an unlinked temporary file, deliveries on the workers, one reply per recipient in order. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#include "common/cfg.h"
#include "common/cio.h"
#include "common/log.h"
#include "mda/lmtp_priv.h"

/*
 * Where the message waits until the workers copy it into the Maildirs:
 * an anonymous memory file (nothing here is durable, the queue keeps the
 * message until our 250), else a file on the store's file system,
 * unlinked at once: a crash leaves nothing behind.  Not a disk file
 * first: creating and deleting an inode per message makes every later
 * inode allocation slower on ext4 without a journal, which skips inodes
 * freed in the last seconds.
 */
static int
tmp_open(struct lmtp_sess *s)
{
	char path[4096];
	int fd;

	if ((fd = memfd_create("lmtp-data", MFD_CLOEXEC)) >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/lmtp.XXXXXX", s->srv->tmp_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
		log_err_errno("conn=%s event=tmp-open-failed dir=%s", s->id,
		    s->srv->tmp_dir);
		return -1;
	}
	(void)unlink(path);
	return fd;
}

/* XXX: write(2) to the temporary file runs on the loop, as smtpd's spool
 * writes do: it lands in the page cache (nothing here is fsynced). */
static void
tmp_flush(struct lmtp_sess *s)
{
	size_t off = 0;

	while (off < s->out.len && s->write_err == 0) {
		ssize_t w = write(s->tfd, s->out.data + off, s->out.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->write_err = errno;
			log_err("conn=%s event=tmp-write-failed error=\"%s\"",
			    s->id, strerror(errno));
			break;
		}
		off += (size_t)w;
		s->written += (uint64_t)w;
	}
	buf_reset(&s->out);
}

void
lmtp_cmd_data(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	if (s->state != LMTP_S_RCPT || s->n_rcpts == 0) {
		/* RFC 2033 4.2: 503 without a successful RCPT */
		lmtp_reply(s, 503, "5.5.1", s->state == LMTP_S_MAIL ?
		    "No valid recipients" : "Need RCPT before DATA");
		return;
	}
	if ((s->tfd = tmp_open(s)) < 0) {
		lmtp_reply(s, 451, "4.3.0", "Temporary file unavailable; try "
		    "again later");
		return;
	}
	smtp_data_init(&s->data, lmtp_max_size(s));
	lmtp_set_state(s, LMTP_S_DATA);
	cio_set_raw(s->io, 1);
	cio_set_deadline(s->io, s->srv->cfg->smtpd.data_timeout_ms / 1000.0);
	lmtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* Send every reply that is ready, in RCPT order; after the last one the
 * transaction is over. */
static void
replies_flush(struct lmtp_sess *s)
{
	size_t from = s->next_reply, n, i;

	n = mda_order_take(s->done, s->n_rcpts, &s->next_reply);
	for (i = from; i < from + n; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];

		lmtp_reply(s, r->code, r->enh, "%s", r->text);
	}
	if (s->next_reply < s->n_rcpts)
		return;
	lmtp_txn_reset(s);
	if (s->state != LMTP_S_QUIT)
		cio_resume(s->io);
	lmtp_maybe_stop(s);
}

/* The same reply for every recipient (the message itself was refused). */
static void
replies_all(struct lmtp_sess *s, int code, const char *enh, const char *text)
{
	size_t i;

	for (i = 0; i < s->n_rcpts; i++)
		lmtp_reply(s, code, enh, "%s", text);
	lmtp_txn_reset(s);
	lmtp_maybe_stop(s);
}

static void
deliver_run(struct wpool_job *job)
{
	struct lmtp_rcpt *r = (struct lmtp_rcpt *)job;
	struct lmtp_sess *s = r->s;
	char esc[1024];
	size_t i, o = 0;
	int full = 0, tempf = 0;

	r->text[0] = '\0';
	log_escape(span_cstr(r->addr), esc, sizeof(esc));
	for (i = 0; i < r->res->n; i++) {
		const struct mda_target *t = &r->res->t[i];
		const char *why = NULL;
		uint32_t uid = 0;
		enum mda_status st;

		st = mda_store_deliver(s->srv->st, t, s->tfd, s->written,
		    s->from, r->addr, &uid, &why);
		if (st == MDA_OK) {
			log_info("conn=%s event=delivered rcpt=<%s> "
			    "mailbox=%s uid=%u size=%llu", s->id, esc,
			    t->address, uid, (unsigned long long)s->written);
			if (o < sizeof(r->text))
				o += (size_t)snprintf(r->text + o,
				    sizeof(r->text) - o, "%s%s INBOX uid %u",
				    o ? ", " : "Ok: delivered to ",
				    t->address, uid);
		} else if (st == MDA_FULL) {
			log_info("conn=%s event=over-quota rcpt=<%s> "
			    "mailbox=%s", s->id, esc, t->address);
			full = 1;
		} else {
			log_err("conn=%s event=delivery-failed rcpt=<%s> "
			    "mailbox=%s reason=\"%s\"", s->id, esc,
			    t->address, why);
			tempf = 1;
		}
	}
	/* XXX: with several mailboxes (an alias) a partial failure is
	 * answered 4xx and the retry delivers the others again. */
	if (tempf) {
		r->code = 451;
		snprintf(r->enh, sizeof(r->enh), "4.3.0");
		snprintf(r->text, sizeof(r->text), "<%s>: Delivery failed; "
		    "try again later", r->addr);
	} else if (full) {
		r->code = 452;
		snprintf(r->enh, sizeof(r->enh), "4.2.2");
		snprintf(r->text, sizeof(r->text), "<%s>: Mailbox full",
		    r->addr);
	} else {
		r->code = 250;
		snprintf(r->enh, sizeof(r->enh), "2.0.0");
		if (r->res->n == 0)
			snprintf(r->text, sizeof(r->text), "Ok: no local "
			    "mailbox (forwards are the queue's)");
	}
}

static void
deliver_done(struct wpool_job *job)
{
	struct lmtp_rcpt *r = (struct lmtp_rcpt *)job;
	struct lmtp_sess *s = r->s;
	size_t i;

	for (i = 0; i < s->n_rcpts && s->rcpts[i] != r; i++)
		;
	BUG_ON(i == s->n_rcpts);
	s->done[i] = 1;
	if (lmtp_job_end(s))
		return;
	replies_flush(s);
}

/* End of data: refuse the message for all, or deliver to each. */
static void
message_end(struct lmtp_sess *s)
{
	unsigned flags = s->data.flags;
	size_t i;

	tmp_flush(s);
	if (flags & SMTP_DATA_TOO_BIG) {
		replies_all(s, 552, "5.3.4", "Message size exceeds fixed "
		    "maximum message size");
		return;
	}
	if (flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR | SMTP_DATA_NUL)) {
		replies_all(s, 550, "5.6.0", "Bare CR, LF or NUL in message: "
		    "lines must end with CRLF");
		return;
	}
	if (s->write_err) {
		replies_all(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	lmtp_set_state(s, LMTP_S_DELIVER);
	cio_pause(s->io);
	memset(s->done, 0, s->n_rcpts);
	s->next_reply = 0;
	for (i = 0; i < s->n_rcpts; i++) {
		struct lmtp_rcpt *r = s->rcpts[i];

		r->job.run = deliver_run;
		r->job.done = deliver_done;
		s->jobs++;
		wpool_submit(s->srv->pool, &r->job);
	}
}

size_t
lmtp_data_input(struct lmtp_sess *s, struct span in)
{
	uint8_t *t;
	size_t used = 0, outn = 0;
	enum parse_rc rc;

	if (s->state != LMTP_S_DATA)
		return 0;
	if (in.n > LMTP_FEED_MAX)
		in.n = LMTP_FEED_MAX;
	if (s->out.len + in.n + 1 > s->out.max)
		tmp_flush(s);
	t = buf_reserve(&s->out, in.n + 1);
	BUG_ON(t == NULL);
	rc = smtp_data_feed(&s->data, in, t, &outn, &used);
	if (!(s->data.flags & SMTP_DATA_REFUSE))
		buf_commit(&s->out, outn);
	if (s->out.len >= LMTP_FLUSH)
		tmp_flush(s);
	if (rc == PARSE_OK) {
		cio_set_raw(s->io, 0);
		cio_set_deadline(s->io, 0);
		message_end(s);
	}
	return used;
}
