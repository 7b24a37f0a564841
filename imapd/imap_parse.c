/* IMAP command reader (RFC 9051 9, RFC 3501 9, RFC 7888, RFC 3516): byte-at-a-time state machine. */
/* SPDX-License-Identifier: ISC */
#include "imapd/imap_parse.h"

#include <string.h>

enum {
	ST_TAG = 0,	/* start of a command */
	ST_NAME,	/* command name */
	ST_ARG,		/* after SP or "(": an argument must start */
	ST_ATOM,
	ST_QUOTED,
	ST_QESC,	/* after "\" in a quoted string */
	ST_LNUM,	/* after "{": digits */
	ST_LPLUS,	/* after "+": "}" */
	ST_LCR,		/* after "}": CR */
	ST_LLF,		/* after "}" CR: LF */
	ST_LDATA,	/* literal payload, lit_left to go */
	ST_SEP,		/* after an argument: SP, ")", CR */
	ST_CR,		/* after the final CR: LF */
	ST_SKIP,	/* after an error: to the end of the command */
	ST_SKIPLIT,	/* after an error: inside a {n+} payload */
	ST_DEAD,	/* fatal */
};

/* Results of one byte. */
enum { R_GO = 0, R_DONE, R_ERR, R_CONT, R_FATAL };

/* Literal spotting while skipping: "{" digits ["+"] "}" CR LF. */
enum { SK_NONE = 0, SK_OPEN, SK_NUM, SK_PLUS, SK_CLOSE, SK_CR };

size_t
imap_parse_mem_size(const struct imap_parse_limits *lim)
{
	return lim->max_line + lim->max_inline_total;
}

void
imap_parse_limits_default(struct imap_parse_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_line = 64 * 1024;
	lim->max_inline = 8 * 1024;
	lim->max_inline_total = 64 * 1024;
	lim->max_literal = 64ULL * 1024 * 1024;
	lim->max_depth = 16;
	lim->max_args = 4096;
	lim->litmode = IMAP_LIT_MINUS;
	lim->utf8 = 0;
}

static void
start_command(struct imap_parser *ps)
{
	ps->st = ST_TAG;
	ps->skip_st = SK_NONE;
	ps->mem_len = 0;
	ps->n_args = 0;
	ps->line_len = 0;
	ps->inline_total = 0;
	ps->tag = span_make(ps->mem, 0);
	ps->name = span_make(ps->mem, 0);
	ps->have_tag = 0;
	ps->depth = 0;
	ps->just_opened = ps->after_close = 0;
	ps->lit_n = ps->lit_left = 0;
	ps->lit_stream = 0;
	ps->n_literals = ps->n_streamed = 0;
	ps->u8_need = 0;
	memset(&ps->err, 0, sizeof(ps->err));
}

int
imap_parse_init(struct imap_parser *ps, const struct imap_parse_limits *lim,
    uint8_t *mem, size_t memsize, struct imap_arg *args)
{
	memset(ps, 0, sizeof(*ps));
	if (lim->max_line < 16 || lim->max_depth < 1 ||
	    lim->max_depth > IMAP_PARSE_DEPTH_MAX || lim->max_args < 1 ||
	    lim->max_inline > lim->max_inline_total ||
	    memsize < imap_parse_mem_size(lim) || mem == NULL || args == NULL)
		return -1;
	ps->lim = *lim;
	ps->mem = mem;
	ps->memsize = memsize;
	ps->args = args;
	start_command(ps);
	return 0;
}

void
imap_parse_set_sink(struct imap_parser *ps, imap_sink_fn *fn, void *ctx)
{
	ps->sink = fn;
	ps->sink_ctx = ctx;
}

void
imap_parse_set_litmode(struct imap_parser *ps, enum imap_litmode m)
{
	ps->lim.litmode = m;
}

void
imap_parse_set_utf8(struct imap_parser *ps, int on)
{
	ps->lim.utf8 = on;
}

static void
lit_info(const struct imap_parser *ps, struct imap_lit_info *li)
{
	li->tag = ps->tag;
	li->name = ps->name;
	li->index = ps->n_literals;
	li->size = ps->lit_n;
	li->nonsync = ps->lit_nonsync;
	li->literal8 = ps->lit_8;
}

