/* RFC 3464 delivery status notifications: the multipart/report text, and putting it into the queue. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_bounce.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
queue_date(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static int
queue_bounce_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
queue_bounce_xtext_decode(struct span in, char *out, size_t outsz)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < in.n && o + 1 < outsz; i++) {
		if (in.p[i] == '+' && i + 2 < in.n + 0 &&
		    (h = queue_bounce_hex(in.p[i + 1])) >= 0 &&
		    (l = queue_bounce_hex(in.p[i + 2])) >= 0) {
			uint8_t c = (uint8_t)(h * 16 + l);

			/* a DSN field is one line of printable text */
			out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
			i += 2;
			continue;
		}
		out[o++] = (in.p[i] >= 0x20 && in.p[i] < 0x7f) ?
		    (char)in.p[i] : '?';
	}
	out[o] = '\0';
}

size_t
queue_bounce_headers_len(struct span msg)
{
	size_t i;

	for (i = 0; i + 1 < msg.n && i < QUEUE_DSN_MAX_HEADERS; i++) {
		if (msg.p[i] == '\n' && msg.p[i + 1] == '\n')
			return i + 2;
		if (msg.p[i] == '\n' && i + 2 < msg.n &&
		    msg.p[i + 1] == '\r' && msg.p[i + 2] == '\n')
			return i + 3;
	}
	return msg.n < QUEUE_DSN_MAX_HEADERS ? msg.n : QUEUE_DSN_MAX_HEADERS;
}

/* An address or text for a header or DSN field: printable, one line. */
static void
queue_bounce_clean(struct span s, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < s.n && o + 1 < outsz; i++)
		out[o++] = (s.p[i] >= 0x20 && s.p[i] != 0x7f) ? (char)s.p[i] :
		    '?';
	out[o] = '\0';
}

static const char *
queue_bounce_status(const struct queue_dsn_rcpt *r)
{
	if (r->enh != NULL && r->enh[0] != '\0')
		return r->enh;
	return r->action == QUEUE_DSN_FAILED ? "5.0.0" :
	    r->action == QUEUE_DSN_DELAYED ? "4.0.0" : "2.0.0";
}

static const char *
queue_bounce_action(enum queue_dsn_action a)
{
	return a == QUEUE_DSN_FAILED ? "failed" : a == QUEUE_DSN_DELAYED ?
	    "delayed" : a == QUEUE_DSN_RELAYED ? "relayed" : "delivered";
}

static int
queue_bounce_human(const struct queue_dsn *d, struct buf *out, size_t failed)
{
	char addr[600], until[64];
	size_t i, delayed = 0;
	int rc = 0;

	for (i = 0; i < d->n; i++)
		delayed += d->rcpts[i].action == QUEUE_DSN_DELAYED;
	if (delayed == d->n) {
		rc |= buf_addf(out, "This is the mail system at host %s.\r\n"
		    "\r\n", d->hostname);
		rc |= buf_addstr(out, "Your message could not be delivered "
		    "yet to the recipients below.\r\nIt is still in the "
		    "queue and will be tried again");
		if (d->retry_until > 0) {
			queue_date(d->retry_until, until, sizeof(until));
			rc |= buf_addf(out, " until\r\n%s", until);
		}
		rc |= buf_addstr(out, ".\r\nYou do not need to send it "
		    "again.\r\n\r\n");
		for (i = 0; i < d->n; i++) {
			const struct queue_dsn_rcpt *r = &d->rcpts[i];

			queue_bounce_clean(r->addr, addr, sizeof(addr));
			if (r->code)
				rc |= buf_addf(out, "<%s>: %d %s %s\r\n", addr,
				    r->code, queue_bounce_status(r), r->text);
			else
				rc |= buf_addf(out, "<%s>: %s %s\r\n", addr,
				    queue_bounce_status(r), r->text);
		}
		return rc;
	}

	rc |= buf_addf(out, "This is the mail system at host %s.\r\n\r\n",
	    d->hostname);
	if (failed)
		rc |= buf_addstr(out, "I'm sorry to have to inform you that "
		    "your message could not\r\nbe delivered to one or more "
		    "recipients. It is attached below.\r\n\r\n");
	if (failed < d->n)
		rc |= buf_addstr(out, "Your message was delivered to the "
		    "following recipients, as you asked\r\nto be told.\r\n\r\n");
	for (i = 0; i < d->n; i++) {
		const struct queue_dsn_rcpt *r = &d->rcpts[i];

		queue_bounce_clean(r->addr, addr, sizeof(addr));
		if (r->action == QUEUE_DSN_DELIVERED)
			rc |= buf_addf(out, "<%s>: delivered to mailbox\r\n",
			    addr);
		else if (r->action == QUEUE_DSN_RELAYED)
			rc |= buf_addf(out, "<%s>: relayed to a server that "
			    "sends no delivery reports\r\n", addr);
		else if (r->code)
			rc |= buf_addf(out, "<%s>: %d %s %s\r\n", addr,
			    r->code, queue_bounce_status(r), r->text);
		else
			rc |= buf_addf(out, "<%s>: %s %s\r\n", addr,
			    queue_bounce_status(r), r->text);
	}
	return rc;
}

