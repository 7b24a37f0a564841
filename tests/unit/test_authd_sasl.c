/* Unit tests for authd/sasl (saslw): Cyrus SASL PLAIN and LOGIN driven directly, with a fake user database and real Argon2id. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <stdio.h>

#include <sodium.h>

#include "authd/sasl.h"
#include "common/log.h"
#include "common/secret.h"

/* Cheapest Argon2id parameters libsodium allows: real hashes, fast tests. */
#define OPS 1
#define MEM 8192

static char alice_hash[USERDB_HASH_MAX], dummy_hash[USERDB_HASH_MAX];
static int lookups, db_fail;
static char last_lookup[USERDB_ADDR_MAX];

static int
fake_user_get(void *arg, const char *address, struct userdb_user *out)
{
	lookups++;
	snprintf(last_lookup, sizeof(last_lookup), "%s", address);
	if (db_fail)
		return -1;
	memset(out, 0, sizeof(*out));
	if (strcmp(address, "alice@example.test") == 0 ||
	    strcmp(address, "dis@example.test") == 0) {
		snprintf(out->address, sizeof(out->address), "%s", address);
		memcpy(out->hash, alice_hash, sizeof(out->hash));
		out->flags = address[0] == 'd' ? USERDB_USER_DISABLED : 0;
		return 1;
	}
	return 0;
}

static const struct saslw_backend BE = { fake_user_get, NULL, NULL,
    dummy_hash };

static struct saslw *sw;

static int
setup(void **state)
{
	lookups = 0;
	db_fail = 0;
	last_lookup[0] = '\0';
	sw = saslw_new(&BE, "smtp", "mx.example.test");
	assert_non_null(sw);
	return 0;
}

static int
teardown(void **state)
{
	saslw_free(&sw);
	assert_null(sw);
	return 0;
}

static enum saslw_rc
start(const char *mech, const void *ir, size_t n, struct span *chal)
{
	struct span in = span_make(ir, n);

	return saslw_start(sw, mech, ir ? &in : NULL, chal);
}

static void
test_plain_good(void **state)
{
	static const char ir[] = "\0Alice@Example.Test\0right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_OK);
	/* canonicalised before the lookup and in the result */
	assert_string_equal(last_lookup, "alice@example.test");
	assert_string_equal(saslw_identity(sw), "alice@example.test");
	assert_string_equal(saslw_account(sw), "alice@example.test");
	assert_int_equal(saslw_checked(sw), 1);
	assert_string_equal(saslw_mech(sw), "PLAIN");
}

static void
test_plain_authzid_same_ok(void **state)
{
	static const char ir[] = "ALICE@example.test\0alice@EXAMPLE.test\0right pw";
	struct span chal;

	assert_int_equal(start("plain", ir, sizeof(ir) - 1, &chal), SASLW_OK);
	assert_string_equal(saslw_identity(sw), "alice@example.test");
}

static void
test_plain_wrong(void **state)
{
	static const char ir[] = "\0alice@example.test\0wrong pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_CREDENTIALS);
	assert_string_equal(saslw_identity(sw), "");
	assert_string_equal(saslw_account(sw), "alice@example.test");
	assert_int_equal(saslw_checked(sw), 1);
	/* over: another step is refused */
	assert_int_equal(saslw_step(sw, span_make("x", 1), &chal), SASLW_FAIL);
}

static void
test_plain_unknown_user_is_checked(void **state)
{
	static const char ir[] = "\0ghost@example.test\0right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_CREDENTIALS);
	assert_int_equal(lookups, 1);
	assert_int_equal(saslw_checked(sw), 1);
}

static void
test_plain_authzid_other_refused(void **state)
{
	static const char ir[] = "bob@example.test\0alice@example.test\0right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_AUTHZ);
	assert_string_equal(saslw_identity(sw), "");
}

static void
test_plain_malformed(void **state)
{
	static const char ir[] = "alice@example.test right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_PROTOCOL);
	assert_int_equal(saslw_checked(sw), 0);
	assert_int_equal(lookups, 0);
}

