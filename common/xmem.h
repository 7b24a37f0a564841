/* Allocation wrappers: allocation failure is fatal, see STYLE.md 8. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_XMEM_H
#define LB_XMEM_H

#include <stddef.h>

/* Each returns usable memory or calls fatal(); never NULL. */
void *xmalloc(size_t n) __attribute__((malloc));
void *xcalloc(size_t nmemb, size_t size) __attribute__((malloc));
void *xrealloc(void *p, size_t n);
/* xreallocarray: like reallocarray(3), fatal on overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s) __attribute__((malloc));
char *xstrndup(const char *s, size_t n) __attribute__((malloc));
/* xasprintf: formatted string in fresh heap memory. */
char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), malloc));

/* xfree: free(*pp) and set *pp to NULL. */
void xfree(void *pp);

#endif
