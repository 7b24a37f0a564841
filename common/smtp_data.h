/* The SMTP DATA reader: a pure incremental state machine over the bytes after 354. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_SMTP_DATA_H
#define LB_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

/*
 * Accepts only CRLF line ends.  End of data is exactly CRLF "." CRLF
 * (RFC 5321 4.1.1.4; the CRLF before the dot is the message's last line
 * end); a leading dot of any other line is removed (4.5.2).  A bare CR, a
 * bare LF or a NUL anywhere sets a flag and the reader keeps consuming,
 * still waiting for the one real terminator, so that "<LF>.<LF>" and its
 * variants (SMTP smuggling) can never end the data, and the whole
 * transaction is refused once it does end.  Size is counted on the
 * unstuffed bytes; past max_size a flag is set and output stops.
 */

#define SMTP_DATA_BARE_LF 0x1u
#define SMTP_DATA_BARE_CR 0x2u
#define SMTP_DATA_NUL 0x4u
#define SMTP_DATA_TOO_BIG 0x8u
/* Any of these: the message must be refused; output was stopped. */
#define SMTP_DATA_REFUSE (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR | \
    SMTP_DATA_NUL | SMTP_DATA_TOO_BIG)

struct smtp_data {
	int state;
	unsigned flags;		/* SMTP_DATA_* seen so far */
	uint64_t size;		/* unstuffed bytes of message so far */
	uint64_t max_size;	/* 0: no limit */
};

void smtp_data_init(struct smtp_data *d, uint64_t max_size);

/*
 * smtp_data_feed: consume bytes of in.  Message bytes (unstuffed) are
 * appended to out, which must have room for in.n + 1 bytes (one CR may be
 * held back from an earlier call); *out_len is how many were written.
 *   PARSE_MORE: all of in consumed (*used_out == in.n), not at the end.
 *   PARSE_OK:   the terminator was consumed; *used_out bytes of in were
 *               used and the rest belongs to the next command.
 * Check d->flags & SMTP_DATA_REFUSE at PARSE_OK.
 */
enum parse_rc smtp_data_feed(struct smtp_data *d, struct span in,
    uint8_t *out, size_t *out_len, size_t *used_out);

/*
 * smtp_bdat_scan: the same checks for BDAT chunks (RFC 3030), which are
 * counted, not dot-stuffed: returns SMTP_DATA_BARE_LF, _BARE_CR and _NUL
 * for what in holds.  *prev_cr carries "the last byte was CR" from chunk
 * to chunk; call with in empty at the end of the message to flag a CR
 * that ended it.  Pure.
 */
unsigned smtp_bdat_scan(int *prev_cr, struct span in, int last);

#endif
