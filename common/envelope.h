/* The envelope at the head of every spool file: format, writer and pure parser. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_ENVELOPE_H
#define LB_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

/*
 * A spool file is the envelope, a blank line, then the message exactly as
 * it will be delivered (Received: header first, CRLF line ends).  The
 * envelope is text, one "key value" per line ending in LF (docs/queue.md):
 *
 *   LBENV 1
 *   id 5f0c2a91d3e4b7a8
 *   arrival 1795433400
 *   from a@example.org              ("from" alone: the null sender <>)
 *   body 8bitmime                   (7bit | 8bitmime | binarymime)
 *   smtputf8 1
 *   ret hdrs                        (DSN RET: full | hdrs)
 *   envid QQ+2Bx                    (DSN ENVID, xtext as received)
 *   auth alice@example.org          (the authenticated submitter)
 *   client 192.0.2.7 mx.example.net (IP, then the EHLO/HELO name)
 *   rcpt bob@example.test notify=success,failure orcpt=rfc822;bob@x
 *   ...
 *
 * Values never contain LF, CR or NUL (they come from command lines that
 * cannot); the writer refuses them anyway.  At most ENVELOPE_MAX_RCPTS
 * recipients and ENVELOPE_MAX_BYTES of envelope.
 */

#define ENVELOPE_MAX_RCPTS 1000
#define ENVELOPE_MAX_BYTES (1024u * 1024u)

enum envelope_body { ENV_BODY_7BIT = 0, ENV_BODY_8BITMIME, ENV_BODY_BINARY };
enum envelope_ret { ENV_RET_NONE = 0, ENV_RET_FULL, ENV_RET_HDRS };

#define ENV_NOTIFY_NEVER 0x1u
#define ENV_NOTIFY_SUCCESS 0x2u
#define ENV_NOTIFY_FAILURE 0x4u
#define ENV_NOTIFY_DELAY 0x8u

struct envelope_rcpt {
	struct span addr;	/* the forward-path mailbox */
	unsigned notify;	/* ENV_NOTIFY_*; 0 when not given */
	struct span orcpt;	/* "rfc822;xtext" as received, or empty */
};

/* Spans point into the bytes parsed (or the caller's strings when
 * writing).  rcpts is owned by the caller (array of max_rcpts). */
struct envelope {
	struct span id;
	int64_t arrival;
	struct span from;	/* empty: null sender */
	enum envelope_body body;
	int smtputf8;
	enum envelope_ret ret;
	struct span envid;
	struct span auth;
	struct span client_ip;
	struct span helo;
	struct envelope_rcpt *rcpts;
	size_t n_rcpts, max_rcpts;
};

/*
 * envelope_write: append the envelope and the blank line to out.  0, or
 * -1 if a value holds CR, LF or NUL, or out's cap is reached.
 */
int envelope_write(const struct envelope *env, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * envelope_parse: parse the head of a spool file.  On PARSE_OK *env is
 * filled and *body_off_out is the offset of the message.  PARSE_MORE: no
 * blank line yet (read more, up to ENVELOPE_MAX_BYTES).  PARSE_ERR: not
 * an envelope; *why_out says what is wrong (a static string).  Pure.
 */
enum parse_rc envelope_parse(struct span in, struct envelope *env,
    size_t *body_off_out, const char **why_out);

/* envelope_notify_parse: "success,failure" | "never" -> ENV_NOTIFY_*; -1
 * when malformed (RFC 3461 4.1: NEVER stands alone). */
int envelope_notify_parse(struct span s, unsigned *out);

#endif
