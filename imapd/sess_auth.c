/* Any state and NOT AUTHENTICATED: CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN AUTHENTICATE. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/authsess.h"
#include "common/cio.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/userdb.h"
#include "imapd/imapd.h"

/* The authd glue (password check, SASL exchange, mechanism list) is
 * common/authsess, shared with pop3d and smtpd. */

void imap_sess_reader_reset(struct imap_sess *s);

static int
args_n(struct imap_args a)
{
	return (int)imap_args_count(a);
}

void
imap_cmd_capability(struct imap_sess *s, struct imap_args args, int uid)
{
	struct buf b;

	if (args_n(args) != 0) {
		imap_bad(s, "CAPABILITY takes no arguments");
		return;
	}
	buf_init(&b, 256, 4096);
	imap_capabilities(s, &b);
	imap_printf(s, "* CAPABILITY %s\r\n", buf_cstr(&b));
	buf_fini(&b);
	imap_ok(s, "CAPABILITY completed");
}

void
imap_cmd_noop(struct imap_sess *s, struct imap_args args, int uid)
{
	if (args_n(args) != 0) {
		imap_bad(s, "NOOP takes no arguments");
		return;
	}
	/* the changes were told by the dispatcher (imap_sel_update) */
	imap_ok(s, "NOOP completed");
}

void
imap_cmd_logout(struct imap_sess *s, struct imap_args args, int uid)
{
	if (args_n(args) != 0) {
		imap_bad(s, "LOGOUT takes no arguments");
		return;
	}
	imap_printf(s, "* BYE Letterbox IMAP logging out\r\n");
	imap_ok(s, "LOGOUT completed");
	imap_close(s, "logout");
}

/* RFC 2971: ID ("name" "value" ...) or ID NIL; logged, answered with
 * our name only (no version: it helps attackers more than clients). */
void
imap_cmd_id(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *a = imap_args_at(args, 0);
	char esc[512];
	struct buf b;
	struct imap_args items;
	const struct imap_arg *k, *v;
	struct span ks, vs;

	if (args_n(args) != 1 || (a->type != IMAP_ARG_NIL &&
	    a->type != IMAP_ARG_LIST)) {
		imap_bad(s, "ID takes a list of field-value pairs or NIL");
		return;
	}
	if (a->type == IMAP_ARG_LIST) {
		items = imap_arg_items(a);
		if (imap_args_count(items) % 2 != 0 ||
		    imap_args_count(items) > 60) {
			imap_bad(s, "ID list must hold at most 30 pairs");
			return;
		}
		buf_init(&b, 128, 2048);
		for (k = imap_args_at(items, 0); k != NULL;
		    k = imap_args_next(items, v)) {
			v = imap_args_next(items, k);
			if (imap_arg_string(k, &ks) != 0 || (v->type !=
			    IMAP_ARG_NIL && imap_arg_string(v, &vs) != 0) ||
			    ks.n > 30 || (v->type != IMAP_ARG_NIL &&
			    vs.n > 1024)) {
				buf_fini(&b);
				imap_bad(s, "ID fields and values are strings "
				    "(fields up to 30 bytes, values 1024)");
				return;
			}
			(void)!buf_addf(&b, " %.*s=", (int)ks.n, ks.p);
			if (v->type == IMAP_ARG_NIL)
				(void)!buf_addstr(&b, "NIL");
			else
				(void)!buf_addspan(&b, vs);
		}
		log_info("conn=%s event=id client=\"%s\"", s->id,
		    log_escape(buf_view(&b), esc, sizeof(esc)));
		buf_fini(&b);
	}
	imap_printf(s, "* ID (\"name\" \"Letterbox\")\r\n");
	imap_ok(s, "ID completed");
}

/* RFC 5161 ENABLE: CONDSTORE, QRESYNC (RFC 7162), UTF8=ACCEPT (RFC
 * 6855). */
