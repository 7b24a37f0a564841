/* The incremental message parser behind msgcache: lines, header fields, MIME delimiters, offsets and the blob. */
/* SPDX-License-Identifier: ISC */
#include "common/msgcache.h"

#include <string.h>

#include "common/log.h"
#include "common/msgcache_priv.h"
#include "common/xmem.h"

static int
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

struct mc_ref
mc_str(struct msgcache_parser *p, const void *data, size_t n)
{
	struct mc_ref r = { 0, 0 };

	/* XXX: a value that does not fit is stored empty, not cut: a cut
	 * parameter list or address list would not parse. */
	if (buf_add(&p->strings, data, n) == 0) {
		r.off = (uint32_t)(p->strings.len - n);
		r.len = (uint32_t)n;
	}
	return r;
}

int
mc_put_str16(struct buf *b, const void *data, size_t n, int nil)
{
	uint8_t h[2];

	if (nil)
		n = 0;
	if (n >= MC_STR16_NIL)
		n = MC_STR16_NIL - 1;
	h[0] = nil ? 0xFF : (uint8_t)n;
	h[1] = nil ? 0xFF : (uint8_t)(n >> 8);
	if (buf_add(b, h, 2) < 0 || buf_add(b, data, n) < 0)
		return -1;
	return 0;
}

int
mc_get_str16(struct span *cur, struct span *out, int *nil_out)
{
	size_t n;

	if (cur->n < 2)
		return -1;
	n = (size_t)cur->p[0] | (size_t)cur->p[1] << 8;
	cur->p += 2;
	cur->n -= 2;
	*nil_out = n == MC_STR16_NIL;
	if (*nil_out)
		n = 0;
	if (n > cur->n)
		return -1;
	*out = span_make(cur->p, n);
	cur->p += n;
	cur->n -= n;
	return 0;
}

static int
ref_is(const struct msgcache_parser *p, struct mc_ref r, const char *s)
{
	return r.off != MC_NIL &&
	    span_eq(span_make(p->strings.data + r.off, r.len), s);
}

/* new_part: a part starting at header_off; MC_NIL if the table is full. */
static uint32_t
new_part(struct msgcache_parser *p, uint64_t header_off, uint32_t parent,
    int is_message)
{
	struct mc_part *q;
	uint32_t i, idx = p->n_parts;

	if (idx >= MSGCACHE_MAX_PARTS)
		return MC_NIL;
	q = &p->parts[p->n_parts++];
	memset(q, 0, sizeof(*q));
	for (i = 0; i < MC_NREFS; i++)
		q->r[i].off = MC_NIL;
	q->header_off = q->body_off = q->end_off = header_off;
	q->lf_body = p->nlf;
	q->parent = parent;
	q->env = MC_NIL;
	if (is_message) {
		q->flags |= MC_F_MESSAGE;
		q->env = p->n_envs++;
		for (i = 0; i < MC_NEREFS; i++)
			p->envs[q->env].r[i].off = MC_NIL;
	}
	if (idx != 0) {
		struct mc_part *par = &p->parts[parent];

		if (par->n_children++ == 0)
			par->first_child = idx;
		else
			p->parts[par->last_child].next_sibling = idx;
		par->last_child = idx;
	}
	return idx;
}

static void
push(struct msgcache_parser *p, uint32_t part)
{
	struct mc_level *l = &p->lv[p->depth++];

	l->part = part;
	l->kind = MC_LEAF;
	l->closed = l->digest = 0;
	l->bnd_n = 0;
	p->in_header = 1;
	p->field_on = 0;
	buf_reset(&p->field);
}

struct msgcache_parser *
msgcache_parser_new(void)
{
	struct msgcache_parser *p = xcalloc(1, sizeof(*p));

	buf_init(&p->field, 256, MSGCACHE_MAX_HEADER);
	buf_init(&p->strings, 1024, MSGCACHE_MAX_STRINGS);
	buf_init(&p->tmp, 256, 4 * MSGCACHE_MAX_HEADER + 64);
	buf_init(&p->tmp2, 256, 4 * MSGCACHE_MAX_HEADER + 64);
	buf_init(&p->tmp3, 256, 4 * MSGCACHE_MAX_HEADER + 64);
	buf_init(&p->aname, 256, MSGCACHE_MAX_HEADER);
	buf_init(&p->alocal, 256, MSGCACHE_MAX_HEADER);
	push(p, new_part(p, 0, 0, 1));
	return p;
}

