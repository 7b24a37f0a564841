/* Reading and checking msgcache blobs: every read is bounds-checked, so a corrupt blob gives -1, never a crash. */
/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "common/msgcache.h"
#include "common/msgcache_priv.h"

static const uint8_t empty[1];

struct hdr {
	uint32_t n_parts, n_envs, strings_len;
	const uint8_t *parts, *envs, *strings;
};

static int
hdr(struct span b, struct hdr *h)
{
	uint64_t need;

	if (b.p == NULL || b.n < MC_HDR_SIZE || memcmp(b.p, MC_MAGIC, 4) != 0 ||
	    b.p[4] != MSGCACHE_VERSION || b.p[5] != 0 || b.p[6] != 0 ||
	    b.p[7] != 0 || mc_get32(b.p + 20) != 0)
		return -1;
	h->n_parts = mc_get32(b.p + 8);
	h->n_envs = mc_get32(b.p + 12);
	h->strings_len = mc_get32(b.p + 16);
	if (h->n_parts == 0 || h->n_parts > MSGCACHE_MAX_PARTS ||
	    h->n_envs > h->n_parts || h->strings_len > MSGCACHE_MAX_STRINGS)
		return -1;
	need = MC_HDR_SIZE + (uint64_t)h->n_parts * MC_PART_SIZE +
	    (uint64_t)h->n_envs * MC_ENV_SIZE + h->strings_len;
	if (need != b.n)
		return -1;
	h->parts = b.p + MC_HDR_SIZE;
	h->envs = h->parts + (size_t)h->n_parts * MC_PART_SIZE;
	h->strings = h->envs + (size_t)h->n_envs * MC_ENV_SIZE;
	return 0;
}

static int
ref(const struct hdr *h, const uint8_t *rec, int i, struct span *out,
    int *nil_out)
{
	uint32_t off = mc_get32(rec + 8 * i), len = mc_get32(rec + 8 * i + 4);

	*nil_out = off == MC_NIL;
	*out = span_make(empty, 0);
	if (off == MC_NIL)
		return len == 0 ? 0 : -1;
	if (off > h->strings_len || len > h->strings_len - off)
		return -1;
	*out = span_make(h->strings + off, len);
	return 0;
}

uint32_t
msgcache_n_parts(struct span blob)
{
	struct hdr h;

	return hdr(blob, &h) == 0 ? h.n_parts : 0;
}

int
msgcache_part(struct span blob, uint32_t index, struct msgcache_part *out)
{
	struct hdr h;
	const uint8_t *r, *n;
	int nil[MC_NREFS], i, rc = 0;
	struct span s[MC_NREFS];

	if (hdr(blob, &h) < 0 || index >= h.n_parts)
		return -1;
	r = h.parts + (size_t)index * MC_PART_SIZE;
	for (i = 0; i < MC_NREFS; i++)
		rc |= ref(&h, r, i, &s[i], &nil[i]);
	if (rc != 0 || nil[MC_R_TYPE] || nil[MC_R_SUBTYPE] || nil[MC_R_ENC])
		return -1;
	memset(out, 0, sizeof(*out));
	out->type = s[MC_R_TYPE];
	out->subtype = s[MC_R_SUBTYPE];
	out->params = s[MC_R_PARAMS];
	out->id = s[MC_R_ID];
	out->id_nil = nil[MC_R_ID];
	out->description = s[MC_R_DESC];
	out->description_nil = nil[MC_R_DESC];
	out->encoding = s[MC_R_ENC];
	out->md5 = s[MC_R_MD5];
	out->md5_nil = nil[MC_R_MD5];
	out->disposition = s[MC_R_DISP];
	out->disp_params = s[MC_R_DISP_PARAMS];
	out->language = s[MC_R_LANG];
	out->location = s[MC_R_LOC];
	out->location_nil = nil[MC_R_LOC];
	n = r + MC_NREFS * 8;
	out->header_off = mc_get64(n);
	out->body_off = mc_get64(n + 8);
	out->end_off = mc_get64(n + 16);
	out->lines = mc_get64(n + 24);
	out->n_children = mc_get32(n + 32);
	out->first_child = mc_get32(n + 36);
	out->next_sibling = mc_get32(n + 40);
	out->parent = mc_get32(n + 44);
	out->is_message = (mc_get32(n + 52) & MC_F_MESSAGE) != 0;
	out->index = index;
	if (out->header_off > out->body_off || out->body_off > out->end_off ||
	    (out->n_children > 0 && (out->first_child <= index ||
	    out->first_child >= h.n_parts)) ||
	    (out->next_sibling != 0 && (out->next_sibling <= index ||
	    out->next_sibling >= h.n_parts)) ||
	    (index > 0 && out->parent >= index) ||
	    out->n_children >= h.n_parts)
		return -1;
	return 0;
}

