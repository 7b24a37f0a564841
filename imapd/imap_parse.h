/* The IMAP command reader: an incremental, pure parser from client bytes to tag, name and argument tree. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAP_PARSE_H
#define LB_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"
#include "imapd/imap_args.h"

/*
 * Grammar: RFC 9051 9 (and RFC 3501 9): command = tag SP command-name
 * [SP arguments] CRLF, where an argument is an atom, NIL, a quoted
 * string, a literal ({n}, {n+} RFC 7888, ~{n} / ~{n+} RFC 3516 and
 * RFC 4466) or a parenthesised list of those.  The parser knows no
 * command: what each command's arguments mean is the command layer's
 * business (imap_seq.h, imap_search.h help with the common shapes).
 *
 * Exactly one SP separates arguments; a list may follow SP or "(" and
 * a "]..." atom may follow ")" directly, which is what
 * BODY[HEADER.FIELDS (A B)]<0.10> needs (RFC 9051 9 section-msgtext):
 * it arrives as atom "BODY[HEADER.FIELDS", list (A B), atom "]<0.10>".
 *
 * Line ends: only CRLF ends a command line.  A bare LF also ends it (so
 * a client that sends one gets an answer rather than a hang, and no
 * line is ever joined with the next) but the command is refused with
 * IMAP_ERR_BARE_LF; a CR not followed by LF is IMAP_ERR_BARE_CR.
 */

/* How non-synchronising literals are treated (RFC 7888). */
enum imap_litmode {
	IMAP_LIT_SYNC_ONLY = 0,	/* neither LITERAL+ nor LITERAL- offered */
	IMAP_LIT_MINUS,		/* LITERAL- (and IMAP4rev2): {n+} <= 4096 */
	IMAP_LIT_PLUS,		/* LITERAL+: any size up to max_literal; a
				 * bigger {n+} is PARSE_FATAL (RFC 7888 4) */
};

#define IMAP_LITMINUS_MAX	4096	/* RFC 7888 5 */
#define IMAP_PARSE_DEPTH_MAX	64	/* hard ceiling for max_depth */

struct imap_parse_limits {
	size_t max_line;	/* command bytes, literal payloads excluded,
				 * CRLFs included; at least 16 */
	size_t max_inline;	/* largest literal kept in memory; bigger
				 * ones go to the sink */
	size_t max_inline_total; /* kept literal bytes in one command */
	uint64_t max_literal;	/* largest literal accepted at all */
	unsigned max_depth;	/* nested lists, 1..IMAP_PARSE_DEPTH_MAX */
	size_t max_args;	/* argument nodes (lists count) per command */
	enum imap_litmode litmode;
	int utf8;		/* UTF-8 allowed in quoted strings (RFC 9051
				 * QUOTED-CHAR, RFC 6855 UTF8=ACCEPT) */
};

/* A complete command.  Every span points into the parser's memory and
 * stays valid until the next imap_parse_feed or imap_parse_reset. */
struct imap_cmd {
	struct span tag;
	struct span name;	/* as sent; compare with span_eq_ci */
	struct imap_args args;	/* the top-level arguments */
	unsigned n_literals;
	unsigned n_streamed;
};

enum imap_err_code {
	IMAP_ERR_NONE = 0,
	IMAP_ERR_EMPTY,		/* an empty line */
	IMAP_ERR_TAG,		/* missing or malformed tag */
	IMAP_ERR_COMMAND,	/* missing or malformed command name */
	IMAP_ERR_SYNTAX,	/* anything else malformed */
	IMAP_ERR_8BIT,		/* byte >= 0x80 in an atom (or a quoted
				 * string while utf8 is off, or bad UTF-8) */
	IMAP_ERR_NUL,		/* NUL outside a literal8 */
	IMAP_ERR_BARE_LF,
	IMAP_ERR_BARE_CR,
	IMAP_ERR_LINE_TOO_LONG,	/* past max_line */
	IMAP_ERR_DEPTH,		/* past max_depth */
	IMAP_ERR_TOO_MANY_ARGS,	/* past max_args */
	IMAP_ERR_LITERAL_TOO_BIG, /* past max_literal or the inline caps */
	IMAP_ERR_NONSYNC,	/* {n+} not allowed here (mode or LITERAL-) */
	IMAP_ERR_SINK,		/* the sink refused or failed */
};

/* Why a command was refused.  The text suits "tag BAD text" (or "* BAD"
 * when has_tag is 0); resp_code, when not NULL, goes in brackets before
 * it ("TOOBIG").  For IMAP_ERR_SINK the caller, which knows why its
 * sink failed, should answer NO with its own words. */
struct imap_err {
	enum imap_err_code code;
	const char *text;	/* static */
	const char *resp_code;	/* static or NULL */
	int has_tag;
	struct span tag;	/* valid as struct imap_cmd's spans */
};

/* What the parser knows about a literal when it is announced. */
struct imap_lit_info {
	struct span tag, name;	/* of the command it belongs to */
	unsigned index;		/* 0 for the command's first literal */
	uint64_t size;
	int nonsync;
	int literal8;
};

enum imap_sink_ev {
	IMAP_SINK_BEGIN = 0,	/* data is empty; return -1 to refuse */
	IMAP_SINK_DATA,		/* the next bytes of the payload */
	IMAP_SINK_END,		/* all size bytes were delivered */
	IMAP_SINK_ABORT,	/* drop what was delivered: the literal
				 * broke (NUL) or the parser was reset */
};

