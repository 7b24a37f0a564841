/* libFuzzer target for the IMAP command reader: random chunk splits must agree with one feed. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: imapd/imap_args.c imapd/imap_parse.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FNV-1a over everything observable. */
struct trace {
	uint64_t h, sink_h;
	int sink_mode;		/* 0 accept, 1 refuse BEGIN, 2 fail DATA */
	int in_lit;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		*h = (*h ^ *b++) * 1099511628211ULL;
}

static void
mix_u(uint64_t *h, uint64_t v)
{
	mix(h, &v, sizeof(v));
}

static int
sink(void *ctx, enum imap_sink_ev ev, const struct imap_lit_info *li,
    struct span data)
{
	struct trace *t = ctx;

	/* DATA pieces depend on chunking: hash their bytes only. */
	if (ev != IMAP_SINK_DATA) {
		mix_u(&t->sink_h, 1000 + ev);
		mix_u(&t->sink_h, li->index);
		mix_u(&t->sink_h, li->size);
	}
	if (ev == IMAP_SINK_BEGIN) {
		if (t->in_lit)
			abort();
		t->in_lit = 1;
	} else if (!t->in_lit)
		abort();
	if (ev == IMAP_SINK_END || ev == IMAP_SINK_ABORT)
		t->in_lit = 0;
	if (ev == IMAP_SINK_BEGIN && t->sink_mode == 1)
		return t->in_lit = 0, -1;
	/* A failing DATA: how much it was offered depends on the split. */
	if (ev == IMAP_SINK_DATA && t->sink_mode == 2 && data.n > 0)
		return t->in_lit = 0, -1;
	mix(&t->sink_h, data.p, data.n);
	return 0;
}

static void
inside(const struct imap_parser *ps, struct span s)
{
	if (s.n && (s.p < ps->mem || s.p + s.n > ps->mem + ps->memsize))
		abort();
}

/* Kept literal bytes: each within max_inline, all within
 * max_inline_total (past it a literal goes to the sink). */
static size_t
kept_bytes(const struct imap_parser *ps, struct imap_args s)
{
	const struct imap_arg *a;
	size_t n = 0;

	for (a = imap_args_at(s, 0); a != NULL; a = imap_args_next(s, a)) {
		if (a->type == IMAP_ARG_LIST)
			n += kept_bytes(ps, imap_arg_items(a));
		if (a->type != IMAP_ARG_LITERAL)
			continue;
		if (a->flags & IMAP_ARG_F_STREAMED) {
			if (a->s.n != 0)
				abort();
			continue;
		}
		if (a->s.n != a->size || a->size > ps->lim.max_inline)
			abort();
		n += a->s.n;
	}
	return n;
}

static void
hash_args(uint64_t *h, const struct imap_parser *ps, struct imap_args s)
{
	const struct imap_arg *a;
	size_t count = 0;

	for (a = imap_args_at(s, 0); a != NULL; a = imap_args_next(s, a)) {
		count++;
		mix_u(h, a->type);
		mix_u(h, a->flags);
		mix_u(h, a->size);
		mix_u(h, a->s.n);
		inside(ps, a->s);
		mix(h, a->s.p, a->s.n);
		if (a->type == IMAP_ARG_LIST) {
			if (imap_args_count(imap_arg_items(a)) != a->n_items)
				abort();
			hash_args(h, ps, imap_arg_items(a));
		}
	}
	if (count != imap_args_count(s))
		abort();
}

static uint64_t
run(const uint8_t *p, size_t n, const struct imap_parse_limits *lim,
    const uint8_t *steps, size_t nsteps, int sink_mode, uint64_t *sink_h)
{
	static uint8_t mem[4096];
	static struct imap_arg args[32];
	struct imap_parser ps;
	struct trace t = { 14695981039346656037ULL, 14695981039346656037ULL,
	    sink_mode, 0 };
	size_t off = 0, k = 0;

	if (imap_parse_init(&ps, lim, mem, sizeof(mem), args) != 0)
		abort();
	imap_parse_set_sink(&ps, sink, &t);
	while (off < n) {
		size_t len = nsteps ? (size_t)steps[k++ % nsteps] % 9 + 1 :
		    n - off, used;
		struct imap_cmd cmd;
		struct imap_err err;
		enum parse_rc rc;

		if (len > n - off)
			len = n - off;
		rc = imap_parse_feed(&ps, span_make(p + off, len), &used, &cmd,
		    &err);
		if (used > len)
			abort();
		off += used;
		/* How many PARSE_MOREs there are depends on the split. */
		if (rc != PARSE_MORE)
			mix_u(&t.h, rc);
		if (rc == PARSE_OK) {
			inside(&ps, cmd.tag);
			inside(&ps, cmd.name);
			mix(&t.h, cmd.tag.p, cmd.tag.n);
			mix(&t.h, cmd.name.p, cmd.name.n);
			mix_u(&t.h, cmd.n_literals);
			mix_u(&t.h, cmd.n_streamed);
			hash_args(&t.h, &ps, cmd.args);
			if (kept_bytes(&ps, cmd.args) > lim->max_inline_total)
				abort();
		} else if (rc == PARSE_ERR || rc == PARSE_FATAL) {
			if (err.code == IMAP_ERR_NONE || err.text == NULL)
				abort();
			mix_u(&t.h, err.code);
			mix_u(&t.h, err.has_tag);
			if (err.has_tag)
				mix(&t.h, err.tag.p, err.tag.n);
			if (rc == PARSE_FATAL)
				break;
		} else if (imap_parse_need_cont(&ps, NULL)) {
			mix_u(&t.h, 77);
		} else if (used != len) {
			abort();
		}
	}
	imap_parse_reset(&ps);
	if (t.in_lit)
		abort();
	*sink_h = t.sink_h;
	return t.h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parse_limits lim;
	uint64_t a, b, sa, sb;
	uint8_t ctl;

	if (size < 4)
		return 0;
	ctl = data[0];
	imap_parse_limits_default(&lim);
	lim.max_line = 200;
	lim.max_inline = ctl & 0x08 ? 0 : 32;
	lim.max_inline_total = 256;
	lim.max_literal = 5000;
	lim.max_depth = 4;
	lim.max_args = 32;
	lim.litmode = (enum imap_litmode)(ctl % 3);
	lim.utf8 = (ctl >> 2) & 1;
	/* data[1..3]: chunk sizes for the split run. */
	a = run(data + 4, size - 4, &lim, NULL, 0, (ctl >> 4) % 3, &sa);
	b = run(data + 4, size - 4, &lim, data + 1, 3, (ctl >> 4) % 3, &sb);
	if (a != b || sa != sb)
		abort();
	return 0;
}