void
msgcache_parser_free(struct msgcache_parser **pp)
{
	struct msgcache_parser *p = *pp;

	if (p == NULL)
		return;
	buf_fini(&p->field);
	buf_fini(&p->strings);
	buf_fini(&p->tmp);
	buf_fini(&p->tmp2);
	buf_fini(&p->tmp3);
	buf_fini(&p->aname);
	buf_fini(&p->alocal);
	xfree(pp);
}

static void
flush_field(struct msgcache_parser *p)
{
	struct span f = buf_view(&p->field);
	size_t colon, n;

	if (p->field_on && span_find_byte(f, ':', &colon)) {
		n = colon;
		while (n > 0 && is_wsp(f.p[n - 1]))
			n--;
		mc_header_field(p, span_make(f.p, n),
		    span_make(f.p + colon + 1, f.n - colon - 1));
	}
	/* a line without a colon is not a field: ignored */
	p->field_on = 0;
	buf_reset(&p->field);
}

/* complete_header: the innermost part's header ends; its body starts at
 * body_off.  Decides what the body is. */
static void
complete_header(struct msgcache_parser *p, uint64_t body_off,
    uint64_t lf_body, int allow_children)
{
	uint32_t d = p->depth - 1;
	struct mc_level *l = &p->lv[d];
	struct mc_part *q = &p->parts[l->part];
	int digest = d > 0 && p->lv[d - 1].kind == MC_MULTI &&
	    p->lv[d - 1].digest;

	p->in_header = 0;
	q->body_off = body_off;
	q->lf_body = lf_body;
	if (q->r[MC_R_TYPE].off == MC_NIL) {
		q->r[MC_R_TYPE] = mc_str(p, digest ? "message" : "text",
		    digest ? 7 : 4);
		q->r[MC_R_SUBTYPE] = mc_str(p, digest ? "rfc822" : "plain",
		    digest ? 6 : 5);
		if (!digest)
			q->r[MC_R_PARAMS] = mc_str(p,
			    "\x07\x00" "charset" "\x08\x00" "us-ascii", 19);
	}
	if (q->r[MC_R_ENC].off == MC_NIL)
		q->r[MC_R_ENC] = mc_str(p, "7bit", 4);
	if (!allow_children || d + 1 >= MSGCACHE_MAX_DEPTH)
		return;
	if (ref_is(p, q->r[MC_R_TYPE], "multipart") && l->bnd_n > 0) {
		l->kind = MC_MULTI;
		l->digest = ref_is(p, q->r[MC_R_SUBTYPE], "digest");
	} else if (ref_is(p, q->r[MC_R_TYPE], "message") &&
	    (ref_is(p, q->r[MC_R_SUBTYPE], "rfc822") ||
	    ref_is(p, q->r[MC_R_SUBTYPE], "global"))) {
		uint32_t c = new_part(p, body_off, l->part, 1);

		if (c != MC_NIL) {
			l->kind = MC_MESSAGE;
			push(p, c);
		}
	}
}

/* close_part: the part ends at end, lf_end line ends into the message. */
static void
close_part(struct msgcache_parser *p, uint32_t idx, uint64_t end,
    uint64_t lf_end)
{
	struct mc_part *q = &p->parts[idx];

	if (q->body_off > end) {
		q->body_off = end;
		q->lf_body = lf_end;
	}
	q->end_off = end;
	q->lines = lf_end - q->lf_body;
}

static int
line_has_delim(struct msgcache_parser *p, const struct mc_level *l,
    uint64_t content_len, int *close_out)
{
	size_t need = 2 + (size_t)l->bnd_n, i, kept;

	if (content_len < need || p->lbuf_n < need ||
	    memcmp(p->lbuf + 2, l->bnd, l->bnd_n) != 0)
		return 0;
	kept = content_len < p->lbuf_n ? (size_t)content_len : p->lbuf_n;
	*close_out = kept >= need + 2 && p->lbuf[need] == '-' &&
	    p->lbuf[need + 1] == '-';
	for (i = need + (*close_out ? 2 : 0); i < kept; i++)
		if (!is_wsp(p->lbuf[i]))
			return 0;
	return content_len <= p->lbuf_n || !p->tail_bad;
}

