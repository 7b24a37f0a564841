/* SELECTED: COPY and MOVE, UID forms (RFC 9051 6.4.7, 6.4.8, RFC 6851, COPYUID RFC 4315). */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/maildir.h"
#include "common/mailidx.h"
#include "common/xmem.h"
#include "imapd/imap_seq.h"
#include "imapd/imapd.h"

#define COPY_RANGES_MAX 1024

/* One message copied: its source record and its file in the target. */
struct copy_one {
	struct mailidx_msg src;
	char file[MAILIDX_FILE_MAX + 1];	/* in the target folder */
	uint32_t new_uid;
};

struct copy_ctx {
	struct imap_sess *s;
	const char *dest;
	uint32_t src_id;
	struct copy_one *v;
	size_t n;
	uint32_t uidvalidity;
};

/* The file, hard-linked into the target's tmp/ (or copied if the
 * link fails), then committed to cur/ with its flags. */
static int
copy_file(struct imap_sess *s, const char *src_root, const char *folder,
    struct copy_one *o, const char **why)
{
	char src[PATH_MAX + MAILIDX_FILE_MAX + 2];
	char tmp_path[PATH_MAX + MAILDIR_NAME_MAX + 8];
	struct maildir_tmp t;
	uint8_t buf[65536];
	ssize_t n;
	int in;

	snprintf(src, sizeof(src), "%s/%s", src_root, o->src.file);
	if (maildir_tmp_open(folder, s->d->cfg->hostname, &t, why) != 0)
		return -1;
	snprintf(tmp_path, sizeof(tmp_path), "%s/tmp/%s", t.dir, t.name);
	close(t.fd);
	t.fd = -1;
	if (unlink(tmp_path) == 0 && link(src, tmp_path) == 0) {
		t.fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
	} else {
		/* another file system, or no links: copy the bytes */
		t.fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (t.fd >= 0 && (in = open(src, O_RDONLY | O_CLOEXEC)) >= 0) {
			while ((n = read(in, buf, sizeof(buf))) > 0)
				if (maildir_tmp_write(&t, buf, (size_t)n,
				    why) != 0)
					break;
			close(in);
			if (n != 0) {
				maildir_tmp_abort(&t);
				*why = "cannot copy the message file";
				return -1;
			}
		} else if (t.fd >= 0) {
			maildir_tmp_abort(&t);
			*why = "message file gone";
			return -1;
		}
	}
	if (t.fd < 0) {
		*why = "cannot open the copy";
		return -1;
	}
	return maildir_commit(&t, 1, mailidx_flags_to_maildir(o->src.flags,
	    0), o->file, sizeof(o->file), why);
}

struct files_arg {
	struct imap_sess *s;
	const char *src_root, *folder;
	struct copy_ctx *c;
	size_t done;		/* files copied */
	char why[160];
};

/* On a worker thread: the files and their fsyncs. */
static int
copy_files_run(void *arg)
{
	struct files_arg *a = arg;
	const char *why = NULL;

	for (a->done = 0; a->done < a->c->n; a->done++)
		if (copy_file(a->s, a->src_root, a->folder,
		    &a->c->v[a->done], &why) != 0) {
			/* why may be in this thread's buffer */
			snprintf(a->why, sizeof(a->why), "%s",
			    why != NULL ? why : "?");
			return -1;
		}
	return 0;
}

/* copy_file for each of c's messages, off the loop; how many done. */
static size_t
copy_files(struct imap_sess *s, const char *src_root, const char *folder,
    struct copy_ctx *c, const char **why)
{
	struct files_arg a = { s, src_root, folder, c, 0, "" };

	if (imap_blocking(s, copy_files_run, &a) != 0)
		*why = imap_why_keep(a.why);
	return a.done;
}

static int
copy_index_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct copy_ctx *c = arg;
	struct mailidx_mbox mb;
	struct span blob;
	size_t i;
	int rc = 0;

	if ((rc = mailidx_mbox_get(t, c->dest, &mb)) != 1)
		return rc == 0 ? 1 : -1;
	c->uidvalidity = mb.uidvalidity;
	for (i = 0; i < c->n; i++) {
		struct mailidx_msg m = c->v[i].src;
		char *copy = NULL;

		/* the cache blob goes along (copied: it points into the
		 * transaction's map, which the append may move) */
		if (mailidx_msg_cache(t, c->src_id, m.uid, &blob) == 1) {
			copy = xmalloc(blob.n ? blob.n : 1);
			memcpy(copy, blob.p, blob.n);
			blob = span_make(copy, blob.n);
		} else
			blob = span_make(NULL, 0);
		snprintf(m.file, sizeof(m.file), "%s", c->v[i].file);
		m.uid = 0;
		m.emailid = c->v[i].src.emailid;	/* RFC 8474: kept */
		rc = mailidx_msg_append(t, mb.id, &m, blob, why);
		free(copy);
		if (rc != 0)
			return rc;
		c->v[i].new_uid = m.uid;
	}
	return 0;
}

