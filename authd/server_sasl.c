/* authd's SASL exchanges: IPC_AUTH_SASL_* requests, throttled, with Cyrus SASL steps run on the verifier threads. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <sodium.h>

#include "authd/sasl.h"
#include "authd/server_priv.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"

/*
 * An exchange is idle (waiting for the client's next STEP) or working on
 * one START/STEP: waiting out the throttle delay (PRE), running on a
 * verifier thread (RUN), or holding the answer for the rest of the delay
 * once the account is known (POST).  While RUN, the worker owns sx->sw
 * and sx->in; the loop touches neither until sx_done.
 */
enum sx_phase { SX_IDLE, SX_PRE, SX_RUN, SX_POST };

struct authd_sx {
	struct authd_sx *next, *prev;
	struct authd_client *cl;	/* NULL: orphan, on srv->sx_orphans */
	struct authd_server *srv;
	uint64_t sid, reqid;		/* reqid of the START/STEP in work */
	enum sx_phase phase;
	struct saslw *sw;
	ev_timer delay, idle;
	struct verifier_job *job;
	char mech[SASLW_MECH_MAX + 1];	/* as asked ("" if unusable) */
	char service[AUTHD_SERVICE_MAX + 1];
	char ip[AUTHD_IP_MAX + 1];
	char account[USERDB_ADDR_MAX];	/* once a password was checked */
	int is_start, has_in;
	unsigned char *in;		/* sodium_malloc; wiped after use */
	size_t inlen;
	uint32_t waited_ms, delay_ms, failures;
	enum saslw_rc rc;		/* written by the worker */
	struct span chal;		/* into sw, valid until the next step */
};

/* ---- lists and lifetime ---- */

static struct authd_sx **
sx_head(struct authd_sx *sx)
{
	return sx->cl != NULL ? &sx->cl->sxs : &sx->srv->sx_orphans;
}

static void
sx_link(struct authd_sx *sx)
{
	struct authd_sx **head = sx_head(sx);

	sx->prev = NULL;
	sx->next = *head;
	if (*head != NULL)
		(*head)->prev = sx;
	*head = sx;
	if (sx->cl != NULL)
		sx->cl->n_sx++;
}

static void
sx_unlink(struct authd_sx *sx)
{
	if (sx->prev != NULL)
		sx->prev->next = sx->next;
	else
		*sx_head(sx) = sx->next;
	if (sx->next != NULL)
		sx->next->prev = sx->prev;
	sx->next = sx->prev = NULL;
	if (sx->cl != NULL)
		sx->cl->n_sx--;
}

/* SECURITY: the client's SASL bytes hold passwords: wiped once used. */
static void
sx_wipe_input(struct authd_sx *sx)
{
	if (sx->in != NULL) {
		sodium_memzero(sx->in, sx->inlen + 1);
		sodium_free(sx->in);
		sx->in = NULL;
	}
	sx->inlen = 0;
}

static void
sx_set_input(struct authd_sx *sx, struct span in)
{
	sx_wipe_input(sx);
	if ((sx->in = sodium_malloc(in.n + 1)) == NULL)
		fatal("authd: sodium_malloc failed");
	if (in.n)
		memcpy(sx->in, in.p, in.n);
	sx->in[in.n] = '\0';
	sx->inlen = in.n;
}

/* Free sx; never while a worker runs it (see sx_orphan). */
static void
sx_free(struct authd_sx *sx)
{
	struct authd_server *srv = sx->srv;

	ev_timer_stop(srv->loop, &sx->delay);
	ev_timer_stop(srv->loop, &sx->idle);
	sx_wipe_input(sx);
	saslw_free(&sx->sw);
	sx_unlink(sx);
	if (sx->phase != SX_IDLE)
		srv->inflight--;
	free(sx);
	authd_maybe_idle(srv);
}

/* The client is gone (or aborted) while a worker runs sx: it is freed
 * when the step comes back. */
static void
sx_orphan(struct authd_sx *sx)
{
	sx_unlink(sx);
	ev_timer_stop(sx->srv->loop, &sx->idle);
	sx->cl = NULL;
	sx_link(sx);
}

static struct authd_sx *
sx_find(struct authd_client *cl, uint64_t sid)
{
	struct authd_sx *sx;

	for (sx = cl->sxs; sx != NULL; sx = sx->next)
		if (sx->sid == sid)
			return sx;
	return NULL;
}

/* ---- answers ---- */

