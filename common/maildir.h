/* Maildir and Maildir++: unique names, ":2," flags, folders, tmp/ to new/ delivery. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MAILDIR_H
#define LB_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

/*
 * The Maildir convention (cr.yp.to/proto/maildir.html) with the
 * Maildir++ folder layout: a mailbox is a directory with cur/ new/ tmp/;
 * folders are ".NAME" directories beside them, each with an empty
 * "maildirfolder" file.  docs/store.md has the whole layout.
 *
 * A message file is named
 *
 *     SECONDS.M<usec>P<pid>Q<n>R<16 hex random>.HOST,S=SIZE[:2,FLAGS]
 *
 * HOST has "/" and ":" written as "\057" and "\072"; SIZE is the file's
 * size in bytes; FLAGS are ASCII letters in ASCII order (D draft,
 * F flagged, P passed, R replied, S seen, T trashed; letters we do not
 * know are kept).  The "base name" is everything before the first ':';
 * it names the message for its whole life, while the flags change.
 *
 * The name and flag functions are pure (no I/O, no allocation).
 */

#define MAILDIR_NAME_MAX 255	/* a file name, without "new/" or "cur/" */
#define MAILDIR_HOST_MAX 64	/* host bytes kept (after escaping) */

/* Flag letters as a mask: bit (c - 'A') for 'A'..'Z', bit 26 + (c - 'a')
 * for 'a'..'z' (Dovecot keeps keywords in lower-case letters). */
static inline uint64_t
maildir_flag_bit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return 1ULL << (c - 'A');
	if (c >= 'a' && c <= 'z')
		return 1ULL << (26 + (c - 'a'));
	return 0;
}
#define MAILDIR_FL_DRAFT (1ULL << ('D' - 'A'))
#define MAILDIR_FL_FLAGGED (1ULL << ('F' - 'A'))
#define MAILDIR_FL_PASSED (1ULL << ('P' - 'A'))
#define MAILDIR_FL_REPLIED (1ULL << ('R' - 'A'))
#define MAILDIR_FL_SEEN (1ULL << ('S' - 'A'))
#define MAILDIR_FL_TRASHED (1ULL << ('T' - 'A'))

/* What a file name says.  Spans point into the parsed name. */
struct maildir_name {
	struct span base;	/* before the first ':' (the whole name if none) */
	struct span info;	/* after ":2,": the flag letters */
	int has_info;		/* 1 if the name has ":2," */
	uint64_t size;		/* ",S=" of the base name */
	int has_size;
	uint64_t vsize;		/* ",W=" (Dovecot: size with CRLF) */
	int has_vsize;
	int64_t seconds;	/* the leading decimal SECONDS, -1 if none */
};

/*
 * maildir_name_parse: split a file name (no directory part).  0, or -1
 * if it is not a message name: empty, longer than MAILDIR_NAME_MAX,
 * starting with '.', or holding '/' or NUL.  Anything else parses: a
 * name of another program's making has no size (has_size 0), a ':'
 * suffix other than ":2," leaves has_info 0, and a malformed ",S="
 * leaves has_size 0.
 */
int maildir_name_parse(struct span name, struct maildir_name *out)
    __attribute__((warn_unused_result));

/* maildir_flags_parse: letters of an info part into a mask.  0, or -1 if
 * a byte is not an ASCII letter (the mask then holds the letters before
 * it).  Repeated letters are accepted. */
int maildir_flags_parse(struct span info, uint64_t *letters_out)
    __attribute__((warn_unused_result));

/* maildir_flags_format: the letters of mask in ASCII order plus NUL into
 * out (53 bytes always suffice); returns the length, or -1 if outsz is
 * too small. */
int maildir_flags_format(uint64_t letters, char *out, size_t outsz);

/*
 * maildir_name_format: a new unique name without the info part:
 * "SECONDS.M<usec>P<pid>Q<q>R<rnd as 16 hex>.HOST" and ",S=SIZE" when
 * has_size.  HOST is escaped and cut to MAILDIR_HOST_MAX bytes (never in
 * the middle of an escape).  Returns the length, or -1 if outsz is too
 * small.
 */
int maildir_name_format(char *out, size_t outsz, int64_t seconds,
    long usec, pid_t pid, unsigned long q, uint64_t rnd, const char *host,
    int has_size, uint64_t size);

