/* Config reader: error sink, line-checked tokenizer and value syntax. */
/* SPDX-License-Identifier: ISC */
#include "common/cfg_priv.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
cfg_errs_add(struct cfg_errs *e, unsigned line, unsigned col,
    const char *fmt, ...)
{
	char msg[CFG_MAX_STRING + 256];
	va_list ap;
	int rc;

	if (e->full)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		rc = buf_addf(e->out, "%s:%u:%u: %s\n", e->name, line, col, msg);
	else
		rc = buf_addf(e->out, "%s: %s\n", e->name, msg);
	/* A full caller buffer is as good as a full count: stop either way. */
	e->n++;
	if (rc == -1 || e->n >= CFG_MAX_ERRORS) {
		e->full = 1;
		if (buf_addf(e->out, "%s: too many errors, stopping\n",
		    e->name) == -1) {
			/* nothing more can be said */
		}
	}
}

void
cfg_lex_init(struct cfg_lex *lx, struct span in, struct cfg_errs *errs)
{
	memset(lx, 0, sizeof(*lx));
	lx->in = in;
	lx->errs = errs;
}

/* utf8_seq: length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* lex_check_line: report the first bad byte of the current line; -1 if any. */
static int
lex_check_line(struct cfg_lex *lx)
{
	const uint8_t *p = lx->in.p + lx->line_start;
	size_t n = lx->line_end - lx->line_start, i = 0, k;

	if (n > CFG_MAX_LINE) {
		cfg_errs_add(lx->errs, lx->line, CFG_MAX_LINE + 1,
		    "line too long (max %d bytes)", CFG_MAX_LINE);
		return -1;
	}
	while (i < n) {
		if (p[i] == '\0') {
			cfg_errs_add(lx->errs, lx->line, i + 1, "NUL byte");
			return -1;
		}
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
			cfg_errs_add(lx->errs, lx->line, i + 1,
			    "control character 0x%02x", p[i]);
			return -1;
		}
		if ((k = utf8_seq(p + i, n - i)) == 0) {
			cfg_errs_add(lx->errs, lx->line, i + 1,
			    "invalid UTF-8");
			return -1;
		}
		i += k;
	}
	return 0;
}

/* lex_begin_line: find the next line's bounds; 0 if it may be tokenized. */
static int
lex_begin_line(struct cfg_lex *lx)
{
	size_t nl;
	struct span rest = span_make(lx->in.p + lx->pos, lx->in.n - lx->pos);

	lx->line++;
	lx->line_start = lx->pos;
	if (span_find_byte(rest, '\n', &nl)) {
		lx->line_end = lx->pos + nl;
		lx->next_line = lx->line_end + 1;
	} else {
		lx->line_end = lx->next_line = lx->in.n;
	}
	if (lx->line_end > lx->line_start && lx->in.p[lx->line_end - 1] == '\r')
		lx->line_end--;
	if (lex_check_line(lx) == -1) {
		lx->pos = lx->line_end;
		return -1;
	}
	return 0;
}

static int
lex_is_word_byte(uint8_t c)
{
	return c != ' ' && c != '\t' && c != '#' && c != '=' && c != '{' &&
	    c != '}' && c != '"';
}

/* lex_string: a quoted string starting at lx->pos (the opening quote). */
static void
lex_string(struct cfg_lex *lx, struct cfg_tok *t)
{
	size_t i = lx->pos + 1, n = 0;
	const uint8_t *p = lx->in.p;

	while (i < lx->line_end && p[i] != '"') {
		uint8_t c = p[i];

		if (c == '\\') {
			if (i + 1 >= lx->line_end)
				break;
			c = p[++i];
			if (c != '"' && c != '\\') {
				cfg_errs_add(lx->errs, t->line,
				    i - lx->line_start,
				    "bad escape \"\\%c\" in string: only \\\" "
				    "and \\\\", c);
				goto fail;
			}
		}
		if (n == CFG_MAX_STRING) {
			cfg_errs_add(lx->errs, t->line, t->col,
			    "string too long (max %d bytes)", CFG_MAX_STRING);
			goto fail;
		}
		lx->str[n++] = c;
		i++;
	}
	if (i >= lx->line_end) {
		cfg_errs_add(lx->errs, t->line, t->col, "unterminated string");
		goto fail;
	}
	lx->pos = i + 1;
	t->type = CFG_TOK_STRING;
	t->v = span_make(lx->str, n);
	return;
fail:
	t->type = CFG_TOK_ERR;
	lx->pos = lx->line_end;
}

