/* Unit tests for imapd/imap_match: every SEARCH key on real messages (blobs from msgcache), dates and zones, encoded words, encoded bodies, chunk boundaries. */
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
#include "imapd/imap_match_priv.h"
#include "imapd/imap_parse.h"
#include "imapd/imap_search.h"

/* ---- messages ---- */

#include "tests/unit/imapd_tmsg.h"

/* ---- the mailbox ---- */

#define NMSG 5
static struct tmsg box[NMSG];

static const char msg1[] =
    "Date: Mon, 02 Mar 2026 23:30:00 -0500\n"
    "From: =?UTF-8?Q?J=C3=B6hn_Doe?= <john@example.com>\n"
    "To: alice@example.org, Team: bob@b.example, carol@c.example;\n"
    "Cc: =?ISO-8859-1?Q?Ren=E9e?= <renee@ex.net>\n"
    "Bcc: hidden@secret.example\n"
    "Subject: =?ISO-8859-1?Q?Caf=E9?= meeting\n"
    "Message-ID: <m1@example.com>\n"
    "X-Priority: 1\n"
    "X-Long: first line\n"
    "  continued here\n"
    "\n"
    "Hello World, let's meet at the caf\xc3\xa9.\n";

static const char msg2[] =
    "Date: 1 Mar 2026 00:10:00 +0100\n"
    "From: \"Greek Sender\" <gs@hellas.example>\n"
    "To: =?UTF-8?B?zprOsc67zrfOvM6tz4HOsQ==?= <k@gr.example>\n"
    "Subject: Re: [list] Multipart\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"BB\"\n"
    "\n"
    "preamble has prewords\n"
    "--BB\n"
    "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Gr=FC=DFe aus M=FCnchen, a soft=\n"
    "break here.\n"
    "--BB\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    /* "<p>ΚΑΛΗΜΕΡΑ κόσμε Привет</p>" */
    "PHA+zprOkc6bzpfOnM6VzqHOkSDOus+Mz4POvM61INCf0YDQuNCy0LXRgjwvcD4=\n"
    "--BB\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "c2VjcmV0d29yZA==\n"
    "--BB\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner subject\n"
    "From: inner@x.example\n"
    "\n"
    "inner body text\n"
    "--BB--\n"
    "epilogue\n";

static const char msg4[] =
    "From: bob@site.com\n"
    "Subject: no blob here\n"
    "Date: Sun, 1 Mar 2026 00:10 +0100\n"
    "X-Empty:\n"
    "\n"
    "body of four\n";

static void
make_big(struct tmsg *t)
{
	struct buf b;
	size_t i, body = 0;
	static const char head[] =
	    "From: big@example.com\nSubject: big one\n\n";

	buf_init(&b, 65536, 1 << 22);
	assert_int_equal(buf_addstr(&b, head), 0);
	/* body offsets count the CR tmsg_init adds: NEEDLEXYZ straddles
	 * body byte 16384 (IMT_CHUNK, the decoder's output), OTHERWORD
	 * the reader's 5000-byte reads at 25000 */
	for (i = 0; body < 40000; i++) {
		const char *add = (i % 70) == 69 ? "\n" : "a";

		if (body == 16380)
			add = "NEEDLEXYZ";
		else if (body == 24995)
			add = "OTHERWORD";
		assert_int_equal(buf_addstr(&b, add), 0);
		body += *add == '\n' ? 2 : strlen(add);
	}
	assert_int_equal(buf_addstr(&b, "\n"), 0);
	tmsg_init(t, buf_cstr(&b));
	assert_memory_equal(t->text.data + strlen(head) + 3 + 16380,
	    "NEEDLEXYZ", 9);
	assert_memory_equal(t->text.data + strlen(head) + 3 + 24995,
	    "OTHERWORD", 9);
	buf_fini(&b);
}

/* 2026-03-02 00:00:00 UTC */
#define D0302 1772409600LL