/*
 * maildir_name_with_flags: base name (the part before any ':' of name)
 * plus ":2," plus the letters, into out.  Returns the length, or -1 if
 * it does not fit in outsz or MAILDIR_NAME_MAX.
 */
int maildir_name_with_flags(struct span name, uint64_t letters, char *out,
    size_t outsz);

/* ---- directories and files (I/O) ---- */

/*
 * maildir_make: make the Maildir at root/folder ("" for the root itself;
 * else a Maildir++ folder such as ".Sent") with cur/ new/ tmp/ mode
 * 0700, and for a folder an empty "maildirfolder" file.  What exists
 * already is kept.  0, or -1 with *why.
 */
int maildir_make(const char *root, const char *folder, const char **why)
    __attribute__((warn_unused_result));

/*
 * A message being written: maildir_tmp_open makes tmp/NAME (O_EXCL,
 * 0600) in the Maildir dir; the caller writes fd (directly or with
 * maildir_tmp_write), then maildir_commit makes it durable and visible,
 * or maildir_tmp_abort removes it.
 */
struct maildir_tmp {
	int fd;
	char dir[4096];
	char name[MAILDIR_NAME_MAX + 1];	/* in tmp/, without ",S=" */
};

int maildir_tmp_open(const char *dir, const char *host,
    struct maildir_tmp *t, const char **why)
    __attribute__((warn_unused_result));
/* maildir_tmp_write: write all n bytes (retrying short writes). */
int maildir_tmp_write(struct maildir_tmp *t, const void *p, size_t n,
    const char **why) __attribute__((warn_unused_result));
/*
 * maildir_commit: fsync the file, link it as new/NAME,S=SIZE (or, with
 * to_cur, cur/NAME,S=SIZE:2,LETTERS), remove tmp/NAME, fsync the target
 * directory, close fd.  On return 0 the message survives a crash: this
 * is what the MDA waits for before its 250.  *file_out gets "new/..." or
 * "cur/..." (outsz >= MAILDIR_NAME_MAX + 5).  On -1 the tmp file is gone.
 */
int maildir_commit(struct maildir_tmp *t, int to_cur, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
    __attribute__((warn_unused_result));
void maildir_tmp_abort(struct maildir_tmp *t);
/*
 * maildir_link: maildir_commit without its fsyncs, for group commit:
 * the caller has fsynced t->fd itself, and the name is not durable until
 * its maildir_fsync_dir of new/ (or cur/), which covers every link made
 * before it.  On -1 the tmp file is gone.
 */
int maildir_link(struct maildir_tmp *t, int to_cur, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
    __attribute__((warn_unused_result));
/* maildir_fsync_dir: fsync a directory, so a name made or removed in it
 * survives a crash. */
int maildir_fsync_dir(const char *path, const char **why)
    __attribute__((warn_unused_result));

/*
 * maildir_sweep_tmp: remove the regular files in dir/tmp/ not modified
 * for more than max_age_s seconds: what a writer that died mid-delivery
 * left (the Maildir convention waits 36 hours, MAILDIR_TMP_MAX_AGE, since
 * a slow writer may still be at work).  Returns how many, or -1.
 */
#define MAILDIR_TMP_MAX_AGE (36L * 3600L)
int maildir_sweep_tmp(const char *dir, long max_age_s);

/*
 * maildir_user_dir: the Maildir root of the mailbox "user@domain" under
 * mail_dir: MAIL_DIR/DOMAIN/USER (the MDA, pop3d and imapd agree on it).  SECURITY: the parts come from the
 * user database, but a quoted local part may hold '/', so both parts
 * are written with '/', '%' and a leading '.' as %2F, %25 and %2E, and
 * anything below 0x20 refused.  0, or -1 (malformed, too long).
 */
int maildir_user_dir(const char *mail_dir, const char *address, char *out,
    size_t outsz) __attribute__((warn_unused_result));

/* maildir_deliver: tmp_open, write the n bytes, commit to new/. */
int maildir_deliver(const char *dir, const char *host, const void *p,
    size_t n, char *file_out, size_t outsz, const char **why)
    __attribute__((warn_unused_result));

/*
 * maildir_set_flags: rename dir/file ("new/NAME..." or "cur/NAME...") to
 * cur/BASE:2,LETTERS.  *file_out gets the new "cur/..." name.  0; 1 if
 * the file is gone (ENOENT: another program moved or removed it); -1.
 */
int maildir_set_flags(const char *dir, const char *file, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
    __attribute__((warn_unused_result));

#endif
