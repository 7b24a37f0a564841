/* OpenSSL 3 wrapper: server contexts from the config, reload, self-signed certs. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_TLSW_H
#define LB_TLSW_H

#include <openssl/ssl.h>

#include "common/cfg.h"

/*
 * The current server SSL_CTX of a process.  Each connection takes its own
 * reference (SSL_new does), so a reload never disturbs connections made
 * before it: they keep the context they started with until they end.
 */
struct tlsw;

/*
 * tlsw_new: build a server context from cfg->tls: certificate chain
 * (cert), private key (key), minimum version 1.2 or 1.3 (min_version 12 or
 * 13), server cipher preference, our ECDHE AES-GCM/CHACHA20 list for 1.2
 * unless tls.ciphers is set, tls.ciphersuites for 1.3 if set, no
 * compression, no renegotiation.  NULL with *why on failure (why stays
 * valid until the next tlsw call in this thread).
 */
struct tlsw *tlsw_new(const struct cfg *cfg, const char **why)
    __attribute__((warn_unused_result));

/*
 * tlsw_reload: build a new context from cfg and swap it in only if it
 * loads completely; on failure the old one stays current and -1 is
 * returned with *why.  For SIGHUP.
 */
int tlsw_reload(struct tlsw *t, const struct cfg *cfg, const char **why)
    __attribute__((warn_unused_result));

/* tlsw_ctx: the current context, for new connections (borrowed). */
SSL_CTX *tlsw_ctx(const struct tlsw *t);

/* tlsw_free: drop our reference to the context and free t; sets *tp NULL. */
void tlsw_free(struct tlsw **tp);

/*
 * tlsw_selfsigned_write: make a new key and a self-signed certificate for
 * hostname (subjectAltName DNS:hostname, valid `days` days), write them as
 * PEM to cert_path (mode 0644) and key_path (mode 0600, created
 * exclusively).  0 on success, -1 with *why.
 */
int tlsw_selfsigned_write(const char *cert_path, const char *key_path,
    const char *hostname, unsigned days, const char **why)
    __attribute__((warn_unused_result));

#endif