static int
setup(void **state)
{
	static const char msg3[] =
	    "From: \"Anna\" <anna@example.com>\n"
	    "Subject: =?UTF-8?Q?=D0=9F=D0=A0=D0=98=D0=92=D0=95=D0=A2?= all\n"
	    "Date: garbage\n"
	    "X-Dup: one\n"
	    "X-Dup: two\n"
	    "\n"
	    "short\n";

	tmsg_init(&box[0], msg1);
	tmsg_init(&box[1], msg2);
	tmsg_init(&box[2], msg3);
	tmsg_init(&box[3], msg4);
	make_big(&box[4]);
	box[3].no_blob = 1;
	box[0].m = (struct mailidx_msg){ .uid = 10, .modseq = 5,
	    .flags = MAILIDX_F_SEEN | MAILIDX_F_ANSWERED, .keywords = 1,
	    .size = 500, .internaldate = D0302 + 3600,
	    .savedate = D0302 + 86400, .emailid = 0x4d2, .threadid = 7 };
	box[1].m = (struct mailidx_msg){ .uid = 20, .modseq = 9,
	    .flags = MAILIDX_F_FLAGGED, .keywords = 2, .size = 1500,
	    .internaldate = D0302 - 1, .savedate = 0, .emailid = 2 };
	box[2].m = (struct mailidx_msg){ .uid = 30, .modseq = 12,
	    .flags = MAILIDX_F_DELETED | MAILIDX_F_DRAFT, .size = 1000,
	    .internaldate = D0302 + 86399, .savedate = D0302 + 86399,
	    .emailid = 3 };
	box[3].m = (struct mailidx_msg){ .uid = 31, .modseq = 1,
	    .size = 200, .internaldate = D0302 - 86400 * 10,
	    .savedate = D0302, .emailid = 4 };
	box[4].m = (struct mailidx_msg){ .uid = 45, .modseq = 3,
	    .flags = MAILIDX_F_SEEN, .size = 40100,
	    .internaldate = D0302 + 86400 * 3, .savedate = D0302 + 86400 * 3,
	    .emailid = 5 };
	box[1].recent = 1;
	box[3].recent = 1;
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

static int
kw_id(void *arg, struct span name)
{
	(void)arg;
	if (span_eq_ci(name, "$Forwarded"))
		return 0;
	if (span_eq_ci(name, "Work"))
		return 1;
	if (span_eq_ci(name, "Unused"))
		return 5;
	return -1;
}

/* ---- running a search ---- */

static int zone = 0;
static struct imap_seq_range saved_r[8];
static struct imap_seq saved;

/* "t SEARCH <args>" over the mailbox: the matching sequence numbers,
 * space-separated, or "ERR" if a read failed */
static const char *
search(const char *args)
{
	static uint8_t mem[1 << 16];
	static struct imap_arg av[256];
	static struct imap_snode nodes[128];
	static char line[4096], out[256];
	struct imap_parse_limits lim;
	struct imap_parser ps;
	struct imap_cmd cmd;
	struct imap_err err;
	struct imap_search s;
	struct imap_search_err serr;
	struct imap_match_ctx c;
	size_t used, n, i, o = 0;
	enum parse_rc rc;

	imap_parse_limits_default(&lim);
	lim.max_args = 256;
	lim.max_line = 4096;
	lim.max_inline = 1024;
	lim.max_inline_total = 4096;
	lim.utf8 = 1;
	assert_true(imap_parse_mem_size(&lim) <= sizeof(mem));
	assert_int_equal(imap_parse_init(&ps, &lim, mem, sizeof(mem), av), 0);
	n = (size_t)snprintf(line, sizeof(line), "t SEARCH %s\r\n", args);
	rc = imap_parse_feed(&ps, span_make(line, n), &used, &cmd, &err);
	while (rc == PARSE_MORE && imap_parse_need_cont(&ps, NULL)) {
		size_t off = used;

		rc = imap_parse_feed(&ps, span_make(line + off, n - off), &used,
		    &cmd, &err);
		used += off;
	}
	if (rc != PARSE_OK)
		fail_msg("\"%s\": command: %s", args, err.text);
	if (imap_search_parse(cmd.args, nodes, 128, &s, &serr) != 0)
		fail_msg("\"%s\": search: %s", args, serr.text);
	memset(&c, 0, sizeof(c));
	c.s = &s;
	c.n_msgs = NMSG;
	c.max_uid = 45;
	c.saved = &saved;
	c.keyword_id = kw_id;
	c.now = D0302 + 86400 * 3 + 100;
	c.zone_min = zone;
	out[0] = 0;
	for (i = 0; i < NMSG; i++) {
		struct imap_match_msg mm = tmm(&box[i], (uint32_t)i + 1);
		int r = imap_match(&c, &mm);

		if (r < 0)
			return "ERR";
		if (r)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%zu",
			    o ? " " : "", i + 1);
	}
	return out;
}

