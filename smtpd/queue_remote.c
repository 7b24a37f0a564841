/* queued's SMTP client: connect address by address, EHLO, MAIL, RCPT..., DATA with dot-stuffing, QUIT. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "common/cio.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/xmem.h"
#include "smtpd/queue_lmtp.h"

#define QUEUE_REMOTE_CHUNK (64u * 1024u)
#define QUEUE_REMOTE_OUT_LOW (256u * 1024u)

/* ---- EHLO keywords (pure) ---- */

/* One extension line: keyword [SP params]. */
static void
queue_remote_ehlo_kw(const uint8_t *p, size_t n, struct queue_remote_ext *x)
{
	size_t k = 0;
	uint64_t v = 0;
	const uint8_t *a;
	size_t an, i;

	while (k < n && p[k] != ' ')
		k++;
	a = p + k + (k < n);
	an = n - k - (k < n);
#define KW(s) (k == sizeof(s) - 1 && strncasecmp((const char *)p, s, k) == 0)
	if (KW("PIPELINING"))
		x->pipelining = 1;
	else if (KW("STARTTLS"))
		x->starttls = 1;
	else if (KW("CHUNKING"))
		x->chunking = 1;
	else if (KW("DSN"))
		x->dsn = 1;
	else if (KW("8BITMIME"))
		x->eightbit = 1;
	else if (KW("SMTPUTF8"))
		x->smtputf8 = 1;
	else if (KW("SIZE")) {
		x->size = 1;
		for (i = 0; i < an && a[i] >= '0' && a[i] <= '9'; i++)
			if (v < UINT64_MAX / 10 - 9)
				v = v * 10 + (uint64_t)(a[i] - '0');
		x->size_max = v;
	} else if (KW("AUTH")) {
		/* "AUTH PLAIN LOGIN": mechanisms separated by spaces */
		for (i = 0; i < an;) {
			size_t j = i;

			while (j < an && a[j] != ' ')
				j++;
			if (j - i == 5 && strncasecmp((const char *)a + i,
			    "PLAIN", 5) == 0)
				x->auth_plain = 1;
			if (j - i == 5 && strncasecmp((const char *)a + i,
			    "LOGIN", 5) == 0)
				x->auth_login = 1;
			i = j + 1;
		}
	}
#undef KW
}

int
queue_remote_ehlo_parse(struct span in, struct queue_remote_ext *out)
{
	size_t i = 0, e, n;
	int line = 0;

	memset(out, 0, sizeof(*out));
	while (i < in.n) {
		for (e = i; e < in.n && in.p[e] != '\n'; e++)
			;
		n = e - i;
		if (n > 0 && in.p[i + n - 1] == '\r')
			n--;
		if (n < 3 || memcmp(in.p + i, "250", 3) != 0 ||
		    (n > 3 && in.p[i + 3] != ' ' && in.p[i + 3] != '-'))
			return -1;
		if (line++ > 0 && n > 4)
			queue_remote_ehlo_kw(in.p + i + 4, n - 4, out);
		i = e + 1;
	}
	if (line == 0)
		return -1;
	out->esmtp = 1;
	return 0;
}

/* ---- parameters (pure) ---- */

static int
queue_remote_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

void
queue_remote_mail_params(const struct queue_remote_txn *t,
    const struct queue_remote_ext *x, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
#define ADD(...) do { \
	int r_ = snprintf(out + len, outsz - len, __VA_ARGS__); \
	if (r_ > 0 && (size_t)r_ < outsz - len) len += (size_t)r_; \
} while (0)
	if (x->size)
		ADD(" SIZE=%llu", (unsigned long long)(t->end - t->off +
		    t->prefix_len));
	if (t->body_8bit && x->eightbit)
		ADD(" BODY=8BITMIME");
	if (t->smtputf8 && x->smtputf8)
		ADD(" SMTPUTF8");
	if (x->dsn && t->ret == ENV_RET_FULL)
		ADD(" RET=FULL");
	else if (x->dsn && t->ret == ENV_RET_HDRS)
		ADD(" RET=HDRS");
	if (x->dsn && t->envid != NULL && t->envid[0])
		ADD(" ENVID=%s", t->envid);
}