static void
lex_word(struct cfg_lex *lx, struct cfg_tok *t)
{
	size_t start = lx->pos;

	while (lx->pos < lx->line_end && lex_is_word_byte(lx->in.p[lx->pos]))
		lx->pos++;
	if (lx->pos - start > CFG_MAX_STRING) {
		cfg_errs_add(lx->errs, t->line, t->col,
		    "word too long (max %d bytes)", CFG_MAX_STRING);
		t->type = CFG_TOK_ERR;
		lx->pos = lx->line_end;
		return;
	}
	t->type = CFG_TOK_WORD;
	t->v = span_make(lx->in.p + start, lx->pos - start);
}

void
cfg_lex_next(struct cfg_lex *lx, struct cfg_tok *t)
{
	const uint8_t *p = lx->in.p;

	memset(t, 0, sizeof(*t));
	if (!lx->in_line) {
		if (lx->pos >= lx->in.n) {
			t->type = CFG_TOK_EOF;
			t->line = lx->line + 1;
			t->col = 1;
			return;
		}
		lx->in_line = 1;
		(void)lex_begin_line(lx);
	}
	while (lx->pos < lx->line_end && (p[lx->pos] == ' ' ||
	    p[lx->pos] == '\t'))
		lx->pos++;
	t->line = lx->line;
	t->col = lx->pos - lx->line_start + 1;
	if (lx->pos >= lx->line_end || p[lx->pos] == '#') {
		t->type = CFG_TOK_NL;
		lx->pos = lx->next_line;
		lx->in_line = 0;
		return;
	}
	switch (p[lx->pos]) {
	case '=':
		t->type = CFG_TOK_EQ;
		lx->pos++;
		break;
	case '{':
		t->type = CFG_TOK_LBRACE;
		lx->pos++;
		break;
	case '}':
		t->type = CFG_TOK_RBRACE;
		lx->pos++;
		break;
	case '"':
		lex_string(lx, t);
		break;
	default:
		lex_word(lx, t);
		break;
	}
}

const char *
cfg_lex_tok_name(enum cfg_tok_type type)
{
	switch (type) {
	case CFG_TOK_EOF:
		return "end of file";
	case CFG_TOK_NL:
		return "end of line";
	case CFG_TOK_WORD:
		return "a word";
	case CFG_TOK_STRING:
		return "a string";
	case CFG_TOK_EQ:
		return "\"=\"";
	case CFG_TOK_LBRACE:
		return "\"{\"";
	case CFG_TOK_RBRACE:
		return "\"}\"";
	case CFG_TOK_ERR:
		break;
	}
	return "an error";
}

/* val_digits: leading decimal digits of v into *out; their count. */
static size_t
val_digits(struct span v, uint64_t *out, int *overflow_out)
{
	uint64_t x = 0;
	size_t i;

	*overflow_out = 0;
	for (i = 0; i < v.n && v.p[i] >= '0' && v.p[i] <= '9'; i++) {
		unsigned d = v.p[i] - '0';

		if (x > (UINT64_MAX - d) / 10)
			*overflow_out = 1;
		else
			x = x * 10 + d;
	}
	*out = x;
	return i;
}

int
cfg_val_uint(struct span v, uint64_t *out)
{
	int ovf;
	size_t n = val_digits(v, out, &ovf);

	if (n == 0 || n != v.n)
		return CFG_VAL_BAD;
	return ovf ? CFG_VAL_RANGE : CFG_VAL_OK;
}

/* val_scaled: digits followed by one of the units; x * mult with checks. */
static int
val_scaled(struct span v, const char *const *units, const uint64_t *mult,
    size_t n_units, int fold, uint64_t *out)
{
	uint64_t x;
	int ovf;
	size_t n = val_digits(v, &x, &ovf), i;
	struct span unit = span_make(v.p + n, v.n - n);

	if (n == 0)
		return CFG_VAL_BAD;
	for (i = 0; i < n_units; i++)
		if (fold ? span_eq_ci(unit, units[i]) : span_eq(unit, units[i]))
			break;
	if (i == n_units)
		return CFG_VAL_BAD;
	if (ovf || (x && mult[i] > UINT64_MAX / x))
		return CFG_VAL_RANGE;
	*out = x * mult[i];
	return CFG_VAL_OK;
}