#define S(args, want) assert_string_equal(search(args), want)

static void
test_flags(void **state)
{
	(void)state;
	S("ALL", "1 2 3 4 5");
	S("SEEN", "1 5");
	S("UNSEEN", "2 3 4");
	S("ANSWERED", "1");
	S("UNANSWERED", "2 3 4 5");
	S("FLAGGED", "2");
	S("UNFLAGGED", "1 3 4 5");
	S("DELETED", "3");
	S("UNDELETED", "1 2 4 5");
	S("DRAFT", "3");
	S("UNDRAFT", "1 2 4 5");
	S("RECENT", "2 4");
	S("NEW", "2 4");
	S("OLD", "1 3 5");
	S("SAVEDATESUPPORTED", "1 2 3 4 5");
	S("KEYWORD $Forwarded", "1");
	S("KEYWORD work", "2");
	S("UNKEYWORD Work", "1 3 4 5");
	S("KEYWORD Unused", "");
	S("KEYWORD nosuch", "");
	S("UNKEYWORD nosuch", "1 2 3 4 5");
}

static void
test_sets(void **state)
{
	(void)state;
	S("1", "1");
	S("2:3", "2 3");
	S("*", "5");
	S("4:*", "4 5");
	S("*:4", "4 5");
	S("1,3,5", "1 3 5");
	S("UID 10", "1");
	S("UID 20:30", "2 3");
	S("UID *", "5");
	S("UID 31:*", "4 5");
	S("UID 100:*", "5");
	S("UID 1:9", "");
	S("UID 11,21,31", "4");
	assert_int_equal(imap_seq_add(&saved, 20, 20), 0);
	assert_int_equal(imap_seq_add(&saved, 45, 45), 0);
	S("UID $", "2 5");
	S("$", "2 5");
	S("NOT $", "1 3 4");
}