static int
collect_fn(const struct mailidx_msg *m, void *arg)
{
	struct copy_ctx *c = arg;

	c->v[c->n++].src = *m;
	return 0;
}

static int
move_expunge_fn(struct mailidx_txn *t, void *arg, const char **why)
{
	struct copy_ctx *c = arg;
	size_t i;
	int rc = 0;

	for (i = 0; i < c->n; i++) {
		struct mailidx_msg m;

		if ((rc = mailidx_msg_get(t, c->src_id, c->v[i].src.uid,
		    &m)) < 0)
			return -1;
		if (rc == 1 && (rc = mailidx_msg_expunge(t, c->src_id,
		    c->v[i].src.uid, why)) != 0)
			return rc;
	}
	return 0;
}

static void
uid_set(struct buf *b, const struct copy_one *v, size_t n, int dst)
{
	size_t i, j;

	for (i = 0; i < n; i = j + 1) {
		uint32_t a = dst ? v[i].new_uid : v[i].src.uid;

		for (j = i; j + 1 < n && (dst ? v[j + 1].new_uid :
		    v[j + 1].src.uid) == (dst ? v[j].new_uid :
		    v[j].src.uid) + 1; j++)
			;
		(void)!buf_addf(b, "%s%u", i ? "," : "", a);
		if (j > i)
			(void)!buf_addf(b, ":%u", dst ? v[j].new_uid :
			    v[j].src.uid);
	}
}

static void
copy_common(struct imap_sess *s, struct imap_args args, int uid, int move)
{
	const char *verb = move ? "MOVE" : "COPY";
	struct imap_seq_range r[COPY_RANGES_MAX];
	char dest[MAILIDX_NAME_MAX], folder[PATH_MAX], src_root[PATH_MAX];
	struct copy_ctx c = { s, dest, 0, NULL, 0, 0 };
	const struct imap_arg *a = imap_args_at(args, 0);
	struct imap_seq set;
	struct imap_seq_iter it;
	struct mailidx_txn *t;
	const char *why = NULL;
	struct buf b;
	uint32_t v, msn;
	size_t i;
	int rc = 0;

	if (imap_args_count(args) != 2 || a->type != IMAP_ARG_ATOM) {
		imap_bad(s, "%s takes a sequence set and a mailbox", verb);
		return;
	}
	imap_seq_init(&set, r, COPY_RANGES_MAX);
	if (imap_sel_seq(s, &set, a->s, uid, &why) != 0) {
		imap_bad(s, "Bad sequence set: %s", why);
		return;
	}
	if (imap_mbox_name(s, imap_args_next(args, a), dest,
	    sizeof(dest)) != 0)
		return;
	if (!uid && imap_seq_max(&set) > s->sel->n) {
		imap_bad(s, "Message sequence number out of range");
		return;
	}
	if (move && s->sel->readonly) {
		imap_no(s, "[READ-ONLY] Mailbox was opened with EXAMINE");
		return;
	}
	if (imap_sel_dir(s, dest, folder, sizeof(folder)) != 0 ||
	    imap_sel_dir(s, s->sel->name, src_root, sizeof(src_root)) != 0 ||
	    access(folder, F_OK) != 0) {
		imap_no(s, "[TRYCREATE] No such mailbox");
		return;
	}
	c.src_id = s->sel->mbox_id;
	c.v = xcalloc(s->sel->n ? s->sel->n : 1, sizeof(*c.v));
	if (mailidx_txn_begin(s->u->idx, 0, &t, &why) != 0) {
		free(c.v);
		imap_no(s, "[SERVERBUG] Cannot read the index");
		return;
	}
	for (imap_seq_iter_init(&it); imap_seq_iter_next(&set, &it, &v);) {
		struct mailidx_msg m;

		if (uid) {
			if ((msn = imap_sel_msn(s->sel, v)) == 0)
				continue;
		} else
			msn = v;
		if (mailidx_msg_get(t, c.src_id, s->sel->uids[msn - 1],
		    &m) == 1)
			(void)collect_fn(&m, &c);
	}
	mailidx_txn_abort(&t);
	i = copy_files(s, src_root, folder, &c, &why);
	if (i < c.n || (rc = imap_idx_write(s, copy_index_fn, &c,
	    &why)) != 0) {
		size_t k;

		for (k = 0; k < i; k++) {
			char p[PATH_MAX + MAILIDX_FILE_MAX + 2];

			snprintf(p, sizeof(p), "%s/%s", folder, c.v[k].file);
			(void)unlink(p);
		}
		log_warn("conn=%s event=copy-failed reason=\"%s\"", s->id,
		    why ? why : "?");
		free(c.v);
		imap_no(s, i == c.n && rc == 1 ? "[TRYCREATE] No such mailbox" :
		    "[SERVERBUG] Cannot copy the messages");
		return;
	}
	buf_init(&b, 256, (size_t)16 << 20);
	if (c.n > 0) {
		(void)!buf_addf(&b, "[COPYUID %u ", c.uidvalidity);
		uid_set(&b, c.v, c.n, 0);
		(void)!buf_addstr(&b, " ");
		uid_set(&b, c.v, c.n, 1);
		(void)!buf_addstr(&b, "] ");
	}
	if (move && c.n > 0) {
		/* RFC 6851 4.3: COPYUID untagged, then the expunges */
		imap_send(s, "* OK ", 5);
		imap_send(s, b.data, b.len);
		imap_send(s, "Moved\r\n", 7);
		buf_reset(&b);
		if (imap_idx_write(s, move_expunge_fn, &c, &why) != 0)
			log_warn("conn=%s event=move-expunge-failed reason="
			    "\"%s\"", s->id, why ? why : "?");
		else
			for (i = 0; i < c.n; i++) {
				char p[PATH_MAX + MAILIDX_FILE_MAX + 2];

				snprintf(p, sizeof(p), "%s/%s", src_root,
				    c.v[i].src.file);
				if (unlink(p) != 0 && errno != ENOENT)
					log_warn_errno("event=unlink-failed "
					    "file=%s", p);
			}
		imap_sel_update(s, 1);
	}
	/* the tagged line by hand: a long COPYUID passes imap_reply's
	 * text limit */
	imap_printf(s, "%s OK ", s->tag);
	imap_send(s, b.data, b.len);
	imap_printf(s, "%s%s completed\r\n", uid ? "UID " : "", verb);
	buf_fini(&b);
	free(c.v);
}

