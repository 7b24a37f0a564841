/* SEARCH text keys (RFC 9051 6.4.4): headers read from the blob or the file, bodies through imap_match_fold.c. */
/* SPDX-License-Identifier: ISC */
#include <string.h>
#include <strings.h>

#include "common/rfc2047.h"
#include "common/xmem.h"
#include "imapd/imap_match_priv.h"

/* field_fn: called with each unfolded field; non-zero stops the scan
 * and is returned (-1: error) */
typedef int (*field_fn)(void *arg, struct span name, struct span value);

#define FIELD_MAX (64 * 1024)

static int
emit_field(struct buf *fb, field_fn fn, void *arg)
{
	struct span s = buf_view(fb), name, val;
	size_t colon;

	if (s.n == 0 || !span_find_byte(s, ':', &colon))
		return 0;
	name = span_make(s.p, colon);
	while (name.n > 0 && (name.p[name.n - 1] == ' ' ||
	    name.p[name.n - 1] == '\t'))
		name.n--;
	val = span_make(s.p + colon + 1, s.n - colon - 1);
	while (val.n > 0 && (val.p[0] == ' ' || val.p[0] == '\t')) {
		val.p++;
		val.n--;
	}
	while (val.n > 0 && (val.p[val.n - 1] == ' ' ||
	    val.p[val.n - 1] == '\t'))
		val.n--;
	return fn(arg, name, val);
}

/* the header at [off, end): unfolded fields to fn (RFC 5322 2.2.3);
 * a field longer than FIELD_MAX is cut there */
static int
scan_header(struct imt_msg *t, uint64_t off, uint64_t end, field_fn fn,
    void *arg)
{
	struct buf fb;
	uint8_t *chunk = xmalloc(IMT_CHUNK);
	int bol = 1, rc = 0;

	buf_init(&fb, 256, FIELD_MAX);
	while (off < end && rc == 0) {
		size_t want = end - off < IMT_CHUNK ? (size_t)(end - off) :
		    IMT_CHUNK, i;
		ssize_t r = t->msg->read(t->msg->read_arg, off, chunk, want);

		if (r <= 0) {
			rc = r < 0 ? -1 : 0;
			break;
		}
		off += (uint64_t)r;
		for (i = 0; i < (size_t)r && rc == 0; i++) {
			uint8_t c = chunk[i];

			if (bol && (c == '\r' || c == '\n')) {
				off = end;	/* the blank line */
				break;
			}
			if (bol && c != ' ' && c != '\t') {
				rc = emit_field(&fb, fn, arg);
				buf_reset(&fb);
			}
			bol = c == '\n';
			if (c == '\r' || c == '\n')
				continue;	/* unfolding drops line ends */
			if (buf_add(&fb, &c, 1) != 0)
				continue;	/* cut */
		}
	}
	if (rc == 0)
		rc = emit_field(&fb, fn, arg);
	buf_fini(&fb);
	xfree(&chunk);
	return rc < 0 ? -1 : rc;
}

/* ---- the keys ---- */

/*
 * Header values are searched unfolded, with every run of white space
 * (the fold's, tabs, doubled blanks, also inside decoded words) made
 * one space: "SUBJECT \"a b\"" finds "a\t b".  Only b->data[0..upto)
 * is touched (TEXT keeps the line end it puts after each field).
 */
static void
ws_collapse(struct buf *b, size_t upto)
{
	size_t i, o = 0;

	for (i = 0; i < upto; i++) {
		uint8_t c = b->data[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && o > 0 && b->data[o - 1] == ' ')
			continue;
		b->data[o++] = c;
	}
	memmove(b->data + o, b->data + upto, b->len - upto);
	b->len = o + (b->len - upto);
	b->data[b->len] = 0;
}

struct hdr_search {
	const char *only;		/* NULL: every field (TEXT, BODY) */
	struct span only_s;
	struct imt_finder *f;
	struct buf dec;
	int seen;			/* a field of that name exists */
};

static int
hdr_field(void *arg, struct span name, struct span value)
{
	struct hdr_search *h = arg;

	if (h->only != NULL && !(name.n == h->only_s.n &&
	    strncasecmp((const char *)name.p, (const char *)h->only_s.p,
	    name.n) == 0))
		return 0;
	h->seen = 1;
	buf_reset(&h->dec);
	if (h->only == NULL && (buf_addspan(&h->dec, name) != 0 ||
	    buf_addstr(&h->dec, ": ") != 0))
		return -1;
	if (rfc2047_decode(value, &h->dec) != 0)
		return -1;
	if (h->only == NULL && buf_addstr(&h->dec, "\n") != 0)
		return -1;
	ws_collapse(&h->dec, h->only == NULL ? h->dec.len - 1 : h->dec.len);
	if (imt_finder_text(h->f, buf_view(&h->dec)) != 0)
		return -1;
	/* HEADER with "" matches a message that has the field at all */
	return h->f->found || (h->only != NULL && h->f->needle.n == 0);
}