static void
test_sizes_dates(void **state)
{
	(void)state;
	S("LARGER 1000", "2 5");
	S("SMALLER 1000", "1 4");
	S("LARGER 999 SMALLER 1001", "3");
	/* internal dates in UTC */
	S("ON 2-Mar-2026", "1 3");
	S("BEFORE 2-Mar-2026", "2 4");
	S("SINCE 2-Mar-2026", "1 3 5");
	S("SINCE 5-Mar-2026", "5");
	S("ON 1-Mar-2026", "2");
	/* the server's zone moves midnight: UTC+01:00 puts message 3
	 * (23:59:59 UTC) on 3 March and message 2 (23:59:59 the day before)
	 * on 2 March */
	zone = 60;
	S("ON 2-Mar-2026", "1 2");
	S("ON 3-Mar-2026", "3");
	zone = -120;
	S("ON 2-Mar-2026", "3");
	S("ON 1-Mar-2026", "1 2");
	zone = 0;
	/* SENT*: the Date header's date as written, in its own zone:
	 * message 1 is 3 March in UTC but 2 March as written; message 4
	 * (read from the file: no blob) is 1 March as written, 28 Feb in
	 * UTC; message 3's Date does not parse and message 5 has none: the
	 * internal date counts */
	S("SENTON 2-Mar-2026", "1 3");
	S("SENTON 1-Mar-2026", "2 4");
	S("SENTBEFORE 2-Mar-2026", "2 4");
	S("SENTSINCE 3-Mar-2026", "5");
	S("SENTSINCE 1-Mar-2026 SENTBEFORE 5-Mar-2026", "1 2 3 4");
	/* SAVED*: message 2 has no save date: its internal date counts */
	S("SAVEDON 3-Mar-2026", "1");
	S("SAVEDON 2-Mar-2026", "3 4");
	S("SAVEDBEFORE 2-Mar-2026", "2");
	S("SAVEDSINCE 4-Mar-2026", "5");
	/* now is message 5's internal date + 100 s */
	S("OLDER 100", "1 2 3 4 5");
	S("OLDER 101", "1 2 3 4");
	S("YOUNGER 100", "5");
	S("YOUNGER 99", "");
	S("YOUNGER 400000", "1 2 3 5");
	S("OLDER 4294967295", "");
	S("YOUNGER 4294967295", "1 2 3 4 5");
	S("MODSEQ 9", "2 3");
	S("MODSEQ \"/flags/\\\\Seen\" all 5", "1 2 3");
}

static void
test_ids_bool(void **state)
{
	char id[IMAP_OBJECTID_LEN + 1], q[64];

	(void)state;
	assert_int_equal(imap_objectid_fmt(id, 'M', 0x4d2), 17);
	assert_string_equal(id, "M00000000000004d2");
	S("EMAILID M00000000000004d2", "1");
	S("EMAILID M00000000000004D2", "");
	S("EMAILID T00000000000004d2", "");
	S("THREADID T0000000000000007", "1");
	imap_objectid_fmt(id, 'T', 0);
	snprintf(q, sizeof(q), "THREADID %s", id);
	S(q, "");
	S("OR SEEN FLAGGED", "1 2 5");
	S("NOT OR SEEN FLAGGED", "3 4");
	S("OR (SEEN ANSWERED) DELETED", "1 3");
	S("OR NOT SEEN OR 1 UID 45", "1 2 3 4 5");
	S("NOT (SEEN NOT ANSWERED)", "1 2 3 4");
	S("SEEN UNANSWERED", "5");
	S("OR OR 1 2 (3 DRAFT)", "1 2 3");
	S("NOT NOT 4", "4");
	S("(OR 1 2) (OR 2 3)", "2");
}

static void
test_text_headers(void **state)
{
	(void)state;
	/* display name (encoded word decoded, case folded), local part,
	 * domain, the whole address */
	S("FROM \"jöhn\"", "1");
	S("FROM \"JÖHN\"", "1");
	S("FROM \"john doe\"", "");
	S("FROM \"jöhn doe\"", "1");
	S("FROM john@example.com", "1");
	S("FROM example.com", "1 3 5");
	S("FROM BOB", "4");
	S("FROM site.com", "4");
	S("TO alice", "1");
	S("TO team", "1");
	S("TO c.example", "1");
	S("TO \"καλημέρα\"", "2");
	S("TO \"ΚΑΛΗΜΈΡΑ\"", "2");
	S("CC \"renée\"", "1");
	S("CC \"RENÉE\"", "1");
	S("BCC hidden", "1");
	S("BCC john", "");
	S("SUBJECT \"café\"", "1");
	S("SUBJECT \"CAFÉ\"", "1");
	S("SUBJECT \"привет\"", "3");
	S("SUBJECT \"re: [list]\"", "2");
	S("SUBJECT \"\"", "1 2 3 4 5");
	S("SUBJECT \"no blob\"", "4");
	S("SUBJECT inner", "");
	/* HEADER: any field, unfolded, every occurrence */
	S("HEADER X-Priority 1", "1");
	S("HEADER x-priority \"\"", "1");
	/* white space runs count as one space in header text */
	S("HEADER X-Long \"line  continued\"", "1");
	S("HEADER X-Long \"line continued\"", "1");
	S("HEADER X-Long \"linecontinued\"", "");
	S("HEADER X-Dup two", "3");
	S("HEADER X-Empty \"\"", "4");
	S("HEADER Message-ID \"<M1@example.com>\"", "1");
	S("HEADER Subject \"café\"", "1");
	S("HEADER Content-Type multipart", "2");
	S("HEADER X-Nope \"\"", "");
	S("HEADER From \"\"", "1 2 3 4 5");
	S("NOT HEADER Date \"\"", "5");
}

