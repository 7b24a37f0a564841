/* AUTHENTICATED: LIST LSUB NAMESPACE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE STATUS. */
/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_mutf7.h"
#include "imapd/imapd.h"

/* A name in modified UTF-7: at most 5 bytes for each byte of UTF-8 (a
 * control character between two letters is "&AAE-"). */
#define MBOX_CLIENT_MAX (MAILIDX_NAME_MAX * 5 + 8)

/*
 * Mailbox names: the index has them in UTF-8 (docs/store.md).  A session
 * with IMAP4rev2 or UTF8=ACCEPT names them in UTF-8 too (RFC 9051 5.1,
 * RFC 6855 3); any other in modified UTF-7 (RFC 9051 Appendix A.1), so
 * its names are decoded coming in and encoded going out.  XXX: a rev1
 * name that is not modified UTF-7 (a lone "&", 8-bit bytes) is kept as
 * it came, and told back encoded ("&" as "&-"); UTF-8 names are not
 * brought to NFC (RFC 9051 5.1 allows refusing or normalising them).
 */
int
imap_mbox_name(struct imap_sess *s, const struct imap_arg *a, char *out,
    size_t outsz)
{
	char dir[MAILIDX_NAME_MAX * 3 + 8];
	struct span n;
	struct buf dec;

	if (a == NULL || imap_arg_astring(a, &n) != 0) {
		imap_bad(s, "Mailbox name expected");
		return -1;
	}
	if (n.n == 0 || n.n >= outsz || n.n >= MAILIDX_NAME_MAX ||
	    span_has_nul(n)) {
		imap_bad(s, "Bad mailbox name");
		return -1;
	}
	/* RFC 9051 5.1: INBOX in any case is INBOX */
	if (span_eq_ci(n, "INBOX")) {
		snprintf(out, outsz, "INBOX");
		return 0;
	}
	/* RFC 9051 5.1: only Net-Unicode names in UTF-8 */
	if (imap_utf8(s) && !imap_utf8_valid(n)) {
		imap_bad(s, "Bad mailbox name (not UTF-8)");
		return -1;
	}
	memcpy(out, n.p, n.n);
	out[n.n] = '\0';
	/* the UTF-8 may be 9/8 of the modified UTF-7 */
	buf_init(&dec, n.n + 1, 2 * n.n);
	if (!imap_utf8(s) && imap_mutf7_decode(n, &dec) == 0) {
		if (dec.len >= outsz || dec.len >= MAILIDX_NAME_MAX) {
			buf_fini(&dec);
			imap_bad(s, "Bad mailbox name (too long)");
			return -1;
		}
		memcpy(out, dec.data, dec.len + 1);
	}
	buf_fini(&dec);
	if (mailidx_folder_dir(out, dir, sizeof(dir)) < 0) {
		imap_bad(s, "Bad mailbox name (an empty level, or too long)");
		return -1;
	}
	return 0;
}

/* The session's form of the index name in (see above) into out (a
 * C string); a name that is not UTF-8 goes as it is. */
static void
mbox_client_name(const struct imap_sess *s, const char *in, struct buf *out)
{
	buf_reset(out);
	if (imap_utf8(s) || imap_mutf7_encode(span_cstr(in), out) != 0) {
		buf_reset(out);
		(void)!buf_addstr(out, in);
	}
}

int
imap_mbox_quote(struct imap_sess *s, struct buf *out, const char *name)
{
	struct buf b;
	int rc;

	buf_init(&b, 64, MBOX_CLIENT_MAX);
	mbox_client_name(s, name, &b);
	rc = imap_quote(out, (const char *)b.data, b.len);
	buf_fini(&b);
	return rc;
}

/* ---- reading the list of mailboxes ---- */

struct mb_list {
	struct mailidx_mbox *m;
	size_t n, cap;
};

static int
list_fn(const struct mailidx_mbox *m, void *arg)
{
	struct mb_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->m = xreallocarray(l->m, l->cap, sizeof(*l->m));
	}
	l->m[l->n++] = *m;
	return 0;
}

static int
mb_list_read(struct imap_sess *s, struct mb_list *l)
{
	struct mailidx_txn *t;
	const char *why = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0)
		return -1;
	rc = mailidx_mbox_list(t, list_fn, l);
	mailidx_txn_abort(&t);
	return rc < 0 ? -1 : 0;
}

/* RFC 9051 6.3.9: "*" matches anything, "%" anything but the
 * hierarchy separator. */
static int
pattern_match(const char *p, const char *n)
{
	for (; *p != '\0'; p++, n++) {
		if (*p == '*' || *p == '%') {
			for (;; n++) {
				if (pattern_match(p + 1, n))
					return 1;
				if (*n == '\0' || (*p == '%' && *n == '/'))
					return 0;
			}
		}
		if (*n != *p)
			return 0;
	}
	return *n == '\0';
}

