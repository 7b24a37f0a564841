/* Spool files made ahead of need on a thread of their own, so that the queue's loop never waits for an inode. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_SPARE_H
#define LB_QUEUE_SPARE_H

#include "smtpd/queue_spool.h"

/*
 * Creating a file can take a millisecond or more: ext4 without a journal
 * scans past every inode freed in the last minute on each allocation,
 * and a busy queue frees one per message.  queued's loop serves every
 * smtpd, so it takes a file made earlier by this thread instead
 * (queue_spool_create, same names and modes).  An unused spare is an
 * empty tmp/ID like one whose SMTP session died: queued's start-up sweep
 * removes any a crash left.
 */
struct queue_spare;

/* queue_spare_new: a thread keeping up to depth files ready; NULL (and
 * a log line) if spool/spare/ cannot be made: then take always says -1. */
struct queue_spare *queue_spare_new(const struct queue_spool *sp,
    unsigned depth);
/* queue_spare_take: loop thread.  0 with a ready file (as
 * queue_spool_create gives it); -1 if none is ready: create one. */
int queue_spare_take(struct queue_spare *s, char id_out[QUEUE_ID_LEN + 1],
    int *fd_out, int *wfd_out);
/* queue_spare_free: stop the thread; unused files are closed and
 * removed. */
void queue_spare_free(struct queue_spare **s);

#endif
