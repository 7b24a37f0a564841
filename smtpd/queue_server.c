/* queued's smtpd-facing IPC: peer checks, per-connection spool files, verified commits. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ev.h>

#include "common/envelope.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_spare.h"

/* Spool files kept ready for new messages (queue_spare.h). */
#define QUEUE_SERVER_SPARES 32

struct queue_client;

/* One spool file a connection created and has not yet seen through. */
struct queue_file {
	struct queue_file *next, *prev;
	struct queue_client *cl;	/* NULL once the client is gone */
	struct queue_server *srv;
	char id[QUEUE_ID_LEN + 1];
	int fd;				/* O_RDWR, ours */
	int committing;
	uint64_t reqid;			/* of the COMMIT */
	uint64_t size;
	size_t rcpts;
	char from[300];			/* escaped, for the log */
	struct queue_job job;
};

struct queue_client {
	struct queue_client *next, *prev;
	struct queue_server *srv;
	struct ipc_conn *conn;
	char id[17];
	struct queue_file *files;
	size_t n_files;
};

struct queue_server {
	struct ev_loop *loop;
	const struct queue_spool *sp;
	struct queue_commit *qc;
	struct queue_spare *spare;	/* files made ahead */
	struct peer_listener listener;
	struct queue_client *clients;
	struct queue_file *orphans;	/* committing, client gone */
	size_t committing;
	int stopping;
	void (*idle)(void *);
	void *idle_arg;
	void (*queued)(void *, const char *);
	void *queued_arg;
};

static void queue_client_free(struct queue_client *cl);

static void
queue_maybe_idle(struct queue_server *srv)
{
	void (*fn)(void *) = srv->idle;

	if (srv->stopping && srv->committing == 0 && fn != NULL) {
		srv->idle = NULL;
		fn(srv->idle_arg);
	}
}

/* ---- replies ---- */

static void
queue_send(struct queue_client *cl, uint32_t type, struct ipc_msg *m)
{
	if (ipc_msg_finish(m) < 0 || ipc_conn_send(cl->conn, m) < 0)
		log_warn("conn=%s event=reply-dropped type=%u", cl->id, type);
	ipc_msg_fini(m);
}

static void
queue_reply_text(struct queue_client *cl, uint32_t type, uint64_t reqid,
    const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, type, reqid);
	(void)ipc_put_cstr(&m, text);
	queue_send(cl, type, &m);
}

/* ---- files ---- */

static void
queue_file_link(struct queue_file **head, struct queue_file *f)
{
	f->prev = NULL;
	f->next = *head;
	if (*head != NULL)
		(*head)->prev = f;
	*head = f;
}

static void
queue_file_unlink(struct queue_file **head, struct queue_file *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		*head = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->next = f->prev = NULL;
}

/* Forget f; with drop, remove tmp/ID as well. */
static void
queue_file_free(struct queue_file *f, int drop)
{
	if (drop && queue_spool_unlink_tmp(f->srv->sp, f->id) < 0 &&
	    errno != ENOENT)
		log_warn_errno("id=%s event=unlink-failed", f->id);
	if (f->cl != NULL) {
		queue_file_unlink(&f->cl->files, f);
		f->cl->n_files--;
	} else if (f->committing) {
		queue_file_unlink(&f->srv->orphans, f);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static struct queue_file *
queue_file_find(struct queue_client *cl, struct span id)
{
	struct queue_file *f;

	if (!queue_spool_id_valid(id))
		return NULL;
	for (f = cl->files; f != NULL; f = f->next)
		if (memcmp(f->id, id.p, QUEUE_ID_LEN) == 0)
			return f;
	return NULL;
}

/* ---- requests ---- */

static int
queue_handle_create(struct queue_client *cl, uint64_t reqid,
    struct span payload)
{
	struct queue_server *srv = cl->srv;
	struct ipc_reader rd;
	struct queue_file *f;
	struct ipc_msg m;
	int wfd;

	ipc_reader_init(&rd, payload);
	if (ipc_get_end(&rd) < 0)
		return -1;
	if (srv->stopping) {
		queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid, "shutting down");
		return 0;
	}
	if (cl->n_files >= QUEUE_SERVER_MAX_OPEN) {
		log_warn("conn=%s event=create-refused reason=\"too many "
		    "open files\" open=%zu", cl->id, cl->n_files);
		queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid,
		    "too many spool files open");
		return 0;
	}
	f = xcalloc(1, sizeof(*f));
	f->srv = srv;
	if (queue_spare_take(srv->spare, f->id, &f->fd, &wfd) < 0 &&
	    queue_spool_create(srv->sp, f->id, &f->fd, &wfd) < 0) {
		log_warn_errno("conn=%s event=create-failed", cl->id);
		free(f);
		queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid,
		    "cannot create a spool file");
		return 0;
	}
	f->cl = cl;
	queue_file_link(&cl->files, f);
	cl->n_files++;
	ipc_msg_init(&m, IPC_QUEUE_CREATED, reqid);
	(void)ipc_put_cstr(&m, f->id);
	m.fd = wfd;
	if (ipc_msg_finish(&m) < 0 || ipc_conn_send(cl->conn, &m) < 0) {
		log_warn("conn=%s id=%s event=reply-dropped type=%u", cl->id,
		    f->id, IPC_QUEUE_CREATED);
		queue_file_free(f, 1);
	} else {
		log_debug("conn=%s id=%s event=created", cl->id, f->id);
	}
	ipc_msg_fini(&m);
	close(wfd);	/* the message carries its own dup */
	return 0;
}

