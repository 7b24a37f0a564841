/* Maildir and Maildir++: unique names, ":2," flags, folders, tmp/ to new/ delivery. */
/* SPDX-License-Identifier: ISC */
#include "common/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static _Thread_local char maildir_whybuf[640];

static int
maildir_fail(const char **why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
maildir_fail(const char **why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(maildir_whybuf, sizeof(maildir_whybuf), fmt, ap);
	va_end(ap);
	*why = maildir_whybuf;
	return -1;
}

/* ---- pure parts ---- */

/* Parse decimal digits at p[0..n); 1 and the value if at least one digit
 * and no overflow, else 0.  *used_out: digits consumed. */
static int
maildir_num(const uint8_t *p, size_t n, uint64_t *v_out, size_t *used_out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (p[i] - '0')) / 10)
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	*used_out = i;
	*v_out = v;
	return i > 0;
}

/* ",X=digits" fields of the base name, ended by ',' or the end. */
static void
maildir_fields(struct maildir_name *m)
{
	const uint8_t *p = m->base.p;
	size_t n = m->base.n, i, used;
	uint64_t v;

	for (i = 0; i + 3 <= n; i++) {
		if (p[i] != ',' || p[i + 2] != '=' ||
		    (p[i + 1] != 'S' && p[i + 1] != 'W'))
			continue;
		if (!maildir_num(p + i + 3, n - i - 3, &v, &used))
			continue;
		if (i + 3 + used != n && p[i + 3 + used] != ',')
			continue;
		if (p[i + 1] == 'S' && !m->has_size) {
			m->size = v;
			m->has_size = 1;
		} else if (p[i + 1] == 'W' && !m->has_vsize) {
			m->vsize = v;
			m->has_vsize = 1;
		}
	}
}

int
maildir_name_parse(struct span name, struct maildir_name *out)
{
	size_t colon, used;
	uint64_t secs;

	memset(out, 0, sizeof(*out));
	out->seconds = -1;
	if (name.n == 0 || name.n > MAILDIR_NAME_MAX || name.p[0] == '.' ||
	    memchr(name.p, '/', name.n) != NULL ||
	    memchr(name.p, '\0', name.n) != NULL)
		return -1;
	out->base = name;
	if (span_find_byte(name, ':', &colon)) {
		out->base.n = colon;
		if (name.n - colon >= 3 && memcmp(name.p + colon, ":2,", 3)
		    == 0) {
			out->has_info = 1;
			out->info = span_make(name.p + colon + 3,
			    name.n - colon - 3);
		}
	}
	if (maildir_num(out->base.p, out->base.n, &secs, &used) &&
	    secs <= INT64_MAX)
		out->seconds = (int64_t)secs;
	maildir_fields(out);
	return 0;
}

int
maildir_flags_parse(struct span info, uint64_t *letters_out)
{
	uint64_t m = 0, bit;

	*letters_out = 0;
	for (size_t i = 0; i < info.n; i++) {
		if ((bit = maildir_flag_bit((char)info.p[i])) == 0)
			return -1;
		m |= bit;
		*letters_out = m;
	}
	return 0;
}

int
maildir_flags_format(uint64_t letters, char *out, size_t outsz)
{
	size_t n = 0;

	/* 'A'..'Z' sort before 'a'..'z' in ASCII, as the bits do. */
	for (int b = 0; b < 52; b++) {
		if (!(letters & (1ULL << b)))
			continue;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = b < 26 ? (char)('A' + b) : (char)('a' + b - 26);
	}
	if (n >= outsz)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* The host, escaped, cut at a whole character. */
static size_t
maildir_host(const char *host, char *out, size_t max)
{
	size_t n = 0;

	for (; *host != '\0'; host++) {
		const char *e = *host == '/' ? "\\057" :
		    *host == ':' ? "\\072" : NULL;
		size_t el = e != NULL ? 4 : 1;

		if (n + el > max)
			break;
		if (e != NULL)
			memcpy(out + n, e, 4);
		else
			out[n] = *host;
		n += el;
	}
	out[n] = '\0';
	return n;
}

int
maildir_name_format(char *out, size_t outsz, int64_t seconds, long usec,
    pid_t pid, unsigned long q, uint64_t rnd, const char *host,
    int has_size, uint64_t size)
{
	char h[MAILDIR_HOST_MAX + 1];
	int n;

	maildir_host(host != NULL && *host != '\0' ? host : "localhost", h,
	    MAILDIR_HOST_MAX);
	if (has_size)
		n = snprintf(out, outsz, "%lld.M%ldP%ldQ%luR%016llx.%s,S=%llu",
		    (long long)seconds, usec, (long)pid, q,
		    (unsigned long long)rnd, h, (unsigned long long)size);
	else
		n = snprintf(out, outsz, "%lld.M%ldP%ldQ%luR%016llx.%s",
		    (long long)seconds, usec, (long)pid, q,
		    (unsigned long long)rnd, h);
	if (n < 0 || (size_t)n >= outsz || n > MAILDIR_NAME_MAX)
		return -1;
	return n;
}

int
maildir_name_with_flags(struct span name, uint64_t letters, char *out,
    size_t outsz)
{
	char fl[64];
	size_t base = name.n;
	int fn, n;

	span_find_byte(name, ':', &base);
	if ((fn = maildir_flags_format(letters, fl, sizeof(fl))) < 0)
		return -1;
	if (base + 3 + (size_t)fn > MAILDIR_NAME_MAX ||
	    base + 3 + (size_t)fn >= outsz)
		return -1;
	n = snprintf(out, outsz, "%.*s:2,%s", (int)base,
	    (const char *)name.p, fl);
	return n;
}

/* ---- directories and files ---- */

static int
maildir_mkdir(const char *path, const char **why)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return maildir_fail(why, "mkdir %s: %s", path,
		    strerror(errno));
	return 0;
}