/*
 * A literal bigger than max_inline, or one that would take the
 * command's kept literal bytes past max_inline_total (several small
 * messages in one MULTIAPPEND), is offered to the sink: BEGIN when
 * its announcement line has been read (before any continuation request,
 * so the caller may check quota or refuse big literals outside APPEND),
 * then DATA in whatever pieces the input came in, then END.  Return 0,
 * or -1 to refuse (BEGIN) or to report a failure (DATA, END): the
 * parser then skips the rest of the literal and of the command, sends
 * that sink no further event for it, and reports IMAP_ERR_SINK.  If the
 * command fails for another reason after END, the result is PARSE_ERR
 * and the caller must drop what it stored.
 */
typedef int imap_sink_fn(void *ctx, enum imap_sink_ev ev,
    const struct imap_lit_info *li, struct span data);

struct imap_parser {
	struct imap_parse_limits lim;
	uint8_t *mem;
	size_t memsize, mem_len;
	struct imap_arg *args;
	size_t n_args;
	imap_sink_fn *sink;
	void *sink_ctx;

	int st;			/* private state */
	int skip_st;		/* literal spotting while skipping */
	size_t line_len, inline_total;
	struct span tag, name;
	int have_tag;
	size_t stack[IMAP_PARSE_DEPTH_MAX];
	unsigned depth;
	int just_opened, after_close, ncont;
	size_t cur;		/* index of the argument being read */
	uint64_t lit_n, lit_left;
	int lit_nonsync, lit_8, lit_stream;
	unsigned n_literals, n_streamed;
	int u8_need;
	uint8_t u8_lo, u8_hi;
	int cont_pending;
	struct imap_lit_info cont_info;
	struct imap_err err;
	int fatal;
};

/* imap_parse_mem_size: the bytes imap_parse_init needs for lim. */
size_t imap_parse_mem_size(const struct imap_parse_limits *lim);

/* imap_parse_limits_default: 64 KiB lines, 8 KiB kept literals (64 KiB
 * in all), 64 MiB literals, depth 16, 4096 arguments, LITERAL-,
 * no UTF-8. */
void imap_parse_limits_default(struct imap_parse_limits *lim);

/*
 * imap_parse_init: mem (memsize >= imap_parse_mem_size(lim)) and args
 * (lim->max_args slots) belong to the caller and must outlive the
 * parser; the parser allocates nothing.  Returns 0, or -1 if the limits
 * or sizes are unusable.
 */
int imap_parse_init(struct imap_parser *ps,
    const struct imap_parse_limits *lim, uint8_t *mem, size_t memsize,
    struct imap_arg *args) __attribute__((warn_unused_result));

/* imap_parse_set_sink: where literals above max_inline (or past
 * max_inline_total) go; NULL refuses them all with
 * IMAP_ERR_LITERAL_TOO_BIG. */
void imap_parse_set_sink(struct imap_parser *ps, imap_sink_fn *fn,
    void *ctx);
/* Switch modes between commands (ENABLE UTF8=ACCEPT, IMAP4rev2). */
void imap_parse_set_litmode(struct imap_parser *ps, enum imap_litmode m);
void imap_parse_set_utf8(struct imap_parser *ps, int on);

/*
 * imap_parse_feed: read the next bytes of the client stream.  in starts
 * with the first byte not yet consumed; the caller drops *used_out
 * bytes from the front and calls again with what is left plus any new
 * input.  Bytes consumed are copied or streamed, so the caller need not
 * keep them.
 *
 * PARSE_OK: *cmd_out is a whole command; *used_out ends at its CRLF.
 * PARSE_MORE: every byte was consumed (*used_out == in.n) and more are
 *   needed, or the parser stopped just after a synchronising literal's
 *   "{n}" CRLF (*used_out may be < in.n): then imap_parse_need_cont()
 *   is 1 and the caller sends "+ ..." (or refuses, see there) before
 *   feeding on.
 * PARSE_ERR: *err_out says why; reply BAD (NO for IMAP_ERR_SINK) and go
 *   on.  The whole command was consumed: its remaining lines and any
 *   non-synchronising literals were skipped.  Errors are reported when
 *   the command ends, never in its middle, so the result does not
 *   depend on how the input was split; a command ending in a
 *   synchronising literal ends there (the client waits for "+"), which
 *   is how {2000000000} is refused at once, unread.
 * PARSE_FATAL: reply "* BYE" with err_out's text and close.  Only a
 *   non-synchronising literal above max_literal does this: RFC 7888 4
 *   offers reading and discarding it or closing, and we refuse to read
 *   an unbounded amount (a {n+} within max_literal that LITERAL- or the
 *   sink refuses is skipped, option 1).  The parser stays fatal.
 */
enum parse_rc imap_parse_feed(struct imap_parser *ps, struct span in,
    size_t *used_out, struct imap_cmd *cmd_out, struct imap_err *err_out)
    __attribute__((warn_unused_result));

/*
 * imap_parse_need_cont: 1 if the last feed stopped at a synchronising
 * literal whose continuation request is due (info_out, if not NULL,
 * describes it), else 0.  To refuse the literal instead (RFC 9051 7.5:
 * the server may answer the command with a tagged NO or BAD), reply and
 * call imap_parse_reset: the client sends nothing more for it.
 */
int imap_parse_need_cont(const struct imap_parser *ps,
    struct imap_lit_info *info_out);

/* imap_parse_reset: forget any partial command (a streaming literal
 * gets IMAP_SINK_ABORT).  Also for STARTTLS and COMPRESS boundaries. */
void imap_parse_reset(struct imap_parser *ps);

/* imap_parse_idle: 1 if no command is partly read. */
int imap_parse_idle(const struct imap_parser *ps);

#endif
