/* Logging: one event per line, key=value, to stderr or syslog. */
/* SPDX-License-Identifier: ISC */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_dest {
	LOG_DEST_STDERR = 0,
	LOG_DEST_SYSLOG,
};

/*
 * log_init: ident is the syslog tag, e.g. "smtpd[smtp-in]" (kept by
 * pointer: pass a constant or process-lifetime string).  facility is a
 * syslog facility name ("mail", "local0", ...) or NULL for "mail".
 * Before log_init, messages go to stderr at level INFO as plain
 * "letterbox: message" lines (start-up and check-mode errors).
 */
void log_init(const char *ident, enum log_dest dest, enum log_level level,
    const char *facility);
/* log_ident: the name on plain start-up lines before log_init (kept by
 * pointer). */
void log_ident(const char *ident);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* log_level_parse: "debug", "info", ... -> 0 and *out, else -1. */
int log_level_parse(const char *s, enum log_level *out);

/*
 * One line each, key=value pairs by convention, connection id first:
 *   log_info("conn=%s event=connect ip=%s", c->id, ip);
 * Never pass credentials.  Client bytes go through log_escape first.
 */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* _errno variants append ": strerror(errno)". */
void log_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fatal: log at ERR and exit(1).  For startup and broken invariants only,
 * never for anything a client can trigger. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatal_errno(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

void log_bug(const char *file, int line, const char *cond)
    __attribute__((noreturn));
#define BUG_ON(cond) \
	do { if (cond) log_bug(__FILE__, __LINE__, #cond); } while (0)

/*
 * log_escape: write s into out (size outsz, always NUL-terminated) with
 * bytes outside printable ASCII, '"', '\\' and '=' escaped as \xHH; at most
 * maxin input bytes, then "..." marks truncation.  Returns out.
 */
char *log_escape(struct span s, char *out, size_t outsz);

/* log_new_id: 16 lowercase hex digits of randomness into out[17]; used as
 * the connection or session id on every log line of one connection. */
void log_new_id(char out[17]);

#endif
