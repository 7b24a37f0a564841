/* FETCH items from the cached MIME structure: ENVELOPE, BODY, BODYSTRUCTURE, section plans, header filtering, BINARY decoding. */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_render.h"

#include <string.h>
#include <strings.h>

#include "common/msgcache.h"
#include "imapd/imap_args.h"

/* Longest value sent as a quoted string; longer ones go as literals
 * (servers commonly cut over near here; quoted strings have no length
 * prefix, so a client must scan them byte by byte). */
#define QUOTED_MAX 1024

/* ---- strings ---- */

static int
quotable(struct span s, int utf8)
{
	size_t i;

	if (s.n > QUOTED_MAX)
		return 0;
	for (i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];

		/* RFC 9051 9: QUOTED-CHAR excludes CR, LF and NUL; 8-bit
		 * only as UTF-8 once IMAP4rev2 or UTF8=ACCEPT is on (the
		 * header bytes are what the message holds, so anything else
		 * goes as a literal, which may carry 8-bit bytes). */
		if (c == '\r' || c == '\n' || c == 0)
			return 0;
		if (c >= 0x80 && !utf8)
			return 0;
	}
	return 1;
}

int
imap_render_string(struct span s, int nil, int utf8, struct buf *out)
{
	size_t i, start;
	int rc = 0;

	if (nil)
		return buf_addstr(out, "NIL");
	if (!quotable(s, utf8)) {
		rc |= buf_addf(out, "{%zu}\r\n", s.n);
		rc |= buf_add(out, s.p, s.n);
		return rc ? -1 : 0;
	}
	rc |= buf_addstr(out, "\"");
	for (i = start = 0; i < s.n; i++) {
		if (s.p[i] != '"' && s.p[i] != '\\')
			continue;
		rc |= buf_add(out, s.p + start, i - start);
		rc |= buf_addstr(out, "\\");
		start = i;
	}
	rc |= buf_add(out, s.p + start, s.n - start);
	rc |= buf_addstr(out, "\"");
	return rc ? -1 : 0;
}

/* ---- ENVELOPE (RFC 9051 7.5.2) ---- */

