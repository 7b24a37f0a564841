/* Decoding RFC 2047 encoded words and legacy charsets to UTF-8 (SEARCH, SORT, RFC 2231 parameters). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_RFC2047_H
#define LB_RFC2047_H

#include <stddef.h>

#include "common/buf.h"

/*
 * rfc2047_decode: append in to out with every RFC 2047 encoded word
 * ("=?charset[*lang]?B|Q?text?=") decoded to UTF-8.  Whitespace between
 * two adjacent encoded words is dropped (RFC 2047 6.2), and adjacent
 * words in one charset are decoded together, so a character split
 * across words survives.  A word that is malformed, in an unknown
 * charset, or whose bytes are invalid in its charset is copied as it
 * is, together with the words joined to it.  Everything else is copied
 * unchanged (it may be any bytes, NUL included).  Words are accepted
 * anywhere, also inside longer tokens and past 75 octets, as mailers
 * produce them.  Returns 0, or -1 if out's cap was reached (out then
 * holds a prefix of the result).  No I/O except what iconv_open(3) does
 * to load a converter for a charset not handled natively.
 */
int rfc2047_decode(struct span in, struct buf *out)
    __attribute__((warn_unused_result));

/*
 * rfc2047_to_utf8: append the bytes in, written in charset (a MIME
 * charset name, any case), converted to UTF-8.  Native: UTF-8 (checked),
 * US-ASCII, ISO-8859-1, ISO-8859-15 and Windows-1252; any other name
 * goes through iconv(3).  Returns 0, or -1 with out unchanged if the
 * charset is unknown, the input invalid in it, or out's cap is reached.
 */
int rfc2047_to_utf8(struct span charset, struct span in, struct buf *out)
    __attribute__((warn_unused_result));

/* rfc2047_utf8_valid: 1 if s is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF), else 0. */
int rfc2047_utf8_valid(struct span s);

#endif