static int
sink_call(struct imap_parser *ps, enum imap_sink_ev ev, struct span data)
{
	struct imap_lit_info li;

	lit_info(ps, &li);
	return ps->sink(ps->sink_ctx, ev, &li, data);
}

void
imap_parse_reset(struct imap_parser *ps)
{
	if (ps->st == ST_DEAD)
		return;
	if (ps->st == ST_LDATA && ps->lit_stream)
		(void)sink_call(ps, IMAP_SINK_ABORT, span_make(ps->mem, 0));
	ps->cont_pending = 0;
	start_command(ps);
}

int
imap_parse_idle(const struct imap_parser *ps)
{
	return ps->st == ST_TAG && ps->mem_len == 0 && ps->line_len == 0;
}

int
imap_parse_need_cont(const struct imap_parser *ps,
    struct imap_lit_info *info_out)
{
	if (!ps->cont_pending)
		return 0;
	if (info_out != NULL)
		*info_out = ps->cont_info;
	return 1;
}

/* Record the first error of this command and skip to its end. */
static void
fail(struct imap_parser *ps, enum imap_err_code code, const char *text,
    const char *resp_code)
{
	if (ps->err.code == IMAP_ERR_NONE) {
		ps->err.code = code;
		ps->err.text = text;
		ps->err.resp_code = resp_code;
	}
	if (ps->st == ST_LDATA && ps->lit_stream && code != IMAP_ERR_SINK)
		(void)sink_call(ps, IMAP_SINK_ABORT, span_make(ps->mem, 0));
	ps->st = ST_SKIP;
	ps->skip_st = SK_NONE;
}

static int
is_atom_char(uint8_t c)
{
	/* RFC 9051 9 ATOM-CHAR plus resp-specials "]", list-wildcards and
	 * "\": the union of what atoms, astrings, flags, list patterns,
	 * sequence sets and fetch sections need; each command checks its
	 * own. */
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

static int
is_tag_char(uint8_t c)
{
	/* tag = 1*<any ASTRING-CHAR except "+">: no list-wildcards, no
	 * quoted-specials. */
	return is_atom_char(c) && c != '+' && c != '%' && c != '*' &&
	    c != '\\';
}

static int
is_name_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Append a byte of command text; the line cap keeps it inside mem. */
static void
put(struct imap_parser *ps, uint8_t c)
{
	if (ps->mem_len < ps->memsize)
		ps->mem[ps->mem_len++] = c;
}

/* A new argument in the current list (or at the top).  NULL after
 * failing with IMAP_ERR_TOO_MANY_ARGS. */
static struct imap_arg *
push_arg(struct imap_parser *ps, enum imap_arg_type type)
{
	struct imap_arg *a;

	if (ps->n_args == ps->lim.max_args) {
		fail(ps, IMAP_ERR_TOO_MANY_ARGS, "Too many arguments", NULL);
		return NULL;
	}
	if (ps->depth > 0)
		ps->args[ps->stack[ps->depth - 1]].n_items++;
	ps->cur = ps->n_args++;
	a = &ps->args[ps->cur];
	memset(a, 0, sizeof(*a));
	a->type = type;
	a->s = span_make(ps->mem + ps->mem_len, 0);
	return a;
}

static void
close_list(struct imap_parser *ps)
{
	size_t i = ps->stack[--ps->depth];

	ps->args[i].skip = ps->n_args - i - 1;
	ps->after_close = 1;
	ps->st = ST_SEP;
}

static void
end_atom(struct imap_parser *ps)
{
	struct imap_arg *a = &ps->args[ps->cur];

	if (span_eq_ci(a->s, "NIL"))
		a->type = IMAP_ARG_NIL;
}

/* A byte >= 0x80 inside a quoted string: UTF-8 (RFC 3629) or not. */
static int
utf8_byte(struct imap_parser *ps, uint8_t c)
{
	if (ps->u8_need > 0) {
		if (c < ps->u8_lo || c > ps->u8_hi)
			return -1;
		ps->u8_need--;
		ps->u8_lo = 0x80;
		ps->u8_hi = 0xbf;
		return 0;
	}
	ps->u8_lo = 0x80;
	ps->u8_hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		ps->u8_need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		ps->u8_need = 2;
		if (c == 0xe0)
			ps->u8_lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			ps->u8_hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		ps->u8_need = 3;
		if (c == 0xf0)
			ps->u8_lo = 0x90;
		else if (c == 0xf4)
			ps->u8_hi = 0x8f;	/* past U+10FFFF */
	} else
		return -1;
	return 0;
}

