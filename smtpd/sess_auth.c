/* AUTH (RFC 4954): SASL exchanges relayed to authd, where Cyrus SASL and the passwords live. */
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
#include "common/userdb.h"
#include "smtpd/smtpd.h"

/* RFC 4954 4: an AUTH line may be 12288 octets; ours stop at the line
 * limit (998), which every PLAIN or LOGIN response fits. */
#define SASL_MAX 1024

static int
mech_offered(const struct smtpd *d, struct span mech)
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

static void auth_cb(void *arg, const struct ipc_hdr *hdr,
    struct span payload, int fd, const char *why);

static void
auth_send(struct smtp_sess *s, struct ipc_msg *m)
{
	uint64_t id;

	if (ipc_msg_finish(m) != 0 ||
	    ipcc_request(s->d->authd, m, auth_cb, s, &id) != 0) {
		ipc_msg_fini(m);
		s->sasl_sid = 0;
		smtp_set_state(s, SMTP_S_READY);
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	ipc_msg_fini(m);
	smtp_wait_begin(s, SMTP_W_AUTH, id);
}

/* base64 text to bytes; "=" is the empty response (RFC 4954 4). */
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
auth_done(struct smtp_sess *s)
{
	s->sasl_sid = 0;
	smtp_set_state(s, SMTP_S_READY);
}

static void
auth_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct smtp_sess *s = arg;
	struct ipc_reader r;
	struct span v;
	uint64_t sid;
	uint32_t reason;

	smtp_wait_end(s);
	ipc_reader_init(&r, payload);
	if (hdr != NULL && hdr->type == IPC_AUTH_SASL_CHALLENGE &&
	    ipc_get_u64(&r, &sid) == 0 && sid == s->sasl_sid &&
	    ipc_get_str(&r, &v, SASL_MAX) == 0 && ipc_get_end(&r) == 0) {
		char b64[sodium_base64_ENCODED_LEN(SASL_MAX,
		    sodium_base64_VARIANT_ORIGINAL)];

		sodium_bin2base64(b64, sizeof(b64), v.p, v.n,
		    sodium_base64_VARIANT_ORIGINAL);
		smtp_set_state(s, SMTP_S_AUTH);
		if (cio_printf(s->io, "334 %s\r\n", b64) != 0)
			cio_abort(s->io, "output full");
		return;
	}
	auth_done(s);
	if (hdr != NULL && hdr->type == IPC_AUTH_OK &&
	    ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) == 0 && v.n > 0) {
		snprintf(s->user, sizeof(s->user), "%.*s", (int)v.n,
		    (const char *)v.p);
		log_info("conn=%s event=auth-ok mech=%s user=%s", s->id,
		    s->sasl_mech, s->user);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		return;
	}
	if (hdr != NULL && hdr->type == IPC_AUTH_FAIL &&
	    ipc_get_u32(&r, &reason) == 0) {
		log_notice("conn=%s event=auth-fail mech=%s ip=%s", s->id,
		    s->sasl_mech, s->ip);
		smtp_reply_err(s, 535, "5.7.8", "Authentication credentials "
		    "invalid");
		return;
	}
	smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
}

void
smtp_cmd_auth(struct smtp_sess *s, const struct smtp_cmd *c)
{
	unsigned char init[SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;

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
	if (!mech_offered(s->d, c->arg)) {
		smtp_reply_err(s, 504, "5.5.4", "Unrecognized authentication "
		    "type");
		return;
	}
	if (c->has_initial && b64_decode(c->initial, init, sizeof(init),
	    &n) != 0) {
		smtp_reply_err(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	snprintf(s->sasl_mech, sizeof(s->sasl_mech), "%.*s", (int)c->arg.n,
	    (const char *)c->arg.p);
	randombytes_buf(&s->sasl_sid, sizeof(s->sasl_sid));
	s->sasl_sid |= 1;	/* never 0: 0 means "none" */
	ipc_msg_init(&m, IPC_AUTH_SASL_START, 0);
	if (ipc_put_u64(&m, s->sasl_sid) || ipc_put_str(&m, c->arg) ||
	    ipc_put_cstr(&m, "smtp") || ipc_put_cstr(&m, s->ip) ||
	    ipc_put_u32(&m, c->has_initial ? 1 : 0) ||
	    ipc_put_str(&m, span_make(init, n))) {
		sodium_memzero(init, sizeof(init));
		ipc_msg_fini(&m);
		auth_done(s);
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	sodium_memzero(init, sizeof(init));
	auth_send(s, &m);
}

void
smtp_auth_line(struct smtp_sess *s, struct span line)
{
	unsigned char resp[SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;

	if (span_eq(line, "*")) {
		smtp_auth_abort(s);
		smtp_reply_err(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	if (b64_decode(line, resp, sizeof(resp), &n) != 0) {
		smtp_auth_abort(s);
		smtp_reply_err(s, 501, "5.5.2", "Invalid base64 data");
		return;
	}
	ipc_msg_init(&m, IPC_AUTH_SASL_STEP, 0);
	if (ipc_put_u64(&m, s->sasl_sid) ||
	    ipc_put_str(&m, span_make(resp, n))) {
		sodium_memzero(resp, sizeof(resp));
		ipc_msg_fini(&m);
		smtp_auth_abort(s);
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	sodium_memzero(resp, sizeof(resp));
	auth_send(s, &m);
}

void
smtp_auth_abort(struct smtp_sess *s)
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
	struct smtpd *d = arg;
	struct ipc_reader r;
	struct span v;

	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_AUTH_SASL_MECHLIST ||
	    ipc_get_str(&r, &v, sizeof(d->mechs) - 1) != 0) {
		d->mechs_asked = 0;	/* ask again at the next EHLO */
		log_warn("event=sasl-mechs-unavailable reason=\"%s\"",
		    hdr == NULL ? why : "authd refused");
		return;
	}
	snprintf(d->mechs, sizeof(d->mechs), "%.*s", (int)v.n,
	    (const char *)v.p);
	log_info("event=sasl-mechs mechs=\"%s\"", d->mechs);
}

void
smtp_auth_fetch_mechs(struct smtpd *d)
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
