/* Unit tests for smtpd/queue_spool: id checks, create modes, clean-up and scan. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <sodium.h>

#include "smtpd/queue_spool.h"

struct fx {
	char dir[64];
	struct queue_spool sp;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *why = NULL;
	int fd;

	snprintf(f->dir, sizeof(f->dir), "/tmp/lbq-spool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(queue_spool_open(fd, &f->sp, &why), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	queue_spool_close(&f->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
test_id_valid(void **state)
{
	static const struct {
		const char *id;
		int ok;
	} cases[] = {
		{ "6921a0c4f3b2d1e0", 1 },
		{ "0000000000000000", 1 },
		{ "6921A0C4F3B2D1E0", 0 },	/* upper case */
		{ "6921a0c4f3b2d1e", 0 },	/* 15 */
		{ "6921a0c4f3b2d1e00", 0 },	/* 17 */
		{ "", 0 },
		{ "..", 0 },
		{ "../../etc/passwd", 0 },
		{ "6921a0c4/3b2d1e0", 0 },
		{ "6921a0c4g3b2d1e0", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_spool_id_valid(span_cstr(cases[i].id)),
		    cases[i].ok);
	/* a NUL inside is no id either */
	assert_int_equal(queue_spool_id_valid(span_make("6921a0c4\0f3b2d1e",
	    16)), 0);
}

static void
test_id_make(void **state)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];

	queue_spool_id_make(0x6921a0c4LL, a);
	queue_spool_id_make(0x6921a0c4LL, b);
	assert_int_equal(strlen(a), QUEUE_ID_LEN);
	assert_memory_equal(a, "6921a0c4", 8);
	assert_true(queue_spool_id_valid(span_cstr(a)));
	assert_string_not_equal(a, b);
}

static void
test_open_modes(void **state)
{
	struct fx *f = *state;
	char p[128];
	struct stat st;

	snprintf(p, sizeof(p), "%s/tmp", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(p, sizeof(p), "%s/queue", f->dir);
	assert_int_equal(chmod(p, 0755), 0);
	/* opening again forces 0700 */
	queue_spool_close(&f->sp);
	{
		const char *why = NULL;
		int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		assert_int_equal(queue_spool_open(fd, &f->sp, &why), 0);
	}
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void
test_create(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_LEN + 1], c;
	struct stat st;
	int fd, wfd;

	assert_int_equal(queue_spool_create(&f->sp, id, &fd, &wfd), 0);
	assert_true(queue_spool_id_valid(span_cstr(id)));
	assert_int_equal(fstatat(f->sp.tmp_fd, id, &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
	/* the descriptor for smtpd writes and cannot read */
	assert_int_equal(fcntl(wfd, F_GETFL) & O_ACCMODE, O_WRONLY);
	assert_true(fcntl(wfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(wfd, "abc", 3), 3);
	assert_int_equal(read(wfd, &c, 1), -1);
	assert_int_equal(errno, EBADF);
	/* queued's own reads what smtpd wrote, whatever smtpd's offset */
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(pread(fd, &c, 1, 2), 1);
	assert_int_equal(c, 'c');
	close(wfd);
	assert_int_equal(queue_spool_commit_rename(&f->sp, id), 0);
	assert_int_equal(fstatat(f->sp.queue_fd, id, &st, 0), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(queue_spool_unlink_queue(&f->sp, id), 0);
	close(fd);
}

static void
test_bad_ids_refused(void **state)
{
	struct fx *f = *state;
	char p[128];
	int fd;

	/* a file outside tmp/ that a "../" id would reach */
	snprintf(p, sizeof(p), "%s/victim", f->dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	errno = 0;
	assert_int_equal(queue_spool_unlink_tmp(&f->sp, "../victim"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(queue_spool_unlink_queue(&f->sp, "../victim"), -1);
	assert_int_equal(queue_spool_commit_rename(&f->sp, "../victim"), -1);
	assert_int_equal(access(p, F_OK), 0);
	errno = 0;
	assert_int_equal(queue_spool_unlink_tmp(&f->sp, "0000000000000000"),
	    -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_clean_and_scan(void **state)
{
	struct fx *f = *state;
	char id[QUEUE_ID_LEN + 1];
	size_t removed, failed, ignored;
	int fd, wfd, i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(queue_spool_create(&f->sp, id, &fd, &wfd), 0);
		close(fd);
		close(wfd);
	}
	fd = openat(f->sp.tmp_fd, "stray name", O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(mkdirat(f->sp.tmp_fd, "somedir", 0700), 0);
	assert_int_equal(queue_spool_clean_tmp(&f->sp, &removed, &failed), 0);
	assert_int_equal(removed, 5);
	assert_int_equal(failed, 0);
	assert_int_equal(queue_spool_clean_tmp(&f->sp, &removed, &failed), 0);
	assert_int_equal(removed, 0);

	for (i = 0; i < 4; i++) {
		assert_int_equal(queue_spool_create(&f->sp, id, &fd, &wfd), 0);
		close(fd);
		close(wfd);
		assert_int_equal(queue_spool_commit_rename(&f->sp, id), 0);
	}
	fd = openat(f->sp.queue_fd, "README", O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(queue_spool_scan(&f->sp, NULL, NULL, &ignored), 4);
	assert_int_equal(ignored, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_id_make),
		cmocka_unit_test_setup_teardown(test_open_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ids_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_clean_and_scan, setup,
		    teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