static const char *
sx_mech(const struct authd_sx *sx)
{
	const char *m = sx->sw != NULL ? saslw_mech(sx->sw) : "";

	return m[0] != '\0' ? m : "-";
}

static void
sx_log_fail(struct authd_sx *sx, const char *reason)
{
	char user[256], service[96], ip[96];

	log_notice("conn=%s event=auth-fail service=%s mech=%s user=\"%s\" "
	    "ip=%s reason=%s failures=%u delay_ms=%u", sx->cl->id,
	    log_escape(span_cstr(sx->service), service, sizeof(service)),
	    sx_mech(sx),
	    log_escape(span_cstr(sx->account), user, sizeof(user)),
	    log_escape(span_cstr(sx->ip), ip, sizeof(ip)),
	    reason, sx->failures, sx->delay_ms);
}

static void
sx_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authd_sx *sx = w->data;

	log_debug("conn=%s event=sasl-expired sid=%016llx", sx->cl->id,
	    (unsigned long long)sx->sid);
	sx_free(sx);
}

static void
sx_answer(struct authd_sx *sx)
{
	struct authd_client *cl = sx->cl;
	struct authd_server *srv = sx->srv;
	enum saslw_fail why;
	struct ipc_msg m;
	char user[256], service[96];

	sx->phase = SX_IDLE;
	srv->inflight--;
	switch (sx->rc) {
	case SASLW_CONTINUE:
		ipc_msg_init(&m, IPC_AUTH_SASL_CHALLENGE, sx->reqid);
		(void)ipc_put_u64(&m, sx->sid);
		(void)ipc_put_str(&m, sx->chal);
		authd_send(cl, &m);
		ev_timer_set(&sx->idle, AUTHD_SASL_IDLE_S, 0.);
		ev_timer_start(srv->loop, &sx->idle);
		authd_maybe_idle(srv);
		return;
	case SASLW_OK:
		authd_reply_text(cl, IPC_AUTH_OK, sx->reqid,
		    saslw_identity(sx->sw));
		log_info("conn=%s event=auth-ok service=%s mech=%s user=\"%s\" "
		    "delay_ms=%u", cl->id,
		    log_escape(span_cstr(sx->service), service,
		    sizeof(service)), sx_mech(sx),
		    log_escape(span_cstr(saslw_identity(sx->sw)), user,
		    sizeof(user)), sx->delay_ms);
		break;
	case SASLW_FAIL:
		why = saslw_fail_reason(sx->sw);
		/* SECURITY: a refused authzid comes only after the right
		 * password; it reads like a wrong one so that it tells a
		 * guesser nothing. */
		if (why == SASLW_FAIL_DISABLED)
			authd_reply_fail(cl, sx->reqid, IPC_AUTH_FAIL_DISABLED,
			    "account disabled");
		else
			authd_reply_fail(cl, sx->reqid,
			    IPC_AUTH_FAIL_CREDENTIALS,
			    why == SASLW_FAIL_MECH ? "unsupported mechanism" :
			    why == SASLW_FAIL_PROTOCOL ? "malformed response" :
			    "invalid credentials");
		sx_log_fail(sx, saslw_fail_name(why));
		break;
	case SASLW_TEMPFAIL:
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, sx->reqid,
		    "user database unavailable");
		log_warn("conn=%s event=auth-tempfail service=%s mech=%s",
		    cl->id, log_escape(span_cstr(sx->service), service,
		    sizeof(service)), sx_mech(sx));
		break;
	}
	sx_free(sx);
}

/* ---- one START or STEP: delay, run, count, answer ---- */

static int
sx_run(void *arg)
{
	struct authd_sx *sx = arg;
	struct span in = span_make(sx->in, sx->inlen);

	/* on a verifier thread: Cyrus may call saslw's password check */
	if (sx->is_start)
		sx->rc = saslw_start(sx->sw, sx->mech, sx->has_in ? &in : NULL,
		    &sx->chal);
	else
		sx->rc = saslw_step(sx->sw, in, &sx->chal);
	sx_wipe_input(sx);
	return 0;
}

