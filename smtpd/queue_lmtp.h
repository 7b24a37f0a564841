/* queued's LMTP client: one transaction to the MDA over RUN_DIR/lmtp.sock (RFC 2033). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_LMTP_H
#define LB_QUEUE_LMTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lmtp_reply.h"

struct ev_loop;

/*
 * Dot-stuffing for DATA (RFC 5321 4.5.2), streaming: a '.' at the start
 * of a line gets another '.' in front.  Lines end at LF (the spool holds
 * CRLF).  queue_dot_end appends what is needed to end the data: a CRLF
 * when the message did not end with one, then ".\r\n".
 */
struct queue_dot {
	int bol;		/* at the beginning of a line */
	int cr;			/* the last byte was CR */
};

void queue_dot_init(struct queue_dot *d);
/* queue_dot_add: append the stuffed form of in to out.  -1 if out's cap
 * was reached (out then holds a prefix). */
int queue_dot_add(struct queue_dot *d, struct span in, struct buf *out)
    __attribute__((warn_unused_result));
int queue_dot_end(struct queue_dot *d, struct buf *out)
    __attribute__((warn_unused_result));

/* One LMTP transaction.  The caller fills the first block and keeps it
 * (and the strings) alive until done() runs. */
struct queue_lmtp_txn {
	const char *sock_path;		/* RUN_DIR/lmtp.sock */
	const char *helo;		/* our name for LHLO */
	const char *from;		/* "" for the null sender */
	int body_8bit;			/* BODY=8BITMIME */
	int smtputf8;			/* SMTPUTF8 */
	const char *const *rcpts;	/* mailbox addresses */
	size_t n_rcpts;
	int fd;				/* the spool file (borrowed) */
	uint64_t off, end;		/* the message bytes: [off, end) */
	double timeout_s;		/* idle, per step */

	/* results, one per rcpt, set before done(): the RCPT's refusal, the
	 * refusal of MAIL or DATA, the rcpt's own reply after the final
	 * dot, or a made-up 421 4.4.2 when the connection failed first */
	struct lmtp_reply *replies;	/* n_rcpts entries, caller's */
	int data_sent;			/* the final dot went out */
};

/* done: the transaction is over (whatever happened; see replies). */
typedef void queue_lmtp_done_fn(void *arg, struct queue_lmtp_txn *txn);

struct queue_lmtp;

/* The sessions of one owner, including those saying QUIT after their
 * done() ran.  Zero it to start. */
struct queue_lmtp_set {
	struct queue_lmtp *head;
};

/* queue_lmtp_set_fini: drop every session of the set at once (no done()
 * runs any more). */
void queue_lmtp_set_fini(struct queue_lmtp_set *set);

/*
 * queue_lmtp_start: connect to txn->sock_path and run the transaction:
 * LHLO, MAIL FROM, one RCPT TO per address, DATA, the message streamed
 * in 64 KiB chunks (never more than 256 KiB queued: back-pressure),
 * then one reply per accepted recipient (RFC 2033 4.2), QUIT.  Never
 * blocks.  done(arg, txn) runs exactly once, never from inside this
 * call, as soon as every recipient has its answer: before QUIT, so that
 * the caller records the outcome at once.  From then on the handle is
 * no longer the caller's (txn may be freed): it finishes QUIT and frees
 * itself, or goes with queue_lmtp_set_fini(set).
 */
struct queue_lmtp *queue_lmtp_start(struct ev_loop *loop,
    struct queue_lmtp_set *set, struct queue_lmtp_txn *txn,
    queue_lmtp_done_fn *done, void *arg);

/* queue_lmtp_cancel: before done() ran: drop the connection; done() will
 * not run. */
void queue_lmtp_cancel(struct queue_lmtp **lp);

#endif
