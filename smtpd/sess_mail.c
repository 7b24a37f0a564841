/* MAIL and RCPT: envelope syntax, parameters, and the policy of each port. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/cio.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/userdb.h"
#include "smtpd/smtpd.h"

static int
is_submission(const struct smtp_sess *s)
{
	return s->kind == CFG_LISTEN_SUBMISSION ||
	    s->kind == CFG_LISTEN_SUBMISSIONS;
}

/* Append a span to the transaction buffer; its offset in *off_out. */
static int
txn_add(struct smtp_sess *s, struct span v, size_t *off_out)
{
	*off_out = s->txn_buf.len;
	if (buf_addspan(&s->txn_buf, v) != 0 || buf_add(&s->txn_buf, "", 1))
		return -1;
	return 0;
}

/* MAIL parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
 * RFC 3461 RET and ENVID, RFC 4954 AUTH).  0, or -1 after replying. */
static int
mail_params(struct smtp_sess *s, const struct smtp_cmd *c)
{
	const uint64_t max = s->d->cfg->smtpd.max_message_size;
	unsigned seen = 0;
	size_t i;

	for (i = 0; i < c->n_params; i++) {
		const struct smtp_param *p = &c->params[i];
		static const char *const names[] = {
			"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH",
		};
		size_t k;

		for (k = 0; k < 6 && !span_eq_ci(p->key, names[k]); k++)
			;
		if (k == 6) {
			smtp_reply_err(s, 555, "5.5.4", "Unsupported parameter "
			    "%.*s", (int)(p->key.n > 32 ? 32 : p->key.n),
			    (const char *)p->key.p);
			return -1;
		}
		if (seen & (1u << k)) {
			smtp_reply_err(s, 501, "5.5.4", "Duplicate %s "
			    "parameter", names[k]);
			return -1;
		}
		seen |= 1u << k;
		switch (k) {
		case 0:
			if (smtp_param_u64(p->value, &s->declared_size) != 0) {
				smtp_reply_err(s, 501, "5.5.4", "Bad SIZE value");
				return -1;
			}
			if (s->declared_size > max) {
				smtp_reply_err(s, 552, "5.3.4", "Message size "
				    "exceeds fixed maximum message size");
				return -1;
			}
			break;
		case 1:
			if (span_eq_ci(p->value, "7BIT"))
				s->body = ENV_BODY_7BIT;
			else if (span_eq_ci(p->value, "8BITMIME"))
				s->body = ENV_BODY_8BITMIME;
			else {
				smtp_reply_err(s, 555, "5.5.4", "Unsupported "
				    "BODY type");
				return -1;
			}
			break;
		case 2:
			if (p->value.n != 0) {
				smtp_reply_err(s, 501, "5.5.4", "SMTPUTF8 takes "
				    "no value");
				return -1;
			}
			s->smtputf8 = 1;
			break;
		case 3:
			if (span_eq_ci(p->value, "FULL"))
				s->ret = ENV_RET_FULL;
			else if (span_eq_ci(p->value, "HDRS"))
				s->ret = ENV_RET_HDRS;
			else {
				smtp_reply_err(s, 501, "5.5.4", "Bad RET value");
				return -1;
			}
			break;
		case 4:
			/* RFC 3461 4.4: at most 100 characters of xtext. */
			if (!smtp_xtext_valid(p->value, 100) || p->value.n == 0 ||
			    txn_add(s, p->value, &s->envid_off) != 0) {
				smtp_reply_err(s, 501, "5.5.4", "Bad ENVID value");
				return -1;
			}
			s->envid_len = p->value.n;
			break;
		default:
			/* AUTH=: RFC 4954 5; we do not relay identities. */
			break;
		}
	}
	return 0;
}

/* RESOLVED says whether the user owns the sender address. */
static int
sender_owned(const struct smtp_sess *s, struct span payload)
{
	struct ipc_reader r;
	uint32_t kind, n, flags, i;
	struct span a;

	ipc_reader_init(&r, payload);
	if (ipc_get_u32(&r, &kind) || ipc_get_u32(&r, &n) ||
	    kind != IPC_RESOLVE_LOCAL)
		return 0;
	for (i = 0; i < n; i++) {
		if (ipc_get_u32(&r, &flags) || ipc_get_str(&r, &a,
		    USERDB_ADDR_MAX))
			return 0;
		if ((flags & IPC_TARGET_MAILBOX) && span_eq(a, s->user))
			return 1;
	}
	return 0;
}

