/* SEARCH criteria (RFC 9051 6.4.4 and 9, RFC 3501 6.4.4) into a pre-order AST; IMAP dates. */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_search.h"

#include <string.h>

#include "imapd/imap_seq.h"

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

static int
digits(struct span s, size_t i, size_t n, int *out)
{
	int v = 0;
	size_t k;

	if (i + n > s.n)
		return -1;
	for (k = i; k < i + n; k++) {
		if (s.p[k] < '0' || s.p[k] > '9')
			return -1;
		v = v * 10 + (s.p[k] - '0');
	}
	*out = v;
	return 0;
}

/* "-Mon-YYYY" at s.p[i], exactly to the end of s or to i + 9. */
static int
month_year(struct span s, size_t i, struct imap_date *d)
{
	int m;

	if (i + 9 > s.n || s.p[i] != '-' || s.p[i + 4] != '-')
		return -1;
	for (m = 0; m < 12; m++)
		if (span_eq_ci(span_make(s.p + i + 1, 3), month_names[m]))
			break;
	if (m == 12 || digits(s, i + 5, 4, &d->year) != 0)
		return -1;
	d->month = m + 1;
	if (d->day < 1 || d->day > month_days(d->year, d->month))
		return -1;
	return 0;
}

int
imap_date_parse(struct span s, struct imap_date *out)
{
	struct imap_date d;
	size_t n = s.n > 1 && s.p[1] >= '0' && s.p[1] <= '9' ? 2 : 1;

	/* date-text = date-day "-" date-month "-" date-year, date-day =
	 * 1*2DIGIT (RFC 9051 9). */
	if (digits(s, 0, n, &d.day) != 0 || s.n != n + 9 ||
	    month_year(s, n, &d) != 0)
		return -1;
	*out = d;
	return 0;
}

int
imap_date_time_parse(struct span s, struct imap_date_time *out)
{
	struct imap_date_time t;
	int zh, zm;

	/* date-day-fixed "-" date-month "-" date-year SP time SP zone;
	 * date-day-fixed = (SP DIGIT) / 2DIGIT; time = 2DIGIT ":" 2DIGIT
	 * ":" 2DIGIT; zone = ("+" / "-") 4DIGIT (RFC 9051 9). */
	if (s.n != 26)
		return -1;
	if (s.p[0] == ' ') {
		if (digits(s, 1, 1, &t.d.day) != 0)
			return -1;
	} else if (digits(s, 0, 2, &t.d.day) != 0)
		return -1;
	if (month_year(s, 2, &t.d) != 0 || s.p[11] != ' ' ||
	    digits(s, 12, 2, &t.hour) != 0 || s.p[14] != ':' ||
	    digits(s, 15, 2, &t.min) != 0 || s.p[17] != ':' ||
	    digits(s, 18, 2, &t.sec) != 0 || s.p[20] != ' ' ||
	    (s.p[21] != '+' && s.p[21] != '-') ||
	    digits(s, 22, 2, &zh) != 0 || digits(s, 24, 2, &zm) != 0)
		return -1;
	/* 60 seconds: a leap second is a real time. */
	if (t.hour > 23 || t.min > 59 || t.sec > 60 || zm > 59)
		return -1;
	t.zone_min = (zh * 60 + zm) * (s.p[21] == '-' ? -1 : 1);
	*out = t;
	return 0;
}

