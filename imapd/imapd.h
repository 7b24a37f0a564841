/* letterbox-imapd's own declarations: the server, the shared per-user index, one IMAP session. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAPD_H
#define LB_IMAPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "common/authsess.h"
#include "common/buf.h"
#include "common/cfg.h"
#include "common/mailidx.h"
#include "common/net.h"
#include "imapd/imap_parse.h"

struct cio;
struct ipcc;
struct tlsw;
struct mailidx;
struct mailidx_txn;
struct maildir_tmp;
struct imap_append;

#define IMAP_TAG_MAX 64		/* longer tags get "* BAD" */
#define IMAP_SASL_LINE_MAX 8192	/* an AUTHENTICATE response line */
#define IMAP_APPEND_MAX (64ULL * 1024 * 1024)	/* APPENDLIMIT */

/*
 * One user's index, shared by every session of that user in this
 * process: LMDB must not open one environment twice in a process (its
 * fcntl locks are per process, and closing the second handle would drop
 * the first one's locks).  Refcounted; closed with the last session.
 */
struct imap_user {
	struct imap_user *next, *prev;
	unsigned refs;
	char addr[320];
	char *root;			/* the Maildir root */
	struct mailidx *idx;
	int quota_known;		/* authd answered USERINFO */
	uint64_t quota_bytes, quota_messages;	/* 0: no limit */
};

/*
 * One inotify watch on a directory (a mailbox's new/ or cur/), shared by
 * the sessions that have that mailbox selected.  One inotify fd per
 * process (the default max_user_instances is 128).
 */
struct imap_watch {
	struct imap_watch *next, *prev;
	int wd;
	unsigned refs;
};

/* The process: one per imapd worker. */
struct imapd {
	struct ev_loop *loop;
	const struct cfg *cfg;		/* current (replaced on SIGHUP) */
	struct tlsw *tls;		/* NULL if no listener uses TLS */
	struct ipcc *authd;		/* RUN_DIR/authd.sock */
	char *mail_dir;			/* STATE_DIR/mail */
	struct net_server *srv[CFG_LISTEN_KIND_MAX];
	unsigned n_sessions;
	struct imap_sess *sessions;	/* every open session */
	struct imap_user *users;
	int stopping;
	struct authsess_mechs mechs;	/* SASL mechanisms from authd */
	int ino_fd;			/* inotify, -1 if unavailable */
	ev_io ino_w;
	struct imap_watch *watches;
	unsigned idle_watches;		/* of those, with refs 0 (kept) */
	struct wpool *pool;		/* index writes, fsyncs */
	/* main.c: the heap's free pages go back once sessions stop coming
	 * and going (sessions counts both) */
	ev_timer trim_w;
	unsigned long churn, churn_seen;
	unsigned trim_busy;		/* ticks with churn since a trim */
	int trim_due;
};

/* RFC 9051 3: the connection states. */
enum imap_state {
	IMAP_S_NOTAUTH = 0,
	IMAP_S_AUTH,
	IMAP_S_SELECTED,
	IMAP_S_LOGOUT,
};

enum imap_wait {
	IMAP_W_NONE = 0,
	IMAP_W_LOGIN,		/* IPC_AUTH_CHECK of LOGIN */
	IMAP_W_SASL,		/* a SASL step in authd */
	IMAP_W_SASL_CLIENT,	/* a "+ challenge" sent: a client line */
	IMAP_W_IDLE,		/* IDLE: waiting for DONE */
	IMAP_W_OUTPUT,		/* a long response waits for output to drain */
	IMAP_W_WORKER,		/* the command waits for a worker thread */
};

/* ENABLE'd extensions (RFC 5161). */
#define IMAP_EN_CONDSTORE	0x1
#define IMAP_EN_QRESYNC		0x2
#define IMAP_EN_UTF8		0x4
#define IMAP_EN_REV2		0x8	/* RFC 9051 Appendix A: IMAP4rev2 */

/* The selected mailbox: the MSN -> UID map and what the session has
 * told the client so far. */
struct imap_sel {
	uint32_t mbox_id;
	char name[512];
	int readonly;			/* EXAMINE */
	uint32_t uidvalidity;
	uint32_t *uids;			/* uids[msn - 1], ascending */
	uint32_t n, cap;
	uint32_t uidnext;		/* as last reported */
	uint64_t modseq;		/* flag changes up to this were told */
	uint64_t exp_modseq;		/* expunges up to this were told */
	uint32_t (*recent)[2];		/* rev1 \Recent here: UID ranges
					 * [lo, hi), ascending */
	size_t n_recent;
	struct imap_watch *w_new, *w_cur;
	int changed;			/* inotify fired since the last look */
	uint32_t *saved;		/* SEARCHRES "$": UIDs, ascending */
	size_t n_saved;
};

struct imap_sess {
	struct imapd *d;
	struct imap_sess *next, *prev;	/* d->sessions */
	struct cio *io;
	char id[17];
	enum cfg_listener_kind kind;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char ip[NET_PEER_STRLEN];
	enum imap_state state;
	unsigned errors;
	ev_tstamp started;