static void
mail_accept(struct smtp_sess *s)
{
	char esc[1024];

	smtp_set_state(s, SMTP_S_MAIL);
	log_info("conn=%s event=mail from=<%s> size=%llu", s->id,
	    log_escape(span_make(s->txn_buf.data, s->from_len), esc,
	    sizeof(esc)), (unsigned long long)s->declared_size);
	smtp_reply(s, 250, "2.1.0", "Ok");
}

static void
sender_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct smtp_sess *s = arg;

	smtp_wait_end(s);
	if (hdr == NULL || hdr->type != IPC_AUTH_RESOLVED) {
		smtp_txn_reset(s);
		smtp_reply(s, 451, "4.3.0", "Temporary lookup failure");
		return;
	}
	if (!sender_owned(s, payload)) {
		log_notice("conn=%s event=sender-refused user=%s", s->id,
		    s->user);
		smtp_txn_reset(s);
		smtp_reply_err(s, 553, "5.7.1", "Sender address not owned "
		    "by user %s", s->user);
		return;
	}
	mail_accept(s);
}

/* Submission: the authenticated user may send only as an address that
 * resolves to their own mailbox (their address, an alias of theirs). */
static void
mail_check_sender(struct smtp_sess *s, const char *from)
{
	struct ipc_msg m;
	uint64_t id;
	char norm[USERDB_ADDR_MAX];

	if (addr_normalize(from, norm, sizeof(norm)) == 0 &&
	    strcmp(norm, s->user) == 0) {
		mail_accept(s);
		return;
	}
	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 0);
	if (ipc_put_cstr(&m, from) != 0 || ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->authd, &m, sender_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		smtp_txn_reset(s);
		smtp_reply(s, 451, "4.3.0", "Temporary lookup failure");
		return;
	}
	ipc_msg_fini(&m);
	smtp_wait_begin(s, SMTP_W_SENDER, id);
}

