/* The client side of authd for login sessions: password checks, SASL exchanges, the mechanism list. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "common/authsess.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/userdb.h"

#define B64_MAX sodium_base64_ENCODED_LEN(AUTHSESS_SASL_MAX, \
    sodium_base64_VARIANT_ORIGINAL)

void
authsess_init(struct authsess *a, struct ipcc *authd, const char *service,
    size_t sasl_max)
{
	BUG_ON(sasl_max > AUTHSESS_SASL_MAX);
	memset(a, 0, sizeof(*a));
	a->authd = authd;
	a->service = service;
	a->sasl_max = sasl_max;
}

int
authsess_mech_listed(const char *list, struct span mech)
{
	const char *p = list;

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

int
authsess_b64_decode(struct span in, unsigned char *out, size_t outsz,
    size_t *n_out)
{
	if (span_eq(in, "=")) {
		*n_out = 0;
		return 0;
	}
	return sodium_base642bin(out, outsz, (const char *)in.p, in.n, NULL,
	    n_out, NULL, sodium_base64_VARIANT_ORIGINAL);
}

void
authsess_decode_reply(uint32_t type, struct span payload, uint64_t sid,
    size_t sasl_max, char *b64, size_t b64sz, const char *why,
    struct authsess_result *res)
{
	struct ipc_reader r;
	struct span v;
	uint64_t got_sid;

	memset(res, 0, sizeof(*res));
	res->kind = AUTHSESS_TEMPFAIL;
	res->why = "malformed reply from authd";
	ipc_reader_init(&r, payload);
	switch (type) {
	case 0:
		res->why = why != NULL ? why : "no reply from authd";
		return;
	case IPC_AUTH_SASL_CHALLENGE:
		if (sid == 0 || ipc_get_u64(&r, &got_sid) != 0 ||
		    got_sid != sid || ipc_get_str(&r, &v, sasl_max) != 0 ||
		    ipc_get_end(&r) != 0 ||
		    b64sz < sodium_base64_ENCODED_LEN(v.n,
		    sodium_base64_VARIANT_ORIGINAL))
			return;
		sodium_bin2base64(b64, b64sz, v.p, v.n,
		    sodium_base64_VARIANT_ORIGINAL);
		res->kind = AUTHSESS_CHALLENGE;
		res->challenge = b64;
		res->why = NULL;
		return;
	case IPC_AUTH_OK:
		if (ipc_get_str(&r, &v, USERDB_ADDR_MAX - 1) != 0 || v.n == 0 ||
		    memchr(v.p, '\0', v.n) != NULL)
			return;
		res->kind = AUTHSESS_OK;
		res->user = v;
		res->why = NULL;
		return;
	case IPC_AUTH_FAIL:
		if (ipc_get_u32(&r, &res->fail_reason) != 0)
			return;
		res->kind = AUTHSESS_FAIL;
		res->why = NULL;
		return;
	case IPC_AUTH_TEMPFAIL:
		res->why = "authd: try later";
		return;
	default:
		return;
	}
}

static void
reply_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct authsess *a = arg;
	struct authsess_result res;
	char b64[B64_MAX];
	authsess_fn *fn = a->fn;
	void *fn_arg = a->arg;

	if (fd >= 0)
		close(fd);	/* authd never sends one */
	a->reqid = 0;
	authsess_decode_reply(hdr != NULL ? hdr->type : 0, payload, a->sid,
	    a->sasl_max, b64, sizeof(b64), why, &res);
	if (res.kind != AUTHSESS_CHALLENGE) {
		/* authd has ended the exchange (or will time it out) */
		a->sid = 0;
		a->fn = NULL;
		a->arg = NULL;
	}
	fn(fn_arg, &res);
	sodium_memzero(b64, sizeof(b64));
}

/* Finish and send m (always released); AUTHSESS_E_TEMP aborts the
 * exchange. */
static enum authsess_send
send_req(struct authsess *a, struct ipc_msg *m, int ok, uint64_t *reqid_out)
{
	uint64_t id = 0;

	if (!ok || ipc_msg_finish(m) != 0 ||
	    ipcc_request(a->authd, m, reply_cb, a, &id) != 0) {
		ipc_msg_fini(m);
		(void)authsess_sasl_abort(a);
		a->fn = NULL;
		a->arg = NULL;
		return AUTHSESS_E_TEMP;
	}
	ipc_msg_fini(m);
	a->reqid = id;
	if (reqid_out != NULL)
		*reqid_out = id;
	return AUTHSESS_SENT;
}

enum authsess_send
authsess_check(struct authsess *a, struct span user, struct span password,
    const char *ip, authsess_fn *fn, void *arg, uint64_t *reqid_out)
{
	struct ipc_msg m;
	int ok;

	BUG_ON(a->reqid != 0);
	a->fn = fn;
	a->arg = arg;
	ipc_msg_init(&m, IPC_AUTH_CHECK, 0);
	ok = ipc_put_str(&m, user) == 0 && ipc_put_str(&m, password) == 0 &&
	    ipc_put_cstr(&m, a->service) == 0 && ipc_put_cstr(&m, ip) == 0;
	/* the password is in m's buffer: send_req releases it */
	return send_req(a, &m, ok, reqid_out);
}

