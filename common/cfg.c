/* Config reader: the key schema, a recursive-descent parser and the loader. */
/* SPDX-License-Identifier: ISC */
#include "common/cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cfg_priv.h"
#include "common/xmem.h"

enum cfg_sect {
	CFG_S_GLOBAL = 0,	/* top level, outside any block */
	CFG_S_TLS,
	CFG_S_MASTER,
	CFG_S_AUTHD,
	CFG_S_SMTPD,
	CFG_S_QUEUED,
	CFG_S_MDA,
	CFG_S_POP3D,
	CFG_S_IMAPD,
	CFG_S_LISTEN,		/* labelled: listen KIND { } */
	CFG_S_MAX,
	CFG_S_SKIP = CFG_S_MAX,	/* inside a block already reported bad */
};

static const struct {
	const char *name;
	int labelled;
} cfg_sects[CFG_S_MAX] = {
	[CFG_S_GLOBAL] = { "global", 0 },
	[CFG_S_TLS] = { "tls", 0 },
	[CFG_S_MASTER] = { "master", 0 },
	[CFG_S_AUTHD] = { "authd", 0 },
	[CFG_S_SMTPD] = { "smtpd", 0 },
	[CFG_S_QUEUED] = { "queued", 0 },
	[CFG_S_MDA] = { "mda", 0 },
	[CFG_S_POP3D] = { "pop3d", 0 },
	[CFG_S_IMAPD] = { "imapd", 0 },
	[CFG_S_LISTEN] = { "listen", 1 },
};

enum cfg_type {
	CFG_T_STR,	/* char *, not empty */
	CFG_T_PATH,	/* char *, absolute path */
	CFG_T_HOST,	/* char *, DNS host name */
	CFG_T_ENUM,	/* int-sized enum, one of choices */
	CFG_T_CHOICE,	/* char *, one of choices */
	CFG_T_CHAR,	/* char, one punctuation character or "" */
	CFG_T_UINT,	/* unsigned */
	CFG_T_U64,	/* uint64_t */
	CFG_T_BOOL,	/* int, 0 or 1 */
	CFG_T_DUR_MS,	/* unsigned, milliseconds */
	CFG_T_DUR_S,	/* unsigned, whole seconds */
	CFG_T_SIZE,	/* uint64_t, bytes */
	CFG_T_ADDR,	/* listener address list */
};

struct cfg_choice {
	const char *name;
	int value;
};

/*
 * One row per key.  off is into struct cfg, or into struct cfg_listener
 * for CFG_S_LISTEN.  def is a default written as it would be in the file
 * and goes through the same checks.  Ranges are in the stored unit, except
 * durations, whose ranges are in milliseconds whatever they store.
 */
struct cfg_key {
	enum cfg_sect sect;
	const char *name;
	enum cfg_type type;
	size_t off;
	unsigned repeat;		/* 0: once; else at most this many */
	uint64_t min, max;
	const struct cfg_choice *choices;	/* ends with a NULL name */
	const char *def;
};

