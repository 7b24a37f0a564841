/* POP3 command line parser (RFC 1939, 2449, 5034, 2595): pure, no I/O. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_POP3_CMD_H
#define LB_POP3_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

/*
 * Limits.  RFC 2449 4: a command line is at most 255 octets with its
 * CRLF and an argument at most 40; we take PASS (a password may hold
 * spaces and be long) and AUTH's initial response (RFC 5034 4) up to
 * their own limits, and everything else by the RFC.
 */
#define POP3_LINE_MAX 253		/* RFC 2449: 255 with CRLF */
#define POP3_ARG_MAX 40			/* RFC 2449 4 */
#define POP3_PASS_MAX 253		/* the rest of a PASS line */
#define POP3_SASL_LINE_MAX 2048		/* AUTH with initial response,
					 * and SASL response lines */

enum pop3_verb {
	POP3_USER = 0,
	POP3_PASS,
	POP3_APOP,
	POP3_AUTH,
	POP3_STLS,
	POP3_CAPA,
	POP3_QUIT,
	POP3_STAT,
	POP3_LIST,
	POP3_RETR,
	POP3_DELE,
	POP3_NOOP,
	POP3_RSET,
	POP3_TOP,
	POP3_UIDL,
	POP3_VERB_MAX
};

struct pop3_cmd {
	enum pop3_verb verb;
	unsigned n_args;		/* 0..2 */
	struct span arg[2];		/* borrowed from the line */
	uint32_t num[2];		/* numeric args (LIST UIDL RETR DELE
					 * TOP), valid for i < n_args */
};

/*
 * pop3_cmd_parse: one command line (no CRLF; may hold any byte) into
 * *out.  The verb is case-insensitive; arguments are separated by one
 * or more spaces.  Checks per verb: the number of arguments, that
 * numeric ones are decimal without sign and fit in 31 bits (message
 * numbers and TOP's line count), and the lengths above.  Message numbers
 * of 0 or past the maildrop are the caller's to refuse.
 *
 * PARSE_OK: *out is the command.
 * PARSE_ERR: *why_out is a short text for "-ERR TEXT" (unknown command,
 *   wrong arguments, NUL, line too long); the session goes on.
 * Never PARSE_MORE or PARSE_FATAL: lines come whole from the splitter.
 */
enum parse_rc pop3_cmd_parse(struct span line, struct pop3_cmd *out,
    const char **why_out) __attribute__((warn_unused_result));

/* pop3_verb_name: "USER", "RETR", ... */
const char *pop3_verb_name(enum pop3_verb v);

#endif
