/* THREAD (RFC 5256 3): ORDEREDSUBJECT and REFERENCES, and the thread-list response syntax. */
/* SPDX-License-Identifier: ISC */
#include <stdlib.h>
#include <string.h>

#include "common/xmem.h"
#include "imapd/imap_args.h"
#include "imapd/imap_match_priv.h"

#define NONE UINT32_MAX

/* What threading needs of one message. */
struct tmsg_info {
	uint32_t num;			/* sequence number or UID to print */
	uint32_t seq;
	int64_t date;			/* sent date, RFC 5256 2.2 */
	size_t subj_off, subj_len;	/* base subject in strs */
	int reply;			/* RFC 5256 3: reply or forward */
	size_t id_off, id_len;		/* normalised Message-ID; len 0:
					 * none */
	size_t ref0, nref;		/* references: ids[ref0..+nref) */
};

struct idref {
	size_t off, len;
};

struct thr {
	const struct imap_sort_msg *msgs;
	size_t n;
	struct tmsg_info *info;
	struct buf strs;		/* subjects and ids */
	struct idref *ids;
	size_t n_ids, cap_ids;
	/* the tree: nodes 0..n-1 are the messages, then dummies, then the
	 * root */
	struct tnode {
		uint32_t msg;		/* NONE: a dummy */
		/* siblings doubly linked, so that unlinking and appending
		 * are O(1) even under a root of 100k threads */
		uint32_t parent, first, last, prev, next;
	} *nodes;
	size_t n_nodes, cap_nodes;
	/* Message-ID -> node (open addressing) */
	struct tslot {
		size_t off, len;
		uint32_t node;		/* NONE: empty */
	} *tab;
	size_t tab_cap;
	uint32_t root;
};

/* ---- message ids (RFC 5322 3.6.4, normalised as RFC 5256 3 asks) ---- */

static void
ids_push(struct thr *t, size_t off, size_t len)
{
	if (t->n_ids == t->cap_ids) {
		t->cap_ids = t->cap_ids ? t->cap_ids * 2 : 64;
		t->ids = xreallocarray(t->ids, t->cap_ids, sizeof(*t->ids));
	}
	t->ids[t->n_ids].off = off;
	t->ids[t->n_ids++].len = len;
}

/*
 * The msg-ids in v, each appended to t->strs without its quoting,
 * white space and comments ("<\"a b\"@x>" is "a b@x" between the angle
 * brackets), and pushed on t->ids; only those with an "@" count as
 * valid.  max: stop after that many.  Returns how many were pushed, or
 * -1 (memory cap).
 */
static int
parse_ids(struct thr *t, struct span v, size_t max)
{
	size_t i = 0, got = 0;

	while (i < v.n && got < max) {
		size_t start = t->strs.len, depth = 0;
		int at = 0, ok = 0;

		if (v.p[i] == '(') {	/* a comment outside an id */
			for (; i < v.n; i++) {
				if (v.p[i] == '(')
					depth++;
				else if (v.p[i] == ')' && --depth == 0)
					break;
				else if (v.p[i] == '\\')
					i++;
			}
			i++;
			continue;
		}
		if (v.p[i++] != '<')
			continue;
		while (i < v.n && v.p[i] != '>' && v.p[i] != '<') {
			uint8_t c = v.p[i++];

			if (c == '"') {
				while (i < v.n && v.p[i] != '"') {
					if (v.p[i] == '\\' && i + 1 < v.n)
						i++;
					if (buf_add(&t->strs, &v.p[i++], 1) != 0)
						return -1;
				}
				i++;
				continue;
			}
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			if (c == '\\' && i < v.n)
				c = v.p[i++];
			at |= c == '@';
			if (buf_add(&t->strs, &c, 1) != 0)
				return -1;
		}
		if (i < v.n && v.p[i] == '>') {
			i++;
			ok = at && t->strs.len > start;
		}
		if (!ok) {
			t->strs.len = start;	/* drop it, keep the NUL */
			t->strs.data[start] = 0;
			continue;
		}
		ids_push(t, start, t->strs.len - start);
		got++;
	}
	return (int)got;
}

/* ---- the id table ---- */

static size_t
id_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (size_t)h;
}

/* the slot of id off/len: its node, or an empty slot where it goes
 * (Message-ID comparisons are case-sensitive, RFC 5256 3 1.A) */