static const struct cfg_choice cfg_log_dests[] = {
	{ "stderr", LOG_DEST_STDERR }, { "syslog", LOG_DEST_SYSLOG },
	{ NULL, 0 },
};
static const struct cfg_choice cfg_log_levels[] = {
	{ "err", LOG_LVL_ERR }, { "warn", LOG_LVL_WARN },
	{ "notice", LOG_LVL_NOTICE }, { "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG }, { NULL, 0 },
};
static const struct cfg_choice cfg_relay_tls[] = {
	{ "none", 0 }, { "may", 0 }, { "require", 0 }, { "verify", 0 },
	{ NULL, 0 },
};

static const struct cfg_choice cfg_facilities[] = {
	{ "mail", 0 }, { "daemon", 0 }, { "user", 0 }, { "local0", 0 },
	{ "local1", 0 }, { "local2", 0 }, { "local3", 0 }, { "local4", 0 },
	{ "local5", 0 }, { "local6", 0 }, { "local7", 0 }, { NULL, 0 },
};
static const struct cfg_choice cfg_tls_versions[] = {
	{ "1.2", 12 }, { "1.3", 13 }, { NULL, 0 },
};
static const struct cfg_choice cfg_tls_modes[] = {
	{ "none", CFG_TLS_NONE }, { "starttls", CFG_TLS_STARTTLS },
	{ "implicit", CFG_TLS_IMPLICIT }, { NULL, 0 },
};

#define G(f)	offsetof(struct cfg, f)
#define L(f)	offsetof(struct cfg_listener, f)
#define SEC	1000ULL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

static const struct cfg_key cfg_keys[] = {
	{ CFG_S_GLOBAL, "hostname", CFG_T_HOST, G(hostname), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_GLOBAL, "state_dir", CFG_T_PATH, G(state_dir), 0, 0, 0, NULL,
	    "/var/lib/letterbox" },
	{ CFG_S_GLOBAL, "run_dir", CFG_T_PATH, G(run_dir), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_GLOBAL, "log", CFG_T_ENUM, G(log_dest), 0, 0, 0,
	    cfg_log_dests, "stderr" },
	{ CFG_S_GLOBAL, "log_level", CFG_T_ENUM, G(log_level), 0, 0, 0,
	    cfg_log_levels, "info" },
	{ CFG_S_GLOBAL, "syslog_facility", CFG_T_CHOICE, G(syslog_facility),
	    0, 0, 0, cfg_facilities, "mail" },
	{ CFG_S_GLOBAL, "recipient_delimiter", CFG_T_CHAR,
	    G(recipient_delimiter), 0, 0, 0, NULL, "+" },
	{ CFG_S_GLOBAL, "default_quota", CFG_T_SIZE, G(default_quota_bytes),
	    0, 0, UINT64_MAX, NULL, "1G" },
	{ CFG_S_GLOBAL, "default_quota_messages", CFG_T_U64,
	    G(default_quota_messages), 0, 0, UINT64_MAX, NULL, "0" },

	{ CFG_S_TLS, "cert", CFG_T_STR, G(tls.cert), 0, 0, 0, NULL, NULL },
	{ CFG_S_TLS, "key", CFG_T_STR, G(tls.key), 0, 0, 0, NULL, NULL },
	{ CFG_S_TLS, "min_version", CFG_T_ENUM, G(tls.min_version), 0, 0, 0,
	    cfg_tls_versions, "1.2" },
	{ CFG_S_TLS, "ciphers", CFG_T_STR, G(tls.ciphers), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_TLS, "ciphersuites", CFG_T_STR, G(tls.ciphersuites), 0, 0, 0,
	    NULL, NULL },

	{ CFG_S_MASTER, "restart_min", CFG_T_DUR_MS, G(master.restart_min_ms),
	    0, 10, HOUR, NULL, "1s" },
	{ CFG_S_MASTER, "restart_max", CFG_T_DUR_MS, G(master.restart_max_ms),
	    0, SEC, DAY, NULL, "60s" },
	{ CFG_S_MASTER, "shutdown_grace", CFG_T_DUR_MS,
	    G(master.shutdown_grace_ms), 0, 0, HOUR, NULL, "10s" },

	{ CFG_S_AUTHD, "user", CFG_T_STR, G(authd.d.user), 0, 0, 0, NULL,
	    "lb-auth" },
	{ CFG_S_AUTHD, "group", CFG_T_STR, G(authd.d.group), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_AUTHD, "chroot", CFG_T_PATH, G(authd.d.chroot), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_AUTHD, "workers", CFG_T_UINT, G(authd.d.workers), 0, 1, 64,
	    NULL, "2" },
	{ CFG_S_AUTHD, "throttle_base", CFG_T_DUR_MS,
	    G(authd.throttle_base_ms), 0, 0, HOUR, NULL, "1s" },
	{ CFG_S_AUTHD, "throttle_max", CFG_T_DUR_MS, G(authd.throttle_max_ms),
	    0, 0, DAY, NULL, "15s" },
	{ CFG_S_AUTHD, "throttle_window", CFG_T_DUR_S,
	    G(authd.throttle_window_s), 0, SEC, 7 * DAY, NULL, "15m" },
	{ CFG_S_AUTHD, "hash_opslimit", CFG_T_UINT, G(authd.hash_opslimit), 0,
	    1, 100, NULL, "2" },
	{ CFG_S_AUTHD, "hash_memlimit", CFG_T_SIZE, G(authd.hash_memlimit), 0,
	    8192, 4ULL << 30, NULL, "64M" },

	{ CFG_S_SMTPD, "user", CFG_T_STR, G(smtpd.d.user), 0, 0, 0, NULL,
	    "lb-smtp" },
	{ CFG_S_SMTPD, "group", CFG_T_STR, G(smtpd.d.group), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_SMTPD, "chroot", CFG_T_PATH, G(smtpd.d.chroot), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_SMTPD, "workers", CFG_T_UINT, G(smtpd.d.workers), 0, 1, 64,
	    NULL, "1" },
	{ CFG_S_SMTPD, "max_message_size", CFG_T_SIZE,
	    G(smtpd.max_message_size), 0, 1024, 1ULL << 32, NULL, "50M" },
	{ CFG_S_SMTPD, "max_recipients", CFG_T_UINT, G(smtpd.max_recipients),
	    0, 1, 1000, NULL, "100" },
	{ CFG_S_SMTPD, "max_errors", CFG_T_UINT, G(smtpd.max_errors), 0, 1,
	    1000, NULL, "10" },
	{ CFG_S_SMTPD, "timeout", CFG_T_DUR_MS, G(smtpd.timeout_ms), 0, SEC,
	    HOUR, NULL, "5m" },
	{ CFG_S_SMTPD, "data_timeout", CFG_T_DUR_MS, G(smtpd.data_timeout_ms),
	    0, SEC, 2 * HOUR, NULL, "10m" },
	{ CFG_S_SMTPD, "greet_pause", CFG_T_DUR_MS, G(smtpd.greet_pause_ms),
	    0, 0, 60 * SEC, NULL, "0s" },
	{ CFG_S_SMTPD, "received_auth", CFG_T_BOOL, G(smtpd.received_auth), 0,
	    0, 0, NULL, "no" },

	{ CFG_S_QUEUED, "user", CFG_T_STR, G(queued.d.user), 0, 0, 0, NULL,
	    "lb-queue" },
	{ CFG_S_QUEUED, "group", CFG_T_STR, G(queued.d.group), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_QUEUED, "chroot", CFG_T_PATH, G(queued.d.chroot), 0, 0, 0,
	    NULL, NULL },
	{ CFG_S_QUEUED, "workers", CFG_T_UINT, G(queued.d.workers), 0, 1, 1,
	    NULL, "1" },
	{ CFG_S_QUEUED, "commit_threads", CFG_T_UINT,
	    G(queued.commit_threads), 0, 1, 64, NULL, "4" },
	{ CFG_S_QUEUED, "lmtp_sessions", CFG_T_UINT, G(queued.lmtp_sessions),
	    0, 1, 64, NULL, "16" },
	{ CFG_S_QUEUED, "retry_min", CFG_T_DUR_MS, G(queued.retry_min_ms), 0,
	    100, HOUR, NULL, "1m" },
	{ CFG_S_QUEUED, "retry_max", CFG_T_DUR_MS, G(queued.retry_max_ms), 0,
	    SEC, DAY, NULL, "1h" },
	{ CFG_S_QUEUED, "lifetime", CFG_T_DUR_S, G(queued.lifetime_s), 0,
	    SEC, 30 * DAY, NULL, "5d" },
	/* RFC 3464 "delayed" DSN for mail still queued after this (the
	 * customary 4 hours); 0 sends none */
	{ CFG_S_QUEUED, "delay_warning", CFG_T_DUR_S,
	    G(queued.delay_warning_s), 0, 0, 30 * DAY, NULL, "4h" },
	{ CFG_S_QUEUED, "deliver", CFG_T_BOOL, G(queued.deliver), 0, 0, 0,
	    NULL, "yes" },
	{ CFG_S_QUEUED, "relay_host", CFG_T_STR, G(queued.relay_host), 0, 0,
	    0, NULL, NULL },
	{ CFG_S_QUEUED, "relay_tls", CFG_T_CHOICE, G(queued.relay_tls), 0, 0,
	    0, cfg_relay_tls, "may" },
	{ CFG_S_QUEUED, "relay_auth_file", CFG_T_PATH,
	    G(queued.relay_auth_file), 0, 0, 0, NULL, NULL },
	{ CFG_S_QUEUED, "remote_sessions", CFG_T_UINT,
	    G(queued.remote_sessions), 0, 1, 1000, NULL, "50" },
	/* per destination (a domain's MX hosts, or the smarthost) */
	{ CFG_S_QUEUED, "dest_sessions", CFG_T_UINT,
	    G(queued.dest_sessions), 0, 1, 1000, NULL, "20" },
	/* "bank.example:verify, partner.example:require, *:may" */
	{ CFG_S_QUEUED, "tls_policy", CFG_T_STR, G(queued.tls_policy), 0, 0,
	    0, NULL, NULL },
	{ CFG_S_QUEUED, "tls_ca_file", CFG_T_PATH, G(queued.tls_ca_file), 0,
	    0, 0, NULL, NULL },
	{ CFG_S_QUEUED, "resolver", CFG_T_STR, G(queued.resolver), 0, 0, 0,
	    NULL, NULL },
	{ CFG_S_QUEUED, "resolver_timeout", CFG_T_DUR_MS,
	    G(queued.resolver_timeout_ms), 0, 100, 60 * SEC, NULL, "5s" },
	/* the port of every MX host: 25 on the Internet; tests run their
	 * MX sinks on other loopback ports */
	{ CFG_S_QUEUED, "mx_port", CFG_T_UINT, G(queued.mx_port), 0, 1, 65535,
	    NULL, "25" },

	{ CFG_S_MDA, "user", CFG_T_STR, G(mda.d.user), 0, 0, 0, NULL,
	    "lb-mail" },
	{ CFG_S_MDA, "group", CFG_T_STR, G(mda.d.group), 0, 0, 0, NULL, NULL },
	{ CFG_S_MDA, "chroot", CFG_T_PATH, G(mda.d.chroot), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_MDA, "workers", CFG_T_UINT, G(mda.d.workers), 0, 1, 64, NULL,
	    "16" },
	{ CFG_S_MDA, "lmtp_clients", CFG_T_STR, G(mda.lmtp_clients), 0, 0, 0,
	    NULL, NULL },

	{ CFG_S_POP3D, "user", CFG_T_STR, G(pop3d.d.user), 0, 0, 0, NULL,
	    "lb-mail" },
	{ CFG_S_POP3D, "group", CFG_T_STR, G(pop3d.d.group), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_POP3D, "chroot", CFG_T_PATH, G(pop3d.d.chroot), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_POP3D, "workers", CFG_T_UINT, G(pop3d.d.workers), 0, 1, 64,
	    NULL, "1" },
	{ CFG_S_POP3D, "timeout", CFG_T_DUR_MS, G(pop3d.timeout_ms), 0,
	    SEC, HOUR, NULL, "10m" },
	{ CFG_S_POP3D, "plaintext_auth", CFG_T_BOOL, G(pop3d.plaintext_auth),
	    0, 0, 0, NULL, "no" },
	{ CFG_S_POP3D, "leave_on_server", CFG_T_BOOL,
	    G(pop3d.leave_on_server), 0, 0, 0, NULL, "no" },
	{ CFG_S_POP3D, "mark_read", CFG_T_BOOL, G(pop3d.mark_read), 0, 0, 0,
	    NULL, "yes" },
	{ CFG_S_POP3D, "login_delay", CFG_T_DUR_S, G(pop3d.login_delay_s), 0,
	    0, DAY, NULL, "0s" },
	{ CFG_S_POP3D, "apop", CFG_T_BOOL, G(pop3d.apop), 0, 0, 0, NULL,
	    "no" },

	{ CFG_S_IMAPD, "user", CFG_T_STR, G(imapd.d.user), 0, 0, 0, NULL,
	    "lb-mail" },
	{ CFG_S_IMAPD, "group", CFG_T_STR, G(imapd.d.group), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_IMAPD, "chroot", CFG_T_PATH, G(imapd.d.chroot), 0, 0, 0, NULL,
	    NULL },
	{ CFG_S_IMAPD, "workers", CFG_T_UINT, G(imapd.d.workers), 0, 1, 64,
	    NULL, "1" },
	{ CFG_S_IMAPD, "timeout", CFG_T_DUR_MS, G(imapd.timeout_ms), 0,
	    30 * SEC, DAY, NULL, "30m" },
	{ CFG_S_IMAPD, "write_threads", CFG_T_UINT, G(imapd.write_threads),
	    0, 1, 64, NULL, "8" },
	{ CFG_S_IMAPD, "plaintext_auth", CFG_T_BOOL, G(imapd.plaintext_auth),
	    0, 0, 0, NULL, "no" },

	{ CFG_S_LISTEN, "address", CFG_T_ADDR, L(addrs), CFG_MAX_ADDRS, 0, 0,
	    NULL, NULL },
	{ CFG_S_LISTEN, "tls", CFG_T_ENUM, L(tls), 0, 0, 0, cfg_tls_modes,
	    NULL },
	{ CFG_S_LISTEN, "max_connections", CFG_T_UINT, L(max_connections), 0,
	    1, 1000000, NULL, "500" },
	{ CFG_S_LISTEN, "max_per_ip", CFG_T_UINT, L(max_per_ip), 0, 1, 100000,
	    NULL, "20" },
};

#define CFG_N_KEYS	(sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static const struct {
	const char *name;
	enum cfg_tls_mode tls;
} cfg_kinds[CFG_LISTEN_KIND_MAX] = {
	[CFG_LISTEN_SMTP] = { "smtp", CFG_TLS_STARTTLS },
	[CFG_LISTEN_SUBMISSION] = { "submission", CFG_TLS_STARTTLS },
	[CFG_LISTEN_SUBMISSIONS] = { "submissions", CFG_TLS_IMPLICIT },
	[CFG_LISTEN_IMAP] = { "imap", CFG_TLS_STARTTLS },
	[CFG_LISTEN_IMAPS] = { "imaps", CFG_TLS_IMPLICIT },
	[CFG_LISTEN_POP3] = { "pop3", CFG_TLS_STARTTLS },
	[CFG_LISTEN_POP3S] = { "pop3s", CFG_TLS_IMPLICIT },
};

