/* Config reader internals shared by cfg.c, cfg_lex.c and their unit test. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CFG_PRIV_H
#define LB_CFG_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define CFG_MAX_FILE	(1024 * 1024)	/* bytes in the whole file */
#define CFG_MAX_LINE	4096		/* bytes on one line, without CR LF */
#define CFG_MAX_STRING	1024		/* bytes in one word or string */
#define CFG_MAX_ERRORS	20		/* then stop */

/* Error sink: one "NAME:LINE:COL: message\n" line per error in out. */
struct cfg_errs {
	const char *name;
	struct buf *out;
	unsigned n;
	int full;		/* CFG_MAX_ERRORS reached: stop parsing */
};

/* cfg_errs_add: append one error at line:col (line 0: no position). */
void cfg_errs_add(struct cfg_errs *e, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

enum cfg_tok_type {
	CFG_TOK_EOF = 0,
	CFG_TOK_NL,		/* end of a line (comments are skipped) */
	CFG_TOK_WORD,		/* bare word, v points into the input */
	CFG_TOK_STRING,		/* "quoted", v is unescaped lexer scratch */
	CFG_TOK_EQ,
	CFG_TOK_LBRACE,
	CFG_TOK_RBRACE,
	CFG_TOK_ERR,		/* already reported; rest of line skipped */
};

struct cfg_tok {
	enum cfg_tok_type type;
	struct span v;
	unsigned line, col;	/* 1-based; col counts bytes */
};

/*
 * The lexer works a line at a time: before a line yields any token it is
 * checked for length, NUL, control bytes and UTF-8, and a bad line is
 * reported once and skipped.  A STRING token's bytes live in str and are
 * valid only until the next cfg_lex_next call.
 */
struct cfg_lex {
	struct span in;
	size_t pos;		/* next byte to look at */
	size_t line_end;	/* end of the current line's content */
	size_t next_line;	/* start of the following line */
	unsigned line;
	size_t line_start;
	int in_line;
	struct cfg_errs *errs;
	uint8_t str[CFG_MAX_STRING];
};

void cfg_lex_init(struct cfg_lex *lx, struct span in, struct cfg_errs *errs);
void cfg_lex_next(struct cfg_lex *lx, struct cfg_tok *t_out);
/* cfg_lex_tok_name: a short description of a token for messages. */
const char *cfg_lex_tok_name(enum cfg_tok_type type);

/* Value syntax.  Each returns one of these; none reports errors itself. */
enum cfg_val_rc {
	CFG_VAL_OK = 0,
	CFG_VAL_BAD = -1,	/* not of that form */
	CFG_VAL_RANGE = -2,	/* well formed but too big (or port 0) */
};

/* Unsigned decimal integer, no sign, no spaces. */
int cfg_val_uint(struct span v, uint64_t *out);
/* Integer with unit ms, s, m, h or d; a bare integer means seconds. */
int cfg_val_duration(struct span v, uint64_t *ms_out);
/* Integer with unit B, K, M or G (any case, powers of 1024); bare = bytes. */
int cfg_val_size(struct span v, uint64_t *out);
/* yes/no, true/false, on/off (lower case). */
int cfg_val_bool(struct span v, int *out);
/* A DNS host name: letters, digits, '-' and '.', labels 1..63, max 253. */
int cfg_val_hostname(struct span v);
/*
 * HOST:PORT, [IPV6]:PORT or *:PORT.  HOST is a dotted quad or a host name.
 * CFG_VAL_RANGE with *port_out set when only the port is out of 1..65535
 * (*port_out is then the value, capped at 999999).
 */
int cfg_val_addr(struct span v, unsigned *port_out);

/* Render a duration (ms) or a size in the largest exact unit: "15m", "64M". */
void cfg_fmt_duration(uint64_t ms, char *out, size_t outsz);
void cfg_fmt_size(uint64_t n, char *out, size_t outsz);

#endif
