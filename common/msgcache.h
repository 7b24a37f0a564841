/* A message's header fields and MIME structure, parsed once at delivery, stored as a blob. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_MSGCACHE_H
#define LB_MSGCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

/*
 * What IMAP needs without opening the message file: the ENVELOPE fields
 * (RFC 9051 7.5.2), the BODYSTRUCTURE of every part with its extension
 * data, and the byte offsets of every part's header and body, so that
 * BODY[1.2.MIME] or BINARY[3] reads exactly those bytes of the file.
 *
 * The parser (RFC 5322 header syntax, RFC 2045/2046 MIME, RFC 2231
 * parameter continuations and charsets) is pure and incremental: the MDA
 * feeds the message as it streams to disk, in pieces of any size, and the
 * result is the same as one feed.  Limits: MSGCACHE_MAX_PARTS parts,
 * MSGCACHE_MAX_DEPTH nesting, MSGCACHE_MAX_HEADER bytes of one header
 * field kept (longer ones are cut, not refused: a message is never
 * refused for its MIME).  Malformed MIME degrades the way RFC 2045 says
 * (a bad Content-Type is text/plain; charset=us-ascii).
 */

#define MSGCACHE_MAX_PARTS 512
#define MSGCACHE_MAX_DEPTH 32
#define MSGCACHE_MAX_HEADER 16384

struct msgcache_parser;

/* msgcache_parser_new: a parser for one message. */
struct msgcache_parser *msgcache_parser_new(void);
void msgcache_parser_free(struct msgcache_parser **p);
/* msgcache_feed: the next bytes of the message (CRLF line ends as the
 * spool and Maildir hold it; bare LF is tolerated for files other
 * programs dropped into new/). */
void msgcache_feed(struct msgcache_parser *p, struct span in);
/* msgcache_finish: end of message; append the blob to out.  0, or -1 if
 * out's cap is reached. */
int msgcache_finish(struct msgcache_parser *p, struct buf *out)
    __attribute__((warn_unused_result));

/* ---- reading a blob (pure; spans point into the blob) ---- */

/* An address of ENVELOPE: name, adl, mailbox, host as in RFC 9051 7.5.2
 * (group syntax gives a start entry with host NULL-span and mailbox the
 * group name, and an end entry with both NULL). */
struct msgcache_addr {
	struct span name, adl, mailbox, host;
	int name_nil, adl_nil, mailbox_nil, host_nil;
};

/* The raw (undecoded, unfolded) header values ENVELOPE returns. */
struct msgcache_env {
	struct span date, subject, in_reply_to, message_id;
	int date_nil, subject_nil, in_reply_to_nil, message_id_nil;
	/* from, sender, reply_to, to, cc, bcc; a list each */
	const uint8_t *addrs[6];	/* opaque cursors, see below */
	size_t n_addrs[6];
};

enum msgcache_field {
	MSGCACHE_FROM = 0, MSGCACHE_SENDER, MSGCACHE_REPLY_TO, MSGCACHE_TO,
	MSGCACHE_CC, MSGCACHE_BCC,
};

/* One MIME part.  Offsets are from the start of the message file's
 * message (after the spool envelope, i.e. the RFC 5322 message). */
struct msgcache_part {
	struct span type, subtype;	/* lowercased; "text", "plain" */
	struct span params;		/* opaque: msgcache_param_next */
	struct span id, description, encoding, md5;
	int id_nil, description_nil, md5_nil;
	struct span disposition, disp_params;	/* disposition "" : NIL */
	struct span language, location;	/* language: opaque list */
	uint64_t header_off, body_off, end_off;	/* part bytes */
	uint64_t lines;			/* text/ and message/rfc822 */
	uint32_t n_children;		/* multipart: parts; message/rfc822: 1 */
	uint32_t index;			/* this part's index in the blob */
	uint32_t first_child;		/* index of its first child */
	uint32_t next_sibling;		/* 0: none */
};

/* msgcache_open: check a blob; 0, or -1 if malformed (then rebuild it
 * from the file). */
int msgcache_open(struct span blob) __attribute__((warn_unused_result));
int msgcache_envelope(struct span blob, uint32_t part_index,
    struct msgcache_env *out);
int msgcache_addr(const struct msgcache_env *env, enum msgcache_field f,
    size_t i, struct msgcache_addr *out);
/* msgcache_part: part by blob index (0: the whole message). */
int msgcache_part(struct span blob, uint32_t index, struct msgcache_part *out);
/* msgcache_section: part by IMAP section numbers ("1.2" -> {1, 2}, n 2;
 * n 0: the whole message); -1 if there is no such part. */
int msgcache_section(struct span blob, const uint32_t *nums, size_t n,
    struct msgcache_part *out);
/* msgcache_param_next: iterate "name" / "value" pairs of params or
 * disp_params (RFC 2231 continuations joined, charset decoded to UTF-8
 * where known); returns 1 and advances *cursor, 0 at the end. */
int msgcache_param_next(struct span *cursor, struct span *name_out,
    struct span *value_out);

#endif