/*
 * SECURITY: before a byte of it is synced, the file must be what smtpd
 * says it is: exactly the size it announced (so it has finished writing)
 * and starting with an envelope that parses and carries this file's id.
 * Most heads fit in the first 64 KiB; a longer one (many recipients) is
 * read again up to the envelope's own limit.  Returns 0 or -1 and *why.
 */
static int
queue_file_verify(struct queue_file *f, uint64_t size, const char **why)
{
	struct envelope_rcpt *rcpts;
	struct envelope env;
	struct stat st;
	size_t want = QUEUE_SERVER_HEAD_READ, body_off;
	enum parse_rc rc = PARSE_MORE;
	uint8_t *head = NULL;
	ssize_t n;

	if (fstat(f->fd, &st) < 0) {
		*why = "cannot stat the file";
		return -1;
	}
	if ((uint64_t)st.st_size != size) {
		*why = "size mismatch";
		return -1;
	}
	rcpts = xcalloc(ENVELOPE_MAX_RCPTS, sizeof(*rcpts));
	*why = "envelope incomplete";
	for (;;) {
		head = xrealloc(head, want);
		if ((n = queue_spool_read_head(f->fd, head, want)) < 0) {
			*why = "cannot read the file";
			break;
		}
		memset(&env, 0, sizeof(env));
		env.rcpts = rcpts;
		env.max_rcpts = ENVELOPE_MAX_RCPTS;
		rc = envelope_parse(span_make(head, (size_t)n), &env,
		    &body_off, why);
		if (rc != PARSE_MORE || (size_t)n < want ||
		    want > ENVELOPE_MAX_BYTES)
			break;
		want = ENVELOPE_MAX_BYTES + 1;
	}
	if (rc == PARSE_MORE)
		*why = "envelope incomplete";
	else if (rc == PARSE_OK && (env.id.n != QUEUE_ID_LEN ||
	    memcmp(env.id.p, f->id, QUEUE_ID_LEN) != 0)) {
		*why = "envelope id is not the file's id";
		rc = PARSE_ERR;
	}
	if (rc == PARSE_OK) {
		log_escape(env.from, f->from, sizeof(f->from));
		f->rcpts = env.n_rcpts;
		f->size = size;
	}
	free(head);
	free(rcpts);
	return rc == PARSE_OK ? 0 : -1;
}

static void
queue_commit_refuse(struct queue_file *f, uint64_t reqid, const char *why)
{
	struct queue_client *cl = f->cl;

	log_warn("conn=%s event=commit-failed id=%s reason=\"%s\"", cl->id,
	    f->id, why);
	/* gone before the answer goes out: smtpd may look (tests do) */
	queue_file_free(f, 1);
	queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid, why);
}

static int
queue_handle_commit(struct queue_client *cl, uint64_t reqid,
    struct span payload)
{
	struct queue_server *srv = cl->srv;
	struct ipc_reader rd;
	struct queue_file *f;
	struct span id;
	uint64_t size;
	const char *why = NULL;
	char esc[64];

