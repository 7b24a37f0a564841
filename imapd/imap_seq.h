/* IMAP sequence sets (RFC 9051 9 sequence-set, RFC 5182 "$"): parsing, normalising, membership, iteration. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_SEQ_H
#define LB_IMAP_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* An inclusive range, lo <= hi, both >= 1. */
struct imap_seq_range {
	uint32_t lo, hi;
};

/*
 * A normalised set: n ranges sorted by lo, none overlapping or touching
 * (2:4,5:6 becomes 2:6).  The range array (cap slots) belongs to the
 * caller.  saved is 1 for "$": the set is the last saved SEARCH result
 * (RFC 5182), which the caller substitutes; n is then 0.
 */
struct imap_seq {
	struct imap_seq_range *r;
	size_t n, cap;
	int saved;
};

void imap_seq_init(struct imap_seq *s, struct imap_seq_range *r, size_t cap);

/*
 * imap_seq_parse: parse text (an atom's bytes) as a sequence-set into s.
 * "*" stands for max, the largest number in use (RFC 9051 9 seq-number);
 * a range takes its ends in either order (seq-range), so with 15
 * messages "12:*" is 12:15 and "20:*" is 15:20 (RFC 9051 6.4.9: it
 * always includes the last message).  With max == 0 (empty mailbox)
 * "*" matches nothing: "*" alone gives an empty set and "n:*" gives
 * 1:n, which holds no existing message.  "$" is accepted alone, and
 * only when allow_saved (RFC 5182 2.1: it stands instead of a set).
 * Each comma-separated item needs one slot before merging: more than
 * s->cap items fail.  0, or -1 with a static *why_out.
 */
int imap_seq_parse(struct imap_seq *s, struct span text, uint32_t max,
    int allow_saved, const char **why_out)
    __attribute__((warn_unused_result));

/* imap_seq_valid: 1 if text is a sequence-set ("$" only when
 * allow_saved), of at most max_items items; for parsers that resolve
 * "*" later (SEARCH). */
int imap_seq_valid(struct span text, int allow_saved, size_t max_items);

/* imap_seq_add: add lo:hi (either order, both >= 1) and renormalise;
 * -1 if no slot is left (s unchanged). */
int imap_seq_add(struct imap_seq *s, uint32_t lo, uint32_t hi)
    __attribute__((warn_unused_result));

/* imap_seq_contains: 1 if v is in s (binary search). */
int imap_seq_contains(const struct imap_seq *s, uint32_t v);
/* imap_seq_count: how many numbers s holds. */
uint64_t imap_seq_count(const struct imap_seq *s);
/* imap_seq_min / imap_seq_max: 0 when s is empty. */
uint32_t imap_seq_min(const struct imap_seq *s);
uint32_t imap_seq_max(const struct imap_seq *s);

/* Ascending iteration: for (imap_seq_iter_init(&it);
 * imap_seq_iter_next(s, &it, &v);) ... */
struct imap_seq_iter {
	size_t i;
	uint64_t next;
};
void imap_seq_iter_init(struct imap_seq_iter *it);
int imap_seq_iter_next(const struct imap_seq *s, struct imap_seq_iter *it,
    uint32_t *v_out);

#endif
