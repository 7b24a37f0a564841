/* The mail index against the Maildir: folder names, reconcile, and a new index's population. */
/* SPDX-License-Identifier: ISC */
#include "common/mailidx.h"
#include "common/mailidx_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/xmem.h"

/* ---- folder names ---- */

int
mailidx_folder_dir(const char *name, char *out, size_t outsz)
{
	size_t n = 0;
	const char *p;

	if (strcmp(name, "INBOX") == 0) {
		if (outsz < 1)
			return -1;
		out[0] = '\0';
		return 0;
	}
	if (name[0] == '\0' || name[0] == '/')
		return -1;
	if (n + 1 >= outsz)
		return -1;
	out[n++] = '.';
	for (p = name; *p != '\0'; p++) {
		const char *e = *p == '.' ? "%2E" : *p == '%' ? "%25" : NULL;
		size_t el = e != NULL ? 3 : 1;

		if (*p == '/' && (p[1] == '/' || p[1] == '\0'))
			return -1;	/* empty part */
		if (n + el >= outsz)
			return -1;
		if (e != NULL)
			memcpy(out + n, e, 3);
		else
			out[n] = *p == '/' ? '.' : *p;
		n += el;
	}
	out[n] = '\0';
	return 0;
}

int
mailidx_folder_name(const char *dir, char *out, size_t outsz)
{
	size_t n = 0;
	const char *p;

	if (dir[0] != '.' || dir[1] == '\0' || dir[1] == '.' ||
	    strcmp(dir, ".INBOX") == 0)	/* INBOX is the root, never this */
		return -1;
	for (p = dir + 1; *p != '\0'; p++) {
		char c = *p;

		if (c == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return -1;
			c = '/';
		} else if (c == '%') {
			if (strncasecmp(p + 1, "2E", 2) == 0)
				c = '.';
			else if (strncmp(p + 1, "25", 2) == 0)
				c = '%';
			else
				return -1;
			p += 2;
		} else if (c == '/')
			return -1;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* ---- reconcile ---- */

/* A message file found on disk. */
struct rec_file {
	char file[MAILIDX_FILE_MAX + 1];	/* "new/..." or "cur/..." */
	size_t base_n;				/* file + 4: the base */
	uint64_t letters;
	int known;				/* the index has it */
};

struct rec_list {
	struct rec_file *v;
	size_t n;
};

static int
rec_cmp(const void *a, const void *b)
{
	const struct rec_file *x = a, *y = b;
	size_t n = x->base_n < y->base_n ? x->base_n : y->base_n;
	int c = memcmp(x->file + 4, y->file + 4, n);

	return c != 0 ? c : x->base_n < y->base_n ? -1 : x->base_n > y->base_n;
}

/* Read dir/sub into l: message names only, flags parsed. */
static int
rec_scan(const char *dir, const char *sub, struct rec_list *l,
    const char **why)
{
	char path[PATH_MAX + 8];
	struct maildir_name mn;
	struct dirent *de;
	char esc[128];
	DIR *d;

	/* SECURITY: names come from whoever can write the Maildir; only
	 * plain names (no '/', no leading '.') are ever used in a path, and
	 * rec_new indexes regular files only, never symlinks. */
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return mailidx_fail(why, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct rec_file *f;
		size_t nl = strlen(de->d_name);

		if (nl + 4 > MAILIDX_FILE_MAX ||
		    maildir_name_parse(span_make(de->d_name, nl), &mn) < 0) {
			if (de->d_name[0] != '.')
				log_debug("event=maildir_skip dir=%s file=\"%s\"",
				    sub, log_escape(span_make(de->d_name, nl),
				    esc, sizeof(esc)));
			continue;
		}
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		f = &l->v[l->n++];
		memset(f, 0, sizeof(*f));
		snprintf(f->file, sizeof(f->file), "%s/%s", sub, de->d_name);
		f->base_n = mn.base.n;
		if (mn.has_info && maildir_flags_parse(mn.info, &f->letters)
		    < 0)
			log_debug("event=maildir_bad_flags file=\"%s\"",
			    log_escape(span_cstr(f->file), esc, sizeof(esc)));
	}
	closedir(d);
	return 0;
}

static int64_t
mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* An mtime to remember: 0 (look again next time) if it is so recent
 * that another change in the same clock tick would not move it. */
static int64_t
mtime_keep(int64_t ns)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - ns < 1000000000)
		return 0;
	return ns;
}

/* A file the index knows: take a new name and the flags it carries. */
static int
rec_known(struct mailidx_txn *t, uint32_t id, uint32_t uid,
    const struct rec_file *f, int *changed, const char **why)
{
	struct mailidx_msg m;
	uint32_t fl;
	int r;

	if (mailidx_msg_get(t, id, uid, &m) <= 0)
		return mailidx_fail(why, "mail index: file map names a "
		    "missing message");
	if (strcmp(m.file, f->file) == 0)
		return 0;
	*changed = 1;
	if ((r = mailidx_msg_set_file(t, id, uid, f->file, why)) < 0)
		return r;
	fl = mailidx_flags_from_maildir(f->letters);
	if (fl == m.flags)
		return 0;
	return mailidx_msg_store(t, id, uid, '=', fl, m.keywords, 0, NULL,
	    NULL, why);
}

