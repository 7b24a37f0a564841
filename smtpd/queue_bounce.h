/* Delivery status notifications (RFC 3464 multipart/report, RFC 3461 rules): build and queue them. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_BOUNCE_H
#define LB_QUEUE_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "smtpd/queue_spool.h"

enum queue_dsn_action {
	QUEUE_DSN_FAILED = 1, QUEUE_DSN_DELIVERED,
	QUEUE_DSN_DELAYED,		/* still being retried (RFC 3464 2.3.3) */
	QUEUE_DSN_RELAYED,		/* handed to a server without DSN */
};

struct queue_dsn_rcpt {
	struct span addr;		/* the envelope recipient */
	struct span orcpt;		/* "rfc822;xtext" or empty */
	enum queue_dsn_action action;
	int code;			/* 0: no SMTP reply to quote */
	const char *enh;		/* "5.1.1" ("" -> 5.0.0 / 2.0.0) */
	const char *text;		/* printable ASCII */
	int lmtp;			/* the reply came from the MDA */
};

struct queue_dsn {
	const char *hostname;		/* Reporting-MTA, From: */
	const struct envelope *env;	/* of the original message */
	const char *bounce_id;		/* the DSN's own queue id */
	int64_t now;			/* Date:, Last-Attempt-Date: */
	const struct queue_dsn_rcpt *rcpts;
	size_t n;
	int full;			/* original is the whole message */
	int64_t retry_until;		/* DELAYED: Will-Retry-Until (0: none) */
};

/* Caps: a RET=FULL message past this is returned as headers only, and
 * the headers returned are cut at QUEUE_DSN_MAX_HEADERS bytes. */
#define QUEUE_DSN_MAX_FULL (10u * 1024u * 1024u)
#define QUEUE_DSN_MAX_HEADERS (256u * 1024u)

/*
 * queue_bounce_build: append the DSN message (RFC 5322 header and the
 * multipart/report body, CRLF line ends) to out.  original is the
 * message's header block (text/rfc822-headers) or, with d->full, the
 * whole message (message/rfc822).  Pure apart from reading d; -1 if out
 * is full.
 */
int queue_bounce_build(const struct queue_dsn *d, struct span original,
    struct buf *out) __attribute__((warn_unused_result));

/* queue_bounce_headers_len: the length of the header block at the start
 * of msg, including the empty line (or all of msg, capped). */
size_t queue_bounce_headers_len(struct span msg);

/* queue_bounce_xtext_decode: RFC 3461 4 xtext -> text into out (at most
 * outsz - 1 bytes and a NUL; bad escapes are copied as they are). */
void queue_bounce_xtext_decode(struct span in, char *out, size_t outsz);

/* queue_date: RFC 5322 date-time of t (UTC) into out (at least 40). */
void queue_date(int64_t t, char *out, size_t outsz);

/*
 * queue_bounce_enqueue: write envelope (from <>, to rcpt) + msg into a
 * new tmp/ file, fdatasync it, rename it into queue/, fsync queue/.  The
 * new id goes into id_out.  0, or -1 with errno and nothing left behind.
 * XXX: synchronous; a DSN is rare and small next to the message it
 * answers, but it should use the commit threads.
 */
int queue_bounce_enqueue(const struct queue_spool *sp, const char *rcpt,
    int body_8bit, int smtputf8, struct span msg, int64_t now,
    char id_out[QUEUE_ID_LEN + 1]) __attribute__((warn_unused_result));

#endif
