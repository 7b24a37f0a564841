/* AUTHENTICATED: APPEND (RFC 9051 6.3.12, UIDPLUS APPENDUID RFC 4315): the literal streamed into tmp/, then cur/ and the index. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_search.h"
#include "imapd/imapd.h"

/*
 * A message literal above the reader's inline size goes to this sink:
 * BEGIN (announced, before "+") opens a file in the user's tmp/, DATA
 * writes each piece as it arrives, END keeps it for the command.  The
 * message is never held in memory.  Small literals are written by the
 * command itself.  Only APPEND takes big literals; any other command
 * announcing one gets NO before any "+".
 */
int
imap_append_sink(void *ctx, enum imap_sink_ev ev,
    const struct imap_lit_info *li, struct span data)
{
	struct imap_sess *s = ctx;
	const char *why = NULL;

	switch (ev) {
	case IMAP_SINK_BEGIN:
		if (!span_eq_ci(li->name, "APPEND") || s->u == NULL ||
		    li->index != 0 ||
		    li->size > IMAP_APPEND_MAX) {
			s->sink_why = li->size > IMAP_APPEND_MAX ?
			    "[TOOBIG] Message larger than APPENDLIMIT" :
			    !span_eq_ci(li->name, "APPEND") ?
			    "[TOOBIG] Literal too big for this command" :
			    "[CANNOT] One message per APPEND";
			return -1;
		}
		/* RFC 9208 4.1: refused before the message is sent */
		if (imap_quota_over(s, li->size)) {
			s->sink_why = "[OVERQUOTA] Mailbox quota exceeded";
			return -1;
		}
		imap_append_drop(s);
		s->app = xcalloc(1, sizeof(*s->app));
		if (maildir_tmp_open(s->u->root, s->d->cfg->hostname, s->app,
		    &why) != 0) {
			log_warn("conn=%s event=append-tmp-failed reason=\"%s\"",
			    s->id, why ? why : "?");
			free(s->app);
			s->app = NULL;
			s->sink_why = "[SERVERBUG] Cannot store the message";
			return -1;
		}
		return 0;
	case IMAP_SINK_DATA:
		if (s->app == NULL || maildir_tmp_write(s->app, data.p, data.n,
		    &why) != 0) {
			s->sink_why = "[SERVERBUG] Cannot write the message";
			return -1;
		}
		return 0;
	case IMAP_SINK_END:
		return 0;
	case IMAP_SINK_ABORT:
		imap_append_drop(s);
		return 0;
	}
	return 0;
}

void
imap_append_drop(struct imap_sess *s)
{
	if (s->app == NULL)
		return;
	maildir_tmp_abort(s->app);
	free(s->app);
	s->app = NULL;
}

struct app_ctx {
	const char *name;
	struct mailidx_msg m;
	struct span kw[MAILIDX_KEYWORDS];
	size_t n_kw;
	uint32_t uidvalidity;
};

