/* Unit tests for common/addr: parsing limits, UTF-8, normalisation, tags. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/addr.h"
#include "common/userdb.h"

/* A string of n copies of c, in a static buffer (one at a time). */
static const char *
rep(char c, size_t n)
{
	static char s[600];

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

struct parse_case {
	const char *in;
	int ok;
	const char *why;	/* expected message when !ok */
};

static void
check_parse(const struct parse_case *c)
{
	struct addr_parts ap;
	const char *why = NULL;
	int rc = addr_parse(span_cstr(c->in), &ap, &why);

	if (rc != (c->ok ? 0 : -1))
		fail_msg("%s: rc %d why %s", c->in, rc, why ? why : "-");
	if (!c->ok && c->why != NULL)
		assert_string_equal(why, c->why);
}

static void
test_parse_table(void **state)
{
	static const struct parse_case cases[] = {
		{ "a@b", 1, NULL },
		{ "first.last@example.org", 1, NULL },
		{ "x!#$%&'*+-/=?^_`{|}~@example.org", 1, NULL },
		{ "\"a b\"@example.org", 1, NULL },
		{ "\"a\\\"b\"@example.org", 1, NULL },
		{ "\"a@b\"@example.org", 1, NULL },
		{ "user@[192.0.2.1]", 1, NULL },
		{ "user@[IPv6:2001:db8::1]", 1, NULL },
		{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 1, NULL },
		{ "a@xn--bcher-kva.example", 1, NULL },
		{ "a@a-b.c", 1, NULL },
		{ "", 0, "empty address" },
		{ "ab", 0, "no @ in address" },
		{ "@b", 0, "empty local part" },
		{ "a@", 0, "empty domain" },
		{ ".a@b", 0, "local part has an empty atom "
		    "(leading or double dot)" },
		{ "a..b@c", 0, "local part has an empty atom "
		    "(leading or double dot)" },
		{ "a.@c", 0, "local part ends with a dot" },
		{ "a b@c", 0, "invalid character in local part" },
		{ "a\x01@c", 0, "invalid character in local part" },
		{ "a@b@c", 0, "invalid character in domain" },
		{ "\"\"@b", 0, "empty local part" },
		{ "\"ab@c", 0, "unterminated quoted local part" },
		{ "\"a\x01\"@c", 0, "control character in local part" },
		{ "\"a\"b@c", 0, "no @ after quoted local part" },
		{ "a@b..c", 0, "domain has an empty label" },
		{ "a@b.c.", 0, "domain has an empty label" },
		{ "a@-b.c", 0, "domain label starts or ends with a hyphen" },
		{ "a@b-.c", 0, "domain label starts or ends with a hyphen" },
		{ "a@b_c", 0, "invalid character in domain" },
		{ "a@[1.2.3]", 0, "invalid address literal" },
		{ "a@[IPv6:zz]", 0, "invalid address literal" },
		{ "a@[1.2.3.4", 0, "invalid address literal" },
		{ "a\xc3@b", 0, "malformed UTF-8 in local part" },
		{ "a\xc0\xaf@b", 0, "malformed UTF-8 in local part" },
		{ "a\xed\xa0\x80@b", 0, "malformed UTF-8 in local part" },
		{ "a\xc2\x85@b", 0, "malformed UTF-8 in local part" },
		{ "a@b\xff", 0, "malformed UTF-8 in domain" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_parse(&cases[i]);
}

static void
test_parse_nul(void **state)
{
	struct addr_parts ap;
	const char *why;

	assert_int_equal(addr_parse(span_make("a\0b@c", 5), &ap, &why), -1);
	assert_int_equal(addr_parse(span_make("a@c\0", 4), &ap, &why), -1);
	assert_int_equal(addr_parse(span_make("\"a\0\"@c", 6), &ap, &why),
	    -1);
}

static void
test_parse_parts(void **state)
{
	struct addr_parts ap;

	assert_int_equal(addr_parse(span_cstr("\"x y\"@[IPv6:::1]"), &ap,
	    NULL), 0);
	assert_true(span_eq(ap.local, "\"x y\""));
	assert_true(span_eq(ap.domain, "[IPv6:::1]"));
	assert_int_equal(ap.local_quoted, 1);
	assert_int_equal(ap.domain_literal, 1);
}

static void
test_limits(void **state)
{
	char a[700], label[64];
	const char *why;
	struct addr_parts ap;
	size_t i;

	/* local part: 64 ok, 65 not */
	snprintf(a, sizeof(a), "%s@b", rep('x', 64));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), 0);
	snprintf(a, sizeof(a), "%s@b", rep('x', 65));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), -1);
	assert_string_equal(why, "local part longer than 64 octets");
	/* quoted: the quotes count */
	snprintf(a, sizeof(a), "\"%s\"@b", rep('x', 62));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), 0);
	snprintf(a, sizeof(a), "\"%s\"@b", rep('x', 63));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), -1);

	/* label: 63 ok, 64 not */
	snprintf(a, sizeof(a), "a@%s.org", rep('l', 63));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), 0);
	snprintf(a, sizeof(a), "a@%s.org", rep('l', 64));
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), -1);
	assert_string_equal(why, "domain label longer than 63 octets");

	/* domain: 4 labels of 63 + 3 dots = 255 ok; one more char = 256 */
	memcpy(label, rep('d', 63), 63);
	label[63] = '\0';
	strcpy(a, "a@");
	for (i = 0; i < 4; i++) {
		if (i > 0)
			strcat(a, ".");
		strcat(a, label);
	}
	assert_int_equal(strlen(a) - 2, 255);
	/* ... but the whole address is then 257 octets, over 254 */
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), -1);
	assert_string_equal(why, "address longer than 254 octets");
	assert_true(addr_domain_valid(span_cstr(a + 2), &why));
	/* whole address: 254 ok, 255 not */
	{
		char big[1400], out[USERDB_ADDR_MAX];

		snprintf(big, sizeof(big), "%s@%s", rep('Q', 64), a + 2 + 66);
		assert_int_equal(strlen(big), 254);
		assert_int_equal(addr_normalize(big, out, sizeof(out)), 0);
		assert_int_equal(strlen(out), 254);
		assert_int_equal(addr_normalize(big, out, 254), -1);
		snprintf(big, sizeof(big), "%s@x%s", rep('Q', 64), a + 2 + 66);
		assert_int_equal(addr_normalize(big, out, sizeof(out)), -1);
	}
	a[2 + 63] = '\0';
	strcat(a, "d.");
	strcat(a, label);
	strcat(a, ".");
	strcat(a, label);
	strcat(a, ".");
	strcat(a, label);
	assert_int_equal(strlen(a) - 2, 256);
	assert_int_equal(addr_parse(span_cstr(a), &ap, &why), -1);
	assert_string_equal(why, "address longer than 254 octets");
	assert_false(addr_domain_valid(span_cstr(a + 2), &why));
	/* a domain of exactly 256 octets, every label valid */
	strcpy(a, label);
	strcat(a, ".");
	strcat(a, label);
	strcat(a, ".");
	strcat(a, label);
	strcat(a, ".");
	strcat(a, rep('e', 62));
	strcat(a, ".x");
	assert_int_equal(strlen(a), 256);
	assert_false(addr_domain_valid(span_cstr(a), &why));
	assert_string_equal(why, "domain longer than 255 octets");
	assert_true(addr_domain_valid(span_cstr(a + 1), &why));
}

