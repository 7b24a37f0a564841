/* One POP3 session: greeting, replies, the command table, waiting, closing. */
/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/cio.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/xmem.h"
#include "pop3d/pop3d.h"

/* Bad commands a session may send before it is closed. */
#define POP3_MAX_ERRORS 20

typedef void pop3_handler_fn(struct pop3_sess *s, const struct pop3_cmd *c);

#define IN_AUTH 0x1	/* allowed in AUTHORIZATION */
#define IN_TRANS 0x2	/* allowed in TRANSACTION */

/* The command table.  Handlers check first and act second. */
static const struct {
	pop3_handler_fn *fn;
	unsigned states;
} handlers[POP3_VERB_MAX] = {
	[POP3_USER] = { pop3_cmd_user, IN_AUTH },
	[POP3_PASS] = { pop3_cmd_pass, IN_AUTH },
	[POP3_APOP] = { pop3_cmd_apop, IN_AUTH },
	[POP3_AUTH] = { pop3_cmd_auth, IN_AUTH },
	[POP3_STLS] = { pop3_cmd_stls, IN_AUTH },
	[POP3_CAPA] = { pop3_cmd_capa, IN_AUTH | IN_TRANS },
	[POP3_QUIT] = { pop3_cmd_quit, IN_AUTH | IN_TRANS },
	[POP3_STAT] = { pop3_cmd_stat, IN_TRANS },
	[POP3_LIST] = { pop3_cmd_list, IN_TRANS },
	[POP3_RETR] = { pop3_cmd_retr, IN_TRANS },
	[POP3_DELE] = { pop3_cmd_dele, IN_TRANS },
	[POP3_NOOP] = { pop3_cmd_noop, IN_TRANS },
	[POP3_RSET] = { pop3_cmd_rset, IN_TRANS },
	[POP3_TOP] = { pop3_cmd_top, IN_TRANS },
	[POP3_UIDL] = { pop3_cmd_uidl, IN_TRANS },
};

static const char *const state_names[] = {
	"authorization", "sasl", "transaction", "quit",
};

static void pop3_sess_free(struct pop3_sess *s);

