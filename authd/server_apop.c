/* IPC_AUTH_APOP: RFC 1939 7 digests checked against the users' APOP secrets, throttled like password checks. */
/* SPDX-License-Identifier: ISC */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "authd/server_priv.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "common/xmem.h"

/* RFC 1939 7: the timestamp is a msg-id, "<...>"; ours are far shorter. */
#define APOP_TIMESTAMP_MAX 512

int
authd_apop_digest(struct span timestamp, const char *secret, size_t n,
    char hex_out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, timestamp.p, timestamp.n) == 1 &&
	    EVP_DigestUpdate(ctx, secret, n) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16;
	EVP_MD_CTX_free(ctx);
	if (ok)
		sodium_bin2hex(hex_out, 33, md, 16);
	sodium_memzero(md, sizeof(md));
	return ok ? 0 : -1;
}

int
authd_apop_match(struct span timestamp, const char *secret, size_t n,
    const char digest[33])
{
	char want[33];
	int r;

	if (authd_apop_digest(timestamp, secret, n, want) < 0)
		return -1;
	/* SECURITY: constant time, so that the digest is not guessed
	 * byte by byte */
	r = sodium_memcmp(want, digest, 32) == 0;
	sodium_memzero(want, sizeof(want));
	return r;
}

/* After the throttle delay: the secret, the digest, the answer. */
static void
authd_apop_start(struct authd_req *r)
{
	struct authd_server *srv = r->cl->srv;
	char *secret;
	size_t n = 0;
	int rc = 0, urc = 0, ok;

	if ((secret = sodium_malloc(USERDB_APOP_MAX + 1)) == NULL)
		fatal("authd: sodium_malloc failed");
	if (!r->bogus && srv->be.apop_get != NULL)
		rc = srv->be.apop_get(srv->be.arg, r->name, secret,
		    USERDB_APOP_MAX, &n);
	if (rc == 1)
		urc = srv->be.user_get(srv->be.arg, r->name, &r->user);
	if (rc < 0 || urc < 0) {
		sodium_free(secret);
		authd_reply_text(r->cl, IPC_AUTH_TEMPFAIL, r->reqid,
		    "user database unavailable");
		authd_req_free(r);
		authd_maybe_idle(srv);
		return;
	}
	r->found = rc == 1 && urc == 1;
	/* SECURITY: without a secret the digest is checked against random
	 * bytes, so that the answer takes as long either way. */
	if (!r->found) {
		n = 16;
		randombytes_buf(secret, n);
	}
	ok = authd_apop_match(span_make(r->pw, r->pwlen), secret, n,
	    r->digest);
	sodium_memzero(secret, USERDB_APOP_MAX + 1);
	sodium_free(secret);
	if (ok < 0) {
		log_err("conn=%s event=apop-md5-unavailable", r->cl->id);
		authd_reply_text(r->cl, IPC_AUTH_TEMPFAIL, r->reqid,
		    "MD5 unavailable");
		authd_req_free(r);
		authd_maybe_idle(srv);
		return;
	}
	authd_check_done(r, ok == 1);
}

/* 32 hex digits, lowercased into out; -1 if not. */
static int
authd_apop_hex(struct span d, char out[33])
{
	size_t i;

	if (d.n != 32)
		return -1;
	for (i = 0; i < 32; i++) {
		unsigned char c = d.p[i];

		if (c >= 'A' && c <= 'F')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = (char)c;
	}
	out[32] = '\0';
	return 0;
}

/*
 * IPC_AUTH_APOP: str user, str timestamp, str digest, str service,
 * str client_ip.  -1 if malformed.
 */
int
authd_handle_apop(struct authd_client *cl, uint64_t reqid,
    struct span payload)
{
	struct ipc_reader rd;
	struct span user, ts, digest;
	struct authd_req *r;

	r = xcalloc(1, sizeof(*r));
	ipc_reader_init(&rd, payload);
	(void)ipc_get_str(&rd, &user, AUTHD_MAX_REQUEST);
	(void)ipc_get_str(&rd, &ts, APOP_TIMESTAMP_MAX);
	(void)ipc_get_str(&rd, &digest, AUTHD_MAX_REQUEST);
	(void)ipc_get_cstr(&rd, r->service, sizeof(r->service));
	(void)ipc_get_cstr(&rd, r->ip, sizeof(r->ip));
	if (ipc_get_end(&rd) < 0) {
		free(r);
		return -1;
	}
	/* As for CHECK: what the user sent is a wrong answer, not a
	 * protocol error of the daemon. */
	if (user.n >= sizeof(r->name) || span_has_nul(user) ||
	    authd_apop_hex(digest, r->digest) < 0)
		r->bogus = 1;
	if (user.n >= sizeof(r->name))
		user.n = sizeof(r->name) - 1;
	memcpy(r->name, user.p, user.n);
	r->name[user.n] = '\0';
	if ((r->pw = sodium_malloc(ts.n + 1)) == NULL)
		fatal("authd: sodium_malloc failed");
	if (ts.n)
		memcpy(r->pw, ts.p, ts.n);
	r->pw[ts.n] = '\0';
	r->pwlen = ts.n;
	r->reqid = reqid;
	r->start = authd_apop_start;
	return authd_req_enqueue(cl, r);
}
