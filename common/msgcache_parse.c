/* msgcache's header field parsers: Content-* with RFC 2231 parameters, and RFC 5322 address lists. */
/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "common/msgcache_priv.h"
#include "common/rfc2047.h"

#define MC_MAX_PARAMS 64

enum {
	H_CT, H_CTE, H_ID, H_DESC, H_MD5, H_DISP, H_LANG, H_LOC,
	H_DATE, H_SUBJ, H_IRT, H_MID, H_ADDR,
};

struct lex {
	const uint8_t *p;
	size_t n, i;
	struct span comment;	/* the first comment seen, inside parens */
	int have_comment;
};

static int
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
skip_comment(struct lex *l)
{
	size_t depth = 0, start = l->i + 1;

	while (l->i < l->n) {
		uint8_t c = l->p[l->i++];

		if (c == '\\' && l->i < l->n)
			l->i++;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			break;
	}
	if (!l->have_comment) {
		size_t end = depth == 0 ? l->i - 1 : l->i;

		l->comment = span_make(l->p + start, end - start);
		l->have_comment = 1;
	}
}

static void
skip_cfws(struct lex *l)
{
	while (l->i < l->n) {
		if (is_space(l->p[l->i]))
			l->i++;
		else if (l->p[l->i] == '(')
			skip_comment(l);
		else
			break;
	}
}

static int
peek(const struct lex *l)
{
	return l->i < l->n ? l->p[l->i] : -1;
}