void
smtp_cmd_mail(struct smtp_sess *s, const struct smtp_cmd *c)
{
	struct addr_parts ap;
	size_t off;

	if (s->state == SMTP_S_HELO) {
		smtp_reply_err(s, 503, "5.5.1", "Send EHLO or HELO first");
		return;
	}
	if (s->state != SMTP_S_READY) {
		smtp_reply_err(s, 503, "5.5.1", "Nested MAIL command");
		return;
	}
	if (is_submission(s) && s->user[0] == '\0') {
		smtp_reply_err(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (!c->null_path && addr_parse(c->path, &ap, NULL) != 0) {
		smtp_reply_err(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	smtp_txn_reset(s);
	if (txn_add(s, c->path, &off) != 0) {
		smtp_reply_err(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	s->from_len = c->path.n;
	s->null_sender = c->null_path;
	if (mail_params(s, c) != 0) {
		smtp_txn_reset(s);
		return;
	}
	if (c->path_8bit && !s->smtputf8) {
		smtp_txn_reset(s);
		smtp_reply_err(s, 553, "5.6.7", "Non-ASCII address needs "
		    "SMTPUTF8");
		return;
	}
	/* An authenticated session is a submission whatever the port
	 * (RFC 6409 8.1): it may send only as its user, there and on 25. */
	if (s->user[0] != '\0') {
		if (s->null_sender) {
			smtp_txn_reset(s);
			smtp_reply_err(s, 553, "5.7.1", "Null sender not "
			    "allowed after AUTH");
			return;
		}
		mail_check_sender(s, (const char *)s->txn_buf.data);
		return;
	}
	mail_accept(s);
}

static const char *
pend_addr(const struct smtp_sess *s)
{
	return (const char *)s->txn_buf.data + s->pend_addr_off;
}

static void
rcpt_accept(struct smtp_sess *s)
{
	struct smtp_rcpt *r = &s->rcpts[s->n_rcpts++];
	char esc[1024];

	r->addr_off = s->pend_addr_off;
	r->addr_len = s->pend_addr_len;
	r->orcpt_off = s->pend_orcpt_off;
	r->orcpt_len = s->pend_orcpt_len;
	r->notify = s->pend_notify;
	smtp_set_state(s, SMTP_S_RCPT);
	log_info("conn=%s event=rcpt to=<%s>", s->id,
	    log_escape(span_cstr(pend_addr(s)), esc, sizeof(esc)));
	smtp_reply(s, 250, "2.1.5", "Ok");
}

static void
rcpt_cb(void *arg, const struct ipc_hdr *hdr, struct span payload, int fd,
    const char *why)
{
	struct smtp_sess *s = arg;
	struct ipc_reader r;
	uint32_t kind = 0;

	smtp_wait_end(s);
	ipc_reader_init(&r, payload);
	if (hdr == NULL || hdr->type != IPC_AUTH_RESOLVED ||
	    ipc_get_u32(&r, &kind) != 0) {
		smtp_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure",
		    pend_addr(s));
		return;
	}
	switch (kind) {
	case IPC_RESOLVE_LOCAL:
		rcpt_accept(s);
		break;
	case IPC_RESOLVE_UNKNOWN:
		smtp_reply_err(s, 550, "5.1.1", "<%s>: Recipient address "
		    "rejected: User unknown", pend_addr(s));
		break;
	default:
		/* Relaying needs an authenticated user, on every port. */
		if (s->user[0] != '\0') {
			rcpt_accept(s);
			break;
		}
		smtp_reply_err(s, 554, "5.7.1", "<%s>: Relay access denied",
		    pend_addr(s));
		break;
	}
}

/* RCPT parameters: RFC 3461 NOTIFY and ORCPT.  0, or -1 after replying. */
static int
rcpt_params(struct smtp_sess *s, const struct smtp_cmd *c)
{
	size_t i;
	int have_notify = 0, have_orcpt = 0;

	s->pend_notify = 0;
	s->pend_orcpt_off = s->pend_orcpt_len = 0;
	for (i = 0; i < c->n_params; i++) {
		const struct smtp_param *p = &c->params[i];

		if (span_eq_ci(p->key, "NOTIFY") && !have_notify++) {
			if (envelope_notify_parse(p->value, &s->pend_notify)) {
				smtp_reply_err(s, 501, "5.5.4", "Bad NOTIFY "
				    "value");
				return -1;
			}
		} else if (span_eq_ci(p->key, "ORCPT") && !have_orcpt++) {
			if (!smtp_orcpt_valid(p->value) || txn_add(s, p->value,
			    &s->pend_orcpt_off) != 0) {
				smtp_reply_err(s, 501, "5.5.4", "Bad ORCPT "
				    "value");
				return -1;
			}
			s->pend_orcpt_len = p->value.n;
		} else {
			smtp_reply_err(s, 555, "5.5.4", "Unsupported parameter "
			    "%.*s", (int)(p->key.n > 32 ? 32 : p->key.n),
			    (const char *)p->key.p);
			return -1;
		}
	}
	return 0;
}

void
smtp_cmd_rcpt(struct smtp_sess *s, const struct smtp_cmd *c)
{
	struct addr_parts ap;
	struct ipc_msg m;
	uint64_t id;
	char pm[300];
	struct span path = c->path;

	if (s->state != SMTP_S_MAIL && s->state != SMTP_S_RCPT) {
		smtp_reply_err(s, 503, "5.5.1", s->state == SMTP_S_HELO ?
		    "Send EHLO or HELO first" : "Need MAIL before RCPT");
		return;
	}
	if (s->n_rcpts >= s->d->cfg->smtpd.max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later */
		smtp_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	/* RFC 5321 4.1.1.3: a bare <Postmaster> is ours: postmaster of
	 * the mail domain this server names itself after (the host name
	 * without its first label: mail.example.org -> example.org). */
	if (span_eq_ci(c->path, "postmaster")) {
		const char *h = s->d->cfg->hostname, *dot = strchr(h, '.');

		snprintf(pm, sizeof(pm), "postmaster@%s",
		    dot != NULL && strchr(dot + 1, '.') != NULL ? dot + 1 : h);
		path = span_cstr(pm);
	} else if (addr_parse(c->path, &ap, NULL) != 0) {
		smtp_reply_err(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if (c->path_8bit && !s->smtputf8) {
		smtp_reply_err(s, 553, "5.6.7", "Non-ASCII address needs "
		    "SMTPUTF8");
		return;
	}
	if (rcpt_params(s, c) != 0)
		return;
	if (txn_add(s, path, &s->pend_addr_off) != 0) {
		smtp_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	s->pend_addr_len = path.n;
	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 0);
	if (ipc_put_str(&m, path) != 0 || ipc_msg_finish(&m) != 0 ||
	    ipcc_request(s->d->authd, &m, rcpt_cb, s, &id) != 0) {
		ipc_msg_fini(&m);
		smtp_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure",
		    pend_addr(s));
		return;
	}
	ipc_msg_fini(&m);
	smtp_wait_begin(s, SMTP_W_RCPT, id);
}