static uint32_t
env_index(struct span blob, uint32_t index)
{
	struct hdr h;

	if (hdr(blob, &h) < 0 || index >= h.n_parts)
		return MC_NIL;
	return mc_get32(h.parts + (size_t)index * MC_PART_SIZE +
	    MC_NREFS * 8 + 48);
}

static int
count_addrs(struct span cur, size_t *n_out)
{
	struct span v;
	int nil, k;

	*n_out = 0;
	while (cur.n > 0) {
		for (k = 0; k < 4; k++)
			if (mc_get_str16(&cur, &v, &nil) < 0)
				return -1;
		(*n_out)++;
	}
	return 0;
}

int
msgcache_envelope(struct span blob, uint32_t part_index,
    struct msgcache_env *out)
{
	struct msgcache_part pt;
	struct span s[MC_NEREFS];
	int nil[MC_NEREFS], i, rc = 0;
	uint32_t e;
	struct hdr h;
	const uint8_t *r;

	if (msgcache_part(blob, part_index, &pt) < 0)
		return -1;
	e = env_index(blob, part_index);
	if (e == MC_NIL && span_eq(pt.type, "message") && pt.n_children == 1)
		e = env_index(blob, pt.first_child);
	if (e == MC_NIL || hdr(blob, &h) < 0 || e >= h.n_envs)
		return -1;
	r = h.envs + (size_t)e * MC_ENV_SIZE;
	for (i = 0; i < MC_NEREFS; i++)
		rc |= ref(&h, r, i, &s[i], &nil[i]);
	if (rc != 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->date = s[MC_E_DATE];
	out->date_nil = nil[MC_E_DATE];
	out->subject = s[MC_E_SUBJECT];
	out->subject_nil = nil[MC_E_SUBJECT];
	out->in_reply_to = s[MC_E_IRT];
	out->in_reply_to_nil = nil[MC_E_IRT];
	out->message_id = s[MC_E_MID];
	out->message_id_nil = nil[MC_E_MID];
	for (i = 0; i < 6; i++) {
		out->addrs[i] = s[MC_E_ADDR + i];
		if (count_addrs(out->addrs[i], &out->n_addrs[i]) < 0)
			return -1;
	}
	return 0;
}

int
msgcache_addr(const struct msgcache_env *env, enum msgcache_field f,
    size_t i, struct msgcache_addr *out)
{
	struct span cur;
	size_t k;

	if ((unsigned)f > MSGCACHE_BCC || i >= env->n_addrs[f])
		return -1;
	cur = env->addrs[f];
	for (k = 0; k <= i; k++)
		if (mc_get_str16(&cur, &out->name, &out->name_nil) < 0 ||
		    mc_get_str16(&cur, &out->adl, &out->adl_nil) < 0 ||
		    mc_get_str16(&cur, &out->mailbox, &out->mailbox_nil) < 0 ||
		    mc_get_str16(&cur, &out->host, &out->host_nil) < 0)
			return -1;
	return 0;
}

int
msgcache_param_next(struct span *cursor, struct span *name_out,
    struct span *value_out)
{
	struct span c = *cursor;
	int nil1, nil2;