/*
 * A literal's announcement was refused after its CRLF.  The client
 * waits for "+" after a synchronising one, so the command ends here;
 * it sends a non-synchronising one regardless: skip its payload if we
 * are willing to read that much (RFC 7888 4 option 1), else close
 * (option 2).
 */
static int
lit_refuse(struct imap_parser *ps, enum imap_err_code code,
    const char *text, const char *resp_code)
{
	fail(ps, code, text, resp_code);
	if (!ps->lit_nonsync)
		return R_ERR;
	if (ps->lit_n > ps->lim.max_literal) {
		ps->err.code = IMAP_ERR_LITERAL_TOO_BIG;
		ps->err.text = "Non-synchronizing literal too big";
		ps->err.resp_code = "TOOBIG";
		return R_FATAL;
	}
	ps->lit_left = ps->lit_n;
	ps->st = ST_SKIPLIT;
	return R_GO;
}

/* "{n}" CRLF (or its kin) has been read: decide what to do with it. */
static int
lit_announced(struct imap_parser *ps)
{
	struct imap_arg *a;
	int over_total;

	if (ps->lit_nonsync && ps->lim.litmode == IMAP_LIT_SYNC_ONLY)
		return lit_refuse(ps, IMAP_ERR_NONSYNC,
		    "Non-synchronizing literals are not supported", NULL);
	if (ps->lit_n > ps->lim.max_literal)
		return lit_refuse(ps, IMAP_ERR_LITERAL_TOO_BIG,
		    "Literal too big", "TOOBIG");
	/* RFC 7888 5: LITERAL- caps {n+} at 4096; APPEND's BAD must
	 * carry TOOBIG, and it does no harm elsewhere. */
	if (ps->lit_nonsync && ps->lim.litmode == IMAP_LIT_MINUS &&
	    ps->lit_n > IMAP_LITMINUS_MAX)
		return lit_refuse(ps, IMAP_ERR_NONSYNC,
		    "Non-synchronizing literal above 4096 octets", "TOOBIG");
	/* A literal that would pass the per-command budget of kept bytes
	 * goes to the sink too: MULTIAPPEND (RFC 3502) of many small
	 * messages must not fail where one APPEND each would work. */
	over_total = ps->lit_n > ps->lim.max_inline_total - ps->inline_total;
	ps->lit_stream = ps->lit_n > ps->lim.max_inline || over_total;
	if (ps->lit_stream) {
		if (ps->sink == NULL)
			return lit_refuse(ps, IMAP_ERR_LITERAL_TOO_BIG,
			    ps->lit_n > ps->lim.max_inline ? "Literal too big" :
			    "Too much literal data in one command", "TOOBIG");
		if (sink_call(ps, IMAP_SINK_BEGIN, span_make(ps->mem, 0)) != 0)
			return lit_refuse(ps, IMAP_ERR_SINK,
			    "Literal refused", NULL);
	}
	if ((a = push_arg(ps, IMAP_ARG_LITERAL)) == NULL) {
		if (ps->lit_stream)
			(void)sink_call(ps, IMAP_SINK_ABORT,
			    span_make(ps->mem, 0));
		ps->lit_stream = 0;
		return lit_refuse(ps, IMAP_ERR_TOO_MANY_ARGS,
		    "Too many arguments", NULL);
	}
	a->size = ps->lit_n;
	a->lit_index = ps->n_literals;
	a->flags = (ps->lit_nonsync ? IMAP_ARG_F_NONSYNC : 0) |
	    (ps->lit_8 ? IMAP_ARG_F_LITERAL8 : 0) |
	    (ps->lit_stream ? IMAP_ARG_F_STREAMED : 0);
	ps->lit_left = ps->lit_n;
	ps->st = ST_LDATA;
	if (ps->lit_nonsync)
		return R_GO;
	lit_info(ps, &ps->cont_info);
	return R_CONT;
}

