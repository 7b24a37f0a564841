/* SMTP command syntax (RFC 5321 4.1.1 and 4.1.2, RFC 6531, RFC 3030): a pure parser. */
/* SPDX-License-Identifier: ISC */
#include "common/smtp_cmd.h"

#include <string.h>
#include <strings.h>

#include "common/linebuf.h"

static const char *const verb_names[SMTP_VERB_MAX] = {
	"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP",
	"QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH", "LHLO",
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	return (unsigned)v < SMTP_VERB_MAX ? verb_names[v] : "?";
}

static enum parse_rc
cmd_fail(struct smtp_err *e, int code, const char *enh, const char *text)
{
	e->code = code;
	e->enh = enh;
	e->text = text;
	return PARSE_ERR;
}

static int
is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* A byte allowed inside a parameter value or an address: printable
 * ASCII, or any byte of a UTF-8 sequence (validated by the address
 * layer).  Controls and space end the token. */
static int
is_vchar8(uint8_t c)
{
	return c > 0x20 && c != 0x7f;
}

/* Skip a run of spaces; RFC 5321 wants exactly one, but real clients
 * send more ("MAIL FROM: <a@b>") and being strict gains nothing. */
static size_t
skip_sp(struct span s, size_t i)
{
	while (i < s.n && s.p[i] == ' ')
		i++;
	return i;
}

/*
 * Parse "<" [A-d-l ":"] Mailbox ">" starting at s.p[*i] (which is "<").
 * Quoted strings may hold ">" and "\"-escapes.  Sets cmd->path to the
 * Mailbox.  Returns 0, or -1 if the brackets or quotes do not balance.
 */
static int
cmd_path(struct span s, size_t *i, struct smtp_cmd *cmd)
{
	size_t j = *i + 1, start, end;
	int quoted = 0;

	/* A source route "@a,@b:" is obsolete and ignored (4.1.1.3,
	 * Appendix C), but still accepted. */
	if (j < s.n && s.p[j] == '@') {
		while (j < s.n && s.p[j] != ':' && s.p[j] != '>')
			j++;
		if (j == s.n || s.p[j] != ':')
			return -1;
		j++;
	}
	start = j;
	for (; j < s.n; j++) {
		uint8_t c = s.p[j];

		if (c >= 0x80)
			cmd->path_8bit = 1;
		if (quoted) {
			if (c == '\\') {
				if (++j == s.n)
					return -1;
				if (s.p[j] >= 0x80)
					cmd->path_8bit = 1;
			} else if (c == '"') {
				quoted = 0;
			}
			continue;
		}
		if (c == '"')
			quoted = 1;
		else if (c == '>')
			break;
		else if (c == '<' || c == ' ' || c < 0x20 || c == 0x7f)
			return -1;
	}
	if (j == s.n)
		return -1;
	end = j;
	cmd->path = span_make(s.p + start, end - start);
	*i = j + 1;
	return 0;
}

/* esmtp-param *(SP esmtp-param) from s.p[i] to the end. */
static int
cmd_params(struct span s, size_t i, struct smtp_cmd *cmd)
{
	while ((i = skip_sp(s, i)) < s.n) {
		size_t k = i;
		struct smtp_param *p;

		if (cmd->n_params == SMTP_MAX_PARAMS)
			return -1;
		if (!is_alnum(s.p[k]))
			return -1;
		while (k < s.n && (is_alnum(s.p[k]) || s.p[k] == '-'))
			k++;
		p = &cmd->params[cmd->n_params++];
		p->key = span_make(s.p + i, k - i);
		p->value = span_make(s.p + k, 0);
		if (k < s.n && s.p[k] == '=') {
			size_t v = ++k;

			while (k < s.n && is_vchar8(s.p[k]) && s.p[k] != '=')
				k++;
			if (k == v)
				return -1;
			p->value = span_make(s.p + v, k - v);
		}
		if (k < s.n && s.p[k] != ' ')
			return -1;
		i = k;
	}
	return 0;
}

/* "FROM:" / "TO:" then optional spaces then a path, then parameters. */
static enum parse_rc
cmd_mail_rcpt(struct span s, size_t i, struct smtp_cmd *cmd,
    struct smtp_err *err)
{
	int mail = cmd->verb == SMTP_MAIL;
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwn = strlen(kw);

	if (s.n - i < kwn || strncasecmp((const char *)s.p + i, kw, kwn) != 0)
		return cmd_fail(err, 501, "5.5.2", mail ?
		    "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
	i = skip_sp(s, i + kwn);
	if (i == s.n || s.p[i] != '<' || cmd_path(s, &i, cmd) != 0)
		return cmd_fail(err, 501, mail ? "5.1.7" : "5.1.3", mail ?
		    "Bad sender address syntax" :
		    "Bad recipient address syntax");
	if (cmd->path.n == 0) {
		if (!mail)
			return cmd_fail(err, 501, "5.1.3",
			    "Bad recipient address syntax");
		cmd->null_path = 1;
	}
	if (i < s.n && s.p[i] != ' ')
		return cmd_fail(err, 501, "5.5.4", "Bad parameter syntax");
	if (cmd_params(s, i, cmd) != 0)
		return cmd_fail(err, 501, "5.5.4", cmd->n_params ==
		    SMTP_MAX_PARAMS ? "Too many parameters" :
		    "Bad parameter syntax");
	return PARSE_OK;
}

/* "BDAT" SP chunk-size [SP "LAST"] (RFC 3030 2). */
static enum parse_rc
cmd_bdat(struct span s, size_t i, struct smtp_cmd *cmd, struct smtp_err *err)
{
	size_t start = i;
	uint64_t v = 0;

	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return cmd_fail(err, 501, "5.5.4", "Chunk size too big");
		v = v * 10 + (uint64_t)(s.p[i++] - '0');
	}
	if (i == start)
		return cmd_fail(err, 501, "5.5.4",
		    "Syntax: BDAT chunk-size [LAST]");
	cmd->chunk_size = v;
	i = skip_sp(s, i);
	if (i < s.n) {
		if (!span_eq_ci(span_make(s.p + i, s.n - i), "LAST"))
			return cmd_fail(err, 501, "5.5.4",
			    "Syntax: BDAT chunk-size [LAST]");
		cmd->last = 1;
	}
	return PARSE_OK;
}

