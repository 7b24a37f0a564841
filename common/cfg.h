/* The one configuration file: parsed form and loader.  Format: docs/config.md. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CFG_H
#define LB_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/log.h"

/*
 * File format (full reference in docs/config.md):
 *
 *   # comment to end of line
 *   hostname = mail.example.org         # key = value, one per line
 *   state_dir = "/var/lib/letterbox"    # values: word or "quoted string"
 *
 *   tls {                               # a block; NAME { ... }
 *       cert = /etc/letterbox/cert.pem
 *       key  = /etc/letterbox/key.pem
 *   }
 *   listen smtp {                       # a block with a label
 *       address = 0.0.0.0:25            # repeatable key
 *       address = [::]:25
 *   }
 *
 * Value types: string, integer, boolean (yes/no/true/false/on/off),
 * duration (integer with unit ms, s, m, h, d; bare integer = seconds),
 * size (integer with unit B, K, M, G; bare integer = bytes).
 */

#define CFG_MAX_LISTENERS 16
#define CFG_MAX_ADDRS 8

enum cfg_tls_mode {
	CFG_TLS_NONE = 0,	/* plain text, no STARTTLS offered */
	CFG_TLS_STARTTLS,	/* plain text, STARTTLS/STLS offered */
	CFG_TLS_IMPLICIT,	/* TLS from the first byte (465, 993, 995) */
};

/* The listener names the config knows, and the daemon each belongs to. */
enum cfg_listener_kind {
	CFG_LISTEN_SMTP = 0,		/* smtpd, MX, 25 */
	CFG_LISTEN_SUBMISSION,		/* smtpd, 587 */
	CFG_LISTEN_SUBMISSIONS,		/* smtpd, 465 implicit TLS */
	CFG_LISTEN_IMAP,		/* imapd, 143 */
	CFG_LISTEN_IMAPS,		/* imapd, 993 */
	CFG_LISTEN_POP3,		/* pop3d, 110 */
	CFG_LISTEN_POP3S,		/* pop3d, 995 */
	CFG_LISTEN_KIND_MAX
};

struct cfg_listener {
	enum cfg_listener_kind kind;
	const char *name;		/* "smtp", "imaps", ... */
	char *addrs[CFG_MAX_ADDRS];	/* "0.0.0.0:25", "[::]:25", "*:25" */
	size_t n_addrs;
	enum cfg_tls_mode tls;		/* default depends on kind */
	unsigned max_connections;	/* default 500 */
	unsigned max_per_ip;		/* default 20 */
	unsigned line;			/* where the block starts */
};

/* Settings every daemon section has. */
struct cfg_daemon {
	char *user;		/* system user, e.g. "lb-auth" */
	char *group;		/* default: same as user */
	char *chroot;		/* NULL: none */
	unsigned workers;	/* processes or threads, default 1 */
};

struct cfg {
	char *path;			/* the file this came from */

	/* global keys */
	char *hostname;			/* default: gethostname() */
	char *state_dir;		/* default /var/lib/letterbox */
	char *run_dir;			/* default STATE_DIR/run */
	enum log_dest log_dest;		/* log = stderr | syslog */
	enum log_level log_level;	/* log_level = info */
	char *syslog_facility;		/* default "mail" */
	char recipient_delimiter;	/* default '+'; "" (0) disables */
	uint64_t default_quota_bytes;	/* default_quota = 1G; 0 unlimited */
	uint64_t default_quota_messages; /* default 0: unlimited */

	struct {
		char *cert;		/* PEM chain; required if any TLS */
		char *key;		/* PEM key; must not be group/world readable */
		int min_version;	/* 12 or 13; default 12 */
		char *ciphers;		/* TLS 1.2 cipher list; NULL = ours */
		char *ciphersuites;	/* TLS 1.3 suites; NULL = OpenSSL's */
	} tls;

	struct {
		unsigned restart_min_ms;	/* default 1s */
		unsigned restart_max_ms;	/* default 60s */
		unsigned shutdown_grace_ms;	/* default 10s */
	} master;

	struct {
		struct cfg_daemon d;		/* user lb-auth, workers 2 */
		unsigned throttle_base_ms;	/* first delay, default 1s */
		unsigned throttle_max_ms;	/* cap, default 15s */
		unsigned throttle_window_s;	/* forget after, default 15m */
		unsigned hash_opslimit;		/* Argon2id ops, default 2 */
		uint64_t hash_memlimit;		/* Argon2id mem, default 64M */
	} authd;

