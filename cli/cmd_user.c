/* letterbox user add|del|list|passwd|apop: mailbox accounts, their passwords and APOP secrets. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/addr.h"

struct cmd_user_args {
	const char *pos[3];
	int n;
	int pw_stdin;
	int clear;			/* apop --clear */
	const char *quota, *quota_messages;
};

static int
cmd_user_print(const struct userdb_user *u, void *arg)
{
	char q[32], m[32];

	printf("%s\t%s\t%s\t%s\n", u->address, cli_fmt_size(u->quota_bytes, q),
	    cli_fmt_count(u->quota_messages, m),
	    (u->flags & USERDB_USER_DISABLED) ? "disabled" : "active");
	return 0;
}

/* The address as stored, for messages (the raw text if invalid). */
static const char *
cmd_user_norm(const char *in, char out[USERDB_ADDR_MAX])
{
	return addr_normalize(in, out, USERDB_ADDR_MAX) == 0 ? out : in;
}

/* The errors userdb_user_add would give, found before the prompt. */
static int
cmd_user_precheck(struct userdb *db, const char *addr,
    char norm[USERDB_ADDR_MAX])
{
	struct addr_parts ap;
	struct userdb_user u;
	const char *why = "invalid address";

	if (addr_parse(span_cstr(addr), &ap, &why) < 0 ||
	    addr_normalize(addr, norm, USERDB_ADDR_MAX) < 0)
		return cli_fail("invalid address \"%s\": %s", addr, why);
	if (userdb_domain_exists(db, addr_domain_of(norm)) != 1)
		return cli_fail("domain %s is not a local domain",
		    addr_domain_of(norm));
	if (userdb_user_get(db, norm, &u) == 1)
		return cli_fail("user %s already exists", norm);
	return 0;
}

static int
cmd_user_add(const struct cfg *cfg, struct userdb *db,
    const struct cmd_user_args *a)
{
	struct userdb_user u;
	struct secret_str pw;
	const char *why = NULL;
	char norm[USERDB_ADDR_MAX];
	int rc;

	memset(&u, 0, sizeof(u));
	snprintf(u.address, sizeof(u.address), "%s", a->pos[1]);
	u.quota_bytes = cfg->default_quota_bytes;
	u.quota_messages = cfg->default_quota_messages;
	if (a->quota != NULL && cli_parse_size(a->quota, &u.quota_bytes,
	    &why) < 0)
		return cli_usage("user", "--quota: %s", why);
	if (a->quota_messages != NULL && cli_parse_count(a->quota_messages,
	    &u.quota_messages, &why) < 0)
		return cli_usage("user", "--quota-messages: %s", why);
	/* check before asking for a password that would be thrown away */
	if (cmd_user_precheck(db, a->pos[1], norm) < 0)
		return CLI_EX_ERR;
	secret_str_init(&pw);
	if (cli_read_password(a->pw_stdin, &pw) < 0)
		return CLI_EX_ERR;
	rc = cli_hash(cfg, &pw, u.hash);
	secret_str_fini(&pw);
	if (rc < 0)
		return CLI_EX_ERR;
	if (userdb_user_add(db, &u, &why) < 0)
		return cli_err("%s", why);
	printf("added user %s\n", cmd_user_norm(a->pos[1], norm));
	return cli_ensure_postmaster(db, a->pos[1]) < 0 ? CLI_EX_ERR :
	    CLI_EX_OK;
}

static int
cmd_user_passwd(const struct cfg *cfg, struct userdb *db,
    const struct cmd_user_args *a)
{
	struct userdb_user u;
	struct secret_str pw;
	const char *why = NULL;
	char hash[USERDB_HASH_MAX], norm[USERDB_ADDR_MAX];
	int rc;

	if (userdb_user_get(db, a->pos[1], &u) != 1)
		return cli_err("user %s does not exist",
		    cmd_user_norm(a->pos[1], norm));
	secret_str_init(&pw);
	if (cli_read_password(a->pw_stdin, &pw) < 0)
		return CLI_EX_ERR;
	rc = cli_hash(cfg, &pw, hash);
	secret_str_fini(&pw);
	if (rc < 0)
		return CLI_EX_ERR;
	if (userdb_user_set_hash(db, a->pos[1], hash, &why) < 0)
		return cli_err("%s", why);
	printf("changed password of %s\n", u.address);
	return CLI_EX_OK;
}

/* SECURITY: the APOP secret is stored as typed (RFC 1939 7 needs it):
 * plaintext-equivalent, so it is separate from the password and never
 * set unless the admin asks. */
