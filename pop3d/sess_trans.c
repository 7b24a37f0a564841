/* TRANSACTION state: STAT LIST UIDL RETR TOP DELE NOOP RSET, and QUIT's UPDATE. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/log.h"
#include "common/xmem.h"
#include "pop3d/pop3d.h"

/* File bytes read per step, and output queued before waiting to drain. */
#define RETR_CHUNK (64 * 1024)
#define RETR_HIWAT (256 * 1024)

/* Message number n (1-based) if it exists and is not deleted, else an
 * -ERR has been sent and NULL returned. */
static struct pop3_msg *
msg_arg(struct pop3_sess *s, uint32_t n)
{
	if (n == 0 || n > s->drop.n) {
		pop3_err(s, "No such message");
		return NULL;
	}
	if (s->drop.msgs[n - 1].deleted) {
		pop3_err(s, "Message %u already deleted", n);
		return NULL;
	}
	return &s->drop.msgs[n - 1];
}

void
pop3_cmd_stat(struct pop3_sess *s, const struct pop3_cmd *c)
{
	uint64_t total = 0;
	size_t i, n = 0;

	for (i = 0; i < s->drop.n; i++)
		if (!s->drop.msgs[i].deleted) {
			n++;
			total += s->drop.msgs[i].size;
		}
	pop3_ok(s, "%zu %llu", n, (unsigned long long)total);
}

/* A multi-line listing; one line per message, built in one buffer. */
static void
listing(struct pop3_sess *s, int uidl)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096, (size_t)64 << 20);
	(void)!buf_addstr(&b, uidl ? "+OK Unique-ID listing follows\r\n" :
	    "+OK Scan listing follows\r\n");
	for (i = 0; i < s->drop.n; i++) {
		const struct pop3_msg *m = &s->drop.msgs[i];

		if (m->deleted)
			continue;
		if (uidl)
			(void)!buf_addf(&b, "%zu %08x%08x\r\n", i + 1,
			    s->drop.uidvalidity, m->uid);
		else
			(void)!buf_addf(&b, "%zu %llu\r\n", i + 1,
			    (unsigned long long)m->size);
	}
	(void)!buf_addstr(&b, ".\r\n");
	pop3_send(s, b.data, b.len);
	buf_fini(&b);
}

void
pop3_cmd_list(struct pop3_sess *s, const struct pop3_cmd *c)
{
	const struct pop3_msg *m;

	if (c->n_args == 0) {
		listing(s, 0);
		return;
	}
	if ((m = msg_arg(s, c->num[0])) != NULL)
		pop3_ok(s, "%u %llu", c->num[0], (unsigned long long)m->size);
}

/*
 * UIDL (RFC 1939 7): UIDVALIDITY and UID in hex, 16 characters: the
 * same in every session, the same message IMAP names by that UID, and a
 * new value for every message should the index be rebuilt (a new
 * UIDVALIDITY), which makes clients fetch again rather than miss mail.
 */
void
pop3_cmd_uidl(struct pop3_sess *s, const struct pop3_cmd *c)
{
	const struct pop3_msg *m;

	if (c->n_args == 0) {
		listing(s, 1);
		return;
	}
	if ((m = msg_arg(s, c->num[0])) != NULL)
		pop3_ok(s, "%u %08x%08x", c->num[0], s->drop.uidvalidity,
		    m->uid);
}

void
pop3_retr_stop(struct pop3_sess *s)
{
	if (s->retr_fd >= 0)
		close(s->retr_fd);
	s->retr_fd = -1;
	if (s->wait == POP3_W_RETR)
		s->wait = POP3_W_NONE;
}

