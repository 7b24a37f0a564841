/* Unit tests for the config reader: defaults, values, errors, limits, load. */
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cfg.h"
#include "common/cfg_priv.h"
#include "common/xmem.h"

#define TLS_OK "tls {\n cert = /c.pem\n key = /k.pem\n}\n"

/* dump: every field as text, so whole configs compare as one string. */
static void
dump(const struct cfg *c, struct buf *out)
{
	size_t i, j;
	int rc = 0;

	rc |= buf_addf(out, "hostname=%s state_dir=%s run_dir=%s log=%d "
	    "log_level=%d facility=%s delim=%d quota=%llu quota_msgs=%llu\n",
	    c->hostname ? c->hostname : "(null)", c->state_dir, c->run_dir,
	    c->log_dest, c->log_level, c->syslog_facility,
	    c->recipient_delimiter,
	    (unsigned long long)c->default_quota_bytes,
	    (unsigned long long)c->default_quota_messages);
	rc |= buf_addf(out, "tls cert=%s key=%s min=%d ciphers=%s suites=%s\n",
	    c->tls.cert ? c->tls.cert : "(null)",
	    c->tls.key ? c->tls.key : "(null)", c->tls.min_version,
	    c->tls.ciphers ? c->tls.ciphers : "(null)",
	    c->tls.ciphersuites ? c->tls.ciphersuites : "(null)");
	rc |= buf_addf(out, "master %u %u %u\n", c->master.restart_min_ms,
	    c->master.restart_max_ms, c->master.shutdown_grace_ms);
	rc |= buf_addf(out, "authd %s %s %s %u %u %u %u %u %llu\n",
	    c->authd.d.user, c->authd.d.group,
	    c->authd.d.chroot ? c->authd.d.chroot : "(null)",
	    c->authd.d.workers, c->authd.throttle_base_ms,
	    c->authd.throttle_max_ms, c->authd.throttle_window_s,
	    c->authd.hash_opslimit,
	    (unsigned long long)c->authd.hash_memlimit);
	for (i = 0; i < c->n_listeners; i++) {
		const struct cfg_listener *l = &c->listeners[i];

		rc |= buf_addf(out, "listen %s kind=%d line=%u tls=%d max=%u "
		    "per_ip=%u", l->name, l->kind, l->line, l->tls,
		    l->max_connections, l->max_per_ip);
		for (j = 0; j < l->n_addrs; j++)
			rc |= buf_addf(out, " %s", l->addrs[j]);
		rc |= buf_addstr(out, "\n");
	}
	assert_int_equal(rc, 0);
}

/* parse_dump: parse text; on success the dump, on failure the errors. */
static int
parse_dump(const char *text, size_t n, struct buf *out)
{
	struct cfg *c = NULL;
	struct buf errs;
	int rc;

	buf_init(&errs, 256, 65536);
	buf_init(out, 256, 65536);
	rc = cfg_parse("t.conf", span_make(text, n), &c, &errs);
	if (rc == 0) {
		assert_non_null(c);
		assert_int_equal(errs.len, 0);
		dump(c, out);
		cfg_free(&c);
		assert_null(c);
	} else {
		assert_null(c);
		assert_int_equal(buf_addspan(out, buf_view(&errs)), 0);
	}
	buf_fini(&errs);
	return rc;
}

static void
expect_ok(const char *text, const char *want)
{
	struct buf out;

	if (parse_dump(text, strlen(text), &out) != 0)
		fail_msg("unexpected errors for [%s]:\n%s", text, buf_cstr(&out));
	assert_string_equal(buf_cstr(&out), want);
	buf_fini(&out);
}

static void
expect_errs_n(const char *text, size_t n, const char *want)
{
	struct buf out;

	assert_int_equal(parse_dump(text, n, &out), -1);
	assert_string_equal(buf_cstr(&out), want);
	buf_fini(&out);
}

static void
expect_errs(const char *text, const char *want)
{
	expect_errs_n(text, strlen(text), want);
}

#define DEFAULTS_G \
	"hostname=(null) state_dir=/var/lib/letterbox " \
	"run_dir=/var/lib/letterbox/run log=0 log_level=3 facility=mail " \
	"delim=43 quota=1073741824 quota_msgs=0\n"
#define DEFAULTS_T \
	"tls cert=(null) key=(null) min=12 ciphers=(null) suites=(null)\n"
#define DEFAULTS_M "master 1000 60000 10000\n"
#define DEFAULTS_A "authd lb-auth lb-auth (null) 2 1000 15000 900 2 67108864\n"
#define DEFAULTS DEFAULTS_G DEFAULTS_T DEFAULTS_M DEFAULTS_A