static void
sx_done(void *arg, int unused)
{
	struct authd_sx *sx = arg;
	struct authd_server *srv = sx->srv;
	const struct throttle_params *tp = &srv->p.throttle;
	struct span ip = span_cstr(sx->ip), acct;
	uint64_t now = authd_now_ms(srv);
	uint32_t full, extra = 0;

	sx->job = NULL;
	if (sx->cl == NULL) {
		sx_free(sx);
		return;
	}
	if (saslw_checked(sx->sw)) {
		snprintf(sx->account, sizeof(sx->account), "%s",
		    saslw_account(sx->sw));
		acct = span_cstr(sx->account);
		/* Only now is the account known: the answer waits for the
		 * larger of the two counts, as a CHECK's does. */
		full = throttle_check(srv->th, tp, ip, acct, now,
		    &sx->failures);
		extra = full > sx->waited_ms ? full - sx->waited_ms : 0;
		if (sx->rc == SASLW_OK) {
			throttle_success(srv->th, acct);
		} else if (sx->rc == SASLW_FAIL &&
		    (saslw_fail_reason(sx->sw) == SASLW_FAIL_CREDENTIALS ||
		    saslw_fail_reason(sx->sw) == SASLW_FAIL_AUTHZ)) {
			sx->failures = throttle_fail(srv->th, tp, ip, acct,
			    now);
		}
	} else {
		sx->failures = throttle_count_ip(srv->th, tp, ip, now);
	}
	sx->delay_ms += extra;
	if (extra == 0) {
		sx_answer(sx);
		return;
	}
	sx->phase = SX_POST;
	ev_timer_set(&sx->delay, extra / 1000., 0.);
	ev_timer_start(srv->loop, &sx->delay);
}

static void
sx_submit(struct authd_sx *sx)
{
	struct authd_server *srv = sx->srv;

	sx->phase = SX_RUN;
	sx->job = verifier_submit_run(srv->v, sx_run, sx_done, sx);
	if (sx->job == NULL) {
		authd_reply_text(sx->cl, IPC_AUTH_TEMPFAIL, sx->reqid,
		    "busy, try again later");
		sx_free(sx);
	}
}

static void
sx_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authd_sx *sx = w->data;

	if (sx->phase == SX_PRE)
		sx_submit(sx);
	else
		sx_answer(sx);
}

static void
sx_begin(struct authd_sx *sx, uint64_t reqid)
{
	struct authd_server *srv = sx->srv;
	const struct throttle_params *tp = &srv->p.throttle;
	uint64_t now = authd_now_ms(srv);
	uint32_t n, na;

	sx->reqid = reqid;
	sx->phase = SX_PRE;
	srv->inflight++;
	ev_timer_stop(srv->loop, &sx->idle);
	/* SECURITY: as for CHECK, a START/STEP from an IP (or, once known,
	 * for an account) with recent failures waits on a timer before any
	 * work, right password or not. */
	n = throttle_count_ip(srv->th, tp, span_cstr(sx->ip), now);
	if (sx->account[0] != '\0') {
		na = throttle_count_account(srv->th, tp,
		    span_cstr(sx->account), now);
		n = na > n ? na : n;
	}
	sx->waited_ms = sx->delay_ms = throttle_delay_for(tp, n);
	if (sx->waited_ms == 0) {
		sx_submit(sx);
		return;
	}
	log_debug("conn=%s event=auth-delay failures=%u delay_ms=%u",
	    sx->cl->id, n, sx->waited_ms);
	ev_timer_set(&sx->delay, sx->waited_ms / 1000., 0.);
	ev_timer_start(srv->loop, &sx->delay);
}

/* ---- requests ---- */

int
authd_sasl_mechs(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct ipc_reader rd;

	ipc_reader_init(&rd, payload);
	if (ipc_get_end(&rd) < 0)
		return -1;
	authd_reply_text(cl, IPC_AUTH_SASL_MECHLIST, reqid, SASLW_MECHS);
	return 0;
}

static struct authd_sx *
sx_new(struct authd_client *cl, uint64_t sid, struct saslw *sw)
{
	struct authd_sx *sx = xcalloc(1, sizeof(*sx));

	sx->cl = cl;
	sx->srv = cl->srv;
	sx->sid = sid;
	sx->sw = sw;
	sx->phase = SX_IDLE;
	ev_timer_init(&sx->delay, sx_delay_cb, 0., 0.);
	sx->delay.data = sx;
	ev_timer_init(&sx->idle, sx_idle_cb, AUTHD_SASL_IDLE_S, 0.);
	sx->idle.data = sx;
	sx_link(sx);
	return sx;
}

/* START: u64 sid, str mech, str service, str client_ip, u32 has_initial,
 * str initial_response. */
