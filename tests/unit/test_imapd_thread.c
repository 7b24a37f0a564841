/* Unit tests for imapd/imap_thread: REFERENCES (the RFC 5256 examples, dummies, pruning, loops, duplicate ids, subject merging) and ORDEREDSUBJECT, with the exact response syntax. */
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
#include "imapd/imap_args.h"
#include "imapd/imap_match.h"

/* ---- messages (as in test_imapd_match.c) ---- */

#include "tests/unit/imapd_tmsg.h"

/* ---- a mailbox of messages given by number and header ---- */

#define MAXM 32
static struct tmsg box[MAXM];
static struct imap_sort_msg smsgs[MAXM];
static size_t nbox;

/* message with sequence number seq, sent at second sec of the day
 * (Date: added unless the header has one), and the given fields */
static void
add(uint32_t seq, int sec, const char *fields)
{
	char text[2048];

	assert_true(nbox < MAXM);
	if (sec >= 0)
		snprintf(text, sizeof(text), "Date: 2 Mar 2026 00:%02d:%02d "
		    "+0000\n%s\nbody\n", sec / 60, sec % 60, fields);
	else
		snprintf(text, sizeof(text), "%s\nbody\n", fields);
	tmsg_init(&box[nbox], text);
	box[nbox].m.uid = seq * 100;
	box[nbox].m.internaldate = 1772409600LL + 86400;
	smsgs[nbox].mm = tmm(&box[nbox], seq);
	nbox++;
}

static void
clear(void)
{
	size_t i;

	for (i = 0; i < nbox; i++)
		tmsg_fini(&box[i]);
	nbox = 0;
}

static const char *
thread(enum imap_thread_alg alg, int uid)
{
	static char out[1024];
	struct buf b;

	buf_init(&b, 64, 4096);
	if (imap_thread(alg, smsgs, nbox, uid, &b) != 0)
		snprintf(out, sizeof(out), "ERR");
	else
		snprintf(out, sizeof(out), "%s", buf_cstr(&b));
	buf_fini(&b);
	return out;
}

#define REFS(want) \
	assert_string_equal(thread(IMAP_THREAD_REFERENCES, 0), want)
#define ORDSUBJ(want) \
	assert_string_equal(thread(IMAP_THREAD_ORDEREDSUBJECT, 0), want)

/* RFC 5256 4: "(2)(3 6 (4 23)(44 7 96))" */
static void
test_rfc_example(void **state)
{
	(void)state;
	add(2, 0, "Message-ID: <2@x>\nSubject: lonely\n");
	add(3, 1, "Message-ID: <3@x>\nSubject: topic\n");
	add(4, 3, "Message-ID: <4@x>\nSubject: Re: topic\n"
	    "References: <3@x> <6@x>\n");
	add(6, 2, "Message-ID: <6@x>\nSubject: Re: topic\n"
	    "References: <3@x>\n");
	add(7, 6, "Message-ID: <7@x>\nSubject: Re: topic\n"
	    "In-Reply-To: <44@x> (Your message of yesterday)\n");
	add(23, 4, "Message-ID: <23@x>\nSubject: Re: topic\n"
	    "References: <3@x>\n <6@x>\n\t<4@x>\n");
	add(44, 5, "Message-ID: <44@x>\nSubject: Re: topic\n"
	    "References: <3@x> <6@x>\n");
	add(96, 7, "Message-ID: <96@x>\nSubject: Re: topic\n"
	    "References: <3@x> <6@x> <44@x> <7@x>\n");
	REFS("(2)(3 6 (4 23)(44 7 96))");
	assert_string_equal(thread(IMAP_THREAD_REFERENCES, 1),
	    "(200)(300 600 (400 2300)(4400 700 9600))");
	/* the same, handed over in another order */
	{
		struct imap_sort_msg tmp[MAXM];
		size_t i;

		for (i = 0; i < nbox; i++)
			tmp[i] = smsgs[nbox - 1 - i];
		memcpy(smsgs, tmp, nbox * sizeof(tmp[0]));
		REFS("(2)(3 6 (4 23)(44 7 96))");
	}
	clear();
	/* "((3)(5))": siblings under a parent that is not there */
	add(3, 1, "Message-ID: <a@x>\nSubject: one\nReferences: <gone@x>\n");
	add(5, 2, "Message-ID: <b@x>\nSubject: two\n"
	    "References: <gone@x>\n");
	REFS("((3)(5))");
	clear();
}