static struct tslot *
tab_slot(struct thr *t, size_t off, size_t len)
{
	size_t i = id_hash(t->strs.data + off, len) & (t->tab_cap - 1);

	for (;;) {
		struct tslot *s = &t->tab[i];

		if (s->node == NONE || (s->len == len &&
		    memcmp(t->strs.data + s->off, t->strs.data + off,
		    len) == 0))
			return s;
		i = (i + 1) & (t->tab_cap - 1);
	}
}

static uint32_t
node_new(struct thr *t, uint32_t msg)
{
	struct tnode *nd;

	if (t->n_nodes == t->cap_nodes) {
		t->cap_nodes = t->cap_nodes ? t->cap_nodes * 2 : 64;
		t->nodes = xreallocarray(t->nodes, t->cap_nodes,
		    sizeof(*t->nodes));
	}
	nd = &t->nodes[t->n_nodes];
	nd->msg = msg;
	nd->parent = nd->first = nd->last = nd->prev = nd->next = NONE;
	return (uint32_t)t->n_nodes++;
}

/* the node of a referenced id, a new dummy if no message has it */
static uint32_t
ref_node(struct thr *t, const struct idref *r)
{
	struct tslot *s = tab_slot(t, r->off, r->len);

	if (s->node == NONE) {
		s->off = r->off;
		s->len = r->len;
		s->node = node_new(t, NONE);
	}
	return s->node;
}

/* ---- links ---- */

static void
unlink_node(struct thr *t, uint32_t c)
{
	struct tnode *x = &t->nodes[c];
	uint32_t p = x->parent;

	if (p == NONE)
		return;
	if (x->prev != NONE)
		t->nodes[x->prev].next = x->next;
	else
		t->nodes[p].first = x->next;
	if (x->next != NONE)
		t->nodes[x->next].prev = x->prev;
	else
		t->nodes[p].last = x->prev;
	x->parent = x->prev = x->next = NONE;
}

/* append c to p's children (c has no parent) */
static void
add_child(struct thr *t, uint32_t p, uint32_t c)
{
	struct tnode *x = &t->nodes[c];

	x->parent = p;
	x->next = NONE;
	x->prev = t->nodes[p].last;
	if (x->prev != NONE)
		t->nodes[x->prev].next = c;
	else
		t->nodes[p].first = c;
	t->nodes[p].last = c;
}

/* 1 if making p the parent of c would make a loop: p is c or below it */
static int
would_loop(const struct thr *t, uint32_t p, uint32_t c)
{
	for (; p != NONE; p = t->nodes[p].parent)
		if (p == c)
			return 1;
	return 0;
}

/* ---- gathering what each message says ---- */

static int
gather_one(struct thr *t, size_t i, int refs)
{
	const struct imap_match_msg *mm = &t->msgs[i].mm;
	struct tmsg_info *in = &t->info[i];
	const struct msgcache_env *env;
	struct imt_msg m;
	struct buf hv;
	int rc, got;

	imt_msg_init(&m, mm);
	in->seq = mm->seq;
	in->ref0 = in->nref = 0;
	in->id_len = 0;
	in->subj_off = t->strs.len;
	rc = imt_sent_time(&m, &in->date);
	if (rc == 0 && (rc = imt_msg_env(&m, &env)) > 0) {
		rc = 0;
		if (!env->subject_nil)
			rc = imap_base_subject(env->subject, &t->strs,
			    &in->reply);
		in->subj_len = t->strs.len - in->subj_off;
		if (rc == 0 && refs && !env->message_id_nil &&
		    (got = parse_ids(t, env->message_id, 1)) != 0) {
			if (got < 0)
				rc = -1;
			else {
				in->id_off = t->ids[--t->n_ids].off;
				in->id_len = t->ids[t->n_ids].len;
			}
		}
	}
	if (rc == 0 && refs) {
		/* RFC 5256 3: References, else the first valid id of
		 * In-Reply-To */
		buf_init(&hv, 1024, 1 << 20);
		in->ref0 = t->n_ids;
		rc = imt_read_header_field(&m, "References", &hv);
		if (rc > 0)
			rc = parse_ids(t, buf_view(&hv), SIZE_MAX) < 0 ? -1 : 0;
		if (rc == 0 && t->n_ids == in->ref0 && imt_msg_env(&m,
		    &env) > 0 && !env->in_reply_to_nil)
			rc = parse_ids(t, env->in_reply_to, 1) < 0 ? -1 : 0;
		in->nref = t->n_ids - in->ref0;
		buf_fini(&hv);
	}
	imt_msg_fini(&m);
	return rc < 0 ? -1 : 0;
}

