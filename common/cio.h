/* One non-blocking socket on the libev loop: capped input, queued output, TLS. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CIO_H
#define LB_CIO_H

#include <stddef.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/linebuf.h"

/*
 * A struct cio owns one connected socket.  Protocol code never sees the
 * fd or libev: it gets events through one callback.  No protocol logic
 * lives here.
 *
 * Input: read into a buffer with a hard cap (in_max).  In line mode each
 * line is reported as CIO_LINE (through linebuf: terminator stripped,
 * flags for bare CR and NUL); a line longer than line_max is thrown away
 * and reported once as CIO_OVERLONG.  In raw mode the bytes are offered as
 * CIO_DATA and the callee says how many it used.
 *
 * Output: cio_write queues bytes (hard cap out_max; compressed once
 * cio_compress is on).  While more than out_hiwat bytes are queued,
 * reading and event delivery stop (back-pressure) until the queue
 * drains to half of that.
 *
 * The callback may call any cio function on c, including cio_free (the
 * object goes away once the callback returns).  CIO_CLOSED is the last
 * event; the owner must then cio_free.  The process must ignore SIGPIPE.
 */
struct cio;

enum cio_event {
	CIO_LINE,	/* data: a line, no terminator; flags, end */
	CIO_OVERLONG,	/* a line past line_max was thrown away; end */
	CIO_DATA,	/* raw mode: data is every buffered byte; set used */
	CIO_DRAINED,	/* every queued byte has been written */
	CIO_TIMEOUT,	/* timeout says which */
	CIO_TLS_READY,	/* the TLS handshake is done */
	CIO_CLOSED,	/* why; nothing follows; the owner frees */
};

enum cio_timeout {
	CIO_TO_IDLE,		/* no input or output progress for idle_s */
	CIO_TO_DEADLINE,	/* the cio_set_deadline time passed */
};

struct cio_ev {
	enum cio_event type;
	struct span data;	/* LINE, DATA: valid during the callback */
	unsigned flags;		/* LINE: LINEBUF_F_* */
	enum linebuf_end end;	/* LINE, OVERLONG */
	size_t used;		/* DATA: the callee sets bytes consumed */
	enum cio_timeout timeout; /* TIMEOUT */
	const char *why;	/* CLOSED: "peer closed", "closed", errors */
};

typedef void cio_fn(struct cio *c, struct cio_ev *ev, void *arg);

/* Limits; a 0 field takes the default shown. */
struct cio_opts {
	size_t in_max;		/* 65536; at least line_max + 2 */
	size_t line_max;	/* 998 (RFC 5321 text line) */
	size_t out_hiwat;	/* 262144 */
	size_t out_max;		/* 16 MiB */
	double idle_s;		/* idle timeout; 0: none */
	double handshake_s;	/* TLS handshake timeout; 30 */
};

/*
 * cio_new: take ownership of fd (a connected socket; made non-blocking
 * here) and start reading in line mode.  Never NULL.
 */
struct cio *cio_new(struct ev_loop *loop, int fd, const struct cio_opts *opts,
    cio_fn *cb, void *arg);
/* cio_free: close the socket and free; sets *cp NULL.  No event follows. */
void cio_free(struct cio **cp);

/* cio_set_raw: 1 raw mode (CIO_DATA), 0 line mode (CIO_LINE). */
void cio_set_raw(struct cio *c, int raw);
/* cio_set_line_max: -1 if max + 2 would not fit in in_max. */
int cio_set_line_max(struct cio *c, size_t max)
    __attribute__((warn_unused_result));
/* cio_pause/resume: stop/restart reading and delivering input (e.g. at a
 * PIPELINING sync point).  Output keeps flowing. */
void cio_pause(struct cio *c);
void cio_resume(struct cio *c);
/* cio_set_idle: idle timeout in seconds (0: none), re-armed by progress. */
void cio_set_idle(struct cio *c, double secs);
/* cio_set_deadline: one CIO_TO_DEADLINE secs from now; 0 cancels. */
void cio_set_deadline(struct cio *c, double secs);

/* cio_write: queue n bytes; -1 (nothing queued) past out_max or once
 * closing. */
