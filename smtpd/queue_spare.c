/* Spool files made ahead of need on a thread of their own, so that the queue's loop never waits for an inode. */
/* SPDX-License-Identifier: ISC */
#include "smtpd/queue_spare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmem.h"

struct spare_file {
	char id[QUEUE_ID_LEN + 1];
	int fd, wfd;
};

struct queue_spare {
	const struct queue_spool *sp;
	int dir_fd;			/* spool/spare/ */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* a file was taken, or stop */
	struct spare_file *ring;	/* depth entries, FIFO */
	unsigned depth, head, n;
	int stop;
};

static void *
queue_spare_main(void *arg)
{
	struct queue_spare *s = arg;
	struct spare_file f;
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->n >= s->depth && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		if (queue_spool_create_in(s->dir_fd, f.id, &f.fd, &f.wfd) < 0) {
			/* the loop creates its own meanwhile and says why */
			nanosleep(&pause, NULL);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		s->ring[(s->head + s->n) % s->depth] = f;
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* What a crash left in spare/: never handed out, so nothing. */
static void
queue_spare_sweep(int dir_fd)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (queue_spool_id_valid(span_cstr(de->d_name)))
			(void)unlinkat(dir_fd, de->d_name, 0);
	closedir(d);
}

struct queue_spare *
queue_spare_new(const struct queue_spool *sp, unsigned depth)
{
	struct queue_spare *s;
	const char *why = NULL;
	int rc, dir_fd;

	if (queue_spool_subdir(sp->spool_fd, "spare", &dir_fd, &why) < 0) {
		log_warn_errno("event=no-spares dir=spare reason=\"%s\"", why);
		return NULL;
	}
	queue_spare_sweep(dir_fd);
	s = xcalloc(1, sizeof(*s));
	s->dir_fd = dir_fd;
	s->sp = sp;
	s->depth = depth ? depth : 1;
	s->ring = xcalloc(s->depth, sizeof(*s->ring));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((rc = pthread_create(&s->thread, NULL, queue_spare_main, s)) != 0)
		fatal("queued: cannot start the spool file thread: %s",
		    strerror(rc));
	return s;
}

int
queue_spare_take(struct queue_spare *s, char id_out[QUEUE_ID_LEN + 1],
    int *fd_out, int *wfd_out)
{
	struct spare_file f;

	if (s == NULL)
		return -1;
	pthread_mutex_lock(&s->mu);
	if (s->n == 0) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	f = s->ring[s->head];
	s->head = (s->head + 1) % s->depth;
	s->n--;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	/* into tmp/, where a reception's file lives; a rename allocates
	 * nothing.  The name is ours (0700 directories) and the
	 * descriptors follow the inode. */
	if (renameat(s->dir_fd, f.id, s->sp->tmp_fd, f.id) < 0) {
		log_warn_errno("id=%s event=spare-rename-failed", f.id);
		close(f.fd);
		close(f.wfd);
		(void)unlinkat(s->dir_fd, f.id, 0);
		return -1;
	}
	memcpy(id_out, f.id, sizeof(f.id));
	*fd_out = f.fd;
	*wfd_out = f.wfd;
	return 0;
}

void
queue_spare_free(struct queue_spare **sp)
{
	struct queue_spare *s = *sp;
	struct spare_file *f;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	for (; s->n > 0; s->n--, s->head = (s->head + 1) % s->depth) {
		f = &s->ring[s->head];
		close(f->fd);
		close(f->wfd);
		if (unlinkat(s->dir_fd, f->id, 0) < 0 && errno != ENOENT)
			log_warn_errno("id=%s event=unlink-failed", f->id);
	}
	close(s->dir_fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->ring);
	free(s);
	*sp = NULL;
}