/* The payload is complete. */
static int
lit_done(struct imap_parser *ps)
{
	int stream = ps->lit_stream;

	ps->just_opened = ps->after_close = 0;
	ps->st = ST_SEP;
	ps->lit_stream = 0;
	if (stream) {
		ps->n_streamed++;
		if (sink_call(ps, IMAP_SINK_END, span_make(ps->mem, 0)) != 0)
			fail(ps, IMAP_ERR_SINK, "Literal refused", NULL);
	}
	ps->n_literals++;
	return R_GO;
}

/* Start an argument at c (after SP, "(" or directly after ")"). */
static int
arg_start(struct imap_parser *ps, uint8_t c)
{
	struct imap_arg *a;

	ps->after_close = 0;
	switch (c) {
	case '(':
		if (ps->depth == ps->lim.max_depth) {
			fail(ps, IMAP_ERR_DEPTH, "Lists nested too deep", NULL);
			return R_GO;
		}
		if (push_arg(ps, IMAP_ARG_LIST) == NULL)
			return R_GO;
		ps->stack[ps->depth++] = ps->cur;
		ps->just_opened = 1;
		ps->st = ST_ARG;
		return R_GO;
	case ')':
		if (!ps->just_opened || ps->depth == 0) {
			fail(ps, IMAP_ERR_SYNTAX, "Unexpected \")\"", NULL);
			return R_GO;
		}
		ps->just_opened = 0;
		close_list(ps);
		return R_GO;
	case '"':
		ps->just_opened = 0;
		if ((a = push_arg(ps, IMAP_ARG_QUOTED)) == NULL)
			return R_GO;
		ps->u8_need = 0;
		ps->st = ST_QUOTED;
		return R_GO;
	case '{':
		ps->just_opened = 0;
		ps->lit_8 = 0;
		ps->lit_n = 0;
		ps->lit_nonsync = 0;
		ps->ncont = 0;
		ps->st = ST_LNUM;
		return R_GO;
	}
	ps->just_opened = 0;
	if (c == 0) {
		fail(ps, IMAP_ERR_NUL, "NUL in command", NULL);
		return R_GO;
	}
	if (c >= 0x80) {
		fail(ps, IMAP_ERR_8BIT, "8-bit character in atom", NULL);
		return R_GO;
	}
	if (c == '\n') {
		fail(ps, IMAP_ERR_BARE_LF, "Line must end with CRLF", NULL);
		return R_GO;
	}
	if (!is_atom_char(c)) {
		fail(ps, IMAP_ERR_SYNTAX, c == ' ' || c == '\r' ?
		    "Missing argument (extra space?)" :
		    "Invalid character in atom", NULL);
		return R_GO;
	}
	if ((a = push_arg(ps, IMAP_ARG_ATOM)) == NULL)
		return R_GO;
	put(ps, c);
	a->s.n = 1;
	ps->st = ST_ATOM;
	return R_GO;
}

/* A byte that ends an argument: SP, ")", CR (or "]" right after ")"). */
static int
after_arg(struct imap_parser *ps, uint8_t c)
{
	switch (c) {
	case ' ':
		ps->after_close = 0;
		ps->st = ST_ARG;
		return R_GO;
	case ')':
		if (ps->depth == 0) {
			fail(ps, IMAP_ERR_SYNTAX, "Unexpected \")\"", NULL);
			return R_GO;
		}
		close_list(ps);
		return R_GO;
	case '\r':
		ps->st = ST_CR;
		return R_GO;
	case '\n':
		fail(ps, IMAP_ERR_BARE_LF, "Line must end with CRLF", NULL);
		return R_GO;
	case ']':
		if (ps->after_close) {
			int r = arg_start(ps, c);

			if (ps->st == ST_ATOM)
				ps->args[ps->cur].flags |= IMAP_ARG_F_ADJACENT;
			return r;
		}
		break;
	}
	if (c == 0)
		fail(ps, IMAP_ERR_NUL, "NUL in command", NULL);
	else if (c >= 0x80)
		fail(ps, IMAP_ERR_8BIT, "8-bit character in atom", NULL);
	else
		fail(ps, IMAP_ERR_SYNTAX, "Missing space between arguments",
		    NULL);
	return R_GO;
}

