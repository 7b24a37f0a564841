/* letterbox: the admin CLI; finds the config, then runs one subcommand. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/log.h"

static const char *
main_cfg_path(const char *opt)
{
	const char *env = getenv("LETTERBOX_CONF");

	if (opt != NULL)
		return opt;
	if (env != NULL && env[0] != '\0')
		return env;
	return LB_SYSCONFDIR "/letterbox.conf";
}

static int
main_run_cfg(const struct cli_cmd *c, const char *path, int argc, char **argv)
{
	struct cfg *cfg = NULL;
	struct buf errs;
	int rc;

	buf_init(&errs, 256, 64 * 1024);
	if (cfg_load(path, &cfg, &errs) < 0) {
		fputs(buf_cstr(&errs), stderr);
		buf_fini(&errs);
		return CLI_EX_ERR;
	}
	buf_fini(&errs);
	rc = c->run(cfg, argc, argv);
	cfg_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *c;
	const char *cfg_opt = NULL;
	int ch;

	log_init("letterbox", LOG_DEST_STDERR, LOG_LVL_WARN, NULL);
	secret_init();
	opterr = 0;
	/* '+': options end at the subcommand, whose own options follow it */
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			cfg_opt = optarg;
			break;
		case 'h':
			cli_usage_all(0);
			return CLI_EX_OK;
		default:
			if (optopt == 'c')
				return cli_usage(NULL, "option -c needs a "
				    "file name");
			return cli_usage(NULL, "unknown option \"-%c\"",
			    optopt);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return cli_usage(NULL, "no subcommand given");
	if (strcmp(argv[0], "help") == 0) {
		cli_usage_all(0);
		return CLI_EX_OK;
	}
	if ((c = cli_cmd_find(argv[0])) == NULL)
		return cli_usage(NULL, "unknown subcommand \"%s\"", argv[0]);
	if (c->run_path != NULL)
		return c->run_path(main_cfg_path(cfg_opt), argc, argv);
	return main_run_cfg(c, main_cfg_path(cfg_opt), argc, argv);
}
