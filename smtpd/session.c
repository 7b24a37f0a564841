/* One SMTP session: greeting, replies, command dispatch, waiting, closing. */
/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/xmem.h"
#include "smtpd/smtpd.h"

typedef void smtp_handler_fn(struct smtp_sess *s, const struct smtp_cmd *c);

/* A verb the parser knows but SMTP does not have (LHLO is LMTP's). */
static void
smtp_cmd_unknown(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply_err(s, 500, "5.5.1", "Command unrecognized");
}

/* The command table.  Handlers check the state first and act second. */
static smtp_handler_fn *const handlers[SMTP_VERB_MAX] = {
	[SMTP_EHLO] = smtp_cmd_ehlo,
	[SMTP_HELO] = smtp_cmd_ehlo,
	[SMTP_MAIL] = smtp_cmd_mail,
	[SMTP_RCPT] = smtp_cmd_rcpt,
	[SMTP_DATA] = smtp_cmd_data,
	[SMTP_BDAT] = smtp_cmd_bdat,
	[SMTP_RSET] = smtp_cmd_rset,
	[SMTP_NOOP] = smtp_cmd_noop,
	[SMTP_QUIT] = smtp_cmd_quit,
	[SMTP_VRFY] = smtp_cmd_vrfy,
	[SMTP_EXPN] = smtp_cmd_expn,
	[SMTP_HELP] = smtp_cmd_help,
	[SMTP_STARTTLS] = smtp_cmd_starttls,
	[SMTP_AUTH] = smtp_cmd_auth,
	[SMTP_LHLO] = smtp_cmd_unknown,
};

static const char *const state_names[] = {
	"greet", "helo", "ready", "mail", "rcpt", "data", "bdat", "auth",
	"quit",
};

static void smtp_sess_free(struct smtp_sess *s);


