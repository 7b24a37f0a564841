/* letterbox-mda's LMTP internals shared by lmtp.c (session, commands) and lmtp_data.c (DATA, delivery). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MDA_LMTP_PRIV_H
#define LB_MDA_LMTP_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "common/buf.h"
#include "common/peer.h"
#include "common/smtp_cmd.h"
#include "common/smtp_data.h"
#include "mda/mda.h"

/* Above smtpd's limit: the queue adds its Received: header, and more. */
#define LMTP_SIZE_HEADROOM (64u * 1024u)
/* Temporary file writes: flush at this much; feed the DATA reader at
 * most this much at once (the session's buffer holds both). */
#define LMTP_FLUSH (64u * 1024u)
#define LMTP_FEED_MAX (64u * 1024u)

enum lmtp_state {
	LMTP_S_HELO = 0,	/* greeted; waiting for LHLO */
	LMTP_S_READY,		/* no transaction */
	LMTP_S_MAIL,		/* MAIL accepted */
	LMTP_S_RCPT,		/* at least one RCPT accepted */
	LMTP_S_DATA,		/* reading the message */
	LMTP_S_DELIVER,		/* delivering; replies on their way */
	LMTP_S_QUIT,		/* closing */
};

struct lmtp_server {
	struct ev_loop *loop;
	const struct cfg *cfg;
	struct wpool *pool;
	struct mda_store *st;
	char *authd_path;
	char *tmp_dir;
	struct peer_listener listener;
	struct lmtp_sess *sessions;
	unsigned n_sessions;
	int stopping;
	void (*idle)(void *);
	void *idle_arg;
};

/* An accepted recipient, and its delivery job. */
struct lmtp_rcpt {
	struct wpool_job job;		/* first: the job is the rcpt */
	struct lmtp_sess *s;
	char *addr;			/* as given in RCPT */
	struct mda_rcpt_res *res;	/* its mailboxes and quotas */
	int code;			/* the reply, once done */
	char enh[8];
	char text[400];
};

struct lmtp_sess {
	struct lmtp_server *srv;
	struct lmtp_sess *next, **pprev;
	struct cio *io;			/* NULL once the connection is gone */
	char id[17];
	unsigned uid;
	enum lmtp_state state;
	unsigned jobs;			/* submitted, done() not yet run */
	ev_tstamp started;

	/* transaction */
	char *from;			/* "" for <> */
	uint64_t declared_size;
	int smtputf8;
	struct lmtp_rcpt **rcpts;
	size_t n_rcpts;
	size_t max_rcpts;		/* rcpts[] and done[] hold this many */
	unsigned char *done;		/* per rcpt: reply ready */
	size_t next_reply;

	/* message */
	int tfd;			/* temporary file, unlinked; -1 */
	uint64_t written;
	int write_err;
	struct buf out;
	struct smtp_data data;
};

/* lmtp.c */
void lmtp_set_state(struct lmtp_sess *s, enum lmtp_state st);
/* lmtp_reply: "CODE ENH TEXT\r\n"; nothing once the session closes. */
void lmtp_reply(struct lmtp_sess *s, int code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* lmtp_txn_reset: forget the transaction (not while deliveries run). */
void lmtp_txn_reset(struct lmtp_sess *s);
/* lmtp_maybe_stop: during a stop, close a session with nothing under
 * way (421). */
void lmtp_maybe_stop(struct lmtp_sess *s);
/* lmtp_job_end: a job of s finished; 1 if the session is gone (and was
 * freed if that was its last job): touch nothing of it then. */
int lmtp_job_end(struct lmtp_sess *s);
/* lmtp_max_size: the SIZE limit. */
uint64_t lmtp_max_size(const struct lmtp_sess *s);

/* lmtp_data.c */
void lmtp_cmd_data(struct lmtp_sess *s, const struct smtp_cmd *c);
/* lmtp_data_input: raw bytes in DATA; returns the bytes used. */
size_t lmtp_data_input(struct lmtp_sess *s, struct span in);

#endif
