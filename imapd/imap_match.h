/* Running a parsed SEARCH on one message, and SORT and THREAD (RFC 9051 6.4.4, RFC 5256, RFC 5957). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_MATCH_H
#define LB_IMAP_MATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/mailidx.h"
#include "imapd/imap_search.h"
#include "imapd/imap_seq.h"

/*
 * Pure: what the session knows of a message is passed in, and message
 * file bytes are read through a callback, only when a key needs them
 * (BODY, TEXT, HEADER of a field the blob does not hold, or a message
 * without a cache blob).  Keys that the index answers (flags, UID, sizes,
 * dates, MODSEQ) never read the file, so `SEARCH UNSEEN` on 100k messages
 * reads no file.
 *
 * Text keys (RFC 9051 6.4.4): substring match, case-insensitive on the
 * decoded text: RFC 2047 encoded words in headers, base64 and
 * quoted-printable bodies of text parts, charsets converted to UTF-8
 * (common/rfc2047.h knows which), case folded for ASCII, Latin-1,
 * Latin Extended-A, Greek and Cyrillic letters (the table is in
 * imap_match_text.c).  Header text is unfolded and its white space runs
 * count as one space.  FROM/TO/CC/BCC search "Name <local@domain>, ...".
 * HEADER of Subject, Date, Message-ID and In-Reply-To is answered from
 * the blob; HEADER of any other field, BODY and TEXT read the file in
 * 16 KiB chunks through a sliding window (memory does not grow with the
 * message).  A message without a usable blob has its header and MIME
 * structure parsed from the file on first need, so results are the
 * same.  docs/imapd.md "SEARCH, SORT and THREAD" has the details.
 */

/* imap_match_read_fn: read up to len bytes at off of the message (the
 * RFC 5322 message, offsets as in the msgcache blob); the number read
 * (0 at end), or -1. */
typedef ssize_t (*imap_match_read_fn)(void *arg, uint64_t off, void *buf,
    size_t len);

struct imap_match_msg {
	uint32_t seq;			/* message sequence number */
	const struct mailidx_msg *m;	/* uid, flags, keywords, sizes,
					 * dates, modseq, ids */
	int recent;			/* \Recent in this session */
	struct span blob;		/* msgcache blob; empty: none */
	imap_match_read_fn read;	/* the message file */
	void *read_arg;
};

struct imap_match_ctx {
	const struct imap_search *s;
	uint32_t n_msgs;		/* "*" in a sequence set */
	uint32_t max_uid;		/* "*" in a UID set */
	const struct imap_seq *saved;	/* "$": the saved result as UIDs
					 * (NULL: empty) */
	/* keyword name -> id in the user's keyword table; -1: no such
	 * keyword (KEYWORD x then matches nothing, UNKEYWORD x all) */
	int (*keyword_id)(void *arg, struct span name);
	void *keyword_arg;
	int64_t now;			/* unix seconds (OLDER, YOUNGER) */
	int zone_min;			/* the server's zone for date keys,
					 * minutes east of UTC */
};

/* imap_match: 1 if the message matches, 0 if not, -1 if a file read
 * failed (the session answers NO). */
int imap_match(const struct imap_match_ctx *c, const struct imap_match_msg *msg);

/* imap_match_needs_file: 1 if any key may need the message file even
 * with a cache blob (BODY, TEXT, HEADER). */
int imap_match_needs_file(const struct imap_search *s);

/*
 * Object ids (RFC 8474): EMAILID is "M" and THREADID "T" followed by
 * the 64-bit id as 16 lowercase hex digits ("M00000000000004d2").
 * imap_objectid_fmt writes that form (NUL-terminated) and returns its
 * length; FETCH renders ids with it so that SEARCH EMAILID matches.
 */
#define IMAP_OBJECTID_LEN 17
size_t imap_objectid_fmt(char out[IMAP_OBJECTID_LEN + 1], char kind,
    uint64_t id);

/* ---- SORT (RFC 5256, RFC 5957) ---- */

enum imap_sort_key {
	IMAP_SORT_ARRIVAL = 0, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM,
	IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
};
#define IMAP_SORT_KEYS_MAX 16

struct imap_sort_crit {
	enum imap_sort_key key[IMAP_SORT_KEYS_MAX];
	int reverse[IMAP_SORT_KEYS_MAX];
	size_t n;
};

/* imap_sort_parse: the sort-criteria list "(REVERSE DATE SUBJECT)".
 * 0, or -1 with a static *why. */
int imap_sort_parse(const struct imap_arg *list, struct imap_sort_crit *out,
    const char **why) __attribute__((warn_unused_result));

/* imap_base_subject: RFC 5256 2.1 base subject of a raw Subject value
 * (encoded words decoded, case folded as the comparison needs) appended
 * to out; *is_reply_or_fwd set as section 2.1 step 6 says. */
int imap_base_subject(struct span subject, struct buf *out,
    int *is_reply_or_fwd) __attribute__((warn_unused_result));

/* One message to sort or thread: as for matching. */
struct imap_sort_msg {
	struct imap_match_msg mm;
};

/* imap_sort: order msgs[0..n) by crit (ties: by sequence number, RFC
 * 5256 3); writes the permutation into order (n slots, indexes into
 * msgs).  0, or -1 (memory, file read). */
int imap_sort(const struct imap_sort_crit *crit,
    const struct imap_sort_msg *msgs, size_t n, size_t *order);

/* ---- THREAD (RFC 5256) ---- */

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT = 0, IMAP_THREAD_REFERENCES,
};

/* imap_thread_alg_parse: the thread-alg atom (any case); 0, or -1 for
 * an algorithm we do not have (RFC 5256: answer BAD). */
int imap_thread_alg_parse(const struct imap_arg *a,
    enum imap_thread_alg *out) __attribute__((warn_unused_result));

/* imap_thread: thread msgs[0..n) and append the thread-list response
 * data ("(2)(3 6 (4 23)(44 7 96))") to out, with sequence numbers or
 * (uid 1) UIDs.  References and Message-ID not in the blob are read
 * from the message header.  0, or -1. */
int imap_thread(enum imap_thread_alg alg, const struct imap_sort_msg *msgs,
    size_t n, int uid, struct buf *out) __attribute__((warn_unused_result));

#endif