void
imap_cmd_enable(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *a;
	char line[256] = "";
	size_t len = 0;

	if (args_n(args) == 0) {
		imap_bad(s, "ENABLE needs at least one capability");
		return;
	}
	for (a = imap_args_at(args, 0); a != NULL;
	    a = imap_args_next(args, a))
		if (a->type != IMAP_ARG_ATOM) {
			imap_bad(s, "ENABLE takes capability names");
			return;
		}
	for (a = imap_args_at(args, 0); a != NULL;
	    a = imap_args_next(args, a)) {
		/* RFC 5161 3.1: only what was not enabled before is told */
		if (imap_arg_atom_is(a, "CONDSTORE") &&
		    !(s->enabled & IMAP_EN_CONDSTORE)) {
			s->enabled |= IMAP_EN_CONDSTORE;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " CONDSTORE");
		}
		/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE */
		if (imap_arg_atom_is(a, "QRESYNC") &&
		    !(s->enabled & IMAP_EN_QRESYNC)) {
			s->enabled |= IMAP_EN_QRESYNC | IMAP_EN_CONDSTORE;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " QRESYNC");
		}
		if (imap_arg_atom_is(a, "UTF8=ACCEPT") &&
		    !(s->enabled & IMAP_EN_UTF8)) {
			s->enabled |= IMAP_EN_UTF8;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " UTF8=ACCEPT");
		}
		/* RFC 9051 Appendix A: RFC 9051's behaviour from now on */
		if (imap_arg_atom_is(a, "IMAP4rev2") &&
		    !(s->enabled & IMAP_EN_REV2)) {
			s->enabled |= IMAP_EN_REV2;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " IMAP4rev2");
		}
	}
	imap_printf(s, "* ENABLED%s\r\n", line[0] && len ? line : "");
	imap_ok(s, "ENABLE completed");
}

void
imap_cmd_starttls(struct imap_sess *s, struct imap_args args, int uid)
{
	size_t dropped = 0;

	if (args_n(args) != 0) {
		imap_bad(s, "STARTTLS takes no arguments");
		return;
	}
	if (!imap_tls_offered(s)) {
		imap_bad(s, cio_tls_active(s->io) ? "Already using TLS" :
		    "STARTTLS not available here");
		return;
	}
	imap_ok(s, "Begin TLS negotiation now");
	if (cio_starttls(s->io, tlsw_ctx(s->d->tls), &dropped) != 0) {
		imap_close(s, "starttls failed");
		return;
	}
	/* SECURITY: nothing sent before the handshake counts (RFC 9051
	 * 6.2.1): the reader forgets any partial command */
	imap_sess_reader_reset(s);
	/* cio counts this command's bytes too */
	if (dropped > 0 && s->in_after > 0)
		log_notice("conn=%s event=starttls-injection dropped=%zu",
		    s->id, s->in_after);
}

/* Authenticated as address: open the user's index, go AUTHENTICATED. */
static void
imap_login(struct imap_sess *s, struct span address, const char *how)
{
	char user[320];
	const char *why = NULL;
	struct buf b;

	snprintf(user, sizeof(user), "%.*s", (int)address.n,
	    (const char *)address.p);
	if ((s->u = imap_user_get(s->d, user, &why)) == NULL) {
		log_err("conn=%s event=mailstore-failed user=%s reason=\"%s\"",
		    s->id, user, why ? why : "?");
		imap_no(s, "[UNAVAILABLE] Cannot open the mail store");
		return;
	}
	log_info("conn=%s event=login how=%s user=%s", s->id, how, user);
	imap_set_state(s, IMAP_S_AUTH);
	imap_quota_fetch(s);
	/* RFC 9051 6.2.3: the capabilities change after login */
	buf_init(&b, 256, 4096);
	imap_capabilities(s, &b);
	imap_ok(s, "[CAPABILITY %s] Logged in", buf_cstr(&b));
	buf_fini(&b);
}