static int
name_match(const char *pat, const char *name)
{
	/* INBOX matches its pattern in any case */
	if (strcmp(name, "INBOX") == 0 && strlen(pat) == 5 &&
	    strncasecmp(pat, "INBOX", 5) == 0)
		return 1;
	return pattern_match(pat, name);
}

static int
has_children(const struct mb_list *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++)
		if (strncmp(l->m[i].name, name, n) == 0 &&
		    l->m[i].name[n] == '/')
			return 1;
	return 0;
}

static int
mb_exists(const struct mb_list *l, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->m[i].name) == n &&
		    strncmp(l->m[i].name, name, n) == 0)
			return 1;
	return 0;
}

static void
list_attrs(struct buf *b, const struct mailidx_mbox *m, int children)
{
	static const struct {
		uint32_t bit;
		const char *attr;
	} su[] = {
		{ MAILIDX_SU_ALL, "\\All" },
		{ MAILIDX_SU_ARCHIVE, "\\Archive" },
		{ MAILIDX_SU_DRAFTS, "\\Drafts" },
		{ MAILIDX_SU_FLAGGED, "\\Flagged" },
		{ MAILIDX_SU_JUNK, "\\Junk" },
		{ MAILIDX_SU_SENT, "\\Sent" },
		{ MAILIDX_SU_TRASH, "\\Trash" },
	};
	size_t i;

	(void)!buf_addstr(b, children ? "\\HasChildren" : "\\HasNoChildren");
	for (i = 0; i < sizeof(su) / sizeof(su[0]); i++)
		if (m->special_use & su[i].bit)
			(void)!buf_addf(b, " %s", su[i].attr);
}

/* "* LIST (attrs) "/" name[ extra]" with the index name in the
 * session's form. */
static void
list_send(struct imap_sess *s, const char *verb, const char *attrs,
    const char *name, const char *extra)
{
	struct buf b;

	buf_init(&b, 256, MBOX_CLIENT_MAX + 4096);
	(void)!buf_addf(&b, "* %s (%s) \"/\" ", verb, attrs);
	(void)!imap_mbox_quote(s, &b, name);
	(void)!buf_addstr(&b, extra);
	(void)!buf_addstr(&b, "\r\n");
	imap_send(s, b.data, b.len);
	buf_fini(&b);
}

void
imap_mbox_list_one(struct imap_sess *s, const char *name)
{
	struct mb_list l;
	struct buf attrs;
	size_t i;

	if (mb_list_read(s, &l) != 0)
		return;
	buf_init(&attrs, 128, 1024);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.m[i].name, name) == 0) {
			list_attrs(&attrs, &l.m[i], has_children(&l, name));
			list_send(s, "LIST", buf_cstr(&attrs), name, "");
			break;
		}
	buf_fini(&attrs);
	free(l.m);
}

/* RFC 9051 9 list-mailbox: 1*list-char (wildcards allowed) or string */
static int
list_mailbox(const struct imap_arg *a, struct span *out)
{
	if (a != NULL && (a->type == IMAP_ARG_ATOM ||
	    a->type == IMAP_ARG_NIL)) {
		*out = a->s;
		return 0;
	}
	return a == NULL ? -1 : imap_arg_string(a, out);
}

#define LIST_PATTERNS_MAX 16

/* LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE
 * (RFC 6154) options. */
struct list_opts {
	int lsub;
	int sel_subscribed, sel_recursive, sel_special;
	int ret_subscribed, ret_status;
	const struct imap_arg *status_items;	/* RETURN (STATUS (...)) */
	char pat[LIST_PATTERNS_MAX][2 * MAILIDX_NAME_MAX + 2];
	size_t n_pat;
};

/* The patterns come in the session's form: names are matched in it. */
static int
any_match(const struct imap_sess *s, const struct list_opts *o,
    const char *name)
{
	struct buf b;
	size_t i;
	int hit = 0;

	buf_init(&b, 64, MBOX_CLIENT_MAX);
	mbox_client_name(s, name, &b);
	for (i = 0; i < o->n_pat && !hit; i++)
		hit = name_match(o->pat[i], buf_cstr(&b));
	buf_fini(&b);
	return hit;
}

static int
has_subscribed_child(const struct mb_list *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++)
		if (l->m[i].subscribed && strncmp(l->m[i].name, name, n) == 0 &&
		    l->m[i].name[n] == '/')
			return 1;
	return 0;
}

static int status_send(struct imap_sess *s, const char *name,
    const struct imap_arg *list);
static int status_item_ok(const struct imap_arg *a);

