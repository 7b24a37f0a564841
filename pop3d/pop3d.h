/* letterbox-pop3d's own declarations: the server, one POP3 session, the maildrop. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_POP3D_H
#define LB_POP3D_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "common/authsess.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/net.h"
#include "pop3d/pop3_cmd.h"
#include "pop3d/pop3_out.h"

struct cio;
struct ipcc;
struct tlsw;
struct mailidx;

/* The APOP timestamp: "<pid.random.time@" hostname ">" */
#define POP3_APOP_TS_MAX 320

/* Decoded SASL bytes per client line or challenge. */
#define POP3_SASL_MAX 1536

/* The process: one per pop3d worker. */
struct pop3d {
	struct ev_loop *loop;
	const struct cfg *cfg;		/* current (replaced on SIGHUP) */
	struct tlsw *tls;		/* NULL if no listener uses TLS */
	struct ipcc *authd;		/* RUN_DIR/authd.sock */
	char *mail_dir;			/* STATE_DIR/mail */
	struct net_server *srv[CFG_LISTEN_KIND_MAX];
	unsigned n_sessions;
	struct pop3_sess *sessions;	/* every open session */
	int stopping;
	struct authsess_mechs mechs;	/* SASL mechanisms from authd */
};

enum pop3_state {
	POP3_S_AUTH = 0,	/* AUTHORIZATION (RFC 1939 3) */
	POP3_S_SASL,		/* inside an AUTH exchange */
	POP3_S_TRANS,		/* TRANSACTION: the maildrop is ours */
	POP3_S_QUIT,		/* closing (after UPDATE, or dropped) */
};

enum pop3_wait {
	POP3_W_NONE = 0,
	POP3_W_PASS,		/* IPC_AUTH_CHECK of USER/PASS, or APOP */
	POP3_W_SASL,		/* a SASL step */
	POP3_W_RETR,		/* streaming a message: waiting to drain */
};

/* One message of the snapshot taken at login. */
struct pop3_msg {
	uint32_t uid;
	uint64_t size;			/* CRLF form, as RETR sends it */
	int deleted;			/* DELE in this session */
	int retrieved;			/* RETR in this session (mark_read) */
};

/* The maildrop: INBOX as it was at login, and the lock on it. */
struct pop3_drop {
	char root[4096];		/* the user's Maildir */
	int lock_fd;			/* flock held for the session */
	struct mailidx *idx;
	uint32_t mbox_id;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;
	size_t n;
};

struct pop3_sess {
	struct pop3d *d;
	struct pop3_sess *next, *prev;	/* d->sessions */
	struct cio *io;
	char id[17];
	enum cfg_listener_kind kind;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char ip[NET_PEER_STRLEN];
	enum pop3_state state;
	unsigned errors;
	ev_tstamp started;
	char user_arg[POP3_ARG_MAX + 1];/* USER's name, "" if none */
	char user[320];			/* authenticated address */
	char apop_ts[POP3_APOP_TS_MAX];	/* the greeting's, "" if none */

	enum pop3_wait wait;
	uint64_t wait_reqid;
	struct authsess auth;		/* authd: PASS, AUTH */

	struct pop3_drop drop;
	int have_drop;

	/* the message being sent (RETR/TOP) */
	int retr_fd;
	struct pop3_out out;
	uint64_t retr_bytes;
};

/* session.c */
void pop3_sess_new(struct pop3d *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind);
/* pop3_sess_stop_all: SIGTERM: close every session without UPDATE
 * (nothing is deleted; RFC 1939 6). */
void pop3_sess_stop_all(struct pop3d *d);
/* pop3_ok / pop3_err: "+OK TEXT" / "-ERR TEXT"; pop3_err counts an error
 * (too many: the session ends). */
void pop3_ok(struct pop3_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pop3_err(struct pop3_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* pop3_send: raw bytes (multi-line responses). */
void pop3_send(struct pop3_sess *s, const void *p, size_t n);
void pop3_set_state(struct pop3_sess *s, enum pop3_state st);
void pop3_wait_begin(struct pop3_sess *s, enum pop3_wait w, uint64_t reqid);
void pop3_wait_end(struct pop3_sess *s);
void pop3_close(struct pop3_sess *s, const char *why);
/* pop3_auth_allowed: credentials may be sent now (TLS, or configured). */
int pop3_auth_allowed(const struct pop3_sess *s);
int pop3_tls_offered(const struct pop3_sess *s);

/* sess_auth.c: USER PASS APOP AUTH STLS CAPA, and logging in */
void pop3_cmd_user(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_pass(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_apop(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_auth(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_stls(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_capa(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_auth_line(struct pop3_sess *s, struct span line);
void pop3_auth_abort(struct pop3_sess *s);
void pop3_auth_fetch_mechs(struct pop3d *d);
/* pop3_apop_timestamp: "<pid.rnd.now@hostname>" (RFC 1939 7) into out;
 * -1 if longer than outsz. */
int pop3_apop_timestamp(char *out, size_t outsz, long pid, uint64_t rnd,
    long long now, const char *hostname);

/* sess_trans.c: STAT LIST RETR DELE NOOP RSET TOP UIDL QUIT */
void pop3_cmd_stat(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_list(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_retr(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_top(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_dele(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_noop(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_rset(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_uidl(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_quit(struct pop3_sess *s, const struct pop3_cmd *c);
/* pop3_retr_drained: the output drained while a message is streamed. */
void pop3_retr_drained(struct pop3_sess *s);
/* pop3_retr_stop: the session ends in the middle of a message. */
void pop3_retr_stop(struct pop3_sess *s);

/* maildrop.c */
enum pop3_drop_rc {
	POP3_DROP_OK = 0,
	POP3_DROP_IN_USE,	/* another POP3 session holds it */
	POP3_DROP_DELAY,	/* LOGIN-DELAY not yet over */
	POP3_DROP_FAIL,		/* [SYS/TEMP] */
};
/* pop3_drop_open: lock the user's INBOX, reconcile if the Maildir
 * changed behind the index, and take the snapshot. */
enum pop3_drop_rc pop3_drop_open(struct pop3_drop *dr, const char *mail_dir,
    const char *address, unsigned login_delay_s, const char **why);
/* pop3_drop_update: UPDATE state: expunge DELE'd messages (unless
 * leave), set \Seen on the retrieved ones (mark_read).  0 or -1. */
int pop3_drop_update(struct pop3_drop *dr, int leave, int mark_read,
    unsigned *expunged_out, const char **why);
/* pop3_drop_open_msg: an fd on message i's file (following renames by
 * IMAP through the index); -1 with *why (gone: expunged meanwhile). */
int pop3_drop_open_msg(struct pop3_drop *dr, size_t i, const char **why);
/* pop3_drop_close: release the lock and the index; changes nothing. */
void pop3_drop_close(struct pop3_drop *dr);

#endif
