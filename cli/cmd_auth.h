/* letterbox auth: ask the running authd, as smtpd or imapd would. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CLI_CMD_AUTH_H
#define LB_CLI_CMD_AUTH_H

#include "common/cfg.h"

/*
 * cmd_auth: argv[0] is "auth".  Subcommands:
 *   auth test ADDRESS [--password-stdin] [--ip IP] [--service NAME]
 *   auth resolve ADDRESS
 * Talks to authd over STATE run_dir/authd.sock.  Returns the exit code:
 * 0 success, 1 refused or unknown, 75 authd unreachable (EX_TEMPFAIL),
 * 64 usage.
 */
int cmd_auth(const struct cfg *cfg, int argc, char **argv);

#endif
