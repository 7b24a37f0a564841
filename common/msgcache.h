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
/* Longest boundary parameter honoured (RFC 2046 allows 70); a multipart
 * with a longer one is treated as having none. */
#define MSGCACHE_MAX_BOUNDARY 200
/* Bytes of strings (header values, parameters, addresses) one blob
 * holds; a value that no longer fits is stored as the empty string.
 * With the part table this bounds a blob (and the parser's memory) at
 * about 400 KiB. */
#define MSGCACHE_MAX_STRINGS (256 * 1024)
#define MSGCACHE_VERSION 1

struct msgcache_parser;

/* msgcache_parser_new: a parser for one message (about 100 KiB, plus
 * the strings kept; never more than the limits above). */
struct msgcache_parser *msgcache_parser_new(void);
void msgcache_parser_free(struct msgcache_parser **p);
/* msgcache_feed: the next bytes of the message (CRLF line ends as the
 * spool and Maildir hold it; bare LF is tolerated for files other
 * programs dropped into new/, and then counts as a line end of one
 * octet).  Never fails; bytes fed after msgcache_finish are ignored. */
void msgcache_feed(struct msgcache_parser *p, struct span in);
/* msgcache_finish: end of message; append the blob to out.  0, or -1 if
 * out's cap is reached.  Call it once. */
int msgcache_finish(struct msgcache_parser *p, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * What the parser makes of a message:
 *
 * - Part 0 is the whole message.  Parts are numbered in pre-order; a
 *   multipart's children are its body parts; a message/rfc822 (or
 *   message/global) part has one child, the encapsulated message, whose
 *   header_off is the parent's body_off and whose end_off the parent's.
 * - header_off..body_off is the header including the blank line that
 *   ends it; body_off..end_off the body as transferred.  In a multipart
 *   the line end before a delimiter line belongs to the delimiter (RFC
 *   2046 5.1.1), except when it ends the line that opened the part
 *   (an empty part just before a delimiter: it ends at the delimiter
 *   line); the preamble and epilogue are in the multipart's body.
 *   A part whose header is cut by a delimiter or the end of the message
 *   has an empty body at that point.
 * - lines: line ends (CRLF, or bare LF) in body_off..end_off, so a last
 *   line without its own line end is not counted (as Dovecot counts).
 * - Defaults (RFC 2045 5.2, RFC 2046 5.1.5): no or unparsable
 *   Content-Type is text/plain with params charset=us-ascii (in a
 *   multipart/digest: message/rfc822); no Content-Transfer-Encoding is
 *   "7bit".  A multipart that ends up without any part (no boundary
 *   parameter, no delimiter found, nesting cut at MSGCACHE_MAX_DEPTH or
 *   the part table full) and a message/rfc822 without its message are
 *   reported as application/octet-stream without parameters, so that
 *   BODYSTRUCTURE stays well-formed.
 * - Past MSGCACHE_MAX_PARTS parts further delimiters are not seen: the
 *   rest is counted into the part being read.
 * - Only the first of each header field is used.
 */

/* ---- reading a blob (pure; spans point into the blob) ----
 * Every reader checks what it reads, also on a blob msgcache_open
 * refused: a corrupt blob gives -1 or 0 entries, never a crash. */

/* An address of ENVELOPE: name, adl, mailbox, host as in RFC 9051 7.5.2
 * (group syntax gives a start entry with host NIL and mailbox the group
 * name, and an end entry with both NIL).  A mailbox without a domain
 * has host "" (not NIL, which would read as a group).  The values are
 * raw (encoded words not decoded); name is the display name with its
 * quotes and the backslashes of quoted pairs removed, words joined by
 * one space, or the first comment if there is no display name. */
struct msgcache_addr {
	struct span name, adl, mailbox, host;
	int name_nil, adl_nil, mailbox_nil, host_nil;
};

/* The raw (undecoded, unfolded, leading and trailing white space
 * removed) header values ENVELOPE returns. */
struct msgcache_env {
	struct span date, subject, in_reply_to, message_id;
	int date_nil, subject_nil, in_reply_to_nil, message_id_nil;
	/* from, sender, reply_to, to, cc, bcc: opaque cursors for
	 * msgcache_addr, and the number of entries (group markers
	 * included).  n_addrs 0: NIL.  Sender and Reply-To are stored as
	 * in the message; RFC 9051 says a server fills them from From when
	 * absent, which is the IMAP layer's job. */
	struct span addrs[6];
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
	/* encoding: lowercased, "7bit" by default */
	struct span disposition, disp_params;	/* disposition "" : NIL;
						 * lowercased */
	struct span language, location;	/* language: msgcache_list_next */
	int location_nil;
	uint64_t header_off, body_off, end_off;	/* part bytes */
	uint64_t lines;			/* text/ and message/rfc822 */
	uint32_t n_children;		/* multipart: parts; message/rfc822: 1 */
	uint32_t index;			/* this part's index in the blob */
	uint32_t first_child;		/* index of its first child */
	uint32_t next_sibling;		/* 0: none */
	uint32_t parent;		/* part 0: 0 */
	int is_message;			/* part 0, or a message/rfc822's child:
					 * has an envelope */
};

/* msgcache_open: check a blob (magic, version, checksum, every offset,
 * string, list and the part tree); 0, or -1 if malformed (then rebuild
 * it from the file). */
int msgcache_open(struct span blob) __attribute__((warn_unused_result));
/* msgcache_envelope: the envelope of part_index if it is a message, or
 * of the message a message/rfc822 part encapsulates; 0, or -1 if the
 * part has none. */
int msgcache_envelope(struct span blob, uint32_t part_index,
    struct msgcache_env *out);
/* msgcache_addr: entry i (0-based) of list f; 0, or -1 past the end. */
int msgcache_addr(const struct msgcache_env *env, enum msgcache_field f,
    size_t i, struct msgcache_addr *out);
/* msgcache_part: part by blob index (0: the whole message). */
int msgcache_part(struct span blob, uint32_t index, struct msgcache_part *out);
/* msgcache_n_parts: how many parts the blob holds (0 if malformed). */
uint32_t msgcache_n_parts(struct span blob);
/* msgcache_section: part by IMAP section numbers ("1.2" -> {1, 2}, n 2;
 * n 0: the whole message); -1 if there is no such part.  As RFC 9051
 * 6.4.5: a non-multipart message (part 0 or an encapsulated one) has
 * part 1, itself; below a message/rfc822 part the numbers are those of
 * the encapsulated message. */
int msgcache_section(struct span blob, const uint32_t *nums, size_t n,
    struct msgcache_part *out);
/* msgcache_param_next: iterate "name" / "value" pairs of params or
 * disp_params; names lowercased.  RFC 2231 continuations are joined and
 * an extended value in a charset rfc2047_to_utf8 knows is given as
 * UTF-8 under the plain name ("filename"); one in an unknown charset
 * keeps the extended form, name "filename*" and value
 * "charset'lang'%XX..." with all sections joined.  Returns 1 and
 * advances *cursor, 0 at the end (or on a malformed cursor). */
int msgcache_param_next(struct span *cursor, struct span *name_out,
    struct span *value_out);
/* msgcache_list_next: iterate the strings of a list (language). */
int msgcache_list_next(struct span *cursor, struct span *value_out);

#endif
