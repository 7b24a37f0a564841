/* Unit tests for common/maildir: names, flags, folders, delivery. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/maildir.h"

static const struct {
	const char *name;
	int rc;
	const char *base;
	int has_info;
	const char *info;
	int has_size;
	uint64_t size;
	int has_vsize;
	uint64_t vsize;
	int64_t seconds;
} parse_cases[] = {
	{ "1700000000.M1P2Q3R00000000000000ff.host,S=42:2,RS", 0,
	  "1700000000.M1P2Q3R00000000000000ff.host,S=42", 1, "RS", 1, 42, 0,
	  0, 1700000000 },
	{ "1700000000.M1P2.host,S=42", 0, "1700000000.M1P2.host,S=42", 0,
	  "", 1, 42, 0, 0, 1700000000 },
	{ "1.2.h,S=10,W=12:2,", 0, "1.2.h,S=10,W=12", 1, "", 1, 10, 1, 12, 1 },
	{ "1.2.h,W=12,S=10", 0, "1.2.h,W=12,S=10", 0, "", 1, 10, 1, 12, 1 },
	/* a non-":2," info is not flags */
	{ "1.2.h:1,abc", 0, "1.2.h", 0, "", 0, 0, 0, 0, 1 },
	/* malformed sizes are no sizes */
	{ "1.2.h,S=", 0, "1.2.h,S=", 0, "", 0, 0, 0, 0, 1 },
	{ "1.2.h,S=12x", 0, "1.2.h,S=12x", 0, "", 0, 0, 0, 0, 1 },
	{ "1.2.h,S=99999999999999999999", 0, "1.2.h,S=99999999999999999999",
	  0, "", 0, 0, 0, 0, 1 },
	{ "1.2.h,S=18446744073709551615", 0, "1.2.h,S=18446744073709551615",
	  0, "", 1, UINT64_MAX, 0, 0, 1 },
	/* another program's name: no seconds */
	{ "msg-from-mutt", 0, "msg-from-mutt", 0, "", 0, 0, 0, 0, -1 },
	{ "x:2,S:2,T", 0, "x", 1, "S:2,T", 0, 0, 0, 0, -1 },
	{ "", -1, NULL, 0, NULL, 0, 0, 0, 0, 0 },
	{ ".hidden", -1, NULL, 0, NULL, 0, 0, 0, 0, 0 },
	{ "a/b", -1, NULL, 0, NULL, 0, 0, 0, 0, 0 },
};

static void
test_name_parse(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		struct maildir_name mn;
		const char *s = parse_cases[i].name;
		int rc = maildir_name_parse(span_cstr(s), &mn);

		assert_int_equal(rc, parse_cases[i].rc);
		if (rc < 0)
			continue;
		assert_int_equal(mn.base.n, strlen(parse_cases[i].base));
		assert_memory_equal(mn.base.p, parse_cases[i].base, mn.base.n);
		assert_int_equal(mn.has_info, parse_cases[i].has_info);
		assert_int_equal(mn.info.n, strlen(parse_cases[i].info));
		if (mn.info.n > 0)
			assert_memory_equal(mn.info.p, parse_cases[i].info,
			    mn.info.n);
		assert_int_equal(mn.has_size, parse_cases[i].has_size);
		assert_true(mn.size == parse_cases[i].size);
		assert_int_equal(mn.has_vsize, parse_cases[i].has_vsize);
		assert_true(mn.vsize == parse_cases[i].vsize);
		assert_true(mn.seconds == parse_cases[i].seconds);
	}
}

static void
test_name_limits(void **state)
{
	char name[MAILDIR_NAME_MAX + 2];
	struct maildir_name mn;

	memset(name, 'a', sizeof(name));
	assert_int_equal(maildir_name_parse(span_make(name, MAILDIR_NAME_MAX),
	    &mn), 0);
	assert_int_equal(maildir_name_parse(span_make(name,
	    MAILDIR_NAME_MAX + 1), &mn), -1);
	name[3] = '\0';
	assert_int_equal(maildir_name_parse(span_make(name, 10), &mn), -1);
}