static int
cmd_user_apop(struct userdb *db, const struct cmd_user_args *a)
{
	struct userdb_user u;
	struct secret_str pw;
	const char *why = NULL;
	char norm[USERDB_ADDR_MAX];
	int rc;

	if (userdb_user_get(db, a->pos[1], &u) != 1)
		return cli_err("user %s does not exist",
		    cmd_user_norm(a->pos[1], norm));
	if (a->clear) {
		if ((rc = userdb_apop_clear(db, a->pos[1], &why)) < 0)
			return cli_err("%s", why);
		printf(rc == 1 ? "cleared APOP secret of %s\n" :
		    "%s had no APOP secret\n", u.address);
		return CLI_EX_OK;
	}
	secret_str_init(&pw);
	if (cli_read_password(a->pw_stdin, &pw) < 0)
		return CLI_EX_ERR;
	rc = userdb_apop_set(db, a->pos[1], pw.p, pw.len, &why);
	secret_str_fini(&pw);
	if (rc < 0)
		return cli_err("%s", why);
	printf("set APOP secret of %s\n", u.address);
	return CLI_EX_OK;
}

static int
cmd_user_run(const struct cfg *cfg, struct userdb *db,
    const struct cmd_user_args *a)
{
	const char *why = NULL;
	char norm[USERDB_ADDR_MAX];

	if (strcmp(a->pos[0], "add") == 0)
		return cmd_user_add(cfg, db, a);
	if (strcmp(a->pos[0], "passwd") == 0)
		return cmd_user_passwd(cfg, db, a);
	if (strcmp(a->pos[0], "apop") == 0)
		return cmd_user_apop(db, a);
	if (strcmp(a->pos[0], "del") == 0) {
		if (userdb_user_del(db, a->pos[1], &why) < 0)
			return cli_err("%s", why);
		printf("deleted user %s\n", cmd_user_norm(a->pos[1], norm));
		return CLI_EX_OK;
	}
	/* list */
	if (a->n == 2 && userdb_domain_exists(db, a->pos[1]) != 1)
		return cli_err("domain %s is not a local domain",
		    cli_domain_shown(a->pos[1]));
	if (userdb_user_list(db, a->n == 2 ? a->pos[1] : NULL,
	    cmd_user_print, NULL) != 0)
		return cli_err("cannot list users");
	return CLI_EX_OK;
}

/* Check the shape of the command line before touching anything. */
static int
cmd_user_check(const struct cmd_user_args *a)
{
	const char *act = a->pos[0];
	int is_add = strcmp(act, "add") == 0;
	int is_apop = strcmp(act, "apop") == 0;

	if (!is_add && strcmp(act, "del") != 0 && strcmp(act, "list") != 0 &&
	    strcmp(act, "passwd") != 0 && !is_apop)
		return cli_usage("user", "user: unknown action \"%s\"", act);
	if (strcmp(act, "list") != 0 && a->n != 2)
		return cli_usage("user", a->n < 2 ? "user %s: missing ADDRESS" :
		    "user %s: too many arguments", act);
	if (a->n > 2)
		return cli_usage("user", "user %s: too many arguments", act);
	if (a->pw_stdin && !is_add && !is_apop && strcmp(act, "passwd") != 0)
		return cli_usage("user", "user %s has no --password-stdin",
		    act);
	if (a->clear && !is_apop)
		return cli_usage("user", "user %s has no --clear", act);
	if (a->clear && a->pw_stdin)
		return cli_usage("user", "user apop: --clear takes no secret");
	if ((a->quota != NULL || a->quota_messages != NULL) && !is_add)
		return cli_usage("user", "user %s has no quota options", act);
	return CLI_EX_OK;
}

int
cmd_user(const struct cfg *cfg, int argc, char **argv)
{
	struct cmd_user_args a;
	struct userdb *db;
	const char *why = NULL;
	int rc;
	const struct cli_opt opts[] = {
		{ "password-stdin", NULL, &a.pw_stdin },
		{ "clear", NULL, &a.clear },
		{ "quota", &a.quota, NULL },
		{ "quota-messages", &a.quota_messages, NULL },
		{ NULL, NULL, NULL },
	};

	memset(&a, 0, sizeof(a));
	if ((a.n = cli_args(argc - 1, argv + 1, opts, a.pos, 3, &why)) < 0)
		return cli_usage("user", "%s", why);
	if (a.n == 0)
		return cli_usage("user", "user: missing action");
	if ((rc = cmd_user_check(&a)) != CLI_EX_OK)
		return rc;
	if (cli_db_open(cfg, &db) < 0)
		return CLI_EX_ERR;
	rc = cmd_user_run(cfg, db, &a);
	userdb_close(&db);
	return rc;
}
