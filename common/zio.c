/* Raw DEFLATE both ways over byte buffers (zlib), for IMAP COMPRESS. */
/* SPDX-License-Identifier: ISC */
#define ZLIB_CONST
#include "common/zio.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/log.h"
#include "common/xmem.h"

/*
 * Our own output: RFC 4978 3 leaves "the best reasonable rate" to each
 * sender, and 4 suggests a level between 1 and 5.  A 4 KiB window
 * (windowBits -12) with memLevel 5 costs about 38 KiB instead of the
 * default's 268 KiB; IMAP responses repeat within a few KiB, so little
 * is lost.  The inflater must take any window (-15).
 */
#define ZIO_LEVEL 5
#define ZIO_WBITS 12
#define ZIO_MEMLEVEL 5
#define ZIO_OUT_MIN 512
#define ZIO_MAX_CALL (1U << 30)	/* zlib counts in uInt */

struct zio {
	z_stream i, d;
	int d_on;		/* the deflater exists (see zio_trim) */
	int d_dirty;		/* taken without a sync flush since */
	int d_trim;		/* free it at the next sync flush */
	int i_more, i_end, i_broken;
	size_t mem;
};

/* zlib's memory goes through here so that zio_mem can tell. */
union zio_hdr {
	size_t n;
	max_align_t align;
};

static voidpf
zio_alloc(voidpf opaque, uInt items, uInt size)
{
	struct zio *z = opaque;
	size_t n = (size_t)items * size;
	union zio_hdr *h = xmalloc(sizeof(*h) + n);

	h->n = n;
	z->mem += n;
	return h + 1;
}

static void
zio_release(voidpf opaque, voidpf p)
{
	struct zio *z = opaque;
	union zio_hdr *h = (union zio_hdr *)p - 1;

	z->mem -= h->n;
	free(h);
}

