/* authd clients: peer checks, request decoding, throttled password checks and replies. */
/* SPDX-License-Identifier: ISC */
#include "authd/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <ev.h>
#include <sodium.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/xmem.h"
#include "authd/server_priv.h"

static void authd_client_free(struct authd_client *cl);

void
authd_maybe_idle(struct authd_server *srv)
{
	void (*fn)(void *) = srv->idle;

	if (srv->stopping && srv->inflight == 0 && fn != NULL) {
		srv->idle = NULL;
		fn(srv->idle_arg);
	}
}

uint64_t
authd_now_ms(struct authd_server *srv)
{
	return (uint64_t)(ev_now(srv->loop) * 1000.);
}

/* ---- replies ---- */

void
authd_send(struct authd_client *cl, struct ipc_msg *m)
{
	uint32_t type = (uint32_t)m->b.data[0] | (uint32_t)m->b.data[1] << 8;

	if (ipc_msg_finish(m) < 0 || ipc_conn_send(cl->conn, m) < 0)
		log_warn("conn=%s event=reply-dropped type=%u", cl->id, type);
	ipc_msg_fini(m);
}

void
authd_reply_text(struct authd_client *cl, uint32_t type, uint64_t reqid,
    const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, type, reqid);
	(void)ipc_put_cstr(&m, text);
	authd_send(cl, &m);
}

void
authd_reply_fail(struct authd_client *cl, uint64_t reqid, uint32_t reason,
    const char *text)
{
	struct ipc_msg m;

	ipc_msg_init(&m, IPC_AUTH_FAIL, reqid);
	(void)ipc_put_u32(&m, reason);
	(void)ipc_put_cstr(&m, text);
	authd_send(cl, &m);
}

/* ---- requests in flight ---- */

static void
authd_req_wipe(struct authd_req *r)
{
	if (r->pw != NULL) {
		sodium_memzero(r->pw, r->pwlen + 1);
		sodium_free(r->pw);
		r->pw = NULL;
	}
	sodium_memzero(r->user.hash, sizeof(r->user.hash));
}

/* Unlink and free r; the caller has replied or the client is gone. */
void
authd_req_free(struct authd_req *r)
{
	struct authd_client *cl = r->cl;
	struct authd_server *srv = cl->srv;

	ev_timer_stop(srv->loop, &r->delay);
	if (r->job != NULL)
		verifier_cancel(srv->v, r->job);
	authd_req_wipe(r);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		cl->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	cl->inflight--;
	srv->inflight--;
	free(r);
}

static void
authd_log_fail(struct authd_req *r, const char *reason, uint32_t failures)
{
	char user[256], service[96], ip[96];

	log_notice("conn=%s event=auth-fail service=%s user=\"%s\" ip=%s "
	    "reason=%s failures=%u delay_ms=%u", r->cl->id,
	    log_escape(span_cstr(r->service), service, sizeof(service)),
	    log_escape(span_cstr(r->name), user, sizeof(user)),
	    log_escape(span_cstr(r->ip), ip, sizeof(ip)),
	    reason, failures, r->delay_ms);
}

void
authd_check_done(void *arg, int ok)
{
	struct authd_req *r = arg;
	struct authd_client *cl = r->cl;
	struct authd_server *srv = cl->srv;
	struct span ip = span_cstr(r->ip), name = span_cstr(r->name);
	char user[256];
	uint32_t n;

	r->job = NULL;
	ok = ok && r->found && !r->bogus;
	if (ok && (r->user.flags & USERDB_USER_DISABLED)) {
		/* the right password for a disabled account: say so, but
		 * it is no guess, so it is not counted */
		authd_reply_fail(cl, r->reqid, IPC_AUTH_FAIL_DISABLED,
		    "account disabled");
		authd_log_fail(r, "disabled", throttle_count_account(srv->th,
		    &srv->p.throttle, name, authd_now_ms(srv)));
	} else if (ok) {
		throttle_success(srv->th, name);
		authd_reply_text(cl, IPC_AUTH_OK, r->reqid, r->user.address);
		log_info("conn=%s event=auth-ok service=%s user=\"%s\" "
		    "delay_ms=%u", cl->id, r->service,
		    log_escape(span_cstr(r->user.address), user, sizeof(user)),
		    r->delay_ms);
	} else {
		n = throttle_fail(srv->th, &srv->p.throttle, ip, name,
		    authd_now_ms(srv));
		authd_reply_fail(cl, r->reqid, IPC_AUTH_FAIL_CREDENTIALS,
		    "invalid credentials");
		authd_log_fail(r, "credentials", n);
	}
	authd_req_free(r);
	authd_maybe_idle(srv);
}

