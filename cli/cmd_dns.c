/* letterbox dns DOMAIN: every DNS record the admin must publish, in zone-file syntax. */
/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_dkim.h"
#include "common/addr.h"
#include "common/dkim.h"

/*
 * RFC 6186 client autoconfiguration, plus RFC 8314 5.1's _submissions.
 * Implicit TLS gets the better (lower) priority, as RFC 8314 5.1 asks.
 */
static const struct {
	const char *srv;
	enum cfg_listener_kind kind;
	unsigned prio;
} cmd_dns_srv[] = {
	{ "_submissions._tcp", CFG_LISTEN_SUBMISSIONS, 0 },
	{ "_submission._tcp", CFG_LISTEN_SUBMISSION, 10 },
	{ "_imaps._tcp", CFG_LISTEN_IMAPS, 0 },
	{ "_imap._tcp", CFG_LISTEN_IMAP, 10 },
	{ "_pop3s._tcp", CFG_LISTEN_POP3S, 0 },
	{ "_pop3._tcp", CFG_LISTEN_POP3, 10 },
};

/* The port of a listener's first address ("[::]:993", "*:25"); 0 if none. */
static unsigned
cmd_dns_port(const struct cfg *cfg, enum cfg_listener_kind kind)
{
	const struct cfg_listener *l = cfg_listener_find(cfg, kind);
	const char *colon;
	char *end;
	unsigned long p;

	if (l == NULL || l->n_addrs == 0 ||
	    (colon = strrchr(l->addrs[0], ':')) == NULL)
		return 0;
	p = strtoul(colon + 1, &end, 10);
	return *end == '\0' && p > 0 && p < 65536 ? (unsigned)p : 0;
}

int
cmd_dns(const struct cfg *cfg, int argc, char **argv)
{
	char domain[ADDR_DOMAIN_MAX + 1];
	const char *pos[1], *why = NULL, *host = cfg->hostname;
	int n;

	if ((n = cli_args(argc - 1, argv + 1, NULL, pos, 1, &why)) < 0)
		return cli_usage("dns", "%s", why);
	if (n == 0)
		return cli_usage("dns", "dns: missing DOMAIN");
	if (addr_domain_normalize(pos[0], domain, sizeof(domain)) != 0 ||
	    !dkim_name_valid(domain))
		return cli_err("invalid domain \"%s\"", pos[0]);
	printf("; DNS records for %s (letterbox dns), zone-file syntax.\n"
	    "; %s also needs A and/or AAAA records for this server.\n",
	    domain, host);
	printf("%s. IN MX 10 %s.\n", domain, host);
	printf("%s. IN TXT \"v=spf1 mx -all\"\n", domain);
	printf("_dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; "
	    "rua=mailto:postmaster@%s\"\n", domain, domain);
	fflush(stdout);
	if ((n = cmd_dkim_records(cfg, domain, stdout)) < 0)
		return CLI_EX_ERR;
	if (n == 0)
		printf("; no DKIM keys for %s yet: run letterbox dkim keygen "
		    "%s\n", domain, domain);
	/* RFC 6186 3: target "." says the service is not offered */
	for (size_t i = 0; i < sizeof(cmd_dns_srv) / sizeof(cmd_dns_srv[0]);
	    i++) {
		unsigned port = cmd_dns_port(cfg, cmd_dns_srv[i].kind);

		if (port == 0)
			printf("%s.%s. IN SRV 0 0 0 .\n", cmd_dns_srv[i].srv,
			    domain);
		else
			printf("%s.%s. IN SRV %u 1 %u %s.\n",
			    cmd_dns_srv[i].srv, domain, cmd_dns_srv[i].prio,
			    port, host);
	}
	return CLI_EX_OK;
}
