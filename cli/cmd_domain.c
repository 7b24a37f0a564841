/* letterbox domain add|del|list: the domains we receive mail for. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/addr.h"

static int
cmd_domain_print(const char *d, void *arg)
{
	printf("%s\n", d);
	return 0;
}

/* The domain as it will be stored, for messages; the raw text if invalid
 * (userdb then says what is wrong with it). */
static const char *
cmd_domain_norm(const char *in, char out[ADDR_DOMAIN_MAX + 1])
{
	return addr_domain_normalize(in, out, ADDR_DOMAIN_MAX + 1) == 0 ?
	    out : in;
}

int
cmd_domain(const struct cfg *cfg, int argc, char **argv)
{
	char d[ADDR_DOMAIN_MAX + 1];
	const char *pos[2], *why = NULL;
	struct userdb *db;
	int n, force = 0, rc = CLI_EX_OK;
	const struct cli_opt opts[] = {
		{ "force", NULL, &force },
		{ NULL, NULL, NULL },
	};

	if ((n = cli_args(argc - 1, argv + 1, opts, pos, 2, &why)) < 0)
		return cli_usage("domain", "%s", why);
	if (n == 0)
		return cli_usage("domain", "domain: missing action");
	if (strcmp(pos[0], "list") == 0) {
		if (n != 1 || force)
			return cli_usage("domain", "domain list takes no "
			    "arguments");
	} else if (strcmp(pos[0], "add") == 0 || strcmp(pos[0], "del") == 0) {
		if (n != 2)
			return cli_usage("domain", "domain %s: missing DOMAIN",
			    pos[0]);
		if (force && pos[0][0] == 'a')
			return cli_usage("domain", "domain add has no --force");
	} else
		return cli_usage("domain", "domain: unknown action \"%s\"",
		    pos[0]);

	if (cli_db_open(cfg, &db) < 0)
		return CLI_EX_ERR;
	if (strcmp(pos[0], "list") == 0) {
		if (userdb_domain_list(db, cmd_domain_print, NULL) != 0)
			rc = cli_err("cannot list domains");
	} else if (strcmp(pos[0], "add") == 0) {
		if (userdb_domain_add(db, pos[1], &why) < 0)
			rc = cli_err("%s", why);
		else
			printf("added domain %s\n", cmd_domain_norm(pos[1], d));
	} else {
		if (userdb_domain_del(db, pos[1], force, &why) < 0)
			rc = cli_err("%s", why);
		else
			printf("deleted domain %s\n",
			    cmd_domain_norm(pos[1], d));
	}
	userdb_close(&db);
	return rc;
}