static void
test_defaults(void **state)
{
	expect_ok("", DEFAULTS);
	expect_ok("# only a comment\n\n   \t\n", DEFAULTS);
	expect_ok("state_dir = /srv/lb\n",
	    "hostname=(null) state_dir=/srv/lb run_dir=/srv/lb/run log=0 "
	    "log_level=3 facility=mail delim=43 quota=1073741824 "
	    "quota_msgs=0\n" DEFAULTS_T DEFAULTS_M DEFAULTS_A);
	expect_ok("authd {\n user = bob\n}\n", DEFAULTS_G DEFAULTS_T
	    DEFAULTS_M "authd bob bob (null) 2 1000 15000 900 2 67108864\n");
	/* Listener defaults per kind: STARTTLS (1) or implicit (2). */
	expect_ok(TLS_OK
	    "listen smtp {\n address = *:25\n}\n"
	    "listen submission {\n address = *:587\n}\n"
	    "listen submissions {\n address = *:465\n}\n"
	    "listen imap {\n address = *:143\n}\n"
	    "listen imaps {\n address = *:993\n}\n"
	    "listen pop3 {\n address = *:110\n}\n"
	    "listen pop3s {\n address = *:995\n}\n",
	    DEFAULTS_G "tls cert=/c.pem key=/k.pem min=12 ciphers=(null) "
	    "suites=(null)\n" DEFAULTS_M DEFAULTS_A
	    "listen smtp kind=0 line=5 tls=1 max=500 per_ip=20 *:25\n"
	    "listen submission kind=1 line=8 tls=1 max=500 per_ip=20 *:587\n"
	    "listen submissions kind=2 line=11 tls=2 max=500 per_ip=20 *:465\n"
	    "listen imap kind=3 line=14 tls=1 max=500 per_ip=20 *:143\n"
	    "listen imaps kind=4 line=17 tls=2 max=500 per_ip=20 *:993\n"
	    "listen pop3 kind=5 line=20 tls=1 max=500 per_ip=20 *:110\n"
	    "listen pop3s kind=6 line=23 tls=2 max=500 per_ip=20 *:995\n");
}

static void
test_values_good(void **state)
{
	expect_ok("hostname = mail.example.org\n"
	    "state_dir = \"/var/lib/my \\\"lb\\\" \\\\x\"\n"
	    "run_dir = /run/lb\n"
	    "log = syslog\n"
	    "log_level = debug\n"
	    "syslog_facility = local3\n"
	    "recipient_delimiter = \"\"\n"
	    "default_quota = 512k\n"
	    "default_quota_messages = 18446744073709551615\n"
	    "tls {\n"
	    "\tcert = \"/etc/lb/cert.pem\"\n"
	    "\tkey = /etc/lb/key.pem # trailing comment\n"
	    "\tmin_version = 1.3\n"
	    "\tciphers = \"ECDHE+AESGCM:!aNULL\"\n"
	    "\tciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "}\n"
	    "master {\n restart_min = 250ms\n restart_max = 2m\n"
	    " shutdown_grace = 0\n}\n"
	    "authd {\n user = a\n group = b\n chroot = /var/empty\n"
	    " workers = 64\n throttle_base = 2\n throttle_max = 1h\n"
	    " throttle_window = 1d\n hash_opslimit = 3\n"
	    " hash_memlimit = 1G\n}\n"
	    "listen \"smtp\" {\n address = 0.0.0.0:25\n address = [::]:25\n"
	    " address = mx.example.org:2525\n tls = none\n"
	    " max_connections = 1\n max_per_ip = 100000\n}\n",
	    "hostname=mail.example.org state_dir=/var/lib/my \"lb\" \\x "
	    "run_dir=/run/lb log=1 log_level=4 facility=local3 delim=0 "
	    "quota=524288 quota_msgs=18446744073709551615\n"
	    "tls cert=/etc/lb/cert.pem key=/etc/lb/key.pem min=13 "
	    "ciphers=ECDHE+AESGCM:!aNULL suites=TLS_AES_256_GCM_SHA384\n"
	    "master 250 120000 0\n"
	    "authd a b /var/empty 64 2000 3600000 86400 3 1073741824\n"
	    "listen smtp kind=0 line=33 tls=0 max=1 per_ip=100000 "
	    "0.0.0.0:25 [::]:25 mx.example.org:2525\n");
	/* CRLF line endings, and no newline at the end. */
	expect_ok("log_level = warn\r\nrecipient_delimiter = -\r\n"
	    "default_quota = 0",
	    "hostname=(null) state_dir=/var/lib/letterbox "
	    "run_dir=/var/lib/letterbox/run log=0 log_level=1 facility=mail "
	    "delim=45 quota=0 quota_msgs=0\n" DEFAULTS_T DEFAULTS_M
	    DEFAULTS_A);
}

