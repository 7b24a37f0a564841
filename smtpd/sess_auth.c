/* AUTH (RFC 4954): SASL exchanges relayed to authd, where Cyrus SASL and the passwords live. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "common/authsess.h"
#include "common/cio.h"
#include "common/log.h"
#include "smtpd/smtpd.h"

static void
auth_done(struct smtp_sess *s)
{
	smtp_set_state(s, SMTP_S_READY);
}

/* Answer a request that authsess could not send. */
static void
auth_unsent(struct smtp_sess *s, enum authsess_send rc)
{
	auth_done(s);
	switch (rc) {
	case AUTHSESS_SENT:
		break;
	case AUTHSESS_E_CANCEL:
		smtp_reply_err(s, 501, "5.0.0", "Authentication cancelled");
		break;
	case AUTHSESS_E_B64:
		smtp_reply_err(s, 501, "5.5.2", "Invalid base64 data");
		break;
	case AUTHSESS_E_TEMP:
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		break;
	}
}

static void
auth_cb(void *arg, const struct authsess_result *res)
{
	struct smtp_sess *s = arg;

	smtp_wait_end(s);
	if (res->kind == AUTHSESS_CHALLENGE) {
		smtp_set_state(s, SMTP_S_AUTH);
		if (cio_printf(s->io, "334 %s\r\n", res->challenge) != 0)
			cio_abort(s->io, "output full");
		return;
	}
	auth_done(s);
	switch (res->kind) {
	case AUTHSESS_OK:
		snprintf(s->user, sizeof(s->user), "%.*s", (int)res->user.n,
		    (const char *)res->user.p);
		log_info("conn=%s event=auth-ok mech=%s user=%s", s->id,
		    s->auth.mech, s->user);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		return;
	case AUTHSESS_FAIL:
		log_notice("conn=%s event=auth-fail mech=%s ip=%s", s->id,
		    s->auth.mech, s->ip);
		smtp_reply_err(s, 535, "5.7.8", "Authentication credentials "
		    "invalid");
		return;
	default:
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
}

void
smtp_cmd_auth(struct smtp_sess *s, const struct smtp_cmd *c)
{
	enum authsess_send rc;
	uint64_t id;

	if (s->state == SMTP_S_HELO || !s->esmtp) {
		smtp_reply_err(s, 503, "5.5.1", "Send EHLO first");
		return;
	}
	if (s->user[0] != '\0') {
		smtp_reply_err(s, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (s->state != SMTP_S_READY) {
		smtp_reply_err(s, 503, "5.5.1", "AUTH not allowed in a mail "
		    "transaction");
		return;
	}
	/* SECURITY: RFC 4954 4 and 6: no credentials in clear text. */
	if (!cio_tls_active(s->io)) {
		smtp_reply_err(s, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (!authsess_mech_listed(s->d->mechs.list, c->arg)) {
		smtp_reply_err(s, 504, "5.5.4", "Unrecognized authentication "
		    "type");
		return;
	}
	rc = authsess_sasl_start(&s->auth, c->arg, c->has_initial,
	    c->initial, s->ip, auth_cb, s, &id);
	if (rc != AUTHSESS_SENT) {
		auth_unsent(s, rc);
		return;
	}
	smtp_wait_begin(s, SMTP_W_AUTH, id);
}

void
smtp_auth_line(struct smtp_sess *s, struct span line)
{
	enum authsess_send rc;
	uint64_t id;

	rc = authsess_sasl_line(&s->auth, line, &id);
	if (rc != AUTHSESS_SENT) {
		auth_unsent(s, rc);
		return;
	}
	smtp_wait_begin(s, SMTP_W_AUTH, id);
}

void
smtp_auth_abort(struct smtp_sess *s)
{
	if (authsess_sasl_abort(&s->auth))
		auth_done(s);
}

void
smtp_auth_fetch_mechs(struct smtpd *d)
{
	authsess_mechs_fetch(&d->mechs, d->authd);
}
