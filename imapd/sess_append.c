/* AUTHENTICATED: APPEND and MULTIAPPEND (RFC 9051 6.3.12, RFC 3502; UIDPLUS APPENDUID RFC 4315): literals streamed into tmp/, then cur/ and the index, all or none. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_search.h"
#include "imapd/imapd.h"

/* Messages in one APPEND (RFC 3502 sets no limit; each streamed one
 * holds a file descriptor until the command ends). */
#define IMAP_APPEND_MSGS_MAX 100

/* The streamed messages of the APPEND being read, in literal order; the
 * kept (small) ones are written by the command itself. */
struct imap_append {
	struct maildir_tmp *tmp[IMAP_APPEND_MSGS_MAX];
	unsigned n;
	uint64_t bytes;		/* their announced sizes, for quota */
};

/*
 * A message literal that the reader does not keep goes to this sink:
 * BEGIN (announced, before "+") opens a file in the user's tmp/, DATA
 * writes each piece as it arrives, END keeps it for the command.  The
 * message is never held in memory.  Only APPEND takes such literals;
 * any other command announcing one gets NO before any "+" (or, for a
 * {n+}, after the reader has thrown the bytes away: RFC 7888 4).  Each
 * message of a MULTIAPPEND is checked against APPENDLIMIT and, with the
 * ones before it, against the quota, before its "+" (RFC 3502 6.3.11:
 * the server may refuse before all messages are sent).
 */
int
imap_append_sink(void *ctx, enum imap_sink_ev ev,
    const struct imap_lit_info *li, struct span data)
{
	struct imap_sess *s = ctx;
	struct imap_append *ap;
	struct maildir_tmp *t;
	const char *why = NULL;

	switch (ev) {
	case IMAP_SINK_BEGIN:
		s->sink_why = NULL;
		if (!span_eq_ci(li->name, "APPEND"))
			s->sink_why = "[TOOBIG] Literal too big for this command";
		else if (s->u == NULL)
			s->sink_why = "APPEND needs LOGIN or AUTHENTICATE first";
		else if (li->size > IMAP_APPEND_MAX)
			s->sink_why = "[TOOBIG] Message larger than APPENDLIMIT";
		if (s->sink_why != NULL)
			return -1;
		/* a new command: anything left from another one goes */
		if (li->index == 0)
			imap_append_drop(s);
		if (s->app == NULL)
			s->app = xcalloc(1, sizeof(*s->app));
		ap = s->app;
		if (ap->n == IMAP_APPEND_MSGS_MAX) {
			s->sink_why = "[LIMIT] Too many messages in one APPEND";
			return -1;
		}
		/* RFC 9208 4.1: refused before the message is sent */
		if (imap_quota_over(s, ap->bytes + li->size, ap->n + 1)) {
			s->sink_why = "[OVERQUOTA] Mailbox quota exceeded";
			return -1;
		}
		t = xcalloc(1, sizeof(*t));
		if (maildir_tmp_open(s->u->root, s->d->cfg->hostname, t,
		    &why) != 0) {
			log_warn("conn=%s event=append-tmp-failed reason=\"%s\"",
			    s->id, why ? why : "?");
			free(t);
			s->sink_why = "[SERVERBUG] Cannot store the message";
			return -1;
		}
		ap->tmp[ap->n++] = t;
		ap->bytes += li->size;
		return 0;
	case IMAP_SINK_DATA:
		if (s->app == NULL || s->app->n == 0 ||
		    maildir_tmp_write(s->app->tmp[s->app->n - 1], data.p,
		    data.n, &why) != 0) {
			s->sink_why = "[SERVERBUG] Cannot write the message";
			return -1;
		}
		return 0;
	case IMAP_SINK_END:
		return 0;
	case IMAP_SINK_ABORT:
		/* the command fails as a whole: none of its messages stay */
		imap_append_drop(s);
		return 0;
	}
	return 0;
}

void
imap_append_drop(struct imap_sess *s)
{
	unsigned i;

	if (s->app == NULL)
		return;
	for (i = 0; i < s->app->n; i++) {
		maildir_tmp_abort(s->app->tmp[i]);
		free(s->app->tmp[i]);
	}
	free(s->app);
	s->app = NULL;
}

