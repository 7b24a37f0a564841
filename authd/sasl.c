/* saslw: Cyrus SASL server exchanges (PLAIN, LOGIN) whose passwords are checked against the user database. */
/* SPDX-License-Identifier: ISC */
#include "authd/sasl.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <sodium.h>

#include "common/addr.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/xmem.h"

#define SASLW_CHAL_MAX 1024	/* PLAIN and LOGIN send a few bytes */
/* Cyrus stores every callback as int (*)(void); via void (*)(void),
 * which GCC lets any function type pass through without a warning. */
#define SASLW_CB(f) ((int (*)(void))(void (*)(void))(f))

enum saslw_pw {
	SASLW_PW_NONE = 0,	/* no password checked yet */
	SASLW_PW_OK,
	SASLW_PW_BAD,
	SASLW_PW_DISABLED,	/* right password, disabled account */
	SASLW_PW_DBERR,		/* the user database failed */
};

struct saslw {
	sasl_conn_t *conn;
	sasl_callback_t cb[4];		/* Cyrus keeps a pointer: lives here */
	struct saslw_backend be;
	char dummy[USERDB_HASH_MAX];
	char mech[SASLW_MECH_MAX + 1];
	char account[USERDB_ADDR_MAX];
	char identity[USERDB_ADDR_MAX];
	enum saslw_pw pw;
	enum saslw_fail fail;
	int checked;			/* a password was checked in this call */
	int bogus;			/* a name we cannot take: always fail */
	int authz_refused;
	int started, done;
	uint8_t chal[SASLW_CHAL_MAX];
	size_t chal_len;
};

/*
 * XXX: process-wide state, because Cyrus SASL's own is: sasl_server_init
 * takes one set of global callbacks for the process.  Written once by
 * saslw_init before any exchange exists, read-only afterwards.
 */
static int saslw_ready;
static char saslw_plugin_dir[PATH_MAX];

/* ---- Cyrus's mutexes: pthreads ---- */

/*
 * SECURITY (threads): Cyrus SASL is safe for concurrent use when each
 * sasl_conn_t is used by one thread at a time and sasl_server_init/
 * sasl_server_done run alone, provided that it is given real mutexes:
 * its defaults are no-ops, and it locks around shared state such as the
 * list it frees connections from.  We rely on exactly that: an exchange's
 * start/step calls are serialised by the caller (authd runs one verifier
 * job per exchange at a time, and the verifier's mutex orders the
 * hand-over between threads); global state (mechanism list, callbacks,
 * the options below) is fixed after init; plugins are all loaded at init
 * (no "plugin_list", so none is loaded lazily from a worker).
 */
static void *
saslw_mutex_alloc(void)
{
	pthread_mutex_t *m = xmalloc(sizeof(*m));

	pthread_mutex_init(m, NULL);
	return m;
}

static int
saslw_mutex_lock(void *m)
{
	return pthread_mutex_lock(m) == 0 ? 0 : -1;
}

static int
saslw_mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) == 0 ? 0 : -1;
}

static void
saslw_mutex_free(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
}

/* ---- global callbacks ---- */

/*
 * Options Cyrus asks for.  Thread-safe: constants only.
 *   mech_list: exactly what we offer, in order.
 *   pwcheck_method: Cyrus falls back to it whenever our checkpass
 *     callback says no.  SECURITY: a name no Cyrus verifier has, so that
 *     the fallback never reaches auxprop (sasldb) or saslauthd; it ends
 *     in SASL_NOMECH ("unknown password verifier", logged at debug).
 *   auxprop_plugin: our own in-process null plugin (below) and nothing
 *     else, so that the auxprop lookup Cyrus does after canonicalising a
 *     user never reaches sasldb or LDAP (whose plugins are not even
 *     loaded: see saslw_verifyfile_cb).
 *   auto_transition: never write passwords anywhere.
 *   log_level: SECURITY: warnings at most; level 7 would log passwords.
 */
static int
saslw_getopt_cb(void *ctx, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	static const struct { const char *k, *v; } opts[] = {
		{ "mech_list", SASLW_MECHS },
		{ "pwcheck_method", "letterbox-authd" },
		{ "auxprop_plugin", "letterbox-null" },
		{ "auto_transition", "no" },
		{ "log_level", "3" },
	};
	size_t i;

	if (plugin != NULL || option == NULL)
		return SASL_FAIL;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(option, opts[i].k) == 0) {
			*result = opts[i].v;
			if (len != NULL)
				*len = (unsigned)strlen(opts[i].v);
			return SASL_OK;
		}
	return SASL_FAIL;
}

