/* FETCH items made from the cached MIME structure: ENVELOPE, BODY, BODYSTRUCTURE, sections and BINARY decoding (RFC 9051 7.5.2, RFC 3516). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_RENDER_H
#define LB_IMAP_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "imapd/imap_fetchatt.h"

/*
 * Pure functions over a msgcache blob (common/msgcache.h) and bytes the
 * caller read from the message file.  Nothing here does I/O: the session
 * reads the file ranges a plan names and streams them.  Offsets are from
 * the start of the RFC 5322 message (a Maildir file holds exactly the
 * message, so they are file offsets).
 *
 * utf8: the session enabled IMAP4rev2 or UTF8=ACCEPT; then 8-bit header
 * text may be sent as quoted strings, else it goes as a literal (RFC 9051
 * 4.3).  Strings are sent as quoted when they can be, literals otherwise;
 * empty/absent values as NIL where the RFC says so.
 *
 * Every function appends to out and returns 0, or -1 if out's cap is
 * reached or the blob is malformed (the caller then parses the file again
 * with msgcache_* and retries, or answers NO).
 */

/* imap_render_envelope: the ENVELOPE list of part_index (0: the message;
 * a message/rfc822 part: the message it holds), Sender and Reply-To
 * defaulting to From (RFC 9051 7.5.2). */
int imap_render_envelope(struct span blob, uint32_t part_index, int utf8,
    struct buf *out) __attribute__((warn_unused_result));

/* imap_render_body: BODYSTRUCTURE (ext 1, with extension data: MD5,
 * disposition, language, location) or BODY (ext 0) of the whole
 * message. */
int imap_render_body(struct span blob, int ext, int utf8, struct buf *out)
    __attribute__((warn_unused_result));

/* Content-Transfer-Encodings BINARY can undo. */
enum imap_cte {
	IMAP_CTE_IDENTITY = 0,	/* 7bit, 8bit, binary */
	IMAP_CTE_BASE64, IMAP_CTE_QP,
	IMAP_CTE_UNKNOWN,	/* x-uuencode, ...: NO [UNKNOWN-CTE] */
};

/*
 * What a BODY[...]/BINARY[...] item sends, before <partial>:
 * - IMAP_PLAN_NONE: the part does not exist: BODY and BINARY send ""
 *   (the empty string, as Dovecot and Cyrus do for a missing part).
 * - IMAP_PLAN_RANGE: the file bytes [off, off+len), sent as they are
 *   (BODY[], BODY[TEXT], BODY[1.2], BODY[HEADER] and BODY[n.MIME] are
 *   ranges: header bytes are sent unfiltered).
 * - IMAP_PLAN_FILTER: HEADER.FIELDS / HEADER.FIELDS.NOT: read the header
 *   range [off, off+len) (at most IMAP_HEADER_READ_MAX bytes: the
 *   caller reads that much and passes what it got) and pass it to
 *   imap_header_filter.
 * - IMAP_PLAN_DECODE: BINARY of a leaf part: the body range [off,
 *   off+len) decoded with cte (stream it through imap_cte_dec).
 */
enum imap_plan_kind {
	IMAP_PLAN_NONE = 0, IMAP_PLAN_RANGE, IMAP_PLAN_FILTER,
	IMAP_PLAN_DECODE,
};

#define IMAP_HEADER_READ_MAX (1024 * 1024)

struct imap_plan {
	enum imap_plan_kind kind;
	uint64_t off, len;
	enum imap_cte cte;	/* DECODE */
};

/* imap_section_plan: the plan for item it (att IMAP_FA_BODY_SECTION,
 * IMAP_FA_BINARY, IMAP_FA_BINARY_SIZE, IMAP_FA_RFC822,
 * IMAP_FA_RFC822_HEADER, IMAP_FA_RFC822_TEXT).  file_size is the
 * message's size in bytes.  0, or -1 with a static *why for a request
 * the RFC refuses (BINARY of a multipart's MIME header, BINARY of an
 * encoding we do not know: *why starts with "[UNKNOWN-CTE]"). */
int imap_section_plan(struct span blob, uint64_t file_size,
    const struct imap_fetch_item *it, struct imap_plan *out,
    const char **why) __attribute__((warn_unused_result));

/* imap_header_filter: the fields of header (a whole header block, CRLF
 * lines, the blank line included or cut short) whose names are (not_ 0)
 * or are not (not_ 1) in fields (imap_arg_astring values, matched
 * case-insensitively), each with its continuation lines, then the blank
 * line (RFC 9051 6.4.5: the result always ends with the blank line). */
int imap_header_filter(struct span header, struct imap_args fields,
    int not_, struct buf *out) __attribute__((warn_unused_result));

/* A streaming decoder for BINARY: feed the body in pieces of any size. */
#define IMAP_CTE_WS_MAX 64	/* QP: trailing white space held back */
struct imap_cte_dec {
	enum imap_cte cte;
	unsigned char pend[4];	/* base64: sextets of a quantum; QP: an
				 * escape "=", "=X" or "=\r" */
	size_t n_pend;
	unsigned char ws[IMAP_CTE_WS_MAX];	/* QP: white space that is
				 * dropped if the line ends here (RFC 2045
				 * 6.7 (3)) */
	size_t n_ws;
	int cr;			/* QP: a CR waits for its LF */
	int b64_end;		/* base64: "=" seen, quantum closed */
	uint64_t n_out;		/* bytes produced so far */
	int has_nul;		/* a NUL was produced: send as literal8 */
};
void imap_cte_dec_init(struct imap_cte_dec *d, enum imap_cte cte);
/* imap_cte_dec_feed: decode in, appending to out (NULL: only count,
 * for BINARY.SIZE); last 1 on the final piece.  Malformed input is
 * decoded leniently (base64: non-alphabet bytes skipped; QP: a bad
 * escape kept as it is).  0, or -1 if out's cap is reached. */
int imap_cte_dec_feed(struct imap_cte_dec *d, struct span in, int last,
    struct buf *out) __attribute__((warn_unused_result));

/* imap_render_string: append s as an IMAP string: quoted if it has no
 * CR, LF, NUL, and (unless utf8) no 8-bit bytes and is short, else a
 * literal {n}CRLF...; NIL if nil. */
int imap_render_string(struct span s, int nil, int utf8, struct buf *out)
    __attribute__((warn_unused_result));

#endif
