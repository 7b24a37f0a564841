/* Any state and NOT AUTHENTICATED: CAPABILITY NOOP LOGOUT ID ENABLE STARTTLS LOGIN AUTHENTICATE. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "common/cio.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/userdb.h"
#include "imapd/imapd.h"

/*
 * XXX: the authd glue (password check, SASL START/STEP/ABORT, the
 * mechanism list) follows pop3d/sess_auth.c; it moves to
 * common/authsess once that exists (feat/apop), so there is one copy.
 */

#define SASL_MAX 1536	/* decoded SASL bytes per line */

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

/* RFC 5161 ENABLE: CONDSTORE (RFC 7162), UTF8=ACCEPT (RFC 6855). */
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
		if (imap_arg_atom_is(a, "UTF8=ACCEPT") &&
		    !(s->enabled & IMAP_EN_UTF8)) {
			s->enabled |= IMAP_EN_UTF8;
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " UTF8=ACCEPT");
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
	/* RFC 9051 6.2.3: the capabilities change after login */
	buf_init(&b, 256, 4096);
	imap_capabilities(s, &b);
	imap_ok(s, "[CAPABILITY %s] Logged in", buf_cstr(&b));
	buf_fini(&b);
}

static void
auth_fail(struct imap_sess *s, const struct ipc_hdr *hdr, const char *how)
{
	if (hdr != NULL && hdr->type == IPC_AUTH_FAIL) {
		log_notice("conn=%s event=auth-fail how=%s ip=%s", s->id, how,
		    s->ip);
		imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
		return;
	}
	imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
}

static void
login_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct imap_sess *s = arg;
	struct ipc_reader r;
	struct span v;

	ipc_reader_init(&r, payload);
	if (hdr != NULL && hdr->type == IPC_AUTH_OK &&
	    ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) == 0 && v.n > 0)
		imap_login(s, v, "login");
	else
		auth_fail(s, hdr, "login");
	imap_wait_end(s);
}

void
imap_cmd_login(struct imap_sess *s, struct imap_args args, int uid)
{
	struct span user, pass;
	struct ipc_msg m;
	uint64_t id;

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
	ipc_msg_init(&m, IPC_AUTH_CHECK, 0);
	if (ipc_put_str(&m, user) || ipc_put_str(&m, pass) ||
	    ipc_put_cstr(&m, "imap") || ipc_put_cstr(&m, s->ip) ||
	    ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->authd, &m, login_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		return;
	}
	/* the password is in m's buffer: wipe it */
	ipc_msg_fini(&m);
	imap_wait_begin(s, IMAP_W_LOGIN, id);
}

/* ---- AUTHENTICATE (RFC 9051 6.2.2, RFC 4959 SASL-IR) ---- */

static void auth_cb(void *arg, const struct ipc_hdr *hdr,
    struct span payload, int fd, const char *why);