/* After the throttle delay: look the user up and queue the check. */
static void
authd_check_start(struct authd_req *r)
{
	struct authd_server *srv = r->cl->srv;
	const char *hash = srv->dummy;
	int rc = 0;

	if (!r->bogus)
		rc = srv->be.user_get(srv->be.arg, r->name, &r->user);
	if (rc < 0) {
		authd_reply_text(r->cl, IPC_AUTH_TEMPFAIL, r->reqid,
		    "user database unavailable");
		goto done;
	}
	r->found = rc == 1;
	/* SECURITY: unknown users cost one verification too, against the
	 * dummy hash, so that timing does not tell which users exist.  A
	 * disabled account is checked against its own hash (same cost) so
	 * that only someone with its password learns it is disabled. */
	if (r->found && r->user.hash[0] != '\0')
		hash = r->user.hash;
	r->job = verifier_submit(srv->v, hash, span_make(r->pw, r->pwlen),
	    authd_check_done, r);
	if (r->job == NULL) {
		authd_reply_text(r->cl, IPC_AUTH_TEMPFAIL, r->reqid,
		    "busy, try again later");
		goto done;
	}
	authd_req_wipe(r);	/* the verifier holds its own copy */
	return;
done:
	authd_req_free(r);
	authd_maybe_idle(srv);
}

static void
authd_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authd_req *r = w->data;

	r->start(r);
}

int
authd_req_enqueue(struct authd_client *cl, struct authd_req *r)
{
	struct authd_server *srv = cl->srv;
	uint32_t failures;

	r->cl = cl;
	r->next = cl->reqs;
	if (cl->reqs != NULL)
		cl->reqs->prev = r;
	cl->reqs = r;
	cl->inflight++;
	srv->inflight++;
	ev_timer_init(&r->delay, authd_delay_cb, 0., 0.);
	r->delay.data = r;
	if (cl->inflight > AUTHD_CLIENT_INFLIGHT) {
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, r->reqid,
		    "too many requests in flight");
		authd_req_free(r);
		return 0;
	}
	/* SECURITY: a throttled request waits on a timer, correct password
	 * or not, so that guessing gains nothing from parallel tries. */
	r->delay_ms = throttle_check(srv->th, &srv->p.throttle,
	    span_cstr(r->ip), span_cstr(r->name), authd_now_ms(srv),
	    &failures);
	if (r->delay_ms == 0) {
		r->start(r);
		return 0;
	}
	log_debug("conn=%s event=auth-delay failures=%u delay_ms=%u", cl->id,
	    failures, r->delay_ms);
	ev_timer_set(&r->delay, r->delay_ms / 1000., 0.);
	ev_timer_start(srv->loop, &r->delay);
	return 0;
}

/*
 * IPC_AUTH_CHECK: str user, str password, str service, str client_ip.
 * Returns -1 if the request is malformed.
 */
static int
authd_handle_check(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct ipc_reader rd;
	struct span user, pw;
	struct authd_req *r;

	r = xcalloc(1, sizeof(*r));
	ipc_reader_init(&rd, payload);
	(void)ipc_get_str(&rd, &user, AUTHD_MAX_REQUEST);
	(void)ipc_get_str(&rd, &pw, AUTHD_MAX_REQUEST);
	(void)ipc_get_cstr(&rd, r->service, sizeof(r->service));
	(void)ipc_get_cstr(&rd, r->ip, sizeof(r->ip));
	if (ipc_get_end(&rd) < 0) {
		free(r);
		return -1;
	}
	/* What a user typed is not the client daemon's fault: a user name
	 * or password we cannot take is a wrong one, not a protocol error. */
	if (user.n >= sizeof(r->name) || span_has_nul(user) ||
	    pw.n > AUTHD_PASSWORD_MAX)
		r->bogus = 1;
	if (user.n >= sizeof(r->name))
		user.n = sizeof(r->name) - 1;
	memcpy(r->name, user.p, user.n);
	r->name[user.n] = '\0';
	if (pw.n > AUTHD_PASSWORD_MAX)
		pw.n = AUTHD_PASSWORD_MAX;
	if ((r->pw = sodium_malloc(pw.n + 1)) == NULL)
		fatal("authd: sodium_malloc failed");
	if (pw.n)
		memcpy(r->pw, pw.p, pw.n);
	r->pw[pw.n] = '\0';
	r->pwlen = pw.n;
	r->reqid = reqid;
	r->start = authd_check_start;
	return authd_req_enqueue(cl, r);
}