struct cfg_pos {
	unsigned line, col;
};

/* What callers see is pub; the rest owns the strings and remembers where
 * each key was set, so that cfg_load can point at lines too. */
struct cfg_impl {
	struct cfg pub;
	char **owned;
	size_t n_owned, cap_owned;
	struct cfg_pos kpos[CFG_N_KEYS];
	struct cfg_pos lkpos[CFG_LISTEN_KIND_MAX][CFG_N_KEYS];
	struct cfg_pos lpos[CFG_LISTEN_KIND_MAX];
	struct cfg_pos spos[CFG_S_MAX];
};

struct cfg_parser {
	struct cfg_impl *c;
	struct cfg_lex lx;
	struct cfg_errs errs;
	struct cfg_tok back;
	int have_back;
	enum cfg_sect sect;
	struct cfg_listener *lis;	/* when sect is CFG_S_LISTEN */
	int in_block;
	struct cfg_pos block;
};

static struct cfg_impl *
cfg_impl(const struct cfg *cfg)
{
	return (struct cfg_impl *)((char *)(uintptr_t)cfg -
	    offsetof(struct cfg_impl, pub));
}

static char *
cfg_own(struct cfg_impl *c, char *s)
{
	if (c->n_owned == c->cap_owned) {
		c->cap_owned = c->cap_owned ? c->cap_owned * 2 : 16;
		c->owned = xreallocarray(c->owned, c->cap_owned,
		    sizeof(*c->owned));
	}
	c->owned[c->n_owned++] = s;
	return s;
}