static int
is_tspecial(uint8_t c)
{
	return c <= ' ' || c == 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* token: RFC 2045 token, lowercased into out; 0 if none */
static size_t
token(struct lex *l, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (l->i < l->n && !is_tspecial(l->p[l->i])) {
		uint8_t c = l->p[l->i++];

		if (n < max)
			out[n++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return n;
}

/* quoted: a quoted-string at '"', its content unescaped into b */
static void
quoted(struct lex *l, struct buf *b)
{
	l->i++;
	while (l->i < l->n && l->p[l->i] != '"') {
		if (l->p[l->i] == '\\' && l->i + 1 < l->n)
			l->i++;
		if (buf_add(b, l->p + l->i, 1) < 0)
			break;
		l->i++;
	}
	if (l->i < l->n)
		l->i++;
}

static struct span
trim(struct span s)
{
	while (s.n > 0 && is_space(s.p[0]))
		s.p++, s.n--;
	while (s.n > 0 && is_space(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) ---- */

struct rawparam {
	size_t name, name_n, val, val_n;	/* in tmp2 */
	long section;		/* -1: plain name */
	int ext, used;
	size_t base_n;
};

static int
read_params(struct msgcache_parser *p, struct lex *l, struct rawparam *rp)
{
	int n = 0;

	buf_reset(&p->tmp2);
	while (n < MC_MAX_PARAMS) {
		uint8_t name[256];
		size_t nn;

		skip_cfws(l);
		while (l->i < l->n && l->p[l->i] != ';')
			l->i++;		/* junk before ';': skipped */
		if (l->i >= l->n)
			break;
		l->i++;
		skip_cfws(l);
		if ((nn = token(l, name, sizeof(name))) == 0)
			continue;
		skip_cfws(l);
		if (peek(l) != '=')
			continue;
		l->i++;
		skip_cfws(l);
		rp[n].name = p->tmp2.len;
		rp[n].name_n = nn;
		if (buf_add(&p->tmp2, name, nn) < 0)
			break;
		rp[n].val = p->tmp2.len;
		if (peek(l) == '"') {
			quoted(l, &p->tmp2);
		} else {
			size_t s = l->i;

			while (l->i < l->n && l->p[l->i] != ';' &&
			    !is_space(l->p[l->i]) && l->p[l->i] != '(')
				l->i++;
			if (buf_add(&p->tmp2, l->p + s, l->i - s) < 0)
				break;
		}
		rp[n].val_n = p->tmp2.len - rp[n].val;
		n++;
	}
	return n;
}

/* split "name*3*" into base, section and ext; -1 section if plain */
static void
classify(const uint8_t *nm, struct rawparam *r)
{
	const uint8_t *star = memchr(nm, '*', r->name_n);
	size_t i;
	long sec = 0;

	r->section = -1;
	r->ext = 0;
	r->base_n = r->name_n;
	r->used = 0;
	if (star == NULL || star == nm)
		return;
	i = (size_t)(star - nm) + 1;
	if (i == r->name_n) {
		r->section = 0;
		r->ext = 1;
	} else {
		size_t d = i;

		while (i < r->name_n && nm[i] >= '0' && nm[i] <= '9' &&
		    sec < 100000)
			sec = sec * 10 + (nm[i++] - '0');
		if (i == d || (nm[d] == '0' && i - d > 1))
			return;
		if (i + 1 == r->name_n && nm[i] == '*')
			r->ext = 1;
		else if (i != r->name_n)
			return;
		r->section = sec;
	}
	r->base_n = (size_t)(star - nm);
}

static int
hexv(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int
pct_decode(struct buf *b, const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == '%' && n - i >= 3 &&
		    hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			c = (uint8_t)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
			i += 2;
		}
		if (buf_add(b, &c, 1) < 0)
			return -1;
	}
	return 0;
}

static int
pct_encode(struct buf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = s[i];
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (!is_tspecial(c) && c != '*' && c != '\'' && c != '%' &&
		    c < 0x80) {
			if (buf_add(b, &c, 1) < 0)
				return -1;
		} else if (buf_add(b, e, 3) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
put_pair(struct buf *o, const uint8_t *nm, size_t nn, const char *suffix,
    struct span v)
{
	size_t sn = strlen(suffix);
	uint8_t h[2] = { (uint8_t)(nn + sn), (uint8_t)((nn + sn) >> 8) };

	if (buf_add(o, h, 2) < 0 || buf_add(o, nm, nn) < 0 ||
	    buf_add(o, suffix, sn) < 0)
		return -1;
	return mc_put_str16(o, v.p, v.n, 0);
}

/* join: the sections of one RFC 2231 parameter, in order, into o. */
static int
join(struct msgcache_parser *p, struct rawparam *rp, int n, int first)
{
	const uint8_t *t = p->tmp2.data;
	struct buf *raw = &p->tmp3;
	struct span cs = { NULL, 0 };
	size_t ext_start = 0, mark;
	int any_ext = 0, sec, j;
	int idx[MC_MAX_PARAMS], k = 0;

	for (sec = 0; sec < MC_MAX_PARAMS; sec++) {
		for (j = 0; j < n; j++)
			if (!rp[j].used && rp[j].section == sec &&
			    rp[j].base_n == rp[first].base_n &&
			    memcmp(t + rp[j].name, t + rp[first].name,
			    rp[j].base_n) == 0)
				break;
		if (j == n)
			break;
		rp[j].used = 1;
		idx[k++] = j;
		any_ext |= rp[j].ext;
	}
	buf_reset(raw);
	for (j = 0; j < k; j++) {
		const struct rawparam *r = &rp[idx[j]];
		const uint8_t *v = t + r->val;
		size_t vn = r->val_n;

		if (j == 0 && r->ext) {
			const uint8_t *q1 = memchr(v, '\'', vn), *q2 = NULL;

			if (q1 != NULL)
				q2 = memchr(q1 + 1, '\'', vn - (size_t)(q1 + 1 - v));
			if (q2 != NULL) {
				cs = span_make(v, (size_t)(q1 - v));
				ext_start = (size_t)(q2 + 1 - v);
			}
		}
		if (r->ext ? pct_decode(raw, v + (j == 0 ? ext_start : 0),
		    vn - (j == 0 ? ext_start : 0)) < 0 :
		    buf_add(raw, v, vn) < 0)
			return -1;
	}
	mark = p->tmp.len;
	if (!any_ext || (cs.n == 0 && rfc2047_utf8_valid(buf_view(raw))))
		return put_pair(&p->tmp, t + rp[first].name, rp[first].base_n,
		    "", buf_view(raw));
	if (put_pair(&p->tmp, t + rp[first].name, rp[first].base_n, "",
	    span_make("", 0)) == 0) {
		/* replace the empty value by the converted one */
		size_t vpos = p->tmp.len - 2;

		if (rfc2047_to_utf8(cs, buf_view(raw), &p->tmp) == 0 &&
		    p->tmp.len - vpos - 2 < MC_STR16_NIL) {
			size_t vn = p->tmp.len - vpos - 2;

			p->tmp.data[vpos] = (uint8_t)vn;
			p->tmp.data[vpos + 1] = (uint8_t)(vn >> 8);
			return 0;
		}
	}
	/* unknown charset: keep the extended form, sections joined */
	p->tmp.len = mark;
	buf_reset(raw);
	for (j = 0; j < k; j++) {
		const struct rawparam *r = &rp[idx[j]];

		if (r->ext ? buf_add(raw, t + r->val, r->val_n) < 0 :
		    pct_encode(raw, t + r->val, r->val_n) < 0)
			return -1;
	}
	return put_pair(&p->tmp, t + rp[first].name, rp[first].base_n, "*",
	    buf_view(raw));
}

/* section0: the section 0 of the RFC 2231 parameter rp[i] is part of */
static int
section0(struct msgcache_parser *p, const struct rawparam *rp, int n, int i)
{
	const uint8_t *t = p->tmp2.data;
	int j;

	for (j = 0; j < n; j++)
		if (rp[j].section == 0 && rp[j].base_n == rp[i].base_n &&
		    memcmp(t + rp[j].name, t + rp[i].name, rp[i].base_n) == 0)
			return j;
	return -1;
}

/* params: the parameters after the value, encoded; NIL if none.  The
 * boundary of a Content-Type goes to the level, too. */
static struct mc_ref
params(struct msgcache_parser *p, struct lex *l, struct mc_level *lv)
{
	struct rawparam rp[MC_MAX_PARAMS];
	struct mc_ref nil = { MC_NIL, 0 };
	int n = read_params(p, l, rp), i, j;
	size_t good = 0;

	for (i = 0; i < n; i++)
		classify(p->tmp2.data + rp[i].name, &rp[i]);
	buf_reset(&p->tmp);
	for (i = 0; i < n; i++) {
		const uint8_t *nm = p->tmp2.data + rp[i].name;
		int rc;

		if (rp[i].used)
			continue;
		if (rp[i].section >= 0 && (j = section0(p, rp, n, i)) >= 0) {
			rc = join(p, rp, n, j);
		} else {
			rp[i].used = 1;
			rc = put_pair(&p->tmp, nm, rp[i].name_n, "",
			    span_make(p->tmp2.data + rp[i].val, rp[i].val_n));
		}
		if (rc < 0)
			break;
		good = p->tmp.len;
	}
	p->tmp.len = good;
	if (lv != NULL) {
		struct span cur = buf_view(&p->tmp), nm, v;
		int nil_n, nil_v;

		while (mc_get_str16(&cur, &nm, &nil_n) == 0 &&
		    mc_get_str16(&cur, &v, &nil_v) == 0)
			if (span_eq(nm, "boundary") && v.n > 0 &&
			    v.n <= MSGCACHE_MAX_BOUNDARY && lv->bnd_n == 0) {
				memcpy(lv->bnd, v.p, v.n);
				lv->bnd_n = (uint16_t)v.n;
			}
	}
	return good ? mc_str(p, p->tmp.data, good) : nil;
}

static void
content_type(struct msgcache_parser *p, struct mc_part *q, struct span v)
{
	struct lex l = { v.p, v.n, 0, { NULL, 0 }, 0 };
	uint8_t type[128], sub[128];
	size_t tn, sn;

	skip_cfws(&l);
	tn = token(&l, type, sizeof(type));
	skip_cfws(&l);
	if (tn == 0 || peek(&l) != '/')
		return;		/* invalid: the default applies */
	l.i++;
	skip_cfws(&l);
	if ((sn = token(&l, sub, sizeof(sub))) == 0)
		return;
	q->r[MC_R_TYPE] = mc_str(p, type, tn);
	q->r[MC_R_SUBTYPE] = mc_str(p, sub, sn);
	q->r[MC_R_PARAMS] = params(p, &l, &p->lv[p->depth - 1]);
}

static void
disposition(struct msgcache_parser *p, struct mc_part *q, struct span v)
{
	struct lex l = { v.p, v.n, 0, { NULL, 0 }, 0 };
	uint8_t t[128];
	size_t tn;

	skip_cfws(&l);
	if ((tn = token(&l, t, sizeof(t))) == 0)
		return;
	q->r[MC_R_DISP] = mc_str(p, t, tn);
	q->r[MC_R_DISP_PARAMS] = params(p, &l, NULL);
}

static void
language(struct msgcache_parser *p, struct mc_part *q, struct span v)
{
	struct lex l = { v.p, v.n, 0, { NULL, 0 }, 0 };
	uint8_t t[128];
	size_t tn, good = 0;

	buf_reset(&p->tmp);
	while (l.i < l.n) {
		skip_cfws(&l);
		/* a language tag: ALPHA, DIGIT and '-' are all token chars */
		if ((tn = token(&l, t, sizeof(t))) > 0) {
			if (mc_put_str16(&p->tmp, t, tn, 0) < 0)
				break;
			good = p->tmp.len;
		} else if (l.i < l.n) {
			l.i++;
		}
	}
	if (good > 0)
		q->r[MC_R_LANG] = mc_str(p, p->tmp.data, good);
}

/* location: RFC 2557 4.4.1: folding white space is not part of it */
static void
location(struct msgcache_parser *p, struct mc_part *q, struct span v)
{
	size_t i;

	buf_reset(&p->tmp);
	for (i = 0; i < v.n; i++)
		if (!is_space(v.p[i]) && buf_add(&p->tmp, v.p + i, 1) < 0)
			break;
	q->r[MC_R_LOC] = mc_str(p, p->tmp.data, p->tmp.len);
}

static void
encoding(struct msgcache_parser *p, struct mc_part *q, struct span v)
{
	struct lex l = { v.p, v.n, 0, { NULL, 0 }, 0 };
	uint8_t t[64];
	size_t tn;

	skip_cfws(&l);
	if ((tn = token(&l, t, sizeof(t))) > 0)
		q->r[MC_R_ENC] = mc_str(p, t, tn);
}

/* ---- addresses (RFC 5322 3.4, obsolete forms of 4.4 tolerated) ---- */

static int
is_aspecial(uint8_t c)
{
	return is_space(c) || strchr("()<>[]:;@\\,\"", c) != NULL;
}

struct addr_acc {
	struct buf *name, *local;
	int words;
};

/* a word of a phrase or local part: atom, quoted-string or literal */
static int
word(struct lex *l, struct addr_acc *a)
{
	int c = peek(l);
	size_t s = l->i;

	if (c == '"') {
		if (a->words++ > 0 && buf_add(a->name, " ", 1) < 0)
			return -1;
		quoted(l, a->name);
	} else if (c == '[') {
		while (l->i < l->n && l->p[l->i] != ']')
			l->i += l->p[l->i] == '\\' && l->i + 1 < l->n ? 2 : 1;
		if (l->i < l->n)
			l->i++;
		if ((a->words++ > 0 && buf_add(a->name, " ", 1) < 0) ||
		    buf_add(a->name, l->p + s, l->i - s) < 0)
			return -1;
	} else if (c >= 0 && !is_aspecial((uint8_t)c)) {
		while (l->i < l->n && !is_aspecial(l->p[l->i]))
			l->i++;
		if ((a->words++ > 0 && buf_add(a->name, " ", 1) < 0) ||
		    buf_add(a->name, l->p + s, l->i - s) < 0)
			return -1;
	} else {
		return 0;
	}
	return buf_add(a->local, l->p + s, l->i - s) < 0 ? -1 : 1;
}

/* words: as many words as follow, CFWS between them skipped */
static int
words(struct lex *l, struct addr_acc *a)
{
	int rc;

	skip_cfws(l);
	while ((rc = word(l, a)) > 0)
		skip_cfws(l);
	return rc;
}

static int
emit(struct buf *o, struct span name, int name_nil, struct span adl,
    int adl_nil, struct span mbox, int mbox_nil, struct span host,
    int host_nil)
{
	if (mc_put_str16(o, name.p, name.n, name_nil) < 0 ||
	    mc_put_str16(o, adl.p, adl.n, adl_nil) < 0 ||
	    mc_put_str16(o, mbox.p, mbox.n, mbox_nil) < 0 ||
	    mc_put_str16(o, host.p, host.n, host_nil) < 0)
		return -1;
	return 0;
}

/* one mailbox from '<' or '@' on, or a bare local part; nm/loc hold
 * the words read before it */
static int
mailbox(struct msgcache_parser *p, struct lex *l, struct addr_acc *a)
{
	struct buf *dom = &p->tmp3;
	struct span name = buf_view(a->name), z = { (const uint8_t *)"", 0 };
	struct span adl = z, local;
	size_t adl_s = 0, adl_e = 0, local_s;
	int angle = peek(l) == '<', name_nil = a->words == 0;
	struct addr_acc d = { &p->tmp2, dom, 0 };

	buf_reset(dom);
	if (angle) {
		l->i++;
		skip_cfws(l);
		if (peek(l) == '@') {	/* obs-route: "@a,@b:" */
			adl_s = l->i;
			while (l->i < l->n && l->p[l->i] != ':' &&
			    l->p[l->i] != '>')
				l->i++;
			adl_e = l->i;
			if (peek(l) == ':')
				l->i++;
		}
		/* the phrase so far is the name; the local part is new */
		local_s = a->local->len;
		{
			struct addr_acc in = { dom, a->local, 0 };

			if (words(l, &in) < 0)
				return -1;
		}
		buf_reset(dom);
		local = span_make(a->local->data + local_s,
		    a->local->len - local_s);
	} else {
		local = buf_view(a->local);
	}
	if (peek(l) == '@') {
		l->i++;
		if (words(l, &d) < 0)
			return -1;
	}
	if (angle) {
		while (l->i < l->n && l->p[l->i] != '>' &&
		    l->p[l->i] != ',' && l->p[l->i] != ';')
			l->i++;
		if (peek(l) == '>')
			l->i++;
	} else {
		/* an addr-spec alone: "(Name)" after it may be the name */
		skip_cfws(l);
		name_nil = 1;
	}
	if (name_nil && l->have_comment) {
		name = trim(l->comment);
		name_nil = 0;
	}
	if (adl_e > adl_s) {
		buf_reset(&p->tmp2);
		for (; adl_s < adl_e; adl_s++)
			if (!is_space(l->p[adl_s]) &&
			    buf_add(&p->tmp2, l->p + adl_s, 1) < 0)
				return -1;
		adl = buf_view(&p->tmp2);
	}
	return emit(&p->tmp, name, name_nil, adl, adl.n == 0, local, 0,
	    buf_view(dom), 0);
}

static void
address_list(struct msgcache_parser *p, struct mc_ref *r, struct span v)
{
	struct lex l = { v.p, v.n, 0, { NULL, 0 }, 0 };
	struct buf *name = &p->aname, *local = &p->alocal;
	struct span z = { (const uint8_t *)"", 0 };
	size_t good = 0;
	int in_group = 0, rc = 0;

	buf_reset(&p->tmp);
	while (rc == 0) {
		struct addr_acc a = { name, local, 0 };
		int c;

		skip_cfws(&l);
		if ((c = peek(&l)) < 0)
			break;
		if (c == ',' || c == '>' || (c == ';' && !in_group) ||
		    (c == ':' && in_group)) {
			l.i++;
			continue;
		}
		if (c == ';') {
			l.i++;
			in_group = 0;
			rc = emit(&p->tmp, z, 1, z, 1, z, 1, z, 1);
			good = rc == 0 ? p->tmp.len : good;
			continue;
		}
		buf_reset(name);
		buf_reset(local);
		l.have_comment = 0;
		if ((rc = words(&l, &a)) < 0)
			break;
		c = peek(&l);
		if (c == ':' && !in_group) {
			l.i++;
			in_group = 1;
			rc = emit(&p->tmp, z, 1, z, 1, buf_view(name), 0, z, 1);
		} else if (c == '<' || c == '@' || a.words > 0) {
			rc = mailbox(p, &l, &a);
		} else if (c >= 0) {
			l.i++;		/* a stray special: skipped */
			continue;
		}
		good = rc == 0 ? p->tmp.len : good;
	}
	if (rc == 0 && in_group &&
	    emit(&p->tmp, z, 1, z, 1, z, 1, z, 1) == 0)
		good = p->tmp.len;
	if (good > 0)
		*r = mc_str(p, p->tmp.data, good);
}

/* ---- dispatch ---- */

static const char *const mime_names[] = {
	"content-type", "content-transfer-encoding", "content-id",
	"content-description", "content-md5", "content-disposition",
	"content-language", "content-location",
};
static const char *const env_names[] = {
	"date", "subject", "in-reply-to", "message-id", "from", "sender",
	"reply-to", "to", "cc", "bcc",
};

void
mc_header_field(struct msgcache_parser *p, struct span name,
    struct span value)
{
	struct mc_part *q = &p->parts[p->lv[p->depth - 1].part];
	struct span v = trim(value);
	unsigned i;

	for (i = 0; i < 8; i++)
		if (span_eq_ci(name, mime_names[i]))
			break;
	if (i < 8) {
		if (q->seen & (1u << i))
			return;
		q->seen |= 1u << i;
		switch (i) {
		case H_CT: content_type(p, q, v); break;
		case H_CTE: encoding(p, q, v); break;
		case H_ID: q->r[MC_R_ID] = mc_str(p, v.p, v.n); break;
		case H_DESC: q->r[MC_R_DESC] = mc_str(p, v.p, v.n); break;
		case H_MD5: q->r[MC_R_MD5] = mc_str(p, v.p, v.n); break;
		case H_DISP: disposition(p, q, v); break;
		case H_LANG: language(p, q, v); break;
		default: location(p, q, v); break;
		}
		return;
	}
	if (q->env == MC_NIL)
		return;
	for (i = 0; i < 10; i++)
		if (span_eq_ci(name, env_names[i]))
			break;
	if (i == 10 || (q->seen & (1u << (H_DATE + i))))
		return;
	q->seen |= 1u << (H_DATE + i);
	if (i < 4)
		p->envs[q->env].r[MC_E_DATE + i] = mc_str(p, v.p, v.n);
	else
		address_list(p, &p->envs[q->env].r[MC_E_ADDR + i - 4], v);
}