void
queue_remote_rcpt_params(const struct queue_remote_txn *t,
    const struct queue_remote_ext *x, size_t i, char *out, size_t outsz)
{
	size_t len = 0;
	unsigned n = t->notify != NULL ? t->notify[i] : 0;

	out[0] = '\0';
	if (!x->dsn)
		return;
	if (n & ENV_NOTIFY_NEVER)
		ADD(" NOTIFY=NEVER");
	else if (n != 0)
		ADD(" NOTIFY=%s%s%s%s%s",
		    n & ENV_NOTIFY_SUCCESS ? "SUCCESS" : "",
		    (n & ENV_NOTIFY_SUCCESS) && (n & (ENV_NOTIFY_FAILURE |
		    ENV_NOTIFY_DELAY)) ? "," : "",
		    n & ENV_NOTIFY_FAILURE ? "FAILURE" : "",
		    (n & ENV_NOTIFY_FAILURE) && (n & ENV_NOTIFY_DELAY) ? "," :
		    "", n & ENV_NOTIFY_DELAY ? "DELAY" : "");
	if (t->orcpt != NULL && t->orcpt[i] != NULL && t->orcpt[i][0])
		ADD(" ORCPT=%s", t->orcpt[i]);
#undef ADD
}

/* ---- the session ---- */

enum queue_remote_st {
	QR_CONNECT, QR_GREETING, QR_EHLO, QR_HELO, QR_STARTTLS, QR_TLS,
	QR_AUTH, QR_AUTH_USER, QR_AUTH_PASS, QR_MAIL, QR_RCPT,
	QR_DATA, QR_BODY, QR_DOT, QR_DOT_EMPTY, QR_QUIT, QR_DONE,
};

struct queue_remote {
	struct queue_remote *next, *prev;	/* in set */
	struct queue_remote_set *set;
	int reported;
	struct ev_loop *loop;
	struct queue_remote_txn *txn;
	queue_remote_done_fn *done;
	void *arg;
	struct cio *io;
	int cfd;			/* connecting socket, -1 when none */
	size_t ai;			/* address being tried */
	ev_io cw;
	ev_timer ct;			/* connect timeout */
	ev_timer later;			/* report from the loop */
	const char *later_why;
	struct lmtp_reply_parser ps;
	enum queue_remote_st st;
	struct buf ehlo;		/* the raw EHLO reply */
	size_t rcpt_i, accepted;
	int mail_ok;			/* MAIL FROM was accepted (pipelined:
					 * the replies that follow are read
					 * either way) */
	unsigned ntxn;			/* transactions on this connection */
	int *ok;
	uint64_t pos;
	struct queue_dot dot;
	struct buf chunk;
};

static void
queue_remote_fake(struct lmtp_reply *r, int code, const char *enh,
    const char *text)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", text);
	r->lines = 1;
}

static void
queue_remote_fail_rest(struct queue_remote *l, const struct lmtp_reply *r)
{
	struct queue_remote_txn *t = l->txn;
	size_t i;

	for (i = 0; i < t->n_rcpts; i++)
		if (t->replies[i].code == 0)
			t->replies[i] = *r;
}

static void
queue_remote_close_connect(struct queue_remote *l)
{
	ev_io_stop(l->loop, &l->cw);
	ev_timer_stop(l->loop, &l->ct);
	if (l->cfd >= 0)
		close(l->cfd);
	l->cfd = -1;
}

static void
queue_remote_free(struct queue_remote *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		l->set->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	queue_remote_close_connect(l);
	cio_free(&l->io);
	ev_timer_stop(l->loop, &l->later);
	buf_fini(&l->chunk);
	buf_fini(&l->ehlo);
	free(l->ok);
	free(l);
}

static void
queue_remote_report(struct queue_remote *l, const char *why)
{
	struct lmtp_reply r;

	if (l->reported)
		return;
	queue_remote_fake(&r, 421, "4.4.2", why != NULL ? why :
	    "smtp: no reply");
	queue_remote_fail_rest(l, &r);
	l->reported = 1;
	l->done(l->arg, l->txn);
}

static void
queue_remote_finish(struct queue_remote *l, const char *why)
{
	queue_remote_report(l, why);
	l->st = QR_DONE;
	queue_remote_free(l);
}

static int
queue_remote_quit(struct queue_remote *l)
{
	l->st = QR_QUIT;
	if (cio_printf(l->io, "QUIT\r\n") < 0)
		return -1;
	queue_remote_report(l, NULL);
	return 0;
}