	ipc_reader_init(&rd, payload);
	(void)ipc_get_str(&rd, &id, 64);
	(void)ipc_get_u64(&rd, &size);
	if (ipc_get_end(&rd) < 0)
		return -1;
	/* SECURITY: only a file this connection created; another
	 * connection's id (or a made-up one) is unknown here. */
	if ((f = queue_file_find(cl, id)) == NULL) {
		log_warn("conn=%s event=commit-failed id=\"%s\" "
		    "reason=\"unknown id\"", cl->id,
		    log_escape(id, esc, sizeof(esc)));
		queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid, "unknown id");
		return 0;
	}
	if (f->committing) {
		log_warn("conn=%s event=commit-failed id=%s "
		    "reason=\"already committing\"", cl->id, f->id);
		queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, reqid,
		    "commit already under way");
		return 0;
	}
	if (srv->stopping) {
		queue_commit_refuse(f, reqid, "shutting down");
		return 0;
	}
	/* XXX: the head is read on the loop; smtpd wrote it moments ago,
	 * so it comes from the page cache. */
	if (queue_file_verify(f, size, &why) < 0) {
		queue_commit_refuse(f, reqid, why);
		return 0;
	}
	f->committing = 1;
	f->reqid = reqid;
	memcpy(f->job.id, f->id, sizeof(f->job.id));
	f->job.fd = f->fd;
	f->job.arg = f;
	srv->committing++;
	queue_commit_submit(srv->qc, &f->job);
	return 0;
}

static int
queue_handle_abort(struct queue_client *cl, struct span payload)
{
	struct ipc_reader rd;
	struct queue_file *f;
	struct span id;
	char esc[64];

	ipc_reader_init(&rd, payload);
	(void)ipc_get_str(&rd, &id, 64);
	if (ipc_get_end(&rd) < 0)
		return -1;
	if ((f = queue_file_find(cl, id)) == NULL) {
		log_debug("conn=%s event=abort-ignored id=\"%s\" "
		    "reason=\"unknown id\"", cl->id,
		    log_escape(id, esc, sizeof(esc)));
		return 0;
	}
	if (f->committing) {
		/* too late: its COMMIT will be answered either way */
		log_notice("conn=%s event=abort-ignored id=%s "
		    "reason=\"commit under way\"", cl->id, f->id);
		return 0;
	}
	log_info("conn=%s event=aborted id=%s", cl->id, f->id);
	queue_file_free(f, 1);
	return 0;
}

/* Loop thread: a commit finished, one way or the other. */
static void
queue_commit_done(struct queue_job *job, void *arg)
{
	struct queue_server *srv = arg;
	struct queue_file *f = job->arg;
	struct queue_client *cl = f->cl;
	const char *conn = cl != NULL ? cl->id : "-";
	struct ipc_msg m;

	BUG_ON(srv->committing == 0);
	srv->committing--;
	if (job->status == 0) {
		log_info("conn=%s event=queued id=%s from=<%s> rcpts=%zu "
		    "size=%llu", conn, f->id, f->from, f->rcpts,
		    (unsigned long long)f->size);
		if (cl != NULL) {
			ipc_msg_init(&m, IPC_QUEUE_COMMITTED, f->reqid);
			(void)ipc_put_cstr(&m, f->id);
			queue_send(cl, IPC_QUEUE_COMMITTED, &m);
		}
		if (srv->queued != NULL)
			srv->queued(srv->queued_arg, f->id);
	} else {
		errno = job->err;
		log_warn_errno("conn=%s event=commit-failed id=%s reason=\"%s\"",
		    conn, f->id, job->why);
		if (cl != NULL)
			queue_reply_text(cl, IPC_QUEUE_TEMPFAIL, f->reqid,
			    "could not make the message durable");
	}
	/* the committer already removed the file of a failed job */
	queue_file_free(f, 0);
	queue_maybe_idle(srv);
}