static int
list_parse(struct imap_sess *s, struct imap_args args, struct list_opts *o)
{
	const struct imap_arg *a = imap_args_at(args, 0), *x;
	struct imap_args items;
	struct span ref, pat;

	if (a != NULL && a->type == IMAP_ARG_LIST && !o->lsub) {
		items = imap_arg_items(a);
		for (x = imap_args_at(items, 0); x != NULL;
		    x = imap_args_next(items, x)) {
			if (imap_arg_atom_is(x, "SUBSCRIBED"))
				o->sel_subscribed = 1;
			else if (imap_arg_atom_is(x, "RECURSIVEMATCH"))
				o->sel_recursive = 1;
			else if (imap_arg_atom_is(x, "SPECIAL-USE"))
				o->sel_special = 1;
			else if (!imap_arg_atom_is(x, "REMOTE"))
				return -1;
		}
		/* RFC 5258 3.1: RECURSIVEMATCH needs another option */
		if (o->sel_recursive && !o->sel_subscribed &&
		    !o->sel_special)
			return -1;
		if (o->sel_subscribed)
			o->ret_subscribed = 1;	/* 3.1: implied */
		a = imap_args_next(args, a);
	}
	if (a == NULL || imap_arg_astring(a, &ref) != 0)
		return -1;
	if ((a = imap_args_next(args, a)) == NULL)
		return -1;
	if (a->type == IMAP_ARG_LIST && !o->lsub) {
		items = imap_arg_items(a);
		x = imap_args_at(items, 0);
	} else {
		items.a = a;
		items.n = 1;
		x = a;
	}
	if (x == NULL)
		return -1;
	for (; x != NULL; x = imap_args_next(items, x)) {
		if (list_mailbox(x, &pat) != 0 || o->n_pat == LIST_PATTERNS_MAX ||
		    ref.n + pat.n >= sizeof(o->pat[0]))
			return -1;
		snprintf(o->pat[o->n_pat++], sizeof(o->pat[0]), "%.*s%.*s",
		    (int)ref.n, (const char *)ref.p, (int)pat.n,
		    (const char *)pat.p);
	}
	if ((a = imap_args_next(args, a)) == NULL)
		return 0;
	if (o->lsub || !imap_arg_atom_is(a, "RETURN") ||
	    (x = imap_args_next(args, a)) == NULL ||
	    x->type != IMAP_ARG_LIST || imap_args_next(args, x) != NULL)
		return -1;
	items = imap_arg_items(x);
	for (x = imap_args_at(items, 0); x != NULL;
	    x = imap_args_next(items, x)) {
		if (imap_arg_atom_is(x, "SUBSCRIBED"))
			o->ret_subscribed = 1;
		else if (imap_arg_atom_is(x, "STATUS")) {
			x = imap_args_next(items, x);
			if (x == NULL || x->type != IMAP_ARG_LIST ||
			    x->n_items == 0)
				return -1;
			for (a = imap_args_at(imap_arg_items(x), 0); a != NULL;
			    a = imap_args_next(imap_arg_items(x), a))
				if (!status_item_ok(a))
					return -1;
			o->ret_status = 1;
			o->status_items = x;
		} else if (!imap_arg_atom_is(x, "CHILDREN") &&
		    !imap_arg_atom_is(x, "SPECIAL-USE"))
			return -1;
	}
	return 0;
}


/* LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9, RFC 5258). */
static void
list_common(struct imap_sess *s, struct imap_args args, int lsub)
{
	const char *verb = lsub ? "LSUB" : "LIST";
	char last[MAILIDX_NAME_MAX] = "";
	struct list_opts *o = xcalloc(1, sizeof(*o));
	struct mb_list l;
	struct buf attrs;
	size_t i, k;

	o->lsub = lsub;
	if (list_parse(s, args, o) != 0) {
		free(o);
		imap_bad(s, "%s takes %sa reference and %s%s", verb, lsub ? "" :
		    "[(selection options)] ", lsub ? "a mailbox pattern" :
		    "a pattern or a list of them",
		    lsub ? "" : " [RETURN (options)]");
		return;
	}
	if (o->n_pat == 1 && o->pat[0][0] == '\0' && imap_args_count(args) ==
	    2) {
		/* RFC 9051 6.3.9: the hierarchy delimiter and root */
		if (!lsub)
			imap_printf(s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		free(o);
		imap_ok(s, "%s completed", verb);
		return;
	}
	if (mb_list_read(s, &l) != 0) {
		free(o);
		imap_no(s, "[SERVERBUG] Cannot read the mailbox list");
		return;
	}
	buf_init(&attrs, 128, 1024);
	for (i = 0; i < l.n; i++) {
		const struct mailidx_mbox *mb = &l.m[i];
		const char *name = mb->name;
		int childinfo = 0;

		if (lsub && !mb->subscribed)
			continue;
		/* a parent level that is no mailbox but matches "%" */
		for (k = 0; !o->sel_subscribed && !o->sel_special &&
		    name[k] != '\0'; k++) {
			char p[MAILIDX_NAME_MAX];

			if (name[k] != '/' || mb_exists(&l, name, k))
				continue;
			snprintf(p, sizeof(p), "%.*s", (int)k, name);
			if (strcmp(p, last) != 0 && any_match(s, o, p)) {
				/* RFC 9051 6.3.9.8 example 10: IMAP4rev2
				 * says \NonExistent (which implies
				 * \Noselect) for a level that is no
				 * mailbox */
				list_send(s, verb, lsub ? "\\Noselect" :
				    imap_rev2(s) ?
				    "\\NonExistent \\HasChildren" :
				    "\\Noselect \\HasChildren", p, "");
				snprintf(last, sizeof(last), "%s", p);
			}
		}
		if (!any_match(s, o, name))
			continue;
		if (o->sel_special && mb->special_use == 0)
			continue;
		if (o->sel_subscribed && !mb->subscribed) {
			/* RFC 5258 3.5: CHILDINFO for a parent of matches */
			if (!o->sel_recursive ||
			    !has_subscribed_child(&l, name))
				continue;
			childinfo = 1;
		}
		buf_reset(&attrs);
		if (!lsub) {
			list_attrs(&attrs, mb, has_children(&l, name));
			if (o->ret_subscribed && mb->subscribed)
				(void)!buf_addstr(&attrs, " \\Subscribed");
		}
		list_send(s, verb, buf_cstr(&attrs), name, childinfo ?
		    " (\"CHILDINFO\" (\"SUBSCRIBED\"))" : "");
		/* RFC 5819: STATUS right after its LIST line */
		if (o->ret_status && !childinfo)
			(void)status_send(s, name, o->status_items);
	}
	buf_fini(&attrs);
	free(l.m);
	free(o);
	imap_ok(s, "%s completed", verb);
}

void
imap_cmd_list(struct imap_sess *s, struct imap_args args, int uid)
{
	list_common(s, args, 0);
}

void
imap_cmd_lsub(struct imap_sess *s, struct imap_args args, int uid)
{
	list_common(s, args, 1);
}

void
imap_cmd_namespace(struct imap_sess *s, struct imap_args args, int uid)
{
	if (imap_args_count(args) != 0) {
		imap_bad(s, "NAMESPACE takes no arguments");
		return;
	}
	/* RFC 2342: one personal namespace, no others */
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_ok(s, "NAMESPACE completed");
}

/* ---- CREATE DELETE RENAME SUBSCRIBE ---- */

struct mb_op {
	const char *name, *to;
	int on;
	int exists;		/* out: CREATE found it already there */
	uint32_t special_use;	/* CREATE (USE (...)), RFC 6154 3 */
	struct mailidx_mbox made;	/* CREATE: the new mailbox */
};

static int
create_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct mb_op *op = arg;
	struct mailidx_mbox mb;
	char part[MAILIDX_NAME_MAX];
	const char *p;
	int rc;

	/* RFC 9051 6.3.4: superior names are created as needed */
	for (p = strchr(op->name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		snprintf(part, sizeof(part), "%.*s", (int)(p - op->name),
		    op->name);
		if ((rc = mailidx_mbox_get(t, part, &mb)) < 0)
			return -1;
		if (rc == 0 && mailidx_mbox_create(t, part, 0, &mb, why) != 0)
			return -1;
	}
	if ((rc = mailidx_mbox_get(t, op->name, &mb)) != 0) {
		op->exists = rc == 1;
		return 1;
	}
	return mailidx_mbox_create(t, op->name, op->special_use, &op->made,
	    why);
}

static int
folder_make(struct imap_sess *s, const char *name, const char **why)
{
	char dir[MAILIDX_NAME_MAX * 3 + 8], part[MAILIDX_NAME_MAX];
	const char *p = name;

	for (;;) {
		p = strchr(p, '/');
		snprintf(part, sizeof(part), "%.*s", p == NULL ?
		    (int)strlen(name) : (int)(p - name), name);
		if (mailidx_folder_dir(part, dir, sizeof(dir)) < 0 ||
		    maildir_make(s->u->root, dir, why) != 0)
			return -1;
		if (p == NULL)
			return 0;
		p++;
	}
}

/* RFC 6154 3: (USE (\Sent ...)); 0, or -1 (BAD) */
static int
create_use(const struct imap_arg *a, uint32_t *out)
{
	static const struct {
		const char *attr;
		uint32_t bit;
	} su[] = {
		{ "\\All", MAILIDX_SU_ALL }, { "\\Archive", MAILIDX_SU_ARCHIVE },
		{ "\\Drafts", MAILIDX_SU_DRAFTS },
		{ "\\Flagged", MAILIDX_SU_FLAGGED },
		{ "\\Junk", MAILIDX_SU_JUNK }, { "\\Sent", MAILIDX_SU_SENT },
		{ "\\Trash", MAILIDX_SU_TRASH },
	};
	struct imap_args items = imap_arg_items(a), uses;
	const struct imap_arg *k = imap_args_at(items, 0), *v, *x;
	size_t i;

	if (a->type != IMAP_ARG_LIST || imap_args_count(items) != 2 ||
	    !imap_arg_atom_is(k, "USE") ||
	    (v = imap_args_next(items, k))->type != IMAP_ARG_LIST)
		return -1;
	uses = imap_arg_items(v);
	for (x = imap_args_at(uses, 0); x != NULL;
	    x = imap_args_next(uses, x)) {
		for (i = 0; i < sizeof(su) / sizeof(su[0]); i++)
			if (imap_arg_atom_is(x, su[i].attr))
				break;
		if (i == sizeof(su) / sizeof(su[0]))
			return -2;
		*out |= su[i].bit;
	}
	return 0;
}

void
imap_cmd_create(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX];
	struct mb_op op = { name, NULL, 0, 0, 0, { 0 } };
	const char *why = NULL;
	size_t n;
	int rc = 0;

	if (imap_args_count(args) < 1 || imap_args_count(args) > 2 ||
	    (imap_args_count(args) == 2 && (rc = create_use(imap_args_at(args,
	    1), &op.special_use)) == -1)) {
		imap_bad(s, "CREATE takes a mailbox name and optionally "
		    "(USE (attributes))");
		return;
	}
	if (imap_args_count(args) == 2 && rc == -2) {
		imap_no(s, "[USEATTR] Unsupported special-use attribute");
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), name, sizeof(name)))
		return;
	/* RFC 9051 6.3.4: a trailing separator only says "will have
	 * inferiors"; wildcards in names would be unlistable */
	n = strlen(name);
	if (n > 1 && name[n - 1] == '/')
		name[n - 1] = '\0';
	if (strcmp(name, "INBOX") == 0) {
		imap_no(s, "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (strpbrk(name, "*%") != NULL) {
		imap_no(s, "[CANNOT] No wildcards in mailbox names");
		return;
	}
	if (folder_make(s, name, &why) != 0) {
		imap_no(s, "[CANNOT] Cannot make the folder");
		return;
	}
	rc = imap_idx_write(s, create_fn, &op, &why);
	if (rc == 1 && op.exists) {
		imap_no(s, "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (rc != 0) {
		imap_no(s, "[SERVERBUG] Cannot create the mailbox");
		return;
	}
	/* RFC 8474 4.1 */
	imap_ok(s, "[MAILBOXID (F%08x%08x)] CREATE completed",
	    op.made.uidvalidity, op.made.id);
}

static int
delete_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct mb_op *op = arg;
	struct mailidx_mbox mb;
	int rc;

	if ((rc = mailidx_mbox_get(t, op->name, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	return mailidx_mbox_delete(t, op->name, why);
}

/* Remove a Maildir++ folder directory: its files, cur/ new/ tmp/. */
static void
folder_remove(const char *root, const char *folder)
{
	static const char *const subs[] = { "cur", "new", "tmp", "" };
	char p[PATH_MAX], f[PATH_MAX + 256];
	struct dirent *de;
	size_t i;
	DIR *dp;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", root, folder, subs[i]);
		if ((dp = opendir(p)) == NULL)
			continue;
		while ((de = readdir(dp)) != NULL) {
			if (de->d_name[0] == '.' &&
			    (de->d_name[1] == '\0' || (de->d_name[1] == '.' &&
			    de->d_name[2] == '\0')))
				continue;
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			if (unlink(f) != 0 && errno != EISDIR)
				log_warn_errno("event=unlink-failed file=%s",
				    f);
		}
		closedir(dp);
		if (subs[i][0] != '\0' && rmdir(p) != 0)
			log_warn_errno("event=rmdir-failed dir=%s", p);
	}
	snprintf(p, sizeof(p), "%s/%s", root, folder);
	if (rmdir(p) != 0)
		log_warn_errno("event=rmdir-failed dir=%s", p);
}

void
imap_cmd_delete(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX], dir[MAILIDX_NAME_MAX * 3 + 8];
	struct mb_op op = { name, NULL, 0, 0, 0, { 0 } };
	const char *why = NULL;
	int rc;

	if (imap_args_count(args) != 1) {
		imap_bad(s, "DELETE takes a mailbox name");
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), name, sizeof(name)))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_no(s, "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (s->sel != NULL && strcmp(s->sel->name, name) == 0) {
		imap_no(s, "[INUSE] Mailbox is selected; close it first");
		return;
	}
	rc = imap_idx_write(s, delete_fn, &op, &why);
	if (rc == 1) {
		imap_no(s, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (rc != 0) {
		imap_no(s, "[SERVERBUG] Cannot delete the mailbox");
		return;
	}
	/* the index has forgotten it: the files go (inferiors stay) */
	if (mailidx_folder_dir(name, dir, sizeof(dir)) == 0)
		folder_remove(s->u->root, dir);
	imap_ok(s, "DELETE completed");
}

static int
rename_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct mb_op *op = arg;
	struct mailidx_mbox mb;
	int rc;

	if ((rc = mailidx_mbox_get(t, op->name, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	if ((rc = mailidx_mbox_get(t, op->to, &mb)) != 0)
		return rc == 1 ? 2 : -1;
	return mailidx_mbox_rename(t, op->name, op->to, why);
}

/* The folder directories of from and its inferiors, renamed to to's. */
static int
rename_dirs(struct imap_sess *s, const struct mb_list *l, const char *from,
    const char *to, int back)
{
	char a[MAILIDX_NAME_MAX * 3 + 8], b[MAILIDX_NAME_MAX * 3 + 8];
	char nn[MAILIDX_NAME_MAX * 2], pa[PATH_MAX], pb[PATH_MAX];
	size_t i, fl = strlen(from);

	for (i = 0; i < l->n; i++) {
		const char *n = l->m[i].name;

		if (strncmp(n, from, fl) != 0 || (n[fl] != '\0' &&
		    n[fl] != '/'))
			continue;
		snprintf(nn, sizeof(nn), "%s%s", to, n + fl);
		if (mailidx_folder_dir(n, a, sizeof(a)) < 0 ||
		    mailidx_folder_dir(nn, b, sizeof(b)) < 0)
			return -1;
		snprintf(pa, sizeof(pa), "%s/%s", s->u->root, back ? b : a);
		snprintf(pb, sizeof(pb), "%s/%s", s->u->root, back ? a : b);
		if (rename(pa, pb) != 0 && errno != ENOENT) {
			log_warn_errno("event=rename-failed from=%s to=%s",
			    pa, pb);
			return -1;
		}
	}
	return 0;
}

/* RFC 9051 6.3.6: renaming INBOX makes the new mailbox, moves every
 * message there and leaves INBOX empty. */
static void
rename_inbox(struct imap_sess *s, const char *to)
{
	struct mb_op op = { to, NULL, 0, 0, 0, { 0 } };
	struct mailidx_txn *t;
	struct mailidx_mbox mb;
	const char *why = NULL;
	int rc;

	if (folder_make(s, to, &why) != 0 ||
	    (rc = imap_idx_write(s, create_fn, &op, &why)) != 0) {
		imap_no(s, "[CANNOT] Cannot create the mailbox");
		return;
	}
	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0) {
		imap_no(s, "[SERVERBUG] Cannot read the index");
		return;
	}
	rc = mailidx_mbox_get(t, "INBOX", &mb);
	mailidx_txn_abort(&t);
	if (rc != 1 || imap_move_inbox(s, mb.id, to, &why) != 0) {
		log_warn("conn=%s event=rename-inbox-failed reason=\"%s\"",
		    s->id, why ? why : "?");
		imap_no(s, "[SERVERBUG] Cannot move INBOX's messages");
		return;
	}
	if (s->sel != NULL && strcmp(s->sel->name, "INBOX") == 0)
		imap_sel_update(s, 1);
	imap_ok(s, "RENAME completed");
}

void
imap_cmd_rename(struct imap_sess *s, struct imap_args args, int uid)
{
	char from[MAILIDX_NAME_MAX], to[MAILIDX_NAME_MAX];
	struct mb_op op = { from, to, 0, 0, 0, { 0 } };
	const char *why = NULL;
	struct mb_list l;
	int rc;

	if (imap_args_count(args) != 2) {
		imap_bad(s, "RENAME takes two mailbox names");
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), from, sizeof(from)) ||
	    imap_mbox_name(s, imap_args_at(args, 1), to, sizeof(to)))
		return;
	if (strcmp(to, "INBOX") == 0) {
		imap_no(s, "[ALREADYEXISTS] INBOX exists");
		return;
	}
	if (strncmp(to, from, strlen(from)) == 0 &&
	    to[strlen(from)] == '/') {
		imap_no(s, "[CANNOT] Cannot rename a mailbox into itself");
		return;
	}
	if (strpbrk(to, "*%") != NULL) {
		imap_no(s, "[CANNOT] No wildcards in mailbox names");
		return;
	}
	if (mb_list_read(s, &l) != 0) {
		imap_no(s, "[SERVERBUG] Cannot read the mailbox list");
		return;
	}
	if (!mb_exists(&l, from, strlen(from))) {
		free(l.m);
		imap_no(s, "[NONEXISTENT] No such mailbox");
		return;
	}
	if (mb_exists(&l, to, strlen(to))) {
		free(l.m);
		imap_no(s, "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (strcmp(from, "INBOX") == 0) {
		free(l.m);
		rename_inbox(s, to);
		return;
	}
	/* superiors of the new name, then the directories, then the
	 * index; the directories go back if the index refuses */
	if (strchr(to, '/') != NULL) {
		char sup[MAILIDX_NAME_MAX];
		struct mb_op cop = { sup, NULL, 0, 0, 0, { 0 } };

		snprintf(sup, sizeof(sup), "%.*s", (int)(strrchr(to, '/') -
		    to), to);
		if (folder_make(s, sup, &why) != 0 ||
		    imap_idx_write(s, create_fn, &cop, &why) < 0) {
			free(l.m);
			imap_no(s, "[CANNOT] Cannot make the superior names");
			return;
		}
	}
	if (rename_dirs(s, &l, from, to, 0) != 0) {
		(void)rename_dirs(s, &l, from, to, 1);
		free(l.m);
		imap_no(s, "[CANNOT] Cannot rename the folder");
		return;
	}
	rc = imap_idx_write(s, rename_fn, &op, &why);
	if (rc != 0) {
		(void)rename_dirs(s, &l, from, to, 1);
		free(l.m);
		imap_no(s, rc == 1 ? "[NONEXISTENT] No such mailbox" : rc == 2 ?
		    "[ALREADYEXISTS] Mailbox exists" :
		    "[SERVERBUG] Cannot rename the mailbox");
		return;
	}
	free(l.m);
	if (s->sel != NULL && strcmp(s->sel->name, from) == 0)
		snprintf(s->sel->name, sizeof(s->sel->name), "%s", to);
	imap_ok(s, "RENAME completed");
}

static int
subscribe_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct mb_op *op = arg;
	struct mailidx_mbox mb;
	int rc;

	if ((rc = mailidx_mbox_get(t, op->name, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	return mailidx_mbox_subscribe(t, op->name, op->on, why);
}

static void
subscribe(struct imap_sess *s, struct imap_args args, int on)
{
	const char *verb = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	char name[MAILIDX_NAME_MAX];
	struct mb_op op = { name, NULL, on, 0, 0, { 0 } };
	const char *why = NULL;
	int rc;

	if (imap_args_count(args) != 1) {
		imap_bad(s, "%s takes a mailbox name", verb);
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), name, sizeof(name)))
		return;
	rc = imap_idx_write(s, subscribe_fn, &op, &why);
	if (rc == 1)
		imap_no(s, "[NONEXISTENT] No such mailbox");
	else if (rc != 0)
		imap_no(s, "[SERVERBUG] Cannot change the subscription");
	else
		imap_ok(s, "%s completed", verb);
}

void
imap_cmd_subscribe(struct imap_sess *s, struct imap_args args, int uid)
{
	subscribe(s, args, 1);
}

void
imap_cmd_unsubscribe(struct imap_sess *s, struct imap_args args, int uid)
{
	subscribe(s, args, 0);
}

/* ---- STATUS (RFC 9051 6.3.11) ---- */

struct status_ctx {
	const char *name;
	const char *root;
	struct mailidx_mbox mb;
	int want_recent;
	uint32_t recent;	/* messages no session has as \Recent yet */
};

static int
count_fn(const struct mailidx_msg *m, void *arg)
{
	(void)m;
	(*(uint32_t *)arg)++;
	return 0;
}

/* Counters come from the index; files other programs dropped in are
 * taken in first (reconcile looks at two mtimes when nothing changed). */
static int
status_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct status_ctx *c = arg;
	int rc, changed = 0;

	if ((rc = mailidx_mbox_get(t, c->name, &c->mb)) != 1)
		return rc == 0 ? 1 : -1;
	/* reconcile finds the folder under the root itself */
	if (mailidx_reconcile(t, c->root, c->mb.id, 0, &changed, why) != 0)
		return -1;
	if (changed && mailidx_mbox_get(t, c->name, &c->mb) != 1)
		return -1;
	c->recent = 0;
	if (c->want_recent && mailidx_msg_range(t, c->mb.id,
	    c->mb.recent_uid > 0 ? c->mb.recent_uid : 1, UINT32_MAX, count_fn,
	    &c->recent) < 0)
		return -1;
	return 0;
}

