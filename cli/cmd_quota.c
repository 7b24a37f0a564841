/* letterbox quota set|show: per-mailbox limits on bytes and messages. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/addr.h"

static void
cmd_quota_print(const struct userdb_user *u)
{
	char q[32], m[32];

	printf("address: %s\nquota: %s\nmessages: %s\n", u->address,
	    cli_fmt_size(u->quota_bytes, q),
	    cli_fmt_count(u->quota_messages, m));
}

static int
cmd_quota_run(struct userdb *db, const char **pos, int n, uint64_t bytes,
    uint64_t msgs)
{
	struct userdb_user u;
	const char *why = NULL;
	char norm[USERDB_ADDR_MAX];

	if (userdb_user_get(db, pos[1], &u) != 1)
		return cli_err("user %s does not exist",
		    addr_normalize(pos[1], norm, sizeof(norm)) == 0 ? norm :
		    pos[1]);
	if (strcmp(pos[0], "set") == 0) {
		if (n < 4)
			msgs = u.quota_messages;	/* unchanged */
		if (userdb_user_set_quota(db, pos[1], bytes, msgs, &why) < 0)
			return cli_err("%s", why);
		u.quota_bytes = bytes;
		u.quota_messages = msgs;
	}
	cmd_quota_print(&u);
	return CLI_EX_OK;
}

int
cmd_quota(const struct cfg *cfg, int argc, char **argv)
{
	const char *pos[4], *why = NULL;
	struct userdb *db;
	uint64_t bytes = 0, msgs = 0;
	int n, rc;

	if ((n = cli_args(argc - 1, argv + 1, NULL, pos, 4, &why)) < 0)
		return cli_usage("quota", "%s", why);
	if (n == 0)
		return cli_usage("quota", "quota: missing action");
	if (strcmp(pos[0], "set") == 0) {
		if (n < 3)
			return cli_usage("quota", n < 2 ?
			    "quota set: missing ADDRESS" :
			    "quota set: missing SIZE");
		if (cli_parse_size(pos[2], &bytes, &why) < 0 ||
		    (n == 4 && cli_parse_count(pos[3], &msgs, &why) < 0))
			return cli_usage("quota", "quota set: %s", why);
	} else if (strcmp(pos[0], "show") == 0) {
		if (n != 2)
			return cli_usage("quota", n < 2 ?
			    "quota show: missing ADDRESS" :
			    "quota show: too many arguments");
	} else
		return cli_usage("quota", "quota: unknown action \"%s\"",
		    pos[0]);
	if (cli_db_open(cfg, &db) < 0)
		return CLI_EX_ERR;
	rc = cmd_quota_run(db, pos, n, bytes, msgs);
	userdb_close(&db);
	return rc;
}