/* Cyrus's messages go to our log at debug level, escaped; they hold user
 * names at most (log_level above keeps passwords out). */
static int
saslw_log_cb(void *ctx, int level, const char *message)
{
	char esc[512];

	if (message != NULL && level <= SASL_LOG_WARN)
		log_debug("event=sasl-lib level=%d msg=\"%s\"", level,
		    log_escape(span_cstr(message), esc, sizeof(esc)));
	return SASL_OK;
}

static int
saslw_getpath_cb(void *ctx, const char **path)
{
	*path = saslw_plugin_dir;
	return SASL_OK;
}

/*
 * SECURITY: Cyrus asks before it reads any file.  Plugins: only PLAIN's
 * and LOGIN's, from libsasl2's own plugin directory (so sasldb's auxprop
 * plugin, and anything SASL_PATH points at, is never loaded).  Config
 * files (letterbox.conf in Cyrus's search path) and password files: none;
 * our configuration is the getopt callback alone.
 */
static int
saslw_verifyfile_cb(void *ctx, const char *file, sasl_verify_type_t type)
{
	size_t n = strlen(saslw_plugin_dir);
	const char *base;

	if (type != SASL_VRFY_PLUGIN || file == NULL)
		return SASL_CONTINUE;
	if (strncmp(file, saslw_plugin_dir, n) != 0 || file[n] != '/')
		return SASL_CONTINUE;
	base = file + n + 1;
	if (strcmp(base, "libplain.so") == 0 || strcmp(base, "liblogin.so") == 0)
		return SASL_OK;
	return SASL_CONTINUE;
}