enum parse_rc
smtp_cmd_parse(struct span line, struct smtp_cmd *cmd, struct smtp_err *err)
{
	size_t i = 0, vlen;
	int v;

	memset(cmd, 0, sizeof(*cmd));
	while (i < line.n && line.p[i] != ' ')
		i++;
	vlen = i;
	for (v = 0; v < SMTP_VERB_MAX; v++)
		if (span_eq_ci(span_make(line.p, vlen), verb_names[v]))
			break;
	if (v == SMTP_VERB_MAX)
		return cmd_fail(err, 500, "5.5.1", "Command unrecognized");
	cmd->verb = (enum smtp_verb)v;
	/* One space separates verb and arguments (4.1.1); tolerate more. */
	i = skip_sp(line, i);
	/* Trailing spaces are common from hand-typed sessions. */
	while (line.n > i && line.p[line.n - 1] == ' ')
		line.n--;

	switch (cmd->verb) {
	case SMTP_EHLO:
	case SMTP_HELO:
	case SMTP_LHLO:
		cmd->arg = span_make(line.p + i, line.n - i);
		if (cmd->arg.n == 0)
			return cmd_fail(err, 501, "5.5.4", cmd->verb == SMTP_HELO ?
			    "Syntax: HELO hostname" : cmd->verb == SMTP_LHLO ?
			    "Syntax: LHLO hostname" : "Syntax: EHLO hostname");
		return PARSE_OK;
	case SMTP_MAIL:
	case SMTP_RCPT:
		return cmd_mail_rcpt(line, i, cmd, err);
	case SMTP_BDAT:
		return cmd_bdat(line, i, cmd, err);
	case SMTP_DATA:
	case SMTP_RSET:
	case SMTP_QUIT:
	case SMTP_STARTTLS:
		if (i != line.n)
			return cmd_fail(err, 501, "5.5.4",
			    "Syntax error (no parameters allowed)");
		return PARSE_OK;
	case SMTP_AUTH: {
		size_t m = i;

		while (i < line.n && line.p[i] != ' ')
			i++;
		cmd->arg = span_make(line.p + m, i - m);
		if (cmd->arg.n == 0)
			return cmd_fail(err, 501, "5.5.4",
			    "Syntax: AUTH mechanism [initial-response]");
		i = skip_sp(line, i);
		if (i < line.n) {
			cmd->has_initial = 1;
			cmd->initial = span_make(line.p + i, line.n - i);
		}
		return PARSE_OK;
	}
	default:	/* NOOP, VRFY, EXPN, HELP: free text */
		cmd->arg = span_make(line.p + i, line.n - i);
		if ((cmd->verb == SMTP_VRFY || cmd->verb == SMTP_EXPN) &&
		    cmd->arg.n == 0)
			return cmd_fail(err, 501, "5.5.4", cmd->verb == SMTP_VRFY ?
			    "Syntax: VRFY address" : "Syntax: EXPN list");
		return PARSE_OK;
	}
}

const struct smtp_param *
smtp_param_find(const struct smtp_cmd *cmd, const char *key)
{
	size_t i;

	for (i = 0; i < cmd->n_params; i++)
		if (span_eq_ci(cmd->params[i].key, key))
			return &cmd->params[i];
	return NULL;
}

static int
is_hexup(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

int
smtp_xtext_valid(struct span s, size_t max)
{
	size_t i;

	if (s.n > max)
		return 0;
	for (i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];

		if (c == '+') {
			if (i + 2 >= s.n || !is_hexup(s.p[i + 1]) ||
			    !is_hexup(s.p[i + 2]))
				return 0;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return 0;
		}
	}
	return 1;
}

int
smtp_orcpt_valid(struct span s)
{
	size_t i;

	if (s.n > 500)
		return 0;
	for (i = 0; i < s.n && s.p[i] != ';'; i++)
		if (!is_alnum(s.p[i]) && s.p[i] != '-')
			return 0;
	if (i == 0 || i == s.n)
		return 0;
	return smtp_xtext_valid(span_make(s.p + i + 1, s.n - i - 1), 500);
}

int
smtp_param_u64(struct span v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v.n == 0 || v.n > 19)
		return -1;
	for (i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	*out = n;
	return 0;
}

const char *
smtp_line_error(int crlf_end, unsigned linebuf_flags)
{
	if (!crlf_end || (linebuf_flags & LINEBUF_F_BARE_CR))
		return "Bare CR or LF in command: lines end with CRLF";
	if (linebuf_flags & LINEBUF_F_NUL)
		return "NUL byte in command";
	return NULL;
}
