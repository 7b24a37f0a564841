/* SMTP session commands that do not carry mail: EHLO HELO RSET NOOP QUIT VRFY EXPN HELP STARTTLS. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "common/cio.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "smtpd/smtpd.h"

/* EHLO's argument: a domain or an address literal (RFC 5321 4.1.1.1).
 * Real clients send Windows host names with '_' in them; we accept any
 * printable word, and the Received: header shows it escaped. */
static int
helo_ok(struct span a)
{
	size_t i;

	if (a.n == 0 || a.n > 255)
		return 0;
	for (i = 0; i < a.n; i++)
		if (a.p[i] <= ' ' || a.p[i] == 0x7f)
			return 0;
	return 1;
}

void
smtp_cmd_ehlo(struct smtp_sess *s, const struct smtp_cmd *c)
{
	const struct cfg *cfg = s->d->cfg;
	int tls, auth;

	if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT) {
		smtp_reply_err(s, 503, "5.5.1", "Bad sequence of commands");
		return;
	}
	if (!helo_ok(c->arg)) {
		smtp_reply_err(s, 501, "5.5.4", "Invalid %s argument",
		    smtp_verb_name(c->verb));
		return;
	}
	smtp_auth_fetch_mechs(s->d);
	/* RFC 5321 4.1.4: EHLO in a session clears any transaction. */
	smtp_txn_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%.*s", (int)c->arg.n,
	    (const char *)c->arg.p);
	s->esmtp = c->verb == SMTP_EHLO;
	smtp_set_state(s, SMTP_S_READY);
	if (!s->esmtp) {
		smtp_reply(s, 250, NULL, "%s", cfg->hostname);
		return;
	}
	/* Exactly these keywords; the last line is "250 ", not "250-". */
	tls = smtp_tls_offered(s);
	auth = smtp_auth_offered(s);
	if (cio_printf(s->io, "250-%s Hello %s [%s]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-CHUNKING\r\n"
	    "250%sDSN\r\n"
	    "%s%s%s%s",
	    cfg->hostname, s->helo, s->ip,
	    (unsigned long long)cfg->smtpd.max_message_size,
	    tls || auth ? "-" : " ",
	    tls ? (auth ? "250-STARTTLS\r\n" : "250 STARTTLS\r\n") : "",
	    auth ? "250 AUTH " : "", auth ? s->d->mechs.list : "",
	    auth ? "\r\n" : "") != 0)
		cio_abort(s->io, "output full");
}

void
smtp_cmd_rset(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_txn_reset(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void
smtp_cmd_noop(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void
smtp_cmd_quit(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply(s, 221, "2.0.0", "%s Bye", s->d->cfg->hostname);
	smtp_close(s, "quit");
}

/* RFC 5321 3.5.3 and 7.3: we never tell who exists. */
void
smtp_cmd_vrfy(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

void
smtp_cmd_expn(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply(s, 502, "5.5.1", "EXPN not available");
}

void
smtp_cmd_help(struct smtp_sess *s, const struct smtp_cmd *c)
{
	smtp_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP STARTTLS AUTH; see RFC 5321");
}

void
smtp_cmd_starttls(struct smtp_sess *s, const struct smtp_cmd *c)
{
	size_t dropped = 0;

	if (cio_tls_active(s->io)) {
		smtp_reply_err(s, 503, "5.5.1", "TLS already active");
		return;
	}
	if (!smtp_tls_offered(s)) {
		smtp_reply_err(s, 502, "5.5.1", "STARTTLS not available");
		return;
	}
	if (s->state != SMTP_S_READY && s->state != SMTP_S_HELO) {
		smtp_reply_err(s, 503, "5.5.1", "STARTTLS not allowed in a "
		    "mail transaction");
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* SECURITY: cio drops whatever the client pipelined after
	 * STARTTLS (CVE-2011-0411), and RFC 3207 4.2 makes us forget all
	 * we learnt before: the client must say EHLO again. */
	if (cio_starttls(s->io, tlsw_ctx(s->d->tls), &dropped) != 0) {
		smtp_close(s, "starttls failed");
		return;
	}
	if (dropped)
		log_notice("conn=%s event=starttls-injection dropped=%zu",
		    s->id, dropped);
	smtp_txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_set_state(s, SMTP_S_HELO);
}
