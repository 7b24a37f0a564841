/* Mail address parsing and normalisation: local@domain per RFC 5321 and 6531. */
/* SPDX-License-Identifier: ISC */
#include "common/addr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/*
 * utf8_len: length of the well-formed UTF-8 sequence for one non-ASCII
 * character at p (at most n bytes), or 0 if malformed, overlong, a
 * surrogate, above U+10FFFF or a C1 control (U+0080..U+009F).
 */
static size_t
addr_utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

static int
addr_is_atext(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
addr_is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* 0 if s is a dot-atom (atoms of atext or UTF-8 joined by single dots). */
static int
addr_dot_atom(struct span s, const char **why_out)
{
	size_t i, u;
	int prev_dot = 1;

	if (s.n == 0) {
		*why_out = "empty local part";
		return -1;
	}
	for (i = 0; i < s.n; i++) {
		if (s.p[i] == '.') {
			if (prev_dot) {
				*why_out = "local part has an empty atom "
				    "(leading or double dot)";
				return -1;
			}
			prev_dot = 1;
			continue;
		}
		prev_dot = 0;
		if (s.p[i] >= 0x80) {
			if ((u = addr_utf8_len(s.p + i, s.n - i)) == 0) {
				*why_out = "malformed UTF-8 in local part";
				return -1;
			}
			i += u - 1;
		} else if (!addr_is_atext(s.p[i])) {
			*why_out = "invalid character in local part";
			return -1;
		}
	}
	if (prev_dot) {
		*why_out = "local part ends with a dot";
		return -1;
	}
	return 0;
}

/*
 * Scan a quoted-string at the start of s.  Returns its length including
 * both quotes, or 0 with *why_out.
 */
static size_t
addr_quoted_len(struct span s, const char **why_out)
{
	size_t i, u;

	for (i = 1; i < s.n; i++) {
		uint8_t c = s.p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (i + 1 >= s.n || s.p[i + 1] < 32 ||
			    s.p[i + 1] > 126) {
				*why_out = "invalid quoted pair in local part";
				return 0;
			}
			i++;
		} else if (c >= 0x80) {
			if ((u = addr_utf8_len(s.p + i, s.n - i)) == 0) {
				*why_out = "malformed UTF-8 in local part";
				return 0;
			}
			i += u - 1;
		} else if (c < 32 || c == 127) {
			*why_out = "control character in local part";
			return 0;
		}
	}
	*why_out = "unterminated quoted local part";
	return 0;
}

static int
addr_label(struct span l, const char **why_out)
{
	size_t i, u;

	if (l.n == 0) {
		*why_out = "domain has an empty label";
		return -1;
	}
	if (l.n > ADDR_LABEL_MAX) {
		*why_out = "domain label longer than 63 octets";
		return -1;
	}
	if (l.p[0] == '-' || l.p[l.n - 1] == '-') {
		*why_out = "domain label starts or ends with a hyphen";
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if (l.p[i] >= 0x80) {
			if ((u = addr_utf8_len(l.p + i, l.n - i)) == 0) {
				*why_out = "malformed UTF-8 in domain";
				return -1;
			}
			i += u - 1;
		} else if (!addr_is_alnum(l.p[i]) && l.p[i] != '-') {
			*why_out = "invalid character in domain";
			return -1;
		}
	}
	return 0;
}

int
addr_domain_valid(struct span d, const char **why_out)
{
	const char *dummy;
	size_t i, start = 0;

	if (why_out == NULL)
		why_out = &dummy;
	if (d.n == 0) {
		*why_out = "empty domain";
		return 0;
	}
	if (d.n > ADDR_DOMAIN_MAX) {
		*why_out = "domain longer than 255 octets";
		return 0;
	}
	for (i = 0; i <= d.n; i++) {
		if (i < d.n && d.p[i] != '.')
			continue;
		if (addr_label(span_make(d.p + start, i - start), why_out) < 0)
			return 0;
		start = i + 1;
	}
	return 1;
}

static int
addr_literal(struct span d, const char **why_out)
{
	char tmp[64];
	uint8_t bin[16];
	size_t n = d.n - 2;
	const uint8_t *p = d.p + 1;

	if (n >= sizeof(tmp) || n == 0 || memchr(p, 0, n) != NULL) {
		*why_out = "invalid address literal";
		return -1;
	}
	if (n > 5 && strncasecmp((const char *)p, "IPv6:", 5) == 0) {
		memcpy(tmp, p + 5, n - 5);
		tmp[n - 5] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) == 1)
			return 0;
	} else {
		memcpy(tmp, p, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, bin) == 1)
			return 0;
	}
	*why_out = "invalid address literal";
	return -1;
}

