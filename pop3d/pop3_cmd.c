/* POP3 command line parser: verb table, argument counts, numbers, limits. */
/* SPDX-License-Identifier: ISC */
#include "pop3d/pop3_cmd.h"

#include <string.h>

/* How a verb's arguments are read. */
enum pop3_args {
	A_NONE,		/* no argument */
	A_WORD,		/* exactly one word */
	A_REST,		/* the rest of the line, not empty (PASS) */
	A_TWO_WORDS,	/* exactly two words (APOP) */
	A_AUTH,		/* mechanism, optional initial response */
	A_NUM_OPT,	/* an optional message number */
	A_NUM,		/* one message number */
	A_NUM_NUM,	/* message number and line count (TOP) */
};

static const struct {
	const char *name;
	enum pop3_args args;
} pop3_verbs[POP3_VERB_MAX] = {
	[POP3_USER] = { "USER", A_WORD },
	[POP3_PASS] = { "PASS", A_REST },
	[POP3_APOP] = { "APOP", A_TWO_WORDS },
	[POP3_AUTH] = { "AUTH", A_AUTH },
	[POP3_STLS] = { "STLS", A_NONE },
	[POP3_CAPA] = { "CAPA", A_NONE },
	[POP3_QUIT] = { "QUIT", A_NONE },
	[POP3_STAT] = { "STAT", A_NONE },
	[POP3_LIST] = { "LIST", A_NUM_OPT },
	[POP3_RETR] = { "RETR", A_NUM },
	[POP3_DELE] = { "DELE", A_NUM },
	[POP3_NOOP] = { "NOOP", A_NONE },
	[POP3_RSET] = { "RSET", A_NONE },
	[POP3_TOP] = { "TOP", A_NUM_NUM },
	[POP3_UIDL] = { "UIDL", A_NUM_OPT },
};

const char *
pop3_verb_name(enum pop3_verb v)
{
	return v < POP3_VERB_MAX ? pop3_verbs[v].name : "?";
}

/* Split at spaces into at most max words; -1 if there are more. */
static int
split_words(struct span s, struct span *w, unsigned max, unsigned *n_out)
{
	size_t i = 0, start;
	unsigned n = 0;

	for (;;) {
		while (i < s.n && s.p[i] == ' ')
			i++;
		if (i == s.n)
			break;
		if (n == max)
			return -1;
		start = i;
		while (i < s.n && s.p[i] != ' ')
			i++;
		w[n++] = span_make(s.p + start, i - start);
	}
	*n_out = n;
	return 0;
}

/* Decimal, no sign, at most 2^31 - 1 (RFC 1939 keeps numbers small). */
static int
parse_num(struct span s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.n == 0 || s.n > 10)
		return -1;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > 0x7fffffffu)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
find_verb(struct span name, enum pop3_verb *out)
{
	unsigned v;

	for (v = 0; v < POP3_VERB_MAX; v++)
		if (span_eq_ci(name, pop3_verbs[v].name)) {
			*out = (enum pop3_verb)v;
			return 0;
		}
	return -1;
}

static enum parse_rc
parse_nums(struct pop3_cmd *out, unsigned min, unsigned max,
    const char **why_out)
{
	unsigned i;

	if (out->n_args < min || out->n_args > max) {
		*why_out = "Wrong number of arguments";
		return PARSE_ERR;
	}
	for (i = 0; i < out->n_args; i++)
		if (parse_num(out->arg[i], &out->num[i]) != 0) {
			*why_out = "Invalid number";
			return PARSE_ERR;
		}
	return PARSE_OK;
}

static enum parse_rc
parse_args(struct span rest, struct pop3_cmd *out, const char **why_out)
{
	unsigned i;

	switch (pop3_verbs[out->verb].args) {
	case A_REST:
		/* one separating space; the password is the rest as sent */
		if (rest.n > 0 && rest.p[0] == ' ')
			rest = span_make(rest.p + 1, rest.n - 1);
		if (rest.n == 0 || rest.n > POP3_PASS_MAX) {
			*why_out = rest.n == 0 ? "Missing argument" :
			    "Argument too long";
			return PARSE_ERR;
		}
		out->arg[0] = rest;
		out->n_args = 1;
		return PARSE_OK;
	default:
		break;
	}
	if (split_words(rest, out->arg, 2, &out->n_args) != 0) {
		*why_out = "Too many arguments";
		return PARSE_ERR;
	}
	for (i = 0; i < out->n_args; i++) {
		/* AUTH's second word is the base64 initial response */
		size_t max = out->verb == POP3_AUTH && i == 1 ?
		    POP3_SASL_LINE_MAX : POP3_ARG_MAX;

		if (out->arg[i].n > max) {
			*why_out = "Argument too long";
			return PARSE_ERR;
		}
	}
	switch (pop3_verbs[out->verb].args) {
	case A_NONE:
		if (out->n_args != 0) {
			*why_out = "No arguments allowed";
			return PARSE_ERR;
		}
		return PARSE_OK;
	case A_WORD:
	case A_TWO_WORDS: {
		unsigned want = pop3_verbs[out->verb].args == A_WORD ? 1 : 2;

		if (out->n_args != want) {
			*why_out = "Wrong number of arguments";
			return PARSE_ERR;
		}
		return PARSE_OK;
	}
	case A_AUTH:
		/* RFC 5034 4: AUTH alone lists the mechanisms (as some
		 * clients and the older RFC 1734 practice expect). */
		return PARSE_OK;
	case A_NUM_OPT:
		return parse_nums(out, 0, 1, why_out);
	case A_NUM:
		return parse_nums(out, 1, 1, why_out);
	case A_NUM_NUM:
		return parse_nums(out, 2, 2, why_out);
	case A_REST:
		break;
	}
	return PARSE_OK;
}

enum parse_rc
pop3_cmd_parse(struct span line, struct pop3_cmd *out, const char **why_out)
{
	size_t i = 0;
	struct span name;

	memset(out, 0, sizeof(*out));
	*why_out = NULL;
	if (span_has_nul(line)) {
		*why_out = "NUL in command";
		return PARSE_ERR;
	}
	while (i < line.n && line.p[i] != ' ')
		i++;
	name = span_make(line.p, i);
	if (name.n == 0 || find_verb(name, &out->verb) != 0) {
		*why_out = "Unknown command";
		return PARSE_ERR;
	}
	/* AUTH may carry a long initial response; nothing else may pass
	 * RFC 2449's 255 octets. */
	if (line.n > (out->verb == POP3_AUTH ? POP3_SASL_LINE_MAX + 64 :
	    POP3_LINE_MAX)) {
		*why_out = "Line too long";
		return PARSE_ERR;
	}
	return parse_args(span_make(line.p + i, line.n - i), out, why_out);
}