/* Every recipient gets r and the session ends politely. */
static int
queue_remote_refuse_all(struct queue_remote *l, int code, const char *enh,
    const char *text)
{
	struct lmtp_reply r;

	queue_remote_fake(&r, code, enh, text);
	queue_remote_fail_rest(l, &r);
	return queue_remote_quit(l);
}

static int
queue_remote_mail(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	char params[1200];
	size_t i;
	int utf8 = t->smtputf8 || queue_remote_8bit(t->from);

	t->reached = 1;		/* the server is there and talks */
	for (i = 0; i < t->n_rcpts; i++)
		utf8 |= queue_remote_8bit(t->rcpts[i]);
	/* RFC 6152 3: a server without 8BITMIME may get the message
	 * converted or returned as undeliverable; we do not convert
	 * (XXX: no 8bit-to-quoted-printable conversion yet) */
	if (t->body_8bit && !t->ext.eightbit)
		return queue_remote_refuse_all(l, 554, "5.6.3", "the remote "
		    "server does not accept 8bit messages (no 8BITMIME)");
	/* RFC 6531 3.4: the same for internationalized addresses */
	if (utf8 && !t->ext.smtputf8)
		return queue_remote_refuse_all(l, 553, "5.6.7", "the remote "
		    "server does not accept SMTPUTF8 messages");
	if (t->ext.size && t->ext.size_max > 0 &&
	    t->end - t->off + t->prefix_len > t->ext.size_max)
		/* RFC 1870 6 */
		return queue_remote_refuse_all(l, 552, "5.3.4", "the message "
		    "is larger than the remote server's SIZE limit");
	{
		struct queue_remote_txn tu = *t;

		tu.smtputf8 = utf8;
		queue_remote_mail_params(&tu, &t->ext, params, sizeof(params));
	}
	t->pipelined = t->ext.pipelining;
	t->chunked = t->ext.chunking;
	l->st = QR_MAIL;
	l->mail_ok = 1;
	l->rcpt_i = 0;
	l->accepted = 0;
	if (cio_printf(l->io, "MAIL FROM:<%s>%s\r\n", t->from, params) < 0)
		return -1;
	if (!t->pipelined)
		return 0;
	/* RFC 2920 3.1: MAIL and every RCPT in one group, DATA last (it
	 * changes state); BDAT waits for the RCPT replies, so a message
	 * nobody takes is never sent */
	for (i = 0; i < t->n_rcpts; i++) {
		queue_remote_rcpt_params(t, &t->ext, i, params,
		    sizeof(params));
		if (cio_printf(l->io, "RCPT TO:<%s>%s\r\n", t->rcpts[i],
		    params) < 0)
			return -1;
	}
	if (!t->chunked && cio_printf(l->io, "DATA\r\n") < 0)
		return -1;
	return 0;
}

/* The prefix, dot-stuffed for DATA, raw for BDAT. */
static int
queue_remote_prefix(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;

	if (t->prefix_len == 0)
		return 0;
	if (t->chunked)
		return cio_write(l->io, t->prefix, t->prefix_len);
	buf_reset(&l->chunk);
	if (queue_dot_add(&l->dot, span_make(t->prefix, t->prefix_len),
	    &l->chunk) < 0)
		return -1;
	return cio_write(l->io, l->chunk.data, l->chunk.len);
}

/* RFC 3030 2: the whole message as one chunk, no dot-stuffing. */
static int queue_remote_pump(struct queue_remote *l);

static int
queue_remote_bdat(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;

	l->st = QR_BODY;
	l->pos = t->off;
	if (cio_printf(l->io, "BDAT %llu LAST\r\n", (unsigned long long)(
	    t->end - t->off + t->prefix_len)) < 0 ||
	    queue_remote_prefix(l) < 0)
		return -1;
	return queue_remote_pump(l);
}

