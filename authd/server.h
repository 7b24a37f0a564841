/* authd's request handling: clients on a libev loop, throttling, verification, replies. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHD_SERVER_H
#define LB_AUTHD_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "authd/throttle.h"
#include "authd/verifier.h"
#include "common/peer.h"
#include "common/userdb.h"

struct ev_loop;

#define AUTHD_PASSWORD_MAX 1024	/* longer ones are checked as wrong */
#define AUTHD_SERVICE_MAX 64
#define AUTHD_IP_MAX 64
#define AUTHD_CLIENT_INFLIGHT 64	/* per client; more get TEMPFAIL */
#define AUTHD_SASL_MAX 64		/* open SASL exchanges per client */
#define AUTHD_SASL_IDLE_S 300.		/* an idle exchange is dropped */

struct authd_params {
	struct throttle_params throttle;
	char delim;			/* recipient delimiter, 0 = none */
};

/*
 * What the server needs from the user database, as callbacks so that it
 * can be tested without LMDB.  user_get: 1 found, 0 not, -1 error.
 * resolve: 0 or -1.  Both run on the loop (LMDB reads do not block);
 * user_get also runs on verifier threads for SASL (inside Cyrus's
 * password callback), so it must be thread-safe.
 */
struct authd_backend {
	int (*user_get)(void *arg, const char *address,
	    struct userdb_user *out);
	int (*resolve)(void *arg, const char *address, char delim,
	    struct userdb_resolution *out);
	void *arg;
	/* apop_get: the user's APOP secret (userdb_apop_get); NULL: none
	 * has one.  Runs on the loop. */
	int (*apop_get)(void *arg, const char *address, char *out,
	    size_t outsz, size_t *n_out);
};

struct authd_server;

/* authd_server_new: dummy_hash is checked for unknown users (copied).
 * SASL requests need saslw_init (authd/sasl.h) to have succeeded; without
 * it they get TEMPFAIL. */
struct authd_server *authd_server_new(struct ev_loop *loop,
    const struct authd_params *p, const struct authd_backend *be,
    struct verifier *v, const char *dummy_hash);
void authd_server_free(struct authd_server **srv);

/* authd_server_set_params: takes effect for requests that arrive later. */
void authd_server_set_params(struct authd_server *srv,
    const struct authd_params *p);

/* authd_server_listen: accept on fd (a listening unix socket, owned from
 * now on); peers: the uids who may connect (copied). */
void authd_server_listen(struct authd_server *srv, int fd,
    const struct peer_set *peers);

/* authd_server_add_client: serve an already connected fd (owned). */
void authd_server_add_client(struct authd_server *srv, int fd);

/* authd_server_shutdown: stop accepting; idle(arg) runs once no request
 * is in flight (maybe at once). */
void authd_server_shutdown(struct authd_server *srv, void (*idle)(void *),
    void *arg);

#endif