static int
queue_bounce_report(const struct queue_dsn *d, struct buf *out)
{
	const struct envelope *env = d->env;
	char date[64], txt[1024];
	size_t i;
	int rc = 0;

	rc |= buf_addstr(out, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	rc |= buf_addf(out, "Reporting-MTA: dns; %s\r\n", d->hostname);
	if (env->envid.n) {
		queue_bounce_xtext_decode(env->envid, txt, sizeof(txt));
		rc |= buf_addf(out, "Original-Envelope-Id: %s\r\n", txt);
	}
	rc |= buf_addf(out, "X-Letterbox-Queue-ID: %.*s\r\n",
	    (int)env->id.n, (const char *)env->id.p);
	queue_date(env->arrival, date, sizeof(date));
	rc |= buf_addf(out, "Arrival-Date: %s\r\n", date);
	queue_date(d->now, date, sizeof(date));
	for (i = 0; i < d->n; i++) {
		const struct queue_dsn_rcpt *r = &d->rcpts[i];

		queue_bounce_clean(r->addr, txt, sizeof(txt));
		rc |= buf_addf(out, "\r\nFinal-Recipient: rfc822; %s\r\n", txt);
		if (r->orcpt.n) {
			size_t semi = 0;

			while (semi < r->orcpt.n && r->orcpt.p[semi] != ';')
				semi++;
			queue_bounce_xtext_decode(span_make(r->orcpt.p +
			    semi + (semi < r->orcpt.n),
			    r->orcpt.n - semi - (semi < r->orcpt.n)), txt,
			    sizeof(txt));
			rc |= buf_addf(out, "Original-Recipient: %.*s; %s\r\n",
			    (int)semi, (const char *)r->orcpt.p, txt);
		}
		rc |= buf_addf(out, "Action: %s\r\nStatus: %s\r\n",
		    queue_bounce_action(r->action), queue_bounce_status(r));
		if (r->lmtp)
			rc |= buf_addf(out, "Remote-MTA: x-local-hostname; "
			    "%s (lmtp)\r\n", d->hostname);
		if (r->code)
			rc |= buf_addf(out, "Diagnostic-Code: smtp; %d %s %s\r\n",
			    r->code, queue_bounce_status(r), r->text);
		else if (r->text != NULL && r->text[0] != '\0')
			rc |= buf_addf(out, "Diagnostic-Code: x-letterbox; "
			    "%s\r\n", r->text);
		rc |= buf_addf(out, "Last-Attempt-Date: %s\r\n", date);
		if (r->action == QUEUE_DSN_DELAYED && d->retry_until > 0) {
			char until[64];

			/* RFC 3464 2.3.9 */
			queue_date(d->retry_until, until, sizeof(until));
			rc |= buf_addf(out, "Will-Retry-Until: %s\r\n", until);
		}
	}
	return rc;
}

int
queue_bounce_build(const struct queue_dsn *d, struct span original,
    struct buf *out)
{
	const struct envelope *env = d->env;
	char date[64], to[600], bnd[128];
	size_t i, failed = 0, delayed = 0;
	int rc = 0;

	for (i = 0; i < d->n; i++) {
		failed += d->rcpts[i].action == QUEUE_DSN_FAILED;
		delayed += d->rcpts[i].action == QUEUE_DSN_DELAYED;
	}
	queue_date(d->now, date, sizeof(date));
	queue_bounce_clean(env->from, to, sizeof(to));
	/* the boundary cannot occur in the parts: it holds the DSN's own
	 * id, which no earlier text can know */
	snprintf(bnd, sizeof(bnd), "%s.%lld/%s", d->bounce_id,
	    (long long)d->now, d->hostname);
	rc |= buf_addf(out, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>\r\n", d->hostname);
	rc |= buf_addf(out, "To: <%s>\r\n", to);
	rc |= buf_addf(out, "Subject: %s\r\n", failed ?
	    "Undelivered Mail Returned to Sender" : delayed ?
	    "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report");
	rc |= buf_addf(out, "Date: %s\r\n", date);
	rc |= buf_addf(out, "Message-ID: <%s.%lld@%s>\r\n", d->bounce_id,
	    (long long)d->now, d->hostname);
	/* RFC 3834 5: no vacation reply to this */
	rc |= buf_addstr(out, "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n");
	rc |= buf_addf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", bnd);
	rc |= buf_addstr(out, "This is a MIME-encapsulated message.\r\n\r\n");
	rc |= buf_addf(out, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", bnd);
	rc |= queue_bounce_human(d, out, failed);
	rc |= buf_addf(out, "\r\n--%s\r\n", bnd);
	rc |= queue_bounce_report(d, out);
	rc |= buf_addf(out, "\r\n--%s\r\n", bnd);
	if (d->full && delayed == d->n)
		rc |= buf_addstr(out, "Content-Description: Delayed "
		    "Message\r\nContent-Type: message/rfc822\r\n\r\n");
	else if (d->full)
		rc |= buf_addstr(out, "Content-Description: Undelivered "
		    "Message\r\nContent-Type: message/rfc822\r\n\r\n");
	else
		rc |= buf_addstr(out, "Content-Description: Message Headers\r\n"
		    "Content-Type: text/rfc822-headers\r\n\r\n");
	rc |= buf_addspan(out, original);
	if (original.n >= 2 && (original.p[original.n - 1] != '\n'))
		rc |= buf_addstr(out, "\r\n");
	rc |= buf_addf(out, "\r\n--%s--\r\n", bnd);
	return rc ? -1 : 0;
}

static int
queue_bounce_write(int fd, const uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
queue_bounce_enqueue(const struct queue_spool *sp, const char *rcpt,
    int body_8bit, int smtputf8, struct span msg, int64_t now,
    char id_out[QUEUE_ID_LEN + 1])
{
	struct envelope_rcpt er;
	struct envelope env;
	struct buf b;
	int fd, wfd, e;

	if (queue_spool_create(sp, id_out, &fd, &wfd) < 0)
		return -1;
	close(wfd);
	memset(&env, 0, sizeof(env));
	memset(&er, 0, sizeof(er));
	env.id = span_cstr(id_out);
	env.arrival = now;
	env.body = body_8bit ? ENV_BODY_8BITMIME : ENV_BODY_7BIT;
	env.smtputf8 = smtputf8;
	er.addr = span_cstr(rcpt);
	/* RFC 3461 6.2: a DSN asks for no DSN about itself */
	er.notify = ENV_NOTIFY_NEVER;
	env.rcpts = &er;
	env.n_rcpts = env.max_rcpts = 1;
	buf_init(&b, 1024, ENVELOPE_MAX_BYTES);
	if (envelope_write(&env, &b) < 0) {
		e = EINVAL;
		goto fail;
	}
	if (queue_bounce_write(fd, b.data, b.len) < 0 ||
	    queue_bounce_write(fd, msg.p, msg.n) < 0 || fdatasync(fd) < 0 ||
	    queue_spool_commit_rename(sp, id_out) < 0) {
		e = errno;
		goto fail;
	}
	if (fsync(sp->queue_fd) < 0) {
		e = errno;
		(void)queue_spool_unlink_queue(sp, id_out);
		buf_fini(&b);
		close(fd);
		errno = e;
		return -1;
	}
	buf_fini(&b);
	close(fd);
	return 0;
fail:
	buf_fini(&b);
	close(fd);
	(void)queue_spool_unlink_tmp(sp, id_out);
	errno = e;
	return -1;
}
