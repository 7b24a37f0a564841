/* DATA and BDAT: the spool file from queued, the Received: header, streaming, commit. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/smtpd.h"

/* Flush to the spool file once this much is buffered. */
#define SPOOL_FLUSH (64u * 1024u)
/* Hand the DATA reader at most this much input at once (s->out room). */
#define DATA_FEED_MAX (64u * 1024u)

/*
 * XXX: write(2) to a regular file runs on the loop.  It lands in the page
 * cache and does not wait for the disk (the fsync is queued's, on its
 * worker threads); a full disk shows up as an error here, not a stall.
 */
static void
spool_flush(struct smtp_sess *s)
{
	size_t off = 0;

	while (off < s->out.len && s->write_err == 0) {
		ssize_t w = write(s->qfd, s->out.data + off, s->out.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->write_err = errno;
			log_err("conn=%s event=spool-write-failed id=%s "
			    "error=\"%s\"", s->id, s->qid, strerror(errno));
			break;
		}
		off += (size_t)w;
		s->written += (uint64_t)w;
	}
	buf_reset(&s->out);
}

static void
spool_add(struct smtp_sess *s, const void *p, size_t n)
{
	if (s->write_err)
		return;
	if (s->out.len + n > s->out.max)
		spool_flush(s);
	if (n > s->out.max) {
		/* cannot happen: callers bound n */
		s->write_err = EFBIG;
		return;
	}
	if (buf_add(&s->out, p, n) != 0)
		s->write_err = ENOMEM;
	if (s->out.len >= SPOOL_FLUSH)
		spool_flush(s);
}

void
smtp_spool_abort(struct smtp_sess *s)
{
	struct ipc_msg m;

	if (s->qfd >= 0)
		close(s->qfd);
	s->qfd = -1;
	if (s->qid[0] != '\0') {
		ipc_msg_init(&m, IPC_QUEUE_ABORT, 0);
		if (ipc_put_cstr(&m, s->qid) != 0 || ipc_msg_finish(&m) != 0 ||
		    ipcc_send(s->d->queued, &m) != 0)
			log_warn("conn=%s event=abort-not-sent id=%s", s->id,
			    s->qid);
		else
			log_info("conn=%s event=aborted id=%s", s->id, s->qid);
		ipc_msg_fini(&m);
	}
	s->qid[0] = '\0';
	s->written = 0;
	s->write_err = 0;
	buf_reset(&s->out);
}

/* RFC 3848 names for the "with" clause. */
static const char *
received_proto(const struct smtp_sess *s)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][auth] */
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};

	if (!s->esmtp)
		return "SMTP";
	return names[s->smtputf8 != 0][cio_tls_active(s->io) != 0]
	    [s->user[0] != '\0'];
}