int
maildir_fsync_dir(const char *path, const char **why)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return maildir_fail(why, "open %s: %s", path,
		    strerror(errno));
	if (fsync(fd) < 0) {
		int e = errno;

		close(fd);
		return maildir_fail(why, "fsync %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

int
maildir_make(const char *root, const char *folder, const char **why)
{
	static const char *const sub[] = { "cur", "new", "tmp" };
	char dir[PATH_MAX], p[PATH_MAX];
	int fd;

	if (snprintf(dir, sizeof(dir), "%s%s%s", root,
	    folder[0] != '\0' ? "/" : "", folder) >= (int)sizeof(dir))
		return maildir_fail(why, "%s/%s: path too long", root, folder);
	if (maildir_mkdir(root, why) < 0 || maildir_mkdir(dir, why) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dir, sub[i]) >=
		    (int)sizeof(p))
			return maildir_fail(why, "%s: path too long", dir);
		if (maildir_mkdir(p, why) < 0)
			return -1;
	}
	if (folder[0] == '\0')
		return 0;
	if (snprintf(p, sizeof(p), "%s/maildirfolder", dir) >= (int)sizeof(p))
		return maildir_fail(why, "%s: path too long", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return maildir_fail(why, "%s: %s", p, strerror(errno));
	close(fd);
	return 0;
}

int
maildir_tmp_open(const char *dir, const char *host, struct maildir_tmp *t,
    const char **why)
{
	/* Q counts names made by this process: unique even within one
	 * microsecond; R makes them unique across hosts sharing a pid. */
	static unsigned long q;
	char path[PATH_MAX + MAILDIR_NAME_MAX + 8];
	struct timeval tv;
	uint64_t rnd;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (strlen(dir) >= sizeof(t->dir))
		return maildir_fail(why, "%s: path too long", dir);
	strcpy(t->dir, dir);
	gettimeofday(&tv, NULL);
	randombytes_buf(&rnd, sizeof(rnd));
	if (maildir_name_format(t->name, sizeof(t->name), tv.tv_sec,
	    (long)tv.tv_usec, getpid(), ++q, rnd, host, 0, 0) < 0)
		return maildir_fail(why, "maildir name too long");
	snprintf(path, sizeof(path), "%s/tmp/%s", dir, t->name);
	t->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (t->fd < 0)
		return maildir_fail(why, "%s: %s", path, strerror(errno));
	return 0;
}

int
maildir_tmp_write(struct maildir_tmp *t, const void *p, size_t n,
    const char **why)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(t->fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return maildir_fail(why, "write %s/tmp/%s: %s",
			    t->dir, t->name, strerror(errno));
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

void
maildir_tmp_abort(struct maildir_tmp *t)
{
	char path[PATH_MAX + MAILDIR_NAME_MAX + 8];

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->name[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/tmp/%s", t->dir, t->name);
	unlink(path);
	t->name[0] = '\0';
}

/* The final name: NAME,S=SIZE and, for cur/, the info. */
static int
maildir_final(const struct maildir_tmp *t, uint64_t size, int to_cur,
    uint64_t letters, char *out, size_t outsz)
{
	char base[MAILDIR_NAME_MAX + 1];
	int n;

	n = snprintf(base, sizeof(base), "%s,S=%llu", t->name,
	    (unsigned long long)size);
	if (n < 0 || (size_t)n >= sizeof(base))
		return -1;
	if (!to_cur) {
		n = snprintf(out, outsz, "new/%s", base);
		return n < 0 || (size_t)n >= outsz ? -1 : 0;
	}
	if (outsz < 5)
		return -1;
	memcpy(out, "cur/", 4);
	return maildir_name_with_flags(span_cstr(base), letters, out + 4,
	    outsz - 4) < 0 ? -1 : 0;
}

int
maildir_link(struct maildir_tmp *t, int to_cur, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
{
	char from[PATH_MAX + MAILDIR_NAME_MAX + 8];
	char to[PATH_MAX + MAILDIR_NAME_MAX + 8];
	struct stat st;

	snprintf(from, sizeof(from), "%s/tmp/%s", t->dir, t->name);
	if (fstat(t->fd, &st) < 0) {
		maildir_fail(why, "fstat %s: %s", from, strerror(errno));
		goto fail;
	}
	if (close(t->fd) < 0) {
		t->fd = -1;
		maildir_fail(why, "close %s: %s", from, strerror(errno));
		goto fail;
	}
	t->fd = -1;
	if (maildir_final(t, (uint64_t)st.st_size, to_cur, letters,
	    file_out, outsz) < 0) {
		maildir_fail(why, "maildir name too long");
		goto fail;
	}
	snprintf(to, sizeof(to), "%s/%s", t->dir, file_out);
	/* link, not rename: link refuses to replace an existing name. */
	if (link(from, to) < 0) {
		maildir_fail(why, "link %s: %s", to, strerror(errno));
		goto fail;
	}
	unlink(from);
	t->name[0] = '\0';
	return 0;
fail:
	maildir_tmp_abort(t);
	return -1;
}

int
maildir_commit(struct maildir_tmp *t, int to_cur, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
{
	char to[PATH_MAX + MAILDIR_NAME_MAX + 8], sub[PATH_MAX + 8];

	if (fsync(t->fd) < 0) {
		maildir_fail(why, "fsync %s/tmp/%s: %s", t->dir, t->name,
		    strerror(errno));
		maildir_tmp_abort(t);
		return -1;
	}
	if (maildir_link(t, to_cur, letters, file_out, outsz, why) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s/%s", t->dir, to_cur ? "cur" : "new");
	if (maildir_fsync_dir(sub, why) < 0) {
		/* the file is linked but not known durable; remove it so
		 * the caller's failure reply does not lie */
		snprintf(to, sizeof(to), "%s/%s", t->dir, file_out);
		unlink(to);
		return -1;
	}
	return 0;
}

int
maildir_sweep_tmp(const char *dir, long max_age_s)
{
	char p[PATH_MAX + 8];
	struct dirent *de;
	struct stat sb;
	time_t now = time(NULL);
	int fd, n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/tmp", dir);
	if ((d = opendir(p)) == NULL)
		return errno == ENOENT ? 0 : -1;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || now - sb.st_mtime <= max_age_s)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* One path part with '/', '%' and a leading '.' escaped; -1 if empty,
 * holding a control byte, or too long. */
static int
dir_part(const char *p, size_t n, char *out, size_t outsz, size_t *o)
{
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch < 0x20 || ch == 0x7f)
			return -1;
		if (ch == '/' || ch == '%' || (ch == '.' && i == 0)) {
			if (*o + 3 >= outsz)
				return -1;
			snprintf(out + *o, 4, "%%%02X", ch);
			*o += 3;
			continue;
		}
		if (*o + 1 >= outsz)
			return -1;
		out[(*o)++] = (char)ch;
	}
	out[*o] = '\0';
	return 0;
}

int
maildir_user_dir(const char *mail_dir, const char *address, char *out,
    size_t outsz)
{
	const char *at = strrchr(address, '@');
	int n;
	size_t o;

	if (at == NULL || at == address || at[1] == '\0')
		return -1;
	n = snprintf(out, outsz, "%s/", mail_dir);
	if (n < 0 || (size_t)n >= outsz)
		return -1;
	o = (size_t)n;
	if (dir_part(at + 1, strlen(at + 1), out, outsz, &o) < 0 ||
	    o + 1 >= outsz)
		return -1;
	out[o++] = '/';
	return dir_part(address, (size_t)(at - address), out, outsz, &o);
}

int
maildir_deliver(const char *dir, const char *host, const void *p, size_t n,
    char *file_out, size_t outsz, const char **why)
{
	struct maildir_tmp t;

	if (maildir_tmp_open(dir, host, &t, why) < 0)
		return -1;
	if (maildir_tmp_write(&t, p, n, why) < 0) {
		maildir_tmp_abort(&t);
		return -1;
	}
	return maildir_commit(&t, 0, 0, file_out, outsz, why);
}

int
maildir_set_flags(const char *dir, const char *file, uint64_t letters,
    char *file_out, size_t outsz, const char **why)
{
	char from[PATH_MAX + MAILDIR_NAME_MAX + 8];
	char to[PATH_MAX + MAILDIR_NAME_MAX + 8];
	const char *slash = strchr(file, '/');
	const char *name = slash != NULL ? slash + 1 : file;

	if (outsz < 5 || maildir_name_with_flags(span_cstr(name), letters,
	    file_out + 4, outsz - 4) < 0)
		return maildir_fail(why, "maildir name too long");
	memcpy(file_out, "cur/", 4);
	snprintf(from, sizeof(from), "%s/%s", dir, file);
	snprintf(to, sizeof(to), "%s/%s", dir, file_out);
	if (strcmp(from, to) == 0)
		return 0;
	if (rename(from, to) < 0) {
		if (errno == ENOENT)
			return 1;
		return maildir_fail(why, "rename %s: %s", from,
		    strerror(errno));
	}
	return 0;
}