static void
test_plain_no_initial_response(void **state)
{
	static const char resp[] = "\0alice@example.test\0right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", NULL, 0, &chal), SASLW_CONTINUE);
	assert_int_equal(chal.n, 0);
	assert_int_equal(saslw_step(sw, span_make(resp, sizeof(resp) - 1),
	    &chal), SASLW_OK);
	assert_string_equal(saslw_identity(sw), "alice@example.test");
}

static void
test_plain_disabled(void **state)
{
	static const char ir[] = "\0dis@example.test\0right pw";
	struct span chal;

	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_DISABLED);
}

static void
test_plain_db_error(void **state)
{
	static const char ir[] = "\0alice@example.test\0right pw";
	struct span chal;

	db_fail = 1;
	assert_int_equal(start("PLAIN", ir, sizeof(ir) - 1, &chal),
	    SASLW_TEMPFAIL);
}

static void
login(const char *user, const char *pw, enum saslw_rc want)
{
	struct span chal;

	assert_int_equal(start("LOGIN", NULL, 0, &chal), SASLW_CONTINUE);
	assert_int_equal(chal.n, 9);
	assert_memory_equal(chal.p, "Username:", 9);
	assert_int_equal(saslw_step(sw, span_cstr(user), &chal),
	    SASLW_CONTINUE);
	assert_int_equal(saslw_checked(sw), 0);
	assert_int_equal(chal.n, 9);
	assert_memory_equal(chal.p, "Password:", 9);
	assert_int_equal(saslw_step(sw, span_cstr(pw), &chal), want);
	assert_int_equal(saslw_checked(sw), 1);
}

static void
test_login_good(void **state)
{
	login("Alice@Example.Test", "right pw", SASLW_OK);
	assert_string_equal(saslw_identity(sw), "alice@example.test");
	assert_string_equal(saslw_mech(sw), "LOGIN");
}

static void
test_login_bad(void **state)
{
	login("alice@example.test", "wrong", SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_CREDENTIALS);
}

static void
test_unknown_mech(void **state)
{
	struct span chal;

	assert_int_equal(start("CRAM-MD5", NULL, 0, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_MECH);
	saslw_free(&sw);
	sw = saslw_new(&BE, "smtp", NULL);
	assert_int_equal(start("EXTERNAL", "", 0, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_MECH);
	saslw_free(&sw);
	sw = saslw_new(&BE, "smtp", NULL);
	assert_int_equal(start("NOPE", NULL, 0, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_MECH);
}

static void
test_password_too_long(void **state)
{
	char ir[2048];
	struct span chal;
	size_t n;

	memcpy(ir, "\0alice@example.test\0", 20);
	memset(ir + 20, 'x', 1100);
	n = 20 + 1100;
	assert_int_equal(start("PLAIN", ir, n, &chal), SASLW_FAIL);
	assert_int_equal(saslw_fail_reason(sw), SASLW_FAIL_CREDENTIALS);
}

int
main(void)
{
	const char *why = NULL;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_plain_good),
		T(test_plain_authzid_same_ok),
		T(test_plain_wrong),
		T(test_plain_unknown_user_is_checked),
		T(test_plain_authzid_other_refused),
		T(test_plain_malformed),
		T(test_plain_no_initial_response),
		T(test_plain_disabled),
		T(test_plain_db_error),
		T(test_login_good),
		T(test_login_bad),
		T(test_unknown_mech),
		T(test_password_too_long),
	};
	unsigned char pw[16];
	int rc;

	if (sodium_init() < 0)
		return 1;
	log_init("test_authd_sasl", LOG_DEST_STDERR, LOG_LVL_ERR, NULL);
	if (secret_hash_password("right pw", 8, OPS, MEM, alice_hash,
	    &why) < 0)
		return 1;
	randombytes_buf(pw, sizeof(pw));
	if (secret_hash_password((const char *)pw, sizeof(pw), OPS, MEM,
	    dummy_hash, &why) < 0)
		return 1;
	if (saslw_init(&why) < 0) {
		fprintf(stderr, "saslw_init: %s\n", why);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	saslw_fini();
	return rc;
}
