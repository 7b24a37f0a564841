/* Evaluating a parsed SEARCH (RFC 9051 6.4.4) on one message: the keys the index answers, dates, sets, and the boolean structure. */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_match.h"

#include <stdio.h>
#include <string.h>

#include "common/msgcache.h"
#include "common/xmem.h"
#include "imapd/imap_match_priv.h"

/* ---- the message's blob and envelope, loaded on first need ---- */

void
imt_msg_init(struct imt_msg *t, const struct imap_match_msg *msg)
{
	memset(t, 0, sizeof(*t));
	t->msg = msg;
}

void
imt_msg_fini(struct imt_msg *t)
{
	if (t->built_used)
		buf_fini(&t->built);
	t->built_used = 0;
}

/* Parse the file's header and MIME structure with msgcache, reading it
 * in chunks (the parser's memory is bounded, the file is never held). */
static int
build_blob(struct imt_msg *t)
{
	struct msgcache_parser *ps;
	uint8_t *chunk;
	uint64_t off = 0;
	ssize_t r = 0;

	if (t->msg->read == NULL)
		return -1;
	chunk = xmalloc(IMT_CHUNK);
	ps = msgcache_parser_new();
	while ((r = t->msg->read(t->msg->read_arg, off, chunk,
	    IMT_CHUNK)) > 0) {
		msgcache_feed(ps, span_make(chunk, (size_t)r));
		off += (uint64_t)r;
	}
	xfree(&chunk);
	if (r < 0) {
		msgcache_parser_free(&ps);
		return -1;
	}
	buf_init(&t->built, 4096, IMT_BLOB_MAX);
	t->built_used = 1;
	if (msgcache_finish(ps, &t->built) != 0 ||
	    msgcache_open(buf_view(&t->built)) != 0) {
		msgcache_parser_free(&ps);
		return -1;
	}
	msgcache_parser_free(&ps);
	t->blob = buf_view(&t->built);
	return 0;
}

int
imt_msg_blob(struct imt_msg *t)
{
	if (t->blob_state == 0) {
		struct span b = t->msg->blob;

		if (b.n > 0 && msgcache_open(b) == 0) {
			t->blob = b;
			t->blob_state = 1;
		} else
			t->blob_state = build_blob(t) == 0 ? 1 : -1;
	}
	return t->blob_state == 1 ? 0 : -1;
}

int
imt_msg_env(struct imt_msg *t, const struct msgcache_env **env_out)
{
	if (t->env_state == 0) {
		if (imt_msg_blob(t) != 0)
			return -1;
		t->env_state = msgcache_envelope(t->blob, 0, &t->env) == 0 ?
		    1 : 2;
	}
	*env_out = &t->env;
	return t->env_state == 1 ? 1 : 0;
}

/* ---- RFC 5322 3.3 date-time, with the obsolete forms of 4.3 ---- */

struct dscan {
	struct span s;
	size_t i;
};

/* skip white space and (nested) comments */
static void
ds_cfws(struct dscan *d)
{
	int depth = 0;

	while (d->i < d->s.n) {
		uint8_t ch = d->s.p[d->i];

		if (ch == '(')
			depth++;
		else if (ch == ')' && depth > 0)
			depth--;
		else if (ch == '\\' && depth > 0 && d->i + 1 < d->s.n)
			d->i++;
		else if (depth == 0 && ch != ' ' && ch != '\t' &&
		    ch != '\r' && ch != '\n')
			break;
		d->i++;
	}
}

static int
ds_num(struct dscan *d, size_t min, size_t max, int *out)
{
	size_t k = 0;
	int v = 0;

	ds_cfws(d);
	while (d->i < d->s.n && k < max && d->s.p[d->i] >= '0' &&
	    d->s.p[d->i] <= '9') {
		v = v * 10 + (d->s.p[d->i++] - '0');
		k++;
	}
	if (k < min)
		return -1;
	*out = v;
	return k;
}

/* an alphabetic word; its length (0: none) */
static size_t
ds_word(struct dscan *d, const uint8_t **w)
{
	size_t st;

	ds_cfws(d);
	st = d->i;
	while (d->i < d->s.n && ((d->s.p[d->i] | 0x20) >= 'a' &&
	    (d->s.p[d->i] | 0x20) <= 'z'))
		d->i++;
	*w = d->s.p + st;
	return d->i - st;
}

