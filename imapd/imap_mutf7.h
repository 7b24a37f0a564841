/* Modified UTF-7 mailbox names (RFC 3501 5.1.3, RFC 9051 Appendix A.1) to and from UTF-8. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_MUTF7_H
#define LB_IMAP_MUTF7_H

#include "common/buf.h"

/*
 * The index keeps mailbox names in UTF-8 (docs/store.md); an IMAP4rev1
 * session that enabled neither IMAP4rev2 nor UTF8=ACCEPT names them in
 * modified UTF-7.  Both functions are pure: no I/O, no allocation but
 * out's growth (bounded by out->max).
 */

/*
 * imap_mutf7_encode: the UTF-8 text in as modified UTF-7, appended to
 * out: printable US-ASCII but "&" as itself, "&" as "&-", every other
 * character as UTF-16 in modified base64 ("," for "/") between "&" and
 * "-".  0, or -1 (out as it was) if in is not UTF-8 (overlong forms,
 * surrogates, past U+10FFFF, a cut sequence, NUL) or out is full.
 */
int imap_mutf7_encode(struct span in, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * imap_mutf7_decode: the modified UTF-7 text in as UTF-8, appended to
 * out.  0, or -1 (out as it was) if in is not modified UTF-7 as RFC 9051
 * A.1 has it: a byte outside 0x20-0x7e, base64 outside the alphabet or
 * not closed by "-", leftover bits that are not zero or make a whole
 * byte, an empty or null shift ("&-" is "&", but "-&" right after a
 * base64 run is not allowed), an encoded printable US-ASCII character,
 * an unpaired surrogate, or NUL.  out is full: -1 too.  The UTF-8 is
 * at most 9/8 of in's length (three bytes for 16 bits, which take 8/3
 * base64 characters).
 */
int imap_mutf7_decode(struct span in, struct buf *out)
    __attribute__((warn_unused_result));

/* imap_utf8_valid: in is UTF-8 (same rules as imap_mutf7_encode). */
int imap_utf8_valid(struct span in);

#endif