int
addr_parse(struct span in, struct addr_parts *out, const char **why_out)
{
	const char *dummy;
	size_t at;

	if (why_out == NULL)
		why_out = &dummy;
	memset(out, 0, sizeof(*out));
	if (in.n == 0) {
		*why_out = "empty address";
		return -1;
	}
	if (in.n > ADDR_MAX) {
		*why_out = "address longer than 254 octets";
		return -1;
	}
	if (in.p[0] == '"') {
		if ((at = addr_quoted_len(in, why_out)) == 0)
			return -1;
		if (at == 2) {
			*why_out = "empty local part";
			return -1;
		}
		if (at >= in.n || in.p[at] != '@') {
			*why_out = "no @ after quoted local part";
			return -1;
		}
		out->local_quoted = 1;
	} else {
		if (span_find_byte(in, '@', &at) == 0) {
			*why_out = "no @ in address";
			return -1;
		}
		if (addr_dot_atom(span_make(in.p, at), why_out) < 0)
			return -1;
	}
	if (at > ADDR_LOCAL_MAX) {
		*why_out = "local part longer than 64 octets";
		return -1;
	}
	out->local = span_make(in.p, at);
	out->domain = span_make(in.p + at + 1, in.n - at - 1);
	if (out->domain.n > 0 && out->domain.p[0] == '[') {
		if (out->domain.n > ADDR_DOMAIN_MAX) {
			*why_out = "domain longer than 255 octets";
			return -1;
		}
		if (out->domain.n < 3 ||
		    out->domain.p[out->domain.n - 1] != ']' ||
		    addr_literal(out->domain, why_out) < 0) {
			*why_out = "invalid address literal";
			return -1;
		}
		out->domain_literal = 1;
		return 0;
	}
	if (!addr_domain_valid(out->domain, why_out))
		return -1;
	return 0;
}

static char
addr_lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* Append one byte to out; -1 if it would not leave room for the NUL. */
static int
addr_put(char *out, size_t outsz, size_t *len, uint8_t c)
{
	if (*len + 1 >= outsz)
		return -1;
	out[(*len)++] = addr_lower(c);
	return 0;
}

/* Unquote the quoted local part q (quotes included) into tmp. */
static size_t
addr_unquote(struct span q, uint8_t *tmp)
{
	size_t i, n = 0;

	for (i = 1; i + 1 < q.n; i++) {
		if (q.p[i] == '\\')
			i++;
		tmp[n++] = q.p[i];
	}
	return n;
}

static int
addr_put_local(const struct addr_parts *ap, char *out, size_t outsz,
    size_t *len)
{
	uint8_t tmp[ADDR_LOCAL_MAX];
	const char *why;
	size_t i, n;

	if (!ap->local_quoted) {
		for (i = 0; i < ap->local.n; i++)
			if (addr_put(out, outsz, len, ap->local.p[i]) < 0)
				return -1;
		return 0;
	}
	n = addr_unquote(ap->local, tmp);
	if (addr_dot_atom(span_make(tmp, n), &why) == 0) {
		for (i = 0; i < n; i++)
			if (addr_put(out, outsz, len, tmp[i]) < 0)
				return -1;
		return 0;
	}
	if (addr_put(out, outsz, len, '"') < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if ((tmp[i] == '"' || tmp[i] == '\\') &&
		    addr_put(out, outsz, len, '\\') < 0)
			return -1;
		if (addr_put(out, outsz, len, tmp[i]) < 0)
			return -1;
	}
	return addr_put(out, outsz, len, '"');
}

int
addr_normalize(const char *in, char *out, size_t outsz)
{
	struct addr_parts ap;
	size_t i, len = 0;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (addr_parse(span_cstr(in), &ap, NULL) < 0)
		return -1;
	if (addr_put_local(&ap, out, outsz, &len) < 0 ||
	    addr_put(out, outsz, &len, '@') < 0)
		goto fail;
	for (i = 0; i < ap.domain.n; i++)
		if (addr_put(out, outsz, &len, ap.domain.p[i]) < 0)
			goto fail;
	out[len] = '\0';
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

int
addr_domain_normalize(const char *in, char *out, size_t outsz)
{
	size_t i, n = strlen(in);

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (!addr_domain_valid(span_make(in, n), NULL) || n >= outsz)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = addr_lower((uint8_t)in[i]);
	out[n] = '\0';
	return 0;
}

int
addr_split_tag(struct span local, char delim, struct span *base_out,
    struct span *tag_out)
{
	size_t off;

	*base_out = local;
	*tag_out = span_make(local.p + local.n, 0);
	if (delim == '\0' || (local.n > 0 && local.p[0] == '"'))
		return 0;
	if (span_find_byte(local, (uint8_t)delim, &off) == 0 || off == 0)
		return 0;
	*base_out = span_make(local.p, off);
	*tag_out = span_make(local.p + off + 1, local.n - off - 1);
	return 1;
}

int
addr_strip_tag(const char *addr, char delim, char *out, size_t outsz)
{
	struct span base, tag;
	const char *dom = addr_domain_of(addr);
	size_t need;
	int split;

	if (dom == addr)
		return -1;
	split = addr_split_tag(span_make(addr, (size_t)(dom - addr - 1)),
	    delim, &base, &tag);
	need = base.n + 1 + strlen(dom) + 1;
	if (need > outsz)
		return -1;
	memcpy(out, base.p, base.n);
	out[base.n] = '@';
	memcpy(out + base.n + 1, dom, strlen(dom) + 1);
	return split;
}

const char *
addr_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : addr;
}