static int
queue_remote_pump(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	size_t want;
	ssize_t n;
	uint8_t *p;

	while (cio_out_pending(l->io) < QUEUE_REMOTE_OUT_LOW) {
		buf_reset(&l->chunk);
		if (l->pos >= t->end) {
			if (!t->chunked && (queue_dot_end(&l->dot,
			    &l->chunk) < 0 || cio_write(l->io, l->chunk.data,
			    l->chunk.len) < 0))
				return -1;
			t->data_sent = 1;
			l->st = QR_DOT;
			return 0;
		}
		want = t->end - l->pos > QUEUE_REMOTE_CHUNK ?
		    QUEUE_REMOTE_CHUNK : (size_t)(t->end - l->pos);
		p = xmalloc(want);
		do
			n = pread(t->fd, p, want, (off_t)l->pos);
		while (n < 0 && errno == EINTR);
		if (n <= 0 || (!t->chunked && queue_dot_add(&l->dot,
		    span_make(p, (size_t)n), &l->chunk) < 0)) {
			free(p);
			return -1;
		}
		l->pos += (uint64_t)n;
		if (t->chunked)
			n = cio_write(l->io, p, (size_t)n);
		else
			n = cio_write(l->io, l->chunk.data, l->chunk.len);
		free(p);
		if (n < 0)
			return -1;
	}
	return 0;
}

static int
queue_remote_next_rcpt(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	char params[1200];

	if (l->rcpt_i < t->n_rcpts) {
		l->st = QR_RCPT;
		queue_remote_rcpt_params(t, &t->ext, l->rcpt_i, params,
		    sizeof(params));
		return cio_printf(l->io, "RCPT TO:<%s>%s\r\n",
		    t->rcpts[l->rcpt_i], params);
	}
	if (l->accepted == 0)
		return queue_remote_quit(l);
	if (t->chunked)
		return queue_remote_bdat(l);
	l->st = QR_DATA;
	return cio_printf(l->io, "DATA\r\n");
}

/* The message got its reply: run the next one for the destination on
 * this connection, or say QUIT. */
static int
queue_remote_txn_end(struct queue_remote *l, const struct lmtp_reply *r)
{
	struct queue_remote_txn *t = l->txn, *nt = NULL;
	struct queue_remote_ext ext = t->ext;
	queue_remote_done_fn *done = NULL;
	void *arg = NULL;
	char peer[sizeof(t->peer)];
	int tls = t->tls_done;

	if (r->code != 421 && l->set->more != NULL &&
	    l->ntxn < QUEUE_REMOTE_REUSE_MAX)
		nt = l->set->more(l->set->more_arg, l, t, &done, &arg);
	if (nt == NULL)
		return queue_remote_quit(l);
	memcpy(peer, t->peer, sizeof(peer));
	queue_remote_report(l, NULL);	/* t may be gone after this */
	l->txn = nt;
	l->done = done;
	l->arg = arg;
	l->reported = 0;
	memset(nt->replies, 0, nt->n_rcpts * sizeof(*nt->replies));
	nt->ext = ext;
	memcpy(nt->peer, peer, sizeof(nt->peer));
	nt->tls_done = tls;
	nt->data_sent = nt->reached = nt->pipelined = nt->chunked = 0;
	nt->why[0] = '\0';
	nt->nth = ++l->ntxn;
	free(l->ok);
	l->ok = xcalloc(nt->n_rcpts ? nt->n_rcpts : 1, sizeof(*l->ok));
	/* RFC 5321 4.1.1.4: the end of data cleared the state: MAIL may
	 * follow at once */
	return queue_remote_mail(l);
}

static void queue_remote_try(struct queue_remote *l);

/* Send base64(p, n) after prefix, then CRLF. */
static int
queue_remote_b64(struct queue_remote *l, const char *prefix, const void *p,
    size_t n)
{
	size_t sz = sodium_base64_ENCODED_LEN(n,
	    sodium_base64_VARIANT_ORIGINAL);
	char *b = xmalloc(sz);
	int rc;

	sodium_bin2base64(b, sz, p, n, sodium_base64_VARIANT_ORIGINAL);
	rc = cio_printf(l->io, "%s%s\r\n", prefix, b);
	sodium_memzero(b, sz);
	free(b);
	return rc;
}

/* RFC 4954: PLAIN when offered, else LOGIN; never in clear text. */
static int
queue_remote_auth(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	size_t ul = strlen(t->auth_user), pl = strlen(t->auth_pass);
	char *b;
	int rc;

	if (!cio_tls_active(l->io))
		return queue_remote_refuse_all(l, 454, "4.7.0", "smtp: no "
		    "TLS to the relay: credentials are never sent in clear "
		    "text");
	if (t->ext.auth_plain) {
		b = xmalloc(ul + pl + 2);
		b[0] = '\0';
		memcpy(b + 1, t->auth_user, ul);
		b[ul + 1] = '\0';
		memcpy(b + ul + 2, t->auth_pass, pl);
		l->st = QR_AUTH;
		rc = queue_remote_b64(l, "AUTH PLAIN ", b, ul + pl + 2);
		sodium_memzero(b, ul + pl + 2);
		free(b);
		return rc;
	}
	if (t->ext.auth_login) {
		l->st = QR_AUTH_USER;
		return cio_printf(l->io, "AUTH LOGIN\r\n");
	}
	return queue_remote_refuse_all(l, 454, "4.7.0", "smtp: the relay "
	    "offers neither AUTH PLAIN nor AUTH LOGIN");
}