static int
step_atom(struct imap_parser *ps, uint8_t c)
{
	struct imap_arg *a = &ps->args[ps->cur];

	if (is_atom_char(c)) {
		put(ps, c);
		a->s.n++;
		return R_GO;
	}
	/* "~{" starts a literal8 (RFC 3516 4.1, RFC 9051 9). */
	if (c == '{' && a->s.n == 1 && a->s.p[0] == '~') {
		ps->n_args--;
		if (ps->depth > 0)
			ps->args[ps->stack[ps->depth - 1]].n_items--;
		ps->mem_len--;
		ps->lit_8 = 1;
		ps->lit_n = 0;
		ps->lit_nonsync = 0;
		ps->ncont = 0;
		ps->st = ST_LNUM;
		return R_GO;
	}
	end_atom(ps);
	if (c == '(' || c == '"' || c == '{') {
		fail(ps, IMAP_ERR_SYNTAX, "Invalid character in atom", NULL);
		return R_GO;
	}
	return after_arg(ps, c);
}

static int
step_quoted(struct imap_parser *ps, uint8_t c)
{
	struct imap_arg *a = &ps->args[ps->cur];

	if (ps->st == ST_QESC) {
		/* RFC 9051 9 QUOTED-CHAR: only "\" quoted-specials. */
		if (c != '"' && c != '\\') {
			fail(ps, IMAP_ERR_SYNTAX,
			    "Invalid escape in quoted string", NULL);
			return R_GO;
		}
		ps->st = ST_QUOTED;
	} else if (c >= 0x80) {
		if (!ps->lim.utf8 || utf8_byte(ps, c) != 0) {
			fail(ps, IMAP_ERR_8BIT, ps->lim.utf8 ?
			    "Invalid UTF-8 in quoted string" :
			    "8-bit character in quoted string", NULL);
			return R_GO;
		}
	} else if (ps->u8_need > 0) {
		fail(ps, IMAP_ERR_8BIT, "Invalid UTF-8 in quoted string",
		    NULL);
		return R_GO;
	} else if (c == '"') {
		ps->st = ST_SEP;
		return R_GO;
	} else if (c == '\\') {
		ps->st = ST_QESC;
		return R_GO;
	} else if (c == '\r' || c == '\n') {
		fail(ps, IMAP_ERR_SYNTAX, "Unterminated quoted string", NULL);
		return R_GO;
	} else if (c == 0) {
		fail(ps, IMAP_ERR_NUL, "NUL in command", NULL);
		return R_GO;
	}
	put(ps, c);
	a->s.n++;
	return R_GO;
}

static int
step_literal(struct imap_parser *ps, uint8_t c)
{
	switch (ps->st) {
	case ST_LNUM:
		if (c >= '0' && c <= '9') {
			/* number64 (RFC 9051 9): past 2^63-1 counts as
			 * too big; saturate rather than wrap. */
			if (ps->lit_n > (UINT64_MAX - 9) / 10)
				ps->lit_n = UINT64_MAX;
			else
				ps->lit_n = ps->lit_n * 10 + (c - '0');
			ps->ncont++;
			return R_GO;
		}
		if (ps->ncont > 0 && c == '+') {
			ps->lit_nonsync = 1;
			ps->st = ST_LPLUS;
			return R_GO;
		}
		if (ps->ncont > 0 && c == '}') {
			ps->st = ST_LCR;
			return R_GO;
		}
		break;
	case ST_LPLUS:
		if (c == '}') {
			ps->st = ST_LCR;
			return R_GO;
		}
		break;
	case ST_LCR:
		if (c == '\r') {
			ps->st = ST_LLF;
			return R_GO;
		}
		if (c == '\n') {
			fail(ps, IMAP_ERR_BARE_LF, "Line must end with CRLF",
			    NULL);
			return R_GO;
		}
		fail(ps, IMAP_ERR_SYNTAX, "A literal must end its line", NULL);
		return R_GO;
	case ST_LLF:
		if (c == '\n')
			return lit_announced(ps);
		fail(ps, IMAP_ERR_BARE_CR, "CR without LF", NULL);
		return R_GO;
	}
	fail(ps, IMAP_ERR_SYNTAX, "Invalid literal", NULL);
	return R_GO;
}