struct val_case {
	const char *in;
	int rc;
	uint64_t want;
};

static void
test_value_syntax(void **state)
{
	static const struct val_case durs[] = {
		{ "0", CFG_VAL_OK, 0 }, { "5", CFG_VAL_OK, 5000 },
		{ "7ms", CFG_VAL_OK, 7 }, { "2s", CFG_VAL_OK, 2000 },
		{ "3m", CFG_VAL_OK, 180000 }, { "1h", CFG_VAL_OK, 3600000 },
		{ "2d", CFG_VAL_OK, 172800000 }, { "", CFG_VAL_BAD, 0 },
		{ "s", CFG_VAL_BAD, 0 }, { "5x", CFG_VAL_BAD, 0 },
		{ "5S", CFG_VAL_BAD, 0 }, { "-1s", CFG_VAL_BAD, 0 },
		{ "1 s", CFG_VAL_BAD, 0 },
		{ "18446744073709551615d", CFG_VAL_RANGE, 0 },
		{ "99999999999999999999", CFG_VAL_RANGE, 0 },
	};
	static const struct val_case sizes[] = {
		{ "0", CFG_VAL_OK, 0 }, { "10", CFG_VAL_OK, 10 },
		{ "10B", CFG_VAL_OK, 10 }, { "2k", CFG_VAL_OK, 2048 },
		{ "2K", CFG_VAL_OK, 2048 }, { "3M", CFG_VAL_OK, 3145728 },
		{ "1g", CFG_VAL_OK, 1073741824 }, { "1T", CFG_VAL_BAD, 0 },
		{ "K", CFG_VAL_BAD, 0 }, { "1.5G", CFG_VAL_BAD, 0 },
		{ "17179869184G", CFG_VAL_RANGE, 0 },
	};
	static const struct val_case ints[] = {
		{ "0", CFG_VAL_OK, 0 }, { "42", CFG_VAL_OK, 42 },
		{ "18446744073709551615", CFG_VAL_OK, UINT64_MAX },
		{ "18446744073709551616", CFG_VAL_RANGE, 0 },
		{ "", CFG_VAL_BAD, 0 }, { "+1", CFG_VAL_BAD, 0 },
		{ "0x10", CFG_VAL_BAD, 0 },
	};
	static const struct val_case bools[] = {
		{ "yes", CFG_VAL_OK, 1 }, { "true", CFG_VAL_OK, 1 },
		{ "on", CFG_VAL_OK, 1 }, { "no", CFG_VAL_OK, 0 },
		{ "false", CFG_VAL_OK, 0 }, { "off", CFG_VAL_OK, 0 },
		{ "Yes", CFG_VAL_BAD, 0 }, { "1", CFG_VAL_BAD, 0 },
		{ "", CFG_VAL_BAD, 0 },
	};
	static const struct val_case addrs[] = {
		{ "0.0.0.0:25", CFG_VAL_OK, 25 }, { "*:1", CFG_VAL_OK, 1 },
		{ "[::1]:65535", CFG_VAL_OK, 65535 },
		{ "mail.example.org:587", CFG_VAL_OK, 587 },
		{ "localhost:143", CFG_VAL_OK, 143 },
		{ "*:0", CFG_VAL_RANGE, 0 }, { "*:65536", CFG_VAL_RANGE, 65536 },
		{ "1.2.3.4", CFG_VAL_BAD, 0 }, { "::1:25", CFG_VAL_BAD, 0 },
		{ "[1.2.3.4]:25", CFG_VAL_BAD, 0 }, { "1.2.3:25", CFG_VAL_BAD, 0 },
		{ "256.1.1.1:25", CFG_VAL_BAD, 0 }, { ":25", CFG_VAL_BAD, 0 },
		{ "*:", CFG_VAL_BAD, 0 }, { "*:x", CFG_VAL_BAD, 0 },
		{ "-a.b:25", CFG_VAL_BAD, 0 }, { "a..b:25", CFG_VAL_BAD, 0 },
		{ "a_b:25", CFG_VAL_BAD, 0 },
	};
	uint64_t x;
	unsigned port;
	size_t i;
	int b;

	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		x = 0;
		assert_int_equal(cfg_val_duration(span_cstr(durs[i].in), &x),
		    durs[i].rc);
		if (durs[i].rc == CFG_VAL_OK)
			assert_int_equal(x, durs[i].want);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		x = 0;
		assert_int_equal(cfg_val_size(span_cstr(sizes[i].in), &x),
		    sizes[i].rc);
		if (sizes[i].rc == CFG_VAL_OK)
			assert_int_equal(x, sizes[i].want);
	}
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		x = 0;
		assert_int_equal(cfg_val_uint(span_cstr(ints[i].in), &x),
		    ints[i].rc);
		if (ints[i].rc == CFG_VAL_OK)
			assert_true(x == ints[i].want);
	}
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		b = -1;
		assert_int_equal(cfg_val_bool(span_cstr(bools[i].in), &b),
		    bools[i].rc);
		if (bools[i].rc == CFG_VAL_OK)
			assert_int_equal(b, bools[i].want);
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		port = 0;
		if (cfg_val_addr(span_cstr(addrs[i].in), &port) != addrs[i].rc)
			fail_msg("address %s", addrs[i].in);
		if (addrs[i].rc != CFG_VAL_BAD)
			assert_int_equal(port, addrs[i].want);
	}
}

