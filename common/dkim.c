/* DKIM signer: RFC 6376 relaxed/relaxed canonicalization and signatures, RFC 8463 ed25519-sha256. */
/* SPDX-License-Identifier: ISC */
#include "common/dkim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "common/log.h"
#include "common/xmem.h"

struct dkim_key {
	enum dkim_alg alg;
	EVP_PKEY *pkey;		/* RSA */
	uint8_t *sk;		/* ed25519: sodium_malloc, seed || pk */
};

/* RFC 6376 2.8: WSP is SP or HTAB. */
static inline int
dkim_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* ---- header section ---- */

void
dkim_split(struct span msg, struct span *hdr_out, struct span *body_out)
{
	size_t i;

	/* an empty line first: no header fields at all */
	if (msg.n >= 2 && msg.p[0] == '\r' && msg.p[1] == '\n') {
		*hdr_out = span_make(msg.p, 0);
		*body_out = span_make(msg.p + 2, msg.n - 2);
		return;
	}
	for (i = 0; i + 4 <= msg.n; i++) {
		if (memcmp(msg.p + i, "\r\n\r\n", 4) == 0) {
			*hdr_out = span_make(msg.p, i + 2);
			*body_out = span_make(msg.p + i + 4, msg.n - i - 4);
			return;
		}
	}
	*hdr_out = msg;
	*body_out = span_make(msg.p + msg.n, 0);
}

int
dkim_header_next(struct span hdr, size_t *off, struct span *field_out)
{
	size_t i = *off, start = *off;

	if (i >= hdr.n)
		return 0;
	for (;;) {
		size_t at;

		if (!span_find_crlf(span_make(hdr.p + i, hdr.n - i), &at)) {
			i = hdr.n;
			break;
		}
		i += at + 2;
		if (i >= hdr.n || !dkim_wsp(hdr.p[i]))
			break;
	}
	*field_out = span_make(hdr.p + start, i - start);
	*off = i;
	return 1;
}

int
dkim_header_name(struct span field, struct span *name_out)
{
	size_t colon, n;

	if (!span_find_byte(field, ':', &colon))
		return -1;
	n = colon;
	while (n > 0 && dkim_wsp(field.p[n - 1]))
		n--;
	if (n == 0)
		return -1;
	/* RFC 5322 2.2 ftext; anything else is no field we could name in h= */
	for (size_t i = 0; i < n; i++)
		if (field.p[i] < 33 || field.p[i] > 126)
			return -1;
	*name_out = span_make(field.p, n);
	return 0;
}

