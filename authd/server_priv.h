/* authd server internals shared by server.c (CHECK, RESOLVE, USERINFO) and server_sasl.c (SASL exchanges). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHD_SERVER_PRIV_H
#define LB_AUTHD_SERVER_PRIV_H

#include <stdint.h>

#include <ev.h>

#include "authd/server.h"
#include "common/buf.h"
#include "common/ipc.h"

/* Requests are small; a bigger frame is an error, never buffered. */
#define AUTHD_MAX_REQUEST (8u * 1024u)

struct authd_client;
struct authd_sx;

struct authd_req {
	struct authd_req *next, *prev;
	struct authd_client *cl;
	uint64_t reqid;
	ev_timer delay;
	struct verifier_job *job;
	uint32_t delay_ms;
	int bogus;			/* unusable credentials: always fail */
	int found;			/* user record found */
	struct userdb_user user;
	char name[USERDB_ADDR_MAX];	/* as sent, for logs and throttling */
	char service[AUTHD_SERVICE_MAX + 1];
	char ip[AUTHD_IP_MAX + 1];
	unsigned char *pw;		/* sodium_malloc, until submitted;
					 * APOP: the timestamp */
	size_t pwlen;
	char digest[33];		/* APOP: the client's, lowercased */
	void (*start)(struct authd_req *r);	/* after the delay */
};

struct authd_client {
	struct authd_client *next, *prev;
	struct authd_server *srv;
	struct ipc_conn *conn;
	char id[17];
	struct authd_req *reqs;
	size_t inflight;
	struct authd_sx *sxs;		/* open SASL exchanges */
	size_t n_sx;
};

struct authd_server {
	struct ev_loop *loop;
	struct authd_params p;
	struct authd_backend be;
	struct verifier *v;
	struct throttle *th;
	char dummy[USERDB_HASH_MAX];
	struct peer_listener listener;
	struct authd_client *clients;
	struct authd_sx *sx_orphans;	/* client gone, step still running */
	size_t inflight;
	int stopping;
	void (*idle)(void *);
	void *idle_arg;
};

/* server.c */
void authd_maybe_idle(struct authd_server *srv);
uint64_t authd_now_ms(struct authd_server *srv);
/* authd_send: finish, send and fini m. */
void authd_send(struct authd_client *cl, struct ipc_msg *m);
void authd_reply_text(struct authd_client *cl, uint32_t type, uint64_t reqid,
    const char *text);
void authd_reply_fail(struct authd_client *cl, uint64_t reqid,
    uint32_t reason, const char *text);

/* authd_req_enqueue: r (reqid, name, ip, service, start filled) joins
 * cl's requests; start(r) runs after the throttle delay (maybe at once).
 * Always 0. */
int authd_req_enqueue(struct authd_client *cl, struct authd_req *r);
/* authd_req_free: unlink and free r (replied, or the client is gone). */
void authd_req_free(struct authd_req *r);
/* authd_check_done: answer r: OK if ok and r->found and not r->bogus
 * (FAIL [disabled] for a disabled account), FAIL counted by the
 * throttle otherwise; then free r. */
void authd_check_done(void *arg, int ok);

/* server_apop.c: IPC_AUTH_APOP; -1 if malformed. */
int authd_handle_apop(struct authd_client *cl, uint64_t reqid,
    struct span payload);
/* authd_apop_digest: hex MD5(timestamp || secret) (RFC 1939 7), lower
 * case, NUL-terminated; -1 if OpenSSL cannot (no MD5 in a FIPS setup). */
int authd_apop_digest(struct span timestamp, const char *secret, size_t n,
    char hex_out[33]);
/* authd_apop_match: 1 if digest (32 lowercase hex) is that digest,
 * compared in constant time; 0 if not; -1 as above. */
int authd_apop_match(struct span timestamp, const char *secret, size_t n,
    const char digest[33]);

/* server_sasl.c: handlers return 0, or -1 if the request is malformed
 * (the caller then answers IPC_AUTH_ERROR and closes the client). */
int authd_sasl_mechs(struct authd_client *cl, uint64_t reqid,
    struct span payload);
int authd_sasl_start(struct authd_client *cl, uint64_t reqid,
    struct span payload);
int authd_sasl_step(struct authd_client *cl, uint64_t reqid,
    struct span payload);
int authd_sasl_abort(struct authd_client *cl, uint64_t reqid,
    struct span payload);
/* authd_sasl_client_gone: free cl's exchanges (a running step is left to
 * finish and is freed then). */
void authd_sasl_client_gone(struct authd_client *cl);
/* authd_sasl_server_free: wait for and free the orphans (teardown). */
void authd_sasl_server_free(struct authd_server *srv);

#endif
