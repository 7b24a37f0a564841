/* letterbox alias add|del|list: addresses that forward to other addresses. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/addr.h"

#define CMD_ALIAS_MAXPOS (2 + USERDB_MAX_TARGETS)

static int
cmd_alias_print(const char *alias, const char *target, void *arg)
{
	printf("%s\t%s\n", alias, target);
	return 0;
}

/* An alias or target as stored, for messages (raw text if invalid). */
static const char *
cmd_alias_norm(const char *in, char out[USERDB_ADDR_MAX])
{
	if (in[0] == '@') {
		out[0] = '@';
		if (addr_domain_normalize(in + 1, out + 1,
		    USERDB_ADDR_MAX - 1) == 0)
			return out;
		return in;
	}
	return addr_normalize(in, out, USERDB_ADDR_MAX) == 0 ? out : in;
}

/*
 * Each target is its own transaction, in order; the command stops at the
 * first that fails and says which, and the ones before it stay added.
 */
static int
cmd_alias_add(struct userdb *db, const char **pos, int n)
{
	char a[USERDB_ADDR_MAX], t[USERDB_ADDR_MAX];
	const char *why = NULL;

	for (int i = 2; i < n; i++) {
		if (userdb_alias_add(db, pos[1], pos[i], &why) < 0)
			return cli_err("%s", why);
		printf("added alias %s -> %s\n", cmd_alias_norm(pos[1], a),
		    cmd_alias_norm(pos[i], t));
	}
	return CLI_EX_OK;
}

static int
cmd_alias_run(struct userdb *db, const char **pos, int n)
{
	char a[USERDB_ADDR_MAX], t[USERDB_ADDR_MAX];
	const char *why = NULL;

	if (strcmp(pos[0], "add") == 0)
		return cmd_alias_add(db, pos, n);
	if (strcmp(pos[0], "del") == 0) {
		if (userdb_alias_del(db, pos[1], n == 3 ? pos[2] : NULL,
		    &why) < 0)
			return cli_err("%s", why);
		if (n == 3)
			printf("deleted alias %s -> %s\n",
			    cmd_alias_norm(pos[1], a),
			    cmd_alias_norm(pos[2], t));
		else
			printf("deleted alias %s\n", cmd_alias_norm(pos[1], a));
		return CLI_EX_OK;
	}
	if (n == 2 && userdb_domain_exists(db, pos[1]) != 1)
		return cli_err("domain %s is not a local domain",
		    cli_domain_shown(pos[1]));
	if (userdb_alias_list(db, n == 2 ? pos[1] : NULL, cmd_alias_print,
	    NULL) != 0)
		return cli_err("cannot list aliases");
	return CLI_EX_OK;
}

int
cmd_alias(const struct cfg *cfg, int argc, char **argv)
{
	const char *pos[CMD_ALIAS_MAXPOS], *why = NULL;
	struct userdb *db;
	int n, rc;

	if ((n = cli_args(argc - 1, argv + 1, NULL, pos, CMD_ALIAS_MAXPOS,
	    &why)) < 0)
		return cli_usage("alias", "%s", why);
	if (n == 0)
		return cli_usage("alias", "alias: missing action");
	if (strcmp(pos[0], "add") == 0) {
		if (n < 3)
			return cli_usage("alias", n < 2 ?
			    "alias add: missing ALIAS" :
			    "alias add: missing TARGET");
	} else if (strcmp(pos[0], "del") == 0) {
		if (n < 2)
			return cli_usage("alias", "alias del: missing ALIAS");
		if (n > 3)
			return cli_usage("alias", "alias del: too many "
			    "arguments");
	} else if (strcmp(pos[0], "list") == 0) {
		if (n > 2)
			return cli_usage("alias", "alias list: too many "
			    "arguments");
	} else
		return cli_usage("alias", "alias: unknown action \"%s\"",
		    pos[0]);
	if (cli_db_open(cfg, &db) < 0)
		return CLI_EX_ERR;
	rc = cmd_alias_run(db, pos, n);
	userdb_close(&db);
	return rc;
}
