/* One IMAP session: greeting, the command reader over cio, the command table, replies, closing. */
/* SPDX-License-Identifier: ISC */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/cio.h"
#include "common/ipcc.h"
#include "common/log.h"
#include "common/tlsw.h"
#include "common/wpool.h"
#include "common/xmem.h"
#include "imapd/imap_coro.h"
#include "imapd/imapd.h"

/* Bad commands a session may send before it is closed. */
#define IMAP_MAX_ERRORS 50

/* The reader's limits.  Its memory (command text and kept literals) is
 * allocated when a command starts and freed once no command is partly
 * read, so an idle session holds none of it. */
#define IMAP_LINE_MAX (64 * 1024)	/* RFC 7162 4: at least 8192 */
#define IMAP_INLINE_MAX (8 * 1024)
#define IMAP_INLINE_TOTAL (64 * 1024)
/* past this the reader answers BAD [TOOBIG]; below it APPEND's sink
 * answers NO [TOOBIG] above APPENDLIMIT (RFC 7889) */
#define IMAP_LITERAL_MAX (1024ULL * 1024 * 1024)
#define IMAP_ARGS_MAX 2048

#define IN_NOTAUTH 0x1
#define IN_AUTH 0x2
#define IN_SELECTED 0x4
#define IN_ANY (IN_NOTAUTH | IN_AUTH | IN_SELECTED)
#define IN_LOGGED (IN_AUTH | IN_SELECTED)
#define F_UID 0x10		/* has a UID form */
#define F_NOEXP 0x20		/* RFC 9051 7.5.1: no EXPUNGE around it */
#define F_NOUPD 0x40		/* leaves the mailbox: no updates first */

static imap_cmd_fn imap_cmd_compress;

/* The command table.  Handlers check first and act second. */
static const struct {
	const char *name;
	imap_cmd_fn *fn;
	unsigned flags;
} handlers[] = {
	{ "CAPABILITY", imap_cmd_capability, IN_ANY },
	{ "NOOP", imap_cmd_noop, IN_ANY },
	{ "LOGOUT", imap_cmd_logout, IN_ANY | F_NOUPD },
	{ "ID", imap_cmd_id, IN_ANY },
	{ "ENABLE", imap_cmd_enable, IN_LOGGED },
	{ "STARTTLS", imap_cmd_starttls, IN_NOTAUTH },
	{ "LOGIN", imap_cmd_login, IN_NOTAUTH },
	{ "AUTHENTICATE", imap_cmd_authenticate, IN_NOTAUTH },
	{ "LIST", imap_cmd_list, IN_LOGGED },
	{ "LSUB", imap_cmd_lsub, IN_LOGGED },
	{ "NAMESPACE", imap_cmd_namespace, IN_LOGGED },
	{ "CREATE", imap_cmd_create, IN_LOGGED },
	{ "DELETE", imap_cmd_delete, IN_LOGGED },
	{ "RENAME", imap_cmd_rename, IN_LOGGED },
	{ "SUBSCRIBE", imap_cmd_subscribe, IN_LOGGED },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe, IN_LOGGED },
	{ "STATUS", imap_cmd_status, IN_LOGGED },
	{ "APPEND", imap_cmd_append, IN_LOGGED },
	{ "GETQUOTA", imap_cmd_getquota, IN_LOGGED },
	{ "GETQUOTAROOT", imap_cmd_getquotaroot, IN_LOGGED },
	{ "SETQUOTA", imap_cmd_setquota, IN_LOGGED },
	{ "SELECT", imap_cmd_select, IN_LOGGED | F_NOUPD },
	{ "EXAMINE", imap_cmd_examine, IN_LOGGED | F_NOUPD },
	{ "IDLE", imap_cmd_idle, IN_LOGGED },
	{ "COMPRESS", imap_cmd_compress, IN_LOGGED },
	{ "CLOSE", imap_cmd_close, IN_SELECTED | F_NOUPD },
	{ "UNSELECT", imap_cmd_unselect, IN_SELECTED | F_NOUPD },
	{ "CHECK", imap_cmd_check, IN_SELECTED },
	{ "EXPUNGE", imap_cmd_expunge, IN_SELECTED | F_UID },
	{ "FETCH", imap_cmd_fetch, IN_SELECTED | F_UID | F_NOEXP },
	{ "STORE", imap_cmd_store, IN_SELECTED | F_UID | F_NOEXP },
	{ "SEARCH", imap_cmd_search, IN_SELECTED | F_UID | F_NOEXP },
	{ "SORT", imap_cmd_sort, IN_SELECTED | F_UID | F_NOEXP },
	{ "THREAD", imap_cmd_thread, IN_SELECTED | F_UID | F_NOEXP },
	{ "COPY", imap_cmd_copy, IN_SELECTED | F_UID | F_NOEXP },
	{ "MOVE", imap_cmd_move, IN_SELECTED | F_UID | F_NOEXP },
};

