/* queued's admin interface: list, show, flush, delete, hold and release messages for `letterbox queue` (docs/queue.md, "Admin commands"). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_ADMIN_H
#define LB_QUEUE_ADMIN_H

#include "common/buf.h"

struct ev_loop;
struct queue_sched;

/*
 * The CLI talks to queued over spool/admin.sock (made by queued, mode
 * 0600, so only root and the queue user reach it; SO_PEERCRED checks
 * the same).  Requests and replies are IPC_QADMIN_* frames
 * (common/ipc_msg.h); each reply is text the CLI prints as it is.
 *
 * Held messages are marked by an empty file spool/hold/ID, so a hold
 * survives a restart of queued.
 */

struct queue_admin;

/* queue_admin_new: make spool/hold/ and listen on spool/admin.sock,
 * both through spool_fd (queued's spool/ descriptor).  NULL with *why. */
struct queue_admin *queue_admin_new(struct ev_loop *loop, int spool_fd,
    struct queue_sched *qs, const char **why);
void queue_admin_free(struct queue_admin **qa);

/* The operations, for the admin socket and for tests.  Each appends a
 * line (or a listing) to out and returns 0, or -1 with the error text in
 * out (unknown id, busy). */
int queue_sched_list(struct queue_sched *qs, struct buf *out);
int queue_sched_show(struct queue_sched *qs, const char *id,
    struct buf *out);
/* flush: every deferred recipient of id (NULL: of every message) is due
 * now; held messages stay held. */
int queue_sched_flush(struct queue_sched *qs, const char *id,
    struct buf *out);
/* delete: remove the message without a DSN; refused while an attempt
 * of it is under way. */
int queue_sched_delete(struct queue_sched *qs, const char *id,
    struct buf *out);
int queue_sched_hold(struct queue_sched *qs, const char *id, int hold,
    struct buf *out);
/* queue_sched_is_held: the hold marker of id exists (at load). */
int queue_sched_is_held(struct queue_sched *qs, const char *id);

#endif
