/* Unit tests for common/tlsw: self-signed generation, load, reload. */
/* SPDX-License-Identifier: ISC */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/x509v3.h>

#include "common/tlsw.h"

struct tdir {
	char dir[64];
	char cert1[128], key1[128], cert2[128], key2[128], bad[128];
};

static int
setup(void **state)
{
	struct tdir *d = calloc(1, sizeof(*d));

	strcpy(d->dir, "/tmp/lb-tlsw-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->cert1, sizeof(d->cert1), "%s/c1.pem", d->dir);
	snprintf(d->key1, sizeof(d->key1), "%s/k1.pem", d->dir);
	snprintf(d->cert2, sizeof(d->cert2), "%s/c2.pem", d->dir);
	snprintf(d->key2, sizeof(d->key2), "%s/k2.pem", d->dir);
	snprintf(d->bad, sizeof(d->bad), "%s/bad.pem", d->dir);
	*state = d;
	return 0;
}

static int
teardown(void **state)
{
	struct tdir *d = *state;

	unlink(d->cert1);
	unlink(d->key1);
	unlink(d->cert2);
	unlink(d->key2);
	unlink(d->bad);
	rmdir(d->dir);
	free(d);
	return 0;
}

static void
cfg_tls(struct cfg *c, char *cert, char *key)
{
	memset(c, 0, sizeof(*c));
	c->tls.cert = cert;
	c->tls.key = key;
	c->tls.min_version = 12;
}

/* The certificate a new connection made now would present. */
static X509 *
served_cert(struct tlsw *t)
{
	SSL *ssl = SSL_new(tlsw_ctx(t));
	X509 *x;

	assert_non_null(ssl);
	x = SSL_get_certificate(ssl);
	assert_non_null(x);
	X509_up_ref(x);
	SSL_free(ssl);
	return x;
}

static void
test_selfsigned(void **state)
{
	struct tdir *d = *state;
	const char *why = NULL;
	struct stat st;
	struct cfg c;
	struct tlsw *t;
	X509 *x;
	GENERAL_NAMES *san;
	const GENERAL_NAME *gn;

	assert_int_equal(tlsw_selfsigned_write(d->cert1, d->key1,
	    "mail.example.org", 30, &why), 0);
	assert_int_equal(stat(d->key1, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(d->cert1, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* the key is never overwritten */
	assert_int_equal(tlsw_selfsigned_write(d->cert2, d->key1,
	    "mail.example.org", 30, &why), -1);
	assert_string_equal(why, "tls: key file already exists");
	assert_int_equal(access(d->cert2, F_OK), -1);
	/* a comma would smuggle a second SAN into a config string */
	assert_int_equal(tlsw_selfsigned_write(d->cert2, d->key2,
	    "a.example,DNS:evil.example", 30, &why), -1);

	cfg_tls(&c, d->cert1, d->key1);
	t = tlsw_new(&c, &why);
	assert_non_null(t);
	x = served_cert(t);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	gn = sk_GENERAL_NAME_value(san, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
	    "mail.example.org");
	assert_int_equal(X509_check_host(x, "mail.example.org", 0, 0, NULL),
	    1);
	GENERAL_NAMES_free(san);
	X509_free(x);
	tlsw_free(&t);
	assert_null(t);
}

static void
test_reload(void **state)
{
	struct tdir *d = *state;
	const char *why = NULL;
	struct cfg c;
	struct tlsw *t;
	X509 *x1, *x2, *x;
	SSL *old;
	FILE *f;

	assert_int_equal(tlsw_selfsigned_write(d->cert1, d->key1, "one.test",
	    1, &why), 0);
	assert_int_equal(tlsw_selfsigned_write(d->cert2, d->key2, "two.test",
	    1, &why), 0);
	cfg_tls(&c, d->cert1, d->key1);
	t = tlsw_new(&c, &why);
	assert_non_null(t);
	x1 = served_cert(t);
	assert_int_equal(X509_check_host(x1, "one.test", 0, 0, NULL), 1);
	old = SSL_new(tlsw_ctx(t));	/* a connection made before reload */

	cfg_tls(&c, d->cert2, d->key2);
	assert_int_equal(tlsw_reload(t, &c, &why), 0);
	x2 = served_cert(t);
	assert_int_equal(X509_check_host(x2, "two.test", 0, 0, NULL), 1);
	assert_int_not_equal(X509_cmp(x1, x2), 0);
	/* the old connection still has the old context and cert */
	assert_int_equal(X509_cmp(SSL_get_certificate(old), x1), 0);
	SSL_free(old);

	/* broken cert: the reload fails and the current one stays */
	f = fopen(d->bad, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64\n", f);
	fclose(f);
	cfg_tls(&c, d->bad, d->key2);
	why = NULL;
	assert_int_equal(tlsw_reload(t, &c, &why), -1);
	assert_non_null(why);
	assert_non_null(strstr(why, "cannot load cert"));
	x = served_cert(t);
	assert_int_equal(X509_cmp(x, x2), 0);
	X509_free(x);
	/* key from another cert: refused too */
	cfg_tls(&c, d->cert1, d->key2);
	assert_int_equal(tlsw_reload(t, &c, &why), -1);
	assert_non_null(strstr(why, "key values mismatch"));
	c.tls.key = d->key1;
	c.tls.min_version = 11;
	assert_int_equal(tlsw_reload(t, &c, &why), -1);
	assert_string_equal(why, "tls: min_version must be 12 or 13");
	x = served_cert(t);
	assert_int_equal(X509_cmp(x, x2), 0);
	X509_free(x);

	X509_free(x1);
	X509_free(x2);
	tlsw_free(&t);
	tlsw_free(&t);	/* harmless on NULL */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_selfsigned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
