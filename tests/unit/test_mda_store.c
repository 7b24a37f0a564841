/* Unit tests for mda/store.c: delivery into a scratch store, quota, index replacement, threads. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "common/mailidx.h"
#include "common/msgcache.h"
#include "mda/mda.h"

static const char msg[] = "From: a@example.org\r\nSubject: hello\r\n\r\n"
    "body\r\n";
static const char prefix[] = "Return-Path: <a@example.org>\r\n"
    "Delivered-To: u@example.test\r\n";

struct fx {
	char dir[64];
	char mail[96];
	char root[160];
	int fd;			/* the message */
	struct mda_store *st;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_mda_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->mail, sizeof(f->mail), "%s/mail", f->dir);
	assert_int_equal(mkdir(f->mail, 0700), 0);
	snprintf(f->root, sizeof(f->root), "%s/example.test/u", f->mail);
	snprintf(f->root, sizeof(f->root), "%s/example.test/u", f->mail);
	f->fd = open(f->dir, O_TMPFILE | O_RDWR, 0600);
	assert_true(f->fd >= 0);
	assert_int_equal(write(f->fd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	f->st = mda_store_new(f->mail, "host.example");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	mda_store_free(&f->st);
	close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int
count_dir(const char *p)
{
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* INBOX's counters, and the stored message uid's size and blob. */
static void
inbox(const char *root, uint32_t uid, struct mailidx_mbox *mb,
    struct mailidx_msg *m, struct msgcache_part *part0)
{
	struct mailidx *idx = NULL;
	struct mailidx_txn *t = NULL;
	struct span blob;

	assert_int_equal(mailidx_open(root, MAILIDX_RDONLY, &idx, NULL), 0);
	assert_int_equal(mailidx_txn_begin(idx, 0, &t, NULL), 0);
	assert_int_equal(mailidx_mbox_get(t, "INBOX", mb), 1);
	if (uid != 0) {
		assert_int_equal(mailidx_msg_get(t, mb->id, uid, m), 1);
		assert_int_equal(mailidx_msg_cache(t, mb->id, uid, &blob), 1);
		assert_int_equal(msgcache_open(blob), 0);
		assert_int_equal(msgcache_part(blob, 0, part0), 0);
	}
	mailidx_txn_abort(&t);
	mailidx_close(&idx);
}

static void
test_deliver(void **state)
{
	struct fx *f = *state;
	struct mda_target t = { .address = "u@example.test" };
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	struct msgcache_part p0;
	const char *why = NULL;
	uint32_t uid = 0;
	char path[512], buf[512];
	const size_t total = sizeof(prefix) - 1 + sizeof(msg) - 1;
	int fd;

	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "a@example.org", "u@example.test", &uid, &why), MDA_OK);
	assert_int_equal(uid, 1);
	inbox(f->root, 1, &mb, &m, &p0);
	assert_int_equal(mb.messages, 1);
	assert_int_equal(mb.size, total);
	assert_int_equal(m.size, total);
	assert_int_equal(m.flags, 0);
	/* the blob's offsets are those of the stored bytes */
	assert_int_equal(p0.end_off, total);
	assert_int_equal(p0.body_off, total - 6);
	snprintf(path, sizeof(path), "%s/%s", f->root, m.file);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)total);
	close(fd);
	assert_memory_equal(buf, prefix, sizeof(prefix) - 1);
	assert_memory_equal(buf + sizeof(prefix) - 1, msg, sizeof(msg) - 1);
	snprintf(path, sizeof(path), "%s/tmp", f->root);
	assert_int_equal(count_dir(path), 0);
}

static void
test_quota(void **state)
{
	struct fx *f = *state;
	struct mda_target t = { .address = "u@example.test",
	    .quota_bytes = 150 };
	const char *why = NULL;
	uint32_t uid = 0;
	char path[256];

	/* nothing stored: a message that fits, then one that does not */
	assert_int_equal(mda_store_full(f->st, &t, 100, &why), 0);
	assert_int_equal(mda_store_full(f->st, &t, 151, &why), 1);
	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "a@example.org", "u@example.test", &uid, &why), MDA_OK);
	/* 105 bytes used: another 105 passes 150 */
	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "a@example.org", "u@example.test", &uid, &why), MDA_FULL);
	snprintf(path, sizeof(path), "%s/new", f->root);
	assert_int_equal(count_dir(path), 1);
	snprintf(path, sizeof(path), "%s/tmp", f->root);
	assert_int_equal(count_dir(path), 0);
	/* messages */
	t.quota_bytes = 0;
	t.quota_messages = 2;
	assert_int_equal(mda_store_full(f->st, &t, 0, &why), 0);
	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "", "u@example.test", &uid, &why), MDA_OK);
	assert_int_equal(uid, 2);
	assert_int_equal(mda_store_full(f->st, &t, 0, &why), 1);
}

static void
test_index_replaced(void **state)
{
	struct fx *f = *state;
	struct mda_target t = { .address = "u@example.test" };
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	struct msgcache_part p0;
	const char *why = NULL;
	uint32_t uid = 0, uv;
	char path[256];

	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "a@example.org", "u@example.test", &uid, &why), MDA_OK);
	inbox(f->root, 0, &mb, &m, &p0);
	uv = mb.uidvalidity;
	/* the cached handle must notice the file is gone */
	snprintf(path, sizeof(path), "%s/index.lmdb", f->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mda_store_deliver(f->st, &t, f->fd, sizeof(msg) - 1,
	    "a@example.org", "u@example.test", &uid, &why), MDA_OK);
	inbox(f->root, uid, &mb, &m, &p0);
	assert_int_not_equal(mb.uidvalidity, uv);
	assert_int_equal(mb.messages, 2);
}

struct thr {
	struct fx *f;
	uint32_t uids[25];
};

static void *
thr_main(void *arg)
{
	struct thr *th = arg;
	struct mda_target t = { .address = "u@example.test" };
	const char *why = NULL;
	int i;

	for (i = 0; i < 25; i++)
		if (mda_store_deliver(th->f->st, &t, th->f->fd,
		    sizeof(msg) - 1, "a@example.org", "u@example.test",
		    &th->uids[i], &why) != MDA_OK)
			th->uids[i] = 0;
	return NULL;
}

static void
test_threads(void **state)
{
	struct fx *f = *state;
	struct thr th[8];
	pthread_t tid[8];
	unsigned char seen[201] = { 0 };
	struct mailidx_mbox mb;
	struct mailidx_msg m;
	struct msgcache_part p0;
	char path[256];
	int i, k;

	for (i = 0; i < 8; i++) {
		th[i].f = f;
		assert_int_equal(pthread_create(&tid[i], NULL, thr_main,
		    &th[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < 8; i++)
		for (k = 0; k < 25; k++) {
			assert_true(th[i].uids[k] >= 1 &&
			    th[i].uids[k] <= 200);
			assert_false(seen[th[i].uids[k]]);
			seen[th[i].uids[k]] = 1;
		}
	inbox(f->root, 200, &mb, &m, &p0);
	assert_int_equal(mb.messages, 200);
	assert_int_equal(mb.uidnext, 201);
	assert_int_equal(mb.size, 200 * (sizeof(prefix) - 1 + sizeof(msg) - 1));
	snprintf(path, sizeof(path), "%s/new", f->root);
	assert_int_equal(count_dir(path), 200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_replaced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
