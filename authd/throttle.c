/* Failed-login counters per client network and per account, with bounded LRU tables. */
/* SPDX-License-Identifier: ISC */
#include "authd/throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/xmem.h"

#define NIL UINT32_MAX
#define KEYLEN 16

struct throttle_entry {
	uint8_t key[KEYLEN];
	uint32_t count;
	uint64_t last_ms;
	uint32_t hnext;		/* bucket chain */
	uint32_t prev, next;	/* LRU list, oldest first; or free list */
};

struct throttle_table {
	struct throttle_entry *e;
	uint32_t *bucket;
	uint32_t cap, mask;
	uint32_t head, tail, free;
};

struct throttle {
	/* SECURITY: keys are hashed with a secret so that a client cannot
	 * aim many keys at one bucket. */
	uint8_t secret[crypto_generichash_KEYBYTES];
	struct throttle_table ip, account;
};

static void
throttle_table_init(struct throttle_table *tb, size_t entries)
{
	uint32_t i, nb = 1;

	if (entries < 1)
		entries = 1;
	if (entries > 1u << 24)
		entries = 1u << 24;
	while (nb < entries)
		nb <<= 1;
	tb->cap = (uint32_t)entries;
	tb->mask = nb - 1;
	tb->e = xcalloc(tb->cap, sizeof(*tb->e));
	tb->bucket = xreallocarray(NULL, nb, sizeof(*tb->bucket));
	for (i = 0; i < nb; i++)
		tb->bucket[i] = NIL;
	for (i = 0; i < tb->cap; i++)
		tb->e[i].next = i + 1 < tb->cap ? i + 1 : NIL;
	tb->free = 0;
	tb->head = tb->tail = NIL;
}

struct throttle *
throttle_new(size_t entries)
{
	struct throttle *t = xcalloc(1, sizeof(*t));

	randombytes_buf(t->secret, sizeof(t->secret));
	throttle_table_init(&t->ip, entries);
	throttle_table_init(&t->account, entries);
	return t;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;

	if (t == NULL)
		return;
	free(t->ip.e);
	free(t->ip.bucket);
	free(t->account.e);
	free(t->account.bucket);
	free(t);
	*tp = NULL;
}

uint32_t
throttle_delay_for(const struct throttle_params *p, uint32_t n)
{
	uint64_t d;

	if (n == 0)
		return 0;
	if (n - 1 >= 32)
		return p->max_ms;
	d = (uint64_t)p->base_ms << (n - 1);
	return d > p->max_ms ? p->max_ms : (uint32_t)d;
}

static uint32_t
throttle_bucket(const struct throttle_table *tb, const uint8_t *key)
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h & tb->mask;
}

static void
throttle_lru_unlink(struct throttle_table *tb, uint32_t i)
{
	struct throttle_entry *e = &tb->e[i];

	if (e->prev != NIL)
		tb->e[e->prev].next = e->next;
	else
		tb->head = e->next;
	if (e->next != NIL)
		tb->e[e->next].prev = e->prev;
	else
		tb->tail = e->prev;
}

static void
throttle_lru_append(struct throttle_table *tb, uint32_t i)
{
	tb->e[i].prev = tb->tail;
	tb->e[i].next = NIL;
	if (tb->tail != NIL)
		tb->e[tb->tail].next = i;
	else
		tb->head = i;
	tb->tail = i;
}

static void
throttle_remove(struct throttle_table *tb, uint32_t i)
{
	uint32_t *pp = &tb->bucket[throttle_bucket(tb, tb->e[i].key)];

	while (*pp != i) {
		BUG_ON(*pp == NIL);
		pp = &tb->e[*pp].hnext;
	}
	*pp = tb->e[i].hnext;
	throttle_lru_unlink(tb, i);
	memset(&tb->e[i], 0, sizeof(tb->e[i]));
	tb->e[i].next = tb->free;
	tb->free = i;
}

/* The live entry for key, or NIL; an expired one is dropped on the way. */
static uint32_t
throttle_find(struct throttle_table *tb, const struct throttle_params *p,
    const uint8_t *key, uint64_t now_ms)
{
	uint32_t i;

	for (i = tb->bucket[throttle_bucket(tb, key)]; i != NIL;
	    i = tb->e[i].hnext) {
		if (memcmp(tb->e[i].key, key, KEYLEN) != 0)
			continue;
		if (now_ms >= tb->e[i].last_ms &&
		    now_ms - tb->e[i].last_ms >= p->window_ms) {
			throttle_remove(tb, i);
			return NIL;
		}
		return i;
	}
	return NIL;
}

static uint32_t
throttle_insert(struct throttle_table *tb, const uint8_t *key)
{
	uint32_t i, b;

	if (tb->free == NIL)
		throttle_remove(tb, tb->head);	/* evict the oldest */
	i = tb->free;
	tb->free = tb->e[i].next;
	memcpy(tb->e[i].key, key, KEYLEN);
	tb->e[i].count = 0;
	b = throttle_bucket(tb, key);
	tb->e[i].hnext = tb->bucket[b];
	tb->bucket[b] = i;
	throttle_lru_append(tb, i);
	return i;
}