static const struct cfg_key *
cfg_key_find(enum cfg_sect sect, struct span name)
{
	size_t i;

	for (i = 0; i < CFG_N_KEYS; i++)
		if (cfg_keys[i].sect == sect && span_eq(name, cfg_keys[i].name))
			return &cfg_keys[i];
	return NULL;
}

static struct cfg_pos
cfg_key_pos(const struct cfg_impl *c, enum cfg_sect sect, const char *name)
{
	const struct cfg_key *k = cfg_key_find(sect, span_cstr(name));

	BUG_ON(k == NULL);
	return c->kpos[k - cfg_keys];
}

/* cfg_choices_list: "a, b or c" into out. */
static void
cfg_choices_list(const struct cfg_choice *ch, char *out, size_t outsz)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; ch[i].name && len < outsz; i++)
		len += snprintf(out + len, outsz - len, "%s%s",
		    i == 0 ? "" : ch[i + 1].name ? ", " : " or ", ch[i].name);
}

static void
cfg_fmt_bound(const struct cfg_key *k, uint64_t v, char *out, size_t outsz)
{
	if (k->type == CFG_T_DUR_MS || k->type == CFG_T_DUR_S)
		cfg_fmt_duration(v, out, outsz);
	else if (k->type == CFG_T_SIZE)
		cfg_fmt_size(v, out, outsz);
	else
		snprintf(out, outsz, "%llu", (unsigned long long)v);
}

/* cfg_store_num: numeric types; the value's syntax, range and width. */
static int
cfg_store_num(struct cfg_parser *ps, const struct cfg_key *k, char *field,
    struct span v, struct cfg_pos at)
{
	char lo[32], hi[32];
	uint64_t x = 0;
	int rc;

	switch (k->type) {
	case CFG_T_SIZE:
		rc = cfg_val_size(v, &x);
		break;
	case CFG_T_DUR_MS:
	case CFG_T_DUR_S:
		rc = cfg_val_duration(v, &x);
		break;
	default:
		rc = cfg_val_uint(v, &x);
		break;
	}
	if (rc == CFG_VAL_BAD) {
		if (k->type == CFG_T_SIZE)
			cfg_errs_add(&ps->errs, at.line, at.col, "bad size "
			    "\"%.*s\" for \"%s\": use B, K, M or G",
			    (int)v.n, v.p, k->name);
		else if (k->type == CFG_T_DUR_MS || k->type == CFG_T_DUR_S)
			cfg_errs_add(&ps->errs, at.line, at.col, "bad duration "
			    "\"%.*s\" for \"%s\": use ms, s, m, h or d",
			    (int)v.n, v.p, k->name);
		else
			cfg_errs_add(&ps->errs, at.line, at.col, "bad integer "
			    "\"%.*s\" for \"%s\"", (int)v.n, v.p, k->name);
		return -1;
	}
	if (rc == CFG_VAL_RANGE || x < k->min || x > k->max) {
		cfg_fmt_bound(k, k->min, lo, sizeof(lo));
		cfg_fmt_bound(k, k->max, hi, sizeof(hi));
		cfg_errs_add(&ps->errs, at.line, at.col, "value %.*s out of "
		    "range for \"%s\" (%s..%s)", (int)v.n, v.p, k->name, lo, hi);
		return -1;
	}
	if (k->type == CFG_T_DUR_S && x % 1000) {
		cfg_errs_add(&ps->errs, at.line, at.col, "duration \"%.*s\" for "
		    "\"%s\" must be whole seconds", (int)v.n, v.p, k->name);
		return -1;
	}
	if (k->type == CFG_T_U64 || k->type == CFG_T_SIZE)
		memcpy(field, &x, sizeof(x));
	else {
		unsigned u = k->type == CFG_T_DUR_S ? x / 1000 : x;

		memcpy(field, &u, sizeof(u));
	}
	return 0;
}

static int
cfg_store_addr(struct cfg_parser *ps, const struct cfg_key *k,
    struct span v, struct cfg_pos at)
{
	struct cfg_listener *l = ps->lis;
	unsigned port;
	size_t i;
	int rc;

	if (l->n_addrs == CFG_MAX_ADDRS) {
		cfg_errs_add(&ps->errs, at.line, at.col, "too many \"%s\" "
		    "values (max %d)", k->name, CFG_MAX_ADDRS);
		return -1;
	}
	if ((rc = cfg_val_addr(v, &port)) == CFG_VAL_BAD) {
		cfg_errs_add(&ps->errs, at.line, at.col, "bad address \"%.*s\" "
		    "for \"%s\": use HOST:PORT, [IPV6]:PORT or *:PORT",
		    (int)v.n, v.p, k->name);
		return -1;
	}
	if (rc == CFG_VAL_RANGE) {
		for (i = v.n; v.p[i - 1] != ':'; i--)
			;
		cfg_errs_add(&ps->errs, at.line, at.col, "port %.*s out of "
		    "range", (int)(v.n - i), v.p + i);
		return -1;
	}
	for (i = 0; i < l->n_addrs; i++)
		if (span_eq(v, l->addrs[i])) {
			cfg_errs_add(&ps->errs, at.line, at.col, "address "
			    "\"%.*s\" given twice", (int)v.n, v.p);
			return -1;
		}
	l->addrs[l->n_addrs++] = cfg_own(ps->c, span_dup(v));
	return 0;
}