int cio_write(struct cio *c, const void *p, size_t n)
    __attribute__((warn_unused_result));
int cio_printf(struct cio *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
/* cio_out_pending: bytes queued and not yet written; with cio_compress
 * also the uncompressed bytes written since the last flush, so that a
 * writer that waits while this is high yields after each batch however
 * well the data compresses. */
size_t cio_out_pending(const struct cio *c);

/* cio_shutdown: stop reading, write what is queued, then close (TLS
 * close_notify, best effort) and report CIO_CLOSED "closed". */
void cio_shutdown(struct cio *c);
/* cio_abort: drop the output and report CIO_CLOSED with why (a static
 * string) as soon as possible. */
void cio_abort(struct cio *c, const char *why);

/*
 * cio_tls_accept: implicit TLS (465, 993, 995): start the server handshake
 * now, right after cio_new.  Output queued before it completes is sent
 * encrypted.  A failed or timed-out handshake ends in CIO_CLOSED.
 * -1 if TLS was already started.
 */
int cio_tls_accept(struct cio *c, SSL_CTX *ctx)
    __attribute__((warn_unused_result));

/*
 * cio_starttls: STARTTLS/STLS.  Call from the callback of the command's
 * line after queueing the plaintext reply ("220 Ready").  The reply is
 * written in plaintext, then the handshake starts.
 * SECURITY: every byte of input that followed the command is thrown away
 * (CVE-2011-0411: commands injected before the handshake must never run
 * as if sent over TLS); *dropped_out tells how many, for the log.
 * -1 if TLS was already started.
 */
int cio_starttls(struct cio *c, SSL_CTX *ctx, size_t *dropped_out)
    __attribute__((warn_unused_result));

/*
 * cio_starttls_client: the client side of STARTTLS: call from the
 * callback that got the server's 220 (RFC 3207 4.2): everything read
 * after it is dropped as cio_starttls does, and the TLS client handshake
 * starts; CIO_TLS_READY follows.  Set SNI or verification on cio_ssl(c)
 * right after.  -1 if TLS was already started.
 */
int cio_starttls_client(struct cio *c, SSL_CTX *ctx, size_t *dropped_out)
    __attribute__((warn_unused_result));
/*
 * cio_compress: IMAP COMPRESS=DEFLATE (RFC 4978).  Call from the callback
 * of the command, after queueing its tagged OK: every byte written from
 * here on is raw DEFLATE (common/zio.h), every byte read is inflated,
 * between the protocol and TLS (RFC 4978 3: compress, then encrypt).
 * Each batch of output (what the callbacks wrote before cio writes to
 * the socket) ends with a sync flush, so the peer can always decode all
 * of it.  Inflated input goes through the same in_max buffer and events
 * as plain input, so every limit the owner applies holds for it too.
 * pending: in raw mode, how many bytes at the end of the CIO_DATA being
 * delivered came after the command; in line mode everything after the
 * current line counts.  Those bytes were sent after the command, so they
 * are inflated too.  A corrupt stream ends in CIO_CLOSED "inflate: ...".
 * -1 if already compressing or TLS is being set up.
 */
int cio_compress(struct cio *c, size_t pending)
    __attribute__((warn_unused_result));
/* cio_compress_active: 1 once cio_compress succeeded. */
int cio_compress_active(const struct cio *c);
/* cio_trim: the connection is likely quiet for a while (IDLE): give
 * back the room of empty buffers and, after the next flush, the
 * compressor's memory (zio_trim).  The next read grows them again.
 * Not from a CIO_DATA callback: its data points into the input. */
void cio_trim(struct cio *c);

/* cio_ssl: the connection's SSL once TLS was started, else NULL. */
SSL *cio_ssl(struct cio *c);

/* cio_tls_active: 1 once the handshake is done. */
int cio_tls_active(const struct cio *c);
/* "TLSv1.3", and the cipher name ("TLS_AES_256_GCM_SHA384"), or NULL. */
const char *cio_tls_version(const struct cio *c);
const char *cio_tls_cipher(const struct cio *c);

#endif