struct norm_case {
	const char *in;
	const char *out;	/* NULL: must fail */
};

static void
test_normalize_table(void **state)
{
	static const struct norm_case cases[] = {
		{ "Bob@Example.ORG", "bob@example.org" },
		{ "\"bob\"@x.org", "bob@x.org" },
		{ "\"Bob.Smith\"@x.org", "bob.smith@x.org" },
		{ "\"A B\"@x.org", "\"a b\"@x.org" },
		{ "\"a\\b\"@x.org", "ab@x.org" },
		{ "\"a\\\"b\"@x.org", "\"a\\\"b\"@x.org" },
		{ "\"a..b\"@x.org", "\"a..b\"@x.org" },
		{ "J\xc3\x96rg@B\xc3\x9c" "CHER.de", "j\xc3\x96rg@b\xc3\x9c"
		    "cher.de" },
		{ "u@[IPv6:2001:DB8::1]", "u@[ipv6:2001:db8::1]" },
		{ "bad", NULL },
		{ "a@b..c", NULL },
	};
	char out[USERDB_ADDR_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = addr_normalize(cases[i].in, out, sizeof(out));

		if (cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("%s: accepted", cases[i].in);
			assert_string_equal(out, "");
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused", cases[i].in);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(addr_normalize("a@b", out, 3), -1);
	assert_int_equal(addr_normalize("a@b", out, 4), 0);
}

static void
test_tags(void **state)
{
	static const struct {
		const char *in;
		char delim;
		int rc;
		const char *out;
	} cases[] = {
		{ "bob+x@d.org", '+', 1, "bob@d.org" },
		{ "bob+x+y@d.org", '+', 1, "bob@d.org" },
		{ "bob+@d.org", '+', 1, "bob@d.org" },
		{ "bob@d.org", '+', 0, "bob@d.org" },
		{ "+x@d.org", '+', 0, "+x@d.org" },
		{ "bob+x@d.org", 0, 0, "bob+x@d.org" },
		{ "bob-x@d.org", '-', 1, "bob@d.org" },
		{ "\"b+x y\"@d.org", '+', 0, "\"b+x y\"@d.org" },
		{ "@d.org", '+', 0, "@d.org" },
	};
	char out[USERDB_ADDR_MAX];
	struct span base, tag;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = addr_strip_tag(cases[i].in, cases[i].delim, out,
		    sizeof(out));

		if (rc != cases[i].rc)
			fail_msg("%s: rc %d", cases[i].in, rc);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(addr_strip_tag("nodomain", '+', out, sizeof(out)),
	    -1);
	assert_int_equal(addr_strip_tag("a+b@c", '+', out, 3), -1);
	assert_int_equal(addr_strip_tag("a+b@c", '+', out, 4), 1);
	assert_int_equal(addr_split_tag(span_cstr("ab+cd"), '+', &base, &tag),
	    1);
	assert_true(span_eq(base, "ab"));
	assert_true(span_eq(tag, "cd"));
	assert_string_equal(addr_domain_of("a@b@c.org"), "c.org");
	assert_string_equal(addr_domain_of("@c.org"), "c.org");
}

static void
test_domain(void **state)
{
	char out[256];
	const char *why;

	assert_int_equal(addr_domain_normalize("Mail.Example.ORG", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "mail.example.org");
	assert_int_equal(addr_domain_normalize("[1.2.3.4]", out, sizeof(out)),
	    -1);
	assert_int_equal(addr_domain_normalize("ab", out, 2), -1);
	assert_false(addr_domain_valid(span_cstr("a b"), &why));
	assert_string_equal(why, "invalid character in domain");
	assert_true(addr_domain_valid(span_cstr("localhost"), NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_parse_parts),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