/* cfg_store_choice: ENUM and CHOICE. */
static int
cfg_store_choice(struct cfg_parser *ps, const struct cfg_key *k,
    char *field, struct span v, struct cfg_pos at)
{
	const struct cfg_choice *ch;
	char list[256];
	char *s;

	for (ch = k->choices; ch->name; ch++)
		if (span_eq(v, ch->name))
			break;
	if (ch->name == NULL) {
		cfg_choices_list(k->choices, list, sizeof(list));
		cfg_errs_add(&ps->errs, at.line, at.col, "bad value \"%.*s\" "
		    "for \"%s\": use %s", (int)v.n, v.p, k->name, list);
		return -1;
	}
	if (k->type == CFG_T_ENUM) {
		int x = ch->value;

		memcpy(field, &x, sizeof(x));
	} else {
		s = cfg_own(ps->c, xstrdup(ch->name));
		memcpy(field, &s, sizeof(s));
	}
	return 0;
}

/* cfg_store: check v against k and write it into base (a struct cfg or a
 * struct cfg_listener).  Reports and returns -1 if it does not fit. */
static int
cfg_store(struct cfg_parser *ps, const struct cfg_key *k, void *base,
    struct span v, struct cfg_pos at)
{
	char *field = (char *)base + k->off, *s;
	int b;