/* One message of the command. */
struct app_msg {
	struct mailidx_msg m;
	struct span kw[MAILIDX_KEYWORDS];
	size_t n_kw;
	const struct imap_arg *lit;
	struct maildir_tmp *tmp;	/* owned until linked */
	int linked;			/* m.file is in the folder */
};

struct app_ctx {
	const char *name;
	struct app_msg *msg;
	size_t n;
	uint32_t uidvalidity;
};

/* The index: every message in one transaction, so all or none. */
static int
append_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct app_ctx *c = arg;
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	char kw[256];
	unsigned id;
	size_t i, k;
	int rc;

	if ((rc = mailidx_mbox_get(t, c->name, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	for (k = 0; k < c->n; k++) {
		struct app_msg *am = &c->msg[k];

		m = am->m;
		for (i = 0; i < am->n_kw; i++) {
			snprintf(kw, sizeof(kw), "%.*s", (int)am->kw[i].n,
			    (const char *)am->kw[i].p);
			if (mailidx_keyword_id(t, kw, 1, &id, why) != 1)
				return 2;
			m.keywords |= 1ULL << id;
		}
		if ((rc = mailidx_msg_append(t, mb.id, &m,
		    span_make(NULL, 0), why)) != 0)
			return rc;
		am->m.uid = m.uid;
	}
	c->uidvalidity = mb.uidvalidity;
	return 0;
}

static int
append_flags(struct app_msg *c, const struct imap_arg *list)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} sys[] = {
		{ "\\Seen", MAILIDX_F_SEEN }, { "\\Answered", MAILIDX_F_ANSWERED },
		{ "\\Flagged", MAILIDX_F_FLAGGED },
		{ "\\Deleted", MAILIDX_F_DELETED }, { "\\Draft", MAILIDX_F_DRAFT },
	};
	struct imap_args items = imap_arg_items(list);
	const struct imap_arg *a;
	size_t i;

	for (a = imap_args_at(items, 0); a != NULL;
	    a = imap_args_next(items, a)) {
		if (a->type != IMAP_ARG_ATOM)
			return -1;
		for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
			if (imap_arg_atom_is(a, sys[i].name))
				break;
		if (i < sizeof(sys) / sizeof(sys[0]))
			c->m.flags |= sys[i].bit;
		else if (a->s.p[0] == '\\' || c->n_kw == MAILIDX_KEYWORDS ||
		    a->s.n > 64)
			return -1;
		else
			c->kw[c->n_kw++] = a->s;
	}
	return 0;
}

static int64_t
date_time_unix(const struct imap_date_time *dt)
{
	return imap_date_days(&dt->d) * 86400 + dt->hour * 3600 +
	    dt->min * 60 + dt->sec - (int64_t)dt->zone_min * 60;
}

/* The messages after the mailbox: 1*([SP flag-list] [SP date-time] SP
 * literal) (RFC 3502 6.3.11).  0, or -1 with the BAD sent. */
static int
append_args(struct imap_sess *s, struct imap_args args,
    const struct imap_arg *a, struct app_ctx *c)
{
	struct imap_date_time dt;
	struct app_msg *am;
	int64_t now = (int64_t)time(NULL);

	while (a != NULL) {
		am = &c->msg[c->n++];
		am->m.internaldate = now;
		if (a->type == IMAP_ARG_LIST) {
			if (append_flags(am, a) != 0) {
				imap_bad(s, "Bad flag list");
				return -1;
			}
			a = imap_args_next(args, a);
		}
		if (a != NULL && a->type == IMAP_ARG_QUOTED) {
			if (imap_date_time_parse(a->s, &dt) != 0) {
				imap_bad(s, "Bad date-time");
				return -1;
			}
			am->m.internaldate = date_time_unix(&dt);
			a = imap_args_next(args, a);
		}
		if (a == NULL || a->type != IMAP_ARG_LITERAL) {
			imap_bad(s, "APPEND takes a mailbox and messages: "
			    "[flags] [date-time] literal");
			return -1;
		}
		am->lit = a;
		a = imap_args_next(args, a);
	}
	if (c->n == 0) {
		imap_bad(s, "APPEND takes a mailbox and messages: "
		    "[flags] [date-time] literal");
		return -1;
	}
	return 0;
}

/* Remove what is in the folder already and the tmp/ files not yet
 * linked: the command failed, none of its messages may stay. */
