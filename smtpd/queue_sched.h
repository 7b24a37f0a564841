/* queued's delivery scheduler: what to try when, per message and recipient (docs/queue.md, "Delivery"). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_QUEUE_SCHED_H
#define LB_QUEUE_SCHED_H

#include <stdint.h>

#include "smtpd/queue_spool.h"

struct ev_loop;
struct ipcc;

struct queue_sched_opts {
	const char *lmtp_path;		/* RUN_DIR/lmtp.sock */
	const char *hostname;		/* LHLO, Reporting-MTA */
	unsigned sessions;		/* LMTP connections at once (>= 1) */
	unsigned retry_min_ms, retry_max_ms;
	unsigned lifetime_s;
	unsigned delay_warning_s;	/* delay DSN after this; 0: never */
	double lmtp_timeout_s;		/* idle per LMTP step */
	const char *relay_host;		/* smarthost "HOST:PORT" or NULL */
	const char *relay_tls;		/* "none", "may" (NULL), "require",
					 * "verify" */
	const char *tls_policy;		/* per MX domain: "example.org:verify,
					 * *:may" (docs/relay.md), or NULL */
	const char *tls_ca_file;	/* CAs for verify; NULL: the system's */
	unsigned dest_sessions;		/* transactions per destination */
	const char *dkim_dir;		/* STATE_DIR/dkim, NULL: no signing */
	const char *relay_auth_file;	/* "user password", or NULL */
	unsigned remote_sessions;	/* SMTP connections at once (>= 1) */
	double remote_timeout_s;	/* idle per SMTP step (RFC 5321
					 * 4.5.3.2: 5 minutes and more) */
	const char *resolver;		/* DNS servers, NULL: the system's */
	unsigned resolver_timeout_ms;	/* per DNS try */
	unsigned mx_port;		/* port of MX hosts: 25 (tests) */
};

struct queue_sched;

/*
 * queue_sched_new: deliver the messages of sp's queue/ (borrowed) with
 * per-recipient state in status_fd (spool/status/, owned), resolving
 * recipients through authd (owned).  o is copied (strings too).
 */
struct queue_sched *queue_sched_new(struct ev_loop *loop,
    const struct queue_spool *sp, int status_fd, struct ipcc *authd,
    const struct queue_sched_opts *o);

/* queue_sched_start: remove status files without a message, then load
 * and schedule every message in queue/.  Returns the number loaded. */
size_t queue_sched_start(struct queue_sched *qs);

/* queue_sched_add: a message just committed to queue/ID: load it and
 * try it now.  A message that cannot be read is logged and left alone. */
void queue_sched_add(struct queue_sched *qs, const char *id);

/* queue_sched_shutdown: start no new attempt; let the LMTP transactions
 * in flight finish and record them; then call idle(arg) (maybe at once). */
void queue_sched_shutdown(struct queue_sched *qs, void (*idle)(void *),
    void *arg);

void queue_sched_free(struct queue_sched **qs);

/* queue_sched_backoff_ms: the wait after the attempts-th temporary
 * failure (1, 2, ...): min_ms, doubling, capped at max_ms. */
uint64_t queue_sched_backoff_ms(unsigned min_ms, unsigned max_ms,
    unsigned attempts);

#endif