static const sasl_callback_t saslw_global_cb[] = {
	{ SASL_CB_GETOPT, SASLW_CB(saslw_getopt_cb), NULL },
	{ SASL_CB_LOG, SASLW_CB(saslw_log_cb), NULL },
	{ SASL_CB_GETPATH, SASLW_CB(saslw_getpath_cb), NULL },
	{ SASL_CB_VERIFYFILE, SASLW_CB(saslw_verifyfile_cb), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/*
 * The null auxprop plugin: Cyrus looks up "auxiliary properties" of every
 * canonicalised user, and without any auxprop plugin it refuses an
 * authorisation id (SASL_NOMECH).  Ours finds nothing, successfully; the
 * user database is consulted by saslw_checkpass_cb alone.
 */
static int
saslw_auxprop_lookup(void *glob, sasl_server_params_t *sparams,
    unsigned flags, const char *user, unsigned ulen)
{
	return SASL_OK;
}

static sasl_auxprop_plug_t saslw_auxprop_plug = {
	0, 0, NULL, NULL, saslw_auxprop_lookup, "letterbox-null", NULL,
};

static int
saslw_auxprop_init(const sasl_utils_t *utils, int max_version,
    int *out_version, sasl_auxprop_plug_t **plug, const char *name)
{
	if (max_version < SASL_AUXPROP_PLUG_VERSION)
		return SASL_BADVERS;
	*out_version = SASL_AUXPROP_PLUG_VERSION;
	*plug = &saslw_auxprop_plug;
	return SASL_OK;
}

/* The directory Cyrus's plugins live in: "sasl2" beside libsasl2 itself
 * (Debian: /usr/lib/<multiarch>/sasl2), found without the environment. */
static int
saslw_find_plugin_dir(const char **why_out)
{
	char real[PATH_MAX], *slash;
	Dl_info info;

	if (dladdr((void *)sasl_server_init, &info) == 0 ||
	    info.dli_fname == NULL || realpath(info.dli_fname, real) == NULL) {
		*why_out = "cannot locate libsasl2";
		return -1;
	}
	if ((slash = strrchr(real, '/')) == NULL) {
		*why_out = "cannot locate libsasl2";
		return -1;
	}
	*slash = '\0';
	if ((size_t)snprintf(saslw_plugin_dir, sizeof(saslw_plugin_dir),
	    "%s/sasl2", real) >= sizeof(saslw_plugin_dir)) {
		*why_out = "libsasl2 path too long";
		return -1;
	}
	return 0;
}

/* After init: does Cyrus offer exactly what we mean to? */
static int
saslw_check_mechs(const char **why_out)
{
	sasl_conn_t *c = NULL;
	const char *list = NULL;
	unsigned len = 0;
	int count = 0, rc;

	if (sasl_server_new("letterbox", "localhost", NULL, NULL, NULL, NULL,
	    0, &c) != SASL_OK) {
		*why_out = "sasl_server_new failed";
		return -1;
	}
	rc = sasl_listmech(c, NULL, "", " ", "", &list, &len, &count);
	if (rc != SASL_OK || list == NULL || strcmp(list, SASLW_MECHS) != 0) {
		log_err("event=sasl-mechs want=\"%s\" got=\"%s\"", SASLW_MECHS,
		    rc == SASL_OK && list != NULL ? list : "");
		*why_out = "Cyrus SASL does not offer PLAIN and LOGIN "
		    "(is libsasl2-modules installed?)";
		sasl_dispose(&c);
		return -1;
	}
	sasl_dispose(&c);
	return 0;
}

int
saslw_init(const char **why_out)
{
	const char *why = NULL;
	int rc;

	if (why_out == NULL)
		why_out = &why;
	if (saslw_ready)
		return 0;
	if (saslw_find_plugin_dir(why_out) < 0)
		return -1;
	sasl_set_mutex(saslw_mutex_alloc, saslw_mutex_lock,
	    saslw_mutex_unlock, saslw_mutex_free);
	if ((rc = sasl_server_init(saslw_global_cb, "letterbox")) != SASL_OK) {
		log_err("event=sasl-init-failed rc=%d detail=\"%s\"", rc,
		    sasl_errstring(rc, NULL, NULL));
		*why_out = "sasl_server_init failed";
		return -1;
	}
	saslw_ready = 1;
	if (sasl_auxprop_add_plugin("letterbox-null", saslw_auxprop_init) !=
	    SASL_OK) {
		*why_out = "cannot register the null auxprop plugin";
		saslw_fini();
		return -1;
	}
	if (saslw_check_mechs(why_out) < 0) {
		saslw_fini();
		return -1;
	}
	log_debug("event=sasl-ready mechs=\"%s\" plugins=%s", SASLW_MECHS,
	    saslw_plugin_dir);
	return 0;
}

void
saslw_fini(void)
{
	if (!saslw_ready)
		return;
	sasl_server_done();
	saslw_ready = 0;
}

/* ---- per-exchange callbacks (run on the thread of start/step) ---- */

/*
 * The canonical form of a user name is the stored one (addr_normalize:
 * "Alice@Example.Test" -> "alice@example.test").  A name that is no valid
 * address is passed on unchanged: the lookup will not find it and it
 * costs a dummy verification like any unknown user.  One too long for
 * the user database is cut and marked bogus: its check always fails.
 */
static int
saslw_canon_cb(sasl_conn_t *conn, void *ctx, const char *in, unsigned inlen,
    unsigned flags, const char *realm, char *out, unsigned out_max,
    unsigned *out_len)
{
	struct saslw *s = ctx;
	char raw[USERDB_ADDR_MAX], norm[USERDB_ADDR_MAX];
	const char *res = norm;
	size_t n = inlen;

	if (n >= sizeof(raw) || memchr(in, '\0', n) != NULL) {
		s->bogus = 1;
		n = strnlen(in, n < sizeof(raw) ? n : sizeof(raw) - 1);
	}
	memcpy(raw, in, n);
	raw[n] = '\0';
	if (addr_normalize(raw, norm, sizeof(norm)) < 0)
		res = raw;
	n = strlen(res);
	if (n >= out_max)
		return SASL_BUFOVER;
	memcpy(out, res, n);
	out[n] = '\0';
	*out_len = (unsigned)n;
	return SASL_OK;
}

static int
saslw_check(const struct saslw *s, const char *hash, const char *pw,
    size_t pwlen)
{
	if (s->be.check != NULL)
		return s->be.check(hash, (const unsigned char *)pw, pwlen) == 1;
	return secret_verify_password(hash, pw, pwlen) == 1;
}

/*
 * The only place a password is judged.  user is the canonical authcid.
 * SECURITY: unknown users cost one verification too, against the dummy
 * hash, so that timing does not tell which users exist; a disabled
 * account is checked against its own hash so that only someone with its
 * password learns that it is disabled.  Any answer but SASL_OK makes
 * Cyrus try pwcheck_method, which we made a dead end.
 */
static int
saslw_checkpass_cb(sasl_conn_t *conn, void *ctx, const char *user,
    const char *pass, unsigned passlen, struct propctx *propctx)
{
	struct saslw *s = ctx;
	struct userdb_user u;
	const char *hash = s->dummy;
	int rc = 0, ok;

	s->checked = 1;
	if (strlen(user) >= sizeof(s->account))
		s->bogus = 1;
	snprintf(s->account, sizeof(s->account), "%s", user);
	if (passlen > SASLW_PASSWORD_MAX) {
		s->bogus = 1;
		passlen = SASLW_PASSWORD_MAX;
	}
	memset(&u, 0, sizeof(u));
	if (!s->bogus)
		rc = s->be.user_get(s->be.arg, s->account, &u);
	if (rc < 0) {
		s->pw = SASLW_PW_DBERR;
		return SASL_UNAVAIL;
	}
	if (rc == 1 && u.hash[0] != '\0')
		hash = u.hash;
	ok = saslw_check(s, hash, pass, passlen) && rc == 1 && !s->bogus;
	sodium_memzero(u.hash, sizeof(u.hash));
	if (!ok) {
		s->pw = SASLW_PW_BAD;
		return SASL_BADAUTH;
	}
	if (u.flags & USERDB_USER_DISABLED) {
		s->pw = SASLW_PW_DISABLED;
		return SASL_DISABLED;
	}
	s->pw = SASLW_PW_OK;
	snprintf(s->identity, sizeof(s->identity), "%s", u.address);
	return SASL_OK;
}

/* SECURITY: nobody may act as somebody else: an authorisation id, if
 * given, must be the authentication id (both canonical by now). */
static int
saslw_authorize_cb(sasl_conn_t *conn, void *ctx, const char *req,
    unsigned rlen, const char *auth, unsigned alen, const char *realm,
    unsigned urlen, struct propctx *propctx)
{
	struct saslw *s = ctx;

	if (s->bogus || rlen != alen || memcmp(req, auth, alen) != 0) {
		s->authz_refused = 1;
		return SASL_NOAUTHZ;
	}
	return SASL_OK;
}

/* ---- exchanges ---- */

struct saslw *
saslw_new(const struct saslw_backend *be, const char *service,
    const char *fqdn)
{
	sasl_security_properties_t props;
	struct saslw *s;
	int rc;

	if (!saslw_ready)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->be = *be;
	snprintf(s->dummy, sizeof(s->dummy), "%s",
	    be->dummy_hash ? be->dummy_hash : "");
	s->cb[0] = (sasl_callback_t){ SASL_CB_CANON_USER,
	    SASLW_CB(saslw_canon_cb), s };
	s->cb[1] = (sasl_callback_t){ SASL_CB_SERVER_USERDB_CHECKPASS,
	    SASLW_CB(saslw_checkpass_cb), s };
	s->cb[2] = (sasl_callback_t){ SASL_CB_PROXY_POLICY,
	    SASLW_CB(saslw_authorize_cb), s };
	s->cb[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	/* A NULL fqdn would make Cyrus resolve our host name (DNS): never. */
	rc = sasl_server_new(service, fqdn ? fqdn : "localhost", NULL, NULL,
	    NULL, s->cb, 0, &s->conn);
	if (rc != SASL_OK) {
		log_warn("event=sasl-new-failed rc=%d", rc);
		free(s);
		return NULL;
	}
	/* No security layer (TLS is the protocol daemon's), no anonymous
	 * login; plaintext mechanisms are fine over the daemons' TLS. */
	memset(&props, 0, sizeof(props));
	props.security_flags = SASL_SEC_NOANONYMOUS;
	if (sasl_setprop(s->conn, SASL_SEC_PROPS, &props) != SASL_OK) {
		sasl_dispose(&s->conn);
		free(s);
		return NULL;
	}
	return s;
}

void
saslw_free(struct saslw **sp)
{
	struct saslw *s = *sp;

	if (s == NULL)
		return;
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	sodium_memzero(s, sizeof(*s));
	free(s);
	*sp = NULL;
}

/* Map Cyrus's answer and what our callbacks saw to ours. */
static enum saslw_rc
saslw_result(struct saslw *s, int r, const char *out, unsigned outlen,
    struct span *chal_out)
{
	*chal_out = span_make(s->chal, 0);
	if (r == SASL_CONTINUE) {
		if (outlen > sizeof(s->chal)) {
			s->done = 1;
			s->fail = SASLW_FAIL_PROTOCOL;
			return SASLW_FAIL;
		}
		if (outlen > 0)
			memcpy(s->chal, out, outlen);
		s->chal_len = outlen;
		*chal_out = span_make(s->chal, s->chal_len);
		return SASLW_CONTINUE;
	}
	s->done = 1;
	if (r == SASL_OK) {
		/* SECURITY: only our own password check can say yes, never
		 * a Cyrus code path that did not come through it. */
		if (s->pw == SASLW_PW_OK && !s->authz_refused)
			return SASLW_OK;
		s->fail = SASLW_FAIL_CREDENTIALS;
		return SASLW_FAIL;
	}
	if (s->pw == SASLW_PW_DBERR || r == SASL_NOMEM || r == SASL_TRYAGAIN)
		return SASLW_TEMPFAIL;
	if (s->authz_refused)
		s->fail = SASLW_FAIL_AUTHZ;
	else if (s->pw == SASLW_PW_DISABLED)
		s->fail = SASLW_FAIL_DISABLED;
	else if (s->pw != SASLW_PW_NONE)
		s->fail = SASLW_FAIL_CREDENTIALS;
	else if (r == SASL_NOMECH || r == SASL_TOOWEAK || r == SASL_ENCRYPT)
		s->fail = SASLW_FAIL_MECH;
	else
		s->fail = SASLW_FAIL_PROTOCOL;
	return SASLW_FAIL;
}

static int
saslw_mech_ok(const char *mech)
{
	/* SECURITY: Cyrus's mech_list already limits us to these; asking
	 * again costs nothing and survives a broken configuration. */
	return strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0;
}

enum saslw_rc
saslw_start(struct saslw *s, const char *mech, const struct span *initial,
    struct span *chal_out)
{
	const char *out = NULL;
	unsigned outlen = 0;
	size_t i;
	int r;

	*chal_out = span_make(s->chal, 0);
	s->checked = 0;
	if (s->started || s->done) {
		s->done = 1;
		s->fail = SASLW_FAIL_PROTOCOL;
		return SASLW_FAIL;
	}
	s->started = 1;
	if (!saslw_mech_ok(mech)) {
		s->done = 1;
		s->fail = SASLW_FAIL_MECH;
		return SASLW_FAIL;
	}
	for (i = 0; mech[i] != '\0' && i < SASLW_MECH_MAX; i++)
		s->mech[i] = (char)(mech[i] >= 'a' && mech[i] <= 'z' ?
		    mech[i] - 32 : mech[i]);
	s->mech[i] = '\0';
	if (initial != NULL && initial->n > UINT_MAX / 2) {
		s->done = 1;
		s->fail = SASLW_FAIL_PROTOCOL;
		return SASLW_FAIL;
	}
	r = sasl_server_start(s->conn, s->mech,
	    initial ? (initial->n ? (const char *)initial->p : "") : NULL,
	    initial ? (unsigned)initial->n : 0, &out, &outlen);
	return saslw_result(s, r, out, outlen, chal_out);
}

enum saslw_rc
saslw_step(struct saslw *s, struct span in, struct span *chal_out)
{
	const char *out = NULL;
	unsigned outlen = 0;
	int r;

	*chal_out = span_make(s->chal, 0);
	s->checked = 0;
	if (!s->started || s->done || in.n > UINT_MAX / 2) {
		s->done = 1;
		s->fail = SASLW_FAIL_PROTOCOL;
		return SASLW_FAIL;
	}
	r = sasl_server_step(s->conn, in.n ? (const char *)in.p : "",
	    (unsigned)in.n, &out, &outlen);
	return saslw_result(s, r, out, outlen, chal_out);
}

const char *
saslw_account(const struct saslw *s)
{
	return s->account;
}

int
saslw_checked(const struct saslw *s)
{
	return s->checked;
}

const char *
saslw_identity(const struct saslw *s)
{
	return s->done && s->pw == SASLW_PW_OK && !s->authz_refused ?
	    s->identity : "";
}

enum saslw_fail
saslw_fail_reason(const struct saslw *s)
{
	return s->fail;
}

const char *
saslw_fail_name(enum saslw_fail f)
{
	switch (f) {
	case SASLW_FAIL_CREDENTIALS:
		return "credentials";
	case SASLW_FAIL_DISABLED:
		return "disabled";
	case SASLW_FAIL_AUTHZ:
		return "authz";
	case SASLW_FAIL_MECH:
		return "mechanism";
	case SASLW_FAIL_PROTOCOL:
		return "malformed";
	case SASLW_FAIL_NONE:
		break;
	}
	return "none";
}

const char *
saslw_mech(const struct saslw *s)
{
	return s->mech;
}
