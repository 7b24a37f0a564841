/* Test messages for the imap_match, imap_sort and imap_thread unit tests: text, its msgcache blob, a short-reading file callback. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_TEST_IMAPD_TMSG_H
#define LB_TEST_IMAPD_TMSG_H

/* Included by tests/unit/test_imapd_{match,sort,thread}.c after cmocka
 * and the imapd headers; static, so each test binary has its own. */

struct tmsg {
	struct buf text;	/* CRLF */
	struct buf blob;
	struct mailidx_msg m;
	int recent;
	int no_blob;
	int fail_read;
	unsigned reads;
};

static ssize_t
tread(void *arg, uint64_t off, void *p, size_t len)
{
	struct tmsg *t = arg;

	t->reads++;
	if (t->fail_read)
		return -1;
	if (off >= t->text.len)
		return 0;
	if (len > t->text.len - off)
		len = t->text.len - off;
	/* short reads, to cross every boundary */
	if (len > 5000)
		len = 5000;
	memcpy(p, t->text.data + off, len);
	return (ssize_t)len;
}

/* msg text with \n turned into CRLF; its blob from msgcache */
static void
tmsg_init(struct tmsg *t, const char *text)
{
	struct msgcache_parser *ps;
	const char *c;

	memset(t, 0, sizeof(*t));
	buf_init(&t->text, 1024, 1 << 24);
	for (c = text; *c; c++) {
		if (*c == '\n')
			assert_int_equal(buf_add(&t->text, "\r", 1), 0);
		assert_int_equal(buf_add(&t->text, c, 1), 0);
	}
	buf_init(&t->blob, 1024, 1 << 22);
	ps = msgcache_parser_new();
	msgcache_feed(ps, buf_view(&t->text));
	assert_int_equal(msgcache_finish(ps, &t->blob), 0);
	msgcache_parser_free(&ps);
}

static void
tmsg_fini(struct tmsg *t)
{
	buf_fini(&t->text);
	buf_fini(&t->blob);
}

static struct imap_match_msg
tmm(struct tmsg *t, uint32_t seq)
{
	struct imap_match_msg mm;

	memset(&mm, 0, sizeof(mm));
	mm.seq = seq;
	mm.m = &t->m;
	mm.recent = t->recent;
	mm.blob = t->no_blob ? span_make(NULL, 0) : buf_view(&t->blob);
	mm.read = tread;
	mm.read_arg = t;
	return mm;
}

#endif
