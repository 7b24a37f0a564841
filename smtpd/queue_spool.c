/* queued's spool files: create, remove, commit-rename and scan, all relative to directory fds. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#define QUEUE_SPOOL_CREATE_TRIES 16

int
queue_spool_subdir(int spool_fd, const char *name, int *fd_out,
    const char **why_out)
{
	struct stat st;
	int fd;

	if (mkdirat(spool_fd, name, 0700) < 0 && errno != EEXIST) {
		*why_out = "cannot make the directory";
		return -1;
	}
	fd = openat(spool_fd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why_out = "cannot open the directory";
		return -1;
	}
	/* SECURITY: the spool is ours alone; whatever made the directory,
	 * it is 0700 from now on (mkdir's mode went through the umask). */
	if (fstat(fd, &st) < 0 || ((st.st_mode & 07777) != 0700 &&
	    fchmod(fd, 0700) < 0)) {
		*why_out = "cannot set mode 0700";
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

int
queue_spool_open(int spool_fd, struct queue_spool *sp, const char **why_out)
{
	int e;

	sp->spool_fd = spool_fd;
	sp->tmp_fd = sp->queue_fd = -1;
	if (queue_spool_subdir(spool_fd, "tmp", &sp->tmp_fd, why_out) < 0 ||
	    queue_spool_subdir(spool_fd, "queue", &sp->queue_fd, why_out) < 0) {
		e = errno;
		queue_spool_close(sp);
		errno = e;
		return -1;
	}
	return 0;
}

void
queue_spool_close(struct queue_spool *sp)
{
	if (sp->tmp_fd >= 0)
		close(sp->tmp_fd);
	if (sp->queue_fd >= 0)
		close(sp->queue_fd);
	if (sp->spool_fd >= 0)
		close(sp->spool_fd);
	sp->spool_fd = sp->tmp_fd = sp->queue_fd = -1;
}

int
queue_spool_id_valid(struct span id)
{
	size_t i;

	if (id.n != QUEUE_ID_LEN)
		return 0;
	for (i = 0; i < id.n; i++)
		if (!((id.p[i] >= '0' && id.p[i] <= '9') ||
		    (id.p[i] >= 'a' && id.p[i] <= 'f')))
			return 0;
	return 1;
}

void
queue_spool_id_make(long long now, char id_out[QUEUE_ID_LEN + 1])
{
	uint32_t r = randombytes_random();

	/* the low 32 bits of the time: ids sort by age until 2106 */
	snprintf(id_out, QUEUE_ID_LEN + 1, "%08x%08x",
	    (unsigned)((unsigned long long)now & 0xffffffffu), (unsigned)r);
}

int
queue_spool_create(const struct queue_spool *sp,
    char id_out[QUEUE_ID_LEN + 1], int *fd_out, int *wfd_out)
{
	return queue_spool_create_in(sp->tmp_fd, id_out, fd_out, wfd_out);
}

int
queue_spool_create_in(int dir_fd, char id_out[QUEUE_ID_LEN + 1],
    int *fd_out, int *wfd_out)
{
	struct stat a, b;
	int fd = -1, wfd, i, e;

	for (i = 0; i < QUEUE_SPOOL_CREATE_TRIES; i++) {
		queue_spool_id_make((long long)time(NULL), id_out);
		fd = openat(dir_fd, id_out, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -1;
	/*
	 * SECURITY: smtpd gets its own write-only open file description, not
	 * a dup of ours: a dup would share our O_RDWR access mode and file
	 * offset.  With O_WRONLY smtpd can write this one file and read
	 * nothing.  tmp/ is 0700 and ours, so the name still points at the
	 * file just made; the inode comparison makes sure.
	 */
	wfd = openat(dir_fd, id_out, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd < 0 || fstat(fd, &a) < 0 || fstat(wfd, &b) < 0)
		e = errno;
	else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		e = EIO;
	else {
		*fd_out = fd;
		*wfd_out = wfd;
		return 0;
	}
	if (wfd >= 0)
		close(wfd);
	close(fd);
	(void)unlinkat(dir_fd, id_out, 0);
	errno = e;
	return -1;
}

static int
queue_spool_unlink_in(int dir_fd, const char *id)
{
	if (!queue_spool_id_valid(span_cstr(id))) {
		errno = EINVAL;
		return -1;
	}
	return unlinkat(dir_fd, id, 0);
}

int
queue_spool_unlink_tmp(const struct queue_spool *sp, const char *id)
{
	return queue_spool_unlink_in(sp->tmp_fd, id);
}

int
queue_spool_unlink_queue(const struct queue_spool *sp, const char *id)
{
	return queue_spool_unlink_in(sp->queue_fd, id);
}

int
queue_spool_commit_rename(const struct queue_spool *sp, const char *id)
{
	if (!queue_spool_id_valid(span_cstr(id))) {
		errno = EINVAL;
		return -1;
	}
	/* RENAME_NOREPLACE would refuse to overwrite, but a clash is
	 * impossible: the id was made unique by O_EXCL in tmp/, and queue/
	 * names only come from tmp/ names. */
	return renameat(sp->tmp_fd, id, sp->queue_fd, id);
}

/* A DIR * of its own over dir_fd (readdir must not share the position). */
static DIR *
queue_spool_opendir(int dir_fd)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

static int
queue_spool_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

int
queue_spool_clean_tmp(const struct queue_spool *sp, size_t *removed_out,
    size_t *failed_out)
{
	struct dirent *de;
	DIR *d;

	*removed_out = *failed_out = 0;
	if ((d = queue_spool_opendir(sp->tmp_fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (queue_spool_dot(de->d_name))
			continue;
		/* whatever the name: nothing in tmp/ was ever acknowledged */
		if (unlinkat(sp->tmp_fd, de->d_name, 0) == 0 ||
		    ((errno == EISDIR || errno == EPERM) &&
		    unlinkat(sp->tmp_fd, de->d_name, AT_REMOVEDIR) == 0))
			(*removed_out)++;
		else
			(*failed_out)++;
	}
	closedir(d);
	return 0;
}

long
queue_spool_scan(const struct queue_spool *sp,
    int (*fn)(const char *id, void *arg), void *arg, size_t *ignored_out)
{
	struct dirent *de;
	long n = 0;
	DIR *d;

	*ignored_out = 0;
	if ((d = queue_spool_opendir(sp->queue_fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (queue_spool_dot(de->d_name))
			continue;
		if (!queue_spool_id_valid(span_cstr(de->d_name))) {
			(*ignored_out)++;
			continue;
		}
		n++;
		if (fn != NULL && fn(de->d_name, arg) < 0)
			break;
	}
	closedir(d);
	return n;
}

ssize_t
queue_spool_read_head(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = pread(fd, p + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}
