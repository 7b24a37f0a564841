/* DKIM signing (RFC 6376, RFC 8463): relaxed/relaxed canonicalization, sha256 body hash, rsa-sha256 and ed25519-sha256 signatures. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_DKIM_H
#define LB_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * A signer signs one message as pure functions over bytes, in three
 * steps, so that the queue never needs the whole message in memory:
 *
 *   dkim_split(msg-start, &hdr, &body-start)    header section, small
 *   dkim_body_init / dkim_body_feed (chunks) / dkim_body_finish -> bh
 *   dkim_sign(key, &req, hdr, bh, &out)          the DKIM-Signature field
 *
 * and the caller sends out's bytes, then the message unchanged.  Every
 * message is CRLF text as it sits in the spool; a bare CR or LF is an
 * ordinary byte.  What is signed: docs/relay.md.
 *
 * Keys live in libsodium's guarded memory: call secret_init() (or
 * sodium_init()) before any dkim_key_* function.
 */

#define DKIM_HASH_LEN 32		/* sha256 */
#define DKIM_SIG_MAX (8 * 1024)		/* the field we make, at most */
#define DKIM_HDR_MAX (1024 * 1024)	/* canonical header data, at most */
#define DKIM_NAME_MAX 253		/* d= and s= (one DNS name) */
#define DKIM_RSA_BITS 2048		/* what dkim_key_generate makes */
#define DKIM_RSA_MIN_BITS 1024		/* RFC 8301 3.2: never less */

enum dkim_alg {
	DKIM_RSA_SHA256 = 0,
	DKIM_ED25519_SHA256,
};

/* ---- canonicalization (RFC 6376 3.4.2, 3.4.4) ---- */

/*
 * dkim_split: the header section of msg (every field, each with its CRLF,
 * without the empty line that ends the section) into *hdr_out and the
 * body after that empty line into *body_out.  A message without an empty
 * line is all header and has an empty body.  Both point into msg.
 */
void dkim_split(struct span msg, struct span *hdr_out, struct span *body_out);

/*
 * dkim_header_next: the field of hdr that starts at *off: its first line
 * and every continuation line (one starting with SP or HTAB), CRLFs
 * included; a last line without CRLF ends at the end of hdr.  Moves
 * *off past it.  Returns 1, or 0 when *off is at the end.
 */
int dkim_header_next(struct span hdr, size_t *off, struct span *field_out);

/*
 * dkim_header_name: the field name of a field from dkim_header_next:
 * the bytes before the first ':' without trailing WSP (RFC 6376 3.4.2
 * deletes WSP before the colon).  0, or -1 when there is no ':', the
 * name is empty or holds a byte that is not RFC 5322 ftext (printable
 * US-ASCII): such a line is never signed.
 */
int dkim_header_name(struct span field, struct span *name_out);

/*
 * dkim_canon_header: append the relaxed canonical form (RFC 6376 3.4.2)
 * of one field to out: name lowercased, WSP around the colon deleted,
 * continuation CRLFs removed, every WSP run made one SP, trailing WSP
 * deleted, then CRLF.  -1 when the field has no name (see above) or out
 * would pass its cap.
 */