int
authd_sasl_start(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct authd_server *srv = cl->srv;
	struct saslw_backend be = { srv->be.user_get, NULL, srv->be.arg,
	    srv->dummy };
	char service[AUTHD_SERVICE_MAX + 1], ip[AUTHD_IP_MAX + 1];
	struct ipc_reader rd;
	struct span mech, ir;
	struct authd_sx *sx;
	struct saslw *sw;
	uint64_t sid = 0;
	uint32_t has = 0;

	ipc_reader_init(&rd, payload);
	(void)ipc_get_u64(&rd, &sid);
	(void)ipc_get_str(&rd, &mech, AUTHD_MAX_REQUEST);
	(void)ipc_get_cstr(&rd, service, sizeof(service));
	(void)ipc_get_cstr(&rd, ip, sizeof(ip));
	(void)ipc_get_u32(&rd, &has);
	(void)ipc_get_str(&rd, &ir, AUTHD_MAX_REQUEST);
	if (ipc_get_end(&rd) < 0 || has > 1 || (has == 0 && ir.n != 0))
		return -1;
	/* a sid still open is a bug of the client daemon, not a user's */
	if (sx_find(cl, sid) != NULL)
		return -1;
	if (cl->n_sx >= AUTHD_SASL_MAX) {
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, reqid,
		    "too many SASL exchanges");
		return 0;
	}
	/* The server name matters to no mechanism we offer (PLAIN and LOGIN
	 * have no realm); saslw gives Cyrus "localhost" so it never asks
	 * DNS for ours. */
	sw = saslw_new(&be, service[0] ? service : "unknown", NULL);
	if (sw == NULL) {
		authd_reply_text(cl, IPC_AUTH_TEMPFAIL, reqid,
		    "SASL unavailable");
		return 0;
	}
	sx = sx_new(cl, sid, sw);
	/* what the user asked for is no protocol error: an unusable name
	 * is an unknown mechanism, refused by saslw_start */
	if (mech.n <= SASLW_MECH_MAX && !span_has_nul(mech)) {
		memcpy(sx->mech, mech.p, mech.n);
		sx->mech[mech.n] = '\0';
	}
	snprintf(sx->service, sizeof(sx->service), "%s", service);
	snprintf(sx->ip, sizeof(sx->ip), "%s", ip);
	sx->is_start = 1;
	sx->has_in = has == 1;
	sx_set_input(sx, ir);
	sx_begin(sx, reqid);
	return 0;
}

/* STEP: u64 sid, str response. */
int
authd_sasl_step(struct authd_client *cl, uint64_t reqid, struct span payload)
{
	struct ipc_reader rd;
	struct authd_sx *sx;
	struct span resp;
	uint64_t sid = 0;

	ipc_reader_init(&rd, payload);
	(void)ipc_get_u64(&rd, &sid);
	(void)ipc_get_str(&rd, &resp, AUTHD_MAX_REQUEST);
	if (ipc_get_end(&rd) < 0)
		return -1;
	if ((sx = sx_find(cl, sid)) == NULL) {
		/* never started, ended, aborted or expired */
		authd_reply_fail(cl, reqid, IPC_AUTH_FAIL_CREDENTIALS,
		    "no such SASL exchange");
		return 0;
	}
	/* a STEP before the last answer is a bug of the client daemon */
	if (sx->phase != SX_IDLE)
		return -1;
	sx->is_start = 0;
	sx_set_input(sx, resp);
	sx_begin(sx, reqid);
	return 0;
}

/* ABORT: u64 sid; no reply, also none to a START/STEP in work. */
int
authd_sasl_abort(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct ipc_reader rd;
	struct authd_sx *sx;
	uint64_t sid = 0;

	ipc_reader_init(&rd, payload);
	(void)ipc_get_u64(&rd, &sid);
	if (ipc_get_end(&rd) < 0)
		return -1;
	if ((sx = sx_find(cl, sid)) == NULL)
		return 0;
	if (sx->phase == SX_RUN)
		sx_orphan(sx);
	else
		sx_free(sx);
	return 0;
}

void
authd_sasl_client_gone(struct authd_client *cl)
{
	struct authd_sx *sx;

	while ((sx = cl->sxs) != NULL) {
		if (sx->phase == SX_RUN)
			sx_orphan(sx);
		else
			sx_free(sx);
	}
}

void
authd_sasl_server_free(struct authd_server *srv)
{
	struct authd_sx *sx;

	while ((sx = srv->sx_orphans) != NULL) {
		if (sx->job != NULL) {
			verifier_cancel_sync(srv->v, sx->job);
			sx->job = NULL;
		}
		sx_free(sx);
	}
}