static const char *const state_names[] = {
	"not-authenticated", "authenticated", "selected", "logout",
};

static void imap_sess_free(struct imap_sess *s);

void
imap_set_state(struct imap_sess *s, enum imap_state st)
{
	if (s->state != st)
		log_debug("conn=%s state=%s->%s", s->id,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

void
imap_send(struct imap_sess *s, const void *p, size_t n)
{
	if (cio_write(s->io, p, n) != 0)
		cio_abort(s->io, "output full");
}

void
imap_printf(struct imap_sess *s, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	imap_send(s, text, (size_t)n < sizeof(text) ? (size_t)n :
	    sizeof(text) - 1);
}

void
imap_reply(struct imap_sess *s, const char *status, const char *fmt, ...)
{
	char text[512], esc[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	imap_printf(s, "%s %s %s\r\n", s->tag[0] ? s->tag : "*", status,
	    text);
	if (strcmp(status, "OK") == 0)
		return;
	log_info("conn=%s event=reply status=%s text=\"%s\"", s->id, status,
	    log_escape(span_cstr(text), esc, sizeof(esc)));
	if (++s->errors >= IMAP_MAX_ERRORS) {
		imap_printf(s, "* BYE Too many errors; closing\r\n");
		imap_close(s, "too many errors");
	}
}

void
imap_close(struct imap_sess *s, const char *why)
{
	if (s->state == IMAP_S_LOGOUT)
		return;
	log_info("conn=%s event=close reason=\"%s\"", s->id, why);
	imap_set_state(s, IMAP_S_LOGOUT);
	cio_shutdown(s->io);
}

void
imap_wait_begin(struct imap_sess *s, enum imap_wait w, uint64_t reqid)
{
	s->wait = w;
	s->wait_reqid = reqid;
	/* a client line is read by the data callback itself */
	if (w != IMAP_W_SASL_CLIENT && w != IMAP_W_IDLE)
		cio_pause(s->io);
}

void
imap_wait_end(struct imap_sess *s)
{
	s->wait = IMAP_W_NONE;
	s->wait_reqid = 0;
	s->tag[0] = '\0';
	if (s->state != IMAP_S_LOGOUT)
		cio_resume(s->io);
}

int
imap_tls_offered(const struct imap_sess *s)
{
	const struct cfg_listener *l = cfg_listener_find(s->d->cfg, s->kind);

	return l != NULL && l->tls == CFG_TLS_STARTTLS && s->d->tls != NULL &&
	    !cio_tls_active(s->io);
}

/* SECURITY: passwords only through TLS (RFC 9051 11.1, RFC 8314) unless
 * the admin says otherwise (imapd.plaintext_auth). */
int
imap_auth_allowed(const struct imap_sess *s)
{
	const struct cfg_listener *l = cfg_listener_find(s->d->cfg, s->kind);

	/* on 993 no command is read before the handshake is done */
	return cio_tls_active(s->io) || s->d->cfg->imapd.plaintext_auth ||
	    (l != NULL && l->tls == CFG_TLS_IMPLICIT);
}

/* Only what is implemented is advertised (docs/imapd.md). */
static const char caps_base[] = "IMAP4rev1 LITERAL+ ID ENABLE IDLE "
    "NAMESPACE UNSELECT CHILDREN SPECIAL-USE UTF8=ACCEPT STATUS=SIZE "
    "ESEARCH APPENDLIMIT=67108864 MULTIAPPEND UIDPLUS MOVE CONDSTORE SORT "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES LIST-EXTENDED LIST-STATUS "
    "CREATE-SPECIAL-USE SEARCHRES QRESYNC BINARY QUOTA QUOTA=RES-STORAGE "
    "QUOTA=RES-MESSAGE SAVEDATE OBJECTID";

void
imap_capabilities(struct imap_sess *s, struct buf *out)
{
	(void)!buf_addstr(out, caps_base);
	/* RFC 9051 Appendix A: both revisions; rev2 after ENABLE */
	(void)!buf_addstr(out, " IMAP4rev2");
	if (s->state == IMAP_S_NOTAUTH) {
		if (imap_tls_offered(s))
			(void)!buf_addstr(out, " STARTTLS");
		if (!imap_auth_allowed(s))
			(void)!buf_addstr(out, " LOGINDISABLED");
		else {
			const char *p = s->d->mechs.list;

			(void)!buf_addstr(out, " SASL-IR");
			while (*p != '\0') {
				size_t n = strcspn(p, " ");

				(void)!buf_addf(out, " AUTH=%.*s", (int)n, p);
				p += n;
				p += strspn(p, " ");
			}
		}
	} else {
		/* RFC 4978 allows it in the greeting, but COMPRESS is a
		 * command-auth (5): offered once it can be used, in the
		 * CAPABILITY code of the login's OK */
		(void)!buf_addstr(out, " COMPRESS=DEFLATE");
	}
}

int
imap_quote(struct buf *out, const char *s, size_t n)
{
	size_t i;
	int lit = 0;

	for (i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			lit = 1;
	if (lit)
		return buf_addf(out, "{%zu}\r\n", n) || buf_add(out, s, n);
	if (buf_add(out, "\"", 1) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((s[i] == '"' || s[i] == '\\') && buf_add(out, "\\", 1))
			return -1;
		if (buf_add(out, s + i, 1) != 0)
			return -1;
	}
	return buf_add(out, "\"", 1);
}

/* ---- the command reader ---- */

static int
parser_get(struct imap_sess *s)
{
	struct imap_parse_limits lim;
	size_t memsz;
	uint8_t *p;

	if (s->ps != NULL)
		return 0;
	imap_parse_limits_default(&lim);
	lim.max_line = IMAP_LINE_MAX;
	lim.max_inline = IMAP_INLINE_MAX;
	lim.max_inline_total = IMAP_INLINE_TOTAL;
	lim.max_literal = IMAP_LITERAL_MAX;
	lim.max_args = IMAP_ARGS_MAX;
	if (s->state == IMAP_S_NOTAUTH) {
		/* before login nothing needs more: a client that has not
		 * logged in cannot make us hold 200 KiB per connection */
		lim.max_line = 8192;
		lim.max_inline = 4096;
		lim.max_inline_total = 8192;
		lim.max_args = 64;
	}
	/* LITERAL+ is advertised (caps_base, RFC 7888 3) */
	lim.litmode = IMAP_LIT_PLUS;
	lim.utf8 = imap_utf8(s);
	memsz = imap_parse_mem_size(&lim);
	/* one block: the parser, its argument slots, its memory */
	p = xmalloc(sizeof(struct imap_parser) +
	    lim.max_args * sizeof(struct imap_arg) + memsz);
	s->ps = (struct imap_parser *)(void *)p;
	if (imap_parse_init(s->ps, &lim, p + sizeof(struct imap_parser) +
	    lim.max_args * sizeof(struct imap_arg), memsz,
	    (struct imap_arg *)(void *)(p + sizeof(struct imap_parser))) != 0) {
		free(p);
		s->ps = NULL;
		return -1;
	}
	/* literals above IMAP_INLINE_MAX: APPEND's go to tmp/, others
	 * are refused */
	imap_parse_set_sink(s->ps, imap_append_sink, s);
	return 0;
}

static void
parser_put(struct imap_sess *s)
{
	free(s->ps);
	s->ps = NULL;
}

/* The reader's memory goes when no command is partly read and none is
 * waiting for it: between commands and during IDLE (DONE is read
 * without the parser). */
static void
parser_put_idle(struct imap_sess *s)
{
	if (s->ps != NULL && imap_parse_idle(s->ps) && (s->wait ==
	    IMAP_W_NONE || s->wait == IMAP_W_IDLE))
		parser_put(s);
}

static void
tag_set(struct imap_sess *s, struct span tag)
{
	if (tag.n > IMAP_TAG_MAX)
		tag.n = 0;
	memcpy(s->tag, tag.p, tag.n);
	s->tag[tag.n] = '\0';
}

static void
dispatch(struct imap_sess *s, const struct imap_cmd *cmd)
{
	struct imap_args args = cmd->args;
	struct span name = cmd->name;
	const struct imap_arg *a;
	unsigned in;
	size_t i;
	int uid = 0;

	if (cmd->tag.n > IMAP_TAG_MAX) {
		s->tag[0] = '\0';
		imap_bad(s, "Tag too long");
		return;
	}
	tag_set(s, cmd->tag);
	if (span_eq_ci(name, "UID")) {
		a = imap_args_at(args, 0);
		if (a == NULL || a->type != IMAP_ARG_ATOM) {
			imap_bad(s, "UID needs a command");
			return;
		}
		uid = 1;
		name = a->s;
		args = imap_args_rest(args, imap_args_next(args, a));
		if (imap_args_next(cmd->args, a) == NULL)
			args.n = 0;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (span_eq_ci(name, handlers[i].name))
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0]) ||
	    (uid && !(handlers[i].flags & F_UID))) {
		imap_bad(s, "Unknown command %s%.*s", uid ? "UID " : "",
		    (int)(name.n > 32 ? 32 : name.n), (const char *)name.p);
		return;
	}
	log_debug("conn=%s cmd=%s%s", s->id, uid ? "UID " : "",
	    handlers[i].name);
	in = s->state == IMAP_S_NOTAUTH ? IN_NOTAUTH : s->state ==
	    IMAP_S_AUTH ? IN_AUTH : IN_SELECTED;
	if (!(handlers[i].flags & in)) {
		/* RFC 9051 3: a command not valid in this state */
		imap_bad(s, "%s %s", handlers[i].name,
		    in == IN_NOTAUTH ? "needs LOGIN or AUTHENTICATE first" :
		    in == IN_AUTH && (handlers[i].flags & IN_SELECTED) ?
		    "needs a selected mailbox (SELECT or EXAMINE)" :
		    "is not allowed after login");
		return;
	}
	if (s->d->stopping && strcmp(handlers[i].name, "LOGOUT") != 0) {
		imap_printf(s, "* BYE [UNAVAILABLE] Service shutting down\r\n");
		imap_close(s, "stopping");
		return;
	}
	/* RFC 9051 7: changes by others are told before the command's
	 * own answer; EXPUNGE not around FETCH, STORE, SEARCH, whose
	 * sequence numbers it would shift (7.5.1), UID forms excepted */
	if (s->state == IMAP_S_SELECTED && !(handlers[i].flags & F_NOUPD))
		imap_sel_update(s, uid || !(handlers[i].flags & F_NOEXP));
	handlers[i].fn(s, args, uid);
}

static void
parse_error(struct imap_sess *s, const struct imap_err *err)
{
	if (err->has_tag)
		tag_set(s, err->tag);
	else
		s->tag[0] = '\0';
	/* a message streamed for a command that then failed goes */
	imap_append_drop(s);
	if (err->code == IMAP_ERR_SINK)
		imap_no(s, "%s", s->sink_why ? s->sink_why : err->text);
	else if (err->resp_code != NULL)
		imap_bad(s, "[%s] %s", err->resp_code, err->text);
	else
		imap_bad(s, "%s", err->text);
	s->tag[0] = '\0';
	s->sink_why = NULL;
}

/* One client line while a SASL exchange or IDLE waits for it: the
 * length up to and including LF, or 0 if not complete. */
static size_t
client_line(struct imap_sess *s, struct span in, struct span *line)
{
	size_t eol;

	if (!span_find_byte(in, '\n', &eol))
		return 0;
	*line = span_make(in.p, eol > 0 && in.p[eol - 1] == '\r' ? eol - 1 :
	    eol);
	return eol + 1;
}

/* ---- commands that wait for worker threads (imap_coro.h) ----
 *
 * Every command runs in a coroutine.  An index write or an fsync goes to
 * a worker thread (DESIGN.md: nothing that can block runs on a loop
 * serving others) and the command yields: the session stops reading
 * (IMAP_W_WORKER), the loop serves the other sessions, and the worker's
 * done() resumes the command where it stopped.  A command that does not
 * wait runs to its end at once, as on the loop's own stack.
 */

struct imap_work {
	struct wpool_job job;		/* first: the job is the work */
	struct imap_sess *s;
	int (*fn)(void *arg);
	void *arg;
	int rc;
};

static void co_end(struct imap_sess *s);

static void
work_run(struct wpool_job *job)
{
	struct imap_work *w = (struct imap_work *)job;

	w->rc = w->fn(w->arg);
}

static void
work_done(struct wpool_job *job)
{
	struct imap_sess *s = ((struct imap_work *)job)->s;

	/* w is on the coroutine's stack: not used past this point */
	if (coro_resume(s->co))
		co_end(s);
}

int
imap_blocking(struct imap_sess *s, int (*fn)(void *arg), void *arg)
{
	struct imap_work w;
	enum imap_wait was = s->wait;
	uint64_t reqid = s->wait_reqid;

	if (coro_self() == NULL || s->co != coro_self() || s->d->pool == NULL)
		return fn(arg);
	memset(&w, 0, sizeof(w));
	w.job.run = work_run;
	w.job.done = work_done;
	w.s = s;
	w.fn = fn;
	w.arg = arg;
	s->wait = IMAP_W_WORKER;
	s->worker_waits++;
	cio_pause(s->io);
	wpool_submit(s->d->pool, &w.job);
	coro_yield();
	s->wait = was;
	s->wait_reqid = reqid;
	return w.rc;
}

/* A worker's error message for the loop: copied out of the worker
 * thread's buffers into the job (on the coroutine's stack), then here,
 * where the command reads it before it can yield again. */
static char imap_why_buf[160];

const char *
imap_why_keep(const char *why)
{
	if (why != imap_why_buf)
		snprintf(imap_why_buf, sizeof(imap_why_buf), "%s",
		    why != NULL ? why : "?");
	return imap_why_buf;
}

struct idx_write {
	struct imap_sess *s;
	mailidx_txn_fn fn;
	void *arg;
	char why[160];
};

static int
idx_write_run(void *arg)
{
	struct idx_write *iw = arg;
	const char *why = NULL;
	int rc;

	rc = mailidx_write(iw->s->u->idx, iw->fn, iw->arg, &why);
	/* why may be in this thread's own buffer */
	if (rc != 0)
		snprintf(iw->why, sizeof(iw->why), "%s", why != NULL ? why :
		    "?");
	return rc;
}

int
imap_idx_write(struct imap_sess *s, mailidx_txn_fn fn, void *arg,
    const char **why)
{
	struct idx_write iw;
	int rc;

	iw.s = s;
	iw.fn = fn;
	iw.arg = arg;
	iw.why[0] = '\0';
	rc = imap_blocking(s, idx_write_run, &iw);
	if (rc != 0 && why != NULL)
		*why = imap_why_keep(iw.why);
	return rc;
}

/* A command's coroutine ended after it had waited: take up the input
 * where the session stopped reading, as imap_data does after a command
 * that did not wait. */
static void
co_end(struct imap_sess *s)
{
	s->co = NULL;
	if (s->co_closed) {
		imap_sess_free(s);
		return;
	}
	if (s->wait == IMAP_W_NONE)
		s->tag[0] = '\0';
	if (s->state == IMAP_S_LOGOUT)
		return;
	parser_put_idle(s);
	/* imap_blocking paused the reader; these waits read */
	if (s->wait == IMAP_W_NONE || s->wait == IMAP_W_IDLE ||
	    s->wait == IMAP_W_SASL_CLIENT)
		cio_resume(s->io);
	/* a change seen while the update waited: IDLE tells it now */
	if (s->wait == IMAP_W_IDLE)
		imap_sess_idle_update(s);
}

struct co_arg {
	struct imap_sess *s;
	const struct imap_cmd *cmd;	/* valid until the first yield */
	struct span line;		/* likewise */
};

static void
dispatch_co(void *arg)
{
	struct co_arg *a = arg;
	struct imap_cmd cmd = *a->cmd;	/* the parser keeps what it points to */

	dispatch(a->s, &cmd);
}

static void
idle_line_co(void *arg)
{
	struct co_arg *a = arg;

	imap_idle_line(a->s, a->line);
}

static void
idle_update_co(void *arg)
{
	struct co_arg *a = arg;

	imap_sel_update(a->s, 1);
}

/* Run fn in a coroutine for s: done at once, or s->co set until its
 * worker's done() resumes and ends it. */
static void
co_start(struct imap_sess *s, coro_fn fn, struct co_arg *a)
{
	BUG_ON(s->co != NULL);
	/* s->co is set before fn runs: imap_blocking checks it */
	if (coro_run(fn, a, &s->co))
		s->co = NULL;
}

/* RFC 2177: a session in IDLE is told of changes as they happen. */
void
imap_sess_idle_update(struct imap_sess *s)
{
	struct co_arg a = { s, NULL, { NULL, 0 } };

	/* one at a time; the one running looks again when it ends */
	if (s->co != NULL || s->sel == NULL || !s->sel->changed ||
	    s->state != IMAP_S_SELECTED || s->wait != IMAP_W_IDLE)
		return;
	co_start(s, idle_update_co, &a);
}

static void
imap_data(struct imap_sess *s, struct cio_ev *ev)
{
	struct span in = ev->data, rest, line;
	struct imap_cmd cmd;
	struct imap_err err;
	enum parse_rc rc;
	size_t off = 0, used;

	while (off < in.n && s->state != IMAP_S_LOGOUT &&
	    (s->wait == IMAP_W_NONE || s->wait == IMAP_W_SASL_CLIENT ||
	    s->wait == IMAP_W_IDLE)) {
		rest = span_make(in.p + off, in.n - off);
		if (s->wait == IMAP_W_SASL_CLIENT || s->wait == IMAP_W_IDLE) {
			if ((used = client_line(s, rest, &line)) == 0) {
				if (rest.n > IMAP_SASL_LINE_MAX) {
					imap_printf(s, "* BYE Line too long\r\n");
					imap_close(s, "line too long");
				}
				break;
			}
			off += used;
			if (s->wait == IMAP_W_IDLE) {
				struct co_arg a = { s, NULL, line };

				co_start(s, idle_line_co, &a);
			} else
				imap_auth_line(s, line);
			continue;
		}
		if (parser_get(s) != 0) {
			imap_close(s, "parser setup failed");
			break;
		}
		rc = imap_parse_feed(s->ps, rest, &used, &cmd, &err);
		off += used;
		if (rc == PARSE_MORE) {
			if (imap_parse_need_cont(s->ps, NULL))
				imap_printf(s, "+ Ready for literal data\r\n");
			continue;
		}
		if (rc == PARSE_ERR) {
			parse_error(s, &err);
			continue;
		}
		if (rc == PARSE_FATAL) {
			imap_printf(s, "* BYE [TOOBIG] %s\r\n", err.text);
			imap_close(s, "literal too big");
			break;
		}
		s->in_after = in.n - off;
		{
			struct co_arg a = { s, &cmd, { NULL, 0 } };

			co_start(s, dispatch_co, &a);
		}
		if (s->wait == IMAP_W_NONE)
			s->tag[0] = '\0';
		if (s->ps == NULL)	/* STARTTLS threw the rest away */
			break;
	}
	ev->used = off < in.n ? off : in.n;
	parser_put_idle(s);
}

/* STARTTLS: the reader forgets everything (cio dropped the input). */
void imap_sess_reader_reset(struct imap_sess *s);
void
imap_sess_reader_reset(struct imap_sess *s)
{
	parser_put(s);
}

/* RFC 4978 3: COMPRESS DEFLATE.  Compression starts right after the
 * CRLF of the tagged OK, both ways. */
static void
imap_cmd_compress(struct imap_sess *s, struct imap_args args, int uid)
{
	const struct imap_arg *a = imap_args_at(args, 0);

	if (a == NULL || imap_args_count(args) != 1) {
		imap_bad(s, "COMPRESS needs a mechanism: DEFLATE");
		return;
	}
	/* BAD for an unknown argument (RFC 4978 3, Result) */
	if (!imap_arg_atom_is(a, "DEFLATE")) {
		imap_bad(s, "Unknown compression mechanism");
		return;
	}
	/* RFC 4978 3 lists BAD for "COMPRESS already active" but also
	 * wants NO [COMPRESSIONACTIVE] whenever the same mechanism is on
	 * already; the response code tells a client why (as Dovecot
	 * and Cyrus do) */
	if (cio_compress_active(s->io)) {
		imap_no(s, "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
		return;
	}
	imap_ok(s, "DEFLATE active");
	/* bytes after the command were sent after it: compressed */
	if (cio_compress(s->io, s->in_after) != 0) {
		imap_close(s, "compress failed");
		return;
	}
	/* the reader stops here: the rest of this input is compressed */
	parser_put(s);
	log_info("conn=%s event=compress mechanism=DEFLATE", s->id);
}

static void
imap_io_cb(struct cio *io, struct cio_ev *ev, void *arg)
{
	struct imap_sess *s = arg;

	switch (ev->type) {
	case CIO_LINE:
	case CIO_OVERLONG:
		break;	/* never in line mode */
	case CIO_DATA:
		if (s->state == IMAP_S_LOGOUT) {
			ev->used = ev->data.n;
			break;
		}
		imap_data(s, ev);
		break;
	case CIO_TIMEOUT:
		/* RFC 9051 5.4: the autologout timer */
		imap_printf(s, "* BYE Autologout; idle for too long\r\n");
		imap_close(s, "idle timeout");
		break;
	case CIO_TLS_READY:
		log_info("conn=%s event=tls version=%s cipher=%s", s->id,
		    cio_tls_version(io), cio_tls_cipher(io));
		break;
	case CIO_DRAINED:
		if (s->co != NULL)	/* its command goes on later */
			break;
		/* IDLE may last for hours: no compressor meanwhile (each
		 * "+ idling" or update is followed by this event) */
		if (s->wait == IMAP_W_IDLE)
			cio_trim(io);
		imap_fetch_drained(s);
		break;
	case CIO_CLOSED:
		if (s->co != NULL) {
			/* freed when its command's worker is done */
			s->co_closed = 1;
			imap_set_state(s, IMAP_S_LOGOUT);
			log_info("conn=%s event=disconnect reason=\"%s\" "
			    "waits=%" PRIu32 " waiting=worker", s->id,
			    ev->why, s->worker_waits);
			break;
		}
		log_info("conn=%s event=disconnect reason=\"%s\" "
		    "duration=%.3fs waits=%" PRIu32, s->id, ev->why,
		    ev_now(s->d->loop) - s->started, s->worker_waits);
		imap_sess_free(s);
		break;
	}
}

void
imap_sess_new(struct imapd *d, int fd, const struct sockaddr *peer,
    socklen_t peer_len, enum cfg_listener_kind kind)
{
	struct imap_sess *s = xcalloc(1, sizeof(*s));
	const struct cfg_listener *l = cfg_listener_find(d->cfg, kind);
	struct cio_opts o = {
		/* small: the reader consumes all input at each event, and
		 * an idle session keeps this buffer (docs/imapd.md) */
		.in_max = 4096,
		.out_hiwat = 65536,
		.idle_s = d->cfg->imapd.timeout_ms / 1000.0,
	};
	struct buf caps;

	s->d = d;
	s->kind = kind;
	memcpy(&s->peer, peer, peer_len);
	s->peer_len = peer_len;
	net_peer_str(peer, s->ip, sizeof(s->ip));
	log_new_id(s->id);
	s->started = ev_now(d->loop);
	authsess_init(&s->auth, d->authd, "imap", AUTHSESS_SASL_MAX);
	s->io = cio_new(d->loop, fd, &o, imap_io_cb, s);
	cio_set_raw(s->io, 1);
	d->n_sessions++;
	d->churn++;
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
	log_info("conn=%s event=connect ip=%s listener=%s", s->id, s->ip,
	    cfg_listener_kind_name(kind));
	if (l != NULL && l->tls == CFG_TLS_IMPLICIT &&
	    cio_tls_accept(s->io, tlsw_ctx(d->tls)) != 0) {
		imap_close(s, "tls setup failed");
		return;
	}
	s->state = IMAP_S_NOTAUTH;
	if (d->stopping) {
		imap_printf(s, "* BYE [UNAVAILABLE] Service shutting down\r\n");
		imap_close(s, "stopping");
		return;
	}
	imap_auth_fetch_mechs(d);
	/* RFC 9051 7.1.1: the greeting may carry the capabilities; on
	 * an implicit TLS port cio sends it after the handshake */
	buf_init(&caps, 256, 4096);
	imap_capabilities(s, &caps);
	imap_printf(s, "* OK [CAPABILITY %s] Letterbox IMAP ready\r\n",
	    buf_cstr(&caps));
	buf_fini(&caps);
}

static void
imap_sess_free(struct imap_sess *s)
{
	struct imapd *d = s->d;

	/* a pending authd request is forgotten, an exchange aborted */
	imap_auth_abort(s);
	imap_quota_cancel(s);
	imap_append_drop(s);
	imap_fetch_stop(s);
	imap_sel_free(s);
	if (s->u != NULL)
		imap_user_put(d, &s->u);
	parser_put(s);
	cio_free(&s->io);
	net_server_release(d->srv[s->kind], (struct sockaddr *)&s->peer);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s);
	d->churn++;
	if (--d->n_sessions == 0 && d->stopping)
		ev_break(d->loop, EVBREAK_ALL);
}

void
imap_sess_stop_all(struct imapd *d)
{
	struct imap_sess *s, *next;

	for (s = d->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == IMAP_S_LOGOUT)
			continue;
		imap_printf(s, "* BYE [UNAVAILABLE] Service shutting down\r\n");
		imap_close(s, "stopping");
	}
}