/* The envelope, then our Received: header (RFC 5321 4.4). */
static int
spool_head(struct smtp_sess *s)
{
	const struct cfg *cfg = s->d->cfg;
	struct envelope_rcpt *er = xcalloc(s->n_rcpts, sizeof(*er));
	const char *tb = (const char *)s->txn_buf.data;
	struct envelope e;
	struct buf h;
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	size_t i;
	int rc = 0;

	memset(&e, 0, sizeof(e));
	e.id = span_cstr(s->qid);
	e.arrival = (int64_t)now;
	e.from = s->null_sender ? span_make("", 0) : span_make(tb, s->from_len);
	e.body = s->body;
	e.smtputf8 = s->smtputf8;
	e.ret = s->ret;
	e.envid = span_make(tb + s->envid_off, s->envid_len);
	e.auth = span_cstr(s->user);
	e.client_ip = span_cstr(s->ip);
	e.helo = span_cstr(s->helo);
	for (i = 0; i < s->n_rcpts; i++) {
		er[i].addr = span_make(tb + s->rcpts[i].addr_off,
		    s->rcpts[i].addr_len);
		er[i].orcpt = span_make(tb + s->rcpts[i].orcpt_off,
		    s->rcpts[i].orcpt_len);
		er[i].notify = s->rcpts[i].notify;
	}
	e.rcpts = er;
	e.n_rcpts = s->n_rcpts;
	buf_init(&h, 1024, ENVELOPE_MAX_BYTES + 4096);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (envelope_write(&e, &h) != 0 ||
	    buf_addf(&h, "Received: from %s ([%s])\r\n\tby %s (Letterbox) "
	    "with %s id %s", s->helo, s->ip, cfg->hostname,
	    received_proto(s), s->qid) != 0 ||
	    (cio_tls_active(s->io) && buf_addf(&h, "\r\n\t(using %s with "
	    "cipher %s)", cio_tls_version(s->io),
	    cio_tls_cipher(s->io)) != 0) ||
	    (cfg->smtpd.received_auth && s->user[0] != '\0' &&
	    buf_addf(&h, "\r\n\t(authenticated as %s)", s->user) != 0) ||
	    (s->n_rcpts == 1 && buf_addf(&h, "\r\n\tfor <%.*s>",
	    (int)er[0].addr.n, (const char *)er[0].addr.p) != 0) ||
	    buf_addf(&h, ";\r\n\t%s\r\n", date) != 0)
		rc = -1;
	free(er);
	if (rc == 0) {
		/* the head may pass s->out's cap: write it directly */
		buf_reset(&s->out);
		while (h.len > 0 && s->write_err == 0) {
			size_t n = h.len < SPOOL_FLUSH ? h.len : SPOOL_FLUSH;

			spool_add(s, h.data, n);
			buf_consume(&h, n);
		}
	}
	buf_fini(&h);
	return rc;
}

static void commit_cb(void *arg, const struct ipc_hdr *hdr,
    struct span payload, int fd, const char *why);

/* The end of the message: refuse it, or ask queued to make it durable. */
static void
message_end(struct smtp_sess *s, unsigned flags)
{
	struct ipc_msg m;
	uint64_t id;

	spool_flush(s);
	if (flags & SMTP_DATA_TOO_BIG) {
		smtp_txn_reset(s);
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed "
		    "maximum message size");
		return;
	}
	if (flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR)) {
		/* SMTP smuggling defence: such a message is never queued. */
		log_notice("conn=%s event=bare-newline-refused id=%s", s->id,
		    s->qid);
		smtp_txn_reset(s);
		smtp_reply_err(s, 550, "5.6.0", "Bare CR or LF in message: "
		    "lines must end with CRLF");
		return;
	}
	if (flags & SMTP_DATA_NUL) {
		smtp_txn_reset(s);
		smtp_reply_err(s, 550, "5.6.0", "NUL byte in message");
		return;
	}
	if (s->write_err) {
		smtp_txn_reset(s);
		smtp_reply(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	ipc_msg_init(&m, IPC_QUEUE_COMMIT, 0);
	if (ipc_put_cstr(&m, s->qid) != 0 || ipc_put_u64(&m, s->written) ||
	    ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->queued, &m, commit_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		smtp_txn_reset(s);
		smtp_reply(s, 451, "4.3.0", "Queue unavailable; try again "
		    "later");
		return;
	}
	ipc_msg_fini(&m);
	smtp_wait_begin(s, SMTP_W_COMMIT, id);
}

static void
commit_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct smtp_sess *s = arg;
	char qid[17], esc[1024];

	smtp_wait_end(s);
	if (hdr == NULL || hdr->type != IPC_QUEUE_COMMITTED) {
		log_err("conn=%s event=commit-failed id=%s reason=\"%s\"",
		    s->id, s->qid, hdr == NULL ? why : "refused by queued");
		smtp_txn_reset(s);
		smtp_reply(s, 451, "4.3.0", "Queue write failed; try again "
		    "later");
		return;
	}
	/* Durable now: forget the file without aborting it. */
	snprintf(qid, sizeof(qid), "%s", s->qid);
	close(s->qfd);
	s->qfd = -1;
	s->qid[0] = '\0';
	log_info("conn=%s event=queued id=%s from=<%s> rcpts=%zu "
	    "size=%llu", s->id, qid, log_escape(span_make(s->txn_buf.data,
	    s->from_len), esc, sizeof(esc)), s->n_rcpts,
	    (unsigned long long)s->msg_size);
	smtp_txn_reset(s);
	smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
}