	if (c.n == 0 || mc_get_str16(&c, name_out, &nil1) < 0 ||
	    mc_get_str16(&c, value_out, &nil2) < 0 || nil1 || nil2)
		return 0;
	*cursor = c;
	return 1;
}

int
msgcache_list_next(struct span *cursor, struct span *value_out)
{
	struct span c = *cursor;
	int nil;

	if (c.n == 0 || mc_get_str16(&c, value_out, &nil) < 0 || nil)
		return 0;
	*cursor = c;
	return 1;
}

/* child: the num-th (1-based) child of part */
static int
child(struct span blob, const struct msgcache_part *part, uint32_t num,
    struct msgcache_part *out)
{
	uint32_t k, idx;

	if (num == 0 || num > part->n_children)
		return -1;
	idx = part->first_child;
	for (k = 1;; k++) {
		uint32_t prev = idx;

		if (msgcache_part(blob, idx, out) < 0)
			return -1;
		if (k == num)
			return 0;
		idx = out->next_sibling;
		if (idx <= prev)
			return -1;
	}
}

static int
is_multi(const struct msgcache_part *p)
{
	return span_eq(p->type, "multipart") && p->n_children > 0;
}

int
msgcache_section(struct span blob, const uint32_t *nums, size_t n,
    struct msgcache_part *out)
{
	struct msgcache_part cur, m;
	size_t i;

	if (msgcache_part(blob, 0, &cur) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (is_multi(&cur)) {
			if (child(blob, &cur, nums[i], &cur) < 0)
				return -1;
		} else if (i == 0 && nums[i] == 1) {
			/* part 1 of a non-multipart message: itself (a
			 * message/rfc822 below is handled at its parent) */
		} else if (span_eq(cur.type, "message") && cur.n_children == 1) {
			if (msgcache_part(blob, cur.first_child, &m) < 0)
				return -1;
			if (is_multi(&m)) {
				if (child(blob, &m, nums[i], &cur) < 0)
					return -1;
			} else if (nums[i] == 1) {
				cur = m;
			} else {
				return -1;
			}
		} else {
			return -1;
		}
	}
	*out = cur;
	return 0;
}

static int
list_ok(struct span s, int pairs)
{
	struct span v;
	int nil;

	while (s.n > 0)
		if (mc_get_str16(&s, &v, &nil) < 0 || nil ||
		    (pairs && (mc_get_str16(&s, &v, &nil) < 0 || nil)))
			return 0;
	return 1;
}

static int
part_ok(struct span blob, uint32_t i, uint32_t n_parts)
{
	struct msgcache_part pt, par, c;
	struct msgcache_env env;
	uint32_t k, idx, e = env_index(blob, i);

	if (msgcache_part(blob, i, &pt) < 0 ||
	    !list_ok(pt.params, 1) || !list_ok(pt.disp_params, 1) ||
	    !list_ok(pt.language, 0) || pt.is_message != (e != MC_NIL) ||
	    (e != MC_NIL && msgcache_envelope(blob, i, &env) < 0))
		return 0;
	if (i == 0 ? pt.parent != 0 || pt.next_sibling != 0 || !pt.is_message :
	    msgcache_part(blob, pt.parent, &par) < 0 ||
	    pt.header_off < par.body_off || pt.end_off > par.end_off)
		return 0;
	idx = pt.first_child;
	for (k = 0; k < pt.n_children; k++) {
		if (idx <= i || idx >= n_parts ||
		    msgcache_part(blob, idx, &c) < 0 || c.parent != i)
			return 0;
		idx = c.next_sibling;
	}
	return pt.n_children == 0 || c.next_sibling == 0;
}

int
msgcache_open(struct span blob)
{
	struct hdr h;
	uint32_t i;

	if (hdr(blob, &h) < 0 ||
	    mc_get64(blob.p + 24) != mc_fnv64(blob.p + MC_HDR_SIZE,
	    blob.n - MC_HDR_SIZE))
		return -1;
	for (i = 0; i < h.n_parts; i++)
		if (!part_ok(blob, i, h.n_parts))
			return -1;
	return 0;
}