int dkim_canon_header(struct span field, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * Relaxed body canonicalization (RFC 6376 3.4.4), fed in chunks split
 * anywhere: WSP at the end of a line is dropped, WSP runs become one SP,
 * empty lines at the end are dropped, and a last line without CRLF gets
 * one.  An empty body canonicalizes to nothing.  The result is hashed
 * with sha256 and, if copy was given to dkim_body_init, appended there
 * (tests, fuzzing).  Holds no more than a fixed staging buffer.
 */
struct dkim_body {
	void *md;		/* EVP_MD_CTX */
	struct buf *copy;	/* borrowed, may be NULL */
	uint64_t empty;		/* empty lines not yet written */
	unsigned wsp : 1;	/* WSP seen since the last other byte */
	unsigned cr : 1;	/* a CR held back: CRLF or a plain byte? */
	unsigned text : 1;	/* this line has had a non-WSP byte */
	unsigned copy_full : 1;	/* copy passed its cap */
	size_t olen;
	uint8_t out[1024];
};

void dkim_body_init(struct dkim_body *b, struct buf *copy);
void dkim_body_feed(struct dkim_body *b, struct span chunk);
/* dkim_body_finish: end the body and write its sha256; b is finished
 * (dkim_body_fini is then a no-op).  -1 only if copy passed its cap. */
int dkim_body_finish(struct dkim_body *b, uint8_t hash_out[DKIM_HASH_LEN]);
/* dkim_body_fini: drop an unfinished body (safe after finish). */
void dkim_body_fini(struct dkim_body *b);

/* dkim_body_hash: the three calls on one span. */
void dkim_body_hash(struct span body, uint8_t hash_out[DKIM_HASH_LEN]);

/* ---- keys ---- */

/*
 * A private key: RSA in an OpenSSL EVP_PKEY, ed25519 as libsodium's
 * 64-byte secret key in sodium_malloc memory.  Files: PKCS#8 PEM for both
 * (OpenSSL writes and reads them; `openssl pkey -in F -noout -text`
 * shows them).
 */
struct dkim_key;

/* dkim_key_generate: a fresh key (RSA-2048 from OpenSSL, ed25519 from
 * libsodium).  0, or -1 with *why_out. */
int dkim_key_generate(enum dkim_alg alg, struct dkim_key **key_out,
    const char **why_out) __attribute__((warn_unused_result));

/* dkim_key_from_seed: the ed25519 key of a 32-byte seed (RFC 8032). */
int dkim_key_from_seed(const uint8_t seed[32], struct dkim_key **key_out,
    const char **why_out) __attribute__((warn_unused_result));

/*
 * dkim_key_load_pem: a key from PKCS#8 (or traditional RSA) PEM text.
 * RSA keys under DKIM_RSA_MIN_BITS and other key types are refused.
 * 0, or -1 with *why_out.
 */
int dkim_key_load_pem(struct span pem, struct dkim_key **key_out,
    const char **why_out) __attribute__((warn_unused_result));

/* dkim_key_pem: append the PKCS#8 PEM text of the private key to out. */
int dkim_key_pem(const struct dkim_key *key, struct buf *out,
    const char **why_out) __attribute__((warn_unused_result));

/*
 * dkim_key_dns: append the TXT record data for the public key to out,
 * unquoted: "v=DKIM1; k=ed25519; p=BASE64" (RFC 8463: the raw 32-byte
 * key) or "v=DKIM1; k=rsa; p=BASE64" (DER SubjectPublicKeyInfo, what
 * every verifier reads).
 */
int dkim_key_dns(const struct dkim_key *key, struct buf *out)
    __attribute__((warn_unused_result));

enum dkim_alg dkim_key_alg(const struct dkim_key *key);
/* dkim_key_free: wipe and free; *key is NULL after. */
void dkim_key_free(struct dkim_key **key);

/* ---- signing ---- */

struct dkim_sign_req {
	const char *domain;	/* d=, a DNS name */
	const char *selector;	/* s=, labels of letters, digits, '-', '_' */
	int64_t t;		/* t=, seconds since the epoch; < 0: no t= */
};

/*
 * dkim_sign: append the DKIM-Signature field (name to final CRLF,
 * folded at 78 columns) for a message whose header section is hdr (as
 * from dkim_split) and whose body hash is bh to out.  a= follows the
 * key; c=relaxed/relaxed; h= lists each field of the RFC 6376 5.4.1 set
 * present in hdr once per instance, plus From once more (5.4.2
 * oversigning: nobody can add a From the signature does not cover).
 * -1 with *why_out: no From field, a domain or selector that is not a
 * DNS name, a header over DKIM_HDR_MAX, or a crypto failure.  Pure but
 * for the signature itself.
 */
int dkim_sign(const struct dkim_key *key, const struct dkim_sign_req *req,
    struct span hdr, const uint8_t bh[DKIM_HASH_LEN], struct buf *out,
    const char **why_out) __attribute__((warn_unused_result));

/* dkim_name_valid: 1 if s is usable as d= or s= (letters, digits, '-',
 * '_', dots between non-empty labels of at most 63, DKIM_NAME_MAX in
 * all), else 0. */
int dkim_name_valid(const char *s);

#endif
