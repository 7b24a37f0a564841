/* letterbox-mda's own declarations: recipient checks, delivery into the store, worker threads, LMTP. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MDA_H
#define LB_MDA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/wpool.h"
#include "common/userdb.h"

struct ev_loop;

/* ---- prefix.c: pure helpers (tests/unit/test_mda_prefix.c) ---- */

/*
 * mda_prefix: append "Return-Path: <SENDER>\r\nDelivered-To: RCPT\r\n" to
 * out (sender "" is the null path "<>").  The header lines every
 * delivered copy starts with.  -1 if out's cap is reached, or if either
 * string holds CR, LF or NUL (they come from parsed paths, which cannot,
 * but a header must never be injected).
 */
int mda_prefix(struct buf *out, const char *sender, const char *rcpt)
    __attribute__((warn_unused_result));

/*
 * Line ends for the one-shot deliver: bytes from another MTA may end
 * lines with LF or CRLF; the store holds CRLF.  A bare LF becomes CRLF,
 * CRLF stays, a bare CR (not followed by LF) becomes CRLF too.  Pure and
 * incremental: out must have room for 2 * in.n + 1 bytes; returns the
 * bytes written.  Call mda_crlf_end at the end (a CR held back).
 */
struct mda_crlf {
	int held_cr;		/* the last byte fed was a CR */
};
size_t mda_crlf_feed(struct mda_crlf *c, struct span in, uint8_t *out);
size_t mda_crlf_end(struct mda_crlf *c, uint8_t *out);


/*
 * mda_order_take: LMTP's replies after the final "." go out in RCPT
 * order (RFC 2033 4.2) although deliveries finish in any order.  done[i]
 * is non-zero once recipient i has its reply; *next is the first one
 * not yet sent.  Returns how many consecutive recipients from *next can
 * be sent now and advances *next past them.
 */
size_t mda_order_take(const unsigned char *done, size_t n, size_t *next);

/* ---- store.c: per-user index handles, quota usage, delivery ---- */

/*
 * The store of every user, STATE_DIR/mail.  One struct mailidx per user
 * per process (LMDB forbids opening one environment twice in a
 * process), cached and shared by the worker threads.  mailidx opens
 * with MDB_NOTLS, so a transaction is not tied to a thread, but the
 * handle's own bookkeeping (open transactions, pending map growth) has
 * no lock: every use of a handle holds that user's mutex.  The mutex is
 * also held from the link into new/ until the index commit, so that
 * this process's reconcile never sees a file another of its threads has
 * linked but not yet indexed.
 */
struct mda_store;

struct mda_store *mda_store_new(const char *mail_dir, const char *host);
void mda_store_free(struct mda_store **st);

/* Quotas of one mailbox owner (from authd; 0 is unlimited). */
struct mda_target {
	char address[USERDB_ADDR_MAX];	/* "user@domain" */
	uint64_t quota_bytes;
	uint64_t quota_messages;
};

/*
 * mda_store_full: 1 if adding a message of size bytes would pass t's
 * quota (bytes or messages, summed over every mailbox of the user), 0 if
 * not, -1 on an error (*why).  Opens (and on first use creates) the
 * user's Maildir and index.
 */
int mda_store_full(struct mda_store *st, const struct mda_target *t,
    uint64_t size, const char **why) __attribute__((warn_unused_result));

enum mda_status {
	MDA_OK = 0,		/* durable and indexed */
	MDA_FULL,		/* over quota: 452 4.2.2 */
	MDA_TEMP,		/* disk, index: 451 4.3.0 */
};

/*
 * mda_store_deliver: deliver the msg_size bytes of msg_fd (read with
 * pread; CRLF line ends) into t's INBOX, after the Return-Path and
 * Delivered-To lines: tmp/, fsync, link into new/, fsync new/, then one
 * index transaction that appends it (with its msgcache blob) and
 * reconciles INBOX.  MDA_OK with *uid_out; MDA_FULL (nothing written);
 * MDA_TEMP with *why (nothing left in tmp/, new/ or the index, as far as
 * unlink can ensure).  Any thread.
 */
enum mda_status mda_store_deliver(struct mda_store *st,
    const struct mda_target *t, int msg_fd, uint64_t msg_size,
    const char *sender, const char *rcpt, uint32_t *uid_out,
    const char **why);

/* mda_store_print: the diagnostic "index" subcommand: every mailbox of
 * the user with its counters and every message's UID, flags, size and
 * file, to stdout.  0, or -1 (*why). */
int mda_store_print(const char *mail_dir, const char *address,
    const char **why);

/* ---- check.c: what authd says about a recipient (blocking) ---- */

enum mda_rcpt_kind {
	MDA_RCPT_OK = 0,	/* local: targets[] are its mailboxes */
	MDA_RCPT_UNKNOWN,	/* 550 5.1.1 */
	MDA_RCPT_REMOTE,	/* not ours: 550 5.1.1 too */
	MDA_RCPT_FULL,		/* a mailbox over quota: 452 4.2.2 */
	MDA_RCPT_TEMP,		/* authd or the store failed: 451 4.3.0 */
};

struct mda_rcpt_res {
	enum mda_rcpt_kind kind;
	const char *why;		/* static, for TEMP */
	size_t n;			/* mailbox targets */
	struct mda_target t[USERDB_MAX_TARGETS];
	size_t n_forwards;		/* ignored forward targets */
};

/*
 * mda_rcpt_check: resolve addr with authd at authd_path
 * (IPC_AUTH_RESOLVE), fetch the quota of each mailbox target
 * (IPC_AUTH_USERINFO) and compare it with the store's counters for a
 * message of size bytes (0 if not known yet).  Blocking, with a timeout:
 * call it on a worker thread or in the one-shot.  Each thread keeps its
 * own connection to authd.
 */
void mda_rcpt_check(const char *authd_path, struct mda_store *st,
    const char *addr, uint64_t size, struct mda_rcpt_res *out);

/* ---- lmtp.c: the LMTP server ---- */

struct cfg;
struct peer_set;
struct lmtp_server;

struct lmtp_server *lmtp_server_new(struct ev_loop *loop,
    const struct cfg *cfg, struct wpool *pool, struct mda_store *st,
    const char *authd_path, const char *tmp_dir);
/* lmtp_server_listen: serve fd (owned), checking each peer's uid. */
void lmtp_server_listen(struct lmtp_server *srv, int fd,
    const struct peer_set *peers);
/* lmtp_server_set_cfg: a reloaded config (SIGHUP), for new commands. */
void lmtp_server_set_cfg(struct lmtp_server *srv, const struct cfg *cfg);
/* lmtp_server_stop: stop accepting, close idle sessions; fn(arg) runs
 * once no session is left. */
void lmtp_server_stop(struct lmtp_server *srv, void (*fn)(void *),
    void *arg);
void lmtp_server_free(struct lmtp_server **srv);

/* ---- oneshot.c: the subcommands ---- */

/* sysexits.h codes of "deliver" */
#define MDA_EX_OK 0
#define MDA_EX_USAGE 64
#define MDA_EX_NOUSER 67
#define MDA_EX_TEMPFAIL 75

int mda_cmd_deliver(const struct cfg *cfg, int argc, char **argv);
int mda_cmd_index(const struct cfg *cfg, int argc, char **argv);

#endif
