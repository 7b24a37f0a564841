/* The DKIM key files under STATE_DIR/dkim/DOMAIN/: reading keys and listing selectors, for the CLI and queued. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_DKIM_STORE_H
#define LB_DKIM_STORE_H

#include <stddef.h>
#include <time.h>

#include "common/dkim.h"

/*
 * A selector S of a domain is the pair of files S.ed25519.key and
 * S.rsa.key (PKCS#8 PEM, mode 0600) in STATE_DIR/dkim/DOMAIN/; either may
 * be missing.  docs/relay.md has the layout.
 */
#define DKIM_STORE_KEY_MAX (64 * 1024)	/* a PEM key file, at most */
#define DKIM_STORE_NKINDS 2

struct dkim_store_kind {
	const char *file;	/* ".ed25519.key" */
	const char *dns;	/* "-ed": SELECTOR-ed._domainkey.DOMAIN */
	enum dkim_alg alg;
};
extern const struct dkim_store_kind dkim_store_kinds[DKIM_STORE_NKINDS];

/*
 * dkim_store_load: the key in the file at path.  SECURITY: like tls.key,
 * a file that group or others can read is refused: it may have leaked.
 * 0, or -1 with why (errno is ENOENT when the file does not exist).
 */
int dkim_store_load(const char *path, struct dkim_key **key_out, char *why,
    size_t whysz) __attribute__((warn_unused_result));

/*
 * dkim_store_selectors: the selectors with a key file in dir, sorted,
 * each once; a missing dir has none.  The count (free *sel_out with
 * dkim_store_selectors_free), or -1 with why.  *newest_out (if not NULL)
 * gets the index of the selector whose newest file has the latest
 * modification time (ties: the greater name), or -1 when there is none.
 */
int dkim_store_selectors(const char *dir, char ***sel_out, int *newest_out,
    char *why, size_t whysz);
void dkim_store_selectors_free(char **sel, int n);

#endif
