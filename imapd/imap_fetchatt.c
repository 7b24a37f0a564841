/* FETCH attribute lists, sections and partials into items (RFC 9051 6.4.5 and 9). */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_fetchatt.h"

#include <string.h>

static const struct {
	const char *name;
	enum imap_fatt att;
} simple[] = {
	{ "ENVELOPE", IMAP_FA_ENVELOPE }, { "FLAGS", IMAP_FA_FLAGS },
	{ "INTERNALDATE", IMAP_FA_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FA_RFC822_SIZE }, { "BODY", IMAP_FA_BODY },
	{ "BODYSTRUCTURE", IMAP_FA_BODYSTRUCTURE }, { "UID", IMAP_FA_UID },
	{ "RFC822", IMAP_FA_RFC822 }, { "RFC822.HEADER", IMAP_FA_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FA_RFC822_TEXT }, { "MODSEQ", IMAP_FA_MODSEQ },
	{ "SAVEDATE", IMAP_FA_SAVEDATE }, { "EMAILID", IMAP_FA_EMAILID },
	{ "THREADID", IMAP_FA_THREADID },
};

const char *
imap_fatt_name(enum imap_fatt a)
{
	size_t i;

	if (a == IMAP_FA_BODY_SECTION)
		return "BODY[]";
	if (a == IMAP_FA_BINARY)
		return "BINARY[]";
	if (a == IMAP_FA_BINARY_SIZE)
		return "BINARY.SIZE[]";
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (simple[i].att == a)
			return simple[i].name;
	return "?";
}

struct fctx {
	struct imap_args s;
	const struct imap_arg *p;	/* next unread sibling */
	struct imap_fetch *out;
	const char **why;
};

static int
fbad(struct fctx *c, const char *why)
{
	*c->why = why;
	return -1;
}

static struct imap_fetch_item *
new_item(struct fctx *c, enum imap_fatt att)
{
	struct imap_fetch_item *it;

	if (c->out->n == c->out->cap) {
		*c->why = "Too many FETCH attributes";
		return NULL;
	}
	it = &c->out->items[c->out->n++];
	memset(it, 0, sizeof(*it));
	it->att = att;
	return it;
}