static void
test_dummies_and_loops(void **state)
{
	(void)state;
	/* a missing parent with one child: the dummy goes */
	add(8, 1, "Message-ID: <8@x>\nSubject: s8\nReferences: <gone@x>\n");
	/* a missing grandparent: the chain g1 -> g2 -> 9, 10 keeps the
	 * dummy g2 (two children) and loses g1 */
	add(9, 2, "Message-ID: <9@x>\nSubject: s9\n"
	    "References: <g1@x> <g2@x>\n");
	add(10, 3, "Message-ID: <10@x>\nSubject: s10\n"
	    "References: <g1@x> <g2@x>\n");
	/* a dummy in the middle of a thread: 11 -> (dummy m) -> 12, 13 */
	add(11, 4, "Message-ID: <11@x>\nSubject: s11\n");
	add(12, 6, "Message-ID: <12@x>\nSubject: Re: s11\n"
	    "References: <11@x> <m@x>\n");
	add(13, 5, "Message-ID: <13@x>\nSubject: Re: s11\n"
	    "References: <11@x> <m@x>\n");
	REFS("(8)((9)(10))(11 (13)(12))");
	clear();
	/* a loop: each names the other as parent */
	add(20, 1, "Message-ID: <a@x>\nSubject: p\nReferences: <b@x>\n");
	add(21, 2, "Message-ID: <b@x>\nSubject: q\nReferences: <a@x>\n");
	/* itself as parent */
	add(22, 3, "Message-ID: <c@x>\nSubject: r\nReferences: <c@x>\n");
	/* a longer loop in one References line */
	add(23, 4, "Message-ID: <d@x>\nSubject: s\n"
	    "References: <e@x> <f@x> <e@x> <d@x>\n");
	REFS("(21 20)(22)(23)");
	clear();
	/* a truncated References line: the last reference wins (1.B) */
	add(30, 1, "Message-ID: <r@x>\nSubject: t1\n");
	add(31, 2, "Message-ID: <s@x>\nSubject: t2\n");
	add(32, 3, "Message-ID: <u@x>\nSubject: t3\nReferences: <r@x> "
	    "<v@x>\n");
	add(33, 4, "Message-ID: <w@x>\nSubject: t4\nReferences: <s@x> "
	    "<u@x>\n");
	REFS("(30 32 33)(31)");
	clear();
}

static void
test_ids(void **state)
{
	(void)state;
	/* duplicate Message-IDs: the first message keeps it */
	add(30, 1, "Message-ID: <dup@x>\nSubject: d1\n");
	add(31, 2, "Message-ID: <dup@x>\nSubject: d2\n");
	add(32, 3, "Message-ID: <z@x>\nSubject: d3\nIn-Reply-To: <dup@x>\n");
	/* quoting is normalised (RFC 5256 3) */
	add(40, 4, "Message-ID: <\"01KF8J\"@xxx.yyy.com>\nSubject: q1\n");
	add(41, 5, "Message-ID: <q@x>\nSubject: q2\n"
	    "In-Reply-To: <01KF8J@xxx.yyy.com>\n");
	/* ids are case-sensitive; an invalid References line falls back
	 * to In-Reply-To */
	add(42, 6, "Message-ID: <Q@x>\nSubject: q3\nReferences: <Q@X>\n");
	add(43, 7, "Message-ID: <k@x>\nSubject: q4\nReferences: junk <>\n"
	    "In-Reply-To: <q@x>\n");
	/* no Message-ID at all */
	add(44, 8, "Subject: q5\nReferences: <k@x>\n");
	REFS("(30 32)(31)(40 41 43 44)(42)");
	clear();
}

static void
test_subjects(void **state)
{
	(void)state;
	/* a reply without references joins by subject */
	add(20, 1, "Subject: Merge me\n");
	add(21, 2, "Subject: Re: merge ME\n");
	/* two non-replies: a dummy holds both */
	add(22, 3, "Subject: Same\n");
	add(23, 4, "Subject: [tag] same\n");
	/* a dummy thread and a later reply with its subject */
	add(24, 5, "Subject: Dummy subj\nReferences: <m@x>\n");
	add(25, 6, "Subject: dummy subj\nReferences: <m@x>\n");
	add(26, 7, "Subject: Re: Dummy subj\n");
	/* two replies: neither is the parent, a dummy holds both */
	add(27, 8, "Subject: Re: both replies\n");
	add(28, 9, "Subject: Fwd: both replies\n");
	/* an empty subject is never merged */
	add(29, 10, "Subject: Re:\n");
	add(30, 11, "\n");
	REFS("(20 21)((22)(23))((24)(25)(26))((27)(28))(29)(30)");
	clear();
	/* a reply dated before the original: the original is the parent */
	add(1, 5, "Subject: Re: early\n");
	add(2, 6, "Subject: early\n");
	REFS("(2 1)");
	clear();
	/* no Date: the internal date sorts (all are 3 March here) */
	add(5, -1, "Subject: x1\n");
	add(4, 1, "Subject: x2\n");
	REFS("(4)(5)");
	clear();
}

