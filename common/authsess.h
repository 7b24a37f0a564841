/* The client side of authd for a login session: password checks, SASL exchanges and the mechanism list, for every protocol daemon. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHSESS_H
#define LB_AUTHSESS_H

/*
 * Protocol-neutral: nothing here writes to the client.  Each request goes
 * to authd over common/ipcc; its answer comes back to a callback as a
 * struct authsess_result, which the daemon turns into its own reply
 * (SMTP "235"/"535"/"454", POP3 "+OK"/"-ERR [AUTH]"/"-ERR [SYS/TEMP]",
 * IMAP "OK"/"NO [AUTHENTICATIONFAILED]"/"NO [UNAVAILABLE]", and for a
 * SASL challenge "334 ", "+ " or "+ " followed by the base64 text).
 *
 * Typical use (one struct authsess per client connection):
 *
 *   session start:  authsess_init(&s->auth, d->authd, "imap", 1536);
 *   LOGIN u p:      authsess_check(&s->auth, u, p, s->ip, login_cb, s)
 *                   (then stop reading client input until login_cb)
 *   AUTHENTICATE m [ir]:
 *                   if (!authsess_mech_listed(d->mechs.list, m)) -> NO
 *                   authsess_sasl_start(&s->auth, m, has_ir, ir, s->ip,
 *                       sasl_cb, s): AUTHSESS_E_B64 -> BAD, E_TEMP -> NO
 *   sasl_cb:        CHALLENGE -> send "+ " res->challenge "\r\n", and
 *                   give the client's next line to authsess_sasl_line();
 *                   OK / FAIL / TEMPFAIL -> the exchange is over.
 *   connection end: authsess_cancel(&s->auth)
 *   process start and each new session:
 *                   authsess_mechs_fetch(&d->mechs, d->authd)
 *
 * At most one request per struct authsess is pending at a time: the
 * daemon stops reading the client while it waits (cio_pause).  Calling a
 * request function while one is pending is a bug (BUG_ON).
 *
 * Secrets: passwords and SASL responses are copied only into the IPC
 * message and into stack buffers that are wiped (sodium_memzero) before
 * the function returns.  Nothing here logs credentials.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct ipcc;

/* Ceiling on decoded SASL bytes per client line or authd challenge. */
#define AUTHSESS_SASL_MAX 4096
/* Longest mechanism name kept for logs (RFC 4422 3.1: 20 characters). */
#define AUTHSESS_MECH_MAX 24
/* The mechanism list as authd sends it ("PLAIN LOGIN"), NUL included. */
#define AUTHSESS_MECHS_MAX 128

enum authsess_kind {
	AUTHSESS_OK = 0,	/* authenticated: res->user */
	AUTHSESS_FAIL,		/* credentials refused (IPC_AUTH_FAIL); the
				 * exchange is over */
	AUTHSESS_TEMPFAIL,	/* authd said try later (also throttling),
				 * went away, timed out, or answered
				 * something malformed: res->why */
	AUTHSESS_CHALLENGE,	/* SASL only: res->challenge goes to the
				 * client; its answer to authsess_sasl_line */
};

/*
 * What authd answered.  Every pointer is valid only during the callback.
 */
struct authsess_result {
	enum authsess_kind kind;
	struct span user;	/* OK: the canonical address, 1 to
				 * USERDB_ADDR_MAX - 1 bytes, no NUL */
	uint32_t fail_reason;	/* FAIL: enum ipc_auth_fail */
	const char *challenge;	/* CHALLENGE: base64 (RFC 4648 4, with
				 * padding), NUL-terminated, "" for an empty
				 * challenge */
	const char *why;	/* TEMPFAIL: a static string for logs */
};

/* The callback of one request; called exactly once per request that was
 * sent (AUTHSESS_SENT), never from inside the request function itself,
 * and not at all after authsess_cancel. */
typedef void authsess_fn(void *arg, const struct authsess_result *res);

/* One client connection's state.  Fields are private except mech (the
 * SASL mechanism of the current or last exchange, for logs) and sid
 * (non-zero while a SASL exchange is open at authd). */
struct authsess {
	struct ipcc *authd;
	const char *service;	/* "smtp", "pop3", "imap": a static string */
	size_t sasl_max;	/* <= AUTHSESS_SASL_MAX */
	uint64_t reqid;		/* pending request, 0 if none */
	uint64_t sid;		/* open SASL exchange, 0 if none */
	authsess_fn *fn;
	void *arg;
	char mech[AUTHSESS_MECH_MAX];
};

/* Results of the request functions. */
enum authsess_send {
	AUTHSESS_SENT = 0,	/* the callback will be called */
	AUTHSESS_E_TEMP,	/* authd cannot be reached right now: answer
				 * "temporary failure"; any SASL exchange
				 * has been aborted */
	AUTHSESS_E_B64,		/* the client's base64 was invalid or longer
				 * than sasl_max decoded: nothing was sent;
				 * any SASL exchange has been aborted */
	AUTHSESS_E_CANCEL,	/* authsess_sasl_line: the client sent "*"
				 * (RFC 4422 3.5): the exchange has been
				 * aborted; answer "cancelled" */
};

