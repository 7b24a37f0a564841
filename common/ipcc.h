/* An asynchronous request/reply client for a daemon's unix socket (authd, queued). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IPCC_H
#define LB_IPCC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ipc.h"

struct ev_loop;
struct ipcc;

/*
 * Called once per request: with the reply (hdr, payload valid during the
 * call; fd -1 or a received descriptor the callee now owns), or with hdr
 * NULL when no reply will come (the server went away, or the request
 * timed out); why then says which.  Never called from inside
 * ipcc_request itself.
 */
typedef void ipcc_reply_fn(void *arg, const struct ipc_hdr *hdr,
    struct span payload, int fd, const char *why);

/*
 * ipcc_new: a client for the unix socket at path.  It connects when the
 * first request is made and again after the server went away (a
 * restarted daemon).  timeout_s bounds each request.
 */
struct ipcc *ipcc_new(struct ev_loop *loop, const char *path,
    double timeout_s);
void ipcc_free(struct ipcc **cp);

/*
 * ipcc_request: send m (finished; its request id is replaced by one of
 * ours, returned in *reqid_out) and call fn(arg, ...) with the reply.
 * -1 if the server cannot be reached right now or the output queue is
 * full: fn will not be called and the caller answers "try later".
 */
int ipcc_request(struct ipcc *c, struct ipc_msg *m, ipcc_reply_fn *fn,
    void *arg, uint64_t *reqid_out) __attribute__((warn_unused_result));

/* ipcc_send: a message that has no reply (e.g. IPC_QUEUE_ABORT); -1 as
 * for ipcc_request. */
int ipcc_send(struct ipcc *c, struct ipc_msg *m)
    __attribute__((warn_unused_result));

/* ipcc_cancel: forget a pending request (its session went away); its
 * callback will not be called.  A reply that still comes is dropped (and
 * a descriptor with it closed). */
void ipcc_cancel(struct ipcc *c, uint64_t reqid);

/* ipcc_pending: requests waiting for a reply. */
size_t ipcc_pending(const struct ipcc *c);

#endif
