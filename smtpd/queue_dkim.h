/* queued: DKIM signatures for mail that leaves, made with the keys of the From domain (docs/relay.md, "DKIM"). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_DKIM_H
#define LB_QUEUE_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * queue_dkim_from_domain: the domain of the first address of the first
 * From field of hdr (a header section, CRLF lines): "Name <a@Example.ORG>"
 * and "a@example.org (c)" both give "example.org" (lowercased, a final
 * dot cut).  Quoted strings and comments are skipped.  Pure.  0, or -1
 * when there is no From field or its domain is not a DNS name usable as
 * d= (which also keeps it safe as a file name).
 */
int queue_dkim_from_domain(struct span hdr, char *out, size_t outsz);

/* The signing keys of every domain, loaded from dir (STATE_DIR/dkim)
 * when first used and again when the domain's directory changes. */
struct queue_dkim;

struct queue_dkim *queue_dkim_new(const char *dir);
void queue_dkim_free(struct queue_dkim **qdp);

enum queue_dkim_rc {
	QUEUE_DKIM_SIGNED = 1,	/* out has the DKIM-Signature fields */
	QUEUE_DKIM_NONE = 0,	/* no From domain with keys: sent as is */
	QUEUE_DKIM_ERROR = -1,	/* why says it: the file cannot be read */
};

/*
 * queue_dkim_sign: the message in fd's bytes [off, end) (CRLF text as
 * spooled): if its From domain has keys, sign it with the newest
 * selector's keys (ed25519 and RSA, each when present; relaxed/relaxed,
 * t = now) and append the fields to out.  A key that cannot be used is
 * logged and skipped.  Reads the file (the body is hashed in 64 KiB
 * pieces); runs on the caller's thread.
 */
enum queue_dkim_rc queue_dkim_sign(struct queue_dkim *qd, int fd,
    uint64_t off, uint64_t end, int64_t now, struct buf *out, char *dom_out,
    size_t domsz, char *why, size_t whysz);

#endif