/* Send file bytes until the output is full enough or the file ends. */
static void
retr_pump(struct pop3_sess *s)
{
	static uint8_t in[RETR_CHUNK];
	static uint8_t out[2 * RETR_CHUNK + 2];
	ssize_t n;
	size_t w;

	while (cio_out_pending(s->io) < RETR_HIWAT) {
		n = read(s->retr_fd, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* the +OK is out: the only honest end is to close */
			log_err_errno("conn=%s event=retr-read-failed", s->id);
			pop3_retr_stop(s);
			cio_abort(s->io, "message read failed");
			return;
		}
		if (n == 0 || s->out.done) {
			w = pop3_out_finish(&s->out, out);
			memcpy(out + w, ".\r\n", 3);
			pop3_send(s, out, w + 3);
			pop3_retr_stop(s);
			pop3_wait_end(s);
			return;
		}
		w = pop3_out_feed(&s->out, span_make(in, (size_t)n), out);
		s->retr_bytes += w;
		pop3_send(s, out, w);
	}
	s->wait = POP3_W_RETR;	/* go on at CIO_DRAINED */
}

void
pop3_retr_drained(struct pop3_sess *s)
{
	if (s->retr_fd >= 0)
		retr_pump(s);
}

static void
retr_start(struct pop3_sess *s, uint32_t n, int top, uint32_t lines)
{
	struct pop3_msg *m;
	const char *why = NULL;
	int fd;

	if ((m = msg_arg(s, n)) == NULL)
		return;
	if ((fd = pop3_drop_open_msg(&s->drop, n - 1, &why)) < 0) {
		log_notice("conn=%s event=retr-failed uid=%u reason=\"%s\"",
		    s->id, m->uid, why);
		pop3_err(s, "Message %u is no longer available", n);
		return;
	}
	if (!top)
		m->retrieved = 1;
	s->retr_fd = fd;
	s->retr_bytes = 0;
	pop3_out_init(&s->out, top, lines);
	if (top)
		pop3_ok(s, "Top of message follows");
	else
		pop3_ok(s, "%llu octets", (unsigned long long)m->size);
	/* no further command runs until the message is out */
	pop3_wait_begin(s, POP3_W_RETR, 0);
	retr_pump(s);
}

void
pop3_cmd_retr(struct pop3_sess *s, const struct pop3_cmd *c)
{
	retr_start(s, c->num[0], 0, 0);
}

void
pop3_cmd_top(struct pop3_sess *s, const struct pop3_cmd *c)
{
	retr_start(s, c->num[0], 1, c->num[1]);
}

void
pop3_cmd_dele(struct pop3_sess *s, const struct pop3_cmd *c)
{
	struct pop3_msg *m;

	if ((m = msg_arg(s, c->num[0])) == NULL)
		return;
	m->deleted = 1;
	pop3_ok(s, "Message %u deleted", c->num[0]);
}

void
pop3_cmd_noop(struct pop3_sess *s, const struct pop3_cmd *c)
{
	pop3_ok(s, "Nothing done");
}

void
pop3_cmd_rset(struct pop3_sess *s, const struct pop3_cmd *c)
{
	size_t i;

	for (i = 0; i < s->drop.n; i++)
		s->drop.msgs[i].deleted = 0;
	pop3_ok(s, "%zu messages", s->drop.n);
}

void
pop3_cmd_quit(struct pop3_sess *s, const struct pop3_cmd *c)
{
	const struct cfg *cfg = s->d->cfg;
	const char *why = NULL;
	unsigned expunged = 0;

	if (s->state != POP3_S_TRANS) {
		pop3_ok(s, "Bye");
		pop3_close(s, "quit");
		return;
	}
	/* UPDATE (RFC 1939 6) */
	if (pop3_drop_update(&s->drop, cfg->pop3d.leave_on_server,
	    cfg->pop3d.mark_read, &expunged, &why) != 0) {
		log_err("conn=%s event=update-failed user=%s reason=\"%s\"",
		    s->id, s->user, why ? why : "?");
		pop3_err(s, "[SYS/TEMP] Some deleted messages not removed");
		pop3_close(s, "update failed");
		return;
	}
	log_info("conn=%s event=update user=%s expunged=%u", s->id, s->user,
	    expunged);
	pop3_drop_close(&s->drop);
	s->have_drop = 0;
	pop3_ok(s, "Bye (%u messages deleted)", expunged);
	pop3_close(s, "quit");
}
