/* queued's IPC server: smtpd connections creating, committing and aborting spool files. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_SERVER_H
#define LB_QUEUE_SERVER_H

#include <stddef.h>

#include "common/peer.h"
#include "smtpd/queue_commit.h"
#include "smtpd/queue_spool.h"

struct ev_loop;

/*
 * The protocol is docs/queue.md, "The commit protocol"; the messages are
 * IPC_QUEUE_* in common/ipc_msg.h.  SECURITY: smtpd faces the Internet
 * and is trusted less than queued.  So each connection may only commit or
 * abort the files it created itself, at most QUEUE_SERVER_MAX_OPEN at a
 * time; a COMMIT is checked (size as announced, an envelope that parses
 * and names the file's own id) before anything is synced; a malformed
 * frame gets IPC_QUEUE_ERROR and the connection is closed; and when a
 * connection closes, every file it created and did not commit is removed.
 */

#define QUEUE_SERVER_MAX_OPEN 64	/* uncommitted files per connection */
#define QUEUE_SERVER_MAX_REQUEST 4096	/* requests are tiny */
#define QUEUE_SERVER_HEAD_READ (64u * 1024u)	/* first read of a head */

struct queue_server;

/*
 * queue_server_new: serve files in sp (borrowed, must outlive the server),
 * committing with commit_threads threads through io (copied; use
 * &queue_commit_io_sys outside tests).
 */
struct queue_server *queue_server_new(struct ev_loop *loop,
    const struct queue_spool *sp, unsigned commit_threads,
    const struct queue_commit_io *io);

/* queue_server_free: close every connection (removing their uncommitted
 * files), finish the commits in flight, free. */
void queue_server_free(struct queue_server **srv);

/* queue_server_listen: accept on fd (a listening unix socket, owned from
 * now on); only peers whose uid is in peers (copied) are served. */
void queue_server_listen(struct queue_server *srv, int fd,
    const struct peer_set *peers);

/* queue_server_add_client: serve an already connected fd (owned). */
void queue_server_add_client(struct queue_server *srv, int fd);

/*
 * queue_server_shutdown: stop accepting connections, refuse new CREATE
 * and COMMIT requests with TEMPFAIL, and call idle(arg) once no commit is
 * in flight (maybe at once).
 */
void queue_server_shutdown(struct queue_server *srv, void (*idle)(void *),
    void *arg);

/* queue_server_on_queued: call fn(arg, id) for each message once its
 * commit is durable (the scheduler picks it up). */
void queue_server_on_queued(struct queue_server *srv,
    void (*fn)(void *arg, const char *id), void *arg);

/* queue_server_committing: commits in flight (for tests and logs). */
size_t queue_server_committing(const struct queue_server *srv);

#endif