static int
ds_zone(struct dscan *d, int *zone_min)
{
	static const struct {
		const char *name;
		int min;
	} zones[] = {
		{ "UT", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 },
		{ "CDT", -300 }, { "MST", -420 }, { "MDT", -360 },
		{ "PST", -480 }, { "PDT", -420 },
	};
	const uint8_t *w;
	size_t n, k;

	ds_cfws(d);
	if (d->i < d->s.n && (d->s.p[d->i] == '+' || d->s.p[d->i] == '-')) {
		int sign = d->s.p[d->i] == '-' ? -1 : 1, v, j;

		d->i++;
		for (v = 0, j = 0; j < 4; j++) {
			if (d->i >= d->s.n || d->s.p[d->i] < '0' ||
			    d->s.p[d->i] > '9')
				return -1;
			v = v * 10 + (d->s.p[d->i++] - '0');
		}
		if (v % 100 > 59)
			return -1;
		*zone_min = sign * ((v / 100) * 60 + v % 100);
		return 0;
	}
	/* RFC 5322 4.3: other alphabetic zones (military ones included)
	 * are to be taken as +0000; a missing zone too. */
	*zone_min = 0;
	n = ds_word(d, &w);
	for (k = 0; n > 0 && k < sizeof(zones) / sizeof(zones[0]); k++)
		if (span_eq_ci(span_make(w, n), zones[k].name))
			*zone_min = zones[k].min;
	return 0;
}

static int
ds_month(struct dscan *d, int *month)
{
	static const char *const names[12] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	const uint8_t *w;
	size_t n = ds_word(d, &w);
	int m;

	if (n < 3)
		return -1;
	for (m = 0; m < 12; m++)
		if (span_eq_ci(span_make(w, 3), names[m])) {
			*month = m + 1;
			return 0;
		}
	return -1;
}

static int
month_len(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

/* hh:mm[:ss] */
static int
ds_time(struct dscan *d, int *hh, int *mm, int *ss)
{
	*ss = 0;
	if (ds_num(d, 1, 2, hh) < 0)
		return -1;
	ds_cfws(d);
	if (d->i >= d->s.n || d->s.p[d->i] != ':')
		return -1;
	d->i++;
	if (ds_num(d, 1, 2, mm) < 0)
		return -1;
	ds_cfws(d);
	if (d->i < d->s.n && d->s.p[d->i] == ':') {
		d->i++;
		if (ds_num(d, 1, 2, ss) < 0)
			return -1;
	}
	if (*hh > 23 || *mm > 59 || *ss > 60)
		return -1;
	return 0;
}

int
imt_sent_date(struct span s, int64_t *utc_out, int64_t *days_out)
{
	struct dscan d = { s, 0 };
	struct imap_date dt;
	const uint8_t *w;
	int day, year, hh, mm, ss, zone, k;
	size_t save;

	/* [day-of-week ","] */
	ds_cfws(&d);
	save = d.i;
	if (ds_word(&d, &w) > 0) {
		ds_cfws(&d);
		if (d.i < s.n && s.p[d.i] == ',')
			d.i++;
	} else
		d.i = save;
	if (ds_num(&d, 1, 2, &day) < 0 || ds_month(&d, &dt.month) != 0)
		return 0;
	if ((k = ds_num(&d, 2, 4, &year)) < 0)
		return 0;
	/* RFC 5322 4.3: a two-digit year below 50 is 20xx, else 19xx;
	 * three digits add 1900. */
	if (k == 2)
		year += year < 50 ? 2000 : 1900;
	else if (k == 3)
		year += 1900;
	/* RFC 5256 2.2: an invalid time is 00:00:00, an invalid zone
	 * UTC; the date alone decides SEARCH's SENT* keys */
	if (ds_time(&d, &hh, &mm, &ss) != 0) {
		hh = mm = ss = 0;
		zone = 0;
	} else if (ds_zone(&d, &zone) != 0)
		zone = 0;
	dt.year = year;
	dt.day = day;
	if (day < 1 || year < 1900 || year > 9999 ||
	    day > month_len(year, dt.month))
		return 0;
	*days_out = imap_date_days(&dt);
	*utc_out = *days_out * 86400 + hh * 3600 + mm * 60 + ss -
	    (int64_t)zone * 60;
	return 1;
}

/* ---- sequence sets, without building one ---- */

/* 1 if v is in the set text (an item list "1,3:5,7:*"), with "*" max */
static int
set_has(struct span s, uint32_t max, uint32_t v)
{
	size_t i = 0;

	while (i < s.n) {
		uint64_t a[2] = { 0, 0 };
		int k;

		for (k = 0; k < 2 && i < s.n; k++) {
			if (s.p[i] == '*') {
				a[k] = max;
				i++;
			} else
				while (i < s.n && s.p[i] >= '0' &&
				    s.p[i] <= '9' && a[k] <= UINT32_MAX)
					a[k] = a[k] * 10 + (s.p[i++] - '0');
			if (k == 0) {
				if (i < s.n && s.p[i] == ':') {
					i++;
					continue;
				}
				a[1] = a[0];
				break;
			}
		}
		if (a[0] > a[1]) {
			uint64_t x = a[0];

			a[0] = a[1];
			a[1] = x;
		}
		/* with an empty mailbox "*" is 0 and matches nothing */
		if (a[0] >= 1 && v >= a[0] && v <= a[1])
			return 1;
		while (i < s.n && s.p[i] != ',')
			i++;
		if (i < s.n)
			i++;
	}
	return 0;
}

static int
seqset_match(const struct imap_match_ctx *c, const struct imap_match_msg *msg,
    const struct imap_snode *n)
{
	int uid = n->key == IMAP_SK_UID;

	if (n->str.n == 1 && n->str.p[0] == '$')
		/* RFC 5182: the saved result holds UIDs, for both forms */
		return c->saved != NULL &&
		    imap_seq_contains(c->saved, msg->m->uid);
	return uid ? set_has(n->str, c->max_uid, msg->m->uid) :
	    set_has(n->str, c->n_msgs, msg->seq);
}

/* ---- object ids (RFC 8474) ---- */

size_t
imap_objectid_fmt(char out[IMAP_OBJECTID_LEN + 1], char kind, uint64_t id)
{
	return (size_t)snprintf(out, IMAP_OBJECTID_LEN + 1, "%c%016llx",
	    kind, (unsigned long long)id);
}

static int
objectid_match(struct span s, char kind, uint64_t id)
{
	char b[IMAP_OBJECTID_LEN + 1];

	if (id == 0)
		return 0;
	imap_objectid_fmt(b, kind, id);
	/* object ids are case-sensitive (RFC 8474 3.1) */
	return s.n == IMAP_OBJECTID_LEN && memcmp(s.p, b, s.n) == 0;
}

/* ---- one key ---- */

static int
date_cmp(int64_t days, const struct imap_date *d)
{
	int64_t want = imap_date_days(d);

	return days < want ? -1 : days > want;
}

static int
date_key(int64_t days, enum imap_skey k, const struct imap_date *d)
{
	int cmp = date_cmp(days, d);

	switch (k) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SAVEDBEFORE:
		return cmp < 0;
	case IMAP_SK_ON:
	case IMAP_SK_SENTON:
	case IMAP_SK_SAVEDON:
		return cmp == 0;
	default:
		return cmp >= 0;
	}
}

