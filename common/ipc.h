/* Framed messages between daemons over unix stream sockets, with fd passing. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IPC_H
#define LB_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

struct ev_loop;

/*
 * Wire format (little endian):
 *   u32 type | u32 payload length | u64 request id | payload
 * Payload fields: u32, u64 (fixed width), str (u32 length + bytes, may
 * contain NUL).  A frame whose payload is longer than the receiver's limit
 * is an error, never buffered.  At most one fd rides along with a frame
 * (SCM_RIGHTS on the frame's first byte).
 */
#define IPC_HDR_SIZE 16
#define IPC_MAX_PAYLOAD (256u * 1024u)

struct ipc_hdr {
	uint32_t type;
	uint32_t len;
	uint64_t reqid;
};

/* ---- building a message ---- */

struct ipc_msg {
	struct buf b;		/* header + payload */
	int fd;			/* -1, or an fd to pass (not owned) */
};

void ipc_msg_init(struct ipc_msg *m, uint32_t type, uint64_t reqid);
/* ipc_msg_set_reqid: change the request id of a message being built. */
void ipc_msg_set_reqid(struct ipc_msg *m, uint64_t reqid);
void ipc_msg_fini(struct ipc_msg *m);
/* Each put fails (-1) once the payload would pass IPC_MAX_PAYLOAD; the
 * message is then poisoned and ipc_msg_finish fails too. */
int ipc_put_u32(struct ipc_msg *m, uint32_t v);
int ipc_put_u64(struct ipc_msg *m, uint64_t v);
int ipc_put_str(struct ipc_msg *m, struct span s);
int ipc_put_cstr(struct ipc_msg *m, const char *s);
/* ipc_msg_finish: write the length into the header; 0, or -1 if poisoned. */
int ipc_msg_finish(struct ipc_msg *m) __attribute__((warn_unused_result));

/* ---- decoding ---- */

/*
 * ipc_frame_parse: look for one whole frame at the start of in.
 *   PARSE_OK:    *hdr_out, *payload_out (points into in), *used_out set.
 *   PARSE_MORE:  not all there yet (nothing consumed).
 *   PARSE_FATAL: the header announces more than max_payload bytes, or an
 *                unknown type range (type 0): close the peer.
 * Pure; fuzz target tests/fuzz/fuzz_ipc.c.
 */
enum parse_rc ipc_frame_parse(struct span in, size_t max_payload,
    size_t *used_out, struct ipc_hdr *hdr_out, struct span *payload_out);

/* A cursor over a payload.  Any short read sets err and further gets fail;
 * ipc_get_end checks that no error happened and nothing is left over. */
struct ipc_reader {
	struct span rest;
	int err;
};

void ipc_reader_init(struct ipc_reader *r, struct span payload);
int ipc_get_u32(struct ipc_reader *r, uint32_t *out);
int ipc_get_u64(struct ipc_reader *r, uint64_t *out);
/* ipc_get_str: a borrowed span into the payload; fails if longer than max. */
int ipc_get_str(struct ipc_reader *r, struct span *out, size_t max);
/* ipc_get_cstr: copies into out (outsz incl. NUL); fails on embedded NUL
 * or if it does not fit. */
int ipc_get_cstr(struct ipc_reader *r, char *out, size_t outsz);
int ipc_get_end(struct ipc_reader *r) __attribute__((warn_unused_result));

/* ---- a connection on a libev loop ---- */

struct ipc_conn;

/* Called once per frame.  fd is -1 or a received fd now owned by the
 * callee.  The payload is valid only during the call.  The callback may
 * call ipc_conn_free on its own connection; it then returns -1 to say so. */
typedef int (*ipc_msg_fn)(struct ipc_conn *c, const struct ipc_hdr *hdr,
    struct span payload, int fd, void *arg);
/* Called once when the peer closes, errs or sends a malformed frame;
 * the connection must then be freed by the owner (inside or after). */
typedef void (*ipc_close_fn)(struct ipc_conn *c, void *arg);

/* ipc_conn_new: takes ownership of fd (made non-blocking, closed on free).
 * max_payload caps incoming frames (<= IPC_MAX_PAYLOAD). */
struct ipc_conn *ipc_conn_new(struct ev_loop *loop, int fd,
    size_t max_payload, ipc_msg_fn on_msg, ipc_close_fn on_close, void *arg);
/* ipc_conn_send: queue a finished message (copied; m->fd is dup'ed and
 * passed with it).  -1 if the output queue is over its limit (1 MiB). */
int ipc_conn_send(struct ipc_conn *c, const struct ipc_msg *m)
    __attribute__((warn_unused_result));
int ipc_conn_fd(const struct ipc_conn *c);
void ipc_conn_free(struct ipc_conn **c);

/* ---- blocking helpers: CLI, tests, startup ---- */

/* ipc_connect_unix: a connected blocking stream socket, or -1 (errno). */
int ipc_connect_unix(const char *path);
/* ipc_call: send m, wait up to timeout_ms for one reply frame; its type in
 * *type_out, payload copied into reply (initialised by caller). -1 on
 * error or timeout (errno ETIMEDOUT). */
int ipc_call(int fd, const struct ipc_msg *m, int timeout_ms,
    struct ipc_hdr *hdr_out, struct buf *reply)
    __attribute__((warn_unused_result));
/* ipc_send_blocking: write a whole finished message to a blocking fd. */
int ipc_send_blocking(int fd, const struct ipc_msg *m)
    __attribute__((warn_unused_result));

#endif