	switch (k->type) {
	case CFG_T_STR:
	case CFG_T_PATH:
	case CFG_T_HOST:
		if (k->type == CFG_T_PATH && (v.n == 0 || v.p[0] != '/')) {
			cfg_errs_add(&ps->errs, at.line, at.col, "%s must be an "
			    "absolute path", k->name);
			return -1;
		}
		if (k->type == CFG_T_HOST && cfg_val_hostname(v) != 0) {
			cfg_errs_add(&ps->errs, at.line, at.col, "bad host name "
			    "\"%.*s\" for \"%s\"", (int)v.n, v.p, k->name);
			return -1;
		}
		if (v.n == 0) {
			cfg_errs_add(&ps->errs, at.line, at.col, "empty value "
			    "for \"%s\"", k->name);
			return -1;
		}
		s = cfg_own(ps->c, span_dup(v));
		memcpy(field, &s, sizeof(s));
		return 0;
	case CFG_T_ENUM:
	case CFG_T_CHOICE:
		return cfg_store_choice(ps, k, field, v, at);
	case CFG_T_CHAR:
		/* Local parts may contain letters, digits and '@' never. */
		if (v.n > 1 || (v.n == 1 && (v.p[0] <= ' ' || v.p[0] >= 0x7f ||
		    v.p[0] == '@' || (v.p[0] >= '0' && v.p[0] <= '9') ||
		    ((v.p[0] | 0x20) >= 'a' && (v.p[0] | 0x20) <= 'z')))) {
			cfg_errs_add(&ps->errs, at.line, at.col, "bad value "
			    "\"%.*s\" for \"%s\": use one punctuation character "
			    "or \"\"", (int)v.n, v.p, k->name);
			return -1;
		}
		*field = v.n ? (char)v.p[0] : '\0';
		return 0;
	case CFG_T_BOOL:
		if (cfg_val_bool(v, &b) != CFG_VAL_OK) {
			cfg_errs_add(&ps->errs, at.line, at.col, "bad boolean "
			    "\"%.*s\" for \"%s\": use yes or no", (int)v.n, v.p,
			    k->name);
			return -1;
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	case CFG_T_ADDR:
		return cfg_store_addr(ps, k, v, at);
	default:
		return cfg_store_num(ps, k, field, v, at);
	}
}

static void
cfg_defaults(struct cfg_parser *ps, enum cfg_sect sect, void *base)
{
	struct cfg_pos none = { 0, 0 };
	unsigned n = ps->errs.n;
	size_t i;

	for (i = 0; i < CFG_N_KEYS; i++)
		if (cfg_keys[i].sect == sect && cfg_keys[i].def)
			(void)cfg_store(ps, &cfg_keys[i], base,
			    span_cstr(cfg_keys[i].def), none);
	BUG_ON(ps->errs.n != n);
}

static void
cfg_next(struct cfg_parser *ps, struct cfg_tok *t)
{
	if (ps->have_back) {
		*t = ps->back;
		ps->have_back = 0;
		return;
	}
	cfg_lex_next(&ps->lx, t);
}

/* cfg_unget: only for tokens that own no lexer scratch (EOF, NL, ...). */
static void
cfg_unget(struct cfg_parser *ps, const struct cfg_tok *t)
{
	BUG_ON(ps->have_back || t->type == CFG_TOK_STRING);
	ps->back = *t;
	ps->have_back = 1;
}

/* cfg_skip_line: after an error, drop the rest of the line. */
static void
cfg_skip_line(struct cfg_parser *ps)
{
	struct cfg_tok t;

	do
		cfg_next(ps, &t);
	while (t.type != CFG_TOK_NL && t.type != CFG_TOK_EOF);
	if (t.type == CFG_TOK_EOF)
		cfg_unget(ps, &t);
}

/* cfg_tok_desc: a token for messages: "word" quoted, else its kind. */
static const char *
cfg_tok_desc(const struct cfg_tok *t, char *out, size_t outsz)
{
	if (t->type != CFG_TOK_WORD && t->type != CFG_TOK_STRING)
		return cfg_lex_tok_name(t->type);
	snprintf(out, outsz, "\"%.*s%s\"", (int)(t->v.n > 32 ? 32 : t->v.n),
	    t->v.p, t->v.n > 32 ? "..." : "");
	return out;
}

/* cfg_end_of_line: t should end the statement that came after what. */
static void
cfg_end_of_line(struct cfg_parser *ps, const struct cfg_tok *t,
    const char *what)
{
	char desc[64];

	if (t->type == CFG_TOK_NL)
		return;
	if (t->type == CFG_TOK_EOF) {
		cfg_unget(ps, t);
		return;
	}
	if (t->type != CFG_TOK_ERR)
		cfg_errs_add(&ps->errs, t->line, t->col, "unexpected %s after "
		    "%s", cfg_tok_desc(t, desc, sizeof(desc)), what);
	cfg_skip_line(ps);
}

static void
cfg_close_block(struct cfg_parser *ps)
{
	ps->in_block = 0;
	ps->sect = CFG_S_GLOBAL;
	ps->lis = NULL;
}

static void
cfg_open_listener(struct cfg_parser *ps, struct span kind, struct cfg_pos at)
{
	struct cfg_impl *c = ps->c;
	struct cfg_listener *l;
	size_t k;

	for (k = 0; k < CFG_LISTEN_KIND_MAX; k++)
		if (span_eq(kind, cfg_kinds[k].name))
			break;
	if (k == CFG_LISTEN_KIND_MAX) {
		cfg_errs_add(&ps->errs, at.line, at.col, "unknown listen kind "
		    "\"%.*s\": use smtp, submission, submissions, imap, imaps, "
		    "pop3 or pop3s", (int)kind.n, kind.p);
		return;
	}
	if (c->lpos[k].line) {
		cfg_errs_add(&ps->errs, at.line, at.col, "listen \"%s\" defined "
		    "twice (first at line %u)", cfg_kinds[k].name,
		    c->lpos[k].line);
		return;
	}
	BUG_ON(c->pub.n_listeners >= CFG_MAX_LISTENERS);
	l = &c->pub.listeners[c->pub.n_listeners++];
	l->kind = k;
	l->name = cfg_kinds[k].name;
	l->tls = cfg_kinds[k].tls;
	l->line = at.line;
	c->lpos[k] = at;
	ps->lis = l;
	ps->sect = CFG_S_LISTEN;
	cfg_defaults(ps, CFG_S_LISTEN, l);
}

/* cfg_open_block: NAME [LABEL] "{" has been read. */
static void
cfg_open_block(struct cfg_parser *ps, const struct cfg_tok *name,
    const struct span *label)
{
	struct cfg_pos at = { name->line, name->col };
	struct span n = name->v;
	struct cfg_tok t;
	size_t s;

	if (ps->in_block) {
		/* Blocks do not nest, so this one must have ended. */
		cfg_errs_add(&ps->errs, at.line, at.col, "missing \"}\" for "
		    "block opened at line %u", ps->block.line);
		cfg_close_block(ps);
	}
	ps->in_block = 1;
	ps->block = at;
	ps->sect = CFG_S_SKIP;
	for (s = 0; s < CFG_S_MAX; s++)
		if (span_eq(n, cfg_sects[s].name))
			break;
	if (s == CFG_S_GLOBAL)
		cfg_errs_add(&ps->errs, at.line, at.col, "global keys go "
		    "outside any block");
	else if (s == CFG_S_MAX)
		cfg_errs_add(&ps->errs, at.line, at.col, "unknown section "
		    "\"%.*s\"", (int)n.n, n.p);
	else if (cfg_sects[s].labelled && label == NULL)
		cfg_errs_add(&ps->errs, at.line, at.col, "\"%s\" needs a kind, "
		    "e.g. \"%s smtp {\"", cfg_sects[s].name, cfg_sects[s].name);
	else if (!cfg_sects[s].labelled && label != NULL)
		cfg_errs_add(&ps->errs, at.line, at.col, "section \"%s\" takes "
		    "no label", cfg_sects[s].name);
	else if (s == CFG_S_LISTEN)
		cfg_open_listener(ps, *label, at);
	else if (ps->c->spos[s].line)
		cfg_errs_add(&ps->errs, at.line, at.col, "section \"%s\" defined "
		    "twice (first at line %u)", cfg_sects[s].name,
		    ps->c->spos[s].line);
	else {
		ps->c->spos[s] = at;
		ps->sect = s;
	}
	cfg_next(ps, &t);
	cfg_end_of_line(ps, &t, "\"{\"");
}

/* cfg_assign: KEY "=" has been read; the value and end of line follow. */
static void
cfg_assign(struct cfg_parser *ps, const struct cfg_tok *key)
{
	uint8_t val[CFG_MAX_STRING];
	struct cfg_tok v, t;
	struct cfg_pos at;
	const struct cfg_key *k;
	struct cfg_pos *seen;
	char sect[64];

	cfg_next(ps, &v);
	if (v.type == CFG_TOK_NL || v.type == CFG_TOK_EOF) {
		cfg_errs_add(&ps->errs, v.line, v.col, "missing value for "
		    "\"%.*s\"", (int)key->v.n, key->v.p);
		cfg_end_of_line(ps, &v, "");
		return;
	}
	if (v.type != CFG_TOK_WORD && v.type != CFG_TOK_STRING) {
		if (v.type != CFG_TOK_ERR)
			cfg_errs_add(&ps->errs, v.line, v.col, "expected a value "
			    "for \"%.*s\", not %s", (int)key->v.n, key->v.p,
			    cfg_lex_tok_name(v.type));
		cfg_skip_line(ps);
		return;
	}
	/* The next token may reuse the lexer's string scratch. */
	memcpy(val, v.v.p, v.v.n);
	v.v = span_make(val, v.v.n);
	at.line = v.line;
	at.col = v.col;
	cfg_next(ps, &t);
	if (t.type != CFG_TOK_NL && t.type != CFG_TOK_EOF) {
		snprintf(sect, sizeof(sect), "the value of \"%.*s\"",
		    (int)(key->v.n > 32 ? 32 : key->v.n), key->v.p);
		cfg_end_of_line(ps, &t, sect);
		return;
	}
	cfg_end_of_line(ps, &t, "");
	if (ps->sect == CFG_S_SKIP)
		return;
	if ((k = cfg_key_find(ps->sect, key->v)) == NULL) {
		snprintf(sect, sizeof(sect), "%s%s%s", cfg_sects[ps->sect].name,
		    ps->lis ? " " : "", ps->lis ? ps->lis->name : "");
		cfg_errs_add(&ps->errs, key->line, key->col, "unknown key "
		    "\"%.*s\" in section \"%s\"", (int)key->v.n, key->v.p, sect);
		return;
	}
	seen = ps->lis ? &ps->c->lkpos[ps->lis->kind][k - cfg_keys] :
	    &ps->c->kpos[k - cfg_keys];
	if (seen->line && !k->repeat) {
		cfg_errs_add(&ps->errs, key->line, key->col, "duplicate key "
		    "\"%s\" (first at line %u)", k->name, seen->line);
		return;
	}
	if (seen->line == 0) {
		seen->line = key->line;
		seen->col = key->col;
	}
	(void)cfg_store(ps, k, ps->lis ? (void *)ps->lis : (void *)&ps->c->pub,
	    v.v, at);
}

/* cfg_statement: a line that starts with a word. */
static void
cfg_statement(struct cfg_parser *ps, const struct cfg_tok *name)
{
	uint8_t lab[CFG_MAX_STRING];
	struct span label;
	struct cfg_pos at;
	struct cfg_tok t;
	size_t s;

	cfg_next(ps, &t);
	if (t.type == CFG_TOK_EQ) {
		cfg_assign(ps, name);
		return;
	}
	if (t.type == CFG_TOK_LBRACE) {
		cfg_open_block(ps, name, NULL);
		return;
	}
	at.line = t.line;
	at.col = t.col;
	if (t.type == CFG_TOK_WORD || t.type == CFG_TOK_STRING) {
		memcpy(lab, t.v.p, t.v.n);
		label = span_make(lab, t.v.n);
		cfg_next(ps, &t);
		if (t.type == CFG_TOK_LBRACE) {
			cfg_open_block(ps, name, &label);
			return;
		}
	}
	if (t.type != CFG_TOK_ERR) {
		for (s = 1; s < CFG_S_MAX; s++)
			if (span_eq(name->v, cfg_sects[s].name))
				break;
		cfg_errs_add(&ps->errs, at.line, at.col, "expected \"%s\" after "
		    "\"%.*s\"", s < CFG_S_MAX ? "{" : "=", (int)name->v.n,
		    name->v.p);
	}
	if (t.type == CFG_TOK_EOF)
		cfg_unget(ps, &t);
	else if (t.type != CFG_TOK_NL)
		cfg_skip_line(ps);
}

static void
cfg_file(struct cfg_parser *ps)
{
	struct cfg_tok t;
	char desc[64];

	while (!ps->errs.full) {
		cfg_next(ps, &t);
		switch (t.type) {
		case CFG_TOK_EOF:
			if (ps->in_block)
				cfg_errs_add(&ps->errs, t.line, t.col, "missing "
				    "\"}\" for block opened at line %u",
				    ps->block.line);
			return;
		case CFG_TOK_NL:
			break;
		case CFG_TOK_ERR:
			cfg_skip_line(ps);
			break;
		case CFG_TOK_WORD:
			cfg_statement(ps, &t);
			break;
		case CFG_TOK_RBRACE:
			if (ps->in_block) {
				cfg_close_block(ps);
				cfg_next(ps, &t);
				cfg_end_of_line(ps, &t, "\"}\"");
				break;
			}
			/* FALLTHROUGH */
		default:
			cfg_errs_add(&ps->errs, t.line, t.col, "unexpected %s",
			    cfg_tok_desc(&t, desc, sizeof(desc)));
			cfg_skip_line(ps);
			break;
		}
	}
}

/* cfg_check_order: a <= b for two duration keys of one section. */
static void
cfg_check_order(struct cfg_parser *ps, enum cfg_sect sect, const char *a,
    unsigned va, const char *b, unsigned vb)
{
	struct cfg_pos pa = cfg_key_pos(ps->c, sect, a);
	struct cfg_pos pb = cfg_key_pos(ps->c, sect, b);
	char sa[32], sb[32];

	if (va <= vb)
		return;
	if (pa.line == 0)
		pa = pb;
	cfg_fmt_duration(va, sa, sizeof(sa));
	cfg_fmt_duration(vb, sb, sizeof(sb));
	cfg_errs_add(&ps->errs, pa.line, pa.col, "%s (%s) is greater than "
	    "%s (%s)", a, sa, b, sb);
}

static void
cfg_check_listener(struct cfg_parser *ps, const struct cfg_listener *l)
{
	const struct cfg *c = &ps->c->pub;
	struct cfg_pos at = ps->c->lpos[l->kind], tp;
	const struct cfg_key *ka = cfg_key_find(CFG_S_LISTEN, span_cstr("address"));
	const struct cfg_key *kt = cfg_key_find(CFG_S_LISTEN, span_cstr("tls"));

	if (l->n_addrs == 0 && ps->c->lkpos[l->kind][ka - cfg_keys].line == 0)
		cfg_errs_add(&ps->errs, at.line, at.col, "listen \"%s\" has no "
		    "address", l->name);
	if (l->tls != CFG_TLS_NONE && (c->tls.cert == NULL ||
	    c->tls.key == NULL))
		cfg_errs_add(&ps->errs, at.line, at.col, "listen \"%s\" uses TLS "
		    "but %s", l->name, c->tls.cert == NULL && c->tls.key == NULL ?
		    "tls.cert and tls.key are not set" : c->tls.cert == NULL ?
		    "tls.cert is not set" : "tls.key is not set");
	if (cfg_kinds[l->kind].tls == CFG_TLS_IMPLICIT &&
	    l->tls != CFG_TLS_IMPLICIT) {
		tp = ps->c->lkpos[l->kind][kt - cfg_keys];
		cfg_errs_add(&ps->errs, tp.line, tp.col, "listen \"%s\": tls = "
		    "%s on an implicit-TLS listener", l->name,
		    cfg_tls_modes[l->tls].name);
	}
}

/* cfg_check: rules across keys, and defaults that depend on other keys. */
static void
cfg_check(struct cfg_parser *ps)
{
	struct cfg *c = &ps->c->pub;
	struct cfg_pos p;
	size_t i;

	if (c->run_dir == NULL)
		c->run_dir = cfg_own(ps->c, xasprintf("%s/run", c->state_dir));
	if (c->authd.d.group == NULL)
		c->authd.d.group = c->authd.d.user;
	if (c->smtpd.d.group == NULL)
		c->smtpd.d.group = c->smtpd.d.user;
	if (c->queued.d.group == NULL)
		c->queued.d.group = c->queued.d.user;
	if (c->mda.d.group == NULL)
		c->mda.d.group = c->mda.d.user;
	if (c->pop3d.d.group == NULL)
		c->pop3d.d.group = c->pop3d.d.user;
	if (c->imapd.d.group == NULL)
		c->imapd.d.group = c->imapd.d.user;
	cfg_check_order(ps, CFG_S_QUEUED, "retry_min", c->queued.retry_min_ms,
	    "retry_max", c->queued.retry_max_ms);
	if ((c->tls.cert == NULL) != (c->tls.key == NULL)) {
		p = cfg_key_pos(ps->c, CFG_S_TLS, c->tls.cert ? "cert" : "key");
		cfg_errs_add(&ps->errs, p.line, p.col, "tls.%s is set but "
		    "tls.%s is not", c->tls.cert ? "cert" : "key",
		    c->tls.cert ? "key" : "cert");
	}
	cfg_check_order(ps, CFG_S_MASTER, "restart_min",
	    c->master.restart_min_ms, "restart_max", c->master.restart_max_ms);
	cfg_check_order(ps, CFG_S_AUTHD, "throttle_base",
	    c->authd.throttle_base_ms, "throttle_max", c->authd.throttle_max_ms);
	for (i = 0; i < c->n_listeners; i++)
		cfg_check_listener(ps, &c->listeners[i]);
}

int
cfg_parse(const char *name, struct span text, struct cfg **cfg_out,
    struct buf *errs)
{
	struct cfg_parser *ps = xcalloc(1, sizeof(*ps));
	struct cfg *pub;
	int rc;