struct err_case {
	const char *in;
	const char *want;
};

static const struct err_case err_cases[] = {
	{ "lisen = x\n",
	  "t.conf:1:1: unknown key \"lisen\" in section \"global\"\n" },
	{ "tsl {\n cert = x\n}\n", "t.conf:1:1: unknown section \"tsl\"\n" },
	{ "# c\n\nhostname = a\nhostname = b\n",
	  "t.conf:4:1: duplicate key \"hostname\" (first at line 3)\n" },
	{ "authd {\n  throttle_base = 5x\n}\n",
	  "t.conf:2:19: bad duration \"5x\" for \"throttle_base\": use ms, s, "
	  "m, h or d\n" },
	{ "authd {\n\tworkers = 0\n}\n",
	  "t.conf:2:12: value 0 out of range for \"workers\" (1..64)\n" },
	{ "authd {\nworkers = 65\nthrottle_window = 1500ms\n"
	  "hash_memlimit = 4097M\nthrottle_window = 8d\n}\n",
	  "t.conf:2:11: value 65 out of range for \"workers\" (1..64)\n"
	  "t.conf:3:19: duration \"1500ms\" for \"throttle_window\" must be "
	  "whole seconds\n"
	  "t.conf:4:17: value 4097M out of range for \"hash_memlimit\" "
	  "(8K..4G)\n"
	  "t.conf:5:1: duplicate key \"throttle_window\" (first at line 3)\n" },
	{ "master {\nrestart_min = 5ms\n}\n",
	  "t.conf:2:15: value 5ms out of range for \"restart_min\" "
	  "(10ms..1h)\n" },
	{ "hostname = \"abc\n", "t.conf:1:12: unterminated string\n" },
	{ "hostname = \"abc\\\"\n", "t.conf:1:12: unterminated string\n" },
	{ "hostname = \"a\\tb\"\n",
	  "t.conf:1:14: bad escape \"\\t\" in string: only \\\" and \\\\\n" },
	{ "\n\n\n\n\n\ntls {\ncert = /a\nkey = /b\n",
	  "t.conf:10:1: missing \"}\" for block opened at line 7\n" },
	{ "master {\nauthd {\n}\n",
	  "t.conf:2:1: missing \"}\" for block opened at line 1\n" },
	{ TLS_OK "listen smtp {\n address = *:25\n}\n"
	  "listen smtp {\n address = *:26\n}\n",
	  "t.conf:8:1: listen \"smtp\" defined twice (first at line 5)\n" },
	{ "tls {\n}\ntls {\n}\n",
	  "t.conf:3:1: section \"tls\" defined twice (first at line 1)\n" },
	{ TLS_OK "listen smtp {\n address = 1.2.3.4\n}\n",
	  "t.conf:6:12: bad address \"1.2.3.4\" for \"address\": use "
	  "HOST:PORT, [IPV6]:PORT or *:PORT\n" },
	{ TLS_OK "listen smtp {\n address = *:70000\n}\n",
	  "t.conf:6:12: port 70000 out of range\n" },
	{ TLS_OK "listen smtp {\n address = *:25\n address = *:25\n}\n",
	  "t.conf:7:12: address \"*:25\" given twice\n" },
	{ TLS_OK "listen smtp {\naddress=*:1\naddress=*:2\naddress=*:3\n"
	  "address=*:4\naddress=*:5\naddress=*:6\naddress=*:7\naddress=*:8\n"
	  "address=*:9\n}\n",
	  "t.conf:14:9: too many \"address\" values (max 8)\n" },
	{ "state_dir = var/lib\n",
	  "t.conf:1:13: state_dir must be an absolute path\n" },
	{ "listen imaps {\n address = *:993\n}\n",
	  "t.conf:1:1: listen \"imaps\" uses TLS but tls.cert and tls.key "
	  "are not set\n" },
	{ TLS_OK "listen imaps {\n address = *:993\n tls = none\n}\n",
	  "t.conf:7:2: listen \"imaps\": tls = none on an implicit-TLS "
	  "listener\n" },
	{ TLS_OK "listen pop3s {\n address = *:995\n tls = starttls\n}\n",
	  "t.conf:7:2: listen \"pop3s\": tls = starttls on an implicit-TLS "
	  "listener\n" },
	{ "listen smtp {\n tls = none\n}\n",
	  "t.conf:1:1: listen \"smtp\" has no address\n" },
	{ "tls {\n cert = /c\n}\n",
	  "t.conf:2:2: tls.cert is set but tls.key is not\n" },
	{ "master {\n restart_min = 2m\n restart_max = 1m\n}\n",
	  "t.conf:2:2: restart_min (2m) is greater than restart_max (1m)\n" },
	{ "authd {\n throttle_max = 500ms\n}\n",
	  "t.conf:2:2: throttle_base (1s) is greater than throttle_max "
	  "(500ms)\n" },
	{ "log = file\nlog_level = trace\nsyslog_facility = kern\n"
	  "recipient_delimiter = ab\nrecipient_delimiter2 = x\n"
	  "default_quota = 1X\ndefault_quota_messages = -1\n"
	  "hostname = \"a b\"\n",
	  "t.conf:1:7: bad value \"file\" for \"log\": use stderr or syslog\n"
	  "t.conf:2:13: bad value \"trace\" for \"log_level\": use err, warn, "
	  "notice, info or debug\n"
	  "t.conf:3:19: bad value \"kern\" for \"syslog_facility\": use mail, "
	  "daemon, user, local0, local1, local2, local3, local4, local5, "
	  "local6 or local7\n"
	  "t.conf:4:23: bad value \"ab\" for \"recipient_delimiter\": use one "
	  "punctuation character or \"\"\n"
	  "t.conf:5:1: unknown key \"recipient_delimiter2\" in section "
	  "\"global\"\n"
	  "t.conf:6:17: bad size \"1X\" for \"default_quota\": use B, K, M or "
	  "G\n"
	  "t.conf:7:26: bad integer \"-1\" for \"default_quota_messages\"\n"
	  "t.conf:8:12: bad host name \"a b\" for \"hostname\"\n" },
	{ "tls {\n min_version = 1.1\n cert = \"\"\n}\n",
	  "t.conf:2:16: bad value \"1.1\" for \"min_version\": use 1.2 or 1.3\n"
	  "t.conf:3:9: empty value for \"cert\"\n" },
	{ "}\nhostname\nhostname x\n= 3\nlisten {\n}\nlisten smtps {\n}\n"
	  "tls x {\n}\nglobal {\n}\nlog =\nlog = {\nlog = a b\n"
	  "master {\n} x\nlisten smtp\n",
	  "t.conf:1:1: unexpected \"}\"\n"
	  "t.conf:2:9: expected \"=\" after \"hostname\"\n"
	  "t.conf:3:10: expected \"=\" after \"hostname\"\n"
	  "t.conf:4:1: unexpected \"=\"\n"
	  "t.conf:5:1: \"listen\" needs a kind, e.g. \"listen smtp {\"\n"
	  "t.conf:7:1: unknown listen kind \"smtps\": use smtp, submission, "
	  "submissions, imap, imaps, pop3 or pop3s\n"
	  "t.conf:9:1: section \"tls\" takes no label\n"
	  "t.conf:11:1: global keys go outside any block\n"
	  "t.conf:13:6: missing value for \"log\"\n"
	  "t.conf:14:7: expected a value for \"log\", not \"{\"\n"
	  "t.conf:15:9: unexpected \"b\" after the value of \"log\"\n"
	  "t.conf:17:3: unexpected \"x\" after \"}\"\n"
	  "t.conf:18:8: expected \"{\" after \"listen\"\n" },
	/* Bad bytes: the line is reported once and skipped. */
	{ "hostname = a\x01" "b\nlog = x\n",
	  "t.conf:1:13: control character 0x01\n"
	  "t.conf:2:7: bad value \"x\" for \"log\": use stderr or syslog\n" },
	{ "hostname = \"caf\xc3\xa9\"\nhostname = \xc3\x28\n"
	  "# \xed\xa0\x80 surrogate\n# \xc0\xaf overlong\n# \xf4\x90\x80\x80\n"
	  "a = b\rc\n",
	  "t.conf:1:12: bad host name \"caf\xc3\xa9\" for \"hostname\"\n"
	  "t.conf:2:12: invalid UTF-8\n"
	  "t.conf:3:3: invalid UTF-8\n"
	  "t.conf:4:3: invalid UTF-8\n"
	  "t.conf:5:3: invalid UTF-8\n"
	  "t.conf:6:6: control character 0x0d\n" },
};

