/* queued's delivery scheduler: the structures shared by queue_sched.c and queue_deliver.c. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_SCHED_PRIV_H
#define LB_QUEUE_SCHED_PRIV_H

#include <stdint.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "common/envelope.h"
#include "common/lmtp_reply.h"
#include "smtpd/queue_lmtp.h"
#include "smtpd/queue_remote.h"
#include "smtpd/queue_sched.h"
#include "smtpd/queue_status.h"

struct queue_dns;
struct queue_dkim;
struct queue_route_lookup;

/*
 * Where remote mail goes: a domain's MX hosts, or the smarthost (name
 * "").  Each has its waiting messages, a cap on its transactions
 * (queued.dest_sessions) and its own backoff: after an attempt that
 * did not reach it, nothing is tried there until down_until_ms
 * (retry_min, doubling up to retry_max), so one dead domain costs the
 * others nothing (docs/relay.md).  Freed when unused and not down.
 */
struct queue_dest {
	struct queue_dest *next;
	char *name;
	unsigned refs;			/* messages routed here */
	unsigned active;		/* transactions running */
	struct queue_msg *wait_head, *wait_tail;	/* by rwnext */
	unsigned fails;			/* attempts in a row that failed */
	int64_t down_until_ms;		/* no attempt before */
	char why[160];			/* the last failure */
};

enum queue_msg_st {
	QM_IDLE,		/* waiting for its timer (or nothing) */
	QM_RESOLVING,		/* asking authd about the due recipients */
	QM_WAITING,		/* for a free LMTP session */
	QM_DELIVERING,		/* an LMTP transaction is running */
	QM_REMOTE,		/* an SMTP transaction to the relay is running */
};

/* One due recipient in this attempt. */
struct queue_att {
	struct queue_msg *m;
	size_t idx;			/* in the envelope */
	uint64_t reqid;			/* authd request, 0 when none */
	int pending;			/* waiting for authd */
	int kind;			/* IPC_RESOLVE_*, 0: lookup failed */
	int forward;			/* has a forward target */
	char why[128];			/* lookup failure */
	size_t *tix;			/* indexes into the mailbox list */
	size_t n_tix;
	int rdone;			/* remote: rreply holds the answer */
	int rdsn;			/* remote: the server took DSN */
	struct lmtp_reply rreply;
};

struct queue_msg {
	struct queue_msg *next, *prev;		/* all messages */
	struct queue_msg *wnext;		/* session FIFO */
	struct queue_sched *qs;
	char id[QUEUE_ID_LEN + 1];
	enum queue_msg_st st;
	int held;			/* `letterbox queue hold`: no attempt */
	uint8_t *head;			/* the envelope's bytes */
	struct envelope env;		/* spans into head */
	size_t body_off;
	struct queue_status status;
	ev_timer timer;

	/* the attempt under way */
	int64_t now_ms;
	struct queue_att *att;
	size_t n_att, resolving;
	char **mbox;			/* distinct mailbox targets */
	size_t n_mbox;
	struct lmtp_reply *replies;	/* n_mbox */
	struct queue_lmtp_txn txn;
	struct queue_lmtp *lmtp;
	int fd;				/* queue/ID while delivering */
	char *from;			/* the sender, NUL-terminated */

	/* the remote part of the attempt (queue_sched.c, remote path) */
	struct queue_remote_txn rtxn;
	struct queue_remote *remote;
	size_t *ratt;			/* att indexes of the remote rcpts */
	char **rrcpts, **rorcpt;
	unsigned *rnotify;
	struct lmtp_reply *rreplies;
	size_t n_r;
	char *envid;
	struct queue_dest *rdest;	/* of this transaction */
	struct queue_msg *rwnext;	/* waiting for an SMTP session */
	int rwaiting;
	uint8_t *dkim;			/* the DKIM-Signature fields, made at
					 * the first remote attempt */
	size_t dkim_len;
	int dkim_done;
	/* MX delivery: the domain of this transaction, its DNS lookup
	 * while pending, and the addresses of its MX hosts in order */
	char *rdomain;
	struct queue_route_lookup *rlookup;
	struct sockaddr_storage *maddr;
	socklen_t *mlen;
	char **mnames;			/* the host of each address */
};

#define QUEUE_MX_ADDRS_MAX 16	/* addresses tried per transaction */

#define QUEUE_RELAY_ADDRS_MAX 8

struct queue_sched {
	struct ev_loop *loop;
	const struct queue_spool *sp;
	int status_fd;
	struct ipcc *authd;
	struct queue_sched_opts o;
	struct queue_msg *msgs;
	struct queue_msg *wait_head, *wait_tail;
	unsigned active;		/* LMTP sessions running */
	struct queue_lmtp_set lmtps;	/* and those saying QUIT */
	struct queue_remote_set remotes;	/* SMTP sessions */
	unsigned remote_active;		/* SMTP transactions running */
	struct queue_dest *dests;	/* every destination in use */
	int in_next;			/* queue_route_next is running */
	struct sockaddr_storage relay_addr[QUEUE_RELAY_ADDRS_MAX];
	socklen_t relay_len[QUEUE_RELAY_ADDRS_MAX];
	size_t n_relay;			/* 0: no smarthost */
	char *relay_name;		/* its host, for SNI and verify */
	const char *relay_names[QUEUE_RELAY_ADDRS_MAX];
	int relay_tls;			/* enum queue_remote_tls */
	char *tls_policy;		/* queued.tls_policy, or NULL */
	SSL_CTX *tls_ctx;		/* client context for STARTTLS */
	SSL_CTX *tls_vctx;		/* the same, verifying the peer */
	struct queue_dkim *dkim;	/* signing keys (STATE_DIR/dkim) */
	char *relay_user, *relay_pass;	/* from queued.relay_auth_file */
	struct queue_dns *dns;		/* MX lookups when no smarthost */
	int stopping;
	ev_prepare unlinked_w;		/* fsync queue/ once per loop turn */
	void (*idle)(void *);
	void *idle_arg;
};

/* queue_deliver.c: the end of an attempt (records, DSNs, removal). */
void queue_deliver_results(struct queue_msg *m);
/* queue_deliver_report: DSNs due for final recipients, then removal if
 * all is done.  1: the message is gone (freed); -1: a write failed and
 * a retry timer is set; 0: the caller arms the timer. */
int queue_deliver_report(struct queue_msg *m);
/* queue_sched.c */
/* queue_sched_unlinked: queue/ lost a name; fsync it before the loop
 * next sleeps (one fsync for every removal of the turn). */
void queue_sched_unlinked(struct queue_sched *qs);
void queue_sched_arm(struct queue_msg *m);
void queue_msg_plan(struct queue_msg *m);
void queue_msg_free(struct queue_msg *m);
void queue_msg_attempt_fini(struct queue_msg *m);
int64_t queue_now_ms(void);
int queue_msg_reload_status(struct queue_msg *m);

#endif
