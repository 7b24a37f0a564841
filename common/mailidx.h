/* One user's mail index on LMDB: mailboxes, messages, UIDs, flags, MODSEQ, counters. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MAILIDX_H
#define LB_MAILIDX_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * The store is STATE_DIR/mail/DOMAIN/USER/: a Maildir++ tree (the message
 * bytes, the truth) plus index.lmdb (MDB_NOSUBDIR; lock file beside it),
 * which this module alone reads and writes.  docs/store.md describes the
 * layout, the records and who writes what.
 *
 * Mailbox names are UTF-8, "/" is the hierarchy separator, "INBOX" is the
 * Maildir root and any other name N lives in the folder directory
 * mailidx_folder_dir(N) (".Sent", ".Archive.2024", ...).
 *
 * Every change happens in one LMDB write transaction that also updates
 * the mailbox's counters (messages, unseen, deleted, size) and its
 * HIGHESTMODSEQ, so STATUS and SELECT never scan.  Readers (imapd, pop3d)
 * see a consistent snapshot per read transaction.  mda, imapd, pop3d and
 * the CLI may have one index open at once: LMDB serialises writers.
 *
 * Functions return 0 on success, -1 on error with a static or per-thread
 * message in *why (may be NULL); lookups return 1 found, 0 not found, -1
 * error.  A full map grows (doubling) up to MAILIDX_MAP_MAX instead of
 * failing.
 *
 * Map growth and MAILIDX_RETRY: when a write call or mailidx_txn_commit
 * finds the map full, the LMDB transaction is already lost (LMDB cannot
 * continue it), so the call aborts it, doubles the map and returns
 * MAILIDX_RETRY (-2, which is also "< 0").  The caller then
 * mailidx_txn_abort()s and runs the whole transaction again from
 * mailidx_txn_begin.  mailidx_write() does exactly that loop around a
 * callback and is the easy way to write: a callback must therefore be
 * safe to run more than once (keep its side effects outside the index,
 * such as renamed files, idempotent or before the call).  The map can
 * only be resized while this handle has no other transaction open; if
 * one is, the growth waits for the next mailidx_txn_begin with none.
 */

#define MAILIDX_NAME_MAX 512		/* mailbox name bytes */
#define MAILIDX_FILE_MAX 255		/* Maildir file name */
#define MAILIDX_MAP_MAX (16ULL << 30)	/* LMDB map ceiling */
#define MAILIDX_KEYWORDS 64		/* keywords per user */
#define MAILIDX_MAP_INIT (64ULL << 20)	/* map of a new handle */
#define MAILIDX_RETRY (-2)		/* map grown: run the txn again */

/* System flags (RFC 9051 2.3.2); keywords are bits of a separate mask. */
#define MAILIDX_F_SEEN 0x01u
#define MAILIDX_F_ANSWERED 0x02u
#define MAILIDX_F_FLAGGED 0x04u
#define MAILIDX_F_DELETED 0x08u
#define MAILIDX_F_DRAFT 0x10u

/* SPECIAL-USE (RFC 6154) attributes of a mailbox. */
#define MAILIDX_SU_SENT 0x01u
#define MAILIDX_SU_DRAFTS 0x02u
#define MAILIDX_SU_TRASH 0x04u
#define MAILIDX_SU_JUNK 0x08u
#define MAILIDX_SU_ARCHIVE 0x10u
#define MAILIDX_SU_ALL 0x20u
#define MAILIDX_SU_FLAGGED 0x40u

struct mailidx;
struct mailidx_txn;