static void
zio_deflate_start(struct zio *z)
{
	memset(&z->d, 0, sizeof(z->d));
	z->d.zalloc = zio_alloc;
	z->d.zfree = zio_release;
	z->d.opaque = z;
	/* negative windowBits: raw DEFLATE, no zlib header (RFC 4978 4) */
	if (deflateInit2(&z->d, ZIO_LEVEL, Z_DEFLATED, -ZIO_WBITS,
	    ZIO_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		fatal("zio: deflateInit2 failed");
	z->d_on = 1;
	z->d_dirty = z->d_trim = 0;
}

static void
zio_deflate_end(struct zio *z)
{
	if (!z->d_on)
		return;
	/* Z_DATA_ERROR here only says the stream was not finished */
	(void)deflateEnd(&z->d);
	z->d_on = z->d_dirty = z->d_trim = 0;
}

struct zio *
zio_new(void)
{
	struct zio *z = xcalloc(1, sizeof(*z));

	z->i.zalloc = zio_alloc;
	z->i.zfree = zio_release;
	z->i.opaque = z;
	if (inflateInit2(&z->i, -15) != Z_OK)
		fatal("zio: inflateInit2 failed");
	return z;
}

void
zio_free(struct zio **zp)
{
	struct zio *z = *zp;

	if (z == NULL)
		return;
	*zp = NULL;
	zio_deflate_end(z);
	(void)inflateEnd(&z->i);
	BUG_ON(z->mem != 0);
	free(z);
}

int
zio_inflate(struct zio *z, struct span in, size_t *used_out,
    uint8_t *out, size_t room, size_t *made_out, const char **why_out)
{
	int had_more = z->i_more, rc;
	uInt in_n, out_n;

	*used_out = *made_out = 0;
	*why_out = NULL;
	if (z->i_broken) {
		*why_out = "compressed stream unusable";
		return -1;
	}
	if (z->i_end) {
		if (in.n == 0)
			return 0;
		/* the peer sent a final block: nothing may follow it */
		z->i_broken = 1;
		*why_out = "data after the end of the compressed stream";
		return -1;
	}
	if (room == 0 || (in.n == 0 && !had_more))
		return 0;
	in_n = in.n > ZIO_MAX_CALL ? ZIO_MAX_CALL : (uInt)in.n;
	out_n = room > ZIO_MAX_CALL ? ZIO_MAX_CALL : (uInt)room;
	z->i.next_in = in.p;
	z->i.avail_in = in_n;
	z->i.next_out = out;
	z->i.avail_out = out_n;
	rc = inflate(&z->i, Z_SYNC_FLUSH);
	*used_out = in_n - z->i.avail_in;
	*made_out = out_n - z->i.avail_out;
	z->i_more = z->i.avail_out == 0;
	switch (rc) {
	case Z_OK:
	case Z_BUF_ERROR:	/* no progress possible: not an error */
		return 0;
	case Z_STREAM_END:
		z->i_end = 1;
		z->i_more = 0;
		return 0;
	case Z_DATA_ERROR:
		/* zlib's messages are static strings */
		*why_out = z->i.msg != NULL ? z->i.msg : "corrupt data";
		break;
	case Z_MEM_ERROR:
		*why_out = "out of memory";
		break;
	default:
		*why_out = "inflate failed";
		break;
	}
	z->i_broken = 1;
	z->i_more = 0;
	*made_out = 0;	/* nothing of a corrupt stream is trusted */
	return -1;
}

int
zio_inflate_more(const struct zio *z)
{
	return z->i_more;
}

int
zio_deflate(struct zio *z, struct span in, enum zio_flush flush,
    struct buf *out)
{
	const uint8_t *p = in.p;
	size_t left = in.n;

	if (left == 0 && (flush == ZIO_NONE || !z->d_dirty)) {
		if (flush == ZIO_SYNC && z->d_trim)
			zio_deflate_end(z);
		return 0;
	}
	if (!z->d_on)
		zio_deflate_start(z);
	do {
		uInt chunk = left > ZIO_MAX_CALL ? ZIO_MAX_CALL : (uInt)left;
		int zf = chunk == left && flush == ZIO_SYNC ? Z_SYNC_FLUSH :
		    Z_NO_FLUSH;

		z->d.next_in = p;
		z->d.avail_in = chunk;
		do {
			size_t room = out->max - out->len, want;
			uint8_t *o;

			/* about what this input needs: out's capacity stays
			 * small for an idle connection (buffers never shrink);
			 * a block zlib had kept back takes more rounds */
			want = (size_t)z->d.avail_in + z->d.avail_in / 8 +
			    ZIO_OUT_MIN;
			if (room > want)
				room = want;
			if (room == 0 || (o = buf_reserve(out, room)) == NULL)
				return -1;
			z->d.next_out = o;
			z->d.avail_out = (uInt)room;
			if (deflate(&z->d, zf) == Z_STREAM_ERROR)
				return -1;
			buf_commit(out, room - z->d.avail_out);
		} while (z->d.avail_in > 0 || z->d.avail_out == 0);
		p += chunk;
		left -= chunk;
	} while (left > 0);
	z->d_dirty = flush == ZIO_NONE;
	if (flush == ZIO_SYNC && z->d_trim)
		zio_deflate_end(z);
	return 0;
}

size_t
zio_deflate_bound(const struct zio *z, size_t n)
{
	/* at worst 9 bits a byte (fixed codes), block headers and stored
	 * block overhead, plus what the deflater still holds from earlier
	 * calls: 2 KiB symbols, the 4 KiB window's lookahead, 8 KiB of
	 * pending output */
	return n + n / 8 + 16384 + 64;
}

void
zio_trim(struct zio *z)
{
	if (!z->d_on)
		return;
	if (z->d_dirty)
		z->d_trim = 1;
	else
		zio_deflate_end(z);
}

size_t
zio_mem(const struct zio *z)
{
	return z->mem;
}
