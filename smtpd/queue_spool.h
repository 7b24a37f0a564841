/* queued's spool: file operations on the tmp/ and queue/ directory descriptors (docs/queue.md). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_SPOOL_H
#define LB_QUEUE_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"

/*
 * STATE_DIR/spool/{tmp,queue}/ID.  Every function here works on directory
 * descriptors (openat, renameat, unlinkat), so it keeps working after a
 * chroot and never follows a path a peer could influence: ids are checked
 * with queue_spool_id_valid before they name a file.  None logs; none
 * blocks on anything but the file system.  Safe to call from several
 * threads at once (the descriptors are only read).
 */

#define QUEUE_ID_LEN 16		/* 8 hex of arrival time + 8 hex random */

struct queue_spool {
	int spool_fd;		/* spool/ itself */
	int tmp_fd;		/* spool/tmp/ */
	int queue_fd;		/* spool/queue/ */
};

/*
 * queue_spool_open: take ownership of spool_fd (an O_DIRECTORY descriptor
 * of spool/), make tmp/ and queue/ in it if missing and force them to mode
 * 0700, and open both.  0, or -1 with *why_out (static) and errno; on
 * error spool_fd is closed too.
 */
int queue_spool_open(int spool_fd, struct queue_spool *sp,
    const char **why_out) __attribute__((warn_unused_result));
/* queue_spool_close: close every descriptor (-1 ones are skipped). */
void queue_spool_close(struct queue_spool *sp);

/* queue_spool_id_valid: SECURITY: 1 if id is exactly QUEUE_ID_LEN
 * lowercase hex digits (so it cannot be "..", hold a '/', or be empty). */
int queue_spool_id_valid(struct span id);

/* queue_spool_read_head: pread up to n bytes from offset 0 of a spool
 * file (fewer only at its end); the count, or -1 (errno). */
ssize_t queue_spool_read_head(int fd, uint8_t *p, size_t n);

/*
 * queue_spool_create: a new empty tmp/ID (O_CREAT | O_EXCL, mode 0600),
 * drawing another id on a clash (up to 16 tries).  *fd_out is a
 * read-write descriptor for queued (fstat, pread, fdatasync); *wfd_out a
 * separate write-only open of the same file, the one handed to smtpd so
 * that it cannot read anything, not even this file.  id_out gets the id
 * and a NUL.  0, or -1 with errno (nothing left behind).
 */
int queue_spool_create(const struct queue_spool *sp,
    char id_out[QUEUE_ID_LEN + 1], int *fd_out, int *wfd_out)
    __attribute__((warn_unused_result));

/* queue_spool_create_in: the same in another directory of ours (dir_fd,
 * 0700). */
int queue_spool_create_in(int dir_fd, char id_out[QUEUE_ID_LEN + 1],
    int *fd_out, int *wfd_out) __attribute__((warn_unused_result));
/* queue_spool_subdir: make (mode 0700) and open spool/name. */
int queue_spool_subdir(int spool_fd, const char *name, int *fd_out,
    const char **why_out) __attribute__((warn_unused_result));

/* queue_spool_id_make: a fresh id for time now: 8 hex digits of now, 8
 * of randombytes (libsodium, initialised by the caller). */
void queue_spool_id_make(long long now, char id_out[QUEUE_ID_LEN + 1]);

/* queue_spool_unlink_tmp, _unlink_queue: remove tmp/ID or queue/ID.
 * 0, or -1 with errno (ENOENT included; EINVAL for a bad id). */
int queue_spool_unlink_tmp(const struct queue_spool *sp, const char *id);
int queue_spool_unlink_queue(const struct queue_spool *sp, const char *id);

/* queue_spool_commit_rename: tmp/ID -> queue/ID (not yet durable: the
 * caller fsyncs queue_fd).  0, or -1 with errno. */
int queue_spool_commit_rename(const struct queue_spool *sp, const char *id)
    __attribute__((warn_unused_result));

/*
 * queue_spool_clean_tmp: remove every entry of tmp/ (files, and empty
 * directories someone made there).  *removed_out counts them, *failed_out
 * the ones that could not be removed.  0, or -1 if tmp/ cannot be read.
 */
int queue_spool_clean_tmp(const struct queue_spool *sp, size_t *removed_out,
    size_t *failed_out) __attribute__((warn_unused_result));

/*
 * queue_spool_scan: call fn(id, arg) for each entry of queue/ named by a
 * valid id (in directory order); other names are counted in
 * *ignored_out and left alone.  fn returns 0 to go on, -1 to stop.
 * Returns the number of ids seen, or -1 if queue/ cannot be read.
 */
long queue_spool_scan(const struct queue_spool *sp,
    int (*fn)(const char *id, void *arg), void *arg, size_t *ignored_out);

#endif