	*cfg_out = NULL;
	ps->errs.name = name;
	ps->errs.out = errs;
	ps->c = xcalloc(1, sizeof(*ps->c));
	pub = &ps->c->pub;
	pub->path = cfg_own(ps->c, xstrdup(name));
	if (text.n > CFG_MAX_FILE) {
		cfg_errs_add(&ps->errs, 0, 0, "file too large (max 1 MiB)");
	} else {
		enum cfg_sect sect;

		/* Every unlabelled section has its defaults even when the
		 * file never opens it. */
		for (sect = CFG_S_GLOBAL; sect < CFG_S_MAX; sect++)
			if (!cfg_sects[sect].labelled)
				cfg_defaults(ps, sect, pub);
		cfg_lex_init(&ps->lx, text, &ps->errs);
		cfg_file(ps);
		if (!ps->errs.full)
			cfg_check(ps);
	}
	rc = ps->errs.n ? -1 : 0;
	if (rc == 0)
		*cfg_out = pub;
	else
		cfg_free(&pub);
	free(ps);
	return rc;
}

void
cfg_free(struct cfg **cfg)
{
	struct cfg_impl *c;
	size_t i;

	if (*cfg == NULL)
		return;
	c = cfg_impl(*cfg);
	for (i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c);
	*cfg = NULL;
}

const struct cfg_listener *
cfg_listener_find(const struct cfg *cfg, enum cfg_listener_kind kind)
{
	size_t i;

	for (i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].kind == kind)
			return &cfg->listeners[i];
	return NULL;
}