void
imap_cmd_copy(struct imap_sess *s, struct imap_args args, int uid)
{
	copy_common(s, args, uid, 0);
}

void
imap_cmd_move(struct imap_sess *s, struct imap_args args, int uid)
{
	copy_common(s, args, uid, 1);
}

static int
all_fn(const struct mailidx_msg *m, void *arg)
{
	struct copy_ctx *c = arg;

	if (c->n % 256 == 0)
		c->v = xreallocarray(c->v, c->n + 256, sizeof(*c->v));
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	c->v[c->n++].src = *m;
	return 0;
}

/*
 * RENAME INBOX (RFC 9051 6.3.6): every message of INBOX moves to the
 * new mailbox to (already created, empty), INBOX stays, empty.  Files
 * are hard-linked into the new folder and indexed there first; only
 * then are they expunged from INBOX and unlinked, so a failure midway
 * loses nothing (it may leave copies in both).  0 or -1 with *why.
 */
int
imap_move_inbox(struct imap_sess *s, uint32_t inbox_id, const char *to,
    const char **why)
{
	char folder[PATH_MAX], p[PATH_MAX + MAILIDX_FILE_MAX + 2];
	struct copy_ctx c = { s, to, inbox_id, NULL, 0, 0 };
	struct mailidx_txn *t;
	size_t i = 0;
	int rc = 0;

	if (imap_sel_dir(s, to, folder, sizeof(folder)) != 0) {
		*why = "bad mailbox name";
		return -1;
	}
	if (mailidx_txn_begin(s->u->idx, 0, &t, why) != 0)
		return -1;
	if (mailidx_msg_range(t, inbox_id, 1, UINT32_MAX, all_fn, &c) < 0)
		rc = -1;
	mailidx_txn_abort(&t);
	if (rc == 0 && (i = copy_files(s, s->u->root, folder, &c, why)) <
	    c.n)
		rc = -1;
	if (rc == 0 && c.n > 0 && imap_idx_write(s, copy_index_fn, &c,
	    why) != 0)
		rc = -1;
	if (rc != 0) {
		while (i-- > 0) {
			snprintf(p, sizeof(p), "%s/%s", folder, c.v[i].file);
			(void)unlink(p);
		}
		free(c.v);
		return -1;
	}
	if (c.n > 0 && imap_idx_write(s, move_expunge_fn, &c,
	    why) == 0)
		for (i = 0; i < c.n; i++) {
			snprintf(p, sizeof(p), "%s/%s", s->u->root,
			    c.v[i].src.file);
			if (unlink(p) != 0 && errno != ENOENT)
				log_warn_errno("event=unlink-failed file=%s",
				    p);
		}
	free(c.v);
	return 0;
}
