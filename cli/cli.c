/* letterbox: the subcommand table and the helpers every subcommand shares. */
/* SPDX-License-Identifier: ISC */
#include "cli/cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd_auth.h"
#include "cli/cmd_dkim.h"
#include "common/addr.h"
#include "common/userdb.h"
#include "common/xmem.h"

const struct cli_cmd cli_cmds[] = {
	{ "init", NULL, cmd_init,
	    "init DIR [--domain D] [--hostname H] [--port-offset N]" },
	{ "config", NULL, cmd_config, "config check" },
	{ "domain", cmd_domain, NULL,
	    "domain add DOMAIN\n"
	    "domain del DOMAIN [--force]\n"
	    "domain list" },
	{ "user", cmd_user, NULL,
	    "user add ADDRESS [--password-stdin] [--quota SIZE] "
	    "[--quota-messages N]\n"
	    "user del ADDRESS\n"
	    "user list [DOMAIN]\n"
	    "user passwd ADDRESS [--password-stdin]\n"
	    "user apop ADDRESS [--password-stdin | --clear]" },
	{ "alias", cmd_alias, NULL,
	    "alias add ALIAS TARGET [TARGET...]\n"
	    "alias del ALIAS [TARGET]\n"
	    "alias list [DOMAIN]" },
	{ "quota", cmd_quota, NULL,
	    "quota set ADDRESS SIZE [MESSAGES]\n"
	    "quota show ADDRESS" },
	{ "auth", cmd_auth, NULL,
	    "auth test ADDRESS [--password-stdin] [--ip IP] [--service NAME]\n"
	    "auth resolve ADDRESS" },
	{ "dkim", cmd_dkim, NULL,
	    "dkim keygen DOMAIN [--selector S] [--force]\n"
	    "dkim list\n"
	    "dkim show DOMAIN [--selector S]\n"
	    "dkim sign DOMAIN [--selector S] [--time T] < MESSAGE" },
	{ "dns", cmd_dns, NULL, "dns DOMAIN" },
	{ "queue", cmd_queue, NULL,
	    "queue list\n"
	    "queue show ID\n"
	    "queue flush [ID]\n"
	    "queue delete ID\n"
	    "queue hold ID\n"
	    "queue release ID" },
	{ NULL, NULL, NULL, NULL },
};

static _Thread_local char cli_whybuf[256];

const struct cli_cmd *
cli_cmd_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int
cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("letterbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EX_ERR;
}

int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("letterbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static void
cli_usage_lines(FILE *f, const char *usage)
{
	const char *p = usage, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		fprintf(f, "usage: letterbox [-c FILE] %.*s\n", (int)(nl - p),
		    p);
		p = *nl != '\0' ? nl + 1 : nl;
	}
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	const struct cli_cmd *c = cmd != NULL ? cli_cmd_find(cmd) : NULL;
	va_list ap;

	fputs("letterbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL)
		cli_usage_lines(stderr, c->usage);
	else
		cli_usage_all(1);
	return CLI_EX_USAGE;
}

void
cli_usage_all(int to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	for (const struct cli_cmd *c = cli_cmds; c->name != NULL; c++)
		cli_usage_lines(f, c->usage);
}

static const struct cli_opt *
cli_opt_find(const struct cli_opt *opts, const char *name, size_t n)
{
	for (; opts != NULL && opts->name != NULL; opts++)
		if (strlen(opts->name) == n &&
		    strncmp(opts->name, name, n) == 0)
			return opts;
	return NULL;
}

int
cli_args(int argc, char **argv, const struct cli_opt *opts,
    const char **pos, size_t maxpos, const char **why_out)
{
	const struct cli_opt *o;
	const char *name, *eq;
	size_t npos = 0;
	int i, dashdash = 0;

	for (i = 0; i < argc; i++) {
		if (dashdash || strncmp(argv[i], "--", 2) != 0 ||
		    argv[i][2] == '\0') {
			if (!dashdash && strcmp(argv[i], "--") == 0) {
				dashdash = 1;
				continue;
			}
			if (npos == maxpos) {
				snprintf(cli_whybuf, sizeof(cli_whybuf),
				    "unexpected argument \"%s\"", argv[i]);
				*why_out = cli_whybuf;
				return -1;
			}
			pos[npos++] = argv[i];
			continue;
		}
		name = argv[i] + 2;
		eq = strchr(name, '=');
		o = cli_opt_find(opts, name, eq ? (size_t)(eq - name) :
		    strlen(name));
		if (o == NULL) {
			snprintf(cli_whybuf, sizeof(cli_whybuf),
			    "unknown option \"%.*s\"",
			    eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]),
			    argv[i]);
			*why_out = cli_whybuf;
			return -1;
		}
		if (o->val_out == NULL) {
			if (eq != NULL) {
				snprintf(cli_whybuf, sizeof(cli_whybuf),
				    "option --%s takes no value", o->name);
				*why_out = cli_whybuf;
				return -1;
			}
			*o->flag_out = 1;
		} else if (eq != NULL)
			*o->val_out = eq + 1;
		else if (i + 1 < argc)
			*o->val_out = argv[++i];
		else {
			snprintf(cli_whybuf, sizeof(cli_whybuf),
			    "option --%s needs a value", o->name);
			*why_out = cli_whybuf;
			return -1;
		}
	}
	return (int)npos;
}