/* A looked-up address: too long or with NUL is no address of ours. */
static int
authd_get_address(struct ipc_reader *rd, char *out, size_t outsz)
{
	struct span a;

	if (ipc_get_str(rd, &a, AUTHD_MAX_REQUEST) < 0 ||
	    ipc_get_end(rd) < 0)
		return -1;
	if (a.n >= outsz || span_has_nul(a)) {
		out[0] = '\0';
		return 0;
	}
	memcpy(out, a.p, a.n);
	out[a.n] = '\0';
	return 1;
}

static int
authd_handle_resolve(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct authd_server *srv = cl->srv;
	struct ipc_reader rd;
	struct userdb_resolution *res;
	struct ipc_msg m;
	char addr[USERDB_ADDR_MAX];
	size_t i;
	int rc;

	ipc_reader_init(&rd, payload);
	if ((rc = authd_get_address(&rd, addr, sizeof(addr))) < 0)
		return -1;
	res = xcalloc(1, sizeof(*res));
	if (rc == 0) {
		res->kind = USERDB_UNKNOWN;
	} else if (srv->be.resolve(srv->be.arg, addr, srv->p.delim, res) < 0) {
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, reqid,
		    "user database unavailable");
		free(res);
		return 0;
	}
	ipc_msg_init(&m, IPC_AUTH_RESOLVED, reqid);
	(void)ipc_put_u32(&m, res->kind == USERDB_LOCAL ? IPC_RESOLVE_LOCAL :
	    res->kind == USERDB_REMOTE ? IPC_RESOLVE_REMOTE :
	    IPC_RESOLVE_UNKNOWN);
	if (res->kind != USERDB_LOCAL || res->n > USERDB_MAX_TARGETS)
		res->n = 0;
	(void)ipc_put_u32(&m, (uint32_t)res->n);
	for (i = 0; i < res->n; i++) {
		(void)ipc_put_u32(&m, res->t[i].is_mailbox ?
		    IPC_TARGET_MAILBOX : IPC_TARGET_FORWARD);
		(void)ipc_put_cstr(&m, res->t[i].address);
	}
	authd_send(cl, &m);
	free(res);
	return 0;
}

static int
authd_handle_userinfo(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct authd_server *srv = cl->srv;
	struct ipc_reader rd;
	struct userdb_user u;
	struct ipc_msg m;
	char addr[USERDB_ADDR_MAX];
	int rc;

	ipc_reader_init(&rd, payload);
	if ((rc = authd_get_address(&rd, addr, sizeof(addr))) < 0)
		return -1;
	memset(&u, 0, sizeof(u));
	if (rc == 1 && (rc = srv->be.user_get(srv->be.arg, addr, &u)) < 0) {
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, reqid,
		    "user database unavailable");
		return 0;
	}
	ipc_msg_init(&m, IPC_AUTH_USER, reqid);
	(void)ipc_put_u32(&m, rc == 1);
	(void)ipc_put_cstr(&m, rc == 1 ? u.address : "");
	(void)ipc_put_u64(&m, rc == 1 ? u.quota_bytes : 0);
	(void)ipc_put_u64(&m, rc == 1 ? u.quota_messages : 0);
	sodium_memzero(u.hash, sizeof(u.hash));
	authd_send(cl, &m);
	return 0;
}

