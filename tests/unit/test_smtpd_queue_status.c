/* Unit tests for smtpd/queue_status: records round-trip, later records win, torn tails are cut. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <zlib.h>

#include "smtpd/queue_status.h"

#define ID "6921a0c4f3b2d1e0"

struct fx {
	char dir[64];
	int fd;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/lbq-status-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static off_t
file_size(struct fx *f)
{
	struct stat sb;

	assert_int_equal(fstatat(f->fd, ID, &sb, 0), 0);
	return sb.st_size;
}

/* Write a typical history, read it back into a fresh struct. */
static void
write_history(struct fx *f)
{
	struct queue_status st;
	struct buf b;

	queue_status_init(&st, f->fd, ID, 4);
	buf_init(&b, 256, 1 << 20);
	queue_status_rec_deferred(&st, &b, 0, 1700000000123LL, 452, "4.2.2",
	    "Mailbox full");
	queue_status_rec_deferred(&st, &b, 1, 1700000000500LL, 0, "4.4.0",
	    "remote delivery not available yet");
	queue_status_rec_warned(&st, &b, 1);
	queue_status_rec_target(&st, &b, 3, "bob@example.test");
	assert_int_equal(queue_status_commit(&st, &b), 0);
	assert_int_equal(b.len, 0);
	queue_status_rec_delivered(&st, &b, 0, "2.0.0", QUEUE_VIA_LOCAL);
	queue_status_rec_failed(&st, &b, 2, 550, "5.1.1", "no such\nuser");
	queue_status_rec_reported(&st, &b, 2);
	assert_int_equal(queue_status_commit(&st, &b), 0);
	assert_int_equal(st.rcpts[1].attempts, 1);
	buf_fini(&b);
	queue_status_fini(&st);
}

static void
check_history(struct queue_status *st)
{
	assert_int_equal(st->rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_string_equal(st->rcpts[0].enh, "2.0.0");
	assert_int_equal(st->rcpts[0].attempts, 1);
	assert_int_equal(st->rcpts[1].state, QUEUE_RCPT_DEFERRED);
	assert_int_equal(st->rcpts[1].until, 1700000000500LL);
	assert_int_equal(st->rcpts[1].code, 0);
	assert_string_equal(st->rcpts[1].text,
	    "remote delivery not available yet");
	/* the delay DSN was sent for 1 only */
	assert_int_equal(st->rcpts[1].warned, 1);
	assert_int_equal(st->rcpts[0].warned, 0);
	assert_int_equal(st->rcpts[2].state, QUEUE_RCPT_FAILED);
	assert_int_equal(st->rcpts[2].code, 550);
	assert_string_equal(st->rcpts[2].enh, "5.1.1");
	/* one line per record: the LF became '?' */
	assert_string_equal(st->rcpts[2].text, "no such?user");
	assert_int_equal(st->rcpts[2].reported, 1);
	assert_int_equal(st->rcpts[3].state, QUEUE_RCPT_PENDING);
	assert_true(queue_status_target_done(&st->rcpts[3],
	    "bob@example.test"));
	assert_false(queue_status_target_done(&st->rcpts[3], "bob@example"));
	assert_false(queue_status_target_done(&st->rcpts[0],
	    "bob@example.test"));
}

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct queue_status st;
	int torn;

	write_history(f);
	queue_status_init(&st, f->fd, ID, 4);
	assert_int_equal(queue_status_load(&st, &torn), 0);
	assert_int_equal(torn, 0);
	check_history(&st);
	queue_status_fini(&st);
}

static void
test_missing_file_is_all_pending(void **state)
{
	struct fx *f = *state;
	struct queue_status st;
	int torn;

	queue_status_init(&st, f->fd, ID, 2);
	assert_int_equal(queue_status_load(&st, &torn), 0);
	assert_int_equal(st.rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(st.fd, -1);
	queue_status_fini(&st);
}

/* Every cut of the last record: the records before it survive, the cut
 * one is dropped, the file is cut back, and the next record appends
 * cleanly after the good ones. */
static void
test_torn_tail_every_offset(void **state)
{
	struct fx *f = *state;
	struct queue_status st;
	struct buf b;
	off_t full, good;
	int torn, fd;
	char cut;

	write_history(f);
	full = file_size(f);
	/* the last record is "reported 2 xxxxxxxx\n" */
	good = full - (off_t)strlen("reported 2 00000000\n");
	for (off_t n = good + 1; n < full; n++) {
		fd = openat(f->fd, ID, O_RDWR);
		assert_int_equal(ftruncate(fd, n), 0);
		close(fd);
		queue_status_init(&st, f->fd, ID, 4);
		assert_int_equal(queue_status_load(&st, &torn), 0);
		assert_int_equal(torn, 1);
		assert_int_equal(st.rcpts[2].state, QUEUE_RCPT_FAILED);
		assert_int_equal(st.rcpts[2].reported, 0);
		assert_int_equal(file_size(f), good);
		/* appending again makes a whole file */
		buf_init(&b, 64, 1024);
		queue_status_rec_reported(&st, &b, 2);
		assert_int_equal(queue_status_commit(&st, &b), 0);
		buf_fini(&b);
		queue_status_fini(&st);
		assert_int_equal(file_size(f), full);
	}
	/* a flipped byte in a middle record stops reading there */
	fd = openat(f->fd, ID, O_RDWR);
	assert_int_equal(pread(fd, &cut, 1, 40), 1);
	cut ^= 0x20;
	assert_int_equal(pwrite(fd, &cut, 1, 40), 1);
	close(fd);
	queue_status_init(&st, f->fd, ID, 4);
	assert_int_equal(queue_status_load(&st, &torn), 0);
	assert_int_equal(torn, 1);
	assert_int_equal(st.rcpts[2].state, QUEUE_RCPT_PENDING);
	queue_status_fini(&st);
}

static uLong
crc_of(const char *s)
{
	return crc32(0L, (const Bytef *)s, (uInt)strlen(s));
}

static void
test_parse_rejects(void **state)
{
	static const char *bad[] = {
		"LBSTAT 1 0000000000000000 ",		/* another id */
		"LBSTAT 2 " ID " ",
		"delivered 9 2.0.0 ",			/* idx past n */
		"delivered -1 2.0.0 ",
		"failed 0 999 5.0.0 x ",
		"deferred 0 12 x 0 - y ",
		"bogus 0 ",
	};
	struct queue_status st;
	char line[256];
	uLong crc;
	size_t i, good;
	int torn;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char hdr[64], rec[128];
		const char *r = bad[i];
		size_t n;

		queue_status_init(&st, -1, ID, 2);
		snprintf(hdr, sizeof(hdr), "LBSTAT 1 %s", ID);
		n = strlen(r) - 1;	/* drop the trailing space */
		memcpy(rec, r, n);
		rec[n] = '\0';
		if (strncmp(rec, "LBSTAT", 6) == 0) {
			crc = 0;
			snprintf(line, sizeof(line), "%s %08lx\n", rec,
			    (unsigned long)crc_of(rec));
		} else {
			snprintf(line, sizeof(line), "%s %08lx\n%s %08lx\n",
			    hdr, (unsigned long)crc_of(hdr),
			    rec, (unsigned long)crc_of(rec));
		}
		(void)crc;
		good = queue_status_parse(&st, span_cstr(line), &torn);
		assert_int_equal(torn, 1);
		assert_true(good <= strlen(hdr) + 10);
		queue_status_fini(&st);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file_is_all_pending,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_every_offset,
		    setup, teardown),
		cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
