/* QUOTA (RFC 9208): the user's limits from authd, usage from the index counters; APPEND's over-quota check. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/mailidx.h"
#include "common/userdb.h"
#include "imapd/imapd.h"

/*
 * One quota root, "", for all of a user's mailboxes (the MDA counts
 * the same way).  Limits come from authd (IPC_AUTH_USERINFO) once per
 * user and process, asked at login; 0 is no limit.  Until authd has
 * answered, nothing is refused and QUOTA answers say "no root".
 */

static void
userinfo_cb(void *arg, const struct ipc_hdr *hdr, struct span payload,
    int fd, const char *why)
{
	struct imap_sess *s = arg;
	struct ipc_reader r;
	struct span addr;
	uint32_t found;
	uint64_t qb, qm;

	s->quota_reqid = 0;
	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_AUTH_USER ||
	    ipc_get_u32(&r, &found) != 0 ||
	    ipc_get_str(&r, &addr, USERDB_ADDR_MAX) != 0 ||
	    ipc_get_u64(&r, &qb) != 0 || ipc_get_u64(&r, &qm) != 0) {
		log_warn("conn=%s event=userinfo-failed reason=\"%s\"", s->id,
		    hdr == NULL ? why : "bad reply");
		return;
	}
	if (s->u == NULL || !found)
		return;
	s->u->quota_bytes = qb;
	s->u->quota_messages = qm;
	s->u->quota_known = 1;
}

void
imap_quota_fetch(struct imap_sess *s)
{
	struct ipc_msg m;

	if (s->u == NULL || s->u->quota_known || s->quota_reqid != 0)
		return;
	ipc_msg_init(&m, IPC_AUTH_USERINFO, 0);
	if (ipc_put_cstr(&m, s->u->addr) != 0 || ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->authd, &m, userinfo_cb, s,
	    &s->quota_reqid) != 0)
		s->quota_reqid = 0;
	ipc_msg_fini(&m);
}

void
imap_quota_cancel(struct imap_sess *s)
{
	if (s->quota_reqid != 0)
		ipcc_cancel(s->d->authd, s->quota_reqid);
	s->quota_reqid = 0;
}

struct usage {
	uint64_t bytes, messages;
};

static int
usage_fn(const struct mailidx_mbox *m, void *arg)
{
	struct usage *u = arg;

	u->bytes += m->size;
	u->messages += m->messages;
	return 0;
}

static int
usage_read(struct imap_sess *s, struct usage *u)
{
	struct mailidx_txn *t;
	const char *why = NULL;
	int rc;

	memset(u, 0, sizeof(*u));
	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0)
		return -1;
	rc = mailidx_mbox_list(t, usage_fn, u);
	mailidx_txn_abort(&t);
	return rc < 0 ? -1 : 0;
}

static int
has_root(const struct imap_sess *s)
{
	return s->u->quota_known && (s->u->quota_bytes != 0 ||
	    s->u->quota_messages != 0);
}

int
imap_quota_over(struct imap_sess *s, uint64_t size, uint64_t n)
{
	struct usage u;

	if (s->u == NULL || !has_root(s) || usage_read(s, &u) != 0)
		return 0;
	if (s->u->quota_bytes != 0 && u.bytes + size > s->u->quota_bytes)
		return 1;
	return s->u->quota_messages != 0 &&
	    u.messages + n > s->u->quota_messages;
}

/* "* QUOTA "" (STORAGE used limit MESSAGE used limit)": STORAGE in
 * units of 1024 octets (RFC 9208 5.1), rounded up. */
static int
quota_send(struct imap_sess *s)
{
	struct usage u;
	int sp = 0;

	if (usage_read(s, &u) != 0)
		return -1;
	imap_printf(s, "* QUOTA \"\" (");
	if (s->u->quota_bytes != 0) {
		imap_printf(s, "STORAGE %llu %llu",
		    (unsigned long long)((u.bytes + 1023) / 1024),
		    (unsigned long long)(s->u->quota_bytes / 1024));
		sp = 1;
	}
	if (s->u->quota_messages != 0)
		imap_printf(s, "%sMESSAGE %llu %llu", sp ? " " : "",
		    (unsigned long long)u.messages,
		    (unsigned long long)s->u->quota_messages);
	imap_printf(s, ")\r\n");
	return 0;
}

void
imap_cmd_getquotaroot(struct imap_sess *s, struct imap_args args, int uid)
{
	char name[MAILIDX_NAME_MAX];
	struct buf b;

	if (imap_args_count(args) != 1) {
		imap_bad(s, "GETQUOTAROOT takes a mailbox name");
		return;
	}
	if (imap_mbox_name(s, imap_args_at(args, 0), name, sizeof(name)))
		return;
	buf_init(&b, 256, 8192);
	(void)!buf_addstr(&b, "* QUOTAROOT ");
	(void)!imap_mbox_quote(s, &b, name);
	if (has_root(s))
		(void)!buf_addstr(&b, " \"\"");
	(void)!buf_addstr(&b, "\r\n");
	imap_send(s, b.data, b.len);
	buf_fini(&b);
	if (has_root(s) && quota_send(s) != 0) {
		imap_no(s, "[SERVERBUG] Cannot read the usage");
		return;
	}
	imap_ok(s, "GETQUOTAROOT completed");
}

void
imap_cmd_getquota(struct imap_sess *s, struct imap_args args, int uid)
{
	struct span root;

	if (imap_args_count(args) != 1 ||
	    imap_arg_astring(imap_args_at(args, 0), &root) != 0) {
		imap_bad(s, "GETQUOTA takes a quota root");
		return;
	}
	if (root.n != 0 || !has_root(s)) {
		imap_no(s, "[NONEXISTENT] No such quota root");
		return;
	}
	if (quota_send(s) != 0) {
		imap_no(s, "[SERVERBUG] Cannot read the usage");
		return;
	}
	imap_ok(s, "GETQUOTA completed");
}

void
imap_cmd_setquota(struct imap_sess *s, struct imap_args args, int uid)
{
	/* RFC 9208 4.3: limits are the administrator's (letterbox quota) */
	imap_no(s, "[NOPERM] Quotas are set by the administrator");
}