/* While skipping: find the line end and spot a literal announcement
 * just before it, which decides whether the command goes on. */
static int
step_skip(struct imap_parser *ps, uint8_t c)
{
	int sk = ps->skip_st;

	ps->skip_st = SK_NONE;
	if (c == '\n') {
		if (sk != SK_CR)
			return R_ERR;
		return lit_refuse(ps, ps->err.code, ps->err.text,
		    ps->err.resp_code);
	}
	if (c == '{') {
		ps->skip_st = SK_OPEN;
		ps->lit_n = 0;
		ps->lit_nonsync = 0;
	} else if (c >= '0' && c <= '9' && (sk == SK_OPEN || sk == SK_NUM)) {
		ps->lit_n = ps->lit_n > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
		    ps->lit_n * 10 + (c - '0');
		ps->skip_st = SK_NUM;
	} else if (c == '+' && sk == SK_NUM) {
		ps->lit_nonsync = 1;
		ps->skip_st = SK_PLUS;
	} else if (c == '}' && (sk == SK_NUM || sk == SK_PLUS)) {
		ps->skip_st = SK_CLOSE;
	} else if (c == '\r' && sk == SK_CLOSE) {
		ps->skip_st = SK_CR;
	}
	return R_GO;
}

static int
step(struct imap_parser *ps, uint8_t c)
{
	switch (ps->st) {
	case ST_TAG:
		if (is_tag_char(c)) {
			put(ps, c);
			ps->tag.n++;
			return R_GO;
		}
		if (c == ' ' && ps->tag.n > 0) {
			ps->have_tag = 1;
			ps->name = span_make(ps->mem + ps->mem_len, 0);
			ps->st = ST_NAME;
			return R_GO;
		}
		if ((c == '\r' || c == '\n') && ps->tag.n == 0)
			fail(ps, IMAP_ERR_EMPTY, "Empty command line", NULL);
		else if (c == '\r' || c == '\n')
			fail(ps, IMAP_ERR_TAG, "Missing command", NULL);
		else
			fail(ps, c >= 0x80 ? IMAP_ERR_8BIT : c == 0 ?
			    IMAP_ERR_NUL : IMAP_ERR_TAG, "Invalid tag", NULL);
		return R_GO;
	case ST_NAME:
		if (is_name_char(c)) {
			put(ps, c);
			ps->name.n++;
			return R_GO;
		}
		if (ps->name.n > 0 && c == ' ') {
			ps->st = ST_ARG;
			return R_GO;
		}
		if (ps->name.n > 0 && c == '\r') {
			ps->st = ST_CR;
			return R_GO;
		}
		fail(ps, c == '\n' ? IMAP_ERR_BARE_LF : IMAP_ERR_COMMAND,
		    c == '\n' ? "Line must end with CRLF" : ps->name.n == 0 ?
		    "Missing command" : "Invalid command name", NULL);
		return R_GO;
	case ST_ARG:
		return arg_start(ps, c);
	case ST_ATOM:
		return step_atom(ps, c);
	case ST_QUOTED:
	case ST_QESC:
		return step_quoted(ps, c);
	case ST_LNUM:
	case ST_LPLUS:
	case ST_LCR:
	case ST_LLF:
		return step_literal(ps, c);
	case ST_SEP:
		return after_arg(ps, c);
	case ST_CR:
		if (c != '\n') {
			fail(ps, IMAP_ERR_BARE_CR, "CR without LF", NULL);
			return R_GO;
		}
		if (ps->depth > 0) {
			fail(ps, IMAP_ERR_SYNTAX, "Unbalanced parentheses",
			    NULL);
			return R_ERR;
		}
		return R_DONE;
	}
	return step_skip(ps, c);
}