static int
authd_on_msg(struct ipc_conn *c, const struct ipc_hdr *h, struct span payload,
    int fd, void *arg)
{
	struct authd_client *cl = arg;
	int rc = -1;

	if (fd >= 0) {
		close(fd);	/* no request of ours carries one */
	} else if (h->type == IPC_AUTH_CHECK) {
		rc = authd_handle_check(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_RESOLVE) {
		rc = authd_handle_resolve(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_USERINFO) {
		rc = authd_handle_userinfo(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_SASL_MECHS) {
		rc = authd_sasl_mechs(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_SASL_START) {
		rc = authd_sasl_start(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_SASL_STEP) {
		rc = authd_sasl_step(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_SASL_ABORT) {
		rc = authd_sasl_abort(cl, h->reqid, payload);
	} else if (h->type == IPC_AUTH_APOP) {
		rc = authd_handle_apop(cl, h->reqid, payload);
	}
	if (rc == 0)
		return 0;
	/* SECURITY: a client that breaks the protocol is told and cut off;
	 * nothing it sends can take authd down. */
	log_warn("conn=%s event=malformed type=%u len=%u fd=%d", cl->id,
	    h->type, h->len, fd >= 0);
	authd_reply_text(cl, IPC_AUTH_ERROR, h->reqid, "malformed request");
	authd_client_free(cl);
	return -1;
}

/* ---- clients ---- */

static void
authd_on_close(struct ipc_conn *c, void *arg)
{
	struct authd_client *cl = arg;

	log_debug("conn=%s event=disconnect", cl->id);
	authd_client_free(cl);
}

static void
authd_client_free(struct authd_client *cl)
{
	struct authd_server *srv = cl->srv;

	while (cl->reqs != NULL)
		authd_req_free(cl->reqs);
	authd_sasl_client_gone(cl);
	ipc_conn_free(&cl->conn);
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		srv->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	free(cl);
	authd_maybe_idle(srv);
}

void
authd_server_add_client(struct authd_server *srv, int fd)
{
	struct authd_client *cl = xcalloc(1, sizeof(*cl));

	cl->srv = srv;
	log_new_id(cl->id);
	cl->conn = ipc_conn_new(srv->loop, fd, AUTHD_MAX_REQUEST, authd_on_msg,
	    authd_on_close, cl);
	cl->next = srv->clients;
	if (srv->clients != NULL)
		srv->clients->prev = cl;
	srv->clients = cl;
	log_debug("conn=%s event=connect fd=%d", cl->id, fd);
}

static void
authd_accept(void *arg, int fd, uid_t uid)
{
	authd_server_add_client(arg, fd);
}

void
authd_server_listen(struct authd_server *srv, int fd,
    const struct peer_set *peers)
{
	/* SECURITY: only the daemons letterboxd lets talk to us (and root)
	 * may ask about passwords: peer_listener checks each one. */
	peer_listener_start(&srv->listener, srv->loop, fd, peers,
	    authd_accept, srv);
}

/* ---- server ---- */

struct authd_server *
authd_server_new(struct ev_loop *loop, const struct authd_params *p,
    const struct authd_backend *be, struct verifier *v,
    const char *dummy_hash)
{
	struct authd_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	srv->p = *p;
	srv->be = *be;
	srv->v = v;
	srv->th = throttle_new(THROTTLE_DEFAULT_ENTRIES);
	snprintf(srv->dummy, sizeof(srv->dummy), "%s", dummy_hash);
	peer_listener_init(&srv->listener);
	return srv;
}

void
authd_server_set_params(struct authd_server *srv,
    const struct authd_params *p)
{
	srv->p = *p;
}

static void
authd_stop_listening(struct authd_server *srv)
{
	peer_listener_stop(&srv->listener);
}

void
authd_server_shutdown(struct authd_server *srv, void (*idle)(void *),
    void *arg)
{
	authd_stop_listening(srv);
	srv->stopping = 1;
	srv->idle = idle;
	srv->idle_arg = arg;
	authd_maybe_idle(srv);
}

void
authd_server_free(struct authd_server **srvp)
{
	struct authd_server *srv = *srvp;

	if (srv == NULL)
		return;
	srv->idle = NULL;
	authd_stop_listening(srv);
	while (srv->clients != NULL)
		authd_client_free(srv->clients);
	authd_sasl_server_free(srv);
	throttle_free(&srv->th);
	free(srv);
	*srvp = NULL;
}
