/* Unit tests for common/secret: hashes, verification, random values, line reading. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/secret.h"

/* Smallest Argon2id limits: these tests check plumbing, not strength. */
#define OPS 1
#define MEM 8192

static void
test_hash_verify(void **state)
{
	char h[USERDB_HASH_MAX], trunc[USERDB_HASH_MAX];
	const char *why;

	assert_int_equal(secret_hash_password("s3cret", 6, OPS, MEM, h, &why),
	    0);
	assert_true(strncmp(h, "$argon2id$", 10) == 0);
	assert_int_equal(secret_verify_password(h, "s3cret", 6), 1);
	assert_int_equal(secret_verify_password(h, "s3cret!", 7), 0);
	assert_int_equal(secret_verify_password(h, "s3cre", 5), 0);
	assert_int_equal(secret_verify_password(h, "", 0), 0);
	/* a password holding NUL is hashed with its length */
	assert_int_equal(secret_hash_password("a\0b", 3, OPS, MEM, h, &why), 0);
	assert_int_equal(secret_verify_password(h, "a\0b", 3), 1);
	assert_int_equal(secret_verify_password(h, "a", 1), 0);

	memcpy(trunc, h, sizeof(trunc));
	trunc[strlen(h) / 2] = '\0';
	assert_int_equal(secret_verify_password(trunc, "a\0b", 3), -1);
	assert_int_equal(secret_verify_password("", "x", 1), -1);
	assert_int_equal(secret_verify_password("$2y$10$abc", "x", 1), -1);
	memset(trunc, 'x', sizeof(trunc));	/* no NUL at all */
	memcpy(trunc, "$argon2id$", 10);
	assert_int_equal(secret_verify_password(trunc, "x", 1), -1);
}

static void
test_limits_rehash(void **state)
{
	char h[USERDB_HASH_MAX];
	const char *why;

	assert_int_equal(secret_hash_password("x", 1, 0, MEM, h, &why), -1);
	assert_string_equal(why, "hash_opslimit out of range");
	assert_int_equal(secret_hash_password("x", 1, OPS, 1024, h, &why), -1);
	assert_string_equal(why, "hash_memlimit out of range");
	assert_int_equal(secret_hash_password("x", 1, OPS, MEM, h, &why), 0);
	assert_int_equal(secret_needs_rehash(h, OPS, MEM), 0);
	assert_int_equal(secret_needs_rehash(h, 2, MEM), 1);
	assert_int_equal(secret_needs_rehash(h, OPS, 2 * MEM), 1);
	assert_int_equal(secret_needs_rehash("junk", OPS, MEM), -1);
}

static void
test_random(void **state)
{
	char pw[17], pw2[17];
	uint64_t a, b;
	size_t i;

	secret_random_password(pw, sizeof(pw));
	secret_random_password(pw2, sizeof(pw2));
	assert_int_equal(strlen(pw), 16);
	assert_string_not_equal(pw, pw2);
	for (i = 0; i < 16; i++)
		assert_null(strchr("0Oo1lI", pw[i]));
	secret_random_password(pw, 2);
	assert_int_equal(strlen(pw), 1);
	{
		struct secret_str s;

		secret_str_init(&s);
		secret_str_random(&s, 16);
		assert_int_equal(s.len, 16);
		assert_int_equal(strlen(s.p), 16);
		secret_str_fini(&s);
		assert_null(s.p);
	}
	secret_random_id(&a);
	secret_random_id(&b);
	assert_true(a != 0 && b != 0 && a != b);
}

/* Feed data through a pipe and read one line. */
static int
read_line(const void *data, size_t n, struct secret_str *s, const char **why)
{
	int fds[2], rc;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], data, n), (ssize_t)n);
	close(fds[1]);
	rc = secret_str_read_fd(s, fds[0], why);
	close(fds[0]);
	return rc;
}

static void
test_read_line(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		int rc;
		const char *out;
	} cases[] = {
		{ "pw\n", 3, 0, "pw" },
		{ "pw\r\n", 4, 0, "pw" },
		{ "pw", 2, 0, "pw" },
		{ "pw\nmore\n", 8, 0, "pw" },
		{ "a b \n", 5, 0, "a b " },
		{ "\n", 1, 0, "" },
		{ "", 0, 0, "" },
		{ "a\0b\n", 4, -1, NULL },
	};
	struct secret_str s;
	const char *why;
	char big[1100];
	size_t i;

	secret_str_init(&s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(read_line(cases[i].in, cases[i].n, &s, &why),
		    cases[i].rc);
		if (cases[i].out != NULL) {
			assert_string_equal(s.p, cases[i].out);
			assert_int_equal(s.len, strlen(cases[i].out));
		} else
			assert_null(s.p);
	}
	memset(big, 'p', sizeof(big));
	big[1024] = '\n';
	assert_int_equal(read_line(big, 1025, &s, &why), 0);
	assert_int_equal(s.len, 1024);
	big[1024] = 'p';
	big[1025] = '\n';
	assert_int_equal(read_line(big, 1026, &s, &why), -1);
	assert_string_equal(why, "password longer than 1024 bytes");
	assert_null(s.p);
	secret_str_fini(&s);
	secret_str_fini(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_limits_rehash),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_read_line),
	};

	secret_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