static void data_begin(struct smtp_sess *s);
static void bdat_begin(struct smtp_sess *s);

static void
create_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct smtp_sess *s = arg;
	struct ipc_reader r;
	struct span id;
	int bdat = s->wait == SMTP_W_CREATE && s->bdat_started;

	smtp_wait_end(s);
	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_QUEUE_CREATED || fd < 0 ||
	    ipc_get_str(&r, &id, 16) != 0 || id.n != 16 ||
	    ipc_get_end(&r) != 0) {
		if (fd >= 0)
			close(fd);
		log_err("conn=%s event=spool-create-failed reason=\"%s\"",
		    s->id, hdr == NULL ? why : "refused by queued");
		if (bdat) {
			/* the chunk must still be read (RFC 3030 2) */
			s->bdat_err_code = 451;
			s->bdat_err_enh = "4.3.0";
			s->bdat_err_text = "Queue unavailable; try again later";
			bdat_begin(s);
			return;
		}
		smtp_reply(s, 451, "4.3.0", "Queue unavailable; try again "
		    "later");
		return;
	}
	memcpy(s->qid, id.p, 16);
	s->qid[16] = '\0';
	s->qfd = fd;
	s->written = 0;
	s->write_err = 0;
	if (spool_head(s) != 0)
		s->write_err = EINVAL;
	if (bdat)
		bdat_begin(s);
	else
		data_begin(s);
}

/* Ask queued for a spool file; the answer continues in create_cb. */
static int
spool_create(struct smtp_sess *s)
{
	struct ipc_msg m;
	uint64_t id;

	ipc_msg_init(&m, IPC_QUEUE_CREATE, 0);
	if (ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->queued, &m, create_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		return -1;
	}
	ipc_msg_fini(&m);
	smtp_wait_begin(s, SMTP_W_CREATE, id);
	return 0;
}