	/* the command reader, allocated while a command is being read */
	struct imap_parser *ps;
	unsigned enabled;		/* IMAP_EN_* */
	char tag[IMAP_TAG_MAX + 1];	/* of the command running */
	size_t in_after;		/* input bytes after that command */

	enum imap_wait wait;
	uint64_t wait_reqid;
	struct authsess auth;		/* LOGIN, AUTHENTICATE with authd */
	uint64_t quota_reqid;		/* USERINFO asked at login */

	struct imap_append *app;	/* APPEND's messages being received */
	const char *sink_why;		/* why the sink refused (static) */

	struct imap_user *u;		/* logged in */
	struct imap_sel *sel;		/* SELECTED */
	struct imap_fetch_job *fetch;	/* a FETCH being sent */

	struct coro *co;		/* a command stopped for a worker */
	int co_closed;			/* the connection went meanwhile */
	uint32_t worker_waits;		/* logged at disconnect: waits= */
};

/* imap_rev2: the session asked for IMAP4rev2 (ENABLE IMAP4rev2); else
 * it gets RFC 3501's behaviour where the two differ. */
static inline int
imap_rev2(const struct imap_sess *s)
{
	return (s->enabled & IMAP_EN_REV2) != 0;
}

/* imap_utf8: UTF-8 in quoted strings and mailbox names (RFC 6855
 * UTF8=ACCEPT, or IMAP4rev2: RFC 9051 5.1 and Appendix A). */
static inline int
imap_utf8(const struct imap_sess *s)
{
	return (s->enabled & (IMAP_EN_UTF8 | IMAP_EN_REV2)) != 0;
}

