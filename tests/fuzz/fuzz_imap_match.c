/* libFuzzer target for SEARCH text keys, sent dates, base subjects, SORT and THREAD over arbitrary messages: no crash, and results keep their shape. */
/* SPDX-License-Identifier: ISC */
/* fuzz-sources: imapd/imap_args.c imapd/imap_parse.c imapd/imap_search.c imapd/imap_seq.c imapd/imap_match.c imapd/imap_match_text.c imapd/imap_match_fold.c imapd/imap_sort.c imapd/imap_thread.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/msgcache.h"
#include "imapd/imap_match.h"
#include "imapd/imap_match_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXM 6

struct fmsg {
	struct span text;
	struct buf blob;
	struct mailidx_msg m;
};

static ssize_t
fread_cb(void *arg, uint64_t off, void *p, size_t len)
{
	const struct fmsg *f = arg;

	if (off >= f->text.n)
		return 0;
	if (len > f->text.n - off)
		len = f->text.n - off;
	if (len > 777)		/* odd short reads */
		len = 777;
	memcpy(p, f->text.p + off, len);
	return (ssize_t)len;
}

/* balanced, digits and spaces only, each of 1..n exactly once */
static void
check_thread_syntax(struct span s, size_t n)
{
	size_t i, seen[MAXM + 1] = { 0 }, v = 0;
	long depth = 0;
	int in_num = 0;

	for (i = 0; i <= s.n; i++) {
		uint8_t ch = i < s.n ? s.p[i] : ')';

		if (ch >= '0' && ch <= '9') {
			v = v * 10 + (ch - '0');
			in_num = 1;
			continue;
		}
		if (in_num) {
			if (v == 0 || v > n || seen[v]++)
				abort();
			v = 0;
			in_num = 0;
		}
		if (i == s.n)
			break;
		if (ch == '(')
			depth++;
		else if (ch == ')' && --depth < 0)
			abort();
		else if (ch != ' ' && ch != '(' && ch != ')')
			abort();
	}
	if (depth != 0 || (s.n > 0 && s.p[0] != '('))
		abort();
	for (i = 1; i <= n; i++)
		if (seen[i] != 1)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum imap_skey keys[] = { IMAP_SK_BODY, IMAP_SK_TEXT,
	    IMAP_SK_FROM, IMAP_SK_SUBJECT, IMAP_SK_HEADER, IMAP_SK_SENTON,
	    IMAP_SK_TO, IMAP_SK_BCC };
	struct fmsg msgs[MAXM];
	struct imap_sort_msg sm[MAXM];
	struct imap_snode nodes[2];
	struct imap_search s;
	struct imap_match_ctx c;
	struct imap_sort_crit crit;
	struct buf out;
	struct span needle, rest;
	size_t n = 0, i, k, order[MAXM], nl;
	int64_t utc, days;
	int reply;

	if (size < 1)
		return 0;
	nl = data[0] % 16;
	if (nl > size - 1)
		nl = size - 1;
	needle = span_make(data + 1, nl);
	rest = span_make(data + 1 + nl, size - 1 - nl);

	/* pure helpers on the raw bytes */
	buf_init(&out, 256, 1 << 22);
	if (imap_base_subject(rest, &out, &reply) == 0 && out.len > 0 &&
	    (out.data[0] == ' ' || out.data[out.len - 1] == ' '))
		abort();
	if (imt_sent_date(rest, &utc, &days) == 1 &&
	    (utc / 86400 < days - 2 || utc / 86400 > days + 2))
		abort();
	buf_fini(&out);

	/* messages separated by "@@@\n" */
	while (n < MAXM) {
		const uint8_t *sep = memmem(rest.p, rest.n, "@@@\n", 4);
		size_t len = sep ? (size_t)(sep - rest.p) : rest.n;
		struct msgcache_parser *ps = msgcache_parser_new();

		msgs[n].text = span_make(rest.p, len);
		buf_init(&msgs[n].blob, 4096, 1 << 21);
		msgcache_feed(ps, msgs[n].text);
		if (msgcache_finish(ps, &msgs[n].blob) != 0)
			abort();
		msgcache_parser_free(&ps);
		memset(&msgs[n].m, 0, sizeof(msgs[n].m));
		msgs[n].m.uid = (uint32_t)n + 1;
		msgs[n].m.internaldate = 1700000000 + (int64_t)(len % 1000);
		msgs[n].m.size = len;
		memset(&sm[n], 0, sizeof(sm[n]));
		sm[n].mm.seq = (uint32_t)n + 1;
		sm[n].mm.m = &msgs[n].m;
		/* every other message without a blob: parsed from the file */
		sm[n].mm.blob = n % 2 ? span_make(NULL, 0) :
		    buf_view(&msgs[n].blob);
		sm[n].mm.read = fread_cb;
		sm[n].mm.read_arg = &msgs[n];
		n++;
		if (sep == NULL)
			break;
		rest = span_make(sep + 4, rest.n - len - 4);
	}

	memset(nodes, 0, sizeof(nodes));
	nodes[0].key = IMAP_SK_AND;
	nodes[0].n_kids = 1;
	nodes[0].skip = 1;
	memset(&s, 0, sizeof(s));
	s.nodes = nodes;
	s.n = 2;
	memset(&c, 0, sizeof(c));
	c.s = &s;
	c.n_msgs = (uint32_t)n;
	c.max_uid = (uint32_t)n;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		nodes[1].key = keys[k];
		nodes[1].str = needle;
		nodes[1].field = span_cstr("X-Fuzz");
		nodes[1].date.year = 2024;
		nodes[1].date.month = 2;
		nodes[1].date.day = 29;
		for (i = 0; i < n; i++)
			if (imap_match(&c, &sm[i].mm) < 0)
				abort();	/* the reader never fails */
	}

	crit.n = 3;
	crit.key[0] = (enum imap_sort_key)(data[0] % 9);
	crit.key[1] = (enum imap_sort_key)((data[0] / 9) % 9);
	crit.key[2] = IMAP_SORT_SUBJECT;
	crit.reverse[0] = data[0] & 1;
	crit.reverse[1] = 0;
	crit.reverse[2] = 1;
	if (imap_sort(&crit, sm, n, order) != 0)
		abort();
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (order[i] == order[k] || order[i] >= n)
				abort();

	for (k = 0; k < 2; k++) {
		buf_init(&out, 256, 1 << 22);
		if (imap_thread(k ? IMAP_THREAD_REFERENCES :
		    IMAP_THREAD_ORDEREDSUBJECT, sm, n, 0, &out) != 0)
			abort();
		check_thread_syntax(buf_view(&out), n);
		buf_fini(&out);
	}
	for (i = 0; i < n; i++)
		buf_fini(&msgs[i].blob);
	return 0;
}