static void
data_begin(struct smtp_sess *s)
{
	smtp_data_init(&s->data, s->d->cfg->smtpd.max_message_size);
	smtp_set_state(s, SMTP_S_DATA);
	cio_set_raw(s->io, 1);
	cio_set_deadline(s->io, s->d->cfg->smtpd.data_timeout_ms / 1000.0);
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

void
smtp_cmd_data(struct smtp_sess *s, const struct smtp_cmd *c)
{
	if (s->state == SMTP_S_MAIL && !s->bdat_started) {
		smtp_reply_err(s, 554, "5.5.1", "No valid recipients");
		return;
	}
	if (s->state != SMTP_S_RCPT || s->bdat_started) {
		smtp_reply_err(s, 503, "5.5.1", s->bdat_started ?
		    "DATA after BDAT in one transaction" :
		    "Need RCPT before DATA");
		return;
	}
	if (spool_create(s) != 0)
		smtp_reply(s, 451, "4.3.0", "Queue unavailable; try again "
		    "later");
}

/* DATA: run the reader over what came in, spool what it yields. */
static size_t
data_input(struct smtp_sess *s, struct span in)
{
	uint8_t *t;
	size_t used = 0, outn = 0;
	enum parse_rc rc;

	if (in.n > DATA_FEED_MAX)
		in.n = DATA_FEED_MAX;
	spool_flush(s);
	t = buf_reserve(&s->out, in.n + 1);
	BUG_ON(t == NULL);
	rc = smtp_data_feed(&s->data, in, t, &outn, &used);
	if (!(s->data.flags & SMTP_DATA_REFUSE))
		buf_commit(&s->out, outn);
	s->msg_size = s->data.size;
	if (rc == PARSE_OK) {
		cio_set_raw(s->io, 0);
		cio_set_deadline(s->io, 0);
		smtp_set_state(s, SMTP_S_RCPT);
		message_end(s, s->data.flags);
	}
	return used;
}

/* BDAT: the chunk header is parsed; read bdat_left bytes. */
static void bdat_chunk_end(struct smtp_sess *s);

static void
bdat_begin(struct smtp_sess *s)
{
	smtp_set_state(s, SMTP_S_BDAT);
	if (s->bdat_left == 0) {
		bdat_chunk_end(s);	/* "BDAT 0 LAST" has no bytes */
		return;
	}
	cio_set_raw(s->io, 1);
	cio_set_deadline(s->io, s->d->cfg->smtpd.data_timeout_ms / 1000.0);
}

static void
bdat_chunk_end(struct smtp_sess *s)
{
	unsigned flags;

	cio_set_raw(s->io, 0);
	cio_set_deadline(s->io, 0);
	smtp_set_state(s, s->n_rcpts ? SMTP_S_RCPT : SMTP_S_MAIL);
	if (s->bdat_err_code) {
		int code = s->bdat_err_code;

		/* a refused chunk ends the transaction */
		smtp_txn_reset(s);
		smtp_reply_err(s, code, s->bdat_err_enh, "%s",
		    s->bdat_err_text);
		return;
	}
	flags = s->bdat_flags | smtp_bdat_scan(&s->bdat_prev_cr,
	    span_make(NULL, 0), s->bdat_last);
	if (s->bdat_last) {
		message_end(s, flags);
		return;
	}
	smtp_reply(s, 250, "2.0.0", "%llu octets received",
	    (unsigned long long)s->msg_size);
}

static size_t
bdat_input(struct smtp_sess *s, struct span in)
{
	const uint64_t max = s->d->cfg->smtpd.max_message_size;
	size_t n = in.n < s->bdat_left ? in.n : (size_t)s->bdat_left;

	if (n > DATA_FEED_MAX)
		n = DATA_FEED_MAX;
	in.n = n;
	s->bdat_left -= n;
	if (s->bdat_err_code == 0) {
		s->bdat_flags |= smtp_bdat_scan(&s->bdat_prev_cr, in, 0);
		if (s->msg_size + n > max)
			s->bdat_flags |= SMTP_DATA_TOO_BIG;
		s->msg_size += n;
		if (!(s->bdat_flags & SMTP_DATA_REFUSE))
			spool_add(s, in.p, n);
	}
	if (s->bdat_left == 0)
		bdat_chunk_end(s);
	return n;
}

size_t
smtp_data_input(struct smtp_sess *s, struct span in)
{
	if (s->state == SMTP_S_DATA)
		return data_input(s, in);
	if (s->state == SMTP_S_BDAT)
		return bdat_input(s, in);
	return 0;
}

void
smtp_cmd_bdat(struct smtp_sess *s, const struct smtp_cmd *c)
{
	s->bdat_left = c->chunk_size;
	s->bdat_last = c->last;
	/* Whatever happens, the chunk's bytes follow and must be read
	 * before the reply (RFC 3030 2, 4.2). */
	if (s->state == SMTP_S_HELO || s->state == SMTP_S_READY) {
		s->bdat_err_code = 503;
		s->bdat_err_enh = "5.5.1";
		s->bdat_err_text = s->state == SMTP_S_HELO ?
		    "Send EHLO or HELO first" : "Need MAIL before BDAT";
		bdat_begin(s);
		return;
	}
	if (s->n_rcpts == 0) {
		s->bdat_err_code = 554;
		s->bdat_err_enh = "5.5.1";
		s->bdat_err_text = "No valid recipients";
		bdat_begin(s);
		return;
	}
	if (s->bdat_started) {
		bdat_begin(s);
		return;
	}
	s->bdat_started = 1;
	s->bdat_prev_cr = 0;
	if (spool_create(s) != 0) {
		s->bdat_err_code = 451;
		s->bdat_err_enh = "4.3.0";
		s->bdat_err_text = "Queue unavailable; try again later";
		bdat_begin(s);
	}
}