/* The Date header's calendar date as written, disregarding time and
 * zone (RFC 9051 6.4.4 SENTBEFORE); a message without a Date the parser
 * reads falls back to its internal date in the server's zone, as SORT
 * does (RFC 5256 2.2). */
static int
sent_days(const struct imap_match_ctx *c, struct imt_msg *t, int64_t *days)
{
	const struct msgcache_env *env;
	int64_t utc;
	int rc = imt_msg_env(t, &env);

	if (rc < 0)
		return -1;
	if (rc == 1 && !env->date_nil && imt_sent_date(env->date, &utc,
	    days) == 1)
		return 0;
	*days = imt_days_of(t->msg->m->internaldate +
	    (int64_t)c->zone_min * 60);
	return 0;
}

static int
flag_key(const struct imap_match_ctx *c, const struct imap_match_msg *msg,
    const struct imap_snode *n)
{
	uint32_t f = msg->m->flags;
	int id;

	switch (n->key) {
	case IMAP_SK_ALL:
		return 1;
	case IMAP_SK_ANSWERED:
		return !!(f & MAILIDX_F_ANSWERED);
	case IMAP_SK_DELETED:
		return !!(f & MAILIDX_F_DELETED);
	case IMAP_SK_DRAFT:
		return !!(f & MAILIDX_F_DRAFT);
	case IMAP_SK_FLAGGED:
		return !!(f & MAILIDX_F_FLAGGED);
	case IMAP_SK_SEEN:
		return !!(f & MAILIDX_F_SEEN);
	case IMAP_SK_UNANSWERED:
		return !(f & MAILIDX_F_ANSWERED);
	case IMAP_SK_UNDELETED:
		return !(f & MAILIDX_F_DELETED);
	case IMAP_SK_UNDRAFT:
		return !(f & MAILIDX_F_DRAFT);
	case IMAP_SK_UNFLAGGED:
		return !(f & MAILIDX_F_FLAGGED);
	case IMAP_SK_UNSEEN:
		return !(f & MAILIDX_F_SEEN);
	case IMAP_SK_NEW:
		return msg->recent && !(f & MAILIDX_F_SEEN);
	case IMAP_SK_OLD:
		return !msg->recent;
	case IMAP_SK_RECENT:
		return !!msg->recent;
	case IMAP_SK_SAVEDATESUPPORTED:
		return 1;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD:
		id = c->keyword_id != NULL ?
		    c->keyword_id(c->keyword_arg, n->str) : -1;
		if (id < 0 || id >= MAILIDX_KEYWORDS)
			return n->key == IMAP_SK_UNKEYWORD;
		return !!(msg->m->keywords & (1ULL << id)) ==
		    (n->key == IMAP_SK_KEYWORD);
	default:
		return -1;
	}
}