static const struct {
	const char *in;
	int rc;
	const char *out;
} flag_cases[] = {
	{ "", 0, "" },
	{ "S", 0, "S" },
	{ "SR", 0, "RS" },
	{ "TSRPFD", 0, "DFPRST" },
	{ "SSS", 0, "S" },
	{ "aZbS", 0, "SZab" },	/* unknown letters kept, ASCII order */
	{ "zyxA", 0, "Axyz" },
	{ "S1", -1, "S" },	/* letters before the bad byte */
	{ ",S", -1, "" },
};

static void
test_flags(void **state)
{
	char out[64];

	for (size_t i = 0; i < sizeof(flag_cases) / sizeof(flag_cases[0]);
	    i++) {
		uint64_t m;

		assert_int_equal(maildir_flags_parse(span_cstr(
		    flag_cases[i].in), &m), flag_cases[i].rc);
		assert_int_equal(maildir_flags_format(m, out, sizeof(out)),
		    (int)strlen(flag_cases[i].out));
		assert_string_equal(out, flag_cases[i].out);
	}
	assert_true(maildir_flag_bit('S') == MAILDIR_FL_SEEN);
	assert_true(maildir_flag_bit('1') == 0);
	/* all 52 letters need 53 bytes */
	assert_int_equal(maildir_flags_format((1ULL << 52) - 1, out, 53), 52);
	assert_int_equal(maildir_flags_format((1ULL << 52) - 1, out, 52), -1);
	assert_int_equal(maildir_flags_format(MAILDIR_FL_SEEN, out, 1), -1);
}

static void
test_name_format(void **state)
{
	char out[MAILDIR_NAME_MAX + 1], host[200];
	struct maildir_name mn;
	int n;

	n = maildir_name_format(out, sizeof(out), 1700000000, 123456, 4242, 7,
	    0xdeadbeefULL, "mx/1:a", 1, 99);
	assert_string_equal(out, "1700000000.M123456P4242Q7R00000000deadbeef"
	    ".mx\\0571\\072a,S=99");
	assert_int_equal(n, (int)strlen(out));
	assert_int_equal(maildir_name_parse(span_make(out, (size_t)n), &mn), 0);
	assert_int_equal(mn.has_size, 1);
	assert_true(mn.size == 99);
	assert_true(mn.seconds == 1700000000);
	assert_int_equal(mn.has_info, 0);
	maildir_name_format(out, sizeof(out), 1, 2, 3, 4, 5, NULL, 0, 0);
	assert_string_equal(out, "1.M2P3Q4R0000000000000005.localhost");
	/* a long host is cut at MAILDIR_HOST_MAX, never inside an escape */
	memset(host, 'h', sizeof(host));
	host[62] = '/';
	host[199] = '\0';
	maildir_name_format(out, sizeof(out), 1, 2, 3, 4, 5, host, 0, 0);
	assert_string_equal(strrchr(out, '.') + 1, "hhhhhhhhhhhhhhhhhhhhhhhhhhhh"
	    "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh");
	assert_int_equal(maildir_name_format(out, 10, 1, 2, 3, 4, 5, "h", 0,
	    0), -1);
}

static void
test_with_flags(void **state)
{
	char out[MAILDIR_NAME_MAX + 1], big[MAILDIR_NAME_MAX + 1];

	assert_int_equal(maildir_name_with_flags(span_cstr("abc,S=3:2,S"),
	    MAILDIR_FL_SEEN | MAILDIR_FL_REPLIED | maildir_flag_bit('a'), out,
	    sizeof(out)), 13);
	assert_string_equal(out, "abc,S=3:2,RSa");
	assert_int_equal(maildir_name_with_flags(span_cstr("abc"), 0, out,
	    sizeof(out)), 6);
	assert_string_equal(out, "abc:2,");
	/* exactly MAILDIR_NAME_MAX fits, one more does not */
	memset(big, 'x', sizeof(big));
	big[MAILDIR_NAME_MAX - 4] = '\0';
	assert_int_equal(maildir_name_with_flags(span_cstr(big),
	    MAILDIR_FL_SEEN, out, sizeof(out)), MAILDIR_NAME_MAX);
	assert_int_equal(maildir_name_with_flags(span_cstr(big),
	    MAILDIR_FL_SEEN | MAILDIR_FL_FLAGGED, out, sizeof(out)), -1);
	assert_int_equal(maildir_name_with_flags(span_cstr("abc"), 0, out, 6),
	    -1);
}

