/* Per-recipient delivery state: checksummed append-only records in spool/status/ID. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <zlib.h>

#include "common/log.h"
#include "common/xmem.h"

#define QUEUE_STATUS_MAX_FILE (64u * 1024u * 1024u)

void
queue_status_init(struct queue_status *st, int dir_fd, const char *id,
    size_t n)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->id, sizeof(st->id), "%s", id);
	st->n = n;
	st->rcpts = xcalloc(n ? n : 1, sizeof(*st->rcpts));
	st->fd = -1;
	st->dir_fd = dir_fd;
}

void
queue_status_fini(struct queue_status *st)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		free(st->rcpts[i].done);
	free(st->rcpts);
	st->rcpts = NULL;
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

/* ---- writing records ---- */

/* Only printable ASCII goes into a record: it is one line, split on
 * spaces up to its free text, and that text is the last field. */
static void
queue_status_clean(char *dst, size_t dsz, const char *src)
{
	size_t i = 0;

	for (; src != NULL && *src != '\0' && i + 1 < dsz; src++)
		dst[i++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[i] = '\0';
}

static void
queue_status_emit(struct buf *b, const char *rec)
{
	uLong crc = crc32(0L, (const Bytef *)rec, (uInt)strlen(rec));

	if (buf_addf(b, "%s %08lx\n", rec, (unsigned long)crc) < 0)
		fatal("queued: status record buffer full");
}

static void
queue_status_set_reply(struct queue_rcpt_status *r, int code,
    const char *enh, const char *text)
{
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s",
	    enh != NULL && strcmp(enh, "-") != 0 ? enh : "");
	queue_status_clean(r->text, sizeof(r->text), text);
}

void
queue_status_rec_delivered(struct queue_status *st, struct buf *b,
    size_t idx, const char *enh, enum queue_via via)
{
	char rec[128], e[16];

	BUG_ON(idx >= st->n);
	queue_status_clean(e, sizeof(e), enh && *enh ? enh : "2.0.0");
	snprintf(rec, sizeof(rec), "delivered %zu %s%s", idx, e,
	    via == QUEUE_VIA_RELAYED ? " relayed" : via == QUEUE_VIA_PASSED ?
	    " passed" : "");
	queue_status_emit(b, rec);
	st->rcpts[idx].state = QUEUE_RCPT_DELIVERED;
	st->rcpts[idx].via = (int)via;
	queue_status_set_reply(&st->rcpts[idx], 250, e, NULL);
}

void
queue_status_rec_failed(struct queue_status *st, struct buf *b,
    size_t idx, int code, const char *enh, const char *text)
{
	struct queue_rcpt_status *r = &st->rcpts[idx];
	char rec[QUEUE_STATUS_TEXT_MAX + 128];

	BUG_ON(idx >= st->n);
	r->state = QUEUE_RCPT_FAILED;
	queue_status_set_reply(r, code, enh, text);
	snprintf(rec, sizeof(rec), "failed %zu %d %s %s", idx, r->code,
	    r->enh[0] ? r->enh : "-", r->text);
	queue_status_emit(b, rec);
}

void
queue_status_rec_deferred(struct queue_status *st, struct buf *b,
    size_t idx, int64_t until, int code, const char *enh, const char *text)
{
	struct queue_rcpt_status *r = &st->rcpts[idx];
	char rec[QUEUE_STATUS_TEXT_MAX + 128];

	BUG_ON(idx >= st->n);
	r->state = QUEUE_RCPT_DEFERRED;
	r->until = until;
	r->attempts++;
	queue_status_set_reply(r, code, enh, text);
	snprintf(rec, sizeof(rec), "deferred %zu %" PRId64 " %u %d %s %s",
	    idx, until, r->attempts, r->code, r->enh[0] ? r->enh : "-",
	    r->text);
	queue_status_emit(b, rec);
}

static void
queue_status_add_done(struct queue_rcpt_status *r, const char *addr)
{
	size_t old = r->done ? strlen(r->done) : 0, n = strlen(addr);

	if (queue_status_target_done(r, addr))
		return;
	r->done = xrealloc(r->done, old + n + 3);
	if (old == 0)
		r->done[old++] = '\n';
	memcpy(r->done + old, addr, n);
	r->done[old + n] = '\n';
	r->done[old + n + 1] = '\0';
}

