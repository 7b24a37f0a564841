/* letterbox config check: load the config and report every error in it. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"

int
cmd_config(const char *cfg_path, int argc, char **argv)
{
	struct cfg *cfg = NULL;
	struct buf errs;
	const char *pos[1], *why = NULL;
	int n;

	if ((n = cli_args(argc - 1, argv + 1, NULL, pos, 1, &why)) < 0)
		return cli_usage("config", "%s", why);
	if (n == 0)
		return cli_usage("config", "config: missing action");
	if (strcmp(pos[0], "check") != 0)
		return cli_usage("config", "config: unknown action \"%s\"",
		    pos[0]);
	buf_init(&errs, 256, 64 * 1024);
	if (cfg_load(cfg_path, &cfg, &errs) < 0) {
		fputs(buf_cstr(&errs), stderr);
		buf_fini(&errs);
		return CLI_EX_ERR;
	}
	buf_fini(&errs);
	cfg_free(&cfg);
	printf("%s: OK\n", cfg_path);
	return CLI_EX_OK;
}
