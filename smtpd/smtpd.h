/* letterbox-smtpd's own declarations: the server, one SMTP session, its handlers. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_SMTPD_H
#define LB_SMTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "common/authsess.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/envelope.h"
#include "common/net.h"
#include "common/smtp_cmd.h"
#include "common/smtp_data.h"

struct cio;
struct ipcc;
struct tlsw;

/* RFC 4954 4: an AUTH line may be 12288 octets; ours stop at the line
 * limit (998), which every PLAIN or LOGIN response fits. */
#define SMTP_SASL_MAX 1024

/* The process: one per smtpd worker. */
struct smtpd {
	struct ev_loop *loop;
	const struct cfg *cfg;		/* current (replaced on SIGHUP) */
	struct tlsw *tls;		/* NULL if no listener uses TLS */
	struct ipcc *authd;		/* RUN_DIR/authd.sock */
	struct ipcc *queued;		/* RUN_DIR/queued.sock */
	struct net_server *srv[CFG_LISTEN_KIND_MAX];
	unsigned n_sessions;
	int stopping;
	struct authsess_mechs mechs;	/* SASL mechanisms from authd */
};

enum smtp_state {
	SMTP_S_GREET = 0,	/* greet_pause running; nothing said yet */
	SMTP_S_HELO,		/* greeted; waiting for EHLO/HELO */
	SMTP_S_READY,		/* EHLO done, no transaction */
	SMTP_S_MAIL,		/* MAIL accepted */
	SMTP_S_RCPT,		/* at least one RCPT accepted */
	SMTP_S_DATA,		/* reading DATA */
	SMTP_S_BDAT,		/* reading a BDAT chunk */
	SMTP_S_AUTH,		/* in a SASL exchange */
	SMTP_S_QUIT,		/* closing */
};

/* One recipient of the transaction; strings live in sess->txn_buf. */
struct smtp_rcpt {
	size_t addr_off, addr_len;
	size_t orcpt_off, orcpt_len;
	unsigned notify;
};

/* What the session is waiting for from authd or queued. */
enum smtp_wait {
	SMTP_W_NONE = 0,
	SMTP_W_RCPT,		/* RESOLVE of a recipient */
	SMTP_W_SENDER,		/* RESOLVE of MAIL FROM on submission */
	SMTP_W_CREATE,		/* a spool file */
	SMTP_W_COMMIT,		/* fsync and rename */
	SMTP_W_AUTH,		/* a SASL step */
	SMTP_W_MECHS,		/* the SASL mechanism list */
};

struct smtp_sess {
	struct smtpd *d;
	struct cio *io;
	char id[17];
	enum cfg_listener_kind kind;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char ip[NET_PEER_STRLEN];
	enum smtp_state state;
	int esmtp;			/* EHLO, not HELO */
	char helo[256];
	char user[320];			/* SASL identity, "" if none */
	unsigned errors;		/* replies 5xx/4xx to bad input */
	ev_timer greet_w;
	ev_tstamp started;

	/* asynchronous request in flight */
	enum smtp_wait wait;
	uint64_t wait_reqid;
	struct authsess auth;		/* AUTH through authd */

	/* transaction (reset by RSET, EHLO, end of message) */
	struct buf txn_buf;		/* from, rcpts, envid: small strings */
	size_t from_len;		/* txn_buf[0..from_len) is MAIL FROM */
	int null_sender;
	uint64_t declared_size;		/* SIZE=, 0 if none */
	enum envelope_body body;
	int smtputf8;
	enum envelope_ret ret;
	size_t envid_off, envid_len;
	struct smtp_rcpt *rcpts;
	size_t n_rcpts;
	/* pending RCPT while authd resolves it */
	size_t pend_addr_off, pend_addr_len, pend_orcpt_off, pend_orcpt_len;
	unsigned pend_notify;

	/* message being received */
	char qid[17];			/* spool id, "" if none */
	int qfd;			/* spool file, -1 if none */
	uint64_t written;		/* bytes written to qfd */
	int write_err;			/* errno of a failed write, 0 */
	struct buf out;			/* bytes waiting to go to qfd */
	struct smtp_data data;		/* DATA reader */
	unsigned bdat_flags;		/* BDAT checks, SMTP_DATA_* */
	int bdat_prev_cr;		/* BDAT: last byte of last chunk was CR */
	uint64_t bdat_left;		/* bytes of the current chunk to read */
	int bdat_last;			/* current chunk is the LAST */
	int bdat_started;		/* this transaction uses BDAT */
	/* the reply owed once the current chunk is swallowed, 0 if none */
	int bdat_err_code;
	const char *bdat_err_enh, *bdat_err_text;
	uint64_t msg_size;		/* message bytes so far (no envelope) */
};

/* session.c */
void smtp_sess_new(struct smtpd *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind);
/* smtp_reply: one reply line "CODE ENH TEXT\r\n" (ENH may be NULL). */
void smtp_reply(struct smtp_sess *s, int code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* smtp_reply_err: as smtp_reply, and count an error; after
 * cfg->smtpd.max_errors the session is closed with 421. */
void smtp_reply_err(struct smtp_sess *s, int code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_set_state(struct smtp_sess *s, enum smtp_state st);
/* smtp_wait_begin/end: an answer from authd or queued is pending: stop
 * reading further commands until it comes (replies stay in order). */
void smtp_wait_begin(struct smtp_sess *s, enum smtp_wait w, uint64_t reqid);
void smtp_wait_end(struct smtp_sess *s);
void smtp_txn_reset(struct smtp_sess *s);
void smtp_close(struct smtp_sess *s, const char *why);
int smtp_tls_offered(const struct smtp_sess *s);
int smtp_auth_offered(const struct smtp_sess *s);

/* sess_cmds.c: EHLO HELO RSET NOOP QUIT VRFY EXPN HELP STARTTLS */
void smtp_cmd_ehlo(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_rset(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_noop(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_quit(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_vrfy(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_expn(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_help(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_starttls(struct smtp_sess *s, const struct smtp_cmd *c);

/* sess_mail.c: MAIL RCPT */
void smtp_cmd_mail(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_rcpt(struct smtp_sess *s, const struct smtp_cmd *c);

/* sess_data.c: DATA BDAT and the spool file */
void smtp_cmd_data(struct smtp_sess *s, const struct smtp_cmd *c);
void smtp_cmd_bdat(struct smtp_sess *s, const struct smtp_cmd *c);
/* smtp_data_input: raw bytes while in DATA or BDAT; returns bytes used. */
size_t smtp_data_input(struct smtp_sess *s, struct span in);
/* smtp_spool_abort: drop the spool file of the transaction, if any. */
void smtp_spool_abort(struct smtp_sess *s);

/* sess_auth.c: AUTH */
void smtp_cmd_auth(struct smtp_sess *s, const struct smtp_cmd *c);
/* smtp_auth_line: a client line during a SASL exchange. */
void smtp_auth_line(struct smtp_sess *s, struct span line);
/* smtp_auth_abort: end a SASL exchange in progress (session ends). */
void smtp_auth_abort(struct smtp_sess *s);
/* smtp_auth_fetch_mechs: ask authd for its mechanisms, once. */
void smtp_auth_fetch_mechs(struct smtpd *d);

#endif