static void
test_errors(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct buf out;

		assert_int_equal(parse_dump(err_cases[i].in,
		    strlen(err_cases[i].in), &out), -1);
		if (strcmp(buf_cstr(&out), err_cases[i].want) != 0)
			fail_msg("case %zu [%s]:\ngot:\n%swant:\n%s", i,
			    err_cases[i].in, buf_cstr(&out), err_cases[i].want);
		buf_fini(&out);
	}
}

static void
test_nul_and_cap(void **state)
{
	struct buf text, want;
	int i;

	expect_errs_n("log = syslog\nhostname = a\0b\n", 27,
	    "t.conf:2:13: NUL byte\n");
	/* 25 bad lines: 20 reported, then a stop. */
	buf_init(&text, 256, 4096);
	buf_init(&want, 256, 8192);
	for (i = 1; i <= 25; i++) {
		assert_int_equal(buf_addf(&text, "bad%d = 1\n", i), 0);
		if (i <= 20)
			assert_int_equal(buf_addf(&want, "t.conf:%d:1: unknown "
			    "key \"bad%d\" in section \"global\"\n", i, i), 0);
	}
	assert_int_equal(buf_addstr(&want,
	    "t.conf: too many errors, stopping\n"), 0);
	expect_errs(buf_cstr(&text), buf_cstr(&want));
	buf_fini(&text);
	buf_fini(&want);
}