int64_t
imap_date_days(const struct imap_date *d)
{
	/* Days from civil (H. Hinnant's algorithm). */
	int64_t y = d->year - (d->month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (d->month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + d->day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The keys, by argument shape. */
enum shape { SH_NONE, SH_STR, SH_HEADER, SH_FLAG, SH_DATE, SH_NUM64,
	SH_NZ, SH_MODSEQ, SH_SEQ, SH_OBJID, SH_NOT, SH_OR };

static const struct {
	const char *name;
	enum imap_skey key;
	enum shape shape;
} keys[] = {
	{ "ALL", IMAP_SK_ALL, SH_NONE },
	{ "ANSWERED", IMAP_SK_ANSWERED, SH_NONE },
	{ "DELETED", IMAP_SK_DELETED, SH_NONE },
	{ "DRAFT", IMAP_SK_DRAFT, SH_NONE },
	{ "FLAGGED", IMAP_SK_FLAGGED, SH_NONE },
	{ "NEW", IMAP_SK_NEW, SH_NONE },
	{ "OLD", IMAP_SK_OLD, SH_NONE },
	{ "RECENT", IMAP_SK_RECENT, SH_NONE },
	{ "SEEN", IMAP_SK_SEEN, SH_NONE },
	{ "UNANSWERED", IMAP_SK_UNANSWERED, SH_NONE },
	{ "UNDELETED", IMAP_SK_UNDELETED, SH_NONE },
	{ "UNDRAFT", IMAP_SK_UNDRAFT, SH_NONE },
	{ "UNFLAGGED", IMAP_SK_UNFLAGGED, SH_NONE },
	{ "UNSEEN", IMAP_SK_UNSEEN, SH_NONE },
	{ "SAVEDATESUPPORTED", IMAP_SK_SAVEDATESUPPORTED, SH_NONE },
	{ "BCC", IMAP_SK_BCC, SH_STR },
	{ "BODY", IMAP_SK_BODY, SH_STR },
	{ "CC", IMAP_SK_CC, SH_STR },
	{ "FROM", IMAP_SK_FROM, SH_STR },
	{ "SUBJECT", IMAP_SK_SUBJECT, SH_STR },
	{ "TEXT", IMAP_SK_TEXT, SH_STR },
	{ "TO", IMAP_SK_TO, SH_STR },
	{ "HEADER", IMAP_SK_HEADER, SH_HEADER },
	{ "KEYWORD", IMAP_SK_KEYWORD, SH_FLAG },
	{ "UNKEYWORD", IMAP_SK_UNKEYWORD, SH_FLAG },
	{ "BEFORE", IMAP_SK_BEFORE, SH_DATE },
	{ "ON", IMAP_SK_ON, SH_DATE },
	{ "SINCE", IMAP_SK_SINCE, SH_DATE },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE, SH_DATE },
	{ "SENTON", IMAP_SK_SENTON, SH_DATE },
	{ "SENTSINCE", IMAP_SK_SENTSINCE, SH_DATE },
	{ "SAVEDBEFORE", IMAP_SK_SAVEDBEFORE, SH_DATE },
	{ "SAVEDON", IMAP_SK_SAVEDON, SH_DATE },
	{ "SAVEDSINCE", IMAP_SK_SAVEDSINCE, SH_DATE },
	{ "LARGER", IMAP_SK_LARGER, SH_NUM64 },
	{ "SMALLER", IMAP_SK_SMALLER, SH_NUM64 },
	{ "OLDER", IMAP_SK_OLDER, SH_NZ },
	{ "YOUNGER", IMAP_SK_YOUNGER, SH_NZ },
	{ "MODSEQ", IMAP_SK_MODSEQ, SH_MODSEQ },
	{ "UID", IMAP_SK_UID, SH_SEQ },
	{ "EMAILID", IMAP_SK_EMAILID, SH_OBJID },
	{ "THREADID", IMAP_SK_THREADID, SH_OBJID },
	{ "NOT", IMAP_SK_NOT, SH_NOT },
	{ "OR", IMAP_SK_OR, SH_OR },
};

const char *
imap_skey_name(enum imap_skey k)
{
	size_t i;

	if (k == IMAP_SK_AND)
		return "AND";
	if (k == IMAP_SK_SEQSET)
		return "SEQSET";
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].key == k)
			return keys[i].name;
	return "?";
}

struct sctx {
	struct imap_args s;		/* the arguments being walked */
	const struct imap_arg *p;	/* next unread, NULL at the end */
	struct imap_search *out;
	struct imap_search_err *err;
};

static int
bad(struct sctx *c, const char *text)
{
	c->err->no = 0;
	c->err->text = text;
	c->err->resp_code = NULL;
	return -1;
}