static int
search_header(struct imt_msg *t, const struct msgcache_part *p,
    struct span only, struct imt_finder *f, int *seen)
{
	struct hdr_search h;
	char name[256];
	int rc;

	memset(&h, 0, sizeof(h));
	h.f = f;
	if (only.p != NULL) {
		if (only.n >= sizeof(name))
			return 0;	/* no field name is that long */
		memcpy(name, only.p, only.n);
		name[only.n] = 0;
		h.only = name;
		h.only_s = only;
	}
	buf_init(&h.dec, 256, SIZE_MAX / 2);
	rc = scan_header(t, p->header_off, p->body_off, hdr_field, &h);
	buf_fini(&h.dec);
	if (seen != NULL)
		*seen = h.seen;
	return rc < 0 ? -1 : 0;
}

/* BODY (with_header 0) or TEXT (1): the text parts decoded, and the
 * headers of encapsulated messages; TEXT adds the top-level header */
static int
search_parts(struct imt_msg *t, struct imt_finder *f, int with_header)
{
	uint32_t i, n = msgcache_n_parts(t->blob);
	struct span none = { NULL, 0 };

	for (i = 0; i < n && !f->found; i++) {
		struct msgcache_part p;

		if (msgcache_part(t->blob, i, &p) != 0)
			break;
		if (p.is_message && (i != 0 || with_header) &&
		    search_header(t, &p, none, f, NULL) != 0)
			return -1;
		if (p.n_children == 0 && span_eq(p.type, "text") &&
		    imt_scan_body(t, &p, f) != 0)
			return -1;
	}
	return 0;
}

int
imt_addr_text(const struct msgcache_env *env, enum msgcache_field f,
    struct buf *out)
{
	struct msgcache_addr a;
	size_t i;

	for (i = 0; msgcache_addr(env, f, i, &a) == 0; i++) {
		if (i > 0 && buf_addstr(out, ", ") != 0)
			return -1;
		if (a.host_nil) {	/* group start or end */
			if (!a.mailbox_nil && (buf_addspan(out, a.mailbox) != 0
			    || buf_addstr(out, ":") != 0))
				return -1;
			if (a.mailbox_nil && buf_addstr(out, ";") != 0)
				return -1;
			continue;
		}
		if (!a.name_nil && a.name.n > 0 && (rfc2047_decode(a.name,
		    out) != 0 || buf_addstr(out, " ") != 0))
			return -1;
		if (buf_addstr(out, "<") != 0 || buf_addspan(out,
		    a.mailbox) != 0)
			return -1;
		if (a.host.n > 0 && (buf_addstr(out, "@") != 0 ||
		    buf_addspan(out, a.host) != 0))
			return -1;
		if (buf_addstr(out, ">") != 0)
			return -1;
	}
	return 0;
}

/* FROM TO CC BCC SUBJECT from the envelope */
static int
env_key(struct imt_msg *t, const struct imap_snode *n, struct imt_finder *f)
{
	const struct msgcache_env *env;
	struct buf text;
	int rc = imt_msg_env(t, &env);

	if (rc <= 0)
		return rc;
	buf_init(&text, 256, SIZE_MAX / 2);
	switch (n->key) {
	case IMAP_SK_SUBJECT:
		rc = env->subject_nil ? 0 : rfc2047_decode(env->subject,
		    &text);
		break;
	case IMAP_SK_FROM:
		rc = imt_addr_text(env, MSGCACHE_FROM, &text);
		break;
	case IMAP_SK_TO:
		rc = imt_addr_text(env, MSGCACHE_TO, &text);
		break;
	case IMAP_SK_CC:
		rc = imt_addr_text(env, MSGCACHE_CC, &text);
		break;
	default:
		rc = imt_addr_text(env, MSGCACHE_BCC, &text);
		break;
	}
	if (rc == 0)
		rc = (ws_collapse(&text, text.len), imt_finder_text(f,
		    buf_view(&text)));
	buf_fini(&text);
	return rc < 0 ? -1 : f->found;
}

