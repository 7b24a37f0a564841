/* AUTHORIZATION state: USER/PASS, AUTH (SASL through authd), STLS, CAPA, and logging in. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/authsess.h"
#include "common/cio.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/userdb.h"
#include "pop3d/pop3d.h"

/* Authenticated as address: take the maildrop, enter TRANSACTION. */
static void
pop3_login(struct pop3_sess *s, struct span address, const char *how)
{
	const char *why = NULL;
	enum pop3_drop_rc rc;
	uint64_t total = 0;
	size_t i;

	snprintf(s->user, sizeof(s->user), "%.*s", (int)address.n,
	    (const char *)address.p);
	rc = pop3_drop_open(&s->drop, s->d->mail_dir, s->user,
	    s->d->cfg->pop3d.login_delay_s, &why);
	switch (rc) {
	case POP3_DROP_OK:
		break;
	case POP3_DROP_IN_USE:
		log_notice("conn=%s event=in-use user=%s", s->id, s->user);
		s->user[0] = '\0';
		pop3_err(s, "[IN-USE] Mailbox in use by another POP3 session");
		return;
	case POP3_DROP_DELAY:
		log_notice("conn=%s event=login-delay user=%s", s->id,
		    s->user);
		s->user[0] = '\0';
		pop3_err(s, "[LOGIN-DELAY] Logged in too recently");
		return;
	case POP3_DROP_FAIL:
		log_err("conn=%s event=maildrop-failed user=%s reason=\"%s\"",
		    s->id, s->user, why ? why : "?");
		s->user[0] = '\0';
		pop3_err(s, "[SYS/TEMP] Cannot open the maildrop");
		return;
	}
	s->have_drop = 1;
	for (i = 0; i < s->drop.n; i++)
		total += s->drop.msgs[i].size;
	log_info("conn=%s event=login how=%s user=%s messages=%zu size=%llu",
	    s->id, how, s->user, s->drop.n, (unsigned long long)total);
	pop3_set_state(s, POP3_S_TRANS);
	pop3_ok(s, "Logged in; %zu messages (%llu octets)", s->drop.n,
	    (unsigned long long)total);
}

void
pop3_cmd_user(struct pop3_sess *s, const struct pop3_cmd *c)
{
	if (!pop3_auth_allowed(s)) {
		pop3_err(s, "[AUTH] Plaintext authentication disallowed; "
		    "use STLS first");
		return;
	}
	snprintf(s->user_arg, sizeof(s->user_arg), "%.*s", (int)c->arg[0].n,
	    (const char *)c->arg[0].p);
	pop3_ok(s, "Send PASS");
}