/* line_of: "PREFIX" padded with c to exactly n bytes plus SUFFIX. */
static char *
line_of(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = xmalloc(n + sl + 1);

	memcpy(s, prefix, pl);
	memset(s + pl, c, n - pl);
	memcpy(s + n, suffix, sl + 1);
	return s;
}

static void
test_limits(void **state)
{
	struct buf out;
	char *s;

	/* A comment line of exactly 4096 bytes, then one of 4097. */
	s = line_of("#", 'x', CFG_MAX_LINE, "\r\n");
	assert_int_equal(parse_dump(s, strlen(s), &out), 0);
	buf_fini(&out);
	free(s);
	s = line_of("#", 'x', CFG_MAX_LINE + 1, "\nlog = x\n");
	expect_errs(s, "t.conf:1:4097: line too long (max 4096 bytes)\n"
	    "t.conf:2:7: bad value \"x\" for \"log\": use stderr or syslog\n");
	free(s);

	/* A quoted string of 1024 bytes, then 1025. */
	s = line_of("tls {\nciphers = \"", 'a', 17 + CFG_MAX_STRING, "\"\n}\n");
	assert_int_equal(parse_dump(s, strlen(s), &out), 0);
	buf_fini(&out);
	free(s);
	s = line_of("tls {\nciphers = \"", 'a', 18 + CFG_MAX_STRING, "\"\n}\n");
	expect_errs(s, "t.conf:2:11: string too long (max 1024 bytes)\n");
	free(s);
	/* Escapes count once, as the byte they stand for. */
	s = line_of("tls {\nciphers = \"\\\\", 'a', 18 + CFG_MAX_STRING,
	    "\"\n}\n");
	assert_int_equal(parse_dump(s, strlen(s), &out), 0);
	buf_fini(&out);
	free(s);

	/* A bare word of 1024 bytes, then 1025. */
	s = line_of("tls {\nciphers = ", 'a', 16 + CFG_MAX_STRING, "\n}\n");
	assert_int_equal(parse_dump(s, strlen(s), &out), 0);
	buf_fini(&out);
	free(s);
	s = line_of("tls {\nciphers = ", 'a', 17 + CFG_MAX_STRING, "\n}\n");
	expect_errs(s, "t.conf:2:11: word too long (max 1024 bytes)\n");
	free(s);

	/* The whole file: 1 MiB is fine, one byte more is not. */
	s = line_of("", '\n', CFG_MAX_FILE, "");
	assert_int_equal(parse_dump(s, CFG_MAX_FILE, &out), 0);
	buf_fini(&out);
	free(s);
}

static void
test_file_too_big(void **state)
{
	char *s = line_of("", '\n', CFG_MAX_FILE + 1, "");

	expect_errs_n(s, CFG_MAX_FILE + 1, "t.conf: file too large (max 1 MiB)\n");
	free(s);
}