/* session.c */
void imap_sess_new(struct imapd *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind);
void imap_sess_stop_all(struct imapd *d);
/* imap_send / imap_printf: raw response bytes. */
void imap_send(struct imap_sess *s, const void *p, size_t n);
void imap_printf(struct imap_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* imap_reply: "TAG OK|NO|BAD TEXT" for the running command; NO and BAD
 * count as errors (too many: BYE). */
void imap_reply(struct imap_sess *s, const char *status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
#define imap_ok(s, ...) imap_reply((s), "OK", __VA_ARGS__)
#define imap_no(s, ...) imap_reply((s), "NO", __VA_ARGS__)
#define imap_bad(s, ...) imap_reply((s), "BAD", __VA_ARGS__)
void imap_set_state(struct imap_sess *s, enum imap_state st);
void imap_wait_begin(struct imap_sess *s, enum imap_wait w, uint64_t reqid);
/* imap_blocking: fn(arg) on a worker thread, the loop serving others
 * meanwhile; the command goes on where it stopped.  Directly if not in
 * a command's coroutine (imap_coro.h).  fn must not touch the session's
 * output or any other session. */
int imap_blocking(struct imap_sess *s, int (*fn)(void *arg), void *arg);
/* imap_why_keep: a worker's message (copied by it) kept for the loop. */
const char *imap_why_keep(const char *why);
/* imap_idx_write: mailidx_write of the session's user, so. */
int imap_idx_write(struct imap_sess *s, mailidx_txn_fn fn, void *arg,
    const char **why);
void imap_wait_end(struct imap_sess *s);
void imap_close(struct imap_sess *s, const char *why);
int imap_auth_allowed(const struct imap_sess *s);
int imap_tls_offered(const struct imap_sess *s);
/* imap_capabilities: the CAPABILITY list for this session's state. */
void imap_capabilities(struct imap_sess *s, struct buf *out);
/* imap_quote: an IMAP string (quoted, or a literal when it must be). */
int imap_quote(struct buf *out, const char *s, size_t n);

/* The handlers: args are the command's arguments (after UID's). */
typedef void imap_cmd_fn(struct imap_sess *s, struct imap_args args,
    int uid);

/* sess_auth.c: any state, and NOT AUTHENTICATED */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout,
    imap_cmd_id, imap_cmd_enable, imap_cmd_starttls, imap_cmd_login,
    imap_cmd_authenticate;
void imap_auth_line(struct imap_sess *s, struct span line);
void imap_auth_abort(struct imap_sess *s);
void imap_auth_fetch_mechs(struct imapd *d);

/* sess_mbox.c: AUTHENTICATED */
imap_cmd_fn imap_cmd_list, imap_cmd_lsub, imap_cmd_namespace,
    imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe,
    imap_cmd_unsubscribe, imap_cmd_status;
/* imap_mbox_name: an astring mailbox argument as the index name ("inbox"
 * in any case is "INBOX"; UTF-8, decoded from modified UTF-7 for a
 * session that names mailboxes so), into out; -1 (BAD already sent) if
 * it is not a usable name. */
int imap_mbox_name(struct imap_sess *s, const struct imap_arg *a, char *out,
    size_t outsz);
/* imap_mbox_list_one: the "* LIST" line a plain LIST would send for
 * mailbox name (RFC 9051 6.3.2: SELECT and EXAMINE send it); nothing
 * if the index cannot be read or name is not there. */
void imap_mbox_list_one(struct imap_sess *s, const char *name);
/* imap_mbox_quote: index mailbox name as an IMAP string in the
 * session's form (UTF-8, or modified UTF-7 for a session that enabled
 * neither IMAP4rev2 nor UTF8=ACCEPT); buf_add's result. */
int imap_mbox_quote(struct imap_sess *s, struct buf *out, const char *name);

/* sess_select.c: SELECTED */
imap_cmd_fn imap_cmd_select, imap_cmd_examine, imap_cmd_close,
    imap_cmd_unselect, imap_cmd_check, imap_cmd_expunge, imap_cmd_fetch,
    imap_cmd_store, imap_cmd_idle;
void imap_idle_line(struct imap_sess *s, struct span line);
/* imap_sess_idle_update: tell a session in IDLE what changed (in a
 * coroutine of its own, so its index writes run on a worker). */
void imap_sess_idle_update(struct imap_sess *s);
/* imap_uidset_add: ascending numbers as a sequence set "1:3,7". */
void imap_uidset_add(struct buf *b, const uint32_t *v, size_t n);
/* imap_flags_add: "FLAGS (...)" of message uid of the selected
 * mailbox (\Recent too in an IMAP4rev1 session that has it recent). */
void imap_flags_add(struct imap_sess *s, struct mailidx_txn *t,
    struct buf *b, uint32_t uid, uint32_t flags, uint64_t keywords);
/* imap_sel_recent: 1 if uid is \Recent in this session (RFC 3501
 * 2.3.2; never in an IMAP4rev2 session). */
int imap_sel_recent(const struct imap_sess *s, uint32_t uid);
/* imap_sel_recent_count: the messages of the selected mailbox that are
 * \Recent in this session. */
uint32_t imap_sel_recent_count(const struct imap_sess *s);
struct imap_seq;
/* imap_mark_seen: set \Seen on set (UIDs if uid) and rename files. */
void imap_mark_seen(struct imap_sess *s, const struct imap_seq *set,
    int uid);
/* sess_fetch.c: FETCH, resumed as the output drains */
void imap_fetch_drained(struct imap_sess *s);
void imap_fetch_stop(struct imap_sess *s);
/* imap_sel_seq: a sequence set argument of the selected mailbox (UIDs
 * if uid), "$" (RFC 5182) replaced by the saved search result.  0, or
 * -1 with a static *why. */
int imap_sel_seq(struct imap_sess *s, struct imap_seq *set, struct span text,
    int uid, const char **why);
/* imap_sel_msn: the MSN of uid in the selected mailbox, 0 if none. */
uint32_t imap_sel_msn(const struct imap_sel *sel, uint32_t uid);
/* imap_sel_dir: the Maildir directory of mailbox name. */
int imap_sel_dir(const struct imap_sess *s, const char *name, char *out,
    size_t outsz);
/* imap_sel_free: leave the selected mailbox (no expunge). */
void imap_sel_free(struct imap_sess *s);
/* imap_sel_update: send the untagged EXISTS / FETCH / EXPUNGE for what
 * changed in the selected mailbox since the last look (RFC 9051 7);
 * expunges only when allow_expunge (never during FETCH, STORE, SEARCH:
 * RFC 9051 7.5.1). */
void imap_sel_update(struct imap_sess *s, int allow_expunge);
/* imap_notify: inotify fired on wd: mark sessions, wake IDLErs. */
void imap_notify(struct imapd *d, int wd);

/* sess_append.c: APPEND and the literal sink */
imap_cmd_fn imap_cmd_append;
int imap_append_sink(void *ctx, enum imap_sink_ev ev,
    const struct imap_lit_info *li, struct span data);
/* imap_append_drop: remove a message file being received, if any. */
void imap_append_drop(struct imap_sess *s);

/* sess_copy.c: SELECTED */
imap_cmd_fn imap_cmd_copy, imap_cmd_move;
/* imap_move_inbox: RENAME INBOX's move of every message into to. */
int imap_move_inbox(struct imap_sess *s, uint32_t inbox_id, const char *to,
    const char **why);

/* sess_quota.c: QUOTA (RFC 9208) */
imap_cmd_fn imap_cmd_getquota, imap_cmd_getquotaroot, imap_cmd_setquota;
/* imap_quota_fetch: ask authd for the user's limits (once per user). */
void imap_quota_fetch(struct imap_sess *s);
void imap_quota_cancel(struct imap_sess *s);
/* imap_quota_over: 1 if n messages of size bytes in all would pass a
 * limit. */
int imap_quota_over(struct imap_sess *s, uint64_t size, uint64_t n);

/* sess_search.c: SELECTED */
imap_cmd_fn imap_cmd_search, imap_cmd_sort, imap_cmd_thread;

/* user.c: the per-process user table and the inotify watches */
struct imap_user *imap_user_get(struct imapd *d, const char *address,
    const char **why);
void imap_user_put(struct imapd *d, struct imap_user **up);
struct imap_watch *imap_watch_add(struct imapd *d, const char *path);
void imap_watch_put(struct imapd *d, struct imap_watch **wp);
void imap_watch_init(struct imapd *d);
void imap_watch_fini(struct imapd *d);

#endif
