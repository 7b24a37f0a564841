/* queued: the remote recipients of an attempt, sent through the smarthost before the local ones go to the MDA. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_ROUTE_H
#define LB_QUEUE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct queue_sched;
struct queue_msg;

/* queue_route_relay_parse: "host:port", "[host]:port", "host" or
 * "[host]" (port 25) -> host (brackets taken off) and port.  The
 * brackets mean what Postfix gives them: no MX lookup (we never look
 * up MX for the smarthost anyway).  Pure.  0 or -1. */
int queue_route_relay_parse(const char *s, char *host, size_t hostsz,
    uint16_t *port_out);

/* queue_route_relay_init: resolve the smarthost's addresses into qs
 * (once, at start), set its TLS policy (tls: "none", "may" or NULL,
 * "require"), make the client TLS context and read the credentials
 * of auth_file (NULL: none): one line "user password", a regular file
 * of our own uid, mode 0600 or less.  0, or -1 with *why. */
int queue_route_relay_init(struct queue_sched *qs, const char *relay,
    const char *tls, const char *auth_file, const char **why);
void queue_route_relay_fini(struct queue_sched *qs);

/* queue_route_mx_init: without a smarthost, remote mail goes to each
 * domain's MX hosts (RFC 5321 5.1) found by smtpd/queue_dns.h with
 * these servers (NULL: /etc/resolv.conf).  0, or -1 with *why. */
int queue_route_mx_init(struct queue_sched *qs, const char *resolver,
    unsigned timeout_ms, const char **why);

/* queue_route_auth_parse: "user password\n" -> user, password (the
 * rest of the line, CR and LF cut).  Pure.  0 or -1. */
int queue_route_auth_parse(const char *in, char *user, size_t usersz,
    char *pass, size_t passsz);

/* queue_route_start: if m has resolved remote recipients not yet sent
 * and a smarthost is set, start the SMTP transaction (m->st becomes
 * QM_REMOTE) and return 1; when it ends, each such att has rdone and
 * rreply, and queue_msg_plan(m) runs again.  0: nothing to send. */
int queue_route_start(struct queue_msg *m);

/* queue_route_fini: drop the remote part of m's attempt. */
void queue_route_fini(struct queue_msg *m);

#endif