struct mailidx_mbox {
	uint32_t id;			/* stable internal id, never reused */
	char name[MAILIDX_NAME_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t messages;
	uint32_t unseen;		/* messages without \Seen */
	uint32_t deleted;		/* messages with \Deleted */
	uint64_t size;			/* sum of message sizes */
	uint32_t special_use;		/* MAILIDX_SU_* */
	int subscribed;
	uint32_t recent_uid;		/* UIDs >= this are \Recent (rev1) */
	int64_t new_mtime_ns;		/* new/ and cur/ mtimes at the last */
	int64_t cur_mtime_ns;		/* reconcile (docs/store.md) */
};

struct mailidx_msg {
	uint32_t uid;
	uint64_t modseq;
	uint32_t flags;			/* MAILIDX_F_* */
	uint64_t keywords;		/* bit i: keyword id i */
	uint64_t size;			/* RFC822.SIZE: bytes with CRLF */
	int64_t internaldate;		/* unix seconds */
	int64_t savedate;		/* when it came into this mailbox */
	uint64_t emailid;		/* OBJECTID EMAILID (RFC 8474) */
	uint64_t threadid;		/* OBJECTID THREADID, 0 if none */
	char file[MAILIDX_FILE_MAX + 1];/* "new/NAME" or "cur/NAME:2,FS" */
};

/* mailidx_open: open (MAILIDX_CREATE: create) the index of the Maildir
 * root dir.  A new index gets INBOX and the special folders (Sent,
 * Drafts, Trash, Junk, Archive, with their SPECIAL-USE), all subscribed,
 * and their Maildir directories. */
#define MAILIDX_RDONLY 0x1
#define MAILIDX_CREATE 0x2
int mailidx_open(const char *dir, int flags, struct mailidx **idx_out,
    const char **why) __attribute__((warn_unused_result));
/*
 * mailidx_open_map: mailidx_open with this initial map size (bytes,
 * rounded up by LMDB to pages; mailidx_open uses MAILIDX_MAP_INIT).
 * With MAILIDX_CREATE, an index.lmdb that is missing or that LMDB
 * refuses as corrupt (it is moved aside as index.lmdb.bad.SECONDS) is
 * rebuilt from the Maildir: every folder directory becomes a mailbox
 * (subscribed), every file a message with the flags of its name, and
 * every mailbox gets a new UIDVALIDITY (docs/store.md).
 */
int mailidx_open_map(const char *dir, int flags, size_t map_size,
    struct mailidx **idx_out, const char **why)
    __attribute__((warn_unused_result));
/* mailidx_close: every transaction of idx must have ended. */
void mailidx_close(struct mailidx **idx);
/* mailidx_map_size: the current map size in bytes. */
size_t mailidx_map_size(const struct mailidx *idx);
/* mailidx_rebuilt: 1 if this open made the index from the Maildir. */
int mailidx_rebuilt(const struct mailidx *idx);
/* mailidx_dir: the Maildir root the index was opened on. */
const char *mailidx_dir(const struct mailidx *idx);

/* Transactions: one writer at a time across processes; a reader sees a
 * snapshot.  A failed call inside a write transaction leaves it usable
 * only for mailidx_txn_abort (a commit of it fails, with MAILIDX_RETRY
 * if the failure was a full map). */
int mailidx_txn_begin(struct mailidx *idx, int write,
    struct mailidx_txn **txn_out, const char **why)
    __attribute__((warn_unused_result));
int mailidx_txn_commit(struct mailidx_txn **txn, const char **why)
    __attribute__((warn_unused_result));
void mailidx_txn_abort(struct mailidx_txn **txn);
/*
 * mailidx_write: begin a write transaction, call fn(t, arg, why), commit;
 * if fn or the commit returns MAILIDX_RETRY, abort and do it all again.
 * fn returns 0 to commit, anything else to abort (that value is
 * returned).  Returns 0, fn's non-zero value, or -1.
 */
typedef int (*mailidx_txn_fn)(struct mailidx_txn *t, void *arg,
    const char **why);
int mailidx_write(struct mailidx *idx, mailidx_txn_fn fn, void *arg,
    const char **why) __attribute__((warn_unused_result));

/* Mailboxes.  The index makes no directories: before creating a
 * mailbox, make its Maildir (maildir_make with mailidx_folder_dir); after
 * deleting or renaming one, remove or rename its directory.  The name
 * "INBOX" is case-sensitive here: the IMAP layer maps "inbox" to it.
 * create starts a mailbox with uidnext 1, highestmodseq 1, unsubscribed.
 * delete refuses INBOX.  rename also renames the inferiors "from/..."
 * (each folder directory is the caller's to rename). */
int mailidx_mbox_get(struct mailidx_txn *t, const char *name,
    struct mailidx_mbox *out);
int mailidx_mbox_get_id(struct mailidx_txn *t, uint32_t id,
    struct mailidx_mbox *out);
int mailidx_mbox_create(struct mailidx_txn *t, const char *name,
    uint32_t special_use, struct mailidx_mbox *out, const char **why);
/* delete: the mailbox and its messages' records (files: the caller). */
int mailidx_mbox_delete(struct mailidx_txn *t, const char *name,
    const char **why);
/* rename keeps ids, UIDs and UIDVALIDITY (RFC 9051 6.3.6); INBOX may not
 * be renamed here (the IMAP layer moves its messages instead). */
int mailidx_mbox_rename(struct mailidx_txn *t, const char *from,
    const char *to, const char **why);
int mailidx_mbox_subscribe(struct mailidx_txn *t, const char *name, int on,
    const char **why);
/*
 * mailidx_mbox_claim_recent: IMAP4rev1's \Recent (RFC 3501 2.3.2: a
 * message is recent in exactly one session, the first to be told of
 * it).  The mailbox's UIDs from recent_uid up to uidnext go to the
 * caller: *lo_out and *hi_out get that range [lo, hi) (empty when lo ==
 * hi) and recent_uid becomes uidnext, so no later claim gets them.
 * Write transaction.  0, or -1 (no such mailbox, write failed).
 */
int mailidx_mbox_claim_recent(struct mailidx_txn *t, uint32_t mbox_id,
    uint32_t *lo_out, uint32_t *hi_out, const char **why)
    __attribute__((warn_unused_result));
typedef int (*mailidx_mbox_fn)(const struct mailidx_mbox *m, void *arg);
/* every mailbox, sorted by name; fn non-zero stops and is returned */
int mailidx_mbox_list(struct mailidx_txn *t, mailidx_mbox_fn fn, void *arg);

/* Messages.  append assigns uid = uidnext++, modseq = ++highestmodseq,
 * savedate = now, emailid if 0; in->file, size, flags, keywords,
 * internaldate are the caller's.  cache is the parsed-header blob
 * (common/msgcache.h), stored beside the record. */
int mailidx_msg_append(struct mailidx_txn *t, uint32_t mbox_id,
    struct mailidx_msg *msg, struct span cache, const char **why);
int mailidx_msg_get(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    struct mailidx_msg *out);
/* mailidx_msg_cache: the blob stored with the message (valid until the
 * transaction ends). */
int mailidx_msg_cache(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    struct span *out);
/* mailidx_msg_set_cache: store (replace) the blob of a message that has
 * none or a stale one, e.g. one reconcile found (it stores none); no
 * MODSEQ change, since no IMAP-visible data changes. */
int mailidx_msg_set_cache(struct mailidx_txn *t, uint32_t mbox_id,
    uint32_t uid, struct span cache, const char **why);
typedef int (*mailidx_msg_fn)(const struct mailidx_msg *m, void *arg);
/* messages with uid in [lo, hi] ascending (hi UINT32_MAX: to the end) */
int mailidx_msg_range(struct mailidx_txn *t, uint32_t mbox_id, uint32_t lo,
    uint32_t hi, mailidx_msg_fn fn, void *arg);
/* messages whose modseq > since, ascending by uid (CONDSTORE) */
int mailidx_msg_changed(struct mailidx_txn *t, uint32_t mbox_id,
    uint64_t since, mailidx_msg_fn fn, void *arg);

/*
 * mailidx_msg_store: set (op '='), add ('+') or remove ('-') flags and
 * keywords.  If nothing changes, nothing is written and *modseq_out is
 * the message's modseq; else modseq = ++highestmodseq and the counters
 * follow.  unchangedsince (0: none; RFC 7162 3.1.3): if the message's
 * modseq is greater, nothing changes and 0 is returned with *modified_out
 * = 1.  The file name's ":2," flags are the caller's to rename (the index
 * records the new name with mailidx_msg_set_file).
 */
int mailidx_msg_store(struct mailidx_txn *t, uint32_t mbox_id, uint32_t uid,
    char op, uint32_t flags, uint64_t keywords, uint64_t unchangedsince,
    struct mailidx_msg *out, int *modified_out, const char **why);
int mailidx_msg_set_file(struct mailidx_txn *t, uint32_t mbox_id,
    uint32_t uid, const char *file, const char **why);
/* expunge: record removed; (modseq = ++highestmodseq, uid) remembered
 * for QRESYNC VANISHED (RFC 7162 3.2.10). */
int mailidx_msg_expunge(struct mailidx_txn *t, uint32_t mbox_id,
    uint32_t uid, const char **why);
typedef int (*mailidx_uid_fn)(uint32_t uid, void *arg);
/* UIDs expunged with modseq > since, ascending */
int mailidx_vanished(struct mailidx_txn *t, uint32_t mbox_id,
    uint64_t since, mailidx_uid_fn fn, void *arg);

/* Keywords: user-wide names <-> ids 0..63 (id 64: none left).  Names
 * are stored as given (the IMAP layer compares case-insensitively).
 * keyword_id: 1 found (or made, with create), 0 not found, -1 error;
 * with all 64 ids taken, -1 and *id_out = MAILIDX_KEYWORDS. */
int mailidx_keyword_id(struct mailidx_txn *t, const char *name, int create,
    unsigned *id_out, const char **why);
int mailidx_keyword_name(struct mailidx_txn *t, unsigned id, char *out,
    size_t outsz);

/*
 * mailidx_reconcile: make the index agree with the Maildir of one mailbox
 * if new/ or cur/ changed since the last look (mtimes), or always with
 * force: files that appeared (delivered by another program) get UIDs in
 * order of their names, flags from ":2," info; files that vanished are
 * expunged; renamed files (flags changed by another program) are matched
 * by their base name and their flags taken.  *changed_out: 1 if anything
 * changed.  Needs a write transaction.  New files get flags from their
 * names, keywords none, internaldate the file's mtime, size ",S=" or the
 * file's size, and no cache blob (mailidx_msg_cache then says 0: the
 * reader parses the file).  Mtimes less than a second old are not
 * remembered, so a change in the same clock tick is seen next time.
 */
int mailidx_reconcile(struct mailidx_txn *t, const char *maildir_root,
    uint32_t mbox_id, int force, int *changed_out, const char **why);

/* mailidx_folder_dir: the Maildir++ directory of a mailbox name relative
 * to the root ("" for INBOX, ".Sent", ".Archive.2024"); "/" becomes ".",
 * and "." and "%" inside a name part become "%2E" and "%25".  -1 if the
 * name is empty, has an empty part ("a//b", "/a", "a/") or does not fit. */
int mailidx_folder_dir(const char *name, char *out, size_t outsz);
/* mailidx_folder_name: the inverse (".Archive.2024" -> "Archive/2024");
 * -1 for a directory no name maps to (no leading '.', an empty part, a
 * '%' not followed by 2E or 25). */
int mailidx_folder_name(const char *dir, char *out, size_t outsz);

/* Maildir letters (common/maildir.h) <-> MAILIDX_F_*: D draft, F
 * flagged, R answered, S seen, T deleted.  to_maildir keeps the letters
 * of old that have no IMAP flag (P, lower-case, others). */
uint32_t mailidx_flags_from_maildir(uint64_t letters);
uint64_t mailidx_flags_to_maildir(uint32_t flags, uint64_t old);

#endif