/* A file the index does not know: append it. */
static int
rec_new(struct mailidx_txn *t, const char *dir, uint32_t id,
    const struct rec_file *f, int *changed, const char **why)
{
	char path[PATH_MAX + MAILIDX_FILE_MAX + 2];
	struct mailidx_msg m;
	struct maildir_name mn;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, f->file);
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;	/* gone meanwhile, or not a plain file */
	memset(&m, 0, sizeof(m));
	strcpy(m.file, f->file);
	m.flags = mailidx_flags_from_maildir(f->letters);
	m.size = (uint64_t)st.st_size;
	if (maildir_name_parse(span_cstr(f->file + 4), &mn) == 0) {
		if (mn.has_vsize)
			m.size = mn.vsize;
		else if (mn.has_size)
			m.size = mn.size;
	}
	m.internaldate = (int64_t)st.st_mtim.tv_sec;
	*changed = 1;
	return mailidx_msg_append(t, id, &m, span_make(NULL, 0), why);
}

/* Walk the index's file map of mailbox id against the sorted list l:
 * collect the uids whose files are gone, match the others. */
static int
rec_walk(struct mailidx_txn *t, uint32_t id, struct rec_list *l,
    uint32_t **gone_out, size_t *ngone_out, uint32_t **uids_out)
{
	uint8_t key[4];
	MDB_val k = { 4, key }, v;
	MDB_cursor *c;
	uint32_t *gone = NULL, *uids = xcalloc(l->n + 1, sizeof(*uids));
	size_t ng = 0;
	int rc;

	mailidx_be32(key, id);
	if ((rc = mdb_cursor_open(t->txn, t->idx->files, &c)) != 0) {
		free(uids);
		return rc;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct rec_file probe, *f;

		if (k.mv_size < 4 || mailidx_get_be32(k.mv_data) != id)
			break;
		if (v.mv_size != 4)
			continue;
		if (k.mv_size - 4 > sizeof(probe.file) - 4)
			continue;
		probe.base_n = k.mv_size - 4;
		memcpy(probe.file + 4, (const uint8_t *)k.mv_data + 4,
		    probe.base_n);
		f = l->n == 0 ? NULL : bsearch(&probe, l->v, l->n,
		    sizeof(*l->v), rec_cmp);
		if (f == NULL) {
			gone = xreallocarray(gone, ng + 1, sizeof(*gone));
			gone[ng++] = mailidx_get_be32(v.mv_data);
		} else {
			f->known = 1;
			uids[f - l->v] = mailidx_get_be32(v.mv_data);
		}
	}
	mdb_cursor_close(c);
	*gone_out = gone;
	*ngone_out = ng;
	*uids_out = uids;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Sort and drop second files with one base name (keep the first). */
static void
rec_dedupe(struct rec_list *l)
{
	size_t o = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), rec_cmp);
	for (size_t i = 1; i < l->n; i++)
		if (rec_cmp(&l->v[o], &l->v[i]) != 0)
			l->v[++o] = l->v[i];
	l->n = o + 1;
}

static int
rec_apply(struct mailidx_txn *t, const char *dir, uint32_t id,
    struct rec_list *l, int *changed, const char **why)
{
	uint32_t *gone, *uids;
	size_t ng;
	int r = 0, rc;

	if ((rc = rec_walk(t, id, l, &gone, &ng, &uids)) != 0)
		return mailidx_lmdb(t, rc, "reconcile", why);
	for (size_t i = 0; i < ng && r == 0; i++) {
		*changed = 1;
		r = mailidx_msg_expunge(t, id, gone[i], why);
	}
	/* names sort in delivery order, so new UIDs follow it too */
	for (size_t i = 0; i < l->n && r == 0; i++)
		r = l->v[i].known ? rec_known(t, id, uids[i], &l->v[i], changed,
		    why) : rec_new(t, dir, id, &l->v[i], changed, why);
	free(gone);
	free(uids);
	return r;
}