/*
 * authsess_init: a session that talks to authd over the (borrowed,
 * process-wide) client authd, naming itself service in each request (for
 * authd's logs and per-service rules).  sasl_max caps the decoded size
 * of one client line and of one challenge (at most AUTHSESS_SASL_MAX).
 */
void authsess_init(struct authsess *a, struct ipcc *authd,
    const char *service, size_t sasl_max);

/*
 * authsess_cancel: the connection ends (or gives up waiting): forget a
 * pending request (its callback will not be called) and abort an open
 * SASL exchange at authd.  Safe to call at any time, and more than once.
 */
void authsess_cancel(struct authsess *a);

/*
 * authsess_check: IPC_AUTH_CHECK: is password right for user?  Answers
 * OK, FAIL or TEMPFAIL.  ip is the client's address (throttling).
 * *reqid_out (may be NULL) receives the ipcc request id.
 */
enum authsess_send authsess_check(struct authsess *a, struct span user,
    struct span password, const char *ip, authsess_fn *fn, void *arg,
    uint64_t *reqid_out) __attribute__((warn_unused_result));

/*
 * authsess_apop: IPC_AUTH_APOP (RFC 1939 7): is digest (the client's 32
 * hex digits) MD5(timestamp || user's APOP secret)?  timestamp is the
 * one the daemon's greeting carried, "<" and ">" included.  Answers OK,
 * FAIL (also: the user has no APOP secret) or TEMPFAIL, like
 * authsess_check.
 */
enum authsess_send authsess_apop(struct authsess *a, struct span user,
    const char *timestamp, struct span digest, const char *ip,
    authsess_fn *fn, void *arg, uint64_t *reqid_out)
    __attribute__((warn_unused_result));

/*
 * authsess_sasl_start: IPC_AUTH_SASL_START for mechanism mech (check it
 * with authsess_mech_listed first), with the client's initial response
 * (base64, "=" for an empty one) if has_initial.  Answers CHALLENGE, OK,
 * FAIL or TEMPFAIL.  Returns AUTHSESS_SENT, AUTHSESS_E_B64 (bad initial
 * response: nothing sent) or AUTHSESS_E_TEMP.
 */
enum authsess_send authsess_sasl_start(struct authsess *a, struct span mech,
    int has_initial, struct span initial_b64, const char *ip,
    authsess_fn *fn, void *arg, uint64_t *reqid_out)
    __attribute__((warn_unused_result));

/*
 * authsess_sasl_line: the client's line after a CHALLENGE: "*" cancels
 * (AUTHSESS_E_CANCEL), otherwise base64 ("=" is the empty response)
 * that goes to authd as IPC_AUTH_SASL_STEP (AUTHSESS_SENT, with the same
 * callback as the exchange's start), or AUTHSESS_E_B64 / AUTHSESS_E_TEMP.
 * Every result but AUTHSESS_SENT leaves the exchange aborted.
 */
enum authsess_send authsess_sasl_line(struct authsess *a, struct span line,
    uint64_t *reqid_out) __attribute__((warn_unused_result));

/* authsess_sasl_abort: abort the open SASL exchange, if any (no answer
 * comes).  1 if there was one, 0 if not. */
int authsess_sasl_abort(struct authsess *a);

/* ---- the mechanism list: one per process ---- */

struct authsess_mechs {
	char list[AUTHSESS_MECHS_MAX];	/* "PLAIN LOGIN", or "" unknown */
	int asked;			/* a request is on its way */
};

/*
 * authsess_mechs_fetch: ask authd for its SASL mechanisms unless known or
 * already asked; the answer fills m->list (logged).  If authd does not
 * answer, the next call asks again.  m must outlive the request (a
 * process-wide struct).
 */
void authsess_mechs_fetch(struct authsess_mechs *m, struct ipcc *authd);

/* ---- pure helpers (no I/O) ---- */

/* authsess_mech_listed: mech (any case) is a word of the space-separated
 * list.  An empty mech is never listed. */
int authsess_mech_listed(const char *list, struct span mech);

/*
 * authsess_b64_decode: one client base64 line (RFC 4648 4, padding
 * required, no whitespace) into out; "=" is the empty response (RFC 4954
 * 4, RFC 5034 4, RFC 9051 6.2.2); an empty line decodes to nothing as
 * well.  0 with *n_out, or -1 if invalid or longer than outsz.
 */
int authsess_b64_decode(struct span in, unsigned char *out, size_t outsz,
    size_t *n_out) __attribute__((warn_unused_result));

/*
 * authsess_decode_reply: turn authd's reply (type and payload; type 0
 * for "no reply", with why) to a check or SASL request of the exchange
 * sid (0 for a check) into *res.  A challenge is base64-encoded into
 * b64 (b64sz bytes, at least sodium_base64_ENCODED_LEN(sasl_max)) and
 * must not decode to more than sasl_max bytes.  Anything malformed is
 * TEMPFAIL.
 */
void authsess_decode_reply(uint32_t type, struct span payload, uint64_t sid,
    size_t sasl_max, char *b64, size_t b64sz, const char *why,
    struct authsess_result *res);

#endif
