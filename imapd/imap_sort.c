/* SORT (RFC 5256, RFC 5957): sort criteria, the base subject of RFC 5256 2.1, and ordering messages by precomputed keys. */
/* SPDX-License-Identifier: ISC */
#include <stdlib.h>
#include <string.h>

#include "common/rfc2047.h"
#include "common/xmem.h"
#include "imapd/imap_args.h"
#include "imapd/imap_match_priv.h"

int
imap_sort_parse(const struct imap_arg *list, struct imap_sort_crit *out,
    const char **why)
{
	static const struct {
		const char *name;
		enum imap_sort_key key;
	} keys[] = {
		{ "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC },
		{ "DATE", IMAP_SORT_DATE }, { "FROM", IMAP_SORT_FROM },
		{ "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
		{ "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
		{ "DISPLAYTO", IMAP_SORT_DISPLAYTO },
	};
	struct imap_args items;
	const struct imap_arg *a;
	int reverse = 0;
	size_t k;

	memset(out, 0, sizeof(*out));
	if (list == NULL || list->type != IMAP_ARG_LIST) {
		*why = "Sort criteria must be a list";
		return -1;
	}
	items = imap_arg_items(list);
	for (a = imap_args_at(items, 0); a != NULL;
	    a = imap_args_next(items, a)) {
		if (imap_arg_atom_is(a, "REVERSE")) {
			if (reverse) {
				*why = "REVERSE REVERSE";
				return -1;
			}
			reverse = 1;
			continue;
		}
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (imap_arg_atom_is(a, keys[k].name))
				break;
		if (k == sizeof(keys) / sizeof(keys[0])) {
			*why = "Unknown sort criterion";
			return -1;
		}
		if (out->n == IMAP_SORT_KEYS_MAX) {
			*why = "Too many sort criteria";
			return -1;
		}
		out->key[out->n] = keys[k].key;
		out->reverse[out->n++] = reverse;
		reverse = 0;
	}
	if (reverse) {
		*why = "REVERSE needs a sort criterion";
		return -1;
	}
	if (out->n == 0) {
		*why = "Empty sort criteria";
		return -1;
	}
	return 0;
}

/* ---- base subject (RFC 5256 2.1) ---- */

static int
starts(struct span s, size_t i, const char *w)
{
	size_t n = strlen(w);

	return s.n - i >= n && memcmp(s.p + i, w, n) == 0;
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at i; its end, or 0 */
static size_t
blob_at(struct span s, size_t i)
{
	size_t j;

	if (i >= s.n || s.p[i] != '[')
		return 0;
	for (j = i + 1; j < s.n && s.p[j] != ']'; j++)
		if (s.p[j] == '[' || s.p[j] == 0)
			return 0;
	if (j >= s.n)
		return 0;
	for (j++; j < s.n && s.p[j] == ' '; j++)
		;
	return j;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP at 0: its length, or 0 */
static size_t
leader(struct span s)
{
	size_t i = 0, e;

	if (s.n > 0 && s.p[0] == ' ')
		return 1;
	while ((e = blob_at(s, i)) != 0)
		i = e;
	/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
	if (starts(s, i, "re"))
		i += 2;
	else if (starts(s, i, "fwd"))
		i += 3;
	else if (starts(s, i, "fw"))
		i += 2;
	else
		return 0;
	while (i < s.n && s.p[i] == ' ')
		i++;
	if ((e = blob_at(s, i)) != 0)
		i = e;
	if (i < s.n && s.p[i] == ':')
		return i + 1;
	return 0;
}

static int
all_wsp(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (s.p[i] != ' ')
			return 0;
	return 1;
}

int
imap_base_subject(struct span subject, struct buf *out, int *is_reply_or_fwd)
{
	struct buf dec, fold;
	struct span s;
	size_t i, o = 0, e;
	int changed, rc = -1;

	*is_reply_or_fwd = 0;
	buf_init(&dec, subject.n + 16, SIZE_MAX / 2);
	buf_init(&fold, subject.n + 16, SIZE_MAX / 2);
	/* (1) decode, fold (i;unicode-casemap as far as imt_fold goes),
	 * tabs and line ends to spaces, runs of spaces to one */
	if (rfc2047_decode(subject, &dec) != 0 || imt_fold(buf_view(&dec),
	    &fold) != 0)
		goto out;
	for (i = 0; i < fold.len; i++) {
		uint8_t c = fold.data[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && o > 0 && fold.data[o - 1] == ' ')
			continue;
		fold.data[o++] = c;
	}
	s = span_make(fold.data, o);
	for (;;) {
		/* (2) subj-trailer = "(fwd)" / WSP, repeatedly */
		for (;;) {
			if (s.n > 0 && s.p[s.n - 1] == ' ')
				s.n--;
			else if (s.n >= 5 && memcmp(s.p + s.n - 5, "(fwd)",
			    5) == 0) {
				s.n -= 5;
				*is_reply_or_fwd = 1;
			} else
				break;
		}
		/* (3), (4), (5) */
		do {
			changed = 0;
			while ((e = leader(s)) != 0) {
				if (!(e == 1 && s.p[0] == ' '))
					*is_reply_or_fwd = 1;
				s.p += e;
				s.n -= e;
				changed = 1;
			}
			if ((e = blob_at(s, 0)) != 0 && !all_wsp(span_make(
			    s.p + e, s.n - e))) {
				s.p += e;
				s.n -= e;
				changed = 1;
			}
		} while (changed);
		/* (6) "[fwd:" ... "]" */
		if (s.n >= 6 && starts(s, 0, "[fwd:") && s.p[s.n - 1] == ']') {
			s.p += 5;
			s.n -= 6;
			*is_reply_or_fwd = 1;
			continue;
		}
		break;
	}
	rc = buf_addspan(out, s);
out:
	buf_fini(&dec);
	buf_fini(&fold);
	return rc;
}

/* ---- per-message keys ---- */

int
imt_sent_time(struct imt_msg *t, int64_t *out)
{
	const struct msgcache_env *env;
	int64_t days;
	int rc = imt_msg_env(t, &env);

	if (rc < 0)
		return -1;
	/* RFC 5256 2.2: the internal date when Date is missing or bad */
	if (rc == 0 || env->date_nil || imt_sent_date(env->date, out,
	    &days) != 1)
		*out = t->msg->m->internaldate;
	return 0;
}

/* addr-mailbox of the first address (RFC 5256 3 FROM, TO, CC) */
static int
first_mailbox(const struct msgcache_env *env, enum msgcache_field f,
    struct buf *out)
{
	struct msgcache_addr a;

	if (msgcache_addr(env, f, 0, &a) != 0 || a.mailbox_nil)
		return 0;
	return imt_fold(a.mailbox, out);
}

/*
 * RFC 5957 3, the display sort value of the first address: its
 * addr-name with encoded words decoded if that is not empty; else
 * addr-mailbox "@" addr-host when both are non-NIL; else addr-mailbox
 * (a group's name); else "".  Compared with i;unicode-casemap, as far
 * as imt_fold goes.  (RFC 5957 is not in the project's RFC folder.)
 */
static int
display_name(const struct msgcache_env *env, enum msgcache_field f,
    struct buf *out)
{
	struct msgcache_addr a;
	struct buf dec;
	int rc = 0;

	if (msgcache_addr(env, f, 0, &a) != 0)
		return 0;
	buf_init(&dec, 64, SIZE_MAX / 2);
	if (!a.name_nil)
		rc = rfc2047_decode(a.name, &dec);
	if (rc == 0 && dec.len == 0 && !a.mailbox_nil) {
		rc = buf_addspan(&dec, a.mailbox);
		if (rc == 0 && !a.host_nil)
			rc = buf_addstr(&dec, "@") != 0 ? -1 :
			    buf_addspan(&dec, a.host);
	}
	if (rc == 0)
		rc = imt_fold(buf_view(&dec), out);
	buf_fini(&dec);
	return rc;
}

/* the string key k of message t appended to out */
static int
string_key(struct imt_msg *t, enum imap_sort_key k, struct buf *out)
{
	const struct msgcache_env *env;
	int rc = imt_msg_env(t, &env), reply;

	if (rc <= 0)
		return rc;	/* no envelope: the empty string */
	switch (k) {
	case IMAP_SORT_CC:
		return first_mailbox(env, MSGCACHE_CC, out);
	case IMAP_SORT_FROM:
		return first_mailbox(env, MSGCACHE_FROM, out);
	case IMAP_SORT_TO:
		return first_mailbox(env, MSGCACHE_TO, out);
	case IMAP_SORT_DISPLAYFROM:
		return display_name(env, MSGCACHE_FROM, out);
	case IMAP_SORT_DISPLAYTO:
		return display_name(env, MSGCACHE_TO, out);
	default:
		if (env->subject_nil)
			return 0;
		return imap_base_subject(env->subject, out, &reply);
	}
}

struct sval {
	int64_t num;
	size_t off, len;
};

struct sort_ctx {
	const struct imap_sort_crit *crit;
	const struct imap_sort_msg *msgs;
	const struct sval *v;		/* n * crit->n */
	const uint8_t *strs;
};

static int
is_string(enum imap_sort_key k)
{
	return k != IMAP_SORT_ARRIVAL && k != IMAP_SORT_DATE &&
	    k != IMAP_SORT_SIZE;
}

static int
cmp_one(const struct sort_ctx *c, enum imap_sort_key k, const struct sval *a,
    const struct sval *b)
{
	if (is_string(k)) {
		size_t n = a->len < b->len ? a->len : b->len;
		int r = n ? memcmp(c->strs + a->off, c->strs + b->off, n) : 0;

		if (r != 0)
			return r < 0 ? -1 : 1;
		/* a prefix first: the empty string before all others */
		return a->len < b->len ? -1 : a->len > b->len;
	}
	return a->num < b->num ? -1 : a->num > b->num;
}

static int
cmp_msgs(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb, k,
	    nk = c->crit->n;
	uint32_t sa, sb;

	for (k = 0; k < nk; k++) {
		int r = cmp_one(c, c->crit->key[k], &c->v[a * nk + k],
		    &c->v[b * nk + k]);

		if (r != 0)
			return c->crit->reverse[k] ? -r : r;
	}
	/* RFC 5256 3: the implicit last criterion, never reversed */
	sa = c->msgs[a].mm.seq;
	sb = c->msgs[b].mm.seq;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* the values of every criterion for message i */
static int
compute(const struct imap_sort_crit *crit, const struct imap_sort_msg *msg,
    struct sval *v, struct buf *strs)
{
	struct imt_msg t;
	size_t k;
	int rc = 0;

	imt_msg_init(&t, &msg->mm);
	for (k = 0; k < crit->n && rc == 0; k++) {
		enum imap_sort_key key = crit->key[k];

		memset(&v[k], 0, sizeof(v[k]));
		if (key == IMAP_SORT_ARRIVAL)
			v[k].num = msg->mm.m->internaldate;
		else if (key == IMAP_SORT_SIZE)
			v[k].num = (int64_t)msg->mm.m->size;
		else if (key == IMAP_SORT_DATE)
			rc = imt_sent_time(&t, &v[k].num);
		else {
			v[k].off = strs->len;
			rc = string_key(&t, key, strs);
			v[k].len = strs->len - v[k].off;
		}
	}
	imt_msg_fini(&t);
	return rc < 0 ? -1 : 0;
}

int
imap_sort(const struct imap_sort_crit *crit, const struct imap_sort_msg *msgs,
    size_t n, size_t *order)
{
	struct sort_ctx c;
	struct sval *v;
	struct buf strs;
	size_t i;
	int rc = 0;

	if (crit->n == 0 || crit->n > IMAP_SORT_KEYS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		order[i] = i;
	if (n < 2)
		return 0;
	v = xreallocarray(NULL, n * crit->n, sizeof(*v));
	buf_init(&strs, 4096, SIZE_MAX / 2);
	for (i = 0; i < n && rc == 0; i++)
		rc = compute(crit, &msgs[i], &v[i * crit->n], &strs);
	if (rc == 0) {
		c.crit = crit;
		c.msgs = msgs;
		c.v = v;
		c.strs = strs.data;
		qsort_r(order, n, sizeof(*order), cmp_msgs, &c);
	}
	xfree(&v);
	buf_fini(&strs);
	return rc;
}
