/* Logging to stderr or syslog, one key=value event per line. */
/* SPDX-License-Identifier: ISC */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static struct {
	const char *ident;
	enum log_dest dest;
	enum log_level level;
	int plain;		/* "ident: message" only, until log_init */
} log_state = { "letterbox", LOG_DEST_STDERR, LOG_LVL_INFO, 1 };

static const char *const level_names[] = {
	"err", "warn", "notice", "info", "debug",
};

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

void
log_init(const char *ident, enum log_dest dest, enum log_level level,
    const char *facility)
{
	int fac = LOG_MAIL;
	size_t i;

	log_state.ident = ident;
	log_state.dest = dest;
	log_state.level = level;
	log_state.plain = 0;
	if (dest == LOG_DEST_SYSLOG) {
		for (i = 0; facility && i < sizeof(facilities) /
		    sizeof(facilities[0]); i++)
			if (strcasecmp(facility, facilities[i].name) == 0)
				fac = facilities[i].value;
		openlog(ident, LOG_PID | LOG_NDELAY, fac);
	}
}

void
log_ident(const char *ident)
{
	log_state.ident = ident;
}

void
log_set_level(enum log_level level)
{
	log_state.level = level;
}

enum log_level
log_get_level(void)
{
	return log_state.level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_vwrite(enum log_level lvl, int with_errno, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void
log_vwrite(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	static const int prio[] = {
		LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG,
	};
	char msg[4096];
	int saved = errno;
	size_t n;

	if (lvl > log_state.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (log_state.dest == LOG_DEST_SYSLOG) {
		syslog(prio[lvl], "%s", msg);
	} else if (log_state.plain) {
		/* Before logging is set up (start-up, -t): what a person
		 * reads at a shell, like any command's errors. */
		fprintf(stderr, "%s: %s\n", log_state.ident, msg);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		/* One write(2) per line so that lines of the master and its
		 * children sharing stderr do not interleave. */
		char line[4352];
		int len = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld] %s: %s\n",
		    when, ts.tv_nsec / 1000000L, log_state.ident,
		    (long)getpid(), level_names[lvl], msg);
		if (len > (int)sizeof(line) - 1)
			len = (int)sizeof(line) - 1;
		if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
			/* nowhere left to report it */
		}
	}
	errno = saved;
}

#define LOG_FN(name, lvl, e) \
void \
name(const char *fmt, ...) \
{ \
	va_list ap; \
	va_start(ap, fmt); \
	log_vwrite(lvl, e, fmt, ap); \
	va_end(ap); \
}

LOG_FN(log_err, LOG_LVL_ERR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 0)
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_err_errno, LOG_LVL_ERR, 1)
LOG_FN(log_warn_errno, LOG_LVL_WARN, 1)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatal_errno(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_bug(const char *file, int line, const char *cond)
{
	log_err("event=bug file=%s line=%d cond=\"%s\"", file, line, cond);
	abort();
}

char *
log_escape(struct span s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outsz == 0)
		return out;
	for (i = 0; i < s.n; i++) {
		uint8_t c = s.p[i];
		int plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' &&
		    c != '=';

		if (o + (plain ? 1 : 4) + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void
log_new_id(char out[17])
{
	uint8_t r[8];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, 17, r, sizeof(r));
}
