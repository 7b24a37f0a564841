/* letterbox dkim and letterbox dns: DKIM keys and the DNS records to publish. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_CLI_CMD_DKIM_H
#define LB_CLI_CMD_DKIM_H

#include <stdio.h>

#include "common/cfg.h"

/*
 * Keys live in STATE_DIR/dkim/DOMAIN/SELECTOR.ed25519.key and
 * SELECTOR.rsa.key (PKCS#8 PEM, 0600, directories 0700, owned by the
 * queue user when run as root).  Their DNS names are
 * SELECTOR-ed._domainkey.DOMAIN and SELECTOR-rsa._domainkey.DOMAIN.
 */
/* (the suffixes are dkim_store_kinds[].dns, common/dkim_store.h) */

/*
 * cmd_dkim: argv[0] is "dkim".  Actions:
 *   dkim keygen DOMAIN [--selector S] [--force]
 *   dkim list
 *   dkim show DOMAIN [--selector S]
 *   dkim sign DOMAIN [--selector S] [--time T] < MESSAGE
 * Returns the exit code (docs/cli.md).
 */
int cmd_dkim(const struct cfg *cfg, int argc, char **argv);

/* cmd_dns: argv[0] is "dns": dns DOMAIN. */
int cmd_dns(const struct cfg *cfg, int argc, char **argv);

/*
 * cmd_dkim_records: print the TXT record of every key of domain
 * (already normalized) to f, in zone-file syntax, selectors in order.
 * Returns the number of keys printed, or -1 (error printed).
 */
int cmd_dkim_records(const struct cfg *cfg, const char *domain, FILE *f);

#endif