static void
test_text_bodies(void **state)
{
	(void)state;
	S("BODY world", "1");
	S("BODY \"CAFÉ\"", "1");
	/* quoted-printable ISO-8859-1 with a soft line break */
	S("BODY \"grüße\"", "2");
	S("BODY \"MÜNCHEN\"", "2");
	S("BODY softbreak", "2");
	S("BODY \"soft break\"", "");
	/* base64 UTF-8 in text/html */
	S("BODY \"καλημερα\"", "2");
	S("BODY \"ΚΌΣΜΕ\"", "2");
	S("BODY \"привет\"", "2");
	/* not text: the attachment; not the preamble */
	S("BODY secretword", "");
	S("BODY prewords", "");
	/* an encapsulated message: its header and body are in BODY */
	S("BODY \"inner body\"", "2");
	S("BODY \"inner subject\"", "2");
	/* BODY is not the top-level header, TEXT is */
	S("BODY meeting", "");
	S("TEXT meeting", "1");
	S("TEXT \"x-priority: 1\"", "1");
	S("TEXT \"body of four\"", "4");
	S("BODY four", "4");
	/* across the 16 KiB chunk and the reader's 5000-byte reads */
	S("BODY needlexyz", "5");
	S("TEXT NEEDLEXYZ", "5");
	S("BODY aaNEEDLEXYZaa", "5");
	S("BODY otherword", "5");
	S("BODY \"NEEDLE XYZ\"", "");
	S("OR BODY zzz SUBJECT big", "5");
}

static void
test_read_error(void **state)
{
	(void)state;
	box[0].fail_read = 1;
	/* keys the blob or index answer read nothing */
	S("SEEN FROM john", "1");
	/* HEADER of a field the envelope holds raw: from the blob */
	S("HEADER Message-ID m1@EXAMPLE", "1");
	S("HEADER subject \"café meeting\"", "1");
	S("HEADER In-Reply-To \"\"", "");
	S("HEADER Date \"23:30:00 -0500\"", "1");
	assert_string_equal(search("BODY world"), "ERR");
	assert_string_equal(search("HEADER X-Priority 1"), "ERR");
	box[0].fail_read = 0;
	box[3].fail_read = 1;
	S("UNSEEN FLAGGED", "2");
	assert_string_equal(search("FROM bob"), "ERR");
	box[3].fail_read = 0;
	box[1].reads = 0;
	S("SEEN OR FLAGGED DRAFT", "");
	assert_int_equal(box[1].reads, 0);
	/* header keys the blob answers read no file */
	S("FROM \"greek sender\" SUBJECT multipart SENTON 1-Mar-2026", "2");
	assert_int_equal(box[1].reads, 0);
	/* a corrupt blob: the header is parsed from the file instead */
	box[0].blob.data[box[0].blob.len / 2] ^= 0x55;
	S("FROM john SUBJECT \"café\"", "1");
	assert_true(box[0].reads > 0);
	box[0].fail_read = 1;
	assert_string_equal(search("FROM john"), "ERR");
	box[0].fail_read = 0;
	box[0].blob.data[box[0].blob.len / 2] ^= 0x55;
}