static int
queue_on_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span payload,
    int fd, void *arg)
{
	struct queue_client *cl = arg;
	int rc = -1;

	if (fd >= 0)
		close(fd);	/* no request of ours carries one */
	else if (h->type == IPC_QUEUE_CREATE)
		rc = queue_handle_create(cl, h->reqid, payload);
	else if (h->type == IPC_QUEUE_COMMIT)
		rc = queue_handle_commit(cl, h->reqid, payload);
	else if (h->type == IPC_QUEUE_ABORT)
		rc = queue_handle_abort(cl, payload);
	if (rc == 0)
		return 0;
	/* SECURITY: a peer that breaks the protocol is told and cut off,
	 * and loses its uncommitted files; queued itself carries on. */
	log_warn("conn=%s event=malformed type=%u len=%u fd=%d", cl->id,
	    h->type, h->len, fd >= 0);
	queue_reply_text(cl, IPC_QUEUE_ERROR, h->reqid, "malformed request");
	queue_client_free(cl);
	return -1;
}

/* ---- clients ---- */

static void
queue_on_close(struct ipc_conn *c, void *arg)
{
	struct queue_client *cl = arg;

	log_debug("conn=%s event=disconnect", cl->id);
	queue_client_free(cl);
}

static void
queue_client_free(struct queue_client *cl)
{
	struct queue_server *srv = cl->srv;
	struct queue_file *f;
	size_t dropped = 0;

	while ((f = cl->files) != NULL) {
		if (f->committing) {
			/* the commit goes on; the message may end up queued
			 * without its client knowing (docs/queue.md) */
			queue_file_unlink(&cl->files, f);
			cl->n_files--;
			f->cl = NULL;
			queue_file_link(&srv->orphans, f);
			continue;
		}
		queue_file_free(f, 1);
		dropped++;
	}
	if (dropped)
		log_info("conn=%s event=closed-with-files removed=%zu", cl->id,
		    dropped);
	ipc_conn_free(&cl->conn);
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		srv->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	free(cl);
}

void
queue_server_add_client(struct queue_server *srv, int fd)
{
	struct queue_client *cl = xcalloc(1, sizeof(*cl));

	cl->srv = srv;
	log_new_id(cl->id);
	cl->conn = ipc_conn_new(srv->loop, fd, QUEUE_SERVER_MAX_REQUEST,
	    queue_on_msg, queue_on_close, cl);
	cl->next = srv->clients;
	if (srv->clients != NULL)
		srv->clients->prev = cl;
	srv->clients = cl;
	log_debug("conn=%s event=connect fd=%d", cl->id, fd);
}

static void
queue_accept(void *arg, int fd, uid_t uid)
{
	queue_server_add_client(arg, fd);
}

void
queue_server_listen(struct queue_server *srv, int fd,
    const struct peer_set *peers)
{
	/* SECURITY: only the daemons letterboxd lets talk to us (and root)
	 * may put mail into the spool: peer_listener checks each one. */
	peer_listener_start(&srv->listener, srv->loop, fd, peers,
	    queue_accept, srv);
}

/* ---- server ---- */

struct queue_server *
queue_server_new(struct ev_loop *loop, const struct queue_spool *sp,
    unsigned commit_threads, const struct queue_commit_io *io)
{
	struct queue_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	srv->sp = sp;
	peer_listener_init(&srv->listener);
	srv->qc = queue_commit_new(loop, sp, commit_threads, io,
	    queue_commit_done, srv);
	srv->spare = queue_spare_new(sp, QUEUE_SERVER_SPARES);
	return srv;
}

static void
queue_stop_listening(struct queue_server *srv)
{
	peer_listener_stop(&srv->listener);
}

void
queue_server_shutdown(struct queue_server *srv, void (*idle)(void *),
    void *arg)
{
	queue_stop_listening(srv);
	srv->stopping = 1;
	srv->idle = idle;
	srv->idle_arg = arg;
	queue_maybe_idle(srv);
}

void
queue_server_on_queued(struct queue_server *srv,
    void (*fn)(void *arg, const char *id), void *arg)
{
	srv->queued = fn;
	srv->queued_arg = arg;
}

size_t
queue_server_committing(const struct queue_server *srv)
{
	return srv->committing;
}

void
queue_server_free(struct queue_server **srvp)
{
	struct queue_server *srv = *srvp;

	if (srv == NULL)
		return;
	srv->idle = NULL;
	queue_stop_listening(srv);
	while (srv->clients != NULL)
		queue_client_free(srv->clients);
	/* answers (to nobody) every commit still in flight */
	queue_commit_free(&srv->qc);
	queue_spare_free(&srv->spare);
	BUG_ON(srv->orphans != NULL);
	free(srv);
	*srvp = NULL;
}