static void
test_twice_identical(void **state)
{
	static const char text[] = TLS_OK "hostname = h.example\n"
	    "listen imap {\n address = [::1]:143\n max_per_ip = 3\n}\n"
	    "authd {\n throttle_window = 90s\n}\n";
	struct buf a, b;

	assert_int_equal(parse_dump(text, sizeof(text) - 1, &a), 0);
	assert_int_equal(parse_dump(text, sizeof(text) - 1, &b), 0);
	assert_string_equal(buf_cstr(&a), buf_cstr(&b));
	buf_fini(&a);
	buf_fini(&b);
}

static void
test_helpers(void **state)
{
	static const char text[] = TLS_OK "state_dir = /srv/x\n"
	    "listen pop3s {\n address = *:995\n}\n";
	struct cfg *c = NULL;
	struct buf errs;
	char *p;

	buf_init(&errs, 64, 4096);
	assert_int_equal(cfg_parse("t.conf", span_make(text, sizeof(text) - 1),
	    &c, &errs), 0);
	assert_string_equal(c->path, "t.conf");
	assert_null(cfg_listener_find(c, CFG_LISTEN_SMTP));
	assert_ptr_equal(cfg_listener_find(c, CFG_LISTEN_POP3S),
	    &c->listeners[0]);
	assert_string_equal(cfg_listener_kind_name(CFG_LISTEN_SUBMISSIONS),
	    "submissions");
	assert_string_equal(cfg_listener_kind_name(CFG_LISTEN_POP3S), "pop3s");
	assert_string_equal(cfg_listener_kind_name(CFG_LISTEN_KIND_MAX),
	    "unknown");
	p = cfg_state_path(c, "db/users.lmdb");
	assert_string_equal(p, "/srv/x/db/users.lmdb");
	free(p);
	cfg_free(&c);
	assert_null(c);
	cfg_free(&c);
	buf_fini(&errs);
}