static void
auth_result(struct imap_sess *s, const struct authsess_result *res,
    const char *how)
{
	switch (res->kind) {
	case AUTHSESS_OK:
		imap_login(s, res->user, how);
		break;
	case AUTHSESS_FAIL:
		log_notice("conn=%s event=auth-fail how=%s ip=%s", s->id, how,
		    s->ip);
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
		break;
	default:
		log_warn("conn=%s event=auth-tempfail how=%s reason=\"%s\"",
		    s->id, how, res->why ? res->why : "?");
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		break;
	}
	imap_wait_end(s);
}

static void
login_cb(void *arg, const struct authsess_result *res)
{
	auth_result(arg, res, "login");
}

void
imap_cmd_login(struct imap_sess *s, struct imap_args args, int uid)
{
	struct span user, pass;
	uint64_t id = 0;

	if (args_n(args) != 2 || imap_arg_astring(imap_args_at(args, 0),
	    &user) != 0 || imap_arg_astring(imap_args_at(args, 1),
	    &pass) != 0) {
		imap_bad(s, "LOGIN takes a user name and a password");
		return;
	}
	if (!imap_auth_allowed(s)) {
		imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication "
		    "disallowed; use STARTTLS first");
		return;
	}
	if (authsess_check(&s->auth, user, pass, s->ip, login_cb, s,
	    &id) != AUTHSESS_SENT) {
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		return;
	}
	imap_wait_begin(s, IMAP_W_LOGIN, id);
}

/* ---- AUTHENTICATE (RFC 9051 6.2.2, RFC 4959 SASL-IR) ---- */

static void
sasl_cb(void *arg, const struct authsess_result *res)
{
	struct imap_sess *s = arg;

	if (res->kind == AUTHSESS_CHALLENGE) {
		imap_printf(s, "+ %s\r\n", res->challenge);
		/* the client's answer is read by the data callback */
		s->wait = IMAP_W_SASL_CLIENT;
		s->wait_reqid = 0;
		cio_resume(s->io);
		return;
	}
	auth_result(s, res, s->auth.mech);
}

/* After a request: wait for authd, or answer what went wrong. */
static void
sasl_sent(struct imap_sess *s, enum authsess_send rc, uint64_t id)
{
	switch (rc) {
	case AUTHSESS_SENT:
		s->wait = IMAP_W_SASL;
		s->wait_reqid = id;
		cio_pause(s->io);
		return;
	case AUTHSESS_E_B64:
		imap_bad(s, "Invalid base64 data");
		break;
	case AUTHSESS_E_CANCEL:
		imap_bad(s, "Authentication cancelled");
		break;
	default:
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		break;
	}
	imap_wait_end(s);
}

void
imap_cmd_authenticate(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *mech = imap_args_at(args, 0);
	const struct imap_arg *ir = imap_args_at(args, 1);
	uint64_t id = 0;

	if (args_n(args) < 1 || args_n(args) > 2 ||
	    mech->type != IMAP_ARG_ATOM || (ir != NULL &&
	    ir->type != IMAP_ARG_ATOM)) {
		imap_bad(s, "AUTHENTICATE takes a mechanism and an optional "
		    "initial response");
		return;
	}
	if (!imap_auth_allowed(s)) {
		imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication "
		    "disallowed; use STARTTLS first");
		return;
	}
	if (!authsess_mech_listed(s->d->mechs.list, mech->s)) {
		imap_no(s, "Unsupported authentication mechanism");
		return;
	}
	sasl_sent(s, authsess_sasl_start(&s->auth, mech->s, ir != NULL,
	    ir != NULL ? ir->s : span_make(NULL, 0), s->ip, sasl_cb, s, &id),
	    id);
}

/* A client line in answer to "+ challenge". */
void
imap_auth_line(struct imap_sess *s, struct span line)
{
	uint64_t id = 0;

	sasl_sent(s, authsess_sasl_line(&s->auth, line, &id), id);
}

void
imap_auth_abort(struct imap_sess *s)
{
	authsess_cancel(&s->auth);
}

void
imap_auth_fetch_mechs(struct imapd *d)
{
	authsess_mechs_fetch(&d->mechs, d->authd);
}
