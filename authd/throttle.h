/* Failed-login throttling per client network and per account: pure logic, time passed in. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_AUTHD_THROTTLE_H
#define LB_AUTHD_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Two bounded tables of recent failures: one keyed by client network
 * (IPv4 address, IPv6 /64; anything unparseable by its text), one by
 * account (ASCII-lowercased).  Keys are stored as keyed 128-bit hashes,
 * so memory per entry is fixed.  A counter is forgotten window_ms after
 * its last failure.  When a table is full the entry least recently
 * failed is evicted.  No I/O, no logging; times are milliseconds on any
 * monotonic-enough clock the caller chooses.
 */

#define THROTTLE_DEFAULT_ENTRIES 16384

struct throttle_params {
	uint32_t base_ms;	/* delay after the first failure */
	uint32_t max_ms;	/* cap */
	uint64_t window_ms;	/* forget a counter this long after its last failure */
};

struct throttle;

/* throttle_new: tables of at most entries each (>= 1). */
struct throttle *throttle_new(size_t entries);
void throttle_free(struct throttle **t);

/* throttle_delay_for: min(base * 2^(n-1), max) for n >= 1, 0 for n = 0. */
uint32_t throttle_delay_for(const struct throttle_params *p, uint32_t n);

/*
 * throttle_check: how long to hold the answer to a request from ip for
 * account: the delay for the larger of the two recent failure counts,
 * which goes to *failures_out (may be NULL).
 */
uint32_t throttle_check(struct throttle *t, const struct throttle_params *p,
    struct span ip, struct span account, uint64_t now_ms,
    uint32_t *failures_out);

/* throttle_fail: count one failure for both; returns the larger count. */
uint32_t throttle_fail(struct throttle *t, const struct throttle_params *p,
    struct span ip, struct span account, uint64_t now_ms);

/* throttle_success: forget the account's failures (not the IP's). */
void throttle_success(struct throttle *t, struct span account);

/* throttle_count: recent failures of ip alone or account alone (the other
 * an empty span), for tests and logs. */
uint32_t throttle_count_ip(struct throttle *t, const struct throttle_params *p,
    struct span ip, uint64_t now_ms);
uint32_t throttle_count_account(struct throttle *t,
    const struct throttle_params *p, struct span account, uint64_t now_ms);

/* throttle_ip_key: the normalised text the IP table uses ("4:192.0.2.1",
 * "6:2001:db8:1:2::/64", or "s:" + the text as given) into out. */
void throttle_ip_key(struct span ip, char *out, size_t outsz);

#endif