static int
queue_remote_tls_must(const struct queue_remote_txn *t)
{
	return t->tls == QUEUE_TLS_REQUIRE || t->tls == QUEUE_TLS_VERIFY;
}

/* After EHLO (or HELO): STARTTLS when wanted and offered, else MAIL. */
static int
queue_remote_after_ehlo(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;

	if (cio_tls_active(l->io) || t->tls == QUEUE_TLS_NONE ||
	    t->tls_ctx == NULL ||
	    (t->tls == QUEUE_TLS_VERIFY && t->tls_vctx == NULL)) {
		if (queue_remote_tls_must(t) && !cio_tls_active(l->io))
			return queue_remote_refuse_all(l, 421, "4.7.0",
			    "smtp: TLS is required and not available here");
		if (t->auth_user != NULL)
			return queue_remote_auth(l);
		return queue_remote_mail(l);
	}
	if (!t->ext.starttls) {
		if (queue_remote_tls_must(t))
			return queue_remote_refuse_all(l, 421, "4.7.0",
			    "smtp: TLS is required and the server does not "
			    "offer STARTTLS");
		if (t->auth_user != NULL)
			return queue_remote_auth(l);
		return queue_remote_mail(l);
	}
	l->st = QR_STARTTLS;
	return cio_printf(l->io, "STARTTLS\r\n");
}

/* SNI and, for QUEUE_TLS_VERIFY, the name the certificate must show
 * (RFC 6125 6: the MX host's name as DNS gave it, or the smarthost's as
 * configured; an address literal is checked as an IP address).  -1 with
 * t->why when verify has nothing to check against. */
static int
queue_remote_tls_name(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	SSL *ssl = cio_ssl(l->io);
	const char *name = t->addr_names != NULL ? t->addr_names[l->ai] :
	    NULL;
	unsigned char ip[16];
	int is_ip;

	if (name == NULL || name[0] == '\0') {
		if (t->tls != QUEUE_TLS_VERIFY)
			return 0;
		snprintf(t->why, sizeof(t->why), "smtp: TLS verify policy "
		    "and no host name to check the certificate against");
		return -1;
	}
	is_ip = inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1;
	/* RFC 6066 3: no IP address literals in SNI */
	if (!is_ip)
		(void)SSL_set_tlsext_host_name(ssl, name);
	if (t->tls != QUEUE_TLS_VERIFY)
		return 0;
	if (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    name) : !SSL_set1_host(ssl, name)) {
		snprintf(t->why, sizeof(t->why), "smtp: cannot set the name "
		    "to verify");
		return -1;
	}
	return 0;
}

/* One whole reply.  -1 ends the session, 1: freed, 2: moved on to the
 * next address. */
