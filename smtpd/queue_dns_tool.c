/* letterbox-queued -c FILE --route DOMAIN: resolve one domain with the
 * configured resolver, print the route, exit (diagnostics and tests). */
/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "common/buf.h"
#include "common/cfg.h"
#include "smtpd/queue_dns.h"

static const char *const status_name[] = {
	[QUEUE_DNS_OK] = "OK",
	[QUEUE_DNS_TEMP] = "TEMP",
	[QUEUE_DNS_PERM] = "PERM",
	[QUEUE_DNS_NULLMX] = "NULLMX",
};

static void
print_route(void *arg, const struct queue_dns_route *r)
{
	int *rc = arg;

	printf("status %s\n", status_name[r->status]);
	if (r->status != QUEUE_DNS_OK)
		printf("why %s\n", r->why);
	for (size_t i = 0; i < r->n_hosts; i++) {
		const struct queue_dns_host *h = &r->hosts[i];

		printf("host %u %s", h->pref, h->name);
		if (h->n_addr == 0)
			printf(" -");
		for (size_t k = 0; k < h->n_addr; k++) {
			char a[INET6_ADDRSTRLEN];
			const void *src;

			if (h->addr[k].ss_family == AF_INET6)
				src = &((const struct sockaddr_in6 *)
				    &h->addr[k])->sin6_addr;
			else
				src = &((const struct sockaddr_in *)
				    &h->addr[k])->sin_addr;
			inet_ntop(h->addr[k].ss_family, src, a, sizeof(a));
			printf(" %s", a);
		}
		printf("\n");
	}
	fflush(stdout);
	*rc = r->status == QUEUE_DNS_OK ? 0 : r->status == QUEUE_DNS_TEMP ?
	    75 : 69;
}

int
queue_dns_tool(int argc, char **argv)
{
	const char *cfg_path = NULL, *domain = NULL, *why = NULL;
	struct cfg *cfg = NULL;
	struct queue_dns *dns;
	struct ev_loop *loop;
	struct buf errs;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--route") == 0 && i + 1 < argc)
			domain = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cfg_path = argv[++i];
		else
			domain = NULL, i = argc;
	}
	if (cfg_path == NULL || domain == NULL) {
		fprintf(stderr, "usage: letterbox-queued -c FILE "
		    "--route DOMAIN\n");
		return 64;
	}
	buf_init(&errs, 256, 64 * 1024);
	if (cfg_load(cfg_path, &cfg, &errs) != 0) {
		fprintf(stderr, "%s", buf_cstr(&errs));
		buf_fini(&errs);
		return 78;
	}
	buf_fini(&errs);
	loop = ev_loop_new(EVFLAG_AUTO);
	dns = queue_dns_new(loop, cfg->queued.resolver,
	    cfg->queued.resolver_timeout_ms, &why);
	if (dns == NULL) {
		fprintf(stderr, "letterbox-queued: resolver: %s\n", why);
		rc = 78;
	} else if (queue_dns_route(dns, domain, print_route, &rc) != 0) {
		fprintf(stderr, "letterbox-queued: %s: bad domain\n", domain);
		rc = 65;
	} else
		ev_run(loop, 0);
	queue_dns_free(&dns);
	ev_loop_destroy(loop);
	cfg_free(&cfg);
	return rc;
}
