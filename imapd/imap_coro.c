/* Coroutines over ucontext, with the annotations AddressSanitizer needs to follow a stack switch. */
/* SPDX-License-Identifier: ISC */
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmem.h"
#include "imapd/imap_coro.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/common_interface_defs.h>
/* ASan puts locals in red zones: a command's frames take more room */
#define CORO_STACK	(2u << 20)
#else
#define CORO_STACK	(512u << 10)	/* only the pages touched count */
#endif
#define CORO_CACHE	16		/* stacks kept for reuse */

struct coro {
	ucontext_t ctx;		/* the coroutine where it stopped */
	ucontext_t back;	/* who ran or resumed it */
	void *map;		/* guard page, then the stack */
	size_t map_len;
	coro_fn fn;
	void *arg;
	int done;
	struct coro *next;	/* in the cache */
	void *fake;		/* ASan's fake stack of the side left */
	const void *back_bottom;	/* the resumer's stack, for ASan */
	size_t back_size;
};

static struct coro *coro_cur;
static struct coro *coro_cache;
static unsigned coro_cached;

static void
asan_start(void **fake, const void *bottom, size_t size)
{
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(fake, bottom, size);
#else
	(void)fake;
	(void)bottom;
	(void)size;
#endif
}

static void
asan_finish(void *fake, const void **bottom, size_t *size)
{
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(fake, bottom, size);
#else
	(void)fake;
	(void)bottom;
	(void)size;
#endif
}

static struct coro *
coro_get(void)
{
	struct coro *co = coro_cache;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (co != NULL) {
		coro_cache = co->next;
		coro_cached--;
		return co;
	}
	co = xcalloc(1, sizeof(*co));
	co->map_len = CORO_STACK + page;
	co->map = mmap(NULL, co->map_len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (co->map == MAP_FAILED)
		fatal("imapd: cannot map a command stack");
	/* the stack grows down: an overflow hits the guard page */
	if (mprotect(co->map, page, PROT_NONE) != 0)
		fatal("imapd: cannot protect a command stack's guard page");
	return co;
}

static void
coro_put(struct coro *co)
{
	if (coro_cached >= CORO_CACHE) {
		munmap(co->map, co->map_len);
		free(co);
		return;
	}
	co->next = coro_cache;
	coro_cache = co;
	coro_cached++;
}

void
coro_cache_drop(void)
{
	struct coro *co;

	while ((co = coro_cache) != NULL) {
		coro_cache = co->next;
		munmap(co->map, co->map_len);
		free(co);
	}
	coro_cached = 0;
}

static void
coro_main(void)
{
	struct coro *co = coro_cur;

	asan_finish(NULL, &co->back_bottom, &co->back_size);
	co->fn(co->arg);
	co->done = 1;
	/* this stack is left for good: NULL, no fake stack to keep */
	asan_start(NULL, co->back_bottom, co->back_size);
	/* returning follows uc_link to co->back */
}

/* Into co until it yields or ends; 1 if it ended (then freed). */
static int
coro_enter(struct coro *co)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *fake = NULL;

	BUG_ON(coro_cur != NULL);	/* one level only */
	coro_cur = co;
	asan_start(&fake, (char *)co->map + page, co->map_len - page);
	if (swapcontext(&co->back, &co->ctx) != 0)
		fatal("imapd: swapcontext: cannot enter a command");
	asan_finish(fake, NULL, NULL);
	coro_cur = NULL;
	if (!co->done)
		return 0;
	coro_put(co);
	return 1;
}

/* Apart, so that getcontext (returns_twice) has no locals to clobber. */
static __attribute__((noinline)) void
coro_prepare(struct coro *co)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (getcontext(&co->ctx) != 0)
		fatal("imapd: getcontext failed");
	co->ctx.uc_stack.ss_sp = (char *)co->map + page;
	co->ctx.uc_stack.ss_size = co->map_len - page;
	co->ctx.uc_link = &co->back;
	makecontext(&co->ctx, coro_main, 0);
}

int
coro_run(coro_fn fn, void *arg, struct coro **out)
{
	struct coro *co = coro_get();

	co->fn = fn;
	co->arg = arg;
	co->done = 0;
	co->fake = NULL;
	coro_prepare(co);
	*out = co;
	return coro_enter(co);
}

int
coro_resume(struct coro *co)
{
	BUG_ON(co->done);
	return coro_enter(co);
}

void
coro_yield(void)
{
	struct coro *co = coro_cur;

	BUG_ON(co == NULL);
	asan_start(&co->fake, co->back_bottom, co->back_size);
	if (swapcontext(&co->ctx, &co->back) != 0)
		fatal("imapd: swapcontext: cannot leave a command");
	asan_finish(co->fake, &co->back_bottom, &co->back_size);
}

struct coro *
coro_self(void)
{
	return coro_cur;
}