void
smtp_set_state(struct smtp_sess *s, enum smtp_state st)
{
	if (s->state != st)
		log_debug("conn=%s state=%s->%s", s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
smtp_vreply(struct smtp_sess *s, int code, const char *enh, const char *fmt,
    va_list ap)
{
	char text[512], esc[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	/* Every reply carries an enhanced status code (RFC 2034) except the
	 * greeting and EHLO lines, which the RFC leaves without. */
	if (cio_printf(s->io, "%d %s%s%s\r\n", code, enh ? enh : "",
	    enh ? " " : "", text) != 0)
		cio_abort(s->io, "output full");
	if (code >= 400)
		log_info("conn=%s event=reply code=%d enh=%s text=\"%s\"",
		    s->id, code, enh ? enh : "-",
		    log_escape(span_cstr(text), esc, sizeof(esc)));
}

void
smtp_reply(struct smtp_sess *s, int code, const char *enh, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, enh, fmt, ap);
	va_end(ap);
}

void
smtp_reply_err(struct smtp_sess *s, int code, const char *enh,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtp_vreply(s, code, enh, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->d->cfg->smtpd.max_errors) {
		smtp_reply(s, 421, "4.7.0", "%s Too many errors; closing",
		    s->d->cfg->hostname);
		smtp_close(s, "too many errors");
	}
}

void
smtp_close(struct smtp_sess *s, const char *why)
{
	if (s->state == SMTP_S_QUIT)
		return;
	log_info("conn=%s event=close reason=\"%s\"", s->id, why);
	smtp_set_state(s, SMTP_S_QUIT);
	cio_shutdown(s->io);
}

void
smtp_wait_begin(struct smtp_sess *s, enum smtp_wait w, uint64_t reqid)
{
	s->wait = w;
	s->wait_reqid = reqid;
	cio_pause(s->io);
}

void
smtp_wait_end(struct smtp_sess *s)
{
	s->wait = SMTP_W_NONE;
	s->wait_reqid = 0;
	if (s->state != SMTP_S_QUIT)
		cio_resume(s->io);
}

void
smtp_txn_reset(struct smtp_sess *s)
{
	smtp_spool_abort(s);
	buf_reset(&s->txn_buf);
	s->from_len = 0;
	s->null_sender = 0;
	s->declared_size = 0;
	s->body = ENV_BODY_7BIT;
	s->smtputf8 = 0;
	s->ret = ENV_RET_NONE;
	s->envid_off = s->envid_len = 0;
	s->n_rcpts = 0;
	s->bdat_flags = 0;
	s->bdat_prev_cr = 0;
	s->bdat_left = 0;
	s->bdat_last = 0;
	s->bdat_started = 0;
	s->bdat_err_code = 0;
	s->msg_size = 0;
	if (s->state == SMTP_S_MAIL || s->state == SMTP_S_RCPT ||
	    s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT)
		smtp_set_state(s, SMTP_S_READY);
}

int
smtp_tls_offered(const struct smtp_sess *s)
{
	const struct cfg_listener *l = cfg_listener_find(s->d->cfg, s->kind);

	return l != NULL && l->tls == CFG_TLS_STARTTLS && s->d->tls != NULL &&
	    !cio_tls_active(s->io);
}

/* SECURITY: no AUTH over plain text: passwords go only through TLS
 * (RFC 8314; RFC 4954 14), on every port. */
int
smtp_auth_offered(const struct smtp_sess *s)
{
	return cio_tls_active(s->io) && s->user[0] == '\0' &&
	    s->d->mechs.list[0] != '\0';
}

static void
smtp_greet(struct smtp_sess *s)
{
	smtp_set_state(s, SMTP_S_HELO);
	if (s->d->stopping) {
		smtp_reply(s, 421, NULL, "%s Service shutting down",
		    s->d->cfg->hostname);
		smtp_close(s, "stopping");
		return;
	}
	smtp_reply(s, 220, NULL, "%s ESMTP Letterbox", s->d->cfg->hostname);
}

static void
smtp_greet_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	smtp_greet(w->data);
}

static void
smtp_line(struct smtp_sess *s, const struct cio_ev *ev)
{
	struct smtp_cmd cmd;
	struct smtp_err err;
	const char *bad;

	if (s->state == SMTP_S_GREET) {
		/* RFC 5321 4.3.1 and 3.1: the client waits for the greeting;
		 * one that talks first is a bulk sender ignoring replies. */
		ev_timer_stop(s->d->loop, &s->greet_w);
		smtp_reply(s, 554, "5.5.1", "Protocol error: talked before "
		    "the greeting");
		smtp_close(s, "early talker");
		return;
	}
	if (s->state == SMTP_S_AUTH) {
		smtp_auth_line(s, ev->data);
		return;
	}
	if ((bad = smtp_line_error(ev->end == LINEBUF_END_CRLF,
	    ev->flags)) != NULL) {
		smtp_reply_err(s, 500, "5.5.2", "%s", bad);
		return;
	}
	if (s->d->stopping && s->state != SMTP_S_MAIL &&
	    s->state != SMTP_S_RCPT) {
		smtp_reply(s, 421, "4.3.2", "%s Service shutting down",
		    s->d->cfg->hostname);
		smtp_close(s, "stopping");
		return;
	}
	if (smtp_cmd_parse(ev->data, &cmd, &err) != PARSE_OK) {
		smtp_reply_err(s, err.code, err.enh, "%s", err.text);
		return;
	}
	log_debug("conn=%s cmd=%s", s->id, smtp_verb_name(cmd.verb));
	handlers[cmd.verb](s, &cmd);
}

static void
smtp_io_cb(struct cio *io, struct cio_ev *ev, void *arg)
{
	struct smtp_sess *s = arg;

	switch (ev->type) {
	case CIO_LINE:
		smtp_line(s, ev);
		break;
	case CIO_OVERLONG:
		if (s->state == SMTP_S_GREET)
			smtp_line(s, ev);
		else
			smtp_reply_err(s, 500, "5.5.2", "Line too long "
			    "(RFC 5321 4.5.3.1)");
		break;
	case CIO_DATA:
		ev->used = smtp_data_input(s, ev->data);
		break;
	case CIO_TIMEOUT:
		smtp_reply(s, 421, "4.4.2", "%s Timeout; closing",
		    s->d->cfg->hostname);
		smtp_close(s, ev->timeout == CIO_TO_IDLE ? "idle timeout" :
		    "data timeout");
		break;
	case CIO_TLS_READY:
		log_info("conn=%s event=tls version=%s cipher=%s", s->id,
		    cio_tls_version(io), cio_tls_cipher(io));
		break;
	case CIO_DRAINED:
		break;
	case CIO_CLOSED:
		log_info("conn=%s event=disconnect reason=\"%s\" duration=%.3fs",
		    s->id, ev->why, ev_now(s->d->loop) - s->started);
		smtp_sess_free(s);
		break;
	}
}

void
smtp_sess_new(struct smtpd *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind)
{
	struct smtp_sess *s = xcalloc(1, sizeof(*s));
	const struct cfg_listener *l = cfg_listener_find(d->cfg, kind);
	struct cio_opts o = {
		.line_max = 1000 - 2,	/* RFC 5321 4.5.3.1.4 */
		.idle_s = d->cfg->smtpd.timeout_ms / 1000.0,
	};

	s->d = d;
	s->kind = kind;
	s->qfd = -1;
	authsess_init(&s->auth, d->authd, "smtp", SMTP_SASL_MAX);
	memcpy(&s->peer, peer, peer_len);
	s->peer_len = peer_len;
	net_peer_str(peer, s->ip, sizeof(s->ip));
	log_new_id(s->id);
	s->started = ev_now(d->loop);
	buf_init(&s->txn_buf, 256, 128 * 1024);
	buf_init(&s->out, 0, 256 * 1024);
	s->rcpts = xcalloc(d->cfg->smtpd.max_recipients, sizeof(*s->rcpts));
	s->io = cio_new(d->loop, fd, &o, smtp_io_cb, s);
	d->n_sessions++;
	log_info("conn=%s event=connect ip=%s listener=%s", s->id, s->ip,
	    cfg_listener_kind_name(kind));
	if (l != NULL && l->tls == CFG_TLS_IMPLICIT &&
	    cio_tls_accept(s->io, tlsw_ctx(d->tls)) != 0) {
		smtp_close(s, "tls setup failed");
		return;
	}
	s->state = SMTP_S_GREET;
	ev_timer_init(&s->greet_w, smtp_greet_cb,
	    d->cfg->smtpd.greet_pause_ms / 1000.0, 0);
	s->greet_w.data = s;
	if (d->cfg->smtpd.greet_pause_ms == 0)
		smtp_greet(s);
	else
		ev_timer_start(d->loop, &s->greet_w);
}

static void
smtp_sess_free(struct smtp_sess *s)
{
	struct smtpd *d = s->d;

	ev_timer_stop(d->loop, &s->greet_w);
	if (s->wait != SMTP_W_NONE)
		ipcc_cancel(s->wait == SMTP_W_CREATE ||
		    s->wait == SMTP_W_COMMIT ? d->queued : d->authd,
		    s->wait_reqid);
	/* A message whose commit was asked for stays with queued: it may
	 * already be durable; otherwise it is dropped here. */
	if (s->wait != SMTP_W_COMMIT)
		smtp_spool_abort(s);
	else if (s->qfd >= 0)
		close(s->qfd);
	smtp_auth_abort(s);
	cio_free(&s->io);
	net_server_release(d->srv[s->kind], (struct sockaddr *)&s->peer);
	buf_fini(&s->txn_buf);
	buf_fini(&s->out);
	free(s->rcpts);
	free(s);
	if (--d->n_sessions == 0 && d->stopping)
		ev_break(d->loop, EVBREAK_ALL);
}