static char *
write_temp(const char *text, mode_t mode)
{
	char *path = xstrdup("/tmp/test_cfg.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void
test_load(void **state)
{
	char *cert = write_temp("cert\n", 0644);
	char *key = write_temp("key\n", 0640);
	char *conf, *text, *want;
	struct cfg *c = NULL;
	struct buf errs;

	buf_init(&errs, 256, 65536);
	text = xasprintf("state_dir = /tmp/x\ntls {\n  cert = %s\n  key = %s\n"
	    "}\nlisten imaps {\n address = 127.0.0.1:10993\n}\n", cert, key);
	conf = write_temp(text, 0644);

	/* Group-readable key. */
	assert_int_equal(cfg_load(conf, &c, &errs), -1);
	assert_null(c);
	want = xasprintf("%s:4:3: tls.key \"%s\" is readable by group or "
	    "others: chmod 600 it\n", conf, key);
	assert_string_equal(buf_cstr(&errs), want);
	free(want);

	/* Fixed: loads, and the host name is filled in. */
	assert_int_equal(chmod(key, 0600), 0);
	buf_reset(&errs);
	assert_int_equal(cfg_load(conf, &c, &errs), 0);
	assert_int_equal(errs.len, 0);
	assert_non_null(c->hostname);
	assert_string_equal(c->path, conf);
	assert_string_equal(c->tls.key, key);
	cfg_free(&c);

	/* Missing certificate. */
	assert_int_equal(unlink(cert), 0);
	buf_reset(&errs);
	assert_int_equal(cfg_load(conf, &c, &errs), -1);
	want = xasprintf("%s:3:3: cannot read tls.cert \"%s\": No such file "
	    "or directory\n", conf, cert);
	assert_string_equal(buf_cstr(&errs), want);
	free(want);

	/* Missing config file. */
	assert_int_equal(unlink(conf), 0);
	buf_reset(&errs);
	assert_int_equal(cfg_load(conf, &c, &errs), -1);
	want = xasprintf("%s: cannot read: No such file or directory\n", conf);
	assert_string_equal(buf_cstr(&errs), want);
	free(want);

	/* Parse errors carry the path as given. */
	free(text);
	text = xasprintf("workers = 2\n");
	free(conf);
	conf = write_temp(text, 0600);
	buf_reset(&errs);
	assert_int_equal(cfg_load(conf, &c, &errs), -1);
	want = xasprintf("%s:1:1: unknown key \"workers\" in section "
	    "\"global\"\n", conf);
	assert_string_equal(buf_cstr(&errs), want);
	free(want);
	unlink(conf);

	buf_reset(&errs);
	assert_int_equal(cfg_load("/tmp", &c, &errs), -1);
	assert_string_equal(buf_cstr(&errs),
	    "/tmp: cannot read: not a regular file\n");

	unlink(key);
	free(text);
	free(conf);
	free(cert);
	free(key);
	buf_fini(&errs);
}

static void
test_example_and_data(void **state)
{
	struct cfg *c = NULL;
	struct buf errs, text;
	char path[512], line[512], *want;
	const char *dir = "tests/data/conf/bad";
	struct dirent *de;
	FILE *f;
	DIR *d;
	size_t n, count = 0, bad = 0;

	buf_init(&errs, 256, 65536);
	buf_init(&text, 4096, CFG_MAX_FILE);
	f = fopen("conf/letterbox.conf.example", "r");
	assert_non_null(f);
	while ((n = fread(line, 1, sizeof(line), f)) > 0)
		assert_int_equal(buf_add(&text, line, n), 0);
	fclose(f);
	if (cfg_parse("letterbox.conf.example", buf_view(&text), &c,
	    &errs) != 0)
		fail_msg("%s", buf_cstr(&errs));
	assert_non_null(cfg_listener_find(c, CFG_LISTEN_IMAPS));
	cfg_free(&c);

	assert_int_equal(cfg_load("tests/data/conf/good/minimal.conf", &c,
	    &errs), 0);
	cfg_free(&c);

	/* Each bad config says on its first line where its error is. */
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_int_equal(strncmp(line, "# expect: ", 10), 0);
		line[strcspn(line, "\n")] = '\0';
		buf_reset(&errs);
		assert_int_equal(cfg_load(path, &c, &errs), -1);
		want = xasprintf("%s:%s", path, line + 10);
		if (strstr(buf_cstr(&errs), want) == NULL) {
			print_error("%s: want \"%s\", got:\n%s", path, want,
			    buf_cstr(&errs));
			bad++;
		}
		free(want);
		count++;
	}
	closedir(d);
	assert_int_equal(bad, 0);
	assert_true(count >= 12);
	buf_fini(&text);
	buf_fini(&errs);
}

/* Sections added for smtpd and queued: defaults without a block, values
 * with one, and group following user. */
static void
test_daemon_sections(void **state)
{
	static const char text[] = "smtpd {\n user = mx\n max_message_size ="
	    " 10M\n greet_pause = 300ms\n received_auth = yes\n}\n"
	    "queued {\n commit_threads = 8\n}\n";
	struct cfg *c = NULL;
	struct buf errs;

	buf_init(&errs, 256, 65536);
	assert_int_equal(cfg_parse("t.conf", span_make("", 0), &c, &errs), 0);
	assert_string_equal(c->smtpd.d.user, "lb-smtp");
	assert_string_equal(c->smtpd.d.group, "lb-smtp");
	assert_int_equal(c->smtpd.d.workers, 1);
	assert_int_equal(c->smtpd.max_message_size, 50ULL << 20);
	assert_int_equal(c->smtpd.max_recipients, 100);
	assert_int_equal(c->smtpd.max_errors, 10);
	assert_int_equal(c->smtpd.timeout_ms, 300000);
	assert_int_equal(c->smtpd.data_timeout_ms, 600000);
	assert_int_equal(c->smtpd.greet_pause_ms, 0);
	assert_int_equal(c->smtpd.received_auth, 0);
	assert_string_equal(c->queued.d.user, "lb-queue");
	assert_string_equal(c->queued.d.group, "lb-queue");
	assert_int_equal(c->queued.commit_threads, 4);
	assert_int_equal(c->queued.lmtp_sessions, 16);
	assert_int_equal(c->queued.retry_min_ms, 60000);
	assert_int_equal(c->queued.retry_max_ms, 3600000);
	assert_int_equal(c->queued.lifetime_s, 5 * 86400);
	assert_string_equal(c->mda.d.user, "lb-mail");
	assert_string_equal(c->mda.d.group, "lb-mail");
	assert_int_equal(c->mda.d.workers, 16);
	cfg_free(&c);
	assert_int_equal(cfg_parse("t.conf", span_cstr(text), &c, &errs), 0);
	assert_string_equal(c->smtpd.d.user, "mx");
	assert_string_equal(c->smtpd.d.group, "mx");
	assert_int_equal(c->smtpd.max_message_size, 10ULL << 20);
	assert_int_equal(c->smtpd.greet_pause_ms, 300);
	assert_int_equal(c->smtpd.received_auth, 1);
	assert_int_equal(c->queued.commit_threads, 8);
	cfg_free(&c);
	buf_fini(&errs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon_sections),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_good),
		cmocka_unit_test(test_value_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_and_cap),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_file_too_big),
		cmocka_unit_test(test_twice_identical),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_example_and_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