static int
queue_remote_reply(struct queue_remote *l, const struct lmtp_reply *r)
{
	struct queue_remote_txn *t = l->txn;
	size_t i;

	switch (l->st) {
	case QR_GREETING:
		if (r->code != 220) {
			/* RFC 5321 3.1, 5.1: try the next address */
			log_info("event=smtp-greeting-refused peer=%s code=%d",
			    t->peer, r->code);
			cio_free(&l->io);
			l->ai++;
			queue_remote_try(l);
			return 2;
		}
		l->st = QR_EHLO;
		buf_reset(&l->ehlo);
		return cio_printf(l->io, "EHLO %s\r\n", t->helo);
	case QR_EHLO:
		if (lmtp_reply_class(r) == 5) {
			/* RFC 5321 3.2: an old server: HELO */
			l->st = QR_HELO;
			memset(&t->ext, 0, sizeof(t->ext));
			return cio_printf(l->io, "HELO %s\r\n", t->helo);
		}
		if (r->code != 250 || queue_remote_ehlo_parse(
		    buf_view(&l->ehlo), &t->ext) < 0)
			break;
		return queue_remote_after_ehlo(l);
	case QR_HELO:
		if (r->code != 250)
			break;
		return queue_remote_after_ehlo(l);
	case QR_STARTTLS:
		if (r->code == 220) {
			size_t dropped;

			/* RFC 3207 4.2: whatever came after the 220 in
			 * clear text is dropped; EHLO again once the
			 * handshake is done */
			if (cio_starttls_client(l->io, t->tls == QUEUE_TLS_VERIFY ?
			    t->tls_vctx : t->tls_ctx, &dropped) < 0)
				return -1;
			if (queue_remote_tls_name(l) < 0)
				return queue_remote_refuse_all(l, 421, "4.7.5",
				    t->why);
			l->st = QR_TLS;
			return 3;
		}
		if (queue_remote_tls_must(t))
			return queue_remote_refuse_all(l, 421, "4.7.0",
			    "smtp: STARTTLS refused and TLS is required");
		/* RFC 3207 4.1: go on in clear text */
		if (t->auth_user != NULL)
			return queue_remote_auth(l);
		return queue_remote_mail(l);
	case QR_AUTH_USER:
	case QR_AUTH_PASS:
		if (r->code == 334) {
			const char *v = l->st == QR_AUTH_USER ? t->auth_user :
			    t->auth_pass;

			l->st = l->st == QR_AUTH_USER ? QR_AUTH_PASS : QR_AUTH;
			return queue_remote_b64(l, "", v, strlen(v));
		}
		/* FALLTHROUGH */
	case QR_AUTH:
		if (r->code == 235)
			return queue_remote_mail(l);
		{
			char text[LMTP_REPLY_TEXT_MAX];

			/* a refused login is our configuration's fault:
			 * keep the mail (4.7.0), never bounce it */
			snprintf(text, sizeof(text), "smtp: the relay refused "
			    "AUTH: %d %.400s", r->code, r->text);
			return queue_remote_refuse_all(l, 454, "4.7.0", text);
		}
	case QR_MAIL:
		if (r->code == 421)
			t->reached = 0;	/* a server going away */
		if (lmtp_reply_class(r) != 2) {
			queue_remote_fail_rest(l, r);
			if (!t->pipelined)
				return queue_remote_quit(l);
			/* RFC 2920 3.1: read the rest of the group's
			 * replies (each RCPT and DATA fail now) */
			l->mail_ok = 0;
		}
		l->rcpt_i = 0;
		if (!t->pipelined)
			return queue_remote_next_rcpt(l);
		l->st = QR_RCPT;
		return 0;
	case QR_RCPT:
		if (!l->mail_ok) {
			/* MAIL's refusal stands for every rcpt */
		} else if (lmtp_reply_class(r) == 2) {
			l->ok[l->rcpt_i] = 1;
			l->accepted++;
		} else {
			t->replies[l->rcpt_i] = *r;
		}
		l->rcpt_i++;
		if (!t->pipelined)
			return queue_remote_next_rcpt(l);
		if (l->rcpt_i < t->n_rcpts)
			return 0;
		if (!l->mail_ok || l->accepted == 0) {
			if (t->chunked)
				return queue_remote_quit(l);
			l->st = QR_DATA;	/* its reply is on the way */
			return 0;
		}
		if (t->chunked)
			return queue_remote_bdat(l);
		l->st = QR_DATA;
		return 0;
	case QR_DATA:
		if (r->code != 354) {
			queue_remote_fail_rest(l, r);
			return queue_remote_quit(l);
		}
		if (!l->mail_ok || l->accepted == 0) {
			/* RFC 2920 3.1: DATA accepted with nobody to
			 * deliver to: a single dot, and nothing is sent */
			l->st = QR_DOT_EMPTY;
			return cio_printf(l->io, ".\r\n");
		}
		l->st = QR_BODY;
		l->pos = t->off;
		queue_dot_init(&l->dot);
		if (queue_remote_prefix(l) < 0)
			return -1;
		return queue_remote_pump(l);
	case QR_DOT_EMPTY:
		return queue_remote_quit(l);
	case QR_DOT:
		/* RFC 5321 4.1.1.4: one reply for every accepted rcpt
		 * (RFC 3030 2: the same for BDAT LAST) */
		for (i = 0; i < t->n_rcpts; i++)
			if (l->ok[i] && t->replies[i].code == 0)
				t->replies[i] = *r;
		return queue_remote_txn_end(l, r);
	case QR_QUIT:
		queue_remote_finish(l, NULL);
		return 1;
	default:
		break;
	}
	return -1;
}