/* Decimal below 2^63 (number64) from s[*i]; nz: no zero, no leading 0. */
static int
fnum(struct span s, size_t *i, int nz, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t j = *i;

	if (j == s.n || s.p[j] < '0' || s.p[j] > '9' ||
	    (nz && s.p[j] == '0'))
		return -1;
	/* number has no leading zeros beyond "0" itself either */
	if (s.p[j] == '0' && j + 1 < s.n && s.p[j + 1] >= '0' &&
	    s.p[j + 1] <= '9')
		return -1;
	while (j < s.n && s.p[j] >= '0' && s.p[j] <= '9') {
		v = v * 10 + (uint64_t)(s.p[j++] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	*i = j;
	return 0;
}

static int
word_at(struct span s, size_t i, const char *w)
{
	size_t n = strlen(w);

	return s.n - i >= n && span_eq_ci(span_make(s.p + i, n), w);
}

/* "]" [partial] to the end of s, from s.p[i] (which must be "]"). */
static int
section_end(struct fctx *c, struct imap_fetch_item *it, struct span s,
    size_t i, int allow_partial)
{
	if (i == s.n || s.p[i] != ']')
		return fbad(c, "Invalid section");
	i++;
	if (i == s.n)
		return 0;
	/* partial = "<" number64 "." nz-number64 ">" (RFC 9051 9) */
	if (!allow_partial || s.p[i] != '<')
		return fbad(c, "Invalid partial");
	i++;
	if (fnum(s, &i, 0, INT64_MAX, &it->offset) != 0 || i == s.n ||
	    s.p[i] != '.')
		return fbad(c, "Invalid partial");
	i++;
	if (fnum(s, &i, 1, INT64_MAX, &it->length) != 0 || i + 1 != s.n ||
	    s.p[i] != '>')
		return fbad(c, "Invalid partial");
	it->partial = 1;
	return 0;
}

/* HEADER.FIELDS [".NOT"] SP header-list "]" [partial]: the list and the
 * "]..." atom are the next two siblings. */
static int
header_fields(struct fctx *c, struct imap_fetch_item *it)
{
	const struct imap_arg *l = c->p, *e, *f;
	struct imap_args items;
	struct span name;

	if (l == NULL || l->type != IMAP_ARG_LIST || l->n_items == 0)
		return fbad(c, "HEADER.FIELDS needs a list of names");
	items = imap_arg_items(l);
	for (f = imap_args_at(items, 0); f != NULL;
	    f = imap_args_next(items, f))
		if (f->type == IMAP_ARG_LIST ||
		    imap_arg_astring(f, &name) != 0 || name.n == 0)
			return fbad(c, "Invalid header field name");
	it->fields = items;
	e = imap_args_next(c->s, l);
	if (e == NULL || e->type != IMAP_ARG_ATOM ||
	    !(e->flags & IMAP_ARG_F_ADJACENT))
		return fbad(c, "Invalid section");
	c->p = imap_args_next(c->s, e);
	return section_end(c, it, e->s, 0, 1);
}

/* section-spec after "[" at s.p[i] (RFC 9051 9 section, section-binary). */
static int
section(struct fctx *c, struct imap_fetch_item *it, struct span s, size_t i,
    int binary, int allow_partial)
{
	uint64_t v;

	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
		if (it->n_part == IMAP_FETCH_PART_MAX)
			return fbad(c, "Section nested too deep");
		if (fnum(s, &i, 1, UINT32_MAX, &v) != 0)
			return fbad(c, "Invalid section");
		it->part[it->n_part++] = (uint32_t)v;
		if (i < s.n && s.p[i] == '.') {
			i++;
			if (i < s.n && (s.p[i] < '0' || s.p[i] > '9'))
				break;
		}
	}
	if (i > 0 && s.p[i - 1] == '.' && (i == s.n || s.p[i] == ']'))
		return fbad(c, "Invalid section");
	if (i < s.n && s.p[i] != ']') {
		if (binary)
			return fbad(c, "Invalid section");
		if (word_at(s, i, "HEADER.FIELDS.NOT") && i + 17 == s.n) {
			it->sect = IMAP_FS_HEADER_FIELDS_NOT;
			return header_fields(c, it);
		}
		if (word_at(s, i, "HEADER.FIELDS") && i + 13 == s.n) {
			it->sect = IMAP_FS_HEADER_FIELDS;
			return header_fields(c, it);
		}
		if (word_at(s, i, "HEADER]")) {
			it->sect = IMAP_FS_HEADER;
			i += 6;
		} else if (word_at(s, i, "TEXT]")) {
			it->sect = IMAP_FS_TEXT;
			i += 4;
		} else if (word_at(s, i, "MIME]") && it->n_part > 0) {
			/* section-text's MIME needs a part (9051 9). */
			it->sect = IMAP_FS_MIME;
			i += 4;
		} else
			return fbad(c, "Invalid section");
	}
	return section_end(c, it, s, i, allow_partial);
}

static int
fetch_att(struct fctx *c, const struct imap_arg *a)
{
	static const struct {
		const char *prefix;	/* up to and including "[" */
		enum imap_fatt att;
		int peek, binary, partial;
	} sect[] = {
		{ "BODY[", IMAP_FA_BODY_SECTION, 0, 0, 1 },
		{ "BODY.PEEK[", IMAP_FA_BODY_SECTION, 1, 0, 1 },
		{ "BINARY[", IMAP_FA_BINARY, 0, 1, 1 },
		{ "BINARY.PEEK[", IMAP_FA_BINARY, 1, 1, 1 },
		{ "BINARY.SIZE[", IMAP_FA_BINARY_SIZE, 0, 1, 0 },
	};
	struct imap_fetch_item *it;
	size_t i;

	if (a->type != IMAP_ARG_ATOM)
		return fbad(c, "Invalid FETCH attribute");
	for (i = 0; i < sizeof(sect) / sizeof(sect[0]); i++) {
		size_t n = strlen(sect[i].prefix);

		if (!word_at(a->s, 0, sect[i].prefix))
			continue;
		if ((it = new_item(c, sect[i].att)) == NULL)
			return -1;
		it->peek = sect[i].peek;
		return section(c, it, a->s, n, sect[i].binary,
		    sect[i].partial);
	}
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (span_eq_ci(a->s, simple[i].name))
			return new_item(c, simple[i].att) ? 0 : -1;
	return fbad(c, "Invalid FETCH attribute");
}

static int
macro(struct fctx *c, const struct imap_arg *a)
{
	static const enum imap_fatt fast[] = { IMAP_FA_FLAGS,
	    IMAP_FA_INTERNALDATE, IMAP_FA_RFC822_SIZE, IMAP_FA_ENVELOPE,
	    IMAP_FA_BODY };
	size_t n, i;

	/* RFC 9051 6.4.5: FAST, ALL (+ ENVELOPE), FULL (+ BODY). */
	if (imap_arg_atom_is(a, "FAST"))
		n = 3;
	else if (imap_arg_atom_is(a, "ALL"))
		n = 4;
	else if (imap_arg_atom_is(a, "FULL"))
		n = 5;
	else
		return 0;
	for (i = 0; i < n; i++)
		if (new_item(c, fast[i]) == NULL)
			return -1;
	return 1;
}

/* fetch-modifiers: "(" CHANGEDSINCE mod-sequence-value / VANISHED ")"
 * (RFC 7162 3.1.4.1, 3.2.6; RFC 9051 9 fetch-modifier). */
static int
modifiers(struct fctx *c, const struct imap_arg *l, int uid)
{
	struct imap_args items = imap_arg_items(l);
	const struct imap_arg *m, *v;
	size_t i;

	if (l->type != IMAP_ARG_LIST || l->n_items == 0)
		return fbad(c, "Invalid FETCH modifiers");
	for (m = imap_args_at(items, 0); m != NULL;
	    m = imap_args_next(items, m)) {
		if (imap_arg_atom_is(m, "VANISHED") && !c->out->vanished) {
			c->out->vanished = 1;
			continue;
		}
		if (!imap_arg_atom_is(m, "CHANGEDSINCE") || c->out->changedsince)
			return fbad(c, "Invalid FETCH modifier");
		if ((v = imap_args_next(items, m)) == NULL)
			return fbad(c, "CHANGEDSINCE needs a value");
		i = 0;
		/* mod-sequence-value = 1*DIGIT, 1 to 2^63-1 */
		if (v->type != IMAP_ARG_ATOM || fnum(v->s, &i, 1, INT64_MAX,
		    &c->out->changedsince_modseq) != 0 || i != v->s.n)
			return fbad(c, "Invalid CHANGEDSINCE value");
		c->out->changedsince = 1;
		m = v;
	}
	if (c->out->vanished && (!uid || !c->out->changedsince))
		return fbad(c, "VANISHED needs UID FETCH and CHANGEDSINCE");
	return 0;
}

int
imap_fetch_parse(struct imap_args args, int uid,
    struct imap_fetch_item *items, size_t cap, struct imap_fetch *out,
    const char **why)
{
	struct fctx c;
	const struct imap_arg *a = imap_args_at(args, 0);
	int r;

	memset(out, 0, sizeof(*out));
	out->items = items;
	out->cap = cap;
	c.out = out;
	c.why = why;
	c.s = args;
	if (a == NULL)
		return fbad(&c, "Missing FETCH attributes");
	c.p = imap_args_next(args, a);
	if (a->type == IMAP_ARG_LIST) {
		struct fctx sub = c;

		sub.s = imap_arg_items(a);
		sub.p = imap_args_at(sub.s, 0);
		if (sub.p == NULL)
			return fbad(&c, "Empty FETCH attribute list");
		while (sub.p != NULL) {
			const struct imap_arg *x = sub.p;

			sub.p = imap_args_next(sub.s, x);
			if (fetch_att(&sub, x) != 0)
				return -1;
		}
	} else if ((r = macro(&c, a)) < 0) {
		return -1;
	} else if (r == 0 && fetch_att(&c, a) != 0) {
		return -1;
	}
	if (c.p != NULL) {
		if (modifiers(&c, c.p, uid) != 0)
			return -1;
		if (imap_args_next(args, c.p) != NULL)
			return fbad(&c, "Unexpected argument after FETCH "
			    "modifiers");
	}
	/* RFC 9051 6.4.9: UID FETCH answers UID even if not asked. */
	if (uid) {
		size_t i;

		for (i = 0; i < out->n; i++)
			if (out->items[i].att == IMAP_FA_UID)
				break;
		if (i == out->n && new_item(&c, IMAP_FA_UID) == NULL)
			return -1;
	}
	return 0;
}
