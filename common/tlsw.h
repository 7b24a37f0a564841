/* OpenSSL 3 wrapper: server contexts from the config, reload, self-signed certs. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_TLSW_H
#define LB_TLSW_H

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