/* now - secs without overflow (any uint64 the parser passes) */
static int64_t
age_target(int64_t now, uint64_t secs)
{
	if (secs > (uint64_t)1 << 62 || now < INT64_MIN / 2)
		return INT64_MIN;
	return now - (int64_t)secs;
}

static int
key_match(const struct imap_match_ctx *c, struct imt_msg *t,
    const struct imap_snode *n)
{
	const struct imap_match_msg *msg = t->msg;
	const struct mailidx_msg *m = msg->m;
	int64_t days, st;

	switch (n->key) {
	case IMAP_SK_LARGER:
		return m->size > n->num;
	case IMAP_SK_SMALLER:
		return m->size < n->num;
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
		return date_key(imt_days_of(m->internaldate +
		    (int64_t)c->zone_min * 60), n->key, &n->date);
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
		/* a message the index has no save date for (0) counts as
		 * saved when it arrived */
		st = m->savedate != 0 ? m->savedate : m->internaldate;
		return date_key(imt_days_of(st + (int64_t)c->zone_min * 60),
		    n->key, &n->date);
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		if (sent_days(c, t, &days) != 0)
			return -1;
		return date_key(days, n->key, &n->date);
	case IMAP_SK_OLDER:
		/* RFC 5032 3: less recent than or equal to now - n */
		return m->internaldate <= age_target(c->now, n->num);
	case IMAP_SK_YOUNGER:
		return m->internaldate >= age_target(c->now, n->num);
	case IMAP_SK_MODSEQ:
		/* RFC 7162 3.1.5: no per-flag modseq is kept, so the
		 * entry name and type are ignored (the message's MODSEQ
		 * is an upper bound of every entry's). */
		return m->modseq >= n->num;
	case IMAP_SK_SEQSET:
	case IMAP_SK_UID:
		return seqset_match(c, msg, n);
	case IMAP_SK_EMAILID:
		return objectid_match(n->str, 'M', m->emailid);
	case IMAP_SK_THREADID:
		return objectid_match(n->str, 'T', m->threadid);
	case IMAP_SK_BCC:
	case IMAP_SK_BODY:
	case IMAP_SK_CC:
	case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_TEXT:
	case IMAP_SK_TO:
	case IMAP_SK_HEADER:
		return imt_text_key(t, n);
	default:
		return flag_key(c, msg, n);
	}
}

/* node i and its descendants; 1, 0 or -1.  Cheap keys are not
 * reordered: AND and OR stop at the first child that decides. */
static int
eval(const struct imap_match_ctx *c, struct imt_msg *t, size_t i)
{
	const struct imap_snode *n = &c->s->nodes[i];
	size_t k, j = i + 1;
	int r;

	switch (n->key) {
	case IMAP_SK_AND:
	case IMAP_SK_OR:
		for (k = 0; k < n->n_kids; k++) {
			r = eval(c, t, j);
			if (r < 0)
				return -1;
			if (r == (n->key == IMAP_SK_OR))
				return r;
			j += 1 + c->s->nodes[j].skip;
		}
		return n->key == IMAP_SK_AND;
	case IMAP_SK_NOT:
		r = eval(c, t, j);
		return r < 0 ? -1 : !r;
	default:
		return key_match(c, t, n);
	}
}

int
imap_match(const struct imap_match_ctx *c, const struct imap_match_msg *msg)
{
	struct imt_msg t;
	int r;

	if (c->s->n == 0)
		return 1;
	imt_msg_init(&t, msg);
	r = eval(c, &t, 0);
	imt_msg_fini(&t);
	return r;
}

int
imap_match_needs_file(const struct imap_search *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->nodes[i].key == IMAP_SK_BODY ||
		    s->nodes[i].key == IMAP_SK_TEXT ||
		    s->nodes[i].key == IMAP_SK_HEADER)
			return 1;
	return 0;
}
