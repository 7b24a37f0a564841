/* Walking the IMAP argument tree: siblings, list items, string forms (RFC 9051 9 astring, string). */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_args.h"

size_t
imap_args_count(struct imap_args s)
{
	size_t i = 0, c = 0;

	while (i < s.n) {
		i += 1 + s.a[i].skip;
		c++;
	}
	return c;
}

const struct imap_arg *
imap_args_at(struct imap_args s, size_t k)
{
	size_t i = 0;

	while (i < s.n) {
		if (k-- == 0)
			return &s.a[i];
		i += 1 + s.a[i].skip;
	}
	return NULL;
}

const struct imap_arg *
imap_args_next(struct imap_args s, const struct imap_arg *a)
{
	size_t i = (size_t)(a - s.a) + 1 + a->skip;

	return i < s.n ? &s.a[i] : NULL;
}

struct imap_args
imap_arg_items(const struct imap_arg *a)
{
	struct imap_args r = { a + 1, 0 };

	if (a->type == IMAP_ARG_LIST)
		r.n = a->skip;
	return r;
}

struct imap_args
imap_args_rest(struct imap_args s, const struct imap_arg *a)
{
	struct imap_args r = { a, s.n - (size_t)(a - s.a) };

	return r;
}

int
imap_arg_atom_is(const struct imap_arg *a, const char *word)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL) &&
	    span_eq_ci(a->s, word);
}

int
imap_arg_string(const struct imap_arg *a, struct span *out)
{
	if (a->type == IMAP_ARG_QUOTED || (a->type == IMAP_ARG_LITERAL &&
	    !(a->flags & IMAP_ARG_F_STREAMED))) {
		*out = a->s;
		return 0;
	}
	return -1;
}

int
imap_arg_astring(const struct imap_arg *a, struct span *out)
{
	size_t i;

	if (a->type == IMAP_ARG_ATOM) {
		/* astring's atom form is 1*ASTRING-CHAR: no "\" or
		 * wildcards (RFC 9051 9). */
		for (i = 0; i < a->s.n; i++)
			if (a->s.p[i] == '\\' || a->s.p[i] == '%' ||
			    a->s.p[i] == '*')
				return -1;
		*out = a->s;
		return 0;
	}
	if (a->type == IMAP_ARG_NIL) {
		*out = a->s;
		return 0;
	}
	return imap_arg_string(a, out);
}