static void
queue_remote_io_cb(struct cio *c, struct cio_ev *ev, void *arg)
{
	struct queue_remote *l = arg;
	struct lmtp_reply r;
	size_t used, start;
	enum parse_rc rc;
	int x;

	switch (ev->type) {
	case CIO_DATA:
		ev->used = 0;
		for (;;) {
			start = ev->used;
			rc = lmtp_reply_feed(&l->ps, span_make(ev->data.p +
			    start, ev->data.n - start), &used, &r);
			if (rc == PARSE_FATAL) {
				queue_remote_finish(l, "smtp: malformed reply");
				return;
			}
			if (l->st == QR_EHLO && buf_add(&l->ehlo,
			    ev->data.p + start, used) < 0) {
				queue_remote_finish(l, "smtp: EHLO too long");
				return;
			}
			ev->used += used;
			if (rc == PARSE_MORE)
				return;
			if ((x = queue_remote_reply(l, &r)) == 1)
				return;
			if (x == 2)
				return;		/* that cio is gone */
			if (x == 3)
				return;		/* the rest was dropped */
			if (x < 0) {
				queue_remote_finish(l, "smtp: unexpected reply");
				return;
			}
		}
	case CIO_TLS_READY:
		if (l->st != QR_TLS) {
			queue_remote_finish(l, "smtp: unexpected event");
			return;
		}
		l->txn->tls_done = 1;
		log_info("event=smtp-tls peer=%s version=%s cipher=%s",
		    l->txn->peer, cio_tls_version(c), cio_tls_cipher(c));
		l->st = QR_EHLO;
		buf_reset(&l->ehlo);
		lmtp_reply_init(&l->ps);
		if (cio_printf(l->io, "EHLO %s\r\n", l->txn->helo) < 0)
			queue_remote_finish(l, "smtp: cannot send");
		return;
	case CIO_DRAINED:
		if (l->st == QR_BODY && queue_remote_pump(l) < 0)
			queue_remote_finish(l, "smtp: cannot send the message");
		return;
	case CIO_TIMEOUT:
		queue_remote_finish(l, "smtp: timeout");
		return;
	case CIO_CLOSED:
		if (l->st == QR_GREETING) {
			cio_free(&l->io);
			l->ai++;
			queue_remote_try(l);
			return;
		}
		if (l->st == QR_TLS && l->txn->tls == QUEUE_TLS_VERIFY &&
		    cio_ssl(c) != NULL && SSL_get_verify_result(cio_ssl(c)) !=
		    X509_V_OK) {
			struct lmtp_reply vr;

			/* RFC 3463 4.7.5: defer, the admin may fix trust */
			snprintf(l->txn->why, sizeof(l->txn->why), "smtp: TLS "
			    "certificate of %s not verified: %s", l->txn->peer,
			    X509_verify_cert_error_string(
			    SSL_get_verify_result(cio_ssl(c))));
			queue_remote_fake(&vr, 421, "4.7.5", l->txn->why);
			queue_remote_fail_rest(l, &vr);
			queue_remote_finish(l, NULL);
			return;
		}
		queue_remote_finish(l, l->st == QR_QUIT ? NULL :
		    l->st == QR_TLS ? "smtp: TLS handshake failed" :
		    "smtp: connection lost");
		return;
	default:
		queue_remote_finish(l, "smtp: unexpected event");
		return;
	}
}

static void
queue_remote_later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_remote *l = w->data;

	(void)loop;
	(void)revents;
	queue_remote_finish(l, l->later_why);
}

static void
queue_remote_connected(struct queue_remote *l)
{
	struct cio_opts o;
	int fd = l->cfd;

	ev_io_stop(l->loop, &l->cw);
	ev_timer_stop(l->loop, &l->ct);
	l->cfd = -1;
	memset(&o, 0, sizeof(o));
	o.idle_s = l->txn->timeout_s;
	o.in_max = 4 * LMTP_REPLY_LINE_MAX;
	o.line_max = LMTP_REPLY_LINE_MAX;
	lmtp_reply_init(&l->ps);
	l->io = cio_new(l->loop, fd, &o, queue_remote_io_cb, l);
	cio_set_raw(l->io, 1);
	l->st = QR_GREETING;
}