/* The next argument, or NULL (then failing with text). */
static const struct imap_arg *
take(struct sctx *c, const char *text)
{
	const struct imap_arg *a = c->p;

	if (a == NULL) {
		(void)bad(c, text);
		return NULL;
	}
	c->p = imap_args_next(c->s, a);
	return a;
}

static struct imap_snode *
new_node(struct sctx *c, enum imap_skey k)
{
	struct imap_snode *n;

	if (c->out->n == c->out->cap) {
		(void)bad(c, "Search program too complex");
		return NULL;
	}
	n = &c->out->nodes[c->out->n++];
	memset(n, 0, sizeof(*n));
	n->key = k;
	return n;
}

/* number64 (RFC 9051 9): 1*DIGIT below 2^63. */
static int
num64(const struct imap_arg *a, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (a->type != IMAP_ARG_ATOM || a->s.n == 0)
		return -1;
	for (i = 0; i < a->s.n; i++) {
		if (a->s.p[i] < '0' || a->s.p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(a->s.p[i] - '0');
		if (v > INT64_MAX)
			return -1;
	}
	*out = v;
	return 0;
}

/* flag-keyword: an atom of ATOM-CHARs (RFC 9051 9: no "\", wildcards
 * or "]"). */
static int
flag_keyword(const struct imap_arg *a)
{
	size_t i;

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	for (i = 0; i < a->s.n; i++)
		if (strchr("\\%*]", a->s.p[i]) != NULL)
			return -1;
	return 0;
}

/* objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 7). */
static int
objectid(const struct imap_arg *a)
{
	size_t i;

	if (a->type != IMAP_ARG_ATOM || a->s.n == 0 || a->s.n > 255)
		return -1;
	for (i = 0; i < a->s.n; i++) {
		uint8_t ch = a->s.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return -1;
	}
	return 0;
}

static int
astring(struct sctx *c, const struct imap_arg *a, struct span *out)
{
	if (a->type == IMAP_ARG_LITERAL && (a->flags & IMAP_ARG_F_STREAMED))
		return bad(c, "Search string too long");
	if (a->type == IMAP_ARG_LIST || imap_arg_astring(a, out) != 0)
		return bad(c, "Expected a string");
	return 0;
}

/* entry-name SP entry-type-req (RFC 7162 3.1.5, 7): the name is a
 * quoted "/flags/" attr-flag. */
static int
modseq_entry(struct sctx *c, struct imap_snode *n, const struct imap_arg *a)
{
	static const char *const types[] = { "priv", "shared", "all" };
	const struct imap_arg *t;
	struct span f;
	size_t i;

	if (a->type != IMAP_ARG_QUOTED || a->s.n <= 7 ||
	    memcmp(a->s.p, "/flags/", 7) != 0)
		return bad(c, "Invalid MODSEQ entry name");
	f = span_make(a->s.p + 7, a->s.n - 7);
	for (i = f.p[0] == '\\' ? 1 : 0; i < f.n; i++)
		if (f.p[i] <= 0x20 || f.p[i] >= 0x7f ||
		    strchr("(){%*\"\\]", f.p[i]) != NULL)
			return bad(c, "Invalid MODSEQ entry name");
	if (f.n == 1 && f.p[0] == '\\')
		return bad(c, "Invalid MODSEQ entry name");
	n->field = a->s;
	if ((t = take(c, "MODSEQ needs an entry type")) == NULL)
		return -1;
	for (i = 0; i < 3; i++)
		if (t->type == IMAP_ARG_ATOM && span_eq_ci(t->s, types[i]))
			break;
	if (i == 3)
		return bad(c, "Invalid MODSEQ entry type");
	n->entry_type = (enum imap_entry_type)(i + 1);
	return 0;
}

static int parse_key(struct sctx *c, unsigned depth);

/* The children of an AND, OR or NOT at node index i. */
static void
close_node(struct sctx *c, size_t i, size_t kids)
{
	c->out->nodes[i].n_kids = kids;
	c->out->nodes[i].skip = c->out->n - i - 1;
}

static int
parse_group(struct sctx *c, const struct imap_arg *list, unsigned depth)
{
	struct sctx sub = *c;
	size_t i = c->out->n, kids = 0;

	if (new_node(c, IMAP_SK_AND) == NULL)
		return -1;
	sub.s = imap_arg_items(list);
	sub.p = imap_args_at(sub.s, 0);
	if (sub.p == NULL)
		return bad(c, "Empty search key list");
	while (sub.p != NULL) {
		if (parse_key(&sub, depth + 1) != 0)
			return -1;
		kids++;
	}
	close_node(c, i, kids);
	return 0;
}

static int
key_args(struct sctx *c, struct imap_snode *n, enum shape sh, unsigned depth)
{
	const struct imap_arg *a;
	size_t i = (size_t)(n - c->out->nodes);

	if (sh == SH_NOT || sh == SH_OR) {
		if (parse_key(c, depth + 1) != 0 ||
		    (sh == SH_OR && parse_key(c, depth + 1) != 0))
			return -1;
		close_node(c, i, sh == SH_OR ? 2 : 1);
		return 0;
	}
	if (sh == SH_NONE)
		return 0;
	if ((a = take(c, "Missing search key argument")) == NULL)
		return -1;
	switch (sh) {
	case SH_STR:
		return astring(c, a, &n->str);
	case SH_HEADER:
		if (astring(c, a, &n->field) != 0)
			return -1;
		if ((a = take(c, "HEADER needs a value")) == NULL)
			return -1;
		return astring(c, a, &n->str);
	case SH_FLAG:
		if (flag_keyword(a) != 0)
			return bad(c, "Invalid keyword");
		n->str = a->s;
		return 0;
	case SH_DATE:
		/* date = date-text / DQUOTE date-text DQUOTE */
		if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED) ||
		    imap_date_parse(a->s, &n->date) != 0)
			return bad(c, "Invalid date");
		return 0;
	case SH_NUM64:
		if (num64(a, &n->num) != 0)
			return bad(c, "Invalid number");
		return 0;
	case SH_NZ:
		if (num64(a, &n->num) != 0 || n->num == 0 ||
		    n->num > UINT32_MAX)
			return bad(c, "Invalid interval");
		return 0;
	case SH_MODSEQ:
		c->out->uses_modseq = 1;
		if (a->type == IMAP_ARG_QUOTED) {
			if (modseq_entry(c, n, a) != 0)
				return -1;
			if ((a = take(c, "MODSEQ needs a value")) == NULL)
				return -1;
		}
		/* mod-sequence-valzer = "0" / mod-sequence-value */
		if (num64(a, &n->num) != 0 || (a->s.n > 1 && a->s.p[0] == '0'))
			return bad(c, "Invalid MODSEQ value");
		return 0;
	case SH_SEQ:
		if (a->type != IMAP_ARG_ATOM ||
		    !imap_seq_valid(a->s, 1, IMAP_SEARCH_SEQ_ITEMS))
			return bad(c, "Invalid sequence set");
		if (a->s.n == 1 && a->s.p[0] == '$')
			c->out->uses_saved = 1;
		n->str = a->s;
		return 0;
	case SH_OBJID:
		if (objectid(a) != 0)
			return bad(c, "Invalid object id");
		n->str = a->s;
		return 0;
	default:
		return 0;
	}
}