static int
mech_offered(const struct imapd *d, struct span mech)
{
	const char *p = d->mechs;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (mech.n > 0 && n == mech.n &&
		    strncasecmp(p, (const char *)mech.p, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

static void
auth_send(struct imap_sess *s, struct ipc_msg *m)
{
	uint64_t id;

	if (ipc_msg_finish(m) != 0 ||
	    ipcc_request(s->d->authd, m, auth_cb, s, &id) != 0) {
		ipc_msg_fini(m);
		s->sasl_sid = 0;
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		imap_wait_end(s);
		return;
	}
	ipc_msg_fini(m);
	s->wait = IMAP_W_SASL;
	s->wait_reqid = id;
	cio_pause(s->io);
}

static int
b64_decode(struct span in, unsigned char *out, size_t outsz, size_t *n_out)
{
	/* RFC 4959: "=" is an empty initial response */
	if (span_eq(in, "=")) {
		*n_out = 0;
		return 0;
	}
	return sodium_base642bin(out, outsz, (const char *)in.p, in.n, NULL,
	    n_out, NULL, sodium_base64_VARIANT_ORIGINAL);
}

static void
auth_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct imap_sess *s = arg;
	struct ipc_reader r;
	struct span v;
	uint64_t sid;

	ipc_reader_init(&r, payload);
	if (hdr != NULL && hdr->type == IPC_AUTH_SASL_CHALLENGE &&
	    ipc_get_u64(&r, &sid) == 0 && sid == s->sasl_sid &&
	    ipc_get_str(&r, &v, SASL_MAX) == 0 && ipc_get_end(&r) == 0) {
		char b64[sodium_base64_ENCODED_LEN(SASL_MAX,
		    sodium_base64_VARIANT_ORIGINAL)];

		sodium_bin2base64(b64, sizeof(b64), v.p, v.n,
		    sodium_base64_VARIANT_ORIGINAL);
		imap_printf(s, "+ %s\r\n", b64);
		s->wait = IMAP_W_SASL_CLIENT;
		s->wait_reqid = 0;
		cio_resume(s->io);
		return;
	}
	s->sasl_sid = 0;
	if (hdr != NULL && hdr->type == IPC_AUTH_OK &&
	    ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) == 0 && v.n > 0)
		imap_login(s, v, s->sasl_mech);
	else
		auth_fail(s, hdr, s->sasl_mech);
	imap_wait_end(s);
}

void
imap_cmd_authenticate(struct imap_sess *s, struct imap_args args, int uid)
{
	unsigned char init[SASL_MAX];
	const struct imap_arg *mech = imap_args_at(args, 0);
	const struct imap_arg *ir = imap_args_at(args, 1);
	size_t n = 0;
	struct ipc_msg m;

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
	if (!mech_offered(s->d, mech->s)) {
		imap_no(s, "Unsupported authentication mechanism");
		return;
	}
	if (ir != NULL && b64_decode(ir->s, init, sizeof(init), &n) != 0) {
		imap_bad(s, "Invalid base64 data");
		return;
	}
	snprintf(s->sasl_mech, sizeof(s->sasl_mech), "%.*s",
	    (int)mech->s.n, (const char *)mech->s.p);
	randombytes_buf(&s->sasl_sid, sizeof(s->sasl_sid));
	s->sasl_sid |= 1;
	ipc_msg_init(&m, IPC_AUTH_SASL_START, 0);
	if (ipc_put_u64(&m, s->sasl_sid) || ipc_put_str(&m, mech->s) ||
	    ipc_put_cstr(&m, "imap") || ipc_put_cstr(&m, s->ip) ||
	    ipc_put_u32(&m, ir != NULL ? 1 : 0) ||
	    ipc_put_str(&m, span_make(init, n))) {
		sodium_memzero(init, sizeof(init));
		ipc_msg_fini(&m);
		s->sasl_sid = 0;
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		return;
	}
	sodium_memzero(init, sizeof(init));
	auth_send(s, &m);
}

/* A client line in answer to "+ challenge". */
void
imap_auth_line(struct imap_sess *s, struct span line)
{
	unsigned char resp[SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;

	if (span_eq(line, "*")) {
		imap_auth_abort(s);
		imap_bad(s, "Authentication cancelled");
		imap_wait_end(s);
		return;
	}
	if (b64_decode(line, resp, sizeof(resp), &n) != 0) {
		imap_auth_abort(s);
		imap_bad(s, "Invalid base64 data");
		imap_wait_end(s);
		return;
	}
	ipc_msg_init(&m, IPC_AUTH_SASL_STEP, 0);
	if (ipc_put_u64(&m, s->sasl_sid) ||
	    ipc_put_str(&m, span_make(resp, n))) {
		sodium_memzero(resp, sizeof(resp));
		ipc_msg_fini(&m);
		imap_auth_abort(s);
		imap_no(s, "[UNAVAILABLE] Temporary authentication failure");
		imap_wait_end(s);
		return;
	}
	sodium_memzero(resp, sizeof(resp));
	auth_send(s, &m);
}

void
imap_auth_abort(struct imap_sess *s)
{
	struct ipc_msg m;

	if (s->sasl_sid == 0)
		return;
	ipc_msg_init(&m, IPC_AUTH_SASL_ABORT, 0);
	if (ipc_put_u64(&m, s->sasl_sid) == 0 && ipc_msg_finish(&m) == 0)
		(void)!ipcc_send(s->d->authd, &m);
	ipc_msg_fini(&m);
	s->sasl_sid = 0;
}

static void
mechs_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct imapd *d = arg;
	struct ipc_reader r;
	struct span v;

	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_AUTH_SASL_MECHLIST ||
	    ipc_get_str(&r, &v, sizeof(d->mechs) - 1) != 0) {
		d->mechs_asked = 0;	/* ask again at the next session */
		log_warn("event=sasl-mechs-unavailable reason=\"%s\"",
		    hdr == NULL ? why : "authd refused");
		return;
	}
	snprintf(d->mechs, sizeof(d->mechs), "%.*s", (int)v.n,
	    (const char *)v.p);
	log_info("event=sasl-mechs mechs=\"%s\"", d->mechs);
}

void
imap_auth_fetch_mechs(struct imapd *d)
{
	struct ipc_msg m;

	if (d->mechs_asked || d->mechs[0] != '\0')
		return;
	d->mechs_asked = 1;
	ipc_msg_init(&m, IPC_AUTH_SASL_MECHS, 0);
	if (ipc_msg_finish(&m) != 0 ||
	    ipcc_request(d->authd, &m, mechs_cb, d, NULL) != 0)
		d->mechs_asked = 0;
	ipc_msg_fini(&m);
}