static int
render_addrs(const struct msgcache_env *env, enum msgcache_field f,
    int utf8, struct buf *out)
{
	struct msgcache_addr a;
	size_t i;
	int rc = 0;

	if (env->n_addrs[f] == 0)
		return buf_addstr(out, "NIL");
	rc |= buf_addstr(out, "(");
	for (i = 0; msgcache_addr(env, f, i, &a) == 0; i++) {
		rc |= buf_addstr(out, "(");
		rc |= imap_render_string(a.name, a.name_nil || a.name.n == 0,
		    utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= imap_render_string(a.adl, a.adl_nil, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= imap_render_string(a.mailbox, a.mailbox_nil, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= imap_render_string(a.host, a.host_nil, utf8, out);
		rc |= buf_addstr(out, ")");
	}
	if (i == 0)
		return -1;	/* the count said entries: a corrupt blob */
	rc |= buf_addstr(out, ")");
	return rc ? -1 : 0;
}

int
imap_render_envelope(struct span blob, uint32_t part_index, int utf8,
    struct buf *out)
{
	struct msgcache_env env;
	enum msgcache_field f;
	int rc = 0;

	if (msgcache_envelope(blob, part_index, &env) != 0)
		return -1;
	rc |= buf_addstr(out, "(");
	rc |= imap_render_string(env.date, env.date_nil, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(env.subject, env.subject_nil, utf8, out);
	for (f = MSGCACHE_FROM; f <= MSGCACHE_BCC; f++) {
		enum msgcache_field use = f;

		/* RFC 9051 7.5.2: "If the Sender or Reply-To lines are
		 * absent in the [RFC5322] header, or are present but
		 * empty, the server sets the corresponding member of the
		 * envelope to be the same value as the from member." */
		if ((f == MSGCACHE_SENDER || f == MSGCACHE_REPLY_TO) &&
		    env.n_addrs[f] == 0)
			use = MSGCACHE_FROM;
		rc |= buf_addstr(out, " ");
		rc |= render_addrs(&env, use, utf8, out);
	}
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(env.in_reply_to, env.in_reply_to_nil, utf8,
	    out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(env.message_id, env.message_id_nil, utf8,
	    out);
	rc |= buf_addstr(out, ")");
	return rc ? -1 : 0;
}

/* ---- BODY and BODYSTRUCTURE ---- */

static int
render_params(struct span params, int utf8, struct buf *out)
{
	struct span cur = params, name, value;
	int rc = 0, any = 0;

	while (msgcache_param_next(&cur, &name, &value) == 1) {
		rc |= buf_addstr(out, any ? " " : "(");
		rc |= imap_render_string(name, 0, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= imap_render_string(value, 0, utf8, out);
		any = 1;
	}
	rc |= buf_addstr(out, any ? ")" : "NIL");
	return rc ? -1 : 0;
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 9051 9) */
static int
render_dsp_lang_loc(const struct msgcache_part *p, int utf8, struct buf *out)
{
	struct span cur, v;
	size_t n = 0;
	int rc = 0;

	if (p->disposition.n == 0) {
		rc |= buf_addstr(out, "NIL");
	} else {
		rc |= buf_addstr(out, "(");
		rc |= imap_render_string(p->disposition, 0, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= render_params(p->disp_params, utf8, out);
		rc |= buf_addstr(out, ")");
	}
	rc |= buf_addstr(out, " ");
	/* body-fld-lang: nstring / "(" string *(SP string) ")" */
	cur = p->language;
	while (msgcache_list_next(&cur, &v) == 1)
		n++;
	if (n == 0) {
		rc |= buf_addstr(out, "NIL");
	} else if (n == 1) {
		cur = p->language;
		(void)msgcache_list_next(&cur, &v);
		rc |= imap_render_string(v, 0, utf8, out);
	} else {
		cur = p->language;
		rc |= buf_addstr(out, "(");
		for (n = 0; msgcache_list_next(&cur, &v) == 1; n++) {
			if (n > 0)
				rc |= buf_addstr(out, " ");
			rc |= imap_render_string(v, 0, utf8, out);
		}
		rc |= buf_addstr(out, ")");
	}
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p->location, p->location_nil, utf8, out);
	return rc ? -1 : 0;
}

static int
is_message_type(const struct msgcache_part *p)
{
	return span_eq(p->type, "message") &&
	    (span_eq(p->subtype, "rfc822") || span_eq(p->subtype, "global")) &&
	    p->n_children == 1;
}

static int render_part(struct span blob, uint32_t index, int ext, int utf8,
    unsigned depth, struct buf *out);

static int
render_multipart(struct span blob, const struct msgcache_part *p, int ext,
    int utf8, unsigned depth, struct buf *out)
{
	struct msgcache_part c;
	uint32_t i, k;
	int rc = 0;

	/* body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]:
	 * the bodies follow each other without a space. */
	for (i = p->first_child, k = 0; k < p->n_children; k++) {
		if (render_part(blob, i, ext, utf8, depth + 1, out) != 0)
			return -1;
		if (msgcache_part(blob, i, &c) != 0)
			return -1;
		i = c.next_sibling;
		if (i == 0 && k + 1 < p->n_children)
			return -1;
	}
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p->subtype, 0, utf8, out);
	if (ext) {
		/* body-ext-mpart = body-fld-param [SP body-fld-dsp [SP
		 * body-fld-lang [SP body-fld-loc]]] */
		rc |= buf_addstr(out, " ");
		rc |= render_params(p->params, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= render_dsp_lang_loc(p, utf8, out);
	}
	return rc ? -1 : 0;
}

static int
render_part(struct span blob, uint32_t index, int ext, int utf8,
    unsigned depth, struct buf *out)
{
	struct msgcache_part p;
	int rc = 0;

	if (depth > MSGCACHE_MAX_DEPTH + 2 || msgcache_part(blob, index, &p))
		return -1;
	rc |= buf_addstr(out, "(");
	if (span_eq(p.type, "multipart") && p.n_children > 0) {
		if (render_multipart(blob, &p, ext, utf8, depth, out) != 0)
			return -1;
		rc |= buf_addstr(out, ")");
		return rc ? -1 : 0;
	}
	/* body-type-1part: media type, body-fields */
	rc |= imap_render_string(p.type, 0, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p.subtype, 0, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= render_params(p.params, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p.id, p.id_nil, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p.description, p.description_nil, utf8, out);
	rc |= buf_addstr(out, " ");
	rc |= imap_render_string(p.encoding, 0, utf8, out);
	rc |= buf_addf(out, " %llu",
	    (unsigned long long)(p.end_off - p.body_off));
	if (is_message_type(&p)) {
		/* body-type-msg: ... SP envelope SP body SP body-fld-lines */
		rc |= buf_addstr(out, " ");
		if (imap_render_envelope(blob, p.first_child, utf8, out) != 0)
			return -1;
		rc |= buf_addstr(out, " ");
		if (render_part(blob, p.first_child, ext, utf8, depth + 1,
		    out) != 0)
			return -1;
		rc |= buf_addf(out, " %llu", (unsigned long long)p.lines);
	} else if (span_eq(p.type, "text")) {
		rc |= buf_addf(out, " %llu", (unsigned long long)p.lines);
	}
	if (ext) {
		/* body-ext-1part = body-fld-md5 [SP body-fld-dsp ...] */
		rc |= buf_addstr(out, " ");
		rc |= imap_render_string(p.md5, p.md5_nil, utf8, out);
		rc |= buf_addstr(out, " ");
		rc |= render_dsp_lang_loc(&p, utf8, out);
	}
	rc |= buf_addstr(out, ")");
	return rc ? -1 : 0;
}

int
imap_render_body(struct span blob, int ext, int utf8, struct buf *out)
{
	size_t mark = out->len;

	if (msgcache_n_parts(blob) == 0 ||
	    render_part(blob, 0, ext, utf8, 0, out) != 0) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = 0;
		return -1;
	}
	return 0;
}

/* ---- section plans (RFC 9051 6.4.5) ---- */

static void
plan_range(struct imap_plan *out, enum imap_plan_kind kind, uint64_t from,
    uint64_t to, uint64_t file_size)
{
	if (to > file_size)
		to = file_size;
	if (from > to)
		from = to;
	out->kind = kind;
	out->off = from;
	out->len = to - from;
}

static enum imap_cte
cte_of(struct span enc)
{
	if (enc.n == 0 || span_eq(enc, "7bit") || span_eq(enc, "8bit") ||
	    span_eq(enc, "binary"))
		return IMAP_CTE_IDENTITY;
	if (span_eq(enc, "base64"))
		return IMAP_CTE_BASE64;
	if (span_eq(enc, "quoted-printable"))
		return IMAP_CTE_QP;
	return IMAP_CTE_UNKNOWN;
}

int
imap_section_plan(struct span blob, uint64_t file_size,
    const struct imap_fetch_item *it, struct imap_plan *out,
    const char **why)
{
	struct msgcache_part p, m;
	enum imap_fsect sect = it->sect;
	int binary;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (msgcache_part(blob, 0, &p) != 0) {
		*why = "the message's structure is unreadable";
		return -1;
	}
	switch (it->att) {
	case IMAP_FA_RFC822:
		plan_range(out, IMAP_PLAN_RANGE, 0, file_size, file_size);
		return 0;
	case IMAP_FA_RFC822_HEADER:
		plan_range(out, IMAP_PLAN_RANGE, 0, p.body_off, file_size);
		return 0;
	case IMAP_FA_RFC822_TEXT:
		plan_range(out, IMAP_PLAN_RANGE, p.body_off, file_size,
		    file_size);
		return 0;
	case IMAP_FA_BODY_SECTION:
		binary = 0;
		break;
	case IMAP_FA_BINARY:
	case IMAP_FA_BINARY_SIZE:
		binary = 1;
		break;
	default:
		*why = "not a section item";
		return -1;
	}
	if (binary && sect != IMAP_FS_NONE) {
		*why = "BINARY takes part numbers only";
		return -1;
	}
	if (it->n_part == 0) {
		/* The whole message: BODY[], BODY[HEADER], BODY[TEXT], ...;
		 * BINARY[] is the message as it is (RFC 3516 defines no
		 * decoding of a message as a whole). */
		switch (sect) {
		case IMAP_FS_NONE:
			plan_range(out, IMAP_PLAN_RANGE, 0, file_size,
			    file_size);
			return 0;
		case IMAP_FS_HEADER:
			plan_range(out, IMAP_PLAN_RANGE, 0, p.body_off,
			    file_size);
			return 0;
		case IMAP_FS_HEADER_FIELDS:
		case IMAP_FS_HEADER_FIELDS_NOT:
			plan_range(out, IMAP_PLAN_FILTER, 0, p.body_off,
			    file_size);
			return 0;
		case IMAP_FS_TEXT:
			plan_range(out, IMAP_PLAN_RANGE, p.body_off,
			    file_size, file_size);
			return 0;
		case IMAP_FS_MIME:
		default:
			*why = "MIME needs part numbers";
			return -1;
		}
	}
	if (msgcache_section(blob, it->part, it->n_part, &p) != 0) {
		/* No such part: the empty string, as Dovecot and Cyrus
		 * answer, so that one bad number does not fail a FETCH of
		 * many messages. */
		out->kind = IMAP_PLAN_NONE;
		return 0;
	}
	if (binary) {
		/* RFC 9051 6.4.5: BINARY only for leaf parts. */
		if ((span_eq(p.type, "multipart") && p.n_children > 0) ||
		    is_message_type(&p)) {
			*why = "BINARY is only for leaf body parts";
			return -1;
		}
		out->cte = cte_of(p.encoding);
		if (out->cte == IMAP_CTE_UNKNOWN) {
			*why = "[UNKNOWN-CTE] the part's "
			    "Content-Transfer-Encoding is not one this "
			    "server decodes";
			return -1;
		}
		plan_range(out, IMAP_PLAN_DECODE, p.body_off, p.end_off,
		    file_size);
		return 0;
	}
	switch (sect) {
	case IMAP_FS_NONE:
		plan_range(out, IMAP_PLAN_RANGE, p.body_off, p.end_off,
		    file_size);
		return 0;
	case IMAP_FS_MIME:
		/* The part's own MIME header.  For part 1 of a single-part
		 * message (part 0 itself) that is the message header. */
		plan_range(out, IMAP_PLAN_RANGE, p.header_off, p.body_off,
		    file_size);
		return 0;
	default:
		break;
	}
	/* HEADER, HEADER.FIELDS[.NOT], TEXT after part numbers: only of a
	 * MESSAGE/RFC822 or MESSAGE/GLOBAL part (RFC 9051 6.4.5), and then
	 * of the message it holds. */
	if (!is_message_type(&p) ||
	    msgcache_part(blob, p.first_child, &m) != 0) {
		out->kind = IMAP_PLAN_NONE;
		return 0;
	}
	switch (sect) {
	case IMAP_FS_HEADER:
		plan_range(out, IMAP_PLAN_RANGE, m.header_off, m.body_off,
		    file_size);
		return 0;
	case IMAP_FS_HEADER_FIELDS:
	case IMAP_FS_HEADER_FIELDS_NOT:
		plan_range(out, IMAP_PLAN_FILTER, m.header_off, m.body_off,
		    file_size);
		return 0;
	case IMAP_FS_TEXT:
		plan_range(out, IMAP_PLAN_RANGE, m.body_off, m.end_off,
		    file_size);
		return 0;
	default:
		*why = "unknown section";
		return -1;
	}
}

/* ---- HEADER.FIELDS ---- */

/* The end of the line starting at off (after its LF), or h.n. */
static size_t
line_end(struct span h, size_t off)
{
	size_t k;

	if (span_find_byte(span_make(h.p + off, h.n - off), '\n', &k) == 1)
		return off + k + 1;
	return h.n;
}

static int
field_listed(struct span name, struct imap_args fields)
{
	const struct imap_arg *a;
	struct span want;
	size_t i;

	for (i = 0; (a = imap_args_at(fields, i)) != NULL; i++) {
		if (imap_arg_astring(a, &want) != 0 || want.n != name.n)
			continue;
		if (name.n == 0 || strncasecmp((const char *)want.p,
		    (const char *)name.p, name.n) == 0)
			return 1;
	}
	return 0;
}

int
imap_header_filter(struct span header, struct imap_args fields, int not_,
    struct buf *out)
{
	size_t off = 0, end, colon, n;
	int rc = 0;

	while (off < header.n) {
		uint8_t c = header.p[off];

		/* the blank line that ends the header */
		if (c == '\r' || c == '\n')
			break;
		/* a field: its first line and every continuation line */
		end = line_end(header, off);
		while (end < header.n &&
		    (header.p[end] == ' ' || header.p[end] == '\t'))
			end = line_end(header, end);
		if (c == ' ' || c == '\t') {
			/* a continuation with no field before it: keep it
			 * out of every result */
			off = end;
			continue;
		}
		for (colon = off; colon < end && header.p[colon] != ':' &&
		    header.p[colon] != '\n'; colon++)
			;
		if (colon < end && header.p[colon] == ':') {
			n = colon - off;
			/* RFC 5322 has no space before the colon, but
			 * old mail ("Subject : x") does: ignore it. */
			while (n > 0 && (header.p[off + n - 1] == ' ' ||
			    header.p[off + n - 1] == '\t'))
				n--;
			if (field_listed(span_make(header.p + off, n),
			    fields) != not_)
				rc |= buf_add(out, header.p + off, end - off);
		}
		off = end;
	}
	/* RFC 9051 6.4.5: the subset "includes the blank line". */
	rc |= buf_addstr(out, "\r\n");
	return rc ? -1 : 0;
}

/* ---- BINARY decoding ---- */

void
imap_cte_dec_init(struct imap_cte_dec *d, enum imap_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
}

static int
emit(struct imap_cte_dec *d, const void *p, size_t n, struct buf *out)
{
	if (n == 0)
		return 0;
	d->n_out += n;
	if (!d->has_nul && memchr(p, 0, n) != NULL)
		d->has_nul = 1;
	return out != NULL ? buf_add(out, p, n) : 0;
}

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Emit the bytes of the sextets held (2 -> 1 byte, 3 -> 2, 4 -> 3). */
static int
b64_flush(struct imap_cte_dec *d, struct buf *out)
{
	uint8_t o[3];
	uint32_t v = 0;
	size_t i, n;

	if (d->n_pend < 2) {
		d->n_pend = 0;
		return 0;
	}
	for (i = 0; i < 4; i++)
		v = v << 6 | (i < d->n_pend ? d->pend[i] : 0);
	o[0] = (uint8_t)(v >> 16);
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)v;
	n = d->n_pend - 1;
	d->n_pend = 0;
	return emit(d, o, n, out);
}

static int
b64_feed(struct imap_cte_dec *d, struct span in, int last, struct buf *out)
{
	uint8_t o[3 * 256];
	size_t i, k = 0;
	int v, rc = 0;

	for (i = 0; i < in.n; i++) {
		uint8_t c = in.p[i];

		if (c == '=') {
			/* Padding closes the quantum.  Lenient: data after
			 * it (several encoded runs glued together) starts
			 * a new one. */
			rc |= emit(d, o, k, out);
			k = 0;
			rc |= b64_flush(d, out);
			continue;
		}
		if ((v = b64_val(c)) < 0)
			continue;	/* line ends, junk: RFC 2045 6.8 */
		d->pend[d->n_pend++] = (uint8_t)v;
		if (d->n_pend == 4) {
			uint32_t q = (uint32_t)d->pend[0] << 18 |
			    (uint32_t)d->pend[1] << 12 |
			    (uint32_t)d->pend[2] << 6 | d->pend[3];

			o[k++] = (uint8_t)(q >> 16);
			o[k++] = (uint8_t)(q >> 8);
			o[k++] = (uint8_t)q;
			d->n_pend = 0;
			if (k == sizeof(o)) {
				rc |= emit(d, o, k, out);
				k = 0;
			}
		}
	}
	rc |= emit(d, o, k, out);
	if (last)
		rc |= b64_flush(d, out);
	return rc ? -1 : 0;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* QP output goes through a small staging buffer. */
struct qp_out {
	struct imap_cte_dec *d;
	struct buf *out;
	uint8_t b[512];
	size_t n;
	int rc;
};

static void
qp_put(struct qp_out *q, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t k = sizeof(q->b) - q->n;

		if (k > n)
			k = n;
		memcpy(q->b + q->n, s, k);
		q->n += k;
		s += k;
		n -= k;
		if (q->n == sizeof(q->b)) {
			q->rc |= emit(q->d, q->b, q->n, q->out);
			q->n = 0;
		}
	}
}

static void
qp_ws_flush(struct qp_out *q)
{
	qp_put(q, q->d->ws, q->d->n_ws);
	q->d->n_ws = 0;
}

/* One byte outside an escape. */
static void
qp_byte(struct qp_out *q, uint8_t c)
{
	struct imap_cte_dec *d = q->d;

	if (d->cr) {
		d->cr = 0;
		if (c == '\n') {
			/* RFC 2045 6.7 (3): white space at the end of an
			 * encoded line is transport padding: drop it. */
			d->n_ws = 0;
			qp_put(q, "\r\n", 2);
			return;
		}
		qp_ws_flush(q);
		qp_put(q, "\r", 1);
	}
	switch (c) {
	case '=':
		d->pend[0] = '=';
		d->n_pend = 1;
		return;
	case ' ':
	case '\t':
		if (d->n_ws == sizeof(d->ws))
			qp_ws_flush(q);
		d->ws[d->n_ws++] = c;
		return;
	case '\r':
		d->cr = 1;
		return;
	case '\n':
		d->n_ws = 0;
		qp_put(q, "\n", 1);
		return;
	default:
		qp_ws_flush(q);
		qp_put(q, &c, 1);
		return;
	}
}

static int
qp_feed(struct imap_cte_dec *d, struct span in, int last, struct buf *out)
{
	struct qp_out q = { d, out, { 0 }, 0, 0 };
	size_t i;

	for (i = 0; i < in.n; i++) {
		uint8_t c = in.p[i];

		if (d->n_pend == 0) {
			qp_byte(&q, c);
			continue;
		}
		/* inside "=", "=X" or "=\r" */
		if (d->n_pend == 1) {
			if (hexval(c) >= 0) {
				d->pend[d->n_pend++] = c;
				continue;
			}
			if (c == '\r') {
				d->pend[d->n_pend++] = c;
				continue;
			}
			if (c == '\n') {	/* soft line break, bare LF */
				d->n_pend = 0;
				continue;
			}
			if (c == ' ' || c == '\t')
				continue;	/* padding after a soft break */
			/* "=" then something else: keep it as it is */
			d->n_pend = 0;
			qp_ws_flush(&q);
			qp_put(&q, "=", 1);
			qp_byte(&q, c);
			continue;
		}
		if (d->pend[1] == '\r') {
			d->n_pend = 0;
			if (c == '\n')
				continue;	/* soft line break */
			qp_ws_flush(&q);
			qp_put(&q, "=", 1);
			qp_byte(&q, '\r');
			qp_byte(&q, c);
			continue;
		}
		/* "=X" */
		d->n_pend = 0;
		qp_ws_flush(&q);
		if (hexval(c) >= 0) {
			uint8_t v = (uint8_t)(hexval(d->pend[1]) << 4 |
			    hexval(c));

			qp_put(&q, &v, 1);
		} else {
			qp_put(&q, d->pend, 2);
			qp_byte(&q, c);
		}
	}
	if (last) {
		/* An escape cut by the end stays as it is; trailing white
		 * space of the last line is padding (6.7 (3)). */
		if (d->n_pend > 0) {
			qp_ws_flush(&q);
			qp_put(&q, d->pend, d->n_pend);
			d->n_pend = 0;
		}
		if (d->cr) {
			qp_ws_flush(&q);
			qp_put(&q, "\r", 1);
			d->cr = 0;
		}
		d->n_ws = 0;
	}
	q.rc |= emit(d, q.b, q.n, out);
	return q.rc ? -1 : 0;
}

int
imap_cte_dec_feed(struct imap_cte_dec *d, struct span in, int last,
    struct buf *out)
{
	switch (d->cte) {
	case IMAP_CTE_BASE64:
		return b64_feed(d, in, last, out);
	case IMAP_CTE_QP:
		return qp_feed(d, in, last, out);
	default:
		return emit(d, in.p, in.n, out);
	}
}
