/* Unit tests for imapd/imap_sort: sort criteria, RFC 5256 2.1 base subjects, every SORT key with REVERSE, RFC 5957 display names. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/msgcache.h"
#include "imapd/imap_match.h"
#include "imapd/imap_parse.h"

/* ---- messages (as in test_imapd_match.c) ---- */

#include "tests/unit/imapd_tmsg.h"

/* ---- parsing a command's first argument ---- */

static uint8_t pmem[1 << 16];
static struct imap_arg pav[64];
static struct imap_cmd pcmd;

static const struct imap_arg *
first_arg(const char *line_args)
{
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_err err;
	char line[512];
	size_t used, n;

	imap_parse_limits_default(&lim);
	lim.max_args = 64;
	lim.max_line = 512;
	lim.max_inline = 256;
	lim.max_inline_total = 512;
	assert_true(imap_parse_mem_size(&lim) <= sizeof(pmem));
	assert_int_equal(imap_parse_init(&ps, &lim, pmem, sizeof(pmem), pav),
	    0);
	n = (size_t)snprintf(line, sizeof(line), "t SORT %s\r\n", line_args);
	assert_int_equal(imap_parse_feed(&ps, span_make(line, n), &used,
	    &pcmd, &err), PARSE_OK);
	return imap_args_at(pcmd.args, 0);
}

static const char *
crit_str(const char *args)
{
	static char out[256];
	static const char *const names[] = { "ARRIVAL", "CC", "DATE", "FROM",
	    "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO" };
	struct imap_sort_crit c;
	const char *why = NULL;
	size_t i, o = 0;

	if (imap_sort_parse(first_arg(args), &c, &why) != 0) {
		assert_non_null(why);
		snprintf(out, sizeof(out), "ERR %s", why);
		return out;
	}
	out[0] = 0;
	for (i = 0; i < c.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s%s",
		    i ? " " : "", c.reverse[i] ? "-" : "", names[c.key[i]]);
	return out;
}

static void
test_parse(void **state)
{
	char many[512];
	size_t i, o;

	(void)state;
	assert_string_equal(crit_str("(DATE)"), "DATE");
	assert_string_equal(crit_str("(reverse date Subject ARRIVAL cc "
	    "from size to displayfrom REVERSE DISPLAYTO)"),
	    "-DATE SUBJECT ARRIVAL CC FROM SIZE TO DISPLAYFROM -DISPLAYTO");
	assert_string_equal(crit_str("()"), "ERR Empty sort criteria");
	assert_string_equal(crit_str("(REVERSE)"),
	    "ERR REVERSE needs a sort criterion");
	assert_string_equal(crit_str("(REVERSE REVERSE DATE)"),
	    "ERR REVERSE REVERSE");
	assert_string_equal(crit_str("(DATES)"), "ERR Unknown sort criterion");
	assert_string_equal(crit_str("(\"DATE\")"),
	    "ERR Unknown sort criterion");
	assert_string_equal(crit_str("((DATE))"),
	    "ERR Unknown sort criterion");
	assert_string_equal(crit_str("DATE"),
	    "ERR Sort criteria must be a list");
	o = (size_t)snprintf(many, sizeof(many), "(");
	for (i = 0; i < IMAP_SORT_KEYS_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "SIZE ");
	snprintf(many + o - 1, sizeof(many) - o + 1, ")");
	assert_int_equal(strlen(crit_str(many)), IMAP_SORT_KEYS_MAX * 5 - 1);
	many[o - 1] = 0;
	strcat(many, " DATE)");
	assert_string_equal(crit_str(many), "ERR Too many sort criteria");
}

