/* saslw: Cyrus SASL (server side, PLAIN and LOGIN) behind a start/step pair, checking passwords against the user database. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHD_SASL_H
#define LB_AUTHD_SASL_H

/*
 * The file is authd/sasl.c; its symbols are prefixed saslw_ (STYLE.md 3:
 * sasl_ is Cyrus SASL's namespace).
 *
 * One struct saslw is one SASL exchange: one sasl_conn_t of Cyrus SASL
 * with its own callbacks.  Cyrus parses the mechanisms' messages (PLAIN's
 * NUL-separated parts, LOGIN's two steps); saslw supplies the user
 * database: canonicalisation of user names (addr_normalize), the password
 * check (secret_verify_password on the stored Argon2id hash, a dummy hash
 * for unknown users) and the authorisation policy (authzid must equal
 * authcid).
 *
 * Threads: saslw_init and saslw_fini once per process, on one thread,
 * while no exchange exists.  saslw_new and saslw_free on any thread;
 * saslw_start and saslw_step on any thread but never two at once for one
 * exchange (they may run an Argon2id verification: call them off the
 * event loop).  Different exchanges may run in parallel.
 */

#include <stddef.h>

#include "common/buf.h"
#include "common/userdb.h"

#define SASLW_MECHS "PLAIN LOGIN"	/* offered, in this order */
#define SASLW_MECH_MAX 20		/* RFC 4422: 1 to 20 characters */
#define SASLW_PASSWORD_MAX 1024		/* longer ones are checked as wrong */

/*
 * What saslw needs from the user database.  user_get: 1 found (*out
 * filled), 0 not found, -1 error; it is called on the thread that runs
 * saslw_start/saslw_step, so it must be thread-safe.  check: 1 if the
 * password matches the hash, 0 if not (NULL: secret_verify_password).
 * dummy_hash (copied by saslw_new): checked for unknown users, so that
 * they cost the same time.
 */
struct saslw_backend {
	int (*user_get)(void *arg, const char *address,
	    struct userdb_user *out);
	int (*check)(const char *hash, const unsigned char *pw, size_t pwlen);
	void *arg;
	const char *dummy_hash;
};

enum saslw_rc {
	SASLW_CONTINUE = 1,	/* send the challenge, wait for a response */
	SASLW_OK,		/* authenticated: saslw_identity */
	SASLW_FAIL,		/* refused: saslw_fail_reason */
	SASLW_TEMPFAIL,		/* user database unavailable, or Cyrus broke */
};

enum saslw_fail {
	SASLW_FAIL_NONE = 0,
	SASLW_FAIL_CREDENTIALS,	/* unknown user, wrong password */
	SASLW_FAIL_DISABLED,	/* right password, account disabled */
	SASLW_FAIL_AUTHZ,	/* authzid differs from authcid */
	SASLW_FAIL_MECH,	/* mechanism not offered */
	SASLW_FAIL_PROTOCOL,	/* malformed client message */
};

struct saslw;

/*
 * saslw_init: sasl_server_init with app name "letterbox": pthread mutexes
 * for Cyrus, only the PLAIN and LOGIN plugins loaded (from the directory
 * next to libsasl2, whatever SASL_PATH says), no config file read, no
 * auxprop, sasldb or saslauthd ever consulted.  Checks that Cyrus then
 * offers exactly SASLW_MECHS.  Call before dropping privileges or
 * chrooting (plugins are loaded now).  0, or -1 with a static *why_out.
 */
int saslw_init(const char **why_out) __attribute__((warn_unused_result));
/* saslw_fini: sasl_server_done; no exchange may be left. */
void saslw_fini(void);

/*
 * saslw_new: an exchange for service ("smtp", "imap", at most 64 bytes)
 * on server fqdn (NULL: "localhost"; never looked up).  be is copied.
 * NULL if saslw_init has not succeeded or Cyrus fails.
 */
struct saslw *saslw_new(const struct saslw_backend *be, const char *service,
    const char *fqdn);
/* saslw_free: dispose of the Cyrus connection, wipe and free. */
void saslw_free(struct saslw **s);

/*
 * saslw_start: begin mechanism mech (a C string) with the client's
 * initial response (NULL: none sent; an empty span is an empty response).
 * saslw_step: the client's next response.  On SASLW_CONTINUE *chal_out
 * is the challenge (raw bytes, maybe empty), valid until the next call
 * or saslw_free.  The caller wipes its copies of the inputs; Cyrus wipes
 * its own.  After SASLW_OK, SASLW_FAIL or SASLW_TEMPFAIL the exchange is
 * over: further calls give SASLW_FAIL.
 */
enum saslw_rc saslw_start(struct saslw *s, const char *mech,
    const struct span *initial, struct span *chal_out);
enum saslw_rc saslw_step(struct saslw *s, struct span response,
    struct span *chal_out);

/* saslw_account: the canonical authentication id whose password was
 * checked (for throttling and logs), "" until one was. */
const char *saslw_account(const struct saslw *s);
/* saslw_checked: 1 if the last start/step checked a password. */
int saslw_checked(const struct saslw *s);
/* saslw_identity: after SASLW_OK, the user's stored address
 * ("user@domain"); otherwise "". */
const char *saslw_identity(const struct saslw *s);
/* saslw_fail_reason: why the exchange ended in SASLW_FAIL. */
enum saslw_fail saslw_fail_reason(const struct saslw *s);
/* saslw_fail_name: "credentials", "disabled", "authz", "mechanism",
 * "malformed" or "none", for logs. */
const char *saslw_fail_name(enum saslw_fail f);
/* saslw_mech: the mechanism name as started (upper case), "" before. */
const char *saslw_mech(const struct saslw *s);

#endif
