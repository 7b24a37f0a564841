/* The LMTP server (RFC 2033): sessions, commands, DATA to a temporary file, one reply per recipient. */
/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "common/addr.h"
#include "common/cfg.h"
#include "common/cio.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/smtp_cmd.h"
#include "common/smtp_data.h"
#include "common/xmem.h"
#include "mda/lmtp_priv.h"

static const char *const state_names[] = {
	"helo", "ready", "mail", "rcpt", "data", "deliver", "quit",
};

/* A RCPT being checked on a worker. */
struct lmtp_check {
	struct wpool_job job;		/* first: the job is the check */
	struct lmtp_sess *s;
	char *addr;
	uint64_t size;
	struct mda_rcpt_res *res;
};

static void lmtp_sess_free(struct lmtp_sess *s);

void
lmtp_set_state(struct lmtp_sess *s, enum lmtp_state st)
{
	if (s->state != st)
		log_debug("conn=%s state=%s->%s", s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

void
lmtp_reply(struct lmtp_sess *s, int code, const char *enh, const char *fmt,
    ...)
{
	char text[512], esc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* gone, or closing after 221/421: nothing more is said */
	if (s->io == NULL || s->state == LMTP_S_QUIT)
		return;
	if (cio_printf(s->io, "%d %s%s%s\r\n", code, enh ? enh : "",
	    enh ? " " : "", text) != 0)
		cio_abort(s->io, "output full");
	if (code >= 400)
		log_info("conn=%s event=reply code=%d enh=%s text=\"%s\"",
		    s->id, code, enh ? enh : "-",
		    log_escape(span_cstr(text), esc, sizeof(esc)));
}

static void
lmtp_close(struct lmtp_sess *s, const char *why)
{
	if (s->state == LMTP_S_QUIT || s->io == NULL)
		return;
	log_info("conn=%s event=close reason=\"%s\"", s->id, why);
	lmtp_set_state(s, LMTP_S_QUIT);
	cio_shutdown(s->io);
}

static void
rcpt_free(struct lmtp_rcpt *r)
{
	free(r->addr);
	free(r->res);
	free(r);
}

void
lmtp_txn_reset(struct lmtp_sess *s)
{
	size_t i;

	BUG_ON(s->state == LMTP_S_DELIVER && s->jobs != 0);
	for (i = 0; i < s->n_rcpts; i++)
		rcpt_free(s->rcpts[i]);
	s->n_rcpts = 0;
	s->next_reply = 0;
	xfree(&s->from);
	s->declared_size = 0;
	s->smtputf8 = 0;
	if (s->tfd >= 0)
		close(s->tfd);
	s->tfd = -1;
	s->written = 0;
	s->write_err = 0;
	buf_reset(&s->out);
	if (s->state >= LMTP_S_MAIL && s->state <= LMTP_S_DELIVER)
		lmtp_set_state(s, LMTP_S_READY);
}

void
lmtp_maybe_stop(struct lmtp_sess *s)
{
	if (!s->srv->stopping || s->jobs != 0 || s->io == NULL ||
	    s->state == LMTP_S_DATA || s->state == LMTP_S_DELIVER ||
	    s->state == LMTP_S_QUIT)
		return;
	lmtp_reply(s, 421, "4.3.2", "%s Service shutting down",
	    s->srv->cfg->hostname);
	lmtp_close(s, "stopping");
}

/* ---- commands that carry no mail ---- */

static void
cmd_lhlo(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	const struct cfg *cfg = s->srv->cfg;

	if (c->verb != SMTP_LHLO) {
		/* RFC 2033 4.1: never a positive reply to HELO or EHLO */
		lmtp_reply(s, 500, "5.5.1", "This is LMTP: say LHLO "
		    "(RFC 2033 4.1)");
		return;
	}
	if (c->arg.n == 0) {
		lmtp_reply(s, 501, "5.5.4", "LHLO needs a domain");
		return;
	}
	lmtp_txn_reset(s);
	lmtp_set_state(s, LMTP_S_READY);
	if (cio_printf(s->io, "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n"
	    "250 SIZE %llu\r\n", cfg->hostname,
	    (unsigned long long)(cfg->smtpd.max_message_size +
	    LMTP_SIZE_HEADROOM)) != 0)
		cio_abort(s->io, "output full");
}

static void
cmd_rset(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	lmtp_txn_reset(s);
	lmtp_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	lmtp_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	lmtp_reply(s, 221, "2.0.0", "%s Bye", s->srv->cfg->hostname);
	lmtp_close(s, "quit");
}

static void
cmd_vrfy(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	lmtp_reply(s, 252, "2.5.2", "Cannot VRFY user");
}

static void
cmd_unimpl(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	lmtp_reply(s, 502, "5.5.1", "%s not implemented",
	    smtp_verb_name(c->verb));
}

/* ---- MAIL ---- */

uint64_t
lmtp_max_size(const struct lmtp_sess *s)
{
	return s->srv->cfg->smtpd.max_message_size + LMTP_SIZE_HEADROOM;
}

/* SIZE, BODY, SMTPUTF8.  0, or -1 after replying. */
static int
mail_params(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	size_t i;

	for (i = 0; i < c->n_params; i++) {
		const struct smtp_param *p = &c->params[i];

		if (span_eq_ci(p->key, "SIZE")) {
			if (smtp_param_u64(p->value, &s->declared_size) != 0) {
				lmtp_reply(s, 501, "5.5.4", "Bad SIZE value");
				return -1;
			}
			if (s->declared_size > lmtp_max_size(s)) {
				lmtp_reply(s, 552, "5.3.4", "Message size "
				    "exceeds fixed maximum message size");
				return -1;
			}
		} else if (span_eq_ci(p->key, "BODY")) {
			if (!span_eq_ci(p->value, "7BIT") &&
			    !span_eq_ci(p->value, "8BITMIME")) {
				lmtp_reply(s, 555, "5.5.4", "Unsupported BODY "
				    "type");
				return -1;
			}
		} else if (span_eq_ci(p->key, "SMTPUTF8") && p->value.n == 0) {
			s->smtputf8 = 1;
		} else {
			lmtp_reply(s, 555, "5.5.4", "Unsupported parameter "
			    "%.*s", (int)(p->key.n > 32 ? 32 : p->key.n),
			    (const char *)p->key.p);
			return -1;
		}
	}
	return 0;
}

static void
cmd_mail(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	struct addr_parts ap;

	if (s->state == LMTP_S_HELO) {
		lmtp_reply(s, 503, "5.5.1", "Send LHLO first");
		return;
	}
	if (s->state != LMTP_S_READY) {
		lmtp_reply(s, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	if (!c->null_path && addr_parse(c->path, &ap, NULL) != 0) {
		lmtp_reply(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	lmtp_txn_reset(s);
	if (mail_params(s, c) != 0) {
		lmtp_txn_reset(s);
		return;
	}
	if (c->path_8bit && !s->smtputf8) {
		lmtp_txn_reset(s);
		lmtp_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return;
	}
	s->from = span_dup(c->null_path ? span_make("", 0) : c->path);
	lmtp_set_state(s, LMTP_S_MAIL);
	lmtp_reply(s, 250, "2.1.0", "Ok");
}

/* ---- RCPT: checked on a worker ---- */

static void
check_run(struct wpool_job *job)
{
	struct lmtp_check *k = (struct lmtp_check *)job;

	mda_rcpt_check(k->s->srv->authd_path, k->s->srv->st, k->addr,
	    k->size, k->res);
}

int
lmtp_job_end(struct lmtp_sess *s)
{
	s->jobs--;
	if (s->io != NULL)
		return 0;
	if (s->jobs == 0)
		lmtp_sess_free(s);
	return 1;
}

static void
check_free(struct lmtp_check *k)
{
	free(k->addr);
	free(k->res);
	free(k);
}

static void
check_done(struct wpool_job *job)
{
	struct lmtp_check *k = (struct lmtp_check *)job;
	struct lmtp_sess *s = k->s;
	struct mda_rcpt_res *res = k->res;
	struct lmtp_rcpt *r;
	char esc[1024];

	if (lmtp_job_end(s)) {
		check_free(k);
		return;
	}
	if (s->state != LMTP_S_QUIT)
		cio_resume(s->io);
	log_escape(span_cstr(k->addr), esc, sizeof(esc));
	switch (res->kind) {
	case MDA_RCPT_OK:
		r = xcalloc(1, sizeof(*r));
		r->s = s;
		r->addr = k->addr;
		r->res = res;
		k->addr = NULL;
		k->res = NULL;
		s->rcpts[s->n_rcpts++] = r;
		lmtp_set_state(s, LMTP_S_RCPT);
		log_info("conn=%s event=rcpt to=<%s> mailboxes=%zu "
		    "forwards=%zu", s->id, esc, res->n, res->n_forwards);
		if (res->n_forwards)
			log_info("conn=%s event=forwards-ignored to=<%s> "
			    "count=%zu note=\"the queue relays forwards\"",
			    s->id, esc, res->n_forwards);
		lmtp_reply(s, 250, "2.1.5", "Ok");
		break;
	case MDA_RCPT_FULL:
		lmtp_reply(s, 452, "4.2.2", "<%s>: Mailbox full", esc);
		break;
	case MDA_RCPT_TEMP:
		lmtp_reply(s, 451, "4.3.0", "<%s>: Temporary failure: %s",
		    esc, res->why);
		break;
	default:
		lmtp_reply(s, 550, "5.1.1", "<%s>: Recipient address "
		    "rejected: User unknown", esc);
		break;
	}
	check_free(k);
	lmtp_maybe_stop(s);
}

static void
cmd_rcpt(struct lmtp_sess *s, const struct smtp_cmd *c)
{
	struct addr_parts ap;
	struct lmtp_check *k;

	if (s->state != LMTP_S_MAIL && s->state != LMTP_S_RCPT) {
		lmtp_reply(s, 503, "5.5.1", s->state == LMTP_S_HELO ?
		    "Send LHLO first" : "Need MAIL before RCPT");
		return;
	}
	if (s->n_rcpts >= s->max_rcpts) {
		lmtp_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	if (addr_parse(c->path, &ap, NULL) != 0) {
		lmtp_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if (c->path_8bit && !s->smtputf8) {
		lmtp_reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (c->n_params != 0) {
		lmtp_reply(s, 555, "5.5.4", "Unsupported RCPT parameter");
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->job.run = check_run;
	k->job.done = check_done;
	k->s = s;
	k->addr = span_dup(c->path);
	k->size = s->declared_size;
	k->res = xcalloc(1, sizeof(*k->res));
	s->jobs++;
	/* replies stay in order: no further command until this one's */
	cio_pause(s->io);
	wpool_submit(s->srv->pool, &k->job);
}

/* ---- dispatch ---- */

typedef void lmtp_handler_fn(struct lmtp_sess *s, const struct smtp_cmd *c);

static lmtp_handler_fn *const handlers[SMTP_VERB_MAX] = {
	[SMTP_EHLO] = cmd_lhlo,
	[SMTP_HELO] = cmd_lhlo,
	[SMTP_LHLO] = cmd_lhlo,
	[SMTP_MAIL] = cmd_mail,
	[SMTP_RCPT] = cmd_rcpt,
	[SMTP_DATA] = lmtp_cmd_data,
	[SMTP_BDAT] = cmd_unimpl,
	[SMTP_RSET] = cmd_rset,
	[SMTP_NOOP] = cmd_noop,
	[SMTP_QUIT] = cmd_quit,
	[SMTP_VRFY] = cmd_vrfy,
	[SMTP_EXPN] = cmd_unimpl,
	[SMTP_HELP] = cmd_unimpl,
	[SMTP_STARTTLS] = cmd_unimpl,
	[SMTP_AUTH] = cmd_unimpl,
};

static void
lmtp_line(struct lmtp_sess *s, const struct cio_ev *ev)
{
	struct smtp_cmd cmd;
	struct smtp_err err;
	const char *bad;

	if (s->state == LMTP_S_QUIT)
		return;
	if ((bad = smtp_line_error(ev->end == LINEBUF_END_CRLF,
	    ev->flags)) != NULL) {
		lmtp_reply(s, 500, "5.5.2", "%s", bad);
		return;
	}
	if (smtp_cmd_parse(ev->data, &cmd, &err) != PARSE_OK) {
		lmtp_reply(s, err.code, err.enh, "%s", err.text);
		return;
	}
	log_debug("conn=%s cmd=%s", s->id, smtp_verb_name(cmd.verb));
	handlers[cmd.verb](s, &cmd);
}

static void
lmtp_io_cb(struct cio *io, struct cio_ev *ev, void *arg)
{
	struct lmtp_sess *s = arg;

	switch (ev->type) {
	case CIO_LINE:
		lmtp_line(s, ev);
		break;
	case CIO_OVERLONG:
		lmtp_reply(s, 500, "5.5.2", "Line too long");
		break;
	case CIO_DATA:
		ev->used = lmtp_data_input(s, ev->data);
		break;
	case CIO_TIMEOUT:
		lmtp_reply(s, 421, "4.4.2", "%s Timeout; closing",
		    s->srv->cfg->hostname);
		lmtp_close(s, ev->timeout == CIO_TO_IDLE ? "idle timeout" :
		    "data timeout");
		break;
	case CIO_CLOSED:
		log_info("conn=%s event=disconnect reason=\"%s\" "
		    "duration=%.3fs", s->id, ev->why,
		    ev_now(s->srv->loop) - s->started);
		cio_free(&s->io);
		/* running jobs still read the transaction: the last one to
		 * finish frees the session */
		if (s->jobs == 0)
			lmtp_sess_free(s);
		break;
	case CIO_DRAINED:
	case CIO_TLS_READY:
		break;
	}
}

static void
lmtp_accept(void *arg, int fd, uid_t uid)
{
	struct lmtp_server *srv = arg;
	struct lmtp_sess *s;
	struct cio_opts o = {
		.line_max = 1000 - 2,
		.idle_s = srv->cfg->smtpd.timeout_ms / 1000.0,
	};

	if (srv->stopping) {
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->uid = (unsigned)uid;
	s->tfd = -1;
	s->started = ev_now(srv->loop);
	log_new_id(s->id);
	buf_init(&s->out, 0, 2 * LMTP_FLUSH + LMTP_FEED_MAX);
	s->max_rcpts = srv->cfg->smtpd.max_recipients ?
	    srv->cfg->smtpd.max_recipients : 1;
	s->rcpts = xcalloc(s->max_rcpts, sizeof(*s->rcpts));
	s->done = xcalloc(s->max_rcpts, 1);
	if ((s->next = srv->sessions) != NULL)
		s->next->pprev = &s->next;
	s->pprev = &srv->sessions;
	srv->sessions = s;
	srv->n_sessions++;
	s->io = cio_new(srv->loop, fd, &o, lmtp_io_cb, s);
	log_info("conn=%s event=connect proto=lmtp uid=%u", s->id, s->uid);
	lmtp_reply(s, 220, NULL, "%s LMTP Letterbox ready",
	    srv->cfg->hostname);
}

static void
lmtp_sess_free(struct lmtp_sess *s)
{
	struct lmtp_server *srv = s->srv;

	BUG_ON(s->jobs != 0);
	cio_free(&s->io);
	s->state = LMTP_S_QUIT;
	lmtp_txn_reset(s);
	if (s->next != NULL)
		s->next->pprev = s->pprev;
	*s->pprev = s->next;
	buf_fini(&s->out);
	free(s->rcpts);
	free(s->done);
	free(s);
	if (--srv->n_sessions == 0 && srv->stopping && srv->idle != NULL) {
		void (*fn)(void *) = srv->idle;

		srv->idle = NULL;
		fn(srv->idle_arg);
	}
}

/* ---- the server ---- */

struct lmtp_server *
lmtp_server_new(struct ev_loop *loop, const struct cfg *cfg,
    struct wpool *pool, struct mda_store *st, const char *authd_path,
    const char *tmp_dir)
{
	struct lmtp_server *srv = xcalloc(1, sizeof(*srv));

	srv->loop = loop;
	srv->cfg = cfg;
	srv->pool = pool;
	srv->st = st;
	srv->authd_path = xstrdup(authd_path);
	srv->tmp_dir = xstrdup(tmp_dir);
	peer_listener_init(&srv->listener);
	return srv;
}

void
lmtp_server_listen(struct lmtp_server *srv, int fd,
    const struct peer_set *peers)
{
	/* SECURITY: only the uids in LB_PEERS (root, us, the queue) may
	 * hand us mail: peer_listener checks each one. */
	peer_listener_start(&srv->listener, srv->loop, fd, peers,
	    lmtp_accept, srv);
}

void
lmtp_server_set_cfg(struct lmtp_server *srv, const struct cfg *cfg)
{
	srv->cfg = cfg;
}

void
lmtp_server_stop(struct lmtp_server *srv, void (*fn)(void *), void *arg)
{
	struct lmtp_sess *s, *next;

	srv->stopping = 1;
	srv->idle = fn;
	srv->idle_arg = arg;
	peer_listener_stop(&srv->listener);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		lmtp_maybe_stop(s);
	}
	if (srv->n_sessions == 0 && srv->idle != NULL) {
		srv->idle = NULL;
		fn(arg);
	}
}

void
lmtp_server_free(struct lmtp_server **srvp)
{
	struct lmtp_server *srv = *srvp;

	if (srv == NULL)
		return;
	peer_listener_stop(&srv->listener);
	free(srv->authd_path);
	free(srv->tmp_dir);
	free(srv);
	*srvp = NULL;
}
