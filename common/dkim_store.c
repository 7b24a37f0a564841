/* The DKIM key files under STATE_DIR/dkim/DOMAIN/: reading keys and listing selectors. */
/* SPDX-License-Identifier: ISC */
#include "common/dkim_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/buf.h"
#include "common/xmem.h"

const struct dkim_store_kind dkim_store_kinds[DKIM_STORE_NKINDS] = {
	{ ".ed25519.key", "-ed", DKIM_ED25519_SHA256 },
	{ ".rsa.key", "-rsa", DKIM_RSA_SHA256 },
};

int
dkim_store_load(const char *path, struct dkim_key **key_out, char *why,
    size_t whysz)
{
	struct buf pem;
	struct stat st;
	const char *kwhy = NULL;
	ssize_t n;
	int fd, rc = -1, e;

	*key_out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		e = errno;
		snprintf(why, whysz, "cannot read %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whysz, "%s: not a regular file", path);
		errno = EPERM;
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		snprintf(why, whysz, "%s: readable by group or others; chmod "
		    "600 it (and make a new key if it may have leaked)", path);
		errno = EPERM;
		return -1;
	}
	buf_init(&pem, 4096, DKIM_STORE_KEY_MAX);
	for (;;) {
		uint8_t *t = buf_reserve(&pem, 4096);

		if (t == NULL) {
			snprintf(why, whysz, "%s: too big for a key", path);
			goto out;
		}
		if ((n = read(fd, t, 4096)) < 0) {
			snprintf(why, whysz, "cannot read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		buf_commit(&pem, (size_t)n);
	}
	if (dkim_key_load_pem(buf_view(&pem), key_out, &kwhy) < 0)
		snprintf(why, whysz, "%s: %s", path, kwhy);
	else
		rc = 0;
out:
	close(fd);
	sodium_memzero(pem.data, pem.len);
	buf_fini(&pem);
	errno = EINVAL;
	return rc;
}

static int
dkim_store_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
dkim_store_selectors(const char *dir, char ***sel_out, int *newest_out,
    char *why, size_t whysz)
{
	struct dirent *de;
	char **sel = NULL, *best = NULL;
	size_t n = 0, i, k, len, sl = 0;
	struct timespec best_t = { 0, 0 };
	struct stat st;
	DIR *d;

	*sel_out = NULL;
	if (newest_out != NULL)
		*newest_out = -1;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, whysz, "cannot read %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		for (k = 0; k < DKIM_STORE_NKINDS; k++) {
			sl = strlen(dkim_store_kinds[k].file);
			if (len > sl && strcmp(de->d_name + len - sl,
			    dkim_store_kinds[k].file) == 0)
				break;
		}
		if (k == DKIM_STORE_NKINDS)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		de->d_name[len - sl] = '\0';
		for (i = 0; i < n && strcmp(sel[i], de->d_name) != 0; i++)
			;
		if (i == n) {
			sel = xreallocarray(sel, n + 1, sizeof(*sel));
			sel[n++] = xstrdup(de->d_name);
		}
		if (best == NULL || st.st_mtim.tv_sec > best_t.tv_sec ||
		    (st.st_mtim.tv_sec == best_t.tv_sec &&
		    (st.st_mtim.tv_nsec > best_t.tv_nsec ||
		    (st.st_mtim.tv_nsec == best_t.tv_nsec &&
		    strcmp(sel[i], best) > 0)))) {
			best = sel[i];
			best_t = st.st_mtim;
		}
	}
	closedir(d);
	if (n > 0) {
		char *keep = best;

		qsort(sel, n, sizeof(*sel), dkim_store_strcmp);
		for (i = 0; newest_out != NULL && i < n; i++)
			if (sel[i] == keep)
				*newest_out = (int)i;
	}
	*sel_out = sel;
	return (int)n;
}

void
dkim_store_selectors_free(char **sel, int n)
{
	for (int i = 0; i < n; i++)
		free(sel[i]);
	free(sel);
}
