/* queued's SMTP client: one outbound transaction to a remote host (RFC 5321), tried address by address. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_REMOTE_H
#define LB_QUEUE_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/lmtp_reply.h"

struct ev_loop;

/* What a peer's EHLO reply offers (RFC 5321 4.1.1.1 and the extensions'
 * RFCs).  All zero after HELO. */
struct queue_remote_ext {
	int esmtp;		/* EHLO was accepted */
	int pipelining;		/* RFC 2920 */
	int starttls;		/* RFC 3207 */
	int chunking;		/* RFC 3030 */
	int dsn;		/* RFC 3461 */
	int eightbit;		/* RFC 6152 */
	int smtputf8;		/* RFC 6531 */
	int size;		/* RFC 1870 */
	uint64_t size_max;	/* 0: no limit announced */
	int auth_plain, auth_login;	/* RFC 4954 */
};

/*
 * queue_remote_ehlo_parse: the raw lines of a 250 EHLO reply ("250-name
 * greets\r\n250-PIPELINING\r\n250 SIZE 1000\r\n") -> out.  The first
 * line is the server's name; each other line is a keyword and its
 * parameters, compared without regard to case.  Unknown keywords are
 * ignored.  Pure.  0, or -1 if in is not a 250 reply.
 */
int queue_remote_ehlo_parse(struct span in, struct queue_remote_ext *out);

/* TLS policy of a destination (docs/relay.md). */
enum queue_remote_tls {
	QUEUE_TLS_MAY = 0,	/* STARTTLS when offered, no verification */
	QUEUE_TLS_NONE,		/* never */
	QUEUE_TLS_REQUIRE,	/* no STARTTLS or a failed handshake: 4.7.0;
				 * the certificate is not checked */
	QUEUE_TLS_VERIFY,	/* as require, and the certificate must
				 * chain to a trusted CA and name the host
				 * (RFC 6125): else 4.7.5 */
};

/* One transaction.  The caller fills it and keeps it (and its strings
 * and arrays) alive until done() runs. */
struct queue_remote_txn {
	const struct sockaddr_storage *addrs;	/* in the order to try */
	const socklen_t *addr_lens;
	size_t n_addrs;
	const char *const *addr_names;	/* per address: the host's name for
					 * SNI and QUEUE_TLS_VERIFY (NULL or
					 * "": none) */
	const char *helo;		/* our name for EHLO/HELO */
	enum queue_remote_tls tls;
	struct ssl_ctx_st *tls_ctx;	/* client SSL_CTX; NULL: no TLS */
	struct ssl_ctx_st *tls_vctx;	/* the same, verifying peers
					 * (QUEUE_TLS_VERIFY) */
	const char *auth_user;		/* AUTH PLAIN/LOGIN (RFC 4954) over
					 * TLS only; NULL: no AUTH */
	const char *auth_pass;
	const char *from;		/* "" for the null sender */
	int body_8bit;			/* the message is 8bit: BODY=8BITMIME */
	int smtputf8;			/* SMTPUTF8 */
	int ret;			/* ENV_RET_*: RET= when the peer has DSN */
	const char *envid;		/* xtext as received, or "" */
	const char *const *rcpts;	/* mailbox addresses */
	const unsigned *notify;		/* ENV_NOTIFY_* per rcpt (0: none) */
	const char *const *orcpt;	/* "rfc822;xtext" per rcpt, or "" */
	size_t n_rcpts;
	int fd;				/* the spool file (borrowed) */
	uint64_t off, end;		/* the message bytes: [off, end) */
	const uint8_t *prefix;		/* sent before them (the DKIM-
					 * Signature fields), CRLF text */
	size_t prefix_len;
	double connect_s;		/* per address */
	double timeout_s;		/* idle, per step */

	/* results, one per rcpt, set before done(): the RCPT's refusal,
	 * the refusal of MAIL or DATA, the reply to the final dot, or a
	 * made-up 4xx when no address answered or the connection failed */
	struct lmtp_reply *replies;	/* n_rcpts entries, caller's */
	struct queue_remote_ext ext;	/* what the peer offered */
	char peer[64];			/* the address that answered, or "" */
	int tls_done;			/* the transaction ran over TLS */
	int data_sent;
	int reached;			/* a server answered MAIL FROM: the
					 * destination works (not a failure to
					 * connect, greet, TLS or AUTH) */
	int pipelined;			/* MAIL, RCPT... sent in one group */
	int chunked;			/* BDAT instead of DATA */
	unsigned nth;			/* 1 + transactions before this one on
					 * the same connection */
	char why[160];			/* TLS verification failure, or "" */
};

typedef void queue_remote_done_fn(void *arg, struct queue_remote_txn *txn);

struct queue_remote;

/*
 * queue_remote_more_fn: a transaction ended with the server's reply to
 * its message and the connection is fit for another (RFC 5321 3.3: a
 * new MAIL may follow the end of data).  Return the next transaction for
 * the same destination, with *done and *arg for it, to run it on this
 * connection (the caller now owns it as if queue_remote_start had
 * returned l), or NULL to say QUIT.  Runs before done() of prev.
 */
typedef struct queue_remote_txn *queue_remote_more_fn(void *more_arg,
    struct queue_remote *l, const struct queue_remote_txn *prev,
    queue_remote_done_fn **done, void **arg);

/* The sessions of one owner, including those saying QUIT.  Zero it;
 * more may be set to reuse connections. */
struct queue_remote_set {
	struct queue_remote *head;
	queue_remote_more_fn *more;
	void *more_arg;
};

#define QUEUE_REMOTE_REUSE_MAX 100	/* transactions per connection */

/* queue_remote_set_fini: drop every session at once (no done() runs). */
void queue_remote_set_fini(struct queue_remote_set *set);

/*
 * queue_remote_start: connect to the first address that accepts (each
 * within txn->connect_s, non-blocking; a refused connection or a
 * greeting other than 220 moves to the next address, RFC 5321 5.1),
 * EHLO (HELO if EHLO is refused with 5xx), STARTTLS as txn->tls says,
 * AUTH, MAIL FROM with SIZE, BODY, SMTPUTF8 and the DSN parameters when
 * offered, one RCPT per address (MAIL and the RCPTs in one group, and
 * DATA after them, when the peer offers PIPELINING, RFC 2920), then the
 * message (prefix first): BDAT LAST when the peer offers CHUNKING (RFC
 * 3030), else DATA with dot-stuffing; then the next transaction from
 * set->more, or QUIT.  done(arg, txn) runs exactly once,
 * never from inside this call, when every recipient has its answer;
 * after it the handle is no longer the caller's.
 */
struct queue_remote *queue_remote_start(struct ev_loop *loop,
    struct queue_remote_set *set, struct queue_remote_txn *txn,
    queue_remote_done_fn *done, void *arg);

/* queue_remote_cancel: before done() ran: drop it; done() will not run. */
void queue_remote_cancel(struct queue_remote **rp);

/* queue_remote_mail_params / _rcpt_params: the ESMTP parameters of MAIL
 * and of RCPT i, with a leading space each ("" when none).  Pure. */
void queue_remote_mail_params(const struct queue_remote_txn *t,
    const struct queue_remote_ext *ext, char *out, size_t outsz);
void queue_remote_rcpt_params(const struct queue_remote_txn *t,
    const struct queue_remote_ext *ext, size_t i, char *out, size_t outsz);

#endif