/* Take up to avail payload bytes from p; returns how many. */
static size_t
lit_data(struct imap_parser *ps, const uint8_t *p, size_t avail)
{
	size_t k = avail < ps->lit_left ? avail : (size_t)ps->lit_left;
	const uint8_t *nul;

	if (ps->st == ST_SKIPLIT) {
		ps->lit_left -= k;
		if (ps->lit_left == 0) {
			ps->st = ST_SKIP;
			ps->skip_st = SK_NONE;
		}
		return k;
	}
	/* RFC 9051 9: literal is *CHAR8 (no NUL); literal8 is *OCTET. */
	if (!ps->lit_8 && (nul = memchr(p, 0, k)) != NULL) {
		size_t ok = (size_t)(nul - p);

		if (ok > 0)
			(void)lit_data(ps, p, ok);
		if (ps->st == ST_LDATA) {
			fail(ps, IMAP_ERR_NUL, "NUL in literal (use literal8)",
			    NULL);
			ps->st = ST_SKIPLIT;
		}
		return ok;
	}
	if (ps->lit_stream) {
		if (k > 0 && sink_call(ps, IMAP_SINK_DATA,
		    span_make(p, k)) != 0) {
			fail(ps, IMAP_ERR_SINK, "Literal refused", NULL);
			ps->st = ST_SKIPLIT;
		}
	} else {
		struct imap_arg *a = &ps->args[ps->cur];

		memcpy(ps->mem + ps->mem_len, p, k);
		ps->mem_len += k;
		ps->inline_total += k;
		a->s.n += k;
	}
	ps->lit_left -= k;
	if (ps->st == ST_LDATA && ps->lit_left == 0)
		(void)lit_done(ps);
	else if (ps->st == ST_SKIPLIT && ps->lit_left == 0)
		ps->st = ST_SKIP;
	return k;
}

static void
fill_err(struct imap_parser *ps, struct imap_err *err)
{
	*err = ps->err;
	err->has_tag = ps->have_tag;
	err->tag = ps->tag;
}

enum parse_rc
imap_parse_feed(struct imap_parser *ps, struct span in, size_t *used_out,
    struct imap_cmd *cmd, struct imap_err *err)
{
	size_t i = 0;
	int r, prev;

	*used_out = 0;
	ps->cont_pending = 0;
	if (ps->st == ST_DEAD) {
		fill_err(ps, err);
		return PARSE_FATAL;
	}
	while (i < in.n) {
		if (ps->st == ST_LDATA || ps->st == ST_SKIPLIT) {
			i += lit_data(ps, in.p + i, in.n - i);
			continue;
		}
		if (ps->line_len < SIZE_MAX)
			ps->line_len++;
		if (ps->line_len > ps->lim.max_line && ps->st != ST_SKIP)
			fail(ps, IMAP_ERR_LINE_TOO_LONG, "Command line too long",
			    NULL);
		prev = ps->st;
		r = step(ps, in.p[i]);
		/* A byte that caused an error is read again in skip mode:
		 * it may end the line or start a literal. */
		if (r == R_GO && prev != ST_SKIP && ps->st == ST_SKIP)
			r = step_skip(ps, in.p[i]);
		i++;
		switch (r) {
		case R_GO:
			continue;
		case R_CONT:
			ps->cont_pending = 1;
			*used_out = i;
			return PARSE_MORE;
		case R_DONE:
			*used_out = i;
			cmd->tag = ps->tag;
			cmd->name = ps->name;
			cmd->args.a = ps->args;
			cmd->args.n = ps->n_args;
			cmd->n_literals = ps->n_literals;
			cmd->n_streamed = ps->n_streamed;
			start_command(ps);
			return PARSE_OK;
		case R_ERR:
			*used_out = i;
			fill_err(ps, err);
			start_command(ps);
			return PARSE_ERR;
		default:
			*used_out = i;
			fill_err(ps, err);
			ps->st = ST_DEAD;
			return PARSE_FATAL;
		}
	}
	*used_out = i;
	return PARSE_MORE;
}
