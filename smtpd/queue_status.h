/* Per-recipient delivery state of one queued message: an append-only, checksummed log in spool/status/ID. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_STATUS_H
#define LB_QUEUE_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "smtpd/queue_spool.h"

/*
 * docs/queue.md, "Status files".  One line per record, each ending in a
 * space, the CRC-32 of everything before that space as 8 lowercase hex
 * digits, and LF:
 *
 *   LBSTAT 1 ID                              (the first record)
 *   delivered IDX ENH [relayed|passed]       (final: 2xx; relayed: to a
 *                                             remote server without DSN,
 *                                             passed: to one with DSN) 
 *   failed IDX CODE ENH TEXT                 (final: 5xx, or expired)
 *   deferred IDX UNTIL ATTEMPTS CODE ENH TEXT (4xx: try again at UNTIL)
 *   target IDX ADDRESS                       (one mailbox of IDX got it)
 *   warned IDX                               (a delay DSN for IDX is
 *                                             queued: RFC 3464 "delayed")
 *   reported IDX                             (the DSN for IDX's final
 *                                             state is queued, or none
 *                                             was due)
 *
 * IDX is the recipient's position in the envelope (0-based); CODE 0 and
 * ENH "-" mean there was no SMTP reply (LMTP or authd unreachable,
 * "remote delivery not available yet"); TEXT runs to the checksum.  The
 * later record about a recipient wins.  A crash can only tear the last
 * record(s) appended: reading stops at the first line that is incomplete
 * or fails its checksum, and the file is cut there before anything is
 * appended again.
 */

#define QUEUE_STATUS_TEXT_MAX 400

/* Where a delivered recipient went (RFC 3461 5.2.2): into a mailbox
 * here, to a remote server that does not take DSN requests (a success
 * DSN says "relayed"), or to one that does (it answers NOTIFY=SUCCESS
 * itself: we send none). */
enum queue_via {
	QUEUE_VIA_LOCAL = 0,
	QUEUE_VIA_RELAYED,
	QUEUE_VIA_PASSED,
};

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DEFERRED,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_FAILED,
};

struct queue_rcpt_status {
	enum queue_rcpt_state state;
	int code;			/* last reply code, 0 none */
	char enh[16];			/* "5.1.1", "" none */
	char text[QUEUE_STATUS_TEXT_MAX];
	int64_t until;			/* DEFERRED: next try, unix seconds */
	unsigned attempts;		/* temporary failures so far */
	int reported;			/* DSN queued (or none due) */
	int via;			/* DELIVERED: enum queue_via */
	int warned;			/* delay DSN queued */
	char *done;			/* "\naddr\naddr\n" mailboxes done */
};

struct queue_status {
	char id[QUEUE_ID_LEN + 1];
	struct queue_rcpt_status *rcpts;	/* n entries, owned */
	size_t n;
	int fd;				/* status/ID, -1 until written */
	int dir_fd;			/* status/ (borrowed) */
};

/* queue_status_init: n pending recipients; nothing on disk yet. */
void queue_status_init(struct queue_status *st, int dir_fd, const char *id,
    size_t n);
void queue_status_fini(struct queue_status *st);

/* queue_status_final: 1 if the recipient has its final answer. */
static inline int
queue_status_final(const struct queue_rcpt_status *r)
{
	return r->state == QUEUE_RCPT_DELIVERED ||
	    r->state == QUEUE_RCPT_FAILED;
}

/*
 * queue_status_parse: apply the records in `in` to st (pure).  Returns
 * the length of the good prefix (every complete record with a valid
 * checksum, in order, up to the first bad one); *torn_out is 1 if
 * anything follows it.  A record naming another id or a recipient past
 * st->n counts as bad.
 */
size_t queue_status_parse(struct queue_status *st, struct span in,
    int *torn_out);

/*
 * queue_status_load: read status/ID if it exists, apply it, and cut a
 * torn tail off.  0 (no file is fine), or -1 with errno.  *torn_out as
 * for queue_status_parse.
 */
int queue_status_load(struct queue_status *st, int *torn_out)
    __attribute__((warn_unused_result));

/* Record writers: append one record to b (with checksum and LF) and apply
 * it to st.  text may be NULL. */
void queue_status_rec_delivered(struct queue_status *st, struct buf *b,
    size_t idx, const char *enh, enum queue_via via);
void queue_status_rec_failed(struct queue_status *st, struct buf *b,
    size_t idx, int code, const char *enh, const char *text);
void queue_status_rec_deferred(struct queue_status *st, struct buf *b,
    size_t idx, int64_t until, int code, const char *enh, const char *text);
void queue_status_rec_target(struct queue_status *st, struct buf *b,
    size_t idx, const char *addr);
void queue_status_rec_warned(struct queue_status *st, struct buf *b,
    size_t idx);
void queue_status_rec_reported(struct queue_status *st, struct buf *b,
    size_t idx);

/*
 * queue_status_commit: append b to status/ID (creating it, header first,
 * and fsyncing status/ when new) and fdatasync it.  b is emptied.  0, or
 * -1 with errno: the state on disk is then unknown and the caller must
 * not act on the records (it retries the message later).
 */
int queue_status_commit(struct queue_status *st, struct buf *b)
    __attribute__((warn_unused_result));

/* queue_status_remove: unlink status/ID (ENOENT is fine).  0 or -1. */
int queue_status_remove(int dir_fd, const char *id);

/* queue_status_target_done: 1 if addr is a mailbox already delivered for
 * recipient r (a "target" record). */
int queue_status_target_done(const struct queue_rcpt_status *r,
    const char *addr);

#endif