int
cfg_val_duration(struct span v, uint64_t *ms_out)
{
	static const char *const units[] = { "", "ms", "s", "m", "h", "d" };
	static const uint64_t mult[] = {
		1000, 1, 1000, 60000, 3600000, 86400000,
	};

	return val_scaled(v, units, mult, 6, 0, ms_out);
}

int
cfg_val_size(struct span v, uint64_t *out)
{
	static const char *const units[] = { "", "B", "K", "M", "G" };
	static const uint64_t mult[] = {
		1, 1, 1024, 1024 * 1024, 1024 * 1024 * 1024,
	};

	return val_scaled(v, units, mult, 5, 1, out);
}

int
cfg_val_bool(struct span v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (span_eq(v, yes[i])) {
			*out = 1;
			return CFG_VAL_OK;
		}
		if (span_eq(v, no[i])) {
			*out = 0;
			return CFG_VAL_OK;
		}
	}
	return CFG_VAL_BAD;
}

int
cfg_val_hostname(struct span v)
{
	size_t i, label = 0;

	if (v.n == 0 || v.n > 253)
		return CFG_VAL_BAD;
	for (i = 0; i < v.n; i++) {
		uint8_t c = v.p[i];

		if (c == '.') {
			if (label == 0 || v.p[i - 1] == '-')
				return CFG_VAL_BAD;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return CFG_VAL_BAD;
		if ((c == '-' && label == 0) || ++label > 63)
			return CFG_VAL_BAD;
	}
	return v.p[v.n - 1] == '-' ? CFG_VAL_BAD : CFG_VAL_OK;
}

/* val_host: '*', a dotted quad, or a host name (not all digits and dots). */
static int
val_host(struct span h)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in_addr a4;
	size_t i;

	if (span_eq(h, "*"))
		return CFG_VAL_OK;
	for (i = 0; i < h.n; i++)
		if (!((h.p[i] >= '0' && h.p[i] <= '9') || h.p[i] == '.'))
			return cfg_val_hostname(h);
	if (h.n == 0 || h.n >= sizeof(tmp))
		return CFG_VAL_BAD;
	memcpy(tmp, h.p, h.n);
	tmp[h.n] = '\0';
	return inet_pton(AF_INET, tmp, &a4) == 1 ? CFG_VAL_OK : CFG_VAL_BAD;
}

int
cfg_val_addr(struct span v, unsigned *port_out)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct span host, port;
	uint64_t x;
	size_t i;
	int rc;

	for (i = v.n; i > 0 && v.p[i - 1] != ':'; i--)
		;
	if (i == 0)
		return CFG_VAL_BAD;
	host = span_make(v.p, i - 1);
	port = span_make(v.p + i, v.n - i);
	if (host.n >= 2 && host.p[0] == '[' && host.p[host.n - 1] == ']') {
		if (host.n - 2 >= sizeof(tmp))
			return CFG_VAL_BAD;
		memcpy(tmp, host.p + 1, host.n - 2);
		tmp[host.n - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return CFG_VAL_BAD;
	} else if (val_host(host) != CFG_VAL_OK) {
		return CFG_VAL_BAD;
	}
	if ((rc = cfg_val_uint(port, &x)) == CFG_VAL_BAD)
		return CFG_VAL_BAD;
	if (rc == CFG_VAL_RANGE || x > 999999)
		x = 999999;
	*port_out = (unsigned)x;
	return x >= 1 && x <= 65535 ? CFG_VAL_OK : CFG_VAL_RANGE;
}

void
cfg_fmt_duration(uint64_t ms, char *out, size_t outsz)
{
	static const struct { const char *u; uint64_t m; } units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		{ "s", 1000 },
	};
	size_t i;

	for (i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++)
		if (ms % units[i].m == 0) {
			snprintf(out, outsz, "%llu%s",
			    (unsigned long long)(ms / units[i].m), units[i].u);
			return;
		}
	snprintf(out, outsz, ms ? "%llums" : "%llu", (unsigned long long)ms);
}

void
cfg_fmt_size(uint64_t n, char *out, size_t outsz)
{
	static const char *const units[] = { "G", "M", "K" };
	uint64_t m = 1024ULL * 1024 * 1024;
	size_t i;

	for (i = 0; n && i < 3; i++, m /= 1024)
		if (n % m == 0) {
			snprintf(out, outsz, "%llu%s",
			    (unsigned long long)(n / m), units[i]);
			return;
		}
	snprintf(out, outsz, "%llu", (unsigned long long)n);
}