static int
status_item_ok(const struct imap_arg *a)
{
	return imap_arg_atom_is(a, "MESSAGES") ||
	    imap_arg_atom_is(a, "UIDNEXT") ||
	    imap_arg_atom_is(a, "UIDVALIDITY") ||
	    imap_arg_atom_is(a, "UNSEEN") || imap_arg_atom_is(a, "DELETED") ||
	    imap_arg_atom_is(a, "SIZE") ||
	    imap_arg_atom_is(a, "HIGHESTMODSEQ") ||
	    imap_arg_atom_is(a, "MAILBOXID") ||
	    imap_arg_atom_is(a, "RECENT");
}

/* One "* STATUS" line; 0, 1 no such mailbox, -1 error. */
static int
status_send(struct imap_sess *s, const char *name,
    const struct imap_arg *list)
{
	struct status_ctx c = { name, s->u->root, { 0 }, 0, 0 };
	struct imap_args items = imap_arg_items(list);
	const struct imap_arg *a;
	const char *why = NULL;
	struct buf b;
	int rc;

	for (a = imap_args_at(items, 0); a != NULL;
	    a = imap_args_next(items, a))
		if (imap_arg_atom_is(a, "RECENT"))
			c.want_recent = !imap_rev2(s);

	rc = imap_idx_write(s, status_fn, &c, &why);
	if (rc != 0) {
		if (rc != 1)
			log_warn("conn=%s event=status-failed mailbox=\"%s\" "
			    "reason=\"%s\"", s->id, name, why ? why : "?");
		return rc == 1 ? 1 : -1;
	}
	buf_init(&b, 256, MBOX_CLIENT_MAX + 4096);
	(void)!buf_addstr(&b, "* STATUS ");
	(void)!imap_mbox_quote(s, &b, name);
	(void)!buf_addstr(&b, " (");
	for (a = imap_args_at(items, 0); a != NULL;
	    a = imap_args_next(items, a)) {
		if (a != imap_args_at(items, 0))
			(void)!buf_addstr(&b, " ");
		if (imap_arg_atom_is(a, "MESSAGES"))
			(void)!buf_addf(&b, "MESSAGES %u", c.mb.messages);
		else if (imap_arg_atom_is(a, "UIDNEXT"))
			(void)!buf_addf(&b, "UIDNEXT %u", c.mb.uidnext);
		else if (imap_arg_atom_is(a, "UIDVALIDITY"))
			(void)!buf_addf(&b, "UIDVALIDITY %u",
			    c.mb.uidvalidity);
		else if (imap_arg_atom_is(a, "UNSEEN"))
			(void)!buf_addf(&b, "UNSEEN %u", c.mb.unseen);
		else if (imap_arg_atom_is(a, "DELETED"))
			(void)!buf_addf(&b, "DELETED %u", c.mb.deleted);
		else if (imap_arg_atom_is(a, "HIGHESTMODSEQ")) {
			s->enabled |= IMAP_EN_CONDSTORE;	/* 7162 3.1 */
			(void)!buf_addf(&b, "HIGHESTMODSEQ %llu",
			    (unsigned long long)c.mb.highestmodseq);
		} else if (imap_arg_atom_is(a, "MAILBOXID"))
			(void)!buf_addf(&b, "MAILBOXID (F%08x%08x)",
			    c.mb.uidvalidity, c.mb.id);
		else if (imap_arg_atom_is(a, "SIZE"))
			(void)!buf_addf(&b, "SIZE %llu",
			    (unsigned long long)c.mb.size);
		else	/* RFC 3501 6.3.10: the unclaimed ones and, if it is
			 * selected here, this session's; none in rev2 */
			(void)!buf_addf(&b, "RECENT %u", c.recent +
			    (s->sel != NULL && s->sel->mbox_id == c.mb.id ?
			    imap_sel_recent_count(s) : 0));
	}
	(void)!buf_addstr(&b, ")\r\n");
	imap_send(s, b.data, b.len);
	buf_fini(&b);
	return 0;
}

void
imap_cmd_status(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX];
	const struct imap_arg *list = imap_args_at(args, 1), *a;
	struct imap_args items;
	int rc;

	if (imap_args_count(args) != 2 || list->type != IMAP_ARG_LIST ||
	    list->n_items == 0) {
		imap_bad(s, "STATUS takes a mailbox name and a list of items");
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), name, sizeof(name)))
		return;
	items = imap_arg_items(list);
	for (a = imap_args_at(items, 0); a != NULL;
	    a = imap_args_next(items, a))
		if (!status_item_ok(a)) {
			imap_bad(s, "Unknown STATUS item");
			return;
		}
	rc = status_send(s, name, list);
	if (rc == 1)
		imap_no(s, "[NONEXISTENT] No such mailbox");
	else if (rc != 0)
		imap_no(s, "[SERVERBUG] Cannot read the mailbox");
	else
		imap_ok(s, "STATUS completed");
}