static void
queue_remote_cw_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct queue_remote *l = w->data;
	int err = 0;
	socklen_t el = sizeof(err);

	(void)loop;
	(void)revents;
	if (getsockopt(l->cfd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err == 0) {
		queue_remote_connected(l);
		return;
	}
	log_info("event=smtp-connect-failed peer=%s errno=%d", l->txn->peer,
	    err);
	queue_remote_close_connect(l);
	l->ai++;
	queue_remote_try(l);
}

static void
queue_remote_ct_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_remote *l = w->data;

	(void)loop;
	(void)revents;
	log_info("event=smtp-connect-timeout peer=%s", l->txn->peer);
	queue_remote_close_connect(l);
	l->ai++;
	queue_remote_try(l);
}

static void
queue_remote_peer_name(const struct sockaddr_storage *ss, char *out,
    size_t outsz)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, outsz, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, outsz, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outsz, "?");
	}
}

/* Start on address l->ai or the ones after it; when none is left, every
 * recipient is deferred. */
static void
queue_remote_try(struct queue_remote *l)
{
	struct queue_remote_txn *t = l->txn;
	int fd;

	l->st = QR_CONNECT;
	for (; l->ai < t->n_addrs; l->ai++) {
		queue_remote_peer_name(&t->addrs[l->ai], t->peer,
		    sizeof(t->peer));
		fd = socket(t->addrs[l->ai].ss_family, SOCK_STREAM |
		    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		l->cfd = fd;
		if (connect(fd, (const struct sockaddr *)&t->addrs[l->ai],
		    t->addr_lens[l->ai]) == 0 || errno == EINPROGRESS) {
			ev_io_set(&l->cw, fd, EV_WRITE);
			ev_io_start(l->loop, &l->cw);
			ev_timer_set(&l->ct, t->connect_s > 0 ? t->connect_s :
			    300., 0.);
			ev_timer_start(l->loop, &l->ct);
			return;
		}
		log_info("event=smtp-connect-failed peer=%s errno=%d",
		    t->peer, errno);
		queue_remote_close_connect(l);
	}
	t->peer[0] = '\0';
	l->later_why = "smtp: no address of the destination accepted a "
	    "connection";
	ev_timer_set(&l->later, 0., 0.);
	ev_timer_start(l->loop, &l->later);
}

struct queue_remote *
queue_remote_start(struct ev_loop *loop, struct queue_remote_set *set,
    struct queue_remote_txn *txn, queue_remote_done_fn *done, void *arg)
{
	struct queue_remote *l = xcalloc(1, sizeof(*l));

	l->set = set;
	l->next = set->head;
	if (set->head != NULL)
		set->head->prev = l;
	set->head = l;
	l->loop = loop;
	l->txn = txn;
	l->done = done;
	l->arg = arg;
	l->cfd = -1;
	l->ok = xcalloc(txn->n_rcpts ? txn->n_rcpts : 1, sizeof(*l->ok));
	memset(txn->replies, 0, txn->n_rcpts * sizeof(*txn->replies));
	memset(&txn->ext, 0, sizeof(txn->ext));
	txn->data_sent = txn->reached = txn->pipelined = txn->chunked = 0;
	txn->tls_done = 0;
	txn->peer[0] = '\0';
	txn->why[0] = '\0';
	txn->nth = l->ntxn = 1;
	buf_init(&l->chunk, 4096, QUEUE_REMOTE_CHUNK * 2 + 8);
	buf_init(&l->ehlo, 512, LMTP_REPLY_LINE_MAX * LMTP_REPLY_LINES_MAX);
	ev_init(&l->cw, queue_remote_cw_cb);
	l->cw.data = l;
	ev_timer_init(&l->ct, queue_remote_ct_cb, 0., 0.);
	l->ct.data = l;
	ev_timer_init(&l->later, queue_remote_later_cb, 0., 0.);
	l->later.data = l;
	queue_remote_try(l);
	return l;
}

void
queue_remote_cancel(struct queue_remote **rp)
{
	if (*rp == NULL)
		return;
	BUG_ON((*rp)->reported);
	queue_remote_free(*rp);
	*rp = NULL;
}

void
queue_remote_set_fini(struct queue_remote_set *set)
{
	while (set->head != NULL)
		queue_remote_free(set->head);
}