static void
test_ordered_subject(void **state)
{
	(void)state;
	add(1, 5, "Subject: B\n");
	add(2, 1, "Subject: Re: a\n");
	add(3, 3, "Subject: A\n");
	add(4, 2, "Subject: a (fwd)\n");
	add(5, 0, "Subject: b\n");
	add(6, 4, "Subject: c\n");
	add(7, 6, "Subject: [x] A\n");
	ORDSUBJ("(5 1)(2 (4)(3)(7))(6)");
	assert_string_equal(thread(IMAP_THREAD_ORDEREDSUBJECT, 1),
	    "(500 100)(200 (400)(300)(700))(600)");
	clear();
	add(9, 1, "Subject: only\n");
	ORDSUBJ("(9)");
	clear();
	ORDSUBJ("");
	REFS("");
}

static void
test_read_error(void **state)
{
	(void)state;
	add(1, 1, "Subject: a\n");
	add(2, 2, "Subject: b\n");
	box[1].fail_read = 1;
	/* References is read from the file */
	assert_string_equal(thread(IMAP_THREAD_REFERENCES, 0), "ERR");
	/* ORDEREDSUBJECT needs the blob only */
	ORDSUBJ("(1)(2)");
	box[1].no_blob = 1;
	smsgs[1].mm = tmm(&box[1], 2);
	assert_string_equal(thread(IMAP_THREAD_ORDEREDSUBJECT, 0), "ERR");
	box[1].fail_read = 0;
	ORDSUBJ("(1)(2)");
	REFS("(1)(2)");
	clear();
}

static void
test_big_chain(void **state)
{
	char f[256];
	uint32_t i;
	struct buf b;
	size_t k;

	(void)state;
	/* a long chain prints flat and needs no deep recursion */
	for (i = 1; i <= MAXM; i++) {
		if (i == 1)
			snprintf(f, sizeof(f), "Message-ID: <%u@x>\n"
			    "Subject: chain\n", i);
		else
			snprintf(f, sizeof(f), "Message-ID: <%u@x>\n"
			    "Subject: Re: chain\nIn-Reply-To: <%u@x>\n", i,
			    i - 1);
		add(i, (int)i, f);
	}
	buf_init(&b, 64, 4096);
	assert_int_equal(imap_thread(IMAP_THREAD_REFERENCES, smsgs, nbox, 0,
	    &b), 0);
	assert_int_equal(b.data[0], '(');
	for (k = 1, i = 1; i <= MAXM; i++) {
		char num[16];
		size_t l = (size_t)snprintf(num, sizeof(num), "%u%s", i,
		    i == MAXM ? ")" : " ");

		assert_memory_equal(b.data + k, num, l);
		k += l;
	}
	assert_int_equal(k, b.len);
	buf_fini(&b);
	clear();
}

static void
test_alg_parse(void **state)
{
	struct imap_arg a;
	enum imap_thread_alg alg;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.type = IMAP_ARG_ATOM;
	a.s = span_cstr("references");
	assert_int_equal(imap_thread_alg_parse(&a, &alg), 0);
	assert_int_equal(alg, IMAP_THREAD_REFERENCES);
	a.s = span_cstr("OrderedSubject");
	assert_int_equal(imap_thread_alg_parse(&a, &alg), 0);
	assert_int_equal(alg, IMAP_THREAD_ORDEREDSUBJECT);
	a.s = span_cstr("REFS");
	assert_int_equal(imap_thread_alg_parse(&a, &alg), -1);
	a.type = IMAP_ARG_QUOTED;
	a.s = span_cstr("REFERENCES");
	assert_int_equal(imap_thread_alg_parse(&a, &alg), -1);
	assert_int_equal(imap_thread_alg_parse(NULL, &alg), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_dummies_and_loops),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_ordered_subject),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_big_chain),
		cmocka_unit_test(test_alg_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