	struct {
		struct cfg_daemon d;		/* user lb-smtp, workers 1 */
		uint64_t max_message_size;	/* SIZE, default 50M */
		unsigned max_recipients;	/* per message, default 100 */
		unsigned max_errors;		/* per session, default 10 */
		unsigned timeout_ms;		/* idle per command, 5m */
		unsigned data_timeout_ms;	/* a whole DATA/BDAT, 10m */
		unsigned greet_pause_ms;	/* wait before 220, default 0 */
		int received_auth;		/* name the AUTH user, no */
	} smtpd;

	struct {
		struct cfg_daemon d;		/* user lb-queue, workers 1 */
		unsigned commit_threads;	/* parallel fsyncs, default 4 */
		unsigned lmtp_sessions;		/* to the MDA at once, 4 */
		unsigned retry_min_ms;		/* first retry after, 1m */
		unsigned retry_max_ms;		/* retries at most this far apart, 1h */
		unsigned lifetime_s;		/* then it bounces, 5d */
		unsigned delay_warning_s;	/* delay DSN after, 4h; 0 off */
		int deliver;			/* no: accept and hold, yes */
		char *relay_host;		/* smarthost "HOST:PORT", NULL */
		char *relay_tls;		/* none | may | require | verify */
		char *tls_policy;		/* "DOMAIN:POLICY, *:POLICY" */
		char *tls_ca_file;		/* CAs for verify; NULL: system */
		unsigned dest_sessions;		/* per destination at once, 20 */
		char *relay_auth_file;		/* "user password", 0600 */
		unsigned remote_sessions;	/* SMTP sessions at once, 50 */
		char *resolver;			/* "127.0.0.1:5353,[::1]:53";
						 * NULL: /etc/resolv.conf */
		unsigned resolver_timeout_ms;	/* per DNS try, 5s */
		unsigned mx_port;		/* MX hosts' SMTP port, 25 */
	} queued;

	struct {
		struct cfg_daemon d;		/* user lb-mail; workers =
						 * delivery threads, 4 */
		char *lmtp_clients;		/* other MTAs' users allowed on
						 * lmtp.sock: "postfix,exim" */
	} mda;

	struct {
		struct cfg_daemon d;		/* user lb-mail, workers 1 */
		unsigned timeout_ms;		/* idle, 10m (RFC 1939 3) */
		int plaintext_auth;		/* USER/PASS, AUTH before TLS */
		int leave_on_server;		/* DELE never expunges, no */
		int mark_read;			/* RETR sets \Seen at QUIT, yes */
		unsigned login_delay_s;		/* LOGIN-DELAY, 0: none */
		int apop;			/* APOP and the greeting's
						 * timestamp, no */
	} pop3d;

	struct {
		struct cfg_daemon d;		/* user lb-mail, workers 1 */
		unsigned timeout_ms;		/* idle, 30m (RFC 9051 5.4) */
		int plaintext_auth;		/* LOGIN, AUTHENTICATE before
						 * TLS */
		unsigned write_threads;		/* index writes and fsyncs
						 * in parallel, per process, 8 */
	} imapd;

	struct cfg_listener listeners[CFG_MAX_LISTENERS];
	size_t n_listeners;
};

/*
 * cfg_parse: parse text (the contents of a file called name, used in
 * messages) into a fresh struct cfg with every default filled in.
 * Returns 0 and *cfg_out on success.  On failure returns -1, *cfg_out is
 * NULL, and errs holds one line per error found, each
 * "NAME:LINE:COL: message\n" (e.g. `letterbox.conf:12:1: unknown key
 * "lisen"`).  Pure: no I/O, no logging.  errs must be initialised.
 */
int cfg_parse(const char *name, struct span text, struct cfg **cfg_out,
    struct buf *errs) __attribute__((warn_unused_result));

/*
 * cfg_load: read the file at path (max 1 MiB) and cfg_parse it, then run
 * the checks that need the file system (tls.key not readable by group or
 * other).  Errors as for cfg_parse, "PATH: cannot read: ..." for I/O.
 */
int cfg_load(const char *path, struct cfg **cfg_out, struct buf *errs)
    __attribute__((warn_unused_result));

void cfg_free(struct cfg **cfg);

/* cfg_listener_find: the listener of that kind, or NULL. */
const struct cfg_listener *cfg_listener_find(const struct cfg *cfg,
    enum cfg_listener_kind kind);
/* cfg_listener_kind_name: "smtp", "submission", ... */
const char *cfg_listener_kind_name(enum cfg_listener_kind kind);

/* cfg_path: STATE_DIR/sub as a fresh heap string (xasprintf). */
char *cfg_state_path(const struct cfg *cfg, const char *sub);

#endif
