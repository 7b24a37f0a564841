/* The argument tree the IMAP command reader produces, and helpers for walking it. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_ARGS_H
#define LB_IMAP_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum imap_arg_type {
	IMAP_ARG_ATOM = 0,	/* any run of 0x21-0x7e but ( ) { " */
	IMAP_ARG_NIL,		/* the atom NIL, any case */
	IMAP_ARG_QUOTED,	/* s is unescaped */
	IMAP_ARG_LITERAL,	/* s is the payload unless STREAMED */
	IMAP_ARG_LIST,
};

#define IMAP_ARG_F_NONSYNC	0x01	/* {n+} */
#define IMAP_ARG_F_LITERAL8	0x02	/* ~{n} */
#define IMAP_ARG_F_STREAMED	0x04	/* payload went to the sink; s empty */
#define IMAP_ARG_F_ADJACENT	0x08	/* a "]..." atom right after ")" */

/*
 * Arguments are stored flat, in pre-order.  A list is followed by its
 * skip descendants; the next sibling of any argument a is a + 1 + a->skip.
 */
struct imap_arg {
	enum imap_arg_type type;
	unsigned flags;		/* IMAP_ARG_F_* */
	struct span s;		/* atom, NIL, quoted or kept literal bytes */
	uint64_t size;		/* literal: its announced size */
	unsigned lit_index;	/* literal: 0 for the command's first */
	size_t n_items;		/* list: direct children */
	size_t skip;		/* list: all descendants */
};

/* A run of sibling arguments (with their descendants): n array slots. */
struct imap_args {
	const struct imap_arg *a;
	size_t n;
};

/* imap_args_count: the number of siblings in s. */
size_t imap_args_count(struct imap_args s);
/* imap_args_at: the i-th sibling, or NULL. */
const struct imap_arg *imap_args_at(struct imap_args s, size_t i);
/* imap_args_next: the sibling after a, or NULL at the end of s. */
const struct imap_arg *imap_args_next(struct imap_args s,
    const struct imap_arg *a);
/* imap_arg_items: a list's children (empty for a non-list). */
struct imap_args imap_arg_items(const struct imap_arg *a);
/* imap_args_rest: the siblings from a (which is in s) to the end. */
struct imap_args imap_args_rest(struct imap_args s, const struct imap_arg *a);
/* imap_arg_atom_is: a is an atom (or NIL) equal to word ignoring case. */
int imap_arg_atom_is(const struct imap_arg *a, const char *word);
/* imap_arg_astring: RFC 9051 astring (atom, NIL as the text "NIL",
 * quoted, or kept literal); 0 and *out, or -1. */
int imap_arg_astring(const struct imap_arg *a, struct span *out);
/* imap_arg_string: quoted or kept literal only. */
int imap_arg_string(const struct imap_arg *a, struct span *out);

#endif
