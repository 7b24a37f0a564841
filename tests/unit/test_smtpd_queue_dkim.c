/* Unit tests for smtpd/queue_dkim: the From domain, and signing a spooled message with the newest selector's keys. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <sodium.h>

#include "common/buf.h"
#include "common/dkim.h"
#include "common/dkim_store.h"
#include "common/xmem.h"
#include "smtpd/queue_dkim.h"

static int
from(const char *hdr, char *out)
{
	return queue_dkim_from_domain(span_cstr(hdr), out, 64);
}

static void
test_from_domain(void **state)
{
	char d[64];

	(void)state;
	assert_int_equal(from("Subject: x\r\nFrom: A <a@Example.ORG>\r\n", d),
	    0);
	assert_string_equal(d, "example.org");
	assert_int_equal(from("from : a@b.example. (comment)\r\n", d), 0);
	assert_string_equal(d, "b.example");
	/* the '@' in a quoted display name or comment is not the one */
	assert_int_equal(from("From: \"x@evil.test\" <a@good.test>\r\n", d),
	    0);
	assert_string_equal(d, "good.test");
	assert_int_equal(from("From: (x@evil.test) a@good.test\r\n", d), 0);
	assert_string_equal(d, "good.test");
	/* the first address of a list; folded fields */
	assert_int_equal(from("From: a@one.test,\r\n b@two.test\r\n", d), 0);
	assert_string_equal(d, "one.test");
	assert_int_equal(from("From: Name\r\n <a@fold.test>\r\n", d), 0);
	assert_string_equal(d, "fold.test");
	/* the first From counts */
	assert_int_equal(from("From: a@1.test\r\nFrom: b@2.test\r\n", d), 0);
	assert_string_equal(d, "1.test");
	/* nothing usable: no From, no '@', a domain that is no DNS name
	 * (never a path: no '/' or "..") */
	assert_int_equal(from("Subject: x\r\n", d), -1);
	assert_int_equal(from("From: nobody\r\n", d), -1);
	assert_int_equal(from("From: a@\r\n", d), -1);
	assert_int_equal(from("From: a@../../etc\r\n", d), -1);
	assert_int_equal(from("From: a@[192.0.2.1]\r\n", d), -1);
	assert_int_equal(from("X-From: a@x.test\r\n", d), -1);
}

/* A key written under dir/DOMAIN/SEL with its mode. */
static void
put_key(const char *dir, const char *sel, size_t kind)
{
	struct dkim_key *k = NULL;
	const char *why = NULL;
	struct buf pem;
	char *p = xasprintf("%s/%s%s", dir, sel, dkim_store_kinds[kind].file);
	FILE *f;

	assert_int_equal(dkim_key_generate(dkim_store_kinds[kind].alg, &k,
	    &why), 0);
	buf_init(&pem, 4096, 65536);
	assert_int_equal(dkim_key_pem(k, &pem, &why), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(pem.data, 1, pem.len, f), pem.len);
	fclose(f);
	chmod(p, 0600);
	buf_fini(&pem);
	dkim_key_free(&k);
	free(p);
}

static void
test_sign_newest_selector(void **state)
{
	char top[] = "/tmp/lbq-dkim-XXXXXX", path[] = "/tmp/lbq-dmsg-XXXXXX";
	const char *msg = "ENV\nFrom: <a@sign.test>\r\nSubject: s\r\n\r\nHi\r\n";
	char *dom, why[256], d[64];
	struct queue_dkim *qd;
	struct buf out;
	struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
	int fd;

	(void)state;
	assert_non_null(mkdtemp(top));
	dom = xasprintf("%s/sign.test", top);
	assert_int_equal(mkdir(dom, 0700), 0);
	put_key(dom, "old", 0);
	put_key(dom, "old", 1);
	{
		char *o = xasprintf("%s/old.ed25519.key", dom);

		utimensat(AT_FDCWD, o, ts, 0);	/* made long ago */
		free(o);
	}
	put_key(dom, "new", 0);
	fd = mkstemp(path);
	unlink(path);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	qd = queue_dkim_new(top);
	buf_init(&out, 1024, 65536);
	assert_int_equal(queue_dkim_sign(qd, fd, 4, strlen(msg), 1700000000,
	    &out, d, sizeof(d), why, sizeof(why)), QUEUE_DKIM_SIGNED);
	assert_string_equal(d, "sign.test");
	/* "new" has only an ed25519 key: one signature, from it */
	assert_non_null(strstr((char *)out.data, "s=new-ed;"));
	assert_null(strstr((char *)out.data, "s=old"));
	assert_null(strstr((char *)out.data, "a=rsa-sha256"));
	assert_non_null(strstr((char *)out.data, "d=sign.test;"));
	assert_non_null(strstr((char *)out.data, "t=1700000000;"));
	/* another domain's mail is not signed */
	buf_reset(&out);
	{
		const char *m2 = "ENV\nFrom: <a@other.test>\r\n\r\nx\r\n";

		assert_int_equal(ftruncate(fd, 0), 0);
		assert_int_equal(pwrite(fd, m2, strlen(m2), 0),
		    (ssize_t)strlen(m2));
		assert_int_equal(queue_dkim_sign(qd, fd, 4, strlen(m2), 1,
		    &out, d, sizeof(d), why, sizeof(why)), QUEUE_DKIM_NONE);
		assert_int_equal(out.len, 0);
	}
	queue_dkim_free(&qd);
	buf_fini(&out);
	close(fd);
	{
		char *cmd = xasprintf("rm -rf '%s'", top);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	free(dom);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_sign_newest_selector),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
