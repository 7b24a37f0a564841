/* libFuzzer target for the FETCH renderer: any message, parsed as delivery does, rendered every way a client can ask. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: imapd/imap_args.c imapd/imap_render.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/msgcache.h"
#include "imapd/imap_args.h"
#include "imapd/imap_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_plan(struct span blob, struct span msg, struct imap_fetch_item *it,
    struct buf *out)
{
	static struct imap_arg names[2];
	struct imap_args fields = { names, 2 };
	struct imap_plan p;
	struct imap_cte_dec d, c;
	const char *why;
	size_t half;

	if (imap_section_plan(blob, msg.n, it, &p, &why) != 0) {
		if (why == NULL)
			abort();
		return;
	}
	if (p.kind == IMAP_PLAN_NONE)
		return;
	if (p.off > msg.n || p.len > msg.n - p.off)
		abort();
	if (p.kind == IMAP_PLAN_FILTER) {
		names[0].type = IMAP_ARG_ATOM;
		names[0].s = span_cstr("Subject");
		names[1].type = IMAP_ARG_QUOTED;
		names[1].s = span_cstr("content-type");
		buf_reset(out);
		if (imap_header_filter(span_make(msg.p + p.off, p.len),
		    fields, it->n_part & 1, out) == 0 &&
		    (out->len < 2 || out->len > p.len + 2))
			abort();
	}
	if (p.kind == IMAP_PLAN_DECODE) {
		/* whole and in two pieces: the same bytes */
		imap_cte_dec_init(&d, p.cte);
		imap_cte_dec_init(&c, p.cte);
		buf_reset(out);
		if (imap_cte_dec_feed(&d, span_make(msg.p + p.off, p.len), 1,
		    out) != 0)
			return;
		half = p.len / 2;
		if (imap_cte_dec_feed(&c, span_make(msg.p + p.off, half), 0,
		    NULL) != 0 || imap_cte_dec_feed(&c, span_make(msg.p +
		    p.off + half, p.len - half), 1, NULL) != 0)
			abort();
		if (c.n_out != d.n_out || d.n_out != out->len ||
		    c.has_nul != d.has_nul)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgcache_parser *ps;
	struct imap_fetch_item it;
	struct buf blob, out;
	struct span b, msg = span_make(data, size);
	uint32_t i, n, a;

	ps = msgcache_parser_new();
	msgcache_feed(ps, msg);
	buf_init(&blob, 1024, 1 << 22);
	buf_init(&out, 1024, 1 << 22);
	if (msgcache_finish(ps, &blob) != 0)
		abort();
	msgcache_parser_free(&ps);
	b = buf_view(&blob);
	if (imap_render_body(b, 1, 0, &out) != 0 ||
	    imap_render_body(b, 0, 1, &out) != 0 ||
	    imap_render_envelope(b, 0, 0, &out) != 0)
		abort();
	n = msgcache_n_parts(b);
	for (i = 0; i < n && i < 64; i++) {
		buf_reset(&out);
		(void)imap_render_envelope(b, i, i & 1, &out);
	}
	memset(&it, 0, sizeof(it));
	for (a = 0; a < 3; a++) {
		it.att = a == 0 ? IMAP_FA_BODY_SECTION : a == 1 ?
		    IMAP_FA_BINARY : IMAP_FA_RFC822_TEXT;
		for (it.sect = IMAP_FS_NONE; it.sect <= IMAP_FS_MIME;
		    it.sect++) {
			it.n_part = 0;
			check_plan(b, msg, &it, &out);
			for (i = 1; i <= 4; i++) {
				it.part[0] = i;
				it.part[1] = 1 + (i & 1);
				it.n_part = 1 + (i > 2);
				check_plan(b, msg, &it, &out);
			}
		}
	}
	buf_fini(&blob);
	buf_fini(&out);
	return 0;
}