static void
test_base_subject(void **state)
{
	static const struct {
		const char *in, *want;
		int reply;
	} cases[] = {
		{ "", "", 0 },
		{ "Apple", "apple", 0 },
		{ "Re: Apple", "apple", 1 },
		{ "RE : Apple", "apple", 1 },
		{ "Fw: x (fwd)", "x", 1 },
		{ "FWD:x", "x", 1 },
		{ "apple (fwd)", "apple", 1 },
		{ "apple (fwd) (FWD)  ", "apple", 1 },
		{ "[list] Banana", "banana", 0 },
		{ "[a][b] subject", "subject", 0 },
		{ "[blob]", "[blob]", 0 },
		{ "[a] [b]", "[b]", 0 },
		{ "Fwd: [fwd: Cherry]", "cherry", 1 },
		{ "[fwd: Re: x]", "x", 1 },
		{ "[Fwd: [fwd: x] ]", "x", 1 },
		{ "[fwd: x] y", "y", 0 },
		{ "Re: [list] Re[2]: hello  world\t (fwd) (fwd)",
		    "hello world", 1 },
		{ "Re: Re: [PATCH] x", "x", 1 },
		{ "Reply: x", "reply: x", 0 },
		{ "re:", "", 1 },
		{ "  \t lots   of\r\n space  ", "lots of space", 0 },
		{ "=?UTF-8?Q?R=C3=89:_Caf=C3=A9?=", "r\xc3\xa9: caf\xc3\xa9",
		    0 },
		{ "=?UTF-8?Q?Re:_=D0=9F=D0=A0=D0=98?=", "\xd0\xbf\xd1\x80"
		    "\xd0\xb8", 1 },
		{ "Re: (fwd)", "", 1 },
	};
	struct buf b;
	size_t i;
	int reply;

	(void)state;
	buf_init(&b, 64, 4096);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		reply = -1;
		assert_int_equal(imap_base_subject(span_cstr(cases[i].in), &b,
		    &reply), 0);
		if (strcmp(buf_cstr(&b), cases[i].want) != 0 ||
		    reply != cases[i].reply)
			fail_msg("\"%s\": \"%s\" %d", cases[i].in,
			    buf_cstr(&b), reply);
	}
	buf_fini(&b);
}

/* ---- sorting a mailbox ---- */

#define NMSG 5
#define D0 1772409600LL	/* 2026-03-02 00:00:00 UTC */
static struct tmsg box[NMSG];
static struct imap_sort_msg smsgs[NMSG];

static int
setup(void **state)
{
	static const char *const texts[NMSG] = {
		"From: \"Zed\" <zed@a.example>\nTo: bob@x.example\n"
		"Subject: Re: Apple\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n"
		"\nbody\n",
		"From: alice@b.example\nTo: \"Carl\" <carl@x.example>\n"
		"Subject: apple (fwd)\nDate: 2 Mar 2026 05:00:00 -0800\n"
		"\nbody\n",
		"From: =?UTF-8?Q?=C3=89mile?= <emile@c.example>\n"
		"Cc: dan@x.example, aaron@x.example\n"
		"Subject: [list] Banana\n\nbody\n",
		"Date: 1 Mar 2026 00:00 GMT\n\nno from, no subject\n",
		"From: \"bob\" <BOB@d.example>\n"
		"Subject: Fwd: [fwd: Cherry]\n"
		"Date: Mon, 02 Mar 2026 12:00:00 +0200\n\nbody\n",
	};
	static const int64_t idate[NMSG] = { D0 + 500, D0 + 100, D0 + 50,
	    D0 + 300, D0 + 10 };
	static const uint64_t size[NMSG] = { 300, 100, 200, 200, 300 };
	size_t i;

	for (i = 0; i < NMSG; i++) {
		tmsg_init(&box[i], texts[i]);
		box[i].m.uid = (uint32_t)(i + 1) * 10;
		box[i].m.internaldate = idate[i];
		box[i].m.size = size[i];
		smsgs[i].mm = tmm(&box[i], (uint32_t)i + 1);
	}
	/* one without a blob: read from the file */
	box[2].no_blob = 1;
	smsgs[2].mm = tmm(&box[2], 3);
	(void)state;
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	for (i = 0; i < NMSG; i++)
		tmsg_fini(&box[i]);
	(void)state;
	return 0;
}

/* SORT args over msgs[0..n): the sequence numbers in order */
static const char *
sorted(const char *crit, const struct imap_sort_msg *msgs, size_t n)
{
	static char out[256];
	struct imap_sort_crit c;
	size_t order[16], i, o = 0;
	const char *why;

	assert_true(n <= 16);
	assert_int_equal(imap_sort_parse(first_arg(crit), &c, &why), 0);
	if (imap_sort(&c, msgs, n, order) != 0)
		return "ERR";
	out[0] = 0;
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%u",
		    i ? " " : "", msgs[order[i]].mm.seq);
	return out;
}

#define SORTED(crit, want) \
	assert_string_equal(sorted(crit, smsgs, NMSG), want)