static int
parse_key(struct sctx *c, unsigned depth)
{
	const struct imap_arg *a;
	struct imap_snode *n;
	size_t i;

	if (depth > IMAP_SEARCH_DEPTH_MAX)
		return bad(c, "Search program nested too deep");
	if ((a = take(c, "Missing search key")) == NULL)
		return -1;
	if (a->type == IMAP_ARG_LIST)
		return parse_group(c, a, depth);
	if (a->type != IMAP_ARG_ATOM || a->s.n == 0)
		return bad(c, "Invalid search key");
	if ((a->s.p[0] >= '0' && a->s.p[0] <= '9') || a->s.p[0] == '*' ||
	    a->s.p[0] == '$') {
		if (!imap_seq_valid(a->s, 1, IMAP_SEARCH_SEQ_ITEMS))
			return bad(c, "Invalid sequence set");
		if ((n = new_node(c, IMAP_SK_SEQSET)) == NULL)
			return -1;
		if (a->s.n == 1 && a->s.p[0] == '$')
			c->out->uses_saved = 1;
		n->str = a->s;
		return 0;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (span_eq_ci(a->s, keys[i].name))
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return bad(c, "Unknown search key");
	if ((n = new_node(c, keys[i].key)) == NULL)
		return -1;
	return key_args(c, n, keys[i].shape, depth);
}

/* RETURN (opts): RFC 4731 3.1, RFC 5182 2.1 (SAVE), RFC 9051 9. */
static int
parse_return(struct sctx *c)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_SRET_MIN }, { "MAX", IMAP_SRET_MAX },
		{ "ALL", IMAP_SRET_ALL }, { "COUNT", IMAP_SRET_COUNT },
		{ "SAVE", IMAP_SRET_SAVE },
	};
	const struct imap_arg *l = take(c, "RETURN needs a list"), *o;
	struct imap_args items;
	size_t i;

	if (l == NULL)
		return -1;
	if (l->type != IMAP_ARG_LIST)
		return bad(c, "RETURN needs a list");
	c->out->esearch = 1;
	items = imap_arg_items(l);
	for (o = imap_args_at(items, 0); o != NULL;
	    o = imap_args_next(items, o)) {
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (o->type == IMAP_ARG_ATOM &&
			    span_eq_ci(o->s, opts[i].name))
				break;
		if (i == sizeof(opts) / sizeof(opts[0]))
			return bad(c, "Unknown RETURN option");
		c->out->ret |= opts[i].bit;
	}
	/* RFC 4731 3.1: an empty list means ALL. */
	if (c->out->ret == 0)
		c->out->ret = IMAP_SRET_ALL;
	return 0;
}