/* ---- sorting siblings by sent date (RFC 5256 2.2; ties: sequence) ---- */

/* the message a node sorts by: itself, or a dummy's first child */
static const struct tmsg_info *
sort_info(const struct thr *t, uint32_t nd)
{
	while (t->nodes[nd].msg == NONE && t->nodes[nd].first != NONE)
		nd = t->nodes[nd].first;
	return t->nodes[nd].msg == NONE ? NULL : &t->info[t->nodes[nd].msg];
}

static int
cmp_nodes(const void *pa, const void *pb, void *arg)
{
	const struct thr *t = arg;
	const struct tmsg_info *a = sort_info(t, *(const uint32_t *)pa),
	    *b = sort_info(t, *(const uint32_t *)pb);

	if (a == NULL || b == NULL)
		return (a == NULL) - (b == NULL);
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void
sort_children(struct thr *t, uint32_t p, uint32_t **tmp, size_t *cap)
{
	uint32_t c, prev = NONE;
	size_t k = 0, i;

	for (c = t->nodes[p].first; c != NONE; c = t->nodes[c].next) {
		if (k == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*tmp = xreallocarray(*tmp, *cap, sizeof(**tmp));
		}
		(*tmp)[k++] = c;
	}
	if (k < 2)
		return;
	qsort_r(*tmp, k, sizeof(**tmp), cmp_nodes, t);
	t->nodes[p].first = (*tmp)[0];
	for (i = 0; i < k; i++) {
		c = (*tmp)[i];
		t->nodes[c].prev = prev;
		t->nodes[c].next = i + 1 < k ? (*tmp)[i + 1] : NONE;
		prev = c;
	}
	t->nodes[p].last = prev;
}

/* nodes below r in pre-order (r first), into *out */
static size_t
preorder(const struct thr *t, uint32_t r, uint32_t **out, size_t *cap)
{
	uint32_t *stack = xreallocarray(NULL, t->n_nodes + 1,
	    sizeof(*stack));
	size_t sp = 0, k = 0;

	stack[sp++] = r;
	while (sp > 0) {
		uint32_t nd = stack[--sp], c;
		size_t m = 0, idx;

		if (k == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*out = xreallocarray(*out, *cap, sizeof(**out));
		}
		(*out)[k++] = nd;
		/* push children so that the first is popped first */
		for (c = t->nodes[nd].first; c != NONE; c = t->nodes[c].next)
			m++;
		idx = sp + m;
		for (c = t->nodes[nd].first; c != NONE; c = t->nodes[c].next)
			stack[--idx] = c;
		sp += m;
	}
	xfree(&stack);
	return k;
}

/* ---- REFERENCES (RFC 5256 3) ---- */

/* (1) links from Message-ID, References and In-Reply-To */
static int
cmp_seq(const void *pa, const void *pb, void *arg)
{
	const struct thr *t = arg;
	uint32_t a = t->info[*(const uint32_t *)pa].seq,
	    b = t->info[*(const uint32_t *)pb].seq;

	return a < b ? -1 : a > b;
}

static void
refs_link(struct thr *t)
{
	size_t i, j, k, cap = 64;
	uint32_t *order;

	while (cap < 2 * (t->n + t->n_ids) + 2)
		cap *= 2;
	t->tab_cap = cap;
	t->tab = xreallocarray(NULL, cap, sizeof(*t->tab));
	for (k = 0; k < cap; k++)
		t->tab[k].node = NONE;
	for (i = 0; i < t->n; i++)
		node_new(t, (uint32_t)i);
	/* an id belongs to the first message (lowest sequence number) that
	 * has it; later ones and those without one get a unique id, i.e.
	 * are in no table slot. */
	for (i = 0; i < t->n; i++) {
		struct tmsg_info *in = &t->info[i];
		struct tslot *s;

		if (in->id_len == 0)
			continue;
		s = tab_slot(t, in->id_off, in->id_len);
		if (s->node == NONE) {
			s->off = in->id_off;
			s->len = in->id_len;
			s->node = (uint32_t)i;
		} else if (t->info[s->node].seq > in->seq)
			s->node = (uint32_t)i;
	}
	/* messages in sequence order, as the RFC walks them */
	order = xreallocarray(NULL, t->n, sizeof(*order));
	for (i = 0; i < t->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, t->n, sizeof(*order), cmp_seq, t);
	for (j = 0; j < t->n; j++) {
		const struct tmsg_info *in = &t->info[order[j]];
		uint32_t prev = NONE, cur;

		/* (1.A) each reference the parent of the next one; an
		 * existing parent stays, no loop is made */
		for (k = 0; k < in->nref; k++) {
			cur = ref_node(t, &t->ids[in->ref0 + k]);
			if (prev != NONE && cur != prev &&
			    t->nodes[cur].parent == NONE &&
			    !would_loop(t, prev, cur))
				add_child(t, prev, cur);
			prev = cur;
		}
		/* (1.B) the last reference is the message's parent */
		if (prev != NONE && t->nodes[order[j]].parent == prev)
			continue;
		i = order[j];
		unlink_node(t, (uint32_t)i);
		if (prev != NONE && !would_loop(t, prev, (uint32_t)i))
			add_child(t, prev, (uint32_t)i);
	}
	xfree(&order);
}

/* replace nd in its parent's children by its own children */
static void
splice_out(struct thr *t, uint32_t nd)
{
	struct tnode *x = &t->nodes[nd];
	uint32_t p = x->parent, c;

	if (x->first == NONE) {
		unlink_node(t, nd);
		return;
	}
	for (c = x->first; c != NONE; c = t->nodes[c].next)
		t->nodes[c].parent = p;
	t->nodes[x->first].prev = x->prev;
	t->nodes[x->last].next = x->next;
	if (x->prev != NONE)
		t->nodes[x->prev].next = x->first;
	else
		t->nodes[p].first = x->first;
	if (x->next != NONE)
		t->nodes[x->next].prev = x->last;
	else
		t->nodes[p].last = x->last;
	x->parent = x->first = x->last = x->prev = x->next = NONE;
}

/* (3) prune dummies, children first */
static void
prune(struct thr *t, uint32_t **tmp, size_t *cap)
{
	size_t k = preorder(t, t->root, tmp, cap), i;

	/* reverse pre-order: a node after everything below it */
	for (i = k; i-- > 1;) {
		uint32_t nd = (*tmp)[i], p = t->nodes[nd].parent, c, n_kids = 0;

		if (t->nodes[nd].msg != NONE)
			continue;
		for (c = t->nodes[nd].first; c != NONE; c = t->nodes[c].next)
			n_kids++;
		/* a dummy with several children stays at the top level */
		if (p == t->root && n_kids > 1)
			continue;
		/* splice the children in where the dummy was */
		splice_out(t, nd);
	}
}

/* the thread subject of a top-level node: its own, or its first
 * child's for a dummy (RFC 5256 3 5.B.i) */
static const struct tmsg_info *
thread_info(const struct thr *t, uint32_t nd)
{
	if (t->nodes[nd].msg == NONE)
		nd = t->nodes[nd].first;
	return nd == NONE || t->nodes[nd].msg == NONE ? NULL :
	    &t->info[t->nodes[nd].msg];
}

struct sslot {
	size_t off, len;
	uint32_t node;
};

static struct sslot *
subj_slot(const struct thr *t, struct sslot *tab, size_t cap,
    const struct tmsg_info *in)
{
	size_t i = id_hash(t->strs.data + in->subj_off, in->subj_len) &
	    (cap - 1);

	for (;;) {
		struct sslot *s = &tab[i];

		if (s->node == NONE || (s->len == in->subj_len &&
		    memcmp(t->strs.data + s->off, t->strs.data + in->subj_off,
		    s->len) == 0))
			return s;
		i = (i + 1) & (cap - 1);
	}
}

static int
is_dummy(const struct thr *t, uint32_t nd)
{
	return t->nodes[nd].msg == NONE;
}

/* (5) merge top-level threads with the same base subject */
static void
group_subjects(struct thr *t, uint32_t **tmp, size_t *cap)
{
	struct sslot *tab;
	size_t k = 0, i, scap = 64;
	uint32_t c;

	for (c = t->nodes[t->root].first; c != NONE; c = t->nodes[c].next) {
		if (k == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*tmp = xreallocarray(*tmp, *cap, sizeof(**tmp));
		}
		(*tmp)[k++] = c;
	}
	while (scap < 2 * k + 2)
		scap *= 2;
	tab = xreallocarray(NULL, scap, sizeof(*tab));
	for (i = 0; i < scap; i++)
		tab[i].node = NONE;
	/* (B) one message per base subject */
	for (i = 0; i < k; i++) {
		uint32_t cur = (*tmp)[i], old;
		const struct tmsg_info *in = thread_info(t, cur);
		struct sslot *s;

		if (in == NULL || in->subj_len == 0)
			continue;
		s = subj_slot(t, tab, scap, in);
		if (s->node == NONE) {
			s->off = in->subj_off;
			s->len = in->subj_len;
			s->node = cur;
			continue;
		}
		old = s->node;
		if (!is_dummy(t, old) && (is_dummy(t, cur) ||
		    (t->info[t->nodes[old].msg].reply &&
		    !t->info[t->nodes[cur].msg].reply)))
			s->node = cur;
	}
	/* (C) merge */
	for (i = 0; i < k; i++) {
		uint32_t cur = (*tmp)[i], old, d;
		const struct tmsg_info *in = thread_info(t, cur);
		struct sslot *s;

		/* moved below another thread by an earlier merge */
		if (t->nodes[cur].parent != t->root || in == NULL ||
		    in->subj_len == 0)
			continue;
		s = subj_slot(t, tab, scap, in);
		old = s->node;
		if (old == cur)
			continue;
		unlink_node(t, cur);
		if (is_dummy(t, old) && is_dummy(t, cur)) {
			while ((c = t->nodes[cur].first) != NONE) {
				unlink_node(t, c);
				add_child(t, old, c);
			}
		} else if (is_dummy(t, old) || (!is_dummy(t, cur) &&
		    t->info[t->nodes[cur].msg].reply &&
		    !t->info[t->nodes[old].msg].reply)) {
			add_child(t, old, cur);
		} else {
			d = node_new(t, NONE);
			unlink_node(t, old);
			add_child(t, t->root, d);
			add_child(t, d, old);
			add_child(t, d, cur);
			s->node = d;
		}
	}
	xfree(&tab);
}

static void
sort_all(struct thr *t, uint32_t **tmp, size_t *cap)
{
	uint32_t *kids = NULL;
	size_t k = preorder(t, t->root, tmp, cap), kcap = 0, i;

	/* reverse pre-order: children before their parents (RFC 5256 3
	 * step 6: the youngest sets of siblings first) */
	for (i = k; i-- > 0;)
		sort_children(t, (*tmp)[i], &kids, &kcap);
	xfree(&kids);
}

static void
references(struct thr *t)
{
	uint32_t *tmp = NULL, *kids = NULL, c, next;
	size_t cap = 0, kcap = 0, i;

	refs_link(t);
	/* (2) the root holds every node without a parent */
	t->root = node_new(t, NONE);
	for (i = 0; i < t->n_nodes - 1; i++)
		if (t->nodes[i].parent == NONE)
			add_child(t, t->root, (uint32_t)i);
	prune(t, &tmp, &cap);
	/* (4) the top level by date, a dummy by its first child */
	for (c = t->nodes[t->root].first; c != NONE; c = next) {
		next = t->nodes[c].next;
		if (is_dummy(t, c))
			sort_children(t, c, &kids, &kcap);
	}
	sort_children(t, t->root, &kids, &kcap);
	group_subjects(t, &tmp, &cap);
	sort_all(t, &tmp, &cap);
	xfree(&tmp);
	xfree(&kids);
}

/* ---- ORDEREDSUBJECT ---- */

static int
cmp_subj_date(const void *pa, const void *pb, void *arg)
{
	const struct thr *t = arg;
	const struct tmsg_info *a = &t->info[*(const uint32_t *)pa],
	    *b = &t->info[*(const uint32_t *)pb];
	size_t n = a->subj_len < b->subj_len ? a->subj_len : b->subj_len;
	int r = n ? memcmp(t->strs.data + a->subj_off,
	    t->strs.data + b->subj_off, n) : 0;

	if (r != 0)
		return r < 0 ? -1 : 1;
	if (a->subj_len != b->subj_len)
		return a->subj_len < b->subj_len ? -1 : 1;
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
same_subject(const struct thr *t, uint32_t a, uint32_t b)
{
	return t->info[a].subj_len == t->info[b].subj_len &&
	    memcmp(t->strs.data + t->info[a].subj_off,
	    t->strs.data + t->info[b].subj_off, t->info[a].subj_len) == 0;
}

static void
ordered_subject(struct thr *t)
{
	uint32_t *ord = xreallocarray(NULL, t->n, sizeof(*ord)), *kids = NULL;
	size_t i, kcap = 0;

	for (i = 0; i < t->n; i++) {
		ord[i] = (uint32_t)i;
		node_new(t, (uint32_t)i);
	}
	t->root = node_new(t, NONE);
	qsort_r(ord, t->n, sizeof(*ord), cmp_subj_date, t);
	/* the first message of each subject is a thread; the others are
	 * its children (RFC 5256 3: no grandchildren) */
	for (i = 0; i < t->n; i++) {
		if (i > 0 && same_subject(t, ord[i - 1], ord[i])) {
			uint32_t head = ord[i - 1];

			while (t->nodes[head].parent != t->root)
				head = t->nodes[head].parent;
			add_child(t, head, ord[i]);
		} else
			add_child(t, t->root, ord[i]);
	}
	/* threads by the sent date of their first message */
	sort_children(t, t->root, &kids, &kcap);
	xfree(&kids);
	xfree(&ord);
}

/* ---- the response (RFC 5256 4 thread-list) ---- */

#define R_OPEN (NONE - 1)
#define R_CLOSE (NONE - 2)

static int
render(const struct thr *t, struct buf *out)
{
	uint32_t *stack = xreallocarray(NULL, 3 * t->n_nodes + 3,
	    sizeof(*stack)), top, c;
	size_t sp = 0;
	int rc = 0;

	for (top = t->nodes[t->root].first; top != NONE && rc == 0;
	    top = t->nodes[top].next) {
		stack[sp++] = R_CLOSE;
		stack[sp++] = top;
		stack[sp++] = R_OPEN;
		while (sp > 0 && rc == 0) {
			uint32_t nd = stack[--sp];
			size_t m, idx;

			if (nd == R_OPEN || nd == R_CLOSE) {
				rc = buf_add(out, nd == R_OPEN ? "(" : ")", 1);
				continue;
			}
			/* a chain of only children prints as "1 2 3" */
			for (;;) {
				const struct tnode *x = &t->nodes[nd];

				if (x->msg != NONE && (rc = buf_addf(out, "%u",
				    t->info[x->msg].num)) != 0)
					break;
				if (x->first == NONE)
					break;
				if (x->msg != NONE && (rc = buf_add(out, " ",
				    1)) != 0)
					break;
				if (t->nodes[x->first].next == NONE &&
				    x->msg != NONE) {
					nd = x->first;
					continue;
				}
				/* thread-nested: "(child ...)" for each */
				for (m = 0, c = x->first; c != NONE;
				    c = t->nodes[c].next)
					m++;
				idx = sp + 3 * m;
				for (c = x->first; c != NONE;
				    c = t->nodes[c].next) {
					stack[--idx] = R_OPEN;
					stack[--idx] = c;
					stack[--idx] = R_CLOSE;
				}
				sp += 3 * m;
				break;
			}
		}
	}
	xfree(&stack);
	return rc;
}

int
imap_thread_alg_parse(const struct imap_arg *a, enum imap_thread_alg *out)
{
	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return -1;
	if (imap_arg_atom_is(a, "REFERENCES"))
		*out = IMAP_THREAD_REFERENCES;
	else if (imap_arg_atom_is(a, "ORDEREDSUBJECT"))
		*out = IMAP_THREAD_ORDEREDSUBJECT;
	else
		return -1;
	return 0;
}

int
imap_thread(enum imap_thread_alg alg, const struct imap_sort_msg *msgs,
    size_t n, int uid, struct buf *out)
{
	struct thr t;
	size_t i;
	int rc = 0;

	memset(&t, 0, sizeof(t));
	if (n == 0)
		return 0;
	if (n >= NONE / 4)
		return -1;
	t.msgs = msgs;
	t.n = n;
	t.info = xcalloc(n, sizeof(*t.info));
	buf_init(&t.strs, 4096, SIZE_MAX / 2);
	for (i = 0; i < n && rc == 0; i++) {
		t.info[i].num = uid ? msgs[i].mm.m->uid : msgs[i].mm.seq;
		rc = gather_one(&t, i, alg == IMAP_THREAD_REFERENCES);
	}
	if (rc == 0) {
		if (alg == IMAP_THREAD_REFERENCES)
			references(&t);
		else
			ordered_subject(&t);
		rc = render(&t, out);
	}
	xfree(&t.info);
	xfree(&t.ids);
	xfree(&t.nodes);
	xfree(&t.tab);
	buf_fini(&t.strs);
	return rc < 0 ? -1 : 0;
}