static int
append_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct app_ctx *c = arg;
	struct mailidx_mbox mb;
	struct mailidx_msg m = c->m;
	char kw[256];
	unsigned id;
	size_t i;
	int rc;

	if ((rc = mailidx_mbox_get(t, c->name, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	for (i = 0; i < c->n_kw; i++) {
		snprintf(kw, sizeof(kw), "%.*s", (int)c->kw[i].n,
		    (const char *)c->kw[i].p);
		if (mailidx_keyword_id(t, kw, 1, &id, why) != 1)
			return 2;
		m.keywords |= 1ULL << id;
	}
	if ((rc = mailidx_msg_append(t, mb.id, &m, span_make(NULL, 0),
	    why)) != 0)
		return rc;
	c->m.uid = m.uid;
	c->uidvalidity = mb.uidvalidity;
	return 0;
}

static int
append_flags(struct app_ctx *c, const struct imap_arg *list)
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

void
imap_cmd_append(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX], folder[PATH_MAX], from[PATH_MAX + 300];
	char to[PATH_MAX + 300];
	struct app_ctx c;
	const struct imap_arg *a, *lit;
	struct imap_date_time dt;
	struct maildir_tmp *tmp;
	const char *why = NULL;
	uint64_t letters;
	off_t size;
	int rc;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.m.internaldate = (int64_t)time(NULL);
	a = imap_args_at(args, 0);
	if (a == NULL || imap_mbox_name(s, a, name, sizeof(name)) != 0) {
		imap_append_drop(s);
		if (a == NULL)
			imap_bad(s, "APPEND takes a mailbox, flags, a date and "
			    "a message");
		return;
	}
	lit = imap_args_next(args, a);
	if (lit != NULL && lit->type == IMAP_ARG_LIST) {
		if (append_flags(&c, lit) != 0) {
			imap_append_drop(s);
			imap_bad(s, "Bad flag list");
			return;
		}
		lit = imap_args_next(args, lit);
	}
	if (lit != NULL && lit->type == IMAP_ARG_QUOTED) {
		if (imap_date_time_parse(lit->s, &dt) != 0) {
			imap_append_drop(s);
			imap_bad(s, "Bad date-time");
			return;
		}
		c.m.internaldate = date_time_unix(&dt);
		lit = imap_args_next(args, lit);
	}
	if (lit == NULL || lit->type != IMAP_ARG_LITERAL ||
	    imap_args_next(args, lit) != NULL) {
		imap_append_drop(s);
		imap_bad(s, "APPEND takes a mailbox, flags, a date and one "
		    "message literal (no MULTIAPPEND)");
		return;
	}
	if (lit->size == 0) {
		imap_append_drop(s);
		imap_no(s, "[CANNOT] Empty message");
		return;
	}
	if (imap_sel_dir(s, name, folder, sizeof(folder)) != 0) {
		imap_append_drop(s);
		imap_no(s, "[TRYCREATE] No such mailbox");
		return;
	}
	if (!(lit->flags & IMAP_ARG_F_STREAMED) &&
	    imap_quota_over(s, lit->size)) {
		imap_append_drop(s);
		imap_no(s, "[OVERQUOTA] Mailbox quota exceeded");
		return;
	}
	/* RFC 3516 4.4: a literal8 message (~{n}) is stored as it came;
	 * a kept literal is written now; a streamed one is in tmp/ */
	if (!(lit->flags & IMAP_ARG_F_STREAMED)) {
		imap_append_drop(s);
		s->app = xcalloc(1, sizeof(*s->app));
		if (maildir_tmp_open(s->u->root, s->d->cfg->hostname, s->app,
		    &why) != 0 || maildir_tmp_write(s->app, lit->s.p,
		    lit->s.n, &why) != 0) {
			if (s->app->fd >= 0)
				imap_append_drop(s);
			else {
				free(s->app);
				s->app = NULL;
			}
			imap_no(s, "[SERVERBUG] Cannot store the message");
			return;
		}
	}
	tmp = s->app;
	if (tmp == NULL) {
		imap_no(s, "[SERVERBUG] The message was lost");
		return;
	}
	s->app = NULL;
	size = lseek(tmp->fd, 0, SEEK_END);
	/* into the folder's own tmp/ (one file system), then cur/ */
	snprintf(from, sizeof(from), "%s/tmp/%s", tmp->dir, tmp->name);
	snprintf(to, sizeof(to), "%s/tmp/%s", folder, tmp->name);
	if (strcmp(from, to) != 0 && rename(from, to) != 0) {
		maildir_tmp_abort(tmp);
		free(tmp);
		imap_no(s, "[TRYCREATE] No such mailbox");
		return;
	}
	snprintf(tmp->dir, sizeof(tmp->dir), "%s", folder);
	letters = mailidx_flags_to_maildir(c.m.flags, 0);
	if (maildir_commit(tmp, 1, letters, c.m.file, sizeof(c.m.file),
	    &why) != 0) {
		free(tmp);
		log_warn("conn=%s event=append-commit-failed reason=\"%s\"",
		    s->id, why ? why : "?");
		imap_no(s, "[SERVERBUG] Cannot store the message");
		return;
	}
	free(tmp);
	c.m.size = size > 0 ? (uint64_t)size : 0;
	/* XXX: a write transaction on the loop (docs/imapd.md) */
	rc = mailidx_write(s->u->idx, append_fn, &c, &why);
	if (rc != 0) {
		snprintf(to, sizeof(to), "%s/%s", folder, c.m.file);
		if (unlink(to) != 0)
			log_warn_errno("event=unlink-failed file=%s", to);
		imap_no(s, rc == 1 ? "[TRYCREATE] No such mailbox" : rc == 2 ?
		    "[LIMIT] Too many keywords" :
		    "[SERVERBUG] Cannot index the message");
		return;
	}
	log_info("conn=%s event=append mailbox=\"%s\" uid=%u size=%llu",
	    s->id, name, c.m.uid, (unsigned long long)c.m.size);
	/* RFC 9051 6.3.12: the selected mailbox tells its new EXISTS */
	if (s->sel != NULL)
		imap_sel_update(s, 0);
	imap_ok(s, "[APPENDUID %u %u] APPEND completed", c.uidvalidity,
	    c.m.uid);
}
