/* FETCH attributes and modifiers (RFC 9051 6.4.5 and 9, RFC 3501, RFC 3516, RFC 7162, RFC 8474, RFC 8514). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_FETCHATT_H
#define LB_IMAP_FETCHATT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "imapd/imap_parse.h"

enum imap_fatt {
	IMAP_FA_ENVELOPE = 0, IMAP_FA_FLAGS, IMAP_FA_INTERNALDATE,
	IMAP_FA_RFC822_SIZE,
	IMAP_FA_BODY,		/* BODY without a section: non-extensible
				 * BODYSTRUCTURE */
	IMAP_FA_BODYSTRUCTURE, IMAP_FA_UID,
	IMAP_FA_BODY_SECTION,	/* BODY[...] and BODY.PEEK[...] */
	IMAP_FA_BINARY,		/* BINARY[...] and BINARY.PEEK[...] */
	IMAP_FA_BINARY_SIZE,
	IMAP_FA_RFC822,		/* = BODY[] (RFC 3501) */
	IMAP_FA_RFC822_HEADER,	/* = BODY.PEEK[HEADER] */
	IMAP_FA_RFC822_TEXT,	/* = BODY[TEXT] */
	IMAP_FA_MODSEQ,		/* RFC 7162 */
	IMAP_FA_SAVEDATE,	/* RFC 8514 */
	IMAP_FA_EMAILID, IMAP_FA_THREADID,	/* RFC 8474 */
	IMAP_FA_MAX
};

/* What follows the part numbers of a section (RFC 9051 9 section-spec). */
enum imap_fsect {
	IMAP_FS_NONE = 0,	/* the whole message or part */
	IMAP_FS_HEADER, IMAP_FS_HEADER_FIELDS, IMAP_FS_HEADER_FIELDS_NOT,
	IMAP_FS_TEXT, IMAP_FS_MIME,
};

#define IMAP_FETCH_PART_MAX	16	/* nesting of part numbers */

struct imap_fetch_item {
	enum imap_fatt att;
	int peek;		/* BODY.PEEK / BINARY.PEEK: keep \Seen */
	uint32_t part[IMAP_FETCH_PART_MAX];
	size_t n_part;		/* 0: the top level */
	enum imap_fsect sect;
	struct imap_args fields;	/* HEADER.FIELDS: the names (each an
					 * astring, see imap_arg_astring) */
	int partial;		/* <offset.length> given */
	uint64_t offset, length;
};

struct imap_fetch {
	struct imap_fetch_item *items;	/* caller's, cap slots */
	size_t n, cap;
	int changedsince;	/* CHANGEDSINCE given (RFC 7162 3.1.4.1) */
	uint64_t changedsince_modseq;
	int vanished;		/* VANISHED (RFC 7162 3.2.6): UID FETCH only,
				 * with CHANGEDSINCE; the caller checks QRESYNC
				 * is enabled */
};

/*
 * imap_fetch_parse: args are FETCH's arguments after the sequence set:
 * a macro (ALL, FAST, FULL, expanded into items), one attribute, or a
 * list of them, then optionally a modifier list.  uid is 1 for UID
 * FETCH (which also answers UID, and allows VANISHED).  Spans and
 * fields stay in the parser's memory.  0, or -1 with a static *why.
 */
int imap_fetch_parse(struct imap_args args, int uid,
    struct imap_fetch_item *items, size_t cap, struct imap_fetch *out,
    const char **why) __attribute__((warn_unused_result));

/* imap_fatt_name: "BODY.PEEK" style name of an attribute (tests). */
const char *imap_fatt_name(enum imap_fatt a);

#endif