int
dkim_canon_header(struct span field, struct buf *out)
{
	struct span name;
	size_t i, end = field.n, start = out->len;
	int wsp = 0, text = 0;
	uint8_t c;

	if (dkim_header_name(field, &name) < 0)
		return -1;
	/* 3.4.2: the CRLF at the end of the value is not part of it */
	if (end >= 2 && field.p[end - 2] == '\r' && field.p[end - 1] == '\n')
		end -= 2;
	for (i = 0; i < name.n; i++) {
		c = name.p[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (buf_add(out, &c, 1) < 0)
			goto full;
	}
	if (buf_add(out, ":", 1) < 0)
		goto full;
	for (i = name.n; field.p[i] != ':'; i++)
		;
	for (i++; i < end; i++) {
		c = field.p[i];
		/* unfold: a CRLF followed by WSP is not there at all */
		if (c == '\r' && i + 2 < end && field.p[i + 1] == '\n' &&
		    dkim_wsp(field.p[i + 2])) {
			i++;
			continue;
		}
		if (dkim_wsp(c)) {
			wsp = 1;
			continue;
		}
		/* WSP after the colon is deleted, any other run is one SP;
		 * a run at the end is never written */
		if (wsp && text && buf_add(out, " ", 1) < 0)
			goto full;
		if (buf_add(out, &c, 1) < 0)
			goto full;
		wsp = 0;
		text = 1;
	}
	if (buf_add(out, "\r\n", 2) < 0)
		goto full;
	return 0;
full:
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return -1;
}

/* ---- body ---- */

static void
dkim_body_flush(struct dkim_body *b)
{
	if (b->olen == 0)
		return;
	if (b->md != NULL && EVP_DigestUpdate(b->md, b->out, b->olen) != 1)
		fatal("dkim: sha256 update failed");
	if (b->copy != NULL && !b->copy_full &&
	    buf_add(b->copy, b->out, b->olen) < 0)
		b->copy_full = 1;
	b->olen = 0;
}

static inline void
dkim_body_put(struct dkim_body *b, const void *p, size_t n)
{
	if (b->olen + n > sizeof(b->out))
		dkim_body_flush(b);
	memcpy(b->out + b->olen, p, n);
	b->olen += n;
}

void
dkim_body_init(struct dkim_body *b, struct buf *copy)
{
	memset(b, 0, sizeof(*b));
	b->copy = copy;
	if ((b->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		fatal("dkim: cannot start sha256");
}

/* A byte that is not WSP and not a line end (a lone CR or LF included). */
static void
dkim_body_text(struct dkim_body *b, uint8_t c)
{
	/* empty lines followed by text were not at the end after all */
	for (; b->empty > 0; b->empty--)
		dkim_body_put(b, "\r\n", 2);
	/* 3.4.4 a: a WSP run inside a line, or at its start, is one SP */
	if (b->wsp)
		dkim_body_put(b, " ", 1);
	dkim_body_put(b, &c, 1);
	b->wsp = 0;
	b->text = 1;
}

/* CRLF: WSP at the end of the line is dropped; an empty line waits. */
static void
dkim_body_eol(struct dkim_body *b)
{
	if (b->text)
		dkim_body_put(b, "\r\n", 2);
	else
		b->empty++;
	b->wsp = 0;
	b->text = 0;
}

void
dkim_body_feed(struct dkim_body *b, struct span chunk)
{
	size_t i;

	for (i = 0; i < chunk.n; i++) {
		uint8_t c = chunk.p[i];

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				dkim_body_eol(b);
				continue;
			}
			dkim_body_text(b, '\r');
		}
		if (c == '\r')
			b->cr = 1;
		else if (dkim_wsp(c))
			b->wsp = 1;
		else
			dkim_body_text(b, c);
	}
}

int
dkim_body_finish(struct dkim_body *b, uint8_t hash_out[DKIM_HASH_LEN])
{
	unsigned n = DKIM_HASH_LEN;
	int rc;

	if (b->cr) {
		b->cr = 0;
		dkim_body_text(b, '\r');
	}
	/* 3.4.4 b: a last line without CRLF gets one; trailing empty lines
	 * (b->empty) and trailing WSP are dropped */
	if (b->text)
		dkim_body_put(b, "\r\n", 2);
	dkim_body_flush(b);
	if (EVP_DigestFinal_ex(b->md, hash_out, &n) != 1 ||
	    n != DKIM_HASH_LEN)
		fatal("dkim: sha256 final failed");
	rc = b->copy_full ? -1 : 0;
	dkim_body_fini(b);
	return rc;
}

void
dkim_body_fini(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
	b->olen = 0;
}

void
dkim_body_hash(struct span body, uint8_t hash_out[DKIM_HASH_LEN])
{
	struct dkim_body b;

	dkim_body_init(&b, NULL);
	dkim_body_feed(&b, body);
	(void)dkim_body_finish(&b, hash_out);
}

/* ---- keys ---- */

static struct dkim_key *
dkim_key_new(enum dkim_alg alg)
{
	struct dkim_key *k = xcalloc(1, sizeof(*k));

	k->alg = alg;
	if (alg == DKIM_ED25519_SHA256 &&
	    (k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		fatal("dkim: sodium_malloc failed");
	return k;
}

void
dkim_key_free(struct dkim_key **key)
{
	struct dkim_key *k = *key;

	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	if (k->sk != NULL)
		sodium_free(k->sk);	/* wipes */
	free(k);
	*key = NULL;
}

enum dkim_alg
dkim_key_alg(const struct dkim_key *key)
{
	return key->alg;
}

int
dkim_key_from_seed(const uint8_t seed[32], struct dkim_key **key_out,
    const char **why_out)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	struct dkim_key *k = dkim_key_new(DKIM_ED25519_SHA256);

	if (crypto_sign_seed_keypair(pk, k->sk, seed) != 0) {
		dkim_key_free(&k);
		*why_out = "cannot derive the ed25519 key";
		return -1;
	}
	*key_out = k;
	return 0;
}

int
dkim_key_generate(enum dkim_alg alg, struct dkim_key **key_out,
    const char **why_out)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	struct dkim_key *k;

	if (alg == DKIM_ED25519_SHA256) {
		k = dkim_key_new(alg);
		crypto_sign_keypair(pk, k->sk);
		*key_out = k;
		return 0;
	}
	k = dkim_key_new(DKIM_RSA_SHA256);
	if ((k->pkey = EVP_RSA_gen(DKIM_RSA_BITS)) == NULL) {
		dkim_key_free(&k);
		*why_out = "OpenSSL cannot make an RSA key";
		return -1;
	}
	*key_out = k;
	return 0;
}

static int
dkim_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

int
dkim_key_load_pem(struct span pem, struct dkim_key **key_out,
    const char **why_out)
{
	struct dkim_key *k = NULL;
	uint8_t seed[32];
	size_t n = sizeof(seed);
	EVP_PKEY *p;
	BIO *bio;
	int rc;

	if (pem.n > INT32_MAX ||
	    (bio = BIO_new_mem_buf(pem.p, (int)pem.n)) == NULL) {
		*why_out = "cannot read the key";
		return -1;
	}
	/* SECURITY: never OpenSSL's default of asking the terminal for a
	 * pass phrase; an encrypted key is simply refused */
	p = PEM_read_bio_PrivateKey(bio, NULL, dkim_no_passphrase, NULL);
	BIO_free(bio);
	if (p == NULL) {
		*why_out = "not a PEM private key";
		return -1;
	}
	if (EVP_PKEY_get_base_id(p) == EVP_PKEY_ED25519) {
		rc = EVP_PKEY_get_raw_private_key(p, seed, &n);
		EVP_PKEY_free(p);
		if (rc != 1 || n != sizeof(seed)) {
			sodium_memzero(seed, sizeof(seed));
			*why_out = "cannot read the ed25519 key";
			return -1;
		}
		rc = dkim_key_from_seed(seed, key_out, why_out);
		sodium_memzero(seed, sizeof(seed));
		return rc;
	}
	if (EVP_PKEY_get_base_id(p) != EVP_PKEY_RSA) {
		EVP_PKEY_free(p);
		*why_out = "not an RSA or ed25519 key";
		return -1;
	}
	if (EVP_PKEY_get_bits(p) < DKIM_RSA_MIN_BITS) {
		EVP_PKEY_free(p);
		*why_out = "RSA key shorter than 1024 bits (RFC 8301)";
		return -1;
	}
	k = dkim_key_new(DKIM_RSA_SHA256);
	k->pkey = p;
	*key_out = k;
	return 0;
}

/* An ed25519 EVP_PKEY for the PEM writer, from the seed (sk's first half). */
static EVP_PKEY *
dkim_key_ed_pkey(const struct dkim_key *k)
{
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->sk,
	    crypto_sign_SEEDBYTES);
}