static void
append_undo(struct app_ctx *c, const char *folder)
{
	char path[PATH_MAX + 300];
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct app_msg *am = &c->msg[i];

		if (am->linked) {
			snprintf(path, sizeof(path), "%s/%s", folder,
			    am->m.file);
			if (unlink(path) != 0)
				log_warn_errno("event=unlink-failed file=%s",
				    path);
			am->linked = 0;
		}
		if (am->tmp != NULL) {
			maildir_tmp_abort(am->tmp);
			free(am->tmp);
			am->tmp = NULL;
		}
	}
}

/* Each message into a tmp/ file: the streamed ones from the sink, in
 * order, the kept ones written now.  0, or -1 with s->app dropped. */
static int
append_files(struct imap_sess *s, struct app_ctx *c, const char **no)
{
	const char *why = NULL;
	unsigned k = 0, n_streamed = 0;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->msg[i].lit->flags & IMAP_ARG_F_STREAMED)
			n_streamed++;
	/* a file left by a command that never ran is no message of ours */
	if (n_streamed != (s->app != NULL ? s->app->n : 0)) {
		imap_append_drop(s);
		*no = "[SERVERBUG] The message was lost";
		return -1;
	}
	for (i = 0; i < c->n; i++) {
		struct app_msg *am = &c->msg[i];

		if (am->lit->flags & IMAP_ARG_F_STREAMED) {
			am->tmp = s->app->tmp[k];
			s->app->tmp[k++] = NULL;
		}
	}
	if (s->app != NULL)
		s->app->n = 0;
	imap_append_drop(s);
	/* RFC 3516 4.4: a literal8 message (~{n}) is stored as it came */
	for (i = 0; i < c->n; i++) {
		struct app_msg *am = &c->msg[i];

		if (am->tmp != NULL)
			continue;
		am->tmp = xcalloc(1, sizeof(*am->tmp));
		am->tmp->fd = -1;
		if (maildir_tmp_open(s->u->root, s->d->cfg->hostname, am->tmp,
		    &why) != 0 || maildir_tmp_write(am->tmp, am->lit->s.p,
		    am->lit->s.n, &why) != 0) {
			log_warn("conn=%s event=append-tmp-failed "
			    "reason=\"%s\"", s->id, why ? why : "?");
			*no = "[SERVERBUG] Cannot store the message";
			return -1;
		}
	}
	return 0;
}

/* Into the folder's own tmp/ (one file system), fsynced, then linked
 * into cur/ with their flags, then one fsync of cur/ for them all. */
static int
append_link(struct imap_sess *s, struct app_ctx *c, const char *folder,
    const char **no)
{
	char from[PATH_MAX + 300], to[PATH_MAX + 300];
	const char *why = NULL;
	struct maildir_tmp *t;
	off_t size;
	size_t i;

	for (i = 0; i < c->n; i++) {
		t = c->msg[i].tmp;
		snprintf(from, sizeof(from), "%s/tmp/%s", t->dir, t->name);
		snprintf(to, sizeof(to), "%s/tmp/%s", folder, t->name);
		if (strcmp(from, to) != 0 && rename(from, to) != 0) {
			*no = "[TRYCREATE] No such mailbox";
			return -1;
		}
		snprintf(t->dir, sizeof(t->dir), "%s", folder);
	}
	for (i = 0; i < c->n; i++) {
		struct app_msg *am = &c->msg[i];

		t = am->tmp;
		size = lseek(t->fd, 0, SEEK_END);
		am->m.size = size > 0 ? (uint64_t)size : 0;
		if (fsync(t->fd) != 0) {
			why = "fsync failed";
			break;
		}
		/* on failure maildir_link removed the tmp/ file */
		if (maildir_link(t, 1, mailidx_flags_to_maildir(am->m.flags,
		    0), am->m.file, sizeof(am->m.file), &why) != 0) {
			free(am->tmp);
			am->tmp = NULL;
			break;
		}
		free(am->tmp);
		am->tmp = NULL;
		am->linked = 1;
	}
	snprintf(to, sizeof(to), "%s/cur", folder);
	if (i < c->n || maildir_fsync_dir(to, &why) != 0) {
		log_warn("conn=%s event=append-commit-failed reason=\"%s\"",
		    s->id, why ? why : "?");
		*no = "[SERVERBUG] Cannot store the message";
		return -1;
	}
	return 0;
}