void
throttle_ip_key(struct span ip, char *out, size_t outsz)
{
	char txt[64], norm[INET6_ADDRSTRLEN];
	uint8_t a[16];

	if (ip.n < sizeof(txt) && !span_has_nul(ip)) {
		memcpy(txt, ip.p, ip.n);
		txt[ip.n] = '\0';
		if (inet_pton(AF_INET, txt, a) == 1 &&
		    inet_ntop(AF_INET, a, norm, sizeof(norm)) != NULL) {
			snprintf(out, outsz, "4:%s", norm);
			return;
		}
		if (inet_pton(AF_INET6, txt, a) == 1) {
			if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a) &&
			    inet_ntop(AF_INET, a + 12, norm, sizeof(norm))) {
				snprintf(out, outsz, "4:%s", norm);
				return;
			}
			/* SECURITY: one /64 is what one client usually
			 * controls; counting per address would let it rotate. */
			memset(a + 8, 0, 8);
			if (inet_ntop(AF_INET6, a, norm, sizeof(norm))) {
				snprintf(out, outsz, "6:%s/64", norm);
				return;
			}
		}
	}
	snprintf(out, outsz, "s:%.*s", (int)(ip.n > 200 ? 200 : ip.n),
	    (const char *)ip.p);
}

static void
throttle_hash_ip(const struct throttle *t, struct span ip, uint8_t *key)
{
	char k[256];

	throttle_ip_key(ip, k, sizeof(k));
	crypto_generichash(key, KEYLEN, (const uint8_t *)k, strlen(k),
	    t->secret, sizeof(t->secret));
}

static void
throttle_hash_account(const struct throttle *t, struct span acct,
    uint8_t *key)
{
	crypto_generichash_state st;
	uint8_t chunk[64];
	size_t off = 0, n, i;

	crypto_generichash_init(&st, t->secret, sizeof(t->secret), KEYLEN);
	while (off < acct.n) {
		n = acct.n - off < sizeof(chunk) ? acct.n - off : sizeof(chunk);
		for (i = 0; i < n; i++) {
			uint8_t c = acct.p[off + i];

			chunk[i] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
		}
		crypto_generichash_update(&st, chunk, n);
		off += n;
	}
	crypto_generichash_final(&st, key, KEYLEN);
}

static uint32_t
throttle_table_count(struct throttle_table *tb,
    const struct throttle_params *p, const uint8_t *key, uint64_t now_ms)
{
	uint32_t i = throttle_find(tb, p, key, now_ms);

	return i == NIL ? 0 : tb->e[i].count;
}

static uint32_t
throttle_table_fail(struct throttle_table *tb,
    const struct throttle_params *p, const uint8_t *key, uint64_t now_ms)
{
	uint32_t i = throttle_find(tb, p, key, now_ms);

	if (i == NIL)
		i = throttle_insert(tb, key);
	else {
		throttle_lru_unlink(tb, i);
		throttle_lru_append(tb, i);
	}
	if (tb->e[i].count < UINT32_MAX)
		tb->e[i].count++;
	tb->e[i].last_ms = now_ms;
	return tb->e[i].count;
}

uint32_t
throttle_count_ip(struct throttle *t, const struct throttle_params *p,
    struct span ip, uint64_t now_ms)
{
	uint8_t k[KEYLEN];

	throttle_hash_ip(t, ip, k);
	return throttle_table_count(&t->ip, p, k, now_ms);
}

uint32_t
throttle_count_account(struct throttle *t, const struct throttle_params *p,
    struct span account, uint64_t now_ms)
{
	uint8_t k[KEYLEN];

	throttle_hash_account(t, account, k);
	return throttle_table_count(&t->account, p, k, now_ms);
}

uint32_t
throttle_check(struct throttle *t, const struct throttle_params *p,
    struct span ip, struct span account, uint64_t now_ms,
    uint32_t *failures_out)
{
	uint32_t a = throttle_count_ip(t, p, ip, now_ms);
	uint32_t b = throttle_count_account(t, p, account, now_ms);
	uint32_t n = a > b ? a : b;

	if (failures_out != NULL)
		*failures_out = n;
	return throttle_delay_for(p, n);
}

uint32_t
throttle_fail(struct throttle *t, const struct throttle_params *p,
    struct span ip, struct span account, uint64_t now_ms)
{
	uint8_t k[KEYLEN];
	uint32_t a, b;

	throttle_hash_ip(t, ip, k);
	a = throttle_table_fail(&t->ip, p, k, now_ms);
	throttle_hash_account(t, account, k);
	b = throttle_table_fail(&t->account, p, k, now_ms);
	return a > b ? a : b;
}

void
throttle_success(struct throttle *t, struct span account)
{
	struct throttle_params forever = { 0, 0, UINT64_MAX };
	uint8_t k[KEYLEN];
	uint32_t i;

	throttle_hash_account(t, account, k);
	i = throttle_find(&t->account, &forever, k, 0);
	if (i != NIL)
		throttle_remove(&t->account, i);
}