/* Digits only, no sign, no overflow. */
static int
cli_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
cli_parse_size(const char *s, uint64_t *out, const char **why_out)
{
	static const char units[] = "BKMGT";
	size_t n = strlen(s);
	const char *u;
	uint64_t v;
	unsigned shift = 0;

	if (strcmp(s, "unlimited") == 0) {
		*out = 0;
		return 0;
	}
	if (n > 0 && (u = strchr(units, s[n - 1] & ~0x20)) != NULL &&
	    (s[n - 1] & ~0x20) != '\0') {
		shift = 10 * (unsigned)(u - units);
		n--;
	}
	if (cli_digits(s, n, &v) < 0 || (shift && v > (UINT64_MAX >> shift))) {
		snprintf(cli_whybuf, sizeof(cli_whybuf), "invalid size \"%s\" "
		    "(a number with an optional unit B, K, M, G or T, "
		    "or unlimited)", s);
		*why_out = cli_whybuf;
		return -1;
	}
	*out = v << shift;
	return 0;
}

int
cli_parse_count(const char *s, uint64_t *out, const char **why_out)
{
	if (strcmp(s, "unlimited") == 0) {
		*out = 0;
		return 0;
	}
	if (cli_digits(s, strlen(s), out) < 0) {
		snprintf(cli_whybuf, sizeof(cli_whybuf),
		    "invalid number \"%s\" (digits, or unlimited)", s);
		*why_out = cli_whybuf;
		return -1;
	}
	return 0;
}

char *
cli_fmt_size(uint64_t n, char out[32])
{
	static const char units[] = "TGMK";
	int i;

	if (n == 0)
		return strcpy(out, "unlimited");
	for (i = 0; i < 4; i++) {
		unsigned shift = 10 * (unsigned)(4 - i);

		if ((n & ((1ULL << shift) - 1)) == 0) {
			snprintf(out, 32, "%llu%c",
			    (unsigned long long)(n >> shift), units[i]);
			return out;
		}
	}
	snprintf(out, 32, "%llu", (unsigned long long)n);
	return out;
}

char *
cli_fmt_count(uint64_t n, char out[32])
{
	if (n == 0)
		return strcpy(out, "unlimited");
	snprintf(out, 32, "%llu", (unsigned long long)n);
	return out;
}

static int
cli_mkdir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	cli_err("cannot create %s: %s", path, strerror(errno));
	return -1;
}

/*
 * SECURITY: as root, give the database to the authd user so that authd,
 * which never runs as root, can open it and its lock file.  The paths come
 * from the root-owned config, and lchown does not follow links.
 */