struct link_arg {
	struct imap_sess *s;
	struct app_ctx *c;
	const char *folder;
	const char *no;		/* static text */
};

/* On a worker thread: the fsyncs. */
static int
append_link_run(void *arg)
{
	struct link_arg *a = arg;

	return append_link(a->s, a->c, a->folder, &a->no);
}

/* "[APPENDUID v uid]", or with MULTIAPPEND a UID set (RFC 4315 3). */
static void
append_done(struct imap_sess *s, struct app_ctx *c)
{
	uint32_t uids[IMAP_APPEND_MSGS_MAX];
	struct buf b;
	size_t i;

	buf_init(&b, 64, 4096);
	for (i = 0; i < c->n; i++) {
		uids[i] = c->msg[i].m.uid;
		log_info("conn=%s event=append mailbox=\"%s\" uid=%u "
		    "size=%llu", s->id, c->name, c->msg[i].m.uid,
		    (unsigned long long)c->msg[i].m.size);
	}
	/* one transaction: the UIDs ascend in literal order */
	imap_uidset_add(&b, uids, c->n);
	/* RFC 9051 6.3.12: the selected mailbox tells its new EXISTS */
	if (s->sel != NULL)
		imap_sel_update(s, 0);
	imap_ok(s, "[APPENDUID %u %s] APPEND completed", c->uidvalidity,
	    buf_cstr(&b));
	buf_fini(&b);
}

void
imap_cmd_append(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX], folder[PATH_MAX];
	const struct imap_arg *a, *lit;
	struct app_ctx c;
	const char *why = NULL, *no = NULL;
	uint64_t total = 0;
	size_t i, n_lit = 0;
	int rc;

	(void)uid;
	memset(&c, 0, sizeof(c));
	c.name = name;
	a = imap_args_at(args, 0);
	if (a == NULL || imap_mbox_name(s, a, name, sizeof(name)) != 0) {
		imap_append_drop(s);
		if (a == NULL)
			imap_bad(s, "APPEND takes a mailbox and messages: "
			    "[flags] [date-time] literal");
		return;
	}
	/* one message per literal; the sink refused more than this many
	 * streamed ones, the kept ones are counted here */
	for (lit = imap_args_next(args, a); lit != NULL;
	    lit = imap_args_next(args, lit))
		n_lit += lit->type == IMAP_ARG_LITERAL;
	if (n_lit > IMAP_APPEND_MSGS_MAX) {
		imap_append_drop(s);
		imap_no(s, "[LIMIT] Too many messages in one APPEND");
		return;
	}
	/* + 1: a malformed message after the last literal takes a slot */
	c.msg = xcalloc(n_lit + 1, sizeof(*c.msg));
	if (append_args(s, args, imap_args_next(args, a), &c) != 0)
		goto drop;
	/* RFC 3502 6.3.11: a zero-length message cancels the append */
	for (i = 0; i < c.n; i++) {
		if (c.msg[i].lit->size == 0)
			no = "[CANNOT] Empty message";
		total += c.msg[i].lit->size;
	}
	if (no == NULL && imap_sel_dir(s, name, folder, sizeof(folder)) != 0)
		no = "[TRYCREATE] No such mailbox";
	if (no == NULL && imap_quota_over(s, total, c.n))
		no = "[OVERQUOTA] Mailbox quota exceeded";
	if (no != NULL) {
		imap_no(s, "%s", no);
		goto drop;
	}
	if (append_files(s, &c, &no) == 0) {
		struct link_arg la = { s, &c, folder, NULL };

		if (imap_blocking(s, append_link_run, &la) != 0)
			no = la.no;
	}
	if (no != NULL) {
		append_undo(&c, folder);
		imap_no(s, "%s", no);
		goto drop;
	}
	rc = imap_idx_write(s, append_fn, &c, &why);
	if (rc != 0) {
		append_undo(&c, folder);
		imap_no(s, rc == 1 ? "[TRYCREATE] No such mailbox" : rc == 2 ?
		    "[LIMIT] Too many keywords" :
		    "[SERVERBUG] Cannot index the message");
		goto drop;
	}
	append_done(s, &c);
drop:
	imap_append_drop(s);
	free(c.msg);
}
