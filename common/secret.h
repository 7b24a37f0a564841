/* libsodium helpers: Argon2id password hashes, random ids and passwords, wiped buffers. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_SECRET_H
#define LB_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "common/userdb.h"

#define SECRET_PW_MAX 1024	/* longest password we read, in bytes */

/* secret_init: sodium_init(); fatal() if it fails.  Call once at start,
 * before any other secret_* function (safe to call again). */
void secret_init(void);

/*
 * secret_hash_password: Argon2id hash of pw (pwlen bytes, may hold NUL)
 * as a crypto_pwhash_str string into out.  opslimit and memlimit (bytes)
 * come from the config (authd.hash_opslimit, authd.hash_memlimit) and
 * must lie within libsodium's Argon2id bounds.  0, or -1 with *why_out
 * (limits out of range, or out of memory).
 */
int secret_hash_password(const char *pw, size_t pwlen,
    unsigned long long opslimit, uint64_t memlimit,
    char out[USERDB_HASH_MAX], const char **why_out)
    __attribute__((warn_unused_result));

/*
 * secret_verify_password: 1 if pw matches hash, 0 if it does not, -1 if
 * hash is not a valid crypto_pwhash string (or not NUL-terminated within
 * USERDB_HASH_MAX bytes).  Takes as long as one hash.
 */
int secret_verify_password(const char *hash, const char *pw, size_t pwlen)
    __attribute__((warn_unused_result));

/* secret_needs_rehash: 1 if hash was made with other limits or another
 * algorithm than these (rehash at next successful login), 0 if not, -1 if
 * hash is malformed. */
int secret_needs_rehash(const char *hash, unsigned long long opslimit,
    uint64_t memlimit);

/*
 * secret_random_password: n - 1 random characters from an alphabet
 * without lookalikes (no 0/O/o, 1/l/I) plus NUL into out (n >= 2).
 * 16 characters give about 90 bits.
 */
void secret_random_password(char *out, size_t n);

/* secret_random_id: 64 random bits, never 0. */
void secret_random_id(uint64_t *id_out);

/*
 * A password in sodium_malloc memory (guarded, locked, wiped on free).
 * p is NUL-terminated; len excludes the NUL.
 */
struct secret_str {
	char *p;
	size_t len;
};

void secret_str_init(struct secret_str *s);
/* secret_str_fini: sodium_memzero and sodium_free; s is empty again. */
void secret_str_fini(struct secret_str *s);

/* secret_str_random: replace s with a fresh secret_random_password of len
 * characters (len <= SECRET_PW_MAX). */
void secret_str_random(struct secret_str *s, size_t len);

/*
 * secret_str_read_fd: one line from fd, read byte by byte so that no
 * copy stays in a stdio buffer; the line ends at LF or end of file, and a
 * trailing CR LF or LF is removed.  More than SECRET_PW_MAX bytes, a NUL
 * byte or a read error: -1 with *why_out.  End of file before any byte
 * gives an empty string (the caller decides whether that is allowed).
 */
int secret_str_read_fd(struct secret_str *s, int fd, const char **why_out)
    __attribute__((warn_unused_result));

/*
 * secret_str_read_tty: write prompt to /dev/tty, turn echo off, read one
 * line as secret_str_read_fd, restore the terminal.  -1 with *why_out if
 * there is no terminal.
 */
int secret_str_read_tty(struct secret_str *s, const char *prompt,
    const char **why_out) __attribute__((warn_unused_result));

#endif
