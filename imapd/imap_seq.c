/* IMAP sequence sets: parse into sorted, merged ranges; test and walk them. */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_seq.h"

#include <stdlib.h>
#include <string.h>

void
imap_seq_init(struct imap_seq *s, struct imap_seq_range *r, size_t cap)
{
	s->r = r;
	s->n = 0;
	s->cap = cap;
	s->saved = 0;
}

/* seq-number at text[*i]: nz-number (no leading zero, below 2^32) or
 * "*" (returned as 0). */
static int
seq_number(struct span t, size_t *i, uint32_t *out)
{
	uint64_t v = 0;
	size_t j = *i;

	if (j < t.n && t.p[j] == '*') {
		*out = 0;
		*i = j + 1;
		return 0;
	}
	if (j == t.n || t.p[j] < '1' || t.p[j] > '9')
		return -1;
	while (j < t.n && t.p[j] >= '0' && t.p[j] <= '9') {
		v = v * 10 + (uint64_t)(t.p[j++] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*i = j;
	return 0;
}

/*
 * Walk the items of text; for each, call back with its two ends (0 for
 * "*").  Returns the item count, or -1.
 */
static long
seq_walk(struct span t, int allow_saved, size_t max_items, int *saved,
    struct imap_seq_range *out, const char **why)
{
	size_t i = 0, items = 0;

	*saved = 0;
	if (t.n == 1 && t.p[0] == '$') {
		if (!allow_saved) {
			*why = "\"$\" is not allowed here";
			return -1;
		}
		*saved = 1;
		return 0;
	}
	for (;;) {
		uint32_t a, b;

		if (seq_number(t, &i, &a) != 0) {
			*why = "Invalid sequence set";
			return -1;
		}
		b = a;
		if (i < t.n && t.p[i] == ':') {
			i++;
			if (seq_number(t, &i, &b) != 0) {
				*why = "Invalid sequence set";
				return -1;
			}
		}
		if (items == max_items) {
			*why = "Too many ranges in sequence set";
			return -1;
		}
		if (out != NULL) {
			out[items].lo = a;
			out[items].hi = b;
		}
		items++;
		if (i == t.n)
			return (long)items;
		if (t.p[i] != ',') {
			*why = "Invalid sequence set";
			return -1;
		}
		i++;
	}
}

int
imap_seq_valid(struct span text, int allow_saved, size_t max_items)
{
	const char *why;
	int saved;

	return seq_walk(text, allow_saved, max_items, &saved, NULL, &why) >= 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void
seq_normalise(struct imap_seq *s)
{
	size_t i, o = 0;

	if (s->n == 0)
		return;
	qsort(s->r, s->n, sizeof(s->r[0]), range_cmp);
	for (i = 1; i < s->n; i++) {
		struct imap_seq_range *last = &s->r[o];

		/* Merge overlapping and adjacent ranges; hi + 1 must not
		 * wrap at UINT32_MAX. */
		if (last->hi == UINT32_MAX || s->r[i].lo <= last->hi + 1) {
			if (s->r[i].hi > last->hi)
				last->hi = s->r[i].hi;
		} else {
			s->r[++o] = s->r[i];
		}
	}
	s->n = o + 1;
}

int
imap_seq_parse(struct imap_seq *s, struct span text, uint32_t max,
    int allow_saved, const char **why)
{
	long items;
	size_t i, o = 0;

	s->n = 0;
	s->saved = 0;
	items = seq_walk(text, allow_saved, s->cap, &s->saved, s->r, why);
	if (items < 0)
		return -1;
	for (i = 0; i < (size_t)items; i++) {
		uint32_t a = s->r[i].lo ? s->r[i].lo : max;
		uint32_t b = s->r[i].hi ? s->r[i].hi : max;

		if (a > b) {
			uint32_t t = a;
			a = b;
			b = t;
		}
		if (a == 0)
			a = 1;
		if (b == 0)
			continue;	/* "*" or "*:*" in an empty mailbox */
		s->r[o].lo = a;
		s->r[o].hi = b;
		o++;
	}
	s->n = o;
	seq_normalise(s);
	return 0;
}

int
imap_seq_add(struct imap_seq *s, uint32_t lo, uint32_t hi)
{
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if (lo == 0 || s->n == s->cap)
		return -1;
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
	seq_normalise(s);
	return 0;
}

int
imap_seq_contains(const struct imap_seq *s, uint32_t v)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < s->r[mid].lo)
			hi = mid;
		else if (v > s->r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

uint64_t
imap_seq_count(const struct imap_seq *s)
{
	uint64_t c = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		c += (uint64_t)s->r[i].hi - s->r[i].lo + 1;
	return c;
}

uint32_t
imap_seq_min(const struct imap_seq *s)
{
	return s->n ? s->r[0].lo : 0;
}

uint32_t
imap_seq_max(const struct imap_seq *s)
{
	return s->n ? s->r[s->n - 1].hi : 0;
}

void
imap_seq_iter_init(struct imap_seq_iter *it)
{
	it->i = 0;
	it->next = 0;
}

int
imap_seq_iter_next(const struct imap_seq *s, struct imap_seq_iter *it,
    uint32_t *v_out)
{
	if (it->i >= s->n)
		return 0;
	if (it->next < s->r[it->i].lo)
		it->next = s->r[it->i].lo;
	*v_out = (uint32_t)it->next;
	if (it->next == s->r[it->i].hi)
		it->i++;
	it->next++;
	return 1;
}