/* find_delim: the innermost open multipart whose delimiter this line
 * is; -1 if none. */
static int
find_delim(struct msgcache_parser *p, uint64_t content_len, int *close_out)
{
	uint32_t d;

	if (p->lbuf_n < 2 || p->lbuf[0] != '-' || p->lbuf[1] != '-')
		return -1;
	for (d = p->depth; d-- > 0;) {
		const struct mc_level *l = &p->lv[d];

		if (l->kind != MC_MULTI || l->closed || l->bnd_n == 0)
			continue;
		if (line_has_delim(p, l, content_len, close_out))
			return (int)d;
	}
	return -1;
}

static void
on_delim(struct msgcache_parser *p, uint32_t k, int close, int has_lf)
{
	uint64_t L = p->line_start;

	if (p->in_header) {
		/* the delimiter line began a would-be field: drop it */
		p->field_on = 0;
		buf_reset(&p->field);
		complete_header(p, L, p->nlf, 0);
	}
	if (p->depth > k + 1) {
		/* The line end before the delimiter line is the delimiter's
		 * (RFC 2046 5.1.1), unless it ended the line that opened the
		 * innermost part: then everything closed ends at L. */
		const struct mc_part *in = &p->parts[p->lv[p->depth - 1].part];
		uint64_t end = L, lf_end = p->nlf;

		if (p->prev_eol > 0 &&
		    L - (uint64_t)p->prev_eol >= in->header_off) {
			end = L - (uint64_t)p->prev_eol;
			lf_end = p->nlf - 1;
		}
		while (p->depth > k + 1)
			close_part(p, p->lv[--p->depth].part, end, lf_end);
	}
	if (close) {
		p->lv[k].closed = 1;
		p->in_header = 0;
		return;
	}
	push(p, new_part(p, p->off + (uint64_t)has_lf, p->lv[k].part, 0));
}

static void
line_end(struct msgcache_parser *p, int has_lf)
{
	int eol = has_lf ? (p->line_len > 0 && p->last == '\r' ? 2 : 1) : 0;
	uint64_t content_len = p->line_len - (eol == 2 ? 1 : 0);
	int close = 0, k = find_delim(p, content_len, &close);

	if (k >= 0 && !close && p->n_parts >= MSGCACHE_MAX_PARTS)
		k = -1;		/* table full: the rest stays in this part */
	if (k >= 0) {
		on_delim(p, (uint32_t)k, close, has_lf);
	} else if (p->in_header && content_len == 0) {
		if (p->line_len == 0)
			flush_field(p);	/* bare LF: the field is still pending */
		p->field_on = 0;
		buf_reset(&p->field);
		complete_header(p, p->off + (uint64_t)has_lf,
		    p->nlf + (uint64_t)has_lf, 1);
	} else if (p->in_header && eol == 2 && p->field.len > 0 &&
	    p->field.data[p->field.len - 1] == '\r') {
		p->field.len--;	/* unfolding: the CRLF goes, the WSP stays */
		p->field.data[p->field.len] = '\0';
	}
	p->off += (uint64_t)has_lf;
	p->nlf += (uint64_t)has_lf;
	p->prev_eol = eol;
	p->line_start = p->off;
	p->line_len = 0;
	p->lbuf_n = 0;
	p->tail_bad = 0;
}

static void
line_bytes(struct msgcache_parser *p, const uint8_t *b, size_t n)
{
	size_t keep, i;

	if (p->in_header) {
		size_t room;

		if (p->line_len == 0 && !(is_wsp(b[0]) && p->field_on)) {
			flush_field(p);
			p->field_on = 1;
		}
		room = p->field.max - p->field.len;
		if (buf_add(&p->field, b, n < room ? n : room) < 0)
			BUG_ON(1);
	}
	keep = MC_KEEP - p->lbuf_n;
	if (keep > n)
		keep = n;
	memcpy(p->lbuf + p->lbuf_n, b, keep);
	p->lbuf_n += keep;
	for (i = keep; i < n && !p->tail_bad; i++)
		if (!is_wsp(b[i]) && b[i] != '\r')
			p->tail_bad = 1;
	p->line_len += n;
	p->off += n;
	p->last = b[n - 1];
}

