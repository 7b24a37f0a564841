/* letterbox, the admin CLI: dispatch table, exit codes, shared helpers. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CLI_H
#define LB_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "common/secret.h"
#include "common/userdb.h"

/* Exit codes, documented in docs/cli.md. */
#define CLI_EX_OK 0
#define CLI_EX_ERR 1		/* the command failed; the message says why */
#define CLI_EX_USAGE 64		/* bad command line (EX_USAGE) */

/* Handlers get argv[0] = the subcommand name ("user") and return the
 * process exit code.  cfg handlers run after main loaded the config;
 * path handlers (init, config) get the config path and load nothing. */
typedef int (*cli_cfg_fn)(const struct cfg *cfg, int argc, char **argv);
typedef int (*cli_path_fn)(const char *cfg_path, int argc, char **argv);

struct cli_cmd {
	const char *name;
	cli_cfg_fn run;		/* one of run and run_path is set */
	cli_path_fn run_path;
	const char *usage;	/* lines, each "NAME ARGS", '\n' between */
};

/* The table: every subcommand; the last entry has name NULL. */
extern const struct cli_cmd cli_cmds[];

/* cli_cmd_find: the entry named name, or NULL. */
const struct cli_cmd *cli_cmd_find(const char *name);

/* cli_err: "letterbox: MESSAGE\n" on stderr; returns CLI_EX_ERR. */
int cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_fail: the same, returning -1 (for helpers that return 0 or -1). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cli_usage: "letterbox: MESSAGE\n" then "usage: letterbox [-c FILE]
 * LINE\n" for each usage line of cmd on stderr; returns CLI_EX_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_usage_all: every usage line, to stdout (help) or stderr. */
void cli_usage_all(int to_stderr);

/*
 * One option of a subcommand: "--name" (flag, *flag_out = 1) or
 * "--name VALUE" / "--name=VALUE" (*val_out = VALUE).
 */
struct cli_opt {
	const char *name;	/* without the dashes */
	const char **val_out;	/* NULL for a flag */
	int *flag_out;
};

/*
 * cli_args: sort args[0..argc-1] into options from opts (terminated by a
 * NULL name) and positional arguments, in order, into pos (at most
 * maxpos).  "--" ends the options.  Returns the number of positional
 * arguments, or -1 with *why_out: unknown option, missing value, a value
 * given to a flag, or more than maxpos positional arguments.  Messages
 * are static or point into a thread-local buffer.
 */
int cli_args(int argc, char **argv, const struct cli_opt *opts,
    const char **pos, size_t maxpos, const char **why_out);

/*
 * cli_parse_size: "0", "unlimited", or digits with an optional unit B,
 * K, M, G or T (powers of 1024, either case) -> bytes; 0 means
 * unlimited.  -1 with *why_out on anything else or overflow.
 */
int cli_parse_size(const char *s, uint64_t *out, const char **why_out);
/* cli_parse_count: "unlimited" or plain digits. */
int cli_parse_count(const char *s, uint64_t *out, const char **why_out);
/* cli_fmt_size: "unlimited" for 0, else the largest exact unit ("1G",
 * "1536K", "1500"); round-trips through cli_parse_size.  Returns out. */
char *cli_fmt_size(uint64_t n, char out[32]);
char *cli_fmt_count(uint64_t n, char out[32]);

/*
 * cli_db_open: open (creating if needed) the user database at
 * cfg_state_path(cfg, "db/users.lmdb"), creating STATE_DIR (0755) and
 * STATE_DIR/db (0700) when missing.  As root, hands the db directory and
 * files to cfg->authd.d.user when that user exists.  Prints its own
 * error; returns 0 or -1.
 */
int cli_db_open(const struct cfg *cfg, struct userdb **db_out);

/*
 * cli_read_password: from_stdin: one line from standard input; else
 * prompt twice on the terminal without echo and require both to match.
 * Refuses an empty password.  Prints its own error; returns 0 or -1.
 */
int cli_read_password(int from_stdin, struct secret_str *pw);

/* cli_hash: secret_hash_password with the config's limits; prints its
 * error; 0 or -1. */
int cli_hash(const struct cfg *cfg, const struct secret_str *pw,
    char hash_out[USERDB_HASH_MAX]);

/* The handlers, one file each. */
int cmd_init(const char *cfg_path, int argc, char **argv);
int cmd_config(const char *cfg_path, int argc, char **argv);
int cmd_domain(const struct cfg *cfg, int argc, char **argv);
int cmd_user(const struct cfg *cfg, int argc, char **argv);
int cmd_alias(const struct cfg *cfg, int argc, char **argv);
int cmd_quota(const struct cfg *cfg, int argc, char **argv);
int cmd_queue(const struct cfg *cfg, int argc, char **argv);

struct userdb;
/* cli_ensure_postmaster: RFC 5321 4.5.1: every domain must take mail for
 * postmaster.  If postmaster@DOMAIN of the new user's domain resolves to
 * nobody, alias it to that user and say so on stdout.  0, or -1 (error
 * printed). */
int cli_ensure_postmaster(struct userdb *db, const char *user_address);

/* cli_domain_shown: a domain as messages show it: the stored (lowercased)
 * form when it is a valid domain, else as typed.  Static storage. */
const char *cli_domain_shown(const char *domain);

#endif
