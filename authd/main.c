/* letterbox-authd: answers password checks and address lookups from the user database. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <ev.h>
#include <sodium.h>

#include "authd/sasl.h"
#include "authd/server.h"
#include "authd/verifier.h"
#include "common/cfg.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/peer.h"
#include "common/userdb.h"
#include "common/xmem.h"

/* Checks waiting for a worker, per worker, before TEMPFAIL. */
#define AUTHD_QUEUE_PER_WORKER 32

struct authd {
	struct daemon_ctx ctx;
	struct userdb *db;
	struct authd_server *srv;
	struct ev_loop *loop;
};

static int
authd_user_get(void *arg, const char *address, struct userdb_user *out)
{
	struct authd *a = arg;

	return userdb_user_get(a->db, address, out);
}

static int
authd_apop_get(void *arg, const char *address, char *out, size_t outsz,
    size_t *n_out)
{
	struct authd *a = arg;

	return userdb_apop_get(a->db, address, out, outsz, n_out);
}

static int
authd_resolve(void *arg, const char *address, char delim,
    struct userdb_resolution *out)
{
	struct authd *a = arg;
	const char *why = NULL;

	if (userdb_resolve(a->db, address, delim, out, &why) < 0) {
		log_warn("event=resolve-failed reason=\"%s\"",
		    why ? why : "unknown");
		return -1;
	}
	return 0;
}

static void
authd_params_from(const struct cfg *cfg, struct authd_params *p)
{
	p->throttle.base_ms = cfg->authd.throttle_base_ms;
	p->throttle.max_ms = cfg->authd.throttle_max_ms;
	p->throttle.window_ms = (uint64_t)cfg->authd.throttle_window_s * 1000;
	p->delim = cfg->recipient_delimiter;
}

static void
authd_open_db(struct authd *a)
{
	char *path = cfg_state_path(a->ctx.cfg, "db/users.lmdb");
	const char *why = NULL;
	struct stat st;
	int flags = USERDB_RDONLY;

	/* A fresh instance has no database yet: make an empty one so that
	 * authd answers "unknown" instead of failing to start. */
	if (stat(path, &st) < 0 && errno == ENOENT)
		flags = USERDB_CREATE;
	if (userdb_open(path, flags, &a->db, &why) < 0)
		fatal("authd: cannot open user database %s: %s", path,
		    why ? why : "unknown error");
	free(path);
}

/* A hash of random bytes nobody knows, with the configured cost, so that
 * checking it takes as long as checking a real one. */
static char *
authd_dummy_hash(const struct cfg *cfg)
{
	char *hash = xmalloc(crypto_pwhash_STRBYTES);
	unsigned char pw[32];

	randombytes_buf(pw, sizeof(pw));
	if (crypto_pwhash_str(hash, (const char *)pw, sizeof(pw),
	    cfg->authd.hash_opslimit, (size_t)cfg->authd.hash_memlimit) != 0)
		fatal("authd: cannot make the dummy hash (memlimit %llu)",
		    (unsigned long long)cfg->authd.hash_memlimit);
	sodium_memzero(pw, sizeof(pw));
	return hash;
}

static void
authd_idle(void *arg)
{
	struct authd *a = arg;

	ev_break(a->loop, EVBREAK_ALL);
}

static void
authd_sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct authd *a = w->data;

	log_notice("event=stopping signal=%d", w->signum);
	authd_server_shutdown(a->srv, authd_idle, a);
}

static void
authd_sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct authd *a = w->data;
	struct authd_params p;

	if (daemon_reload(&a->ctx) < 0)
		return;
	authd_params_from(a->ctx.cfg, &p);
	authd_server_set_params(a->srv, &p);
	log_notice("event=reloaded throttle_base_ms=%u throttle_max_ms=%u "
	    "throttle_window_s=%u", a->ctx.cfg->authd.throttle_base_ms,
	    a->ctx.cfg->authd.throttle_max_ms,
	    a->ctx.cfg->authd.throttle_window_s);
}

int
main(int argc, char **argv)
{
	static struct authd a;
	struct authd_backend be = { authd_user_get, authd_resolve, &a,
	    authd_apop_get };
	struct authd_params p;
	struct verifier *v;
	ev_signal sig_term, sig_int, sig_hup;
	struct peer_set peers;
	const char *why = NULL;
	char *dummy;
	int fds[2];
	unsigned workers;

	daemon_init(&a.ctx, "authd", argc, argv);
	if (sodium_init() < 0)
		fatal("authd: libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	authd_open_db(&a);
	if (daemon_fds(&a.ctx, "authd", fds, 2) != 1)
		fatal("authd: expected exactly one listening socket named "
		    "\"authd\" in LB_FDS (letterboxd binds RUN_DIR/authd.sock)");
	/* before the drop: Cyrus loads its plugins now, maybe from outside
	 * a chroot */
	if (saslw_init(&why) < 0)
		fatal("authd: Cyrus SASL: %s", why);
	daemon_drop_privs(&a.ctx, &a.ctx.cfg->authd.d);

	/* after the drop, so that "our own uid" is the unprivileged one */
	if (peer_parse(getenv("LB_PEERS"), getuid(), &peers, &why) < 0)
		fatal("authd: LB_PEERS: %s", why);

	dummy = authd_dummy_hash(a.ctx.cfg);
	a.loop = EV_DEFAULT;
	workers = a.ctx.cfg->authd.d.workers ? a.ctx.cfg->authd.d.workers : 1;
	v = verifier_new(a.loop, workers, (size_t)workers *
	    AUTHD_QUEUE_PER_WORKER, verifier_argon2);
	authd_params_from(a.ctx.cfg, &p);
	a.srv = authd_server_new(a.loop, &p, &be, v, dummy);
	authd_server_listen(a.srv, fds[0], &peers);

	ev_signal_init(&sig_term, authd_sigterm_cb, SIGTERM);
	ev_signal_init(&sig_int, authd_sigterm_cb, SIGINT);
	ev_signal_init(&sig_hup, authd_sighup_cb, SIGHUP);
	sig_term.data = sig_int.data = sig_hup.data = &a;
	ev_signal_start(a.loop, &sig_term);
	ev_signal_start(a.loop, &sig_int);
	ev_signal_start(a.loop, &sig_hup);

	log_notice("event=started workers=%u peers=%zu", workers, peers.n);
	daemon_ready(&a.ctx);
	ev_run(a.loop, 0);

	authd_server_free(&a.srv);
	verifier_free(&v);
	saslw_fini();
	userdb_close(&a.db);
	free(dummy);
	log_notice("event=stopped");
	daemon_fini(&a.ctx);
	return 0;
}