void
msgcache_feed(struct msgcache_parser *p, struct span in)
{
	if (p->finished)
		return;
	while (in.n > 0) {
		size_t k, n;
		int lf = span_find_byte(in, '\n', &k);

		n = lf ? k : in.n;
		if (n > 0)
			line_bytes(p, in.p, n);
		if (lf)
			line_end(p, 1);
		in.p += n + (size_t)lf;
		in.n -= n + (size_t)lf;
	}
}

/* A multipart without parts or a message/rfc822 without its message
 * cannot be told in BODYSTRUCTURE: say what is certain. */
static void
fix_childless(struct msgcache_parser *p)
{
	uint32_t i;

	for (i = 0; i < p->n_parts; i++) {
		struct mc_part *q = &p->parts[i];

		if (q->n_children > 0)
			continue;
		if (!ref_is(p, q->r[MC_R_TYPE], "multipart") &&
		    !(ref_is(p, q->r[MC_R_TYPE], "message") &&
		    (ref_is(p, q->r[MC_R_SUBTYPE], "rfc822") ||
		    ref_is(p, q->r[MC_R_SUBTYPE], "global"))))
			continue;
		q->r[MC_R_TYPE] = mc_str(p, "application", 11);
		q->r[MC_R_SUBTYPE] = mc_str(p, "octet-stream", 12);
		q->r[MC_R_PARAMS].off = MC_NIL;
		q->r[MC_R_PARAMS].len = 0;
	}
}

static void
end_of_message(struct msgcache_parser *p)
{
	if (p->line_len > 0)
		line_end(p, 0);
	if (p->in_header) {
		flush_field(p);
		complete_header(p, p->off, p->nlf, 0);
	}
	while (p->depth > 0)
		close_part(p, p->lv[--p->depth].part, p->off, p->nlf);
	fix_childless(p);
	p->finished = 1;
}

static void
put_refs(uint8_t *o, const struct mc_ref *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		mc_put32(o + 8 * i, r[i].off);
		mc_put32(o + 8 * i + 4, r[i].off == MC_NIL ? 0 : r[i].len);
	}
}

int
msgcache_finish(struct msgcache_parser *p, struct buf *out)
{
	size_t total, i;
	uint8_t *o, *w;

	if (!p->finished)
		end_of_message(p);
	total = MC_HDR_SIZE + (size_t)p->n_parts * MC_PART_SIZE +
	    (size_t)p->n_envs * MC_ENV_SIZE + p->strings.len;
	if ((o = buf_reserve(out, total)) == NULL)
		return -1;
	memset(o, 0, total);
	memcpy(o, MC_MAGIC, 4);
	o[4] = MSGCACHE_VERSION;
	mc_put32(o + 8, p->n_parts);
	mc_put32(o + 12, p->n_envs);
	mc_put32(o + 16, (uint32_t)p->strings.len);
	w = o + MC_HDR_SIZE;
	for (i = 0; i < p->n_parts; i++, w += MC_PART_SIZE) {
		const struct mc_part *q = &p->parts[i];
		uint8_t *n = w + MC_NREFS * 8;

		put_refs(w, q->r, MC_NREFS);
		mc_put64(n, q->header_off);
		mc_put64(n + 8, q->body_off);
		mc_put64(n + 16, q->end_off);
		mc_put64(n + 24, q->lines);
		mc_put32(n + 32, q->n_children);
		mc_put32(n + 36, q->first_child);
		mc_put32(n + 40, q->next_sibling);
		mc_put32(n + 44, q->parent);
		mc_put32(n + 48, q->env);
		mc_put32(n + 52, q->flags);
	}
	for (i = 0; i < p->n_envs; i++, w += MC_ENV_SIZE)
		put_refs(w, p->envs[i].r, MC_NEREFS);
	if (p->strings.len > 0)
		memcpy(w, p->strings.data, p->strings.len);
	mc_put64(o + 24, mc_fnv64(o + MC_HDR_SIZE, total - MC_HDR_SIZE));
	buf_commit(out, total);
	return 0;
}
