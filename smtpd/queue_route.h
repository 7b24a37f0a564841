/* queued: the remote recipients of an attempt, sent through the smarthost before the local ones go to the MDA. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_ROUTE_H
#define LB_QUEUE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct queue_sched;
struct queue_sched_opts;
struct queue_msg;

/* queue_route_init: everything remote delivery needs, from o: TLS
 * contexts and policies, the smarthost or the resolver, the DKIM keys'
 * directory, connection reuse.  0, or -1 with *why (queued does not
 * start). */
int queue_route_init(struct queue_sched *qs, const struct queue_sched_opts *o,
    const char **why);

/* queue_route_relay_parse: "host:port", "[host]:port", "host" or
 * "[host]" (port 25) -> host (brackets taken off) and port.  The
 * brackets mean what Postfix gives them: no MX lookup (we never look
 * up MX for the smarthost anyway).  Pure.  0 or -1. */
int queue_route_relay_parse(const char *s, char *host, size_t hostsz,
    uint16_t *port_out);

/* queue_route_tls_name: "none", "may", "require", "verify" -> enum
 * queue_remote_tls, or -1.  Pure. */
int queue_route_tls_name(const char *s, size_t n);

/*
 * queue_route_tls_policy: the policy for domain in spec, a list of
 * "DOMAIN:POLICY" separated by commas and/or spaces ("bank.example:verify,
 * *:may"): the entry naming domain (case-insensitive), else the "*"
 * entry, else QUEUE_TLS_MAY.  Pure.  0 with *out, or -1 when spec is
 * malformed (checked once at start).
 */
int queue_route_tls_policy(const char *spec, const char *domain, int *out);

/* queue_route_tls_init: the client TLS contexts (one that verifies
 * peers against ca_file, NULL: the system's CAs) and the per-domain
 * policy (kept).  0, or -1 with *why. */
int queue_route_tls_init(struct queue_sched *qs, const char *ca_file,
    const char *policy, const char **why);

/* queue_route_flush: forget every destination's backoff (`letterbox
 * queue flush`: try everything now). */
void queue_route_flush(struct queue_sched *qs);

/* queue_route_relay_init: resolve the smarthost's addresses into qs
 * (once, at start), set its TLS policy (tls: "none", "may" or NULL,
 * "require", "verify"), and read the credentials
 * of auth_file (NULL: none): one line "user password", a regular file
 * of our own uid, mode 0600 or less.  0, or -1 with *why. */
int queue_route_relay_init(struct queue_sched *qs, const char *relay,
    const char *tls, const char *auth_file, const char **why);
/* queue_route_relay_fini: everything the queue_route_*_init made. */
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

/* queue_route_start: if m has resolved remote recipients not yet sent,
 * start the SMTP transaction for the smarthost or for the first of their
 * domains (m->st becomes QM_REMOTE; it may wait for a session, or reuse
 * one) and return 1; when it ends, each such att has rdone and rreply,
 * and queue_msg_plan(m) runs again.  0: nothing to send (recipients of a
 * destination in backoff got their 4.4.1 reply at once). */
int queue_route_start(struct queue_msg *m);

/* queue_route_fini: drop the remote part of m's attempt. */
void queue_route_fini(struct queue_msg *m);

#endif