const char *
cfg_listener_kind_name(enum cfg_listener_kind kind)
{
	if ((unsigned)kind >= CFG_LISTEN_KIND_MAX)
		return "unknown";
	return cfg_kinds[kind].name;
}

char *
cfg_state_path(const struct cfg *cfg, const char *sub)
{
	return xasprintf("%s/%s", cfg->state_dir, sub);
}

/* cfg_read: the whole file into text (initialised here), at most 1 MiB. */
static int
cfg_read(const char *path, struct buf *text, struct cfg_errs *e)
{
	uint8_t chunk[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		cfg_errs_add(e, 0, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		cfg_errs_add(e, 0, 0, "cannot read: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_errs_add(e, 0, 0, "cannot read: not a regular file");
		close(fd);
		return -1;
	}
	buf_init(text, 4096, CFG_MAX_FILE);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_add(text, chunk, n) == -1) {
			cfg_errs_add(e, 0, 0, "file too large (max 1 MiB)");
			n = -2;
			break;
		}
	}
	if (n == -1)
		cfg_errs_add(e, 0, 0, "cannot read: %s", strerror(errno));
	close(fd);
	if (n < 0)
		buf_fini(text);
	return n < 0 ? -1 : 0;
}

/* cfg_check_file: the file named by tls.NAME exists; for the key, also
 * that nobody but its owner can read it.  stat, not open: a daemon that
 * has dropped root re-reads this config on SIGHUP and need not be able to
 * read the key itself (the TLS layer reports a key it cannot load). */
static void
cfg_check_file(struct cfg_impl *c, struct cfg_errs *e, const char *name,
    const char *path, int secret)
{
	struct cfg_pos at = cfg_key_pos(c, CFG_S_TLS, name);
	struct stat st;

	if (path == NULL)
		return;
	if (stat(path, &st) == -1) {
		cfg_errs_add(e, at.line, at.col, "cannot read tls.%s \"%s\": %s",
		    name, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		cfg_errs_add(e, at.line, at.col, "tls.%s \"%s\" is not a "
		    "regular file", name, path);
	/* SECURITY: a private key others can read is as good as leaked. */
	else if (secret && (st.st_mode & (S_IRGRP | S_IROTH)))
		cfg_errs_add(e, at.line, at.col, "tls.%s \"%s\" is readable by "
		    "group or others: chmod 600 it", name, path);
}

int
cfg_load(const char *path, struct cfg **cfg_out, struct buf *errs)
{
	struct cfg_errs e = { path, errs, 0, 0 };
	struct cfg *cfg;
	struct buf text;
	char host[256];
	int rc;

	*cfg_out = NULL;
	if (cfg_read(path, &text, &e) == -1)
		return -1;
	rc = cfg_parse(path, buf_view(&text), &cfg, errs);
	buf_fini(&text);
	if (rc == -1)
		return -1;
	cfg_check_file(cfg_impl(cfg), &e, "cert", cfg->tls.cert, 0);
	cfg_check_file(cfg_impl(cfg), &e, "key", cfg->tls.key, 1);
	if (cfg->hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			cfg_errs_add(&e, 0, 0, "cannot get the host name: %s; "
			    "set hostname", strerror(errno));
		else {
			host[sizeof(host) - 1] = '\0';
			cfg->hostname = cfg_own(cfg_impl(cfg), xstrdup(host));
		}
	}
	if (e.n) {
		cfg_free(&cfg);
		return -1;
	}
	*cfg_out = cfg;
	return 0;
}