enum authsess_send
authsess_apop(struct authsess *a, struct span user, const char *timestamp,
    struct span digest, const char *ip, authsess_fn *fn, void *arg,
    uint64_t *reqid_out)
{
	struct ipc_msg m;
	int ok;

	BUG_ON(a->reqid != 0);
	a->fn = fn;
	a->arg = arg;
	ipc_msg_init(&m, IPC_AUTH_APOP, 0);
	ok = ipc_put_str(&m, user) == 0 && ipc_put_cstr(&m, timestamp) == 0 &&
	    ipc_put_str(&m, digest) == 0 &&
	    ipc_put_cstr(&m, a->service) == 0 && ipc_put_cstr(&m, ip) == 0;
	return send_req(a, &m, ok, reqid_out);
}

enum authsess_send
authsess_sasl_start(struct authsess *a, struct span mech, int has_initial,
    struct span initial_b64, const char *ip, authsess_fn *fn, void *arg,
    uint64_t *reqid_out)
{
	unsigned char init[AUTHSESS_SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;
	int ok;

	BUG_ON(a->reqid != 0);
	(void)authsess_sasl_abort(a);
	if (has_initial && authsess_b64_decode(initial_b64, init, a->sasl_max,
	    &n) != 0) {
		sodium_memzero(init, sizeof(init));
		return AUTHSESS_E_B64;
	}
	snprintf(a->mech, sizeof(a->mech), "%.*s", (int)mech.n,
	    (const char *)mech.p);
	randombytes_buf(&a->sid, sizeof(a->sid));
	a->sid |= 1;	/* never 0: 0 means "none" */
	a->fn = fn;
	a->arg = arg;
	ipc_msg_init(&m, IPC_AUTH_SASL_START, 0);
	ok = ipc_put_u64(&m, a->sid) == 0 && ipc_put_str(&m, mech) == 0 &&
	    ipc_put_cstr(&m, a->service) == 0 && ipc_put_cstr(&m, ip) == 0 &&
	    ipc_put_u32(&m, has_initial ? 1 : 0) == 0 &&
	    ipc_put_str(&m, span_make(init, n)) == 0;
	sodium_memzero(init, sizeof(init));
	return send_req(a, &m, ok, reqid_out);
}

enum authsess_send
authsess_sasl_line(struct authsess *a, struct span line, uint64_t *reqid_out)
{
	unsigned char resp[AUTHSESS_SASL_MAX];
	size_t n = 0;
	struct ipc_msg m;
	int ok;

	BUG_ON(a->reqid != 0);
	if (span_eq(line, "*")) {
		(void)authsess_sasl_abort(a);
		return AUTHSESS_E_CANCEL;
	}
	if (a->sid == 0)
		return AUTHSESS_E_TEMP;
	if (authsess_b64_decode(line, resp, a->sasl_max, &n) != 0) {
		sodium_memzero(resp, sizeof(resp));
		(void)authsess_sasl_abort(a);
		return AUTHSESS_E_B64;
	}
	ipc_msg_init(&m, IPC_AUTH_SASL_STEP, 0);
	ok = ipc_put_u64(&m, a->sid) == 0 &&
	    ipc_put_str(&m, span_make(resp, n)) == 0;
	sodium_memzero(resp, sizeof(resp));
	return send_req(a, &m, ok, reqid_out);
}

int
authsess_sasl_abort(struct authsess *a)
{
	struct ipc_msg m;

	if (a->sid == 0)
		return 0;
	ipc_msg_init(&m, IPC_AUTH_SASL_ABORT, 0);
	if (ipc_put_u64(&m, a->sid) == 0 && ipc_msg_finish(&m) == 0)
		(void)!ipcc_send(a->authd, &m);
	ipc_msg_fini(&m);
	a->sid = 0;
	return 1;
}

void
authsess_cancel(struct authsess *a)
{
	if (a->reqid != 0)
		ipcc_cancel(a->authd, a->reqid);
	a->reqid = 0;
	a->fn = NULL;
	a->arg = NULL;
	(void)authsess_sasl_abort(a);
}

/* ---- the mechanism list ---- */

static void
mechs_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct authsess_mechs *m = arg;
	struct ipc_reader r;
	struct span v;

	if (fd >= 0)
		close(fd);
	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_AUTH_SASL_MECHLIST ||
	    ipc_get_str(&r, &v, sizeof(m->list) - 1) != 0) {
		m->asked = 0;	/* ask again at the next session */
		log_warn("event=sasl-mechs-unavailable reason=\"%s\"",
		    hdr == NULL ? why : "authd refused");
		return;
	}
	snprintf(m->list, sizeof(m->list), "%.*s", (int)v.n,
	    (const char *)v.p);
	log_info("event=sasl-mechs mechs=\"%s\"", m->list);
}

void
authsess_mechs_fetch(struct authsess_mechs *m, struct ipcc *authd)
{
	struct ipc_msg msg;

	if (m->asked || m->list[0] != '\0')
		return;
	m->asked = 1;
	ipc_msg_init(&msg, IPC_AUTH_SASL_MECHS, 0);
	if (ipc_msg_finish(&msg) != 0 ||
	    ipcc_request(authd, &msg, mechs_cb, m, NULL) != 0)
		m->asked = 0;
	ipc_msg_fini(&msg);
}