static void
cli_db_chown(const struct cfg *cfg, const char *dir, const char *file)
{
	const char *user = cfg->authd.d.user ? cfg->authd.d.user : "lb-auth";
	struct passwd *pw;
	char *lock;

	if (geteuid() != 0 || (pw = getpwnam(user)) == NULL)
		return;
	lock = xasprintf("%s-lock", file);
	if (lchown(dir, pw->pw_uid, pw->pw_gid) < 0 ||
	    lchown(file, pw->pw_uid, pw->pw_gid) < 0 ||
	    lchown(lock, pw->pw_uid, pw->pw_gid) < 0)
		cli_err("warning: cannot hand %s to %s: %s", dir, user,
		    strerror(errno));
	free(lock);
}

int
cli_db_open(const struct cfg *cfg, struct userdb **db_out)
{
	char *dir = cfg_state_path(cfg, "db");
	char *file = cfg_state_path(cfg, "db/users.lmdb");
	const char *why = NULL;
	int rc = -1;

	*db_out = NULL;
	if (cli_mkdir(cfg->state_dir, 0755) < 0 || cli_mkdir(dir, 0700) < 0)
		goto out;
	if (userdb_open(file, USERDB_CREATE, db_out, &why) < 0) {
		cli_err("%s", why);
		goto out;
	}
	cli_db_chown(cfg, dir, file);
	rc = 0;
out:
	free(dir);
	free(file);
	return rc;
}

int
cli_read_password(int from_stdin, struct secret_str *pw)
{
	struct secret_str again;
	const char *why = NULL;
	int same;

	if (from_stdin) {
		if (secret_str_read_fd(pw, STDIN_FILENO, &why) < 0)
			return cli_fail("%s", why);
	} else {
		if (secret_str_read_tty(pw, "Password: ", &why) < 0)
			return cli_fail("%s", why);
		secret_str_init(&again);
		if (pw->len > 0 && secret_str_read_tty(&again,
		    "Repeat password: ", &why) < 0) {
			secret_str_fini(pw);
			return cli_fail("%s", why);
		}
		same = pw->len == 0 || (again.len == pw->len &&
		    memcmp(again.p, pw->p, pw->len) == 0);
		secret_str_fini(&again);
		if (!same) {
			secret_str_fini(pw);
			return cli_fail("passwords do not match");
		}
	}
	if (pw->len == 0) {
		secret_str_fini(pw);
		return cli_fail("empty password refused");
	}
	return 0;
}

int
cli_hash(const struct cfg *cfg, const struct secret_str *pw,
    char hash_out[USERDB_HASH_MAX])
{
	const char *why = NULL;

	if (secret_hash_password(pw->p, pw->len, cfg->authd.hash_opslimit,
	    cfg->authd.hash_memlimit, hash_out, &why) < 0)
		return cli_fail("cannot hash the password: %s", why);
	return 0;
}

const char *
cli_domain_shown(const char *domain)
{
	static char out[256];

	if (addr_domain_normalize(domain, out, sizeof(out)) != 0)
		return domain;
	return out;
}

int
cli_ensure_postmaster(struct userdb *db, const char *user_address)
{
	struct userdb_resolution *r = xcalloc(1, sizeof(*r));
	char pm[USERDB_ADDR_MAX], user[USERDB_ADDR_MAX];
	const char *dom, *why = NULL;
	int rc = 0;

	if (addr_normalize(user_address, user, sizeof(user)) != 0 ||
	    (dom = strrchr(user, '@')) == NULL) {
		free(r);
		return 0;
	}
	snprintf(pm, sizeof(pm), "postmaster%s", dom);
	/* delimiter 0: "postmaster+x" is not the question here */
	if (userdb_resolve(db, pm, 0, r, &why) < 0)
		rc = cli_err("%s", why);
	else if (r->kind == USERDB_UNKNOWN) {
		if (userdb_alias_add(db, pm, user, &why) < 0)
			rc = cli_err("%s", why);
		else
			printf("added alias %s -> %s (RFC 5321 4.5.1: every "
			    "domain needs a postmaster)\n", pm, user);
	}
	free(r);
	return rc;
}