static void
test_needs_file(void **state)
{
	struct imap_snode n[3];
	struct imap_search s;

	(void)state;
	memset(n, 0, sizeof(n));
	memset(&s, 0, sizeof(s));
	s.nodes = n;
	s.n = 3;
	n[0].key = IMAP_SK_AND;
	n[0].n_kids = 2;
	n[0].skip = 2;
	n[1].key = IMAP_SK_FROM;
	n[2].key = IMAP_SK_SEEN;
	assert_int_equal(imap_match_needs_file(&s), 0);
	n[2].key = IMAP_SK_BODY;
	assert_int_equal(imap_match_needs_file(&s), 1);
}

static void
test_fold_and_dates(void **state)
{
	static const struct {
		const char *in, *want;
	} folds[] = {
		{ "ABCxyz", "abcxyz" },
		{ "ÀÉÎÕÜ×Þ", "àéîõü×þ" },
		{ "ĀĂŁŇŸŽİ", "āăłňÿži" },
		{ "ΑΒΓΔΆΈΏΣς", "αβγδάέώσσ" },
		{ "ЁЂЯАБВ", "ёђяабв" },
		{ "ß", "ß" },
		{ "\xff\xc3", "\xff\xc3" },
	};
	static const struct {
		const char *in;
		int ok;
		int64_t utc, days;
	} dates[] = {
		{ "Mon, 02 Mar 2026 23:30:00 -0500", 1, D0302 + 86400 + 16200,
		    20514 },
		{ "2 Mar 2026 23:30 +0000", 1, D0302 + 84600, 20514 },
		{ " (c) Tue , 3 mar 26 01:02:03 GMT (x)", 1,
		    D0302 + 86400 + 3723, 20515 },
		{ "3 Mar 99 00:00:00 EST", 1, 920419200 + 18000, 10653 },
		/* a bad zone is UTC, a bad time midnight (RFC 5256 2.2) */
		{ "3 Mar 2026 01:00:00 +2360", 1, D0302 + 86400 + 3600,
		    20515 },
		{ "3 Mar 2026 junk", 1, D0302 + 86400, 20515 },
		{ "31 Feb 2026 10:00", 0, 0, 0 },
		{ "3 Foo 2026 00:00:00", 0, 0, 0 },
		{ "", 0, 0, 0 },
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 64, 4096);
	for (i = 0; i < sizeof(folds) / sizeof(folds[0]); i++) {
		buf_reset(&b);
		assert_int_equal(imt_fold(span_cstr(folds[i].in), &b), 0);
		assert_string_equal(buf_cstr(&b), folds[i].want);
	}
	buf_fini(&b);
	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		int64_t utc = 0, days = 0;

		assert_int_equal(imt_sent_date(span_cstr(dates[i].in), &utc,
		    &days), dates[i].ok);
		if (dates[i].ok) {
			assert_int_equal(utc, dates[i].utc);
			assert_int_equal(days, dates[i].days);
		}
	}
}

/* one key on one message given as text */
static int
match_one(const char *text, enum imap_skey key, const char *field,
    const char *str)
{
	struct imap_snode n[2];
	struct imap_search s;
	struct imap_match_ctx c;
	struct imap_match_msg mm;
	struct tmsg t;
	int r;

	tmsg_init(&t, text);
	memset(n, 0, sizeof(n));
	n[0].key = IMAP_SK_AND;
	n[0].n_kids = 1;
	n[0].skip = 1;
	n[1].key = key;
	n[1].str = span_cstr(str);
	if (field != NULL)
		n[1].field = span_cstr(field);
	memset(&s, 0, sizeof(s));
	s.nodes = n;
	s.n = 2;
	memset(&c, 0, sizeof(c));
	c.s = &s;
	mm = tmm(&t, 1);
	r = imap_match(&c, &mm);
	tmsg_fini(&t);
	return r;
}