static void
test_sort_keys(void **state)
{
	(void)state;
	SORTED("(ARRIVAL)", "5 3 2 4 1");
	SORTED("(REVERSE ARRIVAL)", "1 4 2 3 5");
	SORTED("(SIZE)", "2 3 4 1 5");
	/* REVERSE reverses its criterion only, not the sequence number
	 * tie-break (RFC 5256 3) */
	SORTED("(REVERSE SIZE)", "1 5 3 4 2");
	/* sent dates in UTC: 1 and 5 are both 10:00 UTC; 3 has no Date
	 * (internal date, 00:00:50); 4 is the day before */
	SORTED("(DATE)", "4 3 1 5 2");
	SORTED("(REVERSE DATE)", "2 1 5 3 4");
	/* addr-mailbox of the first address, case-insensitive; a missing
	 * field is the empty string, which comes first */
	SORTED("(FROM)", "4 2 5 3 1");
	SORTED("(TO)", "3 4 5 1 2");
	SORTED("(CC)", "1 2 4 5 3");
	SORTED("(REVERSE CC)", "3 1 2 4 5");
	SORTED("(SUBJECT)", "4 1 2 3 5");
	SORTED("(REVERSE SUBJECT)", "5 3 1 2 4");
	SORTED("(SUBJECT REVERSE DATE)", "4 2 1 3 5");
	SORTED("(SUBJECT SIZE REVERSE ARRIVAL)", "4 2 1 3 5");
	/* RFC 5957: display name, else the addr-spec */
	SORTED("(DISPLAYFROM)", "4 2 5 1 3");
	SORTED("(DISPLAYTO)", "3 4 5 1 2");
	SORTED("(REVERSE DISPLAYTO)", "2 1 3 4 5");
	SORTED("(SIZE DATE)", "2 4 3 1 5");
}

static void
test_sort_edges(void **state)
{
	struct imap_sort_crit c;
	const char *why;
	struct imap_sort_msg two[2];
	size_t order[2];

	(void)state;
	/* nothing and one message */
	assert_string_equal(sorted("(DATE)", smsgs, 0), "");
	assert_string_equal(sorted("(DATE)", smsgs + 3, 1), "4");
	/* ties keep sequence order even when the array is not in it */
	two[0] = smsgs[4];
	two[1] = smsgs[0];
	assert_string_equal(sorted("(DATE)", two, 2), "1 5");
	assert_string_equal(sorted("(REVERSE DATE)", two, 2), "1 5");
	/* a read error while a key needs the file */
	box[2].fail_read = 1;
	assert_int_equal(imap_sort_parse(first_arg("(FROM)"), &c, &why), 0);
	assert_int_equal(imap_sort(&c, smsgs, NMSG, (size_t[NMSG]){ 0 }), -1);
	/* ARRIVAL and SIZE read nothing */
	assert_int_equal(imap_sort_parse(first_arg("(SIZE)"), &c, &why), 0);
	assert_int_equal(imap_sort(&c, smsgs, NMSG, (size_t[NMSG]){ 0 }), 0);
	box[2].fail_read = 0;
	two[0] = smsgs[0];
	two[1] = smsgs[1];
	assert_int_equal(imap_sort_parse(first_arg("(ARRIVAL)"), &c, &why),
	    0);
	assert_int_equal(imap_sort(&c, two, 2, order), 0);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
}

static void
test_display(void **state)
{
	static const char *const texts[] = {
		"From: Team: z@q.example, y@q.example;\n\nx\n",
		"From: =?UTF-8?Q?Bob?= <zz@x.example>\n\nx\n",
		"From: <a@x.example>\n\nx\n",
		"From: \"\" <b@x.example>\n\nx\n",
		"To: =?UTF-8?B?w4lsaXNl?= <e@x.example>\n\nx\n",
	};
	struct tmsg t[5];
	struct imap_sort_msg m[5];
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		tmsg_init(&t[i], texts[i]);
		m[i].mm = tmm(&t[i], (uint32_t)i + 1);
	}
	/* "" (no From), "a@x.example", "b@x.example" (empty name),
	 * "bob" (decoded), "team" (the group) */
	assert_string_equal(sorted("(DISPLAYFROM)", m, 5), "5 3 4 2 1");
	/* FROM: the group's name is its addr-mailbox */
	assert_string_equal(sorted("(FROM)", m, 5), "5 3 4 1 2");
	/* DISPLAYTO: "élise" against four without To */
	assert_string_equal(sorted("(REVERSE DISPLAYTO)", m, 5), "5 1 2 3 4");
	for (i = 0; i < 5; i++)
		tmsg_fini(&t[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_sort_keys),
		cmocka_unit_test(test_sort_edges),
		cmocka_unit_test(test_display),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