static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
test_make_deliver(void **state)
{
	char dir[] = "/tmp/test_maildir.XXXXXX", p[512], file[300],
	    file2[300], cmd[600], buf[16];
	const char *why = NULL;
	struct maildir_tmp t;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(maildir_make(dir, "", &why), 0);
	assert_int_equal(maildir_make(dir, ".Sent", &why), 0);
	assert_int_equal(maildir_make(dir, ".Sent", &why), 0);	/* again */
	snprintf(p, sizeof(p), "%s/tmp", dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/.Sent/maildirfolder", dir);
	assert_int_equal(stat(p, &st), 0);
	snprintf(p, sizeof(p), "%s/maildirfolder", dir);
	assert_int_equal(stat(p, &st), -1);

	assert_int_equal(maildir_deliver(dir, "mx", "Subject: x\r\n\r\nhi\r\n",
	    18, file, sizeof(file), &why), 0);
	assert_int_equal(strncmp(file, "new/", 4), 0);
	assert_non_null(strstr(file, ".mx,S=18"));
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 18);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	assert_int_equal(count_dir(p), 0);

	/* streaming into cur/ with flags */
	assert_int_equal(maildir_tmp_open(dir, "mx", &t, &why), 0);
	assert_int_equal(maildir_tmp_write(&t, "abc", 3, &why), 0);
	assert_int_equal(maildir_commit(&t, 1, MAILDIR_FL_SEEN, file2,
	    sizeof(file2), &why), 0);
	assert_int_equal(strncmp(file2, "cur/", 4), 0);
	assert_non_null(strstr(file2, ",S=3:2,S"));

	/* abort leaves nothing */
	assert_int_equal(maildir_tmp_open(dir, "mx", &t, &why), 0);
	maildir_tmp_abort(&t);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	assert_int_equal(count_dir(p), 0);

	/* set flags moves new/ to cur/ */
	assert_int_equal(maildir_set_flags(dir, file, MAILDIR_FL_SEEN |
	    MAILDIR_FL_FLAGGED, buf, sizeof(buf), &why), -1);	/* too small */
	assert_int_equal(maildir_set_flags(dir, file, MAILDIR_FL_SEEN |
	    MAILDIR_FL_FLAGGED, file2, sizeof(file2), &why), 0);
	assert_non_null(strstr(file2, ",S=18:2,FS"));
	snprintf(p, sizeof(p), "%s/%s", dir, file2);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(maildir_set_flags(dir, file, 0, file2, sizeof(file2),
	    &why), 1);	/* gone */
	snprintf(p, sizeof(p), "%s/new", dir);
	assert_int_equal(count_dir(p), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A writer killed mid-delivery leaves tmp/NAME: swept once old enough,
 * never while it may still be written. */
static void
test_sweep_tmp(void **state)
{
	char dir[] = "/tmp/test_maildir.XXXXXX", p[512], cmd[600];
	const char *why = NULL;
	struct maildir_tmp t, t2;
	struct timeval old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	assert_non_null(mkdtemp(dir));
	assert_int_equal(maildir_sweep_tmp(dir, 10), 0);	/* no tmp/ */
	assert_int_equal(maildir_make(dir, "", &why), 0);
	assert_int_equal(maildir_tmp_open(dir, "mx", &t, &why), 0);
	assert_int_equal(maildir_tmp_open(dir, "mx", &t2, &why), 0);
	snprintf(p, sizeof(p), "%s/tmp/%s", dir, t.name);
	assert_int_equal(utimes(p, old), 0);
	snprintf(p, sizeof(p), "%s/tmp/sub", dir);	/* not a file */
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(utimes(p, old), 0);
	assert_int_equal(maildir_sweep_tmp(dir, MAILDIR_TMP_MAX_AGE), 1);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	assert_int_equal(count_dir(p), 2);	/* t2 and sub */
	assert_int_equal(maildir_sweep_tmp(dir, MAILDIR_TMP_MAX_AGE), 0);
	close(t.fd);
	maildir_tmp_abort(&t2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_parse),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_name_format),
		cmocka_unit_test(test_with_flags),
		cmocka_unit_test(test_make_deliver),
		cmocka_unit_test(test_sweep_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
