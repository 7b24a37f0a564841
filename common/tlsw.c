/* OpenSSL 3 server contexts built from the config, swapped on reload. */
/* SPDX-License-Identifier: ISC */
#include "common/tlsw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/xmem.h"

/* TLS 1.2: forward secrecy and AEAD only. */
#define TLSW_CIPHERS_12 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

struct tlsw {
	SSL_CTX *ctx;
};

/* why strings that carry OpenSSL's reason; one per thread. */
static __thread char tlsw_why_buf[512];

static const char *
tlsw_why(const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	snprintf(tlsw_why_buf, sizeof(tlsw_why_buf), "%s%s%s%s%s", what,
	    path ? " " : "", path ? path : "", ebuf[0] ? ": " : "", ebuf);
	return tlsw_why_buf;
}

static SSL_CTX *
tlsw_ctx_build(const struct cfg *cfg, const char **why)
{
	SSL_CTX *ctx;
	int minv;

	if (cfg->tls.cert == NULL || cfg->tls.key == NULL) {
		*why = "tls: cert and key must both be set";
		return NULL;
	}
	if (cfg->tls.min_version != 12 && cfg->tls.min_version != 13) {
		*why = "tls: min_version must be 12 or 13";
		return NULL;
	}
	minv = cfg->tls.min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*why = tlsw_why("tls: cannot make a context", NULL);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (!SSL_CTX_set_min_proto_version(ctx, minv)) {
		*why = tlsw_why("tls: cannot set min_version", NULL);
		goto fail;
	}
	if (!SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers ?
	    cfg->tls.ciphers : TLSW_CIPHERS_12)) {
		*why = tlsw_why("tls: bad ciphers", NULL);
		goto fail;
	}
	if (cfg->tls.ciphersuites != NULL &&
	    !SSL_CTX_set_ciphersuites(ctx, cfg->tls.ciphersuites)) {
		*why = tlsw_why("tls: bad ciphersuites", NULL);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls.cert) != 1) {
		*why = tlsw_why("tls: cannot load cert", cfg->tls.cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls.key,
	    SSL_FILETYPE_PEM) != 1) {
		*why = tlsw_why("tls: cannot load key", cfg->tls.key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*why = tlsw_why("tls: key does not match cert", cfg->tls.key);
		goto fail;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"lb", 2);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tlsw *
tlsw_new(const struct cfg *cfg, const char **why)
{
	struct tlsw *t;
	SSL_CTX *ctx = tlsw_ctx_build(cfg, why);

	if (ctx == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	return t;
}

int
tlsw_reload(struct tlsw *t, const struct cfg *cfg, const char **why)
{
	SSL_CTX *ctx = tlsw_ctx_build(cfg, why);

	if (ctx == NULL)
		return -1;
	/* connections hold their own references to the old one */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

SSL_CTX *
tlsw_ctx(const struct tlsw *t)
{
	return t->ctx;
}

void
tlsw_free(struct tlsw **tp)
{
	if (*tp == NULL)
		return;
	SSL_CTX_free((*tp)->ctx);
	xfree(tp);
}

/* Hostnames go into a DNS SAN: letters, digits, '-', '.', nothing else. */
static int
tlsw_hostname_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = h[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

static int
tlsw_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* subjectAltName built as a GENERAL_NAME: no config-string parsing. */
static int
tlsw_add_san(X509 *x, const char *hostname)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	int ok = 0;

	if (names == NULL || gn == NULL || ia5 == NULL ||
	    !ASN1_STRING_set(ia5, hostname, (int)strlen(hostname)))
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
	    X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ok;
}

static X509 *
tlsw_make_cert(EVP_PKEY *key, const char *hostname, unsigned days)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn = BN_new();
	int ok = 0;

	if (x == NULL || bn == NULL)
		goto out;
	/* 127 random bits: positive, unique enough for a self-signed cert */
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0,
	    NULL) == NULL || !X509_set_pubkey(x, key))
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)hostname, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto out;
	if (!tlsw_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !tlsw_add_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    !tlsw_add_ext(x, NID_ext_key_usage, "serverAuth") ||
	    !tlsw_add_ext(x, NID_subject_key_identifier, "hash") ||
	    !tlsw_add_san(x, hostname))
		goto out;
	ok = X509_sign(x, key, EVP_sha256()) > 0;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Open path for writing with mode, exclusively if excl, as a FILE. */
static FILE *
tlsw_open(const char *path, mode_t mode, int excl)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    (excl ? O_EXCL : O_TRUNC), mode);
	FILE *f;

	if (fd == -1)
		return NULL;
	/* umask may have taken bits from 0644; the mode is part of the
	 * contract */
	if (fchmod(fd, mode) == -1 || (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return NULL;
	}
	return f;
}

static int
tlsw_close_file(FILE *f, int ok)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int
tlsw_selfsigned_write(const char *cert_path, const char *key_path,
    const char *hostname, unsigned days, const char **why)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f;
	int rc = -1;

	if (!tlsw_hostname_ok(hostname)) {
		*why = "tls: hostname is not a DNS name";
		return -1;
	}
	if (days == 0 || days > 36500) {
		*why = "tls: days out of range";
		return -1;
	}
	ERR_clear_error();
	if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (x = tlsw_make_cert(key, hostname, days)) == NULL) {
		*why = tlsw_why("tls: cannot make key and certificate", NULL);
		goto out;
	}
	/* SECURITY: the key file is new and private from its first byte. */
	if ((f = tlsw_open(key_path, 0600, 1)) == NULL) {
		*why = errno == EEXIST ? "tls: key file already exists" :
		    "tls: cannot create key file";
		goto out;
	}
	if (tlsw_close_file(f, PEM_write_PrivateKey(f, key, NULL, NULL, 0,
	    NULL, NULL) == 1) == -1) {
		*why = "tls: cannot write key file";
		unlink(key_path);
		goto out;
	}
	if ((f = tlsw_open(cert_path, 0644, 0)) == NULL ||
	    tlsw_close_file(f, PEM_write_X509(f, x) == 1) == -1) {
		*why = "tls: cannot write cert file";
		unlink(key_path);
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
