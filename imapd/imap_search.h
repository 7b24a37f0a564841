/* IMAP SEARCH arguments into an AST (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 4731, 5182, 5032, 7162, 8474, 8514) and IMAP dates. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_SEARCH_H
#define LB_IMAP_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "imapd/imap_parse.h"

/* A calendar date as sent; no time zone (RFC 9051 6.4.4 compares
 * dates in the server's notion of the message's date). */
struct imap_date {
	int year, month, day;	/* month 1-12 */
};

/* date-time (APPEND, RFC 9051 9): the date, the time and the zone. */
struct imap_date_time {
	struct imap_date d;
	int hour, min, sec;
	int zone_min;		/* east of UTC, minutes: +0130 is 90 */
};

/* imap_date_parse: date-text "1-Feb-1994" (day 1 or 2 digits, month
 * any case, 4-digit year, a day that exists).  0, or -1. */
int imap_date_parse(struct span s, struct imap_date *out)
    __attribute__((warn_unused_result));
/* imap_date_time_parse: the inside of a date-time's quotes,
 * "17-Jul-1996 02:44:25 -0700" (the day may be " 7" or "07"). */
int imap_date_time_parse(struct span s, struct imap_date_time *out)
    __attribute__((warn_unused_result));
/* imap_date_days: days since 1970-01-01 (for comparing dates). */
int64_t imap_date_days(const struct imap_date *d);

enum imap_skey {
	IMAP_SK_AND = 0,	/* root and "(...)": every child matches */
	IMAP_SK_OR,		/* two children */
	IMAP_SK_NOT,		/* one child */
	IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT,
	IMAP_SK_FLAGGED, IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT,
	IMAP_SK_SEEN, IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED,
	IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED, IMAP_SK_UNSEEN,
	IMAP_SK_SAVEDATESUPPORTED,
	/* str: the string */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM,
	IMAP_SK_SUBJECT, IMAP_SK_TEXT, IMAP_SK_TO,
	IMAP_SK_HEADER,		/* field: the header name; str: value */
	IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,	/* str: the keyword */
	/* date */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,
	IMAP_SK_SAVEDBEFORE, IMAP_SK_SAVEDON, IMAP_SK_SAVEDSINCE,
	/* num */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,
	IMAP_SK_OLDER, IMAP_SK_YOUNGER,	/* seconds (RFC 5032) */
	IMAP_SK_MODSEQ,		/* num; field: entry name; entry_type */
	/* str: a sequence-set (imap_seq_parse it against the mailbox;
	 * it may be "$") */
	IMAP_SK_SEQSET, IMAP_SK_UID,
	IMAP_SK_EMAILID, IMAP_SK_THREADID,	/* str: objectid */
	IMAP_SK_MAX
};

enum imap_entry_type {
	IMAP_ENTRY_NONE = 0, IMAP_ENTRY_PRIV, IMAP_ENTRY_SHARED,
	IMAP_ENTRY_ALL,
};

/* One node.  Nodes are stored in pre-order: AND, OR and NOT are
 * followed by their skip descendants, n_kids of them direct. */
struct imap_snode {
	enum imap_skey key;
	struct span str;	/* points into the command's arguments */
	struct span field;	/* HEADER name; MODSEQ entry ("/flags/\Seen") */
	uint64_t num;
	struct imap_date date;
	enum imap_entry_type entry_type;
	size_t n_kids, skip;
};

#define IMAP_SRET_MIN	0x01
#define IMAP_SRET_MAX	0x02
#define IMAP_SRET_ALL	0x04
#define IMAP_SRET_COUNT	0x08
#define IMAP_SRET_SAVE	0x10

enum imap_charset {
	IMAP_CHARSET_NONE = 0,	/* not given: US-ASCII, or UTF-8 under
				 * IMAP4rev2 and UTF8=ACCEPT */
	IMAP_CHARSET_UTF8,
	IMAP_CHARSET_ASCII,
};

/* The parsed command.  nodes[0] is the root AND. */
struct imap_search {
	struct imap_snode *nodes;	/* caller's array of cap slots */
	size_t n, cap;
	int esearch;		/* RETURN (...) given: answer ESEARCH */
	unsigned ret;		/* IMAP_SRET_*; RETURN () means ALL */
	enum imap_charset charset;
	int uses_saved;		/* "$" appears (RFC 5182) */
	int uses_modseq;	/* MODSEQ appears (CONDSTORE, RFC 7162 3.1.5) */
};

struct imap_search_err {
	int no;			/* 1: answer NO (BADCHARSET), else BAD */
	const char *text;	/* static */
	const char *resp_code;	/* static or NULL:
				 * "BADCHARSET (UTF-8 US-ASCII)" */
};

#define IMAP_SEARCH_DEPTH_MAX	32	/* NOT, OR and ( ) nesting */
#define IMAP_SEARCH_SEQ_ITEMS	1024	/* items in one sequence set */

/*
 * imap_search_parse: args are SEARCH's arguments (after "SEARCH", or
 * after "UID SEARCH"): [RETURN (opts)] [CHARSET cs] key *(key).  Fills
 * *out using nodes[0..cap).  Strings stay in the parser's memory: the
 * result is valid as long as the struct imap_cmd is.  A literal that
 * went to the sink is refused.  0, or -1 with *err.
 */
int imap_search_parse(struct imap_args args, struct imap_snode *nodes,
    size_t cap, struct imap_search *out, struct imap_search_err *err)
    __attribute__((warn_unused_result));

/* imap_skey_name: "FROM", ... (for logs and tests). */
const char *imap_skey_name(enum imap_skey k);

#endif