static void
test_encodings(void **state)
{
	static const char b64runs[] =
	    "Content-Transfer-Encoding: base64\n\n"
	    "aGk=\nd29y\nbGQ=\n";
	static const char qp[] =
	    "Content-Type: text/plain; charset=\"windows-1252\"\n"
	    "Content-Transfer-Encoding: Quoted-Printable\n\n"
	    "=80 5 =3D five, =\n"
	    "=E9t=E9 =ZZ bad=\n";
	static const char koi8[] =
	    "Content-Type: text/plain; charset=koi8-r\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "\xf0\xd2\xc9\xd7\xc5\xd4\n";
	static const char nested[] =
	    "Content-Type: multipart/alternative; boundary=x\n\n"
	    "--x\nContent-Type: multipart/related; boundary=y\n\n"
	    "--y\nContent-Type: text/plain\n\ndeep text\n--y--\n"
	    "--x\nContent-Type: image/png\nContent-Transfer-Encoding: "
	    "base64\n\nZGVlcCBpbWFnZQ==\n--x--\n";
	static const char hdr[] =
	    "Subject: =?utf-8?B?zpHOu8+GzrE=?=\n"
	    "X-Encoded: =?iso-8859-1?q?=C9t=E9?= and\n"
	    "\t=?utf-8?q?=C3=A9t=C3=A9?=\n"
	    "From: undisclosed-recipients:;\n\nx\n";

	(void)state;
	/* two base64 runs, each padded */
	assert_int_equal(match_one(b64runs, IMAP_SK_BODY, NULL, "hiworld"), 1);
	/* windows-1252: the euro sign; "=3D"; a soft break; a bad escape
	 * kept as it is */
	assert_int_equal(match_one(qp, IMAP_SK_BODY, NULL,
	    "\xe2\x82\xac 5 = five, \xc3\xa9t\xc3\xa9"), 1);
	assert_int_equal(match_one(qp, IMAP_SK_BODY, NULL, "=zz bad"), 1);
	/* KOI8-R through iconv, then folded: "ПРИВЕТ" */
	assert_int_equal(match_one(koi8, IMAP_SK_BODY, NULL,
	    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), 1);
	/* text nested two multiparts down; not the image */
	assert_int_equal(match_one(nested, IMAP_SK_BODY, NULL, "deep text"),
	    1);
	assert_int_equal(match_one(nested, IMAP_SK_BODY, NULL, "deep image"),
	    0);
	assert_int_equal(match_one(nested, IMAP_SK_TEXT, NULL, "boundary=x"),
	    1);
	/* encoded words in any header field, across a fold */
	assert_int_equal(match_one(hdr, IMAP_SK_SUBJECT, NULL,
	    "\xce\x91\xce\x9b\xce\xa6\xce\x91"), 1);
	assert_int_equal(match_one(hdr, IMAP_SK_HEADER, "x-encoded",
	    "\xc3\xa9t\xc3\xa9 and \xc3\x89T\xc3\x89"), 1);
	assert_int_equal(match_one(hdr, IMAP_SK_TEXT, NULL,
	    "x-encoded: \xc3\xa9t\xc3\xa9"), 1);
	/* a group without members */
	assert_int_equal(match_one(hdr, IMAP_SK_FROM, NULL, "undisclosed"),
	    1);
	assert_int_equal(match_one(hdr, IMAP_SK_TO, NULL, "x"), 0);
	assert_int_equal(match_one(hdr, IMAP_SK_TO, NULL, ""), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_sizes_dates),
		cmocka_unit_test(test_ids_bool),
		cmocka_unit_test(test_text_headers),
		cmocka_unit_test(test_text_bodies),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_needs_file),
		cmocka_unit_test(test_fold_and_dates),
		cmocka_unit_test(test_encodings),
	};

	imap_seq_init(&saved, saved_r, 8);
	return cmocka_run_group_tests(tests, setup, teardown);
}