int
dkim_key_pem(const struct dkim_key *key, struct buf *out,
    const char **why_out)
{
	EVP_PKEY *p = key->pkey;
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int rc = -1;

	if (key->alg == DKIM_ED25519_SHA256)
		p = dkim_key_ed_pkey(key);
	*why_out = "cannot write the key as PEM";
	if (bio == NULL || p == NULL ||
	    PEM_write_bio_PKCS8PrivateKey(bio, p, NULL, NULL, 0, NULL,
	    NULL) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n > 0 && buf_add(out, data, (size_t)n) == 0)
		rc = 0;
out:
	if (key->alg == DKIM_ED25519_SHA256)
		EVP_PKEY_free(p);
	BIO_free(bio);
	return rc;
}

static int
dkim_b64(struct buf *out, const uint8_t *p, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);
	uint8_t *dst = buf_reserve(out, len);

	if (dst == NULL)
		return -1;
	sodium_bin2base64((char *)dst, len, p, n,
	    sodium_base64_VARIANT_ORIGINAL);
	buf_commit(out, len - 1);	/* not the NUL */
	return 0;
}

int
dkim_key_dns(const struct dkim_key *key, struct buf *out)
{
	unsigned char *der = NULL;
	int n, rc;

	if (key->alg == DKIM_ED25519_SHA256) {
		/* libsodium's secret key is seed || public key */
		if (buf_addstr(out, "v=DKIM1; k=ed25519; p=") < 0)
			return -1;
		return dkim_b64(out, key->sk + crypto_sign_SEEDBYTES,
		    crypto_sign_PUBLICKEYBYTES);
	}
	if ((n = i2d_PUBKEY(key->pkey, &der)) <= 0)
		return -1;
	rc = buf_addstr(out, "v=DKIM1; k=rsa; p=");
	if (rc == 0)
		rc = dkim_b64(out, der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

/* ---- signing ---- */

/*
 * What we sign: RFC 6376 5.4.1's list, plus Sender and Resent-Sender
 * (addresses), Message-ID and the MIME fields (content), and
 * List-Unsubscribe-Post (RFC 8058 3.1 requires it signed).  Received,
 * Return-Path and other trace fields change in transit and are not.
 */
static const char *const dkim_signed[] = {
	"from", "sender", "reply-to", "subject", "date", "to", "cc",
	"resent-date", "resent-from", "resent-sender", "resent-to",
	"resent-cc", "resent-message-id", "in-reply-to", "references",
	"message-id", "mime-version", "content-type",
	"content-transfer-encoding", "list-id", "list-help",
	"list-unsubscribe", "list-unsubscribe-post", "list-subscribe",
	"list-post", "list-owner", "list-archive",
};

#define DKIM_WIDTH 78		/* RFC 5322 2.1.1 SHOULD */
#define DKIM_TAB 8		/* a folded line's HTAB, as wide as it shows */

int
dkim_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > DKIM_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* The folding writer: sep 0 glues, 1 glues or folds, 2 puts SP or folds. */
struct dkim_fold {
	struct buf *b;
	size_t col;
	int err;
};

static void
dkim_fold_add(struct dkim_fold *f, int sep, const char *s, size_t n)
{
	if (sep != 0 && f->col + (sep == 2) + n > DKIM_WIDTH) {
		f->err |= buf_add(f->b, "\r\n\t", 3);
		f->col = DKIM_TAB;
	} else if (sep == 2) {
		f->err |= buf_add(f->b, " ", 1);
		f->col++;
	}
	f->err |= buf_add(f->b, s, n);
	f->col += n;
}

static void
dkim_fold_str(struct dkim_fold *f, int sep, const char *s)
{
	dkim_fold_add(f, sep, s, strlen(s));
}

/* The header fields of hdr, in order. */
struct dkim_fields {
	struct span *f;
	size_t n;
};

static void
dkim_fields_get(struct span hdr, struct dkim_fields *fs)
{
	struct span field;
	size_t off = 0, cap = 0;

	fs->f = NULL;
	fs->n = 0;
	while (dkim_header_next(hdr, &off, &field)) {
		if (fs->n == cap) {
			cap = cap ? cap * 2 : 32;
			fs->f = xreallocarray(fs->f, cap, sizeof(*fs->f));
		}
		fs->f[fs->n++] = field;
	}
}

static int
dkim_field_is(struct span field, const char *name)
{
	struct span fname;

	return dkim_header_name(field, &fname) == 0 &&
	    span_eq_ci(fname, name);
}

/*
 * h= into sig (folded) and the canonical fields into data, in h= order:
 * 5.4.2, each instance from the bottom up; the extra "from" names a
 * field that is not there, which hashes as nothing.
 */
static int
dkim_sign_fields(const struct dkim_fields *fs, struct dkim_fold *f,
    struct buf *data, const char **why_out)
{
	size_t i, j, n;
	int first = 1;

	for (i = 0; i < sizeof(dkim_signed) / sizeof(dkim_signed[0]); i++) {
		for (j = fs->n, n = 0; j-- > 0;) {
			if (!dkim_field_is(fs->f[j], dkim_signed[i]))
				continue;
			if (dkim_canon_header(fs->f[j], data) < 0) {
				*why_out = "header section too big to sign";
				return -1;
			}
			n++;
		}
		if (i == 0) {
			if (n == 0) {
				*why_out = "message has no From field "
				    "(RFC 6376 5.4: it must be signed)";
				return -1;
			}
			n++;	/* oversigned */
		}
		for (; n > 0; n--) {
			if (first)
				dkim_fold_str(f, 2, "h=");
			else
				dkim_fold_str(f, 0, ":");
			/* FWS may follow the colon (3.5, sig-h-tag) */
			dkim_fold_str(f, first ? 0 : 1, dkim_signed[i]);
			first = 0;
		}
	}
	dkim_fold_str(f, 0, ";");
	return 0;
}

/* The signature of hash (sha256 of the header data) with key. */
static int
dkim_sign_hash(const struct dkim_key *key, const uint8_t hash[DKIM_HASH_LEN],
    uint8_t *sig, size_t *siglen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (key->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463 3: PureEdDSA Ed25519 over the sha256 hash */
		unsigned long long n = 0;

		if (*siglen < crypto_sign_BYTES ||
		    crypto_sign_detached(sig, &n, hash, DKIM_HASH_LEN,
		    key->sk) != 0)
			return -1;
		*siglen = (size_t)n;
		return 0;
	}
	/* RFC 6376 3.3.1: RSASSA-PKCS1-v1_5 with sha256 */
	if ((ctx = EVP_PKEY_CTX_new(key->pkey, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(ctx, sig, siglen, hash, DKIM_HASH_LEN) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* v= to t=, folded as they will be sent. */
static void
dkim_sign_head(const struct dkim_key *key, const struct dkim_sign_req *req,
    struct dkim_fold *f)
{
	char tmp[DKIM_NAME_MAX + 32];

	dkim_fold_str(f, 0, "DKIM-Signature: v=1;");
	dkim_fold_str(f, 2, key->alg == DKIM_ED25519_SHA256 ?
	    "a=ed25519-sha256;" : "a=rsa-sha256;");
	dkim_fold_str(f, 2, "c=relaxed/relaxed;");
	snprintf(tmp, sizeof(tmp), "d=%s;", req->domain);
	dkim_fold_str(f, 2, tmp);
	snprintf(tmp, sizeof(tmp), "s=%s;", req->selector);
	dkim_fold_str(f, 2, tmp);
	if (req->t >= 0) {
		snprintf(tmp, sizeof(tmp), "t=%lld;", (long long)req->t);
		dkim_fold_str(f, 2, tmp);
	}
}

/* bh= and an empty b=, which 3.7 hashes as it is (b= and nothing). */
static void
dkim_sign_tail(const uint8_t bh[DKIM_HASH_LEN], struct dkim_fold *f)
{
	struct buf b64;

	buf_init(&b64, 64, 256);
	f->err |= buf_addstr(&b64, "bh=");
	f->err |= dkim_b64(&b64, bh, DKIM_HASH_LEN);
	f->err |= buf_addstr(&b64, ";");
	dkim_fold_str(f, 2, buf_cstr(&b64));
	buf_fini(&b64);
	dkim_fold_str(f, 2, "b=");
}

int
dkim_sign(const struct dkim_key *key, const struct dkim_sign_req *req,
    struct span hdr, const uint8_t bh[DKIM_HASH_LEN], struct buf *out,
    const char **why_out)
{
	struct dkim_fields fs;
	struct buf sig, data, b64;
	struct dkim_fold f;
	uint8_t hash[DKIM_HASH_LEN], raw[1024];
	size_t rawlen = sizeof(raw), i;
	int rc = -1;

	if (!dkim_name_valid(req->domain) || !dkim_name_valid(req->selector)) {
		*why_out = "domain or selector is not a valid DNS name";
		return -1;
	}
	if (key->alg == DKIM_RSA_SHA256 &&
	    (size_t)EVP_PKEY_get_size(key->pkey) > sizeof(raw)) {
		*why_out = "RSA key too big";
		return -1;
	}
	buf_init(&sig, 512, DKIM_SIG_MAX);
	buf_init(&data, 1024, DKIM_HDR_MAX + DKIM_SIG_MAX);
	buf_init(&b64, 512, 2048);
	dkim_fields_get(hdr, &fs);
	f.b = &sig;
	f.col = 0;
	f.err = 0;
	dkim_sign_head(key, req, &f);
	if (dkim_sign_fields(&fs, &f, &data, why_out) < 0)
		goto out;
	dkim_sign_tail(bh, &f);
	/* 3.7: the signature field last, canonicalized, without its CRLF */
	f.err |= buf_add(&sig, "\r\n", 2);
	if (f.err != 0 || dkim_canon_header(buf_view(&sig), &data) < 0) {
		*why_out = "header section too big to sign";
		goto out;
	}
	data.len -= 2;
	data.data[data.len] = '\0';
	sig.len -= 2;
	sig.data[sig.len] = '\0';
	if (EVP_Digest(data.data, data.len, hash, NULL, EVP_sha256(),
	    NULL) != 1 || dkim_sign_hash(key, hash, raw, &rawlen) < 0 ||
	    dkim_b64(&b64, raw, rawlen) < 0) {
		*why_out = "signing failed";
		goto out;
	}
	/* FWS may sit anywhere in the b= value (3.5, base64string) */
	for (i = 0; i < b64.len; i++)
		dkim_fold_add(&f, 1, (const char *)b64.data + i, 1);
	f.err |= buf_add(&sig, "\r\n", 2);
	if (f.err != 0 || buf_addspan(out, buf_view(&sig)) < 0) {
		*why_out = "signature field too long";
		goto out;
	}
	rc = 0;
out:
	free(fs.f);
	buf_fini(&sig);
	buf_fini(&data);
	buf_fini(&b64);
	sodium_memzero(raw, sizeof(raw));
	return rc;
}
