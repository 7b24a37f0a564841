/* AUTHORIZATION state: USER/PASS, AUTH (SASL through authd), STLS, CAPA, and logging in. */
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
#include "pop3d/pop3d.h"

#define SASL_MAX 1536	/* decoded SASL bytes per line */

static int
mech_offered(const struct pop3d *d, struct span mech)
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

static void
pass_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct pop3_sess *s = arg;
	struct ipc_reader r;
	struct span v;

	pop3_wait_end(s);
	ipc_reader_init(&r, payload);
	if (hdr != NULL && hdr->type == IPC_AUTH_OK &&
	    ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) == 0 && v.n > 0) {
		pop3_login(s, v, "pass");
		return;
	}
	if (hdr != NULL && hdr->type == IPC_AUTH_FAIL) {
		log_notice("conn=%s event=auth-fail how=pass ip=%s", s->id,
		    s->ip);
		pop3_err(s, "[AUTH] Authentication failed");
		return;
	}
	pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
}

void
pop3_cmd_pass(struct pop3_sess *s, const struct pop3_cmd *c)
{
	struct ipc_msg m;
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
	ipc_msg_init(&m, IPC_AUTH_CHECK, 0);
	if (ipc_put_cstr(&m, s->user_arg) || ipc_put_str(&m, c->arg[0]) ||
	    ipc_put_cstr(&m, "pop3") || ipc_put_cstr(&m, s->ip) ||
	    ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->authd, &m, pass_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	/* the password is in m's buffer: wipe it */
	ipc_msg_fini(&m);
	s->user_arg[0] = '\0';	/* RFC 1939: PASS after a failure needs USER */
	pop3_wait_begin(s, POP3_W_PASS, id);
}

void
pop3_cmd_apop(struct pop3_sess *s, const struct pop3_cmd *c)
{
	/* APOP needs the plaintext password on the server; authd keeps
	 * only Argon2id hashes, so it is never offered (docs/pop3d.md). */
	pop3_err(s, "APOP not available");
}

/* ---- AUTH (RFC 5034) ---- */

static void auth_cb(void *arg, const struct ipc_hdr *hdr,
    struct span payload, int fd, const char *why);

static void
auth_done(struct pop3_sess *s)
{
	s->sasl_sid = 0;
	if (s->state == POP3_S_SASL)
		pop3_set_state(s, POP3_S_AUTH);
}

static void
auth_send(struct pop3_sess *s, struct ipc_msg *m)
{
	uint64_t id;

	if (ipc_msg_finish(m) != 0 ||
	    ipcc_request(s->d->authd, m, auth_cb, s, &id) != 0) {
		ipc_msg_fini(m);
		auth_done(s);
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	ipc_msg_fini(m);
	pop3_wait_begin(s, POP3_W_SASL, id);
}

static int
b64_decode(struct span in, unsigned char *out, size_t outsz, size_t *n_out)
{
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
	struct pop3_sess *s = arg;
	struct ipc_reader r;
	struct span v;
	uint64_t sid;

	pop3_wait_end(s);
	ipc_reader_init(&r, payload);
	if (hdr != NULL && hdr->type == IPC_AUTH_SASL_CHALLENGE &&
	    ipc_get_u64(&r, &sid) == 0 && sid == s->sasl_sid &&
	    ipc_get_str(&r, &v, SASL_MAX) == 0 && ipc_get_end(&r) == 0) {
		char b64[sodium_base64_ENCODED_LEN(SASL_MAX,
		    sodium_base64_VARIANT_ORIGINAL)];

		sodium_bin2base64(b64, sizeof(b64), v.p, v.n,
		    sodium_base64_VARIANT_ORIGINAL);
		pop3_set_state(s, POP3_S_SASL);
		if (cio_printf(s->io, "+ %s\r\n", b64) != 0)
			cio_abort(s->io, "output full");
		return;
	}
	auth_done(s);
	if (hdr != NULL && hdr->type == IPC_AUTH_OK &&
	    ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) == 0 && v.n > 0) {
		pop3_login(s, v, s->sasl_mech);
		return;
	}
	if (hdr != NULL && hdr->type == IPC_AUTH_FAIL) {
		log_notice("conn=%s event=auth-fail mech=%s ip=%s", s->id,
		    s->sasl_mech, s->ip);
		pop3_err(s, "[AUTH] Authentication failed");
		return;
	}
	pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
}

void
pop3_cmd_auth(struct pop3_sess *s, const struct pop3_cmd *c)
{
	unsigned char init[SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;
	char *p;

	if (c->n_args == 0) {
		/* the mechanism list, as CAPA's SASL line has it */
		pop3_ok(s, "Mechanisms follow");
		if (pop3_auth_allowed(s))
			for (p = s->d->mechs; *p != '\0'; p++)
				pop3_send(s, *p == ' ' ? "\r\n" : p, *p == ' ' ?
				    2 : 1);
		if (pop3_auth_allowed(s) && s->d->mechs[0] != '\0')
			pop3_send(s, "\r\n", 2);
		pop3_send(s, ".\r\n", 3);
		return;
	}
	if (!pop3_auth_allowed(s)) {
		pop3_err(s, "[AUTH] Plaintext authentication disallowed; "
		    "use STLS first");
		return;
	}
	if (!mech_offered(s->d, c->arg[0])) {
		pop3_err(s, "Unrecognized authentication mechanism");
		return;
	}
	if (c->n_args == 2 && b64_decode(c->arg[1], init, sizeof(init),
	    &n) != 0) {
		pop3_err(s, "Invalid base64 data");
		return;
	}
	snprintf(s->sasl_mech, sizeof(s->sasl_mech), "%.*s",
	    (int)c->arg[0].n, (const char *)c->arg[0].p);
	randombytes_buf(&s->sasl_sid, sizeof(s->sasl_sid));
	s->sasl_sid |= 1;
	ipc_msg_init(&m, IPC_AUTH_SASL_START, 0);
	if (ipc_put_u64(&m, s->sasl_sid) || ipc_put_str(&m, c->arg[0]) ||
	    ipc_put_cstr(&m, "pop3") || ipc_put_cstr(&m, s->ip) ||
	    ipc_put_u32(&m, c->n_args == 2 ? 1 : 0) ||
	    ipc_put_str(&m, span_make(init, n))) {
		sodium_memzero(init, sizeof(init));
		ipc_msg_fini(&m);
		auth_done(s);
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	sodium_memzero(init, sizeof(init));
	auth_send(s, &m);
}

void
pop3_auth_line(struct pop3_sess *s, struct span line)
{
	unsigned char resp[SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;

	if (span_eq(line, "*")) {
		pop3_auth_abort(s);
		pop3_err(s, "Authentication cancelled");
		return;
	}
	if (b64_decode(line, resp, sizeof(resp), &n) != 0) {
		pop3_auth_abort(s);
		pop3_err(s, "Invalid base64 data");
		return;
	}
	ipc_msg_init(&m, IPC_AUTH_SASL_STEP, 0);
	if (ipc_put_u64(&m, s->sasl_sid) ||
	    ipc_put_str(&m, span_make(resp, n))) {
		sodium_memzero(resp, sizeof(resp));
		ipc_msg_fini(&m);
		pop3_auth_abort(s);
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure");
		return;
	}
	sodium_memzero(resp, sizeof(resp));
	auth_send(s, &m);
}

void
pop3_auth_abort(struct pop3_sess *s)
{
	struct ipc_msg m;

	if (s->sasl_sid == 0)
		return;
	ipc_msg_init(&m, IPC_AUTH_SASL_ABORT, 0);
	if (ipc_put_u64(&m, s->sasl_sid) == 0 && ipc_msg_finish(&m) == 0)
		(void)!ipcc_send(s->d->authd, &m);
	ipc_msg_fini(&m);
	auth_done(s);
}

static void
mechs_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct pop3d *d = arg;
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
pop3_auth_fetch_mechs(struct pop3d *d)
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
		if (s->d->mechs[0] != '\0' && cio_printf(s->io, "SASL %s\r\n",
		    s->d->mechs) != 0)
			cio_abort(s->io, "output full");
	}
	if (login && pop3_tls_offered(s))
		pop3_send(s, "STLS\r\n", 6);
	pop3_send(s, ".\r\n", 3);
}
