/* libFuzzer target for SEARCH criteria, FETCH attributes, sequence sets and dates: no crash, and results keep their shape. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: imapd/imap_args.c imapd/imap_parse.c imapd/imap_search.c imapd/imap_seq.c imapd/imap_fetchatt.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_fetchatt.h"
#include "imapd/imap_parse.h"
#include "imapd/imap_search.h"
#include "imapd/imap_seq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk the pre-order tree; returns the index after node i. */
static size_t
walk(const struct imap_search *s, size_t i)
{
	const struct imap_snode *n = &s->nodes[i];
	size_t j = i + 1, k;

	if (i >= s->n || n->key >= IMAP_SK_MAX)
		abort();
	for (k = 0; k < n->n_kids; k++)
		j = walk(s, j);
	if (j != i + 1 + n->skip)
		abort();
	if ((n->key == IMAP_SK_OR && n->n_kids != 2) ||
	    (n->key == IMAP_SK_NOT && n->n_kids != 1))
		abort();
	if ((n->key == IMAP_SK_SEQSET || n->key == IMAP_SK_UID) &&
	    !imap_seq_valid(n->str, 1, IMAP_SEARCH_SEQ_ITEMS))
		abort();
	return j;
}

static void
check_seq(struct span t, uint32_t max)
{
	static struct imap_seq_range r[64];
	struct imap_seq s;
	struct imap_seq_iter it;
	const char *why;
	uint32_t v, prev = 0;
	uint64_t count = 0;
	size_t i;

	imap_seq_init(&s, r, 64);
	if (imap_seq_parse(&s, t, max, 1, &why) != 0) {
		if (imap_seq_valid(t, 1, 64) || why == NULL)
			abort();
		return;
	}
	if (!imap_seq_valid(t, 1, 64))
		abort();
	for (i = 0; i < s.n; i++) {
		if (r[i].lo == 0 || r[i].lo > r[i].hi)
			abort();
		if (i > 0 && (uint64_t)r[i - 1].hi + 1 >= r[i].lo)
			abort();
	}
	if (imap_seq_count(&s) > 100000)
		return;
	for (imap_seq_iter_init(&it); imap_seq_iter_next(&s, &it, &v);) {
		if (v <= prev || !imap_seq_contains(&s, v))
			abort();
		if (v > 1 && !imap_seq_contains(&s, v - 1) && count > 0 &&
		    prev == v - 1)
			abort();
		prev = v;
		count++;
	}
	if (count != imap_seq_count(&s))
		abort();
}

/* The same arguments as FETCH attributes. */
static void
check_fetch(struct imap_args args, int uid)
{
	static struct imap_fetch_item items[16];
	struct imap_fetch f;
	const char *why = NULL;
	size_t i, k;

	if (imap_fetch_parse(args, uid, items, 16, &f, &why) != 0) {
		if (why == NULL)
			abort();
		return;
	}
	if (f.n == 0 || f.n > 16 || (f.vanished && (!uid || !f.changedsince)))
		abort();
	for (i = 0; i < f.n; i++) {
		if (items[i].att >= IMAP_FA_MAX ||
		    items[i].n_part > IMAP_FETCH_PART_MAX)
			abort();
		for (k = 0; k < items[i].n_part; k++)
			if (items[i].part[k] == 0)
				abort();
		if (items[i].partial && items[i].length == 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[8192];
	static struct imap_arg args[256];
	static struct imap_snode nodes[128];
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_search s;
	struct imap_search_err serr;
	struct imap_date d;
	struct imap_date_time dt;
	size_t used, off = 0;
	enum parse_rc rc;

	if (size < 1)
		return 0;
	check_seq(span_make(data + 1, size - 1), data[0] < 128 ? data[0] :
	    UINT32_MAX - data[0]);
	if (imap_date_parse(span_make(data, size), &d) == 0 &&
	    (d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31))
		abort();
	if (imap_date_time_parse(span_make(data, size), &dt) == 0 &&
	    (dt.hour > 23 || dt.min > 59 || dt.sec > 60))
		abort();

	imap_parse_limits_default(&lim);
	lim.max_line = 4096;
	lim.max_inline = 64;
	lim.max_inline_total = 4096;
	lim.max_args = 256;
	lim.litmode = IMAP_LIT_PLUS;
	lim.utf8 = 1;
	if (imap_parse_init(&ps, &lim, mem, sizeof(mem), args) != 0)
		abort();
	/* Prefix the input so every run reaches the search parser. */
	rc = imap_parse_feed(&ps, span_make("t SEARCH ", 9), &used, &cmd, &err);
	while (off < size) {
		rc = imap_parse_feed(&ps, span_make(data + off, size - off),
		    &used, &cmd, &err);
		off += used;
		if (rc == PARSE_OK || rc == PARSE_ERR || rc == PARSE_FATAL)
			break;
	}
	if (rc != PARSE_OK)
		return 0;
	check_fetch(cmd.args, data[0] & 1);
	if (imap_search_parse(cmd.args, nodes, 128, &s, &serr) != 0) {
		if (serr.text == NULL)
			abort();
		return 0;
	}
	if (s.n == 0 || s.nodes[0].key != IMAP_SK_AND || walk(&s, 0) != s.n)
		abort();
	return 0;
}