static int
parse_charset(struct sctx *c)
{
	const struct imap_arg *a = take(c, "CHARSET needs a name");
	struct span cs;

	if (a == NULL || astring(c, a, &cs) != 0)
		return -1;
	if (span_eq_ci(cs, "UTF-8"))
		c->out->charset = IMAP_CHARSET_UTF8;
	else if (span_eq_ci(cs, "US-ASCII"))
		c->out->charset = IMAP_CHARSET_ASCII;
	else {
		/* RFC 9051 6.4.4: an unsupported charset is a tagged NO
		 * with BADCHARSET listing what we support. */
		c->err->no = 1;
		c->err->text = "Unsupported charset";
		c->err->resp_code = "BADCHARSET (UTF-8 US-ASCII)";
		return -1;
	}
	return 0;
}

int
imap_search_parse(struct imap_args args, struct imap_snode *nodes,
    size_t cap, struct imap_search *out, struct imap_search_err *err)
{
	struct sctx c;
	size_t kids = 0;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	out->nodes = nodes;
	out->cap = cap;
	c.s = args;
	c.p = imap_args_at(args, 0);
	c.out = out;
	c.err = err;
	if (c.p != NULL && imap_arg_atom_is(c.p, "RETURN")) {
		(void)take(&c, NULL);
		if (parse_return(&c) != 0)
			return -1;
	}
	if (c.p != NULL && imap_arg_atom_is(c.p, "CHARSET")) {
		(void)take(&c, NULL);
		if (parse_charset(&c) != 0)
			return -1;
	}
	if (new_node(&c, IMAP_SK_AND) == NULL)
		return -1;
	if (c.p == NULL)
		return bad(&c, "Missing search key");
	while (c.p != NULL) {
		if (parse_key(&c, 1) != 0)
			return -1;
		kids++;
	}
	close_node(&c, 0, kids);
	return 0;
}