int
mailidx_reconcile(struct mailidx_txn *t, const char *root, uint32_t mbox_id,
    int force, int *changed_out, const char **why)
{
	struct mailidx_mbox mb;
	struct rec_list l = { NULL, 0 };
	struct stat sn, sc;
	char folder[MAILIDX_NAME_MAX * 3 + 2], dir[PATH_MAX], p[PATH_MAX + 8];
	int r, changed = 0;

	*changed_out = 0;
	if (mailidx_writable(t, why) < 0)
		return -1;
	if ((r = mailidx_mbox_get_id(t, mbox_id, &mb)) <= 0)
		return mailidx_fail(why, "no such mailbox");
	if (mailidx_folder_dir(mb.name, folder, sizeof(folder)) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s%s%s", root,
	    folder[0] ? "/" : "", folder) >= sizeof(dir))
		return mailidx_fail(why, "mailbox path too long");
	/* stat before reading: a change during the scan moves the mtime
	 * past what we remember */
	snprintf(p, sizeof(p), "%s/new", dir);
	if (stat(p, &sn) < 0)
		return mailidx_fail(why, "%s: %s", p, strerror(errno));
	snprintf(p, sizeof(p), "%s/cur", dir);
	if (stat(p, &sc) < 0)
		return mailidx_fail(why, "%s: %s", p, strerror(errno));
	if (!force && mb.new_mtime_ns != 0 && mb.cur_mtime_ns != 0 &&
	    mb.new_mtime_ns == mtime_ns(&sn) && mb.cur_mtime_ns ==
	    mtime_ns(&sc))
		return 0;
	if (rec_scan(dir, "new", &l, why) < 0 ||
	    rec_scan(dir, "cur", &l, why) < 0) {
		free(l.v);
		return -1;
	}
	rec_dedupe(&l);
	r = rec_apply(t, dir, mbox_id, &l, &changed, why);
	free(l.v);
	if (r < 0)
		return r;
	if (mailidx_mbox_get_id(t, mbox_id, &mb) <= 0)
		return mailidx_fail(why, "mail index: mailbox vanished");
	mb.new_mtime_ns = mtime_keep(mtime_ns(&sn));
	mb.cur_mtime_ns = mtime_keep(mtime_ns(&sc));
	/* nothing found and nothing worth remembering (a recent mtime is
	 * looked at again anyway): no write, so no commit to sync.  Our
	 * own renames and links bring us here after every STORE. */
	if (!changed && (mb.new_mtime_ns == 0 || mb.cur_mtime_ns == 0))
		return 0;
	if ((r = mailidx_mbox_put(t, &mb, why)) < 0)
		return r;
	*changed_out = changed;
	return 0;
}

/* ---- a new index ---- */

static const struct {
	const char *name;
	uint32_t su;
} mailidx_defaults[] = {
	{ "INBOX", 0 },
	{ "Sent", MAILIDX_SU_SENT },
	{ "Drafts", MAILIDX_SU_DRAFTS },
	{ "Trash", MAILIDX_SU_TRASH },
	{ "Junk", MAILIDX_SU_JUNK },
	{ "Archive", MAILIDX_SU_ARCHIVE },
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The mailbox names of the root's folder directories, sorted. */
static size_t
folders_found(const char *root, char ***names_out)
{
	char name[MAILIDX_NAME_MAX], p[PATH_MAX + 300];
	char **names = NULL;
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;

	*names_out = NULL;
	if ((d = opendir(root)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' ||
		    mailidx_folder_name(de->d_name, name, sizeof(name)) < 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s/cur", root, de->d_name);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	*names_out = names;
	return n;
}

static int
populate_one(struct mailidx_txn *t, const char *name, uint32_t su,
    int *found, const char **why)
{
	struct mailidx_mbox m;
	char folder[MAILIDX_NAME_MAX * 3 + 2];
	int r, changed = 0;

	if (mailidx_mbox_get(t, name, &m) == 1)
		return 0;
	if (mailidx_folder_dir(name, folder, sizeof(folder)) < 0 ||
	    maildir_make(t->idx->dir, folder, why) < 0)
		return -1;
	if ((r = mailidx_mbox_create(t, name, su, &m, why)) < 0 ||
	    (r = mailidx_mbox_subscribe(t, name, 1, why)) < 0)
		return r;
	r = mailidx_reconcile(t, t->idx->dir, m.id, 1, &changed, why);
	*found |= changed;
	return r;
}

int
mailidx_populate(struct mailidx_txn *t, void *arg, const char **why)
{
	char **names;
	size_t n;
	int r = 0, found = 0;

	(void)arg;
	if ((r = mailidx_meta_version(t, 0, why)) != 0)
		return r < 0 ? -1 : 0;	/* populated meanwhile */
	for (size_t i = 0; i < sizeof(mailidx_defaults) /
	    sizeof(mailidx_defaults[0]) && r == 0; i++)
		r = populate_one(t, mailidx_defaults[i].name,
		    mailidx_defaults[i].su, &found, why);
	n = folders_found(t->idx->dir, &names);
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = populate_one(t, names[i], 0, &found, why);
		free(names[i]);
	}
	free(names);
	if (r == 0)
		r = mailidx_meta_version(t, 1, why);
	/* rebuilt: the Maildir already held messages (a first start
	 * finds it empty) */
	t->idx->rebuilt = r == 0 && found;
	return r;
}
