/* The SMTP and LMTP command-line parser: pure, one CRLF-stripped line in, one command out. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_SMTP_CMD_H
#define LB_SMTP_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

enum smtp_verb {
	SMTP_EHLO = 0, SMTP_HELO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_BDAT,
	SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_EXPN, SMTP_HELP,
	SMTP_STARTTLS, SMTP_AUTH,
	SMTP_LHLO,		/* LMTP (RFC 2033 4.1); smtpd refuses it */
	SMTP_VERB_MAX
};

#define SMTP_MAX_PARAMS 16

struct smtp_param {
	struct span key;	/* esmtp-keyword, as sent */
	struct span value;	/* esmtp-value; n == 0 when absent */
};

/* Every span points into the line passed to smtp_cmd_parse. */
struct smtp_cmd {
	enum smtp_verb verb;
	/* EHLO/HELO: the domain or address literal; VRFY, EXPN, HELP, NOOP:
	 * the argument text (may be empty); AUTH: the mechanism. */
	struct span arg;
	struct span initial;	/* AUTH initial response, or empty */
	int has_initial;
	/* MAIL/RCPT: the mailbox between < and > without any source route;
	 * empty for the null reverse-path "<>". */
	struct span path;
	int null_path;		/* MAIL FROM:<> */
	int path_8bit;		/* path holds non-ASCII (needs SMTPUTF8) */
	struct smtp_param params[SMTP_MAX_PARAMS];
	size_t n_params;
	uint64_t chunk_size;	/* BDAT */
	int last;		/* BDAT ... LAST */
};

/* What to answer when parsing fails: a complete reply minus the CRLF. */
struct smtp_err {
	int code;		/* 500 or 501 */
	const char *enh;	/* RFC 3463 enhanced code, "5.5.2" */
	const char *text;
};

/*
 * smtp_cmd_parse: line is one command without its CRLF (the line reader
 * has already capped its length and refused NUL and bare CR/LF).  Checks
 * syntax only (RFC 5321 4.1.1, 4.1.2; RFC 6531 for UTF-8 in paths and
 * values; RFC 3030 for BDAT); whether the command is allowed now is the
 * session's business.  PARSE_OK fills *cmd_out; PARSE_ERR fills *err_out.
 * Pure: no I/O, no allocation.
 */
enum parse_rc smtp_cmd_parse(struct span line, struct smtp_cmd *cmd_out,
    struct smtp_err *err_out);

/* smtp_verb_name: "EHLO", ... */
const char *smtp_verb_name(enum smtp_verb v);

/* smtp_param_find: the parameter whose keyword equals key ignoring case,
 * or NULL. */
const struct smtp_param *smtp_param_find(const struct smtp_cmd *cmd,
    const char *key);

/* smtp_param_u64: a parameter value of 1 to 19 decimal digits (SIZE=). 0,
 * or -1 if it is anything else. */
int smtp_param_u64(struct span v, uint64_t *out);

/* smtp_line_error: why a command line that the line reader delivered with
 * this end and these LINEBUF_F_* flags must be refused (a 500 5.5.2
 * text), or NULL if it is fine.  Only CRLF ends a command, and NUL or a
 * bare CR has no place in one. */
const char *smtp_line_error(int crlf_end, unsigned linebuf_flags);

/* smtp_xtext_valid: 1 if s is RFC 3461 4 xtext ("+" followed by two
 * uppercase hex digits, or any of "!".."~" but "+" and "="), at most max
 * octets; 0 otherwise. */
int smtp_xtext_valid(struct span s, size_t max);

/* smtp_orcpt_valid: 1 if s is "addr-type;xtext" (RFC 3461 4.2) with an
 * atom for the type, at most 500 octets. */
int smtp_orcpt_valid(struct span s);

#endif