void
queue_status_rec_target(struct queue_status *st, struct buf *b, size_t idx,
    const char *addr)
{
	char rec[600], a[512];

	BUG_ON(idx >= st->n);
	queue_status_clean(a, sizeof(a), addr);
	/* a target with a space cannot be read back unambiguously;
	 * addresses from authd never have one, and it is the last field */
	snprintf(rec, sizeof(rec), "target %zu %s", idx, a);
	queue_status_emit(b, rec);
	queue_status_add_done(&st->rcpts[idx], a);
}

void
queue_status_rec_warned(struct queue_status *st, struct buf *b, size_t idx)
{
	char rec[64];

	BUG_ON(idx >= st->n);
	snprintf(rec, sizeof(rec), "warned %zu", idx);
	queue_status_emit(b, rec);
	st->rcpts[idx].warned = 1;
}

void
queue_status_rec_reported(struct queue_status *st, struct buf *b,
    size_t idx)
{
	char rec[64];

	BUG_ON(idx >= st->n);
	snprintf(rec, sizeof(rec), "reported %zu", idx);
	queue_status_emit(b, rec);
	st->rcpts[idx].reported = 1;
}

int
queue_status_target_done(const struct queue_rcpt_status *r, const char *addr)
{
	const char *p;
	size_t n = strlen(addr);

	if (r->done == NULL || n == 0)
		return 0;
	for (p = r->done; (p = strstr(p, addr)) != NULL; p++)
		if (p[-1] == '\n' && p[n] == '\n')
			return 1;
	return 0;
}

/* ---- reading records ---- */

/* Fields of one record split on single spaces; the last gets the rest. */
static size_t
queue_status_split(char *s, char **f, size_t max)
{
	size_t n = 0;

	while (n + 1 < max) {
		f[n++] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return n;
		*s++ = '\0';
	}
	f[n++] = s;
	return n;
}

static int
queue_status_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (*s == '\0' || (*s == '-' && lo >= 0))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Apply one record (a copy, cut up here).  0, or -1 if it is bad. */
static int
queue_status_apply(struct queue_status *st, char *rec, int first)
{
	struct queue_rcpt_status *r;
	long long idx, code, until, att;
	char *f[8];
	size_t n;

	n = queue_status_split(rec, f, first ? 3 : 2);
	if (first)
		return n == 3 && strcmp(f[0], "LBSTAT") == 0 &&
		    strcmp(f[1], "1") == 0 && strcmp(f[2], st->id) == 0 ? 0 : -1;
	if (n != 2)
		return -1;
	if (strcmp(f[0], "failed") == 0)
		n = 1 + queue_status_split(f[1], f + 1, 4);
	else if (strcmp(f[0], "deferred") == 0)
		n = 1 + queue_status_split(f[1], f + 1, 6);
	else if (strcmp(f[0], "delivered") == 0)
		n = 1 + queue_status_split(f[1], f + 1, 3);
	else
		n = 1 + queue_status_split(f[1], f + 1, 2);
	if (queue_status_num(f[1], 0, (long long)st->n - 1, &idx) < 0)
		return -1;
	r = &st->rcpts[idx];
	if (strcmp(f[0], "delivered") == 0 && (n == 3 || (n == 4 &&
	    (strcmp(f[3], "relayed") == 0 || strcmp(f[3], "passed") == 0)))) {
		r->state = QUEUE_RCPT_DELIVERED;
		r->via = n == 3 ? QUEUE_VIA_LOCAL : f[3][0] == 'r' ?
		    QUEUE_VIA_RELAYED : QUEUE_VIA_PASSED;
		queue_status_set_reply(r, 250, f[2], NULL);
	} else if (strcmp(f[0], "failed") == 0 && n == 5 &&
	    queue_status_num(f[2], 0, 599, &code) == 0) {
		r->state = QUEUE_RCPT_FAILED;
		queue_status_set_reply(r, (int)code, f[3], f[4]);
	} else if (strcmp(f[0], "deferred") == 0 && n == 7 &&
	    queue_status_num(f[2], 0, INT64_MAX, &until) == 0 &&
	    queue_status_num(f[3], 0, 1000000, &att) == 0 &&
	    queue_status_num(f[4], 0, 599, &code) == 0) {
		r->state = QUEUE_RCPT_DEFERRED;
		r->until = until;
		r->attempts = (unsigned)att;
		queue_status_set_reply(r, (int)code, f[5], f[6]);
	} else if (strcmp(f[0], "target") == 0 && n == 3 && *f[2] != '\0') {
		queue_status_add_done(r, f[2]);
	} else if (strcmp(f[0], "reported") == 0 && n == 2) {
		r->reported = 1;
	} else if (strcmp(f[0], "warned") == 0 && n == 2) {
		r->warned = 1;
	} else {
		return -1;
	}
	return 0;
}

