/* Coroutines for imapd's commands: a command that must wait for a worker thread (an index write, an fsync) gives the loop back and goes on where it stopped. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IMAPD_IMAP_CORO_H
#define LB_IMAPD_IMAP_CORO_H

/*
 * One coroutine runs a function on a stack of its own (mmap'd, with a
 * guard page).  coro_run starts it; it returns when the function has
 * returned (1) or called coro_yield (0); coro_resume goes on from the
 * yield, with the same result.  Loop thread only, one level: a
 * coroutine does not start another.  Stacks are kept for reuse.
 */

struct coro;
typedef void (*coro_fn)(void *arg);

/* coro_run: a coroutine for fn(arg); *out is set before fn runs (so fn
 * may reach its coroutine); 1 done (and freed), 0 yielded. */
int coro_run(coro_fn fn, void *arg, struct coro **out);
/* coro_resume: on from the yield; 1 done (and freed), 0 yielded again. */
int coro_resume(struct coro *co);
/* coro_yield: back to whoever ran or resumed the current coroutine. */
void coro_yield(void);
/* coro_self: the running coroutine, or NULL on the loop's own stack. */
struct coro *coro_self(void);
/* coro_cache_drop: free the kept stacks (at exit, for leak checkers). */
void coro_cache_drop(void);

#endif