void
pop3_set_state(struct pop3_sess *s, enum pop3_state st)
{
	if (s->state != st)
		log_debug("conn=%s state=%s->%s", s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

void
pop3_send(struct pop3_sess *s, const void *p, size_t n)
{
	if (cio_write(s->io, p, n) != 0)
		cio_abort(s->io, "output full");
}

void
pop3_ok(struct pop3_sess *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (cio_printf(s->io, "+OK %s\r\n", text) != 0)
		cio_abort(s->io, "output full");
}

void
pop3_err(struct pop3_sess *s, const char *fmt, ...)
{
	char text[512], esc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (cio_printf(s->io, "-ERR %s\r\n", text) != 0)
		cio_abort(s->io, "output full");
	log_info("conn=%s event=reply text=\"%s\"", s->id,
	    log_escape(span_cstr(text), esc, sizeof(esc)));
	if (++s->errors >= POP3_MAX_ERRORS) {
		if (cio_printf(s->io, "-ERR Too many errors; closing\r\n") != 0)
			cio_abort(s->io, "output full");
		pop3_close(s, "too many errors");
	}
}

void
pop3_close(struct pop3_sess *s, const char *why)
{
	if (s->state == POP3_S_QUIT)
		return;
	log_info("conn=%s event=close reason=\"%s\"", s->id, why);
	pop3_set_state(s, POP3_S_QUIT);
	cio_shutdown(s->io);
}

void
pop3_wait_begin(struct pop3_sess *s, enum pop3_wait w, uint64_t reqid)
{
	s->wait = w;
	s->wait_reqid = reqid;
	cio_pause(s->io);
}

void
pop3_wait_end(struct pop3_sess *s)
{
	s->wait = POP3_W_NONE;
	s->wait_reqid = 0;
	if (s->state != POP3_S_QUIT)
		cio_resume(s->io);
}

int
pop3_tls_offered(const struct pop3_sess *s)
{
	const struct cfg_listener *l = cfg_listener_find(s->d->cfg, s->kind);

	return l != NULL && l->tls == CFG_TLS_STARTTLS && s->d->tls != NULL &&
	    !cio_tls_active(s->io);
}

/* SECURITY: passwords only through TLS (RFC 8314, RFC 2595 2) unless
 * the admin says otherwise (pop3d.plaintext_auth). */
int
pop3_auth_allowed(const struct pop3_sess *s)
{
	return cio_tls_active(s->io) || s->d->cfg->pop3d.plaintext_auth;
}

static void
pop3_line(struct pop3_sess *s, const struct cio_ev *ev)
{
	struct pop3_cmd cmd;
	const char *why;
	unsigned in;

	if (s->state == POP3_S_QUIT)
		return;
	if (s->state == POP3_S_SASL) {
		pop3_auth_line(s, ev->data);
		return;
	}
	if (ev->flags & LINEBUF_F_BARE_CR) {
		pop3_err(s, "Bare CR in command");
		return;
	}
	if (pop3_cmd_parse(ev->data, &cmd, &why) != PARSE_OK) {
		pop3_err(s, "%s", why);
		return;
	}
	log_debug("conn=%s cmd=%s", s->id, pop3_verb_name(cmd.verb));
	in = s->state == POP3_S_TRANS ? IN_TRANS : IN_AUTH;
	if (!(handlers[cmd.verb].states & in)) {
		pop3_err(s, "%s not allowed %s", pop3_verb_name(cmd.verb),
		    in == IN_AUTH ? "before login" : "after login");
		return;
	}
	if (s->d->stopping && cmd.verb != POP3_QUIT) {
		pop3_err(s, "[SYS/TEMP] Service shutting down");
		pop3_close(s, "stopping");
		return;
	}
	handlers[cmd.verb].fn(s, &cmd);
}

static void
pop3_io_cb(struct cio *io, struct cio_ev *ev, void *arg)
{
	struct pop3_sess *s = arg;

	switch (ev->type) {
	case CIO_LINE:
		pop3_line(s, ev);
		break;
	case CIO_OVERLONG:
		if (s->state == POP3_S_SASL) {
			pop3_auth_abort(s);
			pop3_err(s, "[AUTH] SASL response too long");
		} else if (s->state != POP3_S_QUIT)
			pop3_err(s, "Line too long");
		break;
	case CIO_DATA:
		ev->used = ev->data.n;	/* never in raw mode */
		break;
	case CIO_TIMEOUT:
		/* RFC 1939 3: the autologout timer; no UPDATE state */
		pop3_retr_stop(s);
		if (cio_printf(io, "-ERR Timeout; closing\r\n") != 0)
			cio_abort(io, "output full");
		pop3_close(s, "idle timeout");
		break;
	case CIO_TLS_READY:
		log_info("conn=%s event=tls version=%s cipher=%s", s->id,
		    cio_tls_version(io), cio_tls_cipher(io));
		break;
	case CIO_DRAINED:
		if (s->wait == POP3_W_RETR)
			pop3_retr_drained(s);
		break;
	case CIO_CLOSED:
		log_info("conn=%s event=disconnect reason=\"%s\" "
		    "duration=%.3fs", s->id, ev->why,
		    ev_now(s->d->loop) - s->started);
		pop3_sess_free(s);
		break;
	}
}

void
pop3_sess_new(struct pop3d *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind)
{
	struct pop3_sess *s = xcalloc(1, sizeof(*s));
	const struct cfg_listener *l = cfg_listener_find(d->cfg, kind);
	struct cio_opts o = {
		/* AUTH's initial response and SASL lines are the longest */
		.line_max = POP3_SASL_LINE_MAX + 64,
		.idle_s = d->cfg->pop3d.timeout_ms / 1000.0,
	};

	s->d = d;
	s->kind = kind;
	s->retr_fd = -1;
	s->drop.lock_fd = -1;
	authsess_init(&s->auth, d->authd, "pop3", POP3_SASL_MAX);
	memcpy(&s->peer, peer, peer_len);
	s->peer_len = peer_len;
	net_peer_str(peer, s->ip, sizeof(s->ip));
	log_new_id(s->id);
	s->started = ev_now(d->loop);
	s->io = cio_new(d->loop, fd, &o, pop3_io_cb, s);
	d->n_sessions++;
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
	log_info("conn=%s event=connect ip=%s listener=%s", s->id, s->ip,
	    cfg_listener_kind_name(kind));
	if (l != NULL && l->tls == CFG_TLS_IMPLICIT &&
	    cio_tls_accept(s->io, tlsw_ctx(d->tls)) != 0) {
		pop3_close(s, "tls setup failed");
		return;
	}
	s->state = POP3_S_AUTH;
	if (d->stopping) {
		pop3_err(s, "[SYS/TEMP] Service shutting down");
		pop3_close(s, "stopping");
		return;
	}
	/* RFC 1939 7: the timestamp only when APOP is on (pop3d.apop) */
	if (d->cfg->pop3d.apop) {
		uint64_t rnd;

		randombytes_buf(&rnd, sizeof(rnd));
		if (pop3_apop_timestamp(s->apop_ts, sizeof(s->apop_ts),
		    (long)getpid(), rnd, (long long)time(NULL),
		    d->cfg->hostname) < 0)
			s->apop_ts[0] = '\0';	/* absurd hostname: no APOP */
	}
	if (s->apop_ts[0] != '\0')
		pop3_ok(s, "Letterbox POP3 ready %s", s->apop_ts);
	else
		pop3_ok(s, "Letterbox POP3 ready");
	pop3_auth_fetch_mechs(d);
}

static void
pop3_sess_free(struct pop3_sess *s)
{
	struct pop3d *d = s->d;

	authsess_cancel(&s->auth);	/* a pending PASS or AUTH, a SASL exchange */
	pop3_retr_stop(s);
	/* SECURITY: a dropped connection never reaches UPDATE: nothing is
	 * deleted (RFC 1939 6). */
	if (s->have_drop)
		pop3_drop_close(&s->drop);
	cio_free(&s->io);
	net_server_release(d->srv[s->kind], (struct sockaddr *)&s->peer);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s);
	if (--d->n_sessions == 0 && d->stopping)
		ev_break(d->loop, EVBREAK_ALL);
}

void
pop3_sess_stop_all(struct pop3d *d)
{
	struct pop3_sess *s, *next;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == POP3_S_QUIT)
			continue;
		/* mid-RETR the answer is cut short: the client sees no
		 * final "." and knows the message is incomplete */
		if (s->retr_fd < 0 && cio_printf(s->io, "-ERR [SYS/TEMP] "
		    "Service shutting down\r\n") != 0)
			cio_abort(s->io, "output full");
		pop3_retr_stop(s);
		pop3_close(s, "stopping");
	}
}
