/* Raw DEFLATE both ways over byte buffers, for IMAP COMPRESS (RFC 4978). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_ZIO_H
#define LB_ZIO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * One connection's compression state: an inflater for what the peer
 * sends and a deflater for what we send, both raw DEFLATE (RFC 1951: no
 * zlib or gzip header, windowBits -15/-12 in zlib's terms).  No I/O, no
 * logging: bytes in, bytes out.  common/cio.c puts it between the
 * protocol and TLS.
 *
 * Memory (zlib 1.2.13, measured by zio_mem, see docs/imapd.md): the
 * inflater must take any window the peer chose, up to 32 KiB, so it
 * holds about 7 KiB of state plus a 32 KiB window once it has produced
 * output.  RFC 4978 3 lets each side pick its own compression, so the
 * deflater uses a 4 KiB window and memLevel 5: about 38 KiB, and none
 * after zio_trim until the next zio_deflate.
 */
struct zio;

enum zio_flush {
	ZIO_NONE,	/* zlib may keep the bytes back for a better result */
	ZIO_SYNC,	/* Z_SYNC_FLUSH: the peer can decode all of it now */
};

/* zio_new: both streams ready.  Never NULL (allocation failure is
 * fatal). */
struct zio *zio_new(void);
/* zio_free: free everything; sets *zp NULL. */
void zio_free(struct zio **zp);

/*
 * zio_inflate: decompress from in into out, at most room bytes.
 * *used_out: bytes of in consumed (the rest must be offered again);
 * *made_out: bytes written to out.  0 made is normal (more input or
 * more room needed).  Never writes past room, so however much a small
 * input would expand to (a "bomb"), it comes out room bytes at a time,
 * only as fast as the caller makes room: the caller's own limits apply
 * to it as to uncompressed input.  Call again with in empty while
 * zio_inflate_more says so.  -1 on a corrupt stream or on input after
 * the stream's final block; *why_out is then a static string and the
 * stream cannot be used any more.
 */
int zio_inflate(struct zio *z, struct span in, size_t *used_out,
    uint8_t *out, size_t room, size_t *made_out, const char **why_out)
    __attribute__((warn_unused_result));
/* zio_inflate_more: 1 if the last zio_inflate filled all of its room, so
 * output may be waiting inside the inflater. */
int zio_inflate_more(const struct zio *z);

/*
 * zio_deflate: compress in onto the end of out.  With ZIO_SYNC every
 * byte given so far is in out, ending on a byte boundary (an empty
 * stored block).  -1 if out would pass its max; then part of the data
 * may have been taken and the stream is broken: close the connection.
 */
int zio_deflate(struct zio *z, struct span in, enum zio_flush flush,
    struct buf *out) __attribute__((warn_unused_result));
/* zio_deflate_bound: at most how much one zio_deflate of n bytes (any
 * flush) may add to out. */
size_t zio_deflate_bound(const struct zio *z, size_t n);

/*
 * zio_trim: the output is likely to stay quiet (IMAP IDLE): free the
 * deflater at the next ZIO_SYNC (now if nothing is pending).  The next
 * zio_deflate starts a new one.  The peer sees one valid stream: after
 * a sync flush no block is open and no final block was sent, and a new
 * deflater only refers back to its own output.  Costs the dictionary.
 */
void zio_trim(struct zio *z);

/* zio_mem: bytes zlib holds right now for z (both streams). */
size_t zio_mem(const struct zio *z);

#endif