/* The answer to PASS or APOP. */
static void
check_done(struct pop3_sess *s, const struct authsess_result *res,
    const char *how)
{
	pop3_wait_end(s);
	switch (res->kind) {
	case AUTHSESS_OK:
		pop3_login(s, res->user, how);
		return;
	case AUTHSESS_FAIL:
		log_notice("conn=%s event=auth-fail how=%s ip=%s", s->id, how,
		    s->ip);
		pop3_err(s, "[AUTH] Authentication failed");
		return;
	default:
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
}

static void
pass_cb(void *arg, const struct authsess_result *res)
{
	check_done(arg, res, "pass");
}

void
pop3_cmd_pass(struct pop3_sess *s, const struct pop3_cmd *c)
{
	uint64_t id;

	if (!pop3_auth_allowed(s)) {
		pop3_err(s, "[AUTH] Plaintext authentication disallowed; "
		    "use STLS first");
		return;
	}
	if (s->user_arg[0] == '\0') {
		pop3_err(s, "Send USER first");
		return;
	}
	if (authsess_check(&s->auth, span_make(s->user_arg,
	    strlen(s->user_arg)), c->arg[0], s->ip, pass_cb, s, &id) !=
	    AUTHSESS_SENT) {
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	s->user_arg[0] = '\0';	/* RFC 1939: PASS after a failure needs USER */
	pop3_wait_begin(s, POP3_W_PASS, id);
}

/*
 * The greeting's timestamp for APOP (RFC 1939 7): a msg-id that must
 * differ for every greeting.  The random part makes it so whatever the
 * clock and the pid do.  -1 if it does not fit.
 */
int
pop3_apop_timestamp(char *out, size_t outsz, long pid, uint64_t rnd,
    long long now, const char *hostname)
{
	int n = snprintf(out, outsz, "<%ld.%016llx.%lld@%s>", pid,
	    (unsigned long long)rnd, now, hostname);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void
apop_cb(void *arg, const struct authsess_result *res)
{
	check_done(arg, res, "apop");
}

void
pop3_cmd_apop(struct pop3_sess *s, const struct pop3_cmd *c)
{
	uint64_t id;

	/* pop3d.apop = no: no timestamp was sent, so there is nothing a
	 * digest could be checked against (docs/pop3d.md). */
	if (s->apop_ts[0] == '\0') {
		pop3_err(s, "APOP not available");
		return;
	}
	/* SECURITY: the digest is no password, but whoever sees it and the
	 * timestamp can test guesses of the secret offline: the same rule
	 * as USER/PASS. */
	if (!pop3_auth_allowed(s)) {
		pop3_err(s, "[AUTH] Plaintext authentication disallowed; "
		    "use STLS first");
		return;
	}
	if (authsess_apop(&s->auth, c->arg[0], s->apop_ts, c->arg[1], s->ip,
	    apop_cb, s, &id) != AUTHSESS_SENT) {
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	s->user_arg[0] = '\0';
	pop3_wait_begin(s, POP3_W_PASS, id);
}

/* ---- AUTH (RFC 5034) ---- */

static void
auth_done(struct pop3_sess *s)
{
	if (s->state == POP3_S_SASL)
		pop3_set_state(s, POP3_S_AUTH);
}

/* Answer a request that authsess could not send. */
static void
auth_unsent(struct pop3_sess *s, enum authsess_send rc)
{
	auth_done(s);
	switch (rc) {
	case AUTHSESS_SENT:
		break;
	case AUTHSESS_E_CANCEL:
		pop3_err(s, "Authentication cancelled");
		break;
	case AUTHSESS_E_B64:
		pop3_err(s, "Invalid base64 data");
		break;
	case AUTHSESS_E_TEMP:
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		break;
	}
}

static void
auth_cb(void *arg, const struct authsess_result *res)
{
	struct pop3_sess *s = arg;

	pop3_wait_end(s);
	if (res->kind == AUTHSESS_CHALLENGE) {
		pop3_set_state(s, POP3_S_SASL);
		if (cio_printf(s->io, "+ %s\r\n", res->challenge) != 0)
			cio_abort(s->io, "output full");
		return;
	}
	auth_done(s);
	switch (res->kind) {
	case AUTHSESS_OK:
		pop3_login(s, res->user, s->auth.mech);
		return;
	case AUTHSESS_FAIL:
		log_notice("conn=%s event=auth-fail mech=%s ip=%s", s->id,
		    s->auth.mech, s->ip);
		pop3_err(s, "[AUTH] Authentication failed");
		return;
	default:
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
}

void
pop3_cmd_auth(struct pop3_sess *s, const struct pop3_cmd *c)
{
	enum authsess_send rc;
	uint64_t id;
	char *p;

	if (c->n_args == 0) {
		/* the mechanism list, as CAPA's SASL line has it */
		pop3_ok(s, "Mechanisms follow");
		if (pop3_auth_allowed(s))
			for (p = s->d->mechs.list; *p != '\0'; p++)
				pop3_send(s, *p == ' ' ? "\r\n" : p, *p == ' ' ?
				    2 : 1);
		if (pop3_auth_allowed(s) && s->d->mechs.list[0] != '\0')
			pop3_send(s, "\r\n", 2);
		pop3_send(s, ".\r\n", 3);
		return;
	}
	if (!pop3_auth_allowed(s)) {
		pop3_err(s, "[AUTH] Plaintext authentication disallowed; "
		    "use STLS first");
		return;
	}
	if (!authsess_mech_listed(s->d->mechs.list, c->arg[0])) {
		pop3_err(s, "Unrecognized authentication mechanism");
		return;
	}
	rc = authsess_sasl_start(&s->auth, c->arg[0], c->n_args == 2,
	    c->n_args == 2 ? c->arg[1] : span_make(NULL, 0), s->ip, auth_cb,
	    s, &id);
	if (rc != AUTHSESS_SENT) {
		auth_unsent(s, rc);
		return;
	}
	pop3_wait_begin(s, POP3_W_SASL, id);
}

void
pop3_auth_line(struct pop3_sess *s, struct span line)
{
	enum authsess_send rc;
	uint64_t id;

	rc = authsess_sasl_line(&s->auth, line, &id);
	if (rc != AUTHSESS_SENT) {
		auth_unsent(s, rc);
		return;
	}
	pop3_wait_begin(s, POP3_W_SASL, id);
}

void
pop3_auth_abort(struct pop3_sess *s)
{
	if (authsess_sasl_abort(&s->auth))
		auth_done(s);
}

void
pop3_auth_fetch_mechs(struct pop3d *d)
{
	authsess_mechs_fetch(&d->mechs, d->authd);
}

/* ---- STLS (RFC 2595 4), CAPA (RFC 2449 5) ---- */

void
pop3_cmd_stls(struct pop3_sess *s, const struct pop3_cmd *c)
{
	size_t dropped = 0;

	if (!pop3_tls_offered(s)) {
		pop3_err(s, cio_tls_active(s->io) ? "Already using TLS" :
		    "STLS not available here");
		return;
	}
	pop3_ok(s, "Begin TLS negotiation");
	if (cio_starttls(s->io, tlsw_ctx(s->d->tls), &dropped) != 0) {
		pop3_close(s, "starttls failed");
		return;
	}
	s->user_arg[0] = '\0';
	if (dropped > 0)
		log_notice("conn=%s event=stls-injection dropped=%zu", s->id,
		    dropped);
}

void
pop3_cmd_capa(struct pop3_sess *s, const struct pop3_cmd *c)
{
	const struct cfg *cfg = s->d->cfg;
	int login = s->state == POP3_S_AUTH;

	if (cio_printf(s->io, "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
	    "EXPIRE NEVER\r\nLOGIN-DELAY %u\r\n"
	    "IMPLEMENTATION Letterbox\r\n", cfg->pop3d.login_delay_s) != 0)
		cio_abort(s->io, "output full");
	if (login && pop3_auth_allowed(s)) {
		pop3_send(s, "USER\r\n", 6);
		if (s->d->mechs.list[0] != '\0' &&
		    cio_printf(s->io, "SASL %s\r\n", s->d->mechs.list) != 0)
			cio_abort(s->io, "output full");
	}
	if (login && pop3_tls_offered(s))
		pop3_send(s, "STLS\r\n", 6);
	pop3_send(s, ".\r\n", 3);
}