/*
 * HEADER of a field the envelope holds raw (Subject, Date, Message-ID,
 * In-Reply-To) is answered from the blob without opening the file, so
 * that "HEADER Message-ID <...>" on a big mailbox reads no file.  An
 * empty value (the blob drops a value when its string space is full)
 * or one near MSGCACHE_MAX_HEADER (cut) sends it to the file.  -2: ask
 * the file.  XXX: the blob keeps only the first of a repeated field, so
 * a second Subject: (malformed, RFC 5322 3.6 allows one) is not
 * searched.
 */
static int
header_from_env(struct imt_msg *t, const struct imap_snode *n,
    struct imt_finder *f)
{
	const struct msgcache_env *env;
	struct span v;
	struct buf dec;
	int nil, rc;

	if (span_eq_ci(n->field, "Subject"))
		rc = 0;
	else if (span_eq_ci(n->field, "Date"))
		rc = 1;
	else if (span_eq_ci(n->field, "Message-ID"))
		rc = 2;
	else if (span_eq_ci(n->field, "In-Reply-To"))
		rc = 3;
	else
		return -2;
	if (imt_msg_env(t, &env) != 1)
		return -2;
	v = rc == 0 ? env->subject : rc == 1 ? env->date : rc == 2 ?
	    env->message_id : env->in_reply_to;
	nil = rc == 0 ? env->subject_nil : rc == 1 ? env->date_nil :
	    rc == 2 ? env->message_id_nil : env->in_reply_to_nil;
	if (nil)
		return 0;	/* no such field */
	if (v.n == 0 || v.n + 1024 >= MSGCACHE_MAX_HEADER)
		return -2;
	buf_init(&dec, v.n + 16, SIZE_MAX / 2);
	rc = rfc2047_decode(v, &dec) != 0 ? -1 : (ws_collapse(&dec, dec.len),
	    imt_finder_text(f, buf_view(&dec)));
	buf_fini(&dec);
	return rc < 0 ? -1 : f->found;
}

int
imt_text_key(struct imt_msg *t, const struct imap_snode *n)
{
	struct msgcache_part top;
	struct imt_finder f;
	struct buf needle;
	int rc, seen = 0;

	if (n->str.n == 0 && n->key != IMAP_SK_HEADER)
		return 1;	/* the empty string is in every text */
	if (imt_msg_blob(t) != 0)
		return -1;
	buf_init(&needle, n->str.n + 16, SIZE_MAX / 2);
	if (imt_fold(n->str, &needle) != 0) {
		buf_fini(&needle);
		return -1;
	}
	/* header text is compared with its white space runs made one
	 * space, and so is the string for a header key */
	if (n->key != IMAP_SK_BODY && n->key != IMAP_SK_TEXT)
		ws_collapse(&needle, needle.len);
	imt_finder_init(&f, buf_view(&needle));
	switch (n->key) {
	case IMAP_SK_HEADER:
		if ((rc = header_from_env(t, n, &f)) != -2)
			break;
		rc = msgcache_part(t->blob, 0, &top) != 0 ? -1 :
		    search_header(t, &top, n->field.p != NULL ? n->field :
		    span_make("", 0), &f, &seen);
		if (rc == 0)
			rc = seen && (f.found || needle.len == 0);
		break;
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		rc = search_parts(t, &f, n->key == IMAP_SK_TEXT);
		if (rc == 0)
			rc = f.found;
		break;
	default:
		rc = env_key(t, n, &f);
		break;
	}
	imt_finder_fini(&f);
	buf_fini(&needle);
	return rc;
}

/* ---- one field's raw value (References for THREAD) ---- */

struct first_field {
	struct span name;
	struct buf *out;
	int found;
};

static int
first_field_fn(void *arg, struct span name, struct span value)
{
	struct first_field *ff = arg;

	if (name.n != ff->name.n || strncasecmp((const char *)name.p,
	    (const char *)ff->name.p, name.n) != 0)
		return 0;
	ff->found = 1;
	return buf_addspan(ff->out, value) != 0 ? -1 : 1;
}

int
imt_read_header_field(struct imt_msg *t, const char *name, struct buf *out)
{
	struct first_field ff = { span_cstr(name), out, 0 };
	struct msgcache_part top;

	if (imt_msg_blob(t) != 0 || msgcache_part(t->blob, 0, &top) != 0)
		return -1;
	if (scan_header(t, top.header_off, top.body_off, first_field_fn,
	    &ff) < 0)
		return -1;
	return ff.found;
}