size_t
queue_status_parse(struct queue_status *st, struct span in, int *torn_out)
{
	size_t off = 0, nl, len;
	char *rec;
	unsigned long want;
	uLong crc;
	int ok;

	*torn_out = 0;
	while (off < in.n) {
		struct span rest = span_make(in.p + off, in.n - off);

		if (!span_find_byte(rest, '\n', &nl) || nl < 10 ||
		    rest.p[nl - 9] != ' ') {
			*torn_out = 1;
			break;
		}
		len = nl - 9;
		rec = xmalloc(len + 1);
		memcpy(rec, rest.p, len);
		rec[len] = '\0';
		crc = crc32(0L, (const Bytef *)rec, (uInt)len);
		ok = sscanf((const char *)rest.p + len + 1, "%8lx", &want) == 1
		    && want == (unsigned long)crc && strlen(rec) == len &&
		    queue_status_apply(st, rec, off == 0) == 0;
		free(rec);
		if (!ok) {
			*torn_out = 1;
			break;
		}
		off += nl + 1;
	}
	return off;
}

/* ---- the file ---- */

int
queue_status_load(struct queue_status *st, int *torn_out)
{
	struct stat sb;
	uint8_t *data;
	size_t good, got = 0;
	ssize_t r;
	int fd;

	*torn_out = 0;
	fd = openat(st->dir_fd, st->id, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) < 0 || sb.st_size > QUEUE_STATUS_MAX_FILE) {
		if (errno == 0)
			errno = EFBIG;
		close(fd);
		return -1;
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		r = pread(fd, data + got, (size_t)sb.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	good = queue_status_parse(st, span_make(data, got), torn_out);
	free(data);
	/* cut the torn tail so the next record follows a good one; a file
	 * without even a good header is written again from the start */
	if (*torn_out && ftruncate(fd, (off_t)good) < 0) {
		close(fd);
		return -1;
	}
	if (good == 0) {
		close(fd);
		return 0;
	}
	st->fd = fd;
	return 0;
}

static int
queue_status_write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
queue_status_commit(struct queue_status *st, struct buf *b)
{
	struct buf hdr;
	char rec[64];
	int fresh = 0, rc;

	if (st->fd < 0) {
		st->fd = openat(st->dir_fd, st->id, O_RDWR | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (st->fd < 0)
			return -1;
		if (ftruncate(st->fd, 0) < 0)
			return -1;
		buf_init(&hdr, 64, 256);
		snprintf(rec, sizeof(rec), "LBSTAT 1 %s", st->id);
		queue_status_emit(&hdr, rec);
		rc = queue_status_write_all(st->fd, hdr.data, hdr.len);
		buf_fini(&hdr);
		if (rc < 0)
			return -1;
		fresh = 1;
	}
	if (lseek(st->fd, 0, SEEK_END) < 0 ||
	    queue_status_write_all(st->fd, b->data, b->len) < 0)
		return -1;
	buf_reset(b);
	/* XXX: synchronous on the loop, like the bounce writer; both are
	 * small and a status sync is once per delivery attempt, not per
	 * SMTP session.  They belong on the commit threads. */
	if (fdatasync(st->fd) < 0)
		return -1;
	if (fresh && fsync(st->dir_fd) < 0)
		return -1;
	return 0;
}

int
queue_status_remove(int dir_fd, const char *id)
{
	if (!queue_spool_id_valid(span_cstr(id))) {
		errno = EINVAL;
		return -1;
	}
	if (unlinkat(dir_fd, id, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}
