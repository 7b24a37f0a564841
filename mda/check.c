/* Recipient checks for the MDA: authd's RESOLVE and USERINFO (blocking, per thread), then the quota. */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/log.h"
#include "mda/mda.h"

/* How long one question to authd may take. */
#define MDA_AUTHD_TIMEOUT_MS 15000

/* Each worker thread (and the one-shot) keeps its own connection. */
static _Thread_local int mda_authd_fd = -1;
static _Thread_local uint64_t mda_authd_reqid;

static void
authd_drop(void)
{
	if (mda_authd_fd >= 0)
		close(mda_authd_fd);
	mda_authd_fd = -1;
}

/* One request, one reply; a broken or stale connection is made again
 * once (authd may have been restarted since the last question). */
static int
authd_ask(const char *path, uint32_t type, const char *addr,
    struct ipc_hdr *hdr, struct buf *reply)
{
	struct ipc_msg m;
	int attempt, rc = -1;

	for (attempt = 0; attempt < 2 && rc < 0; attempt++) {
		if (mda_authd_fd < 0 &&
		    (mda_authd_fd = ipc_connect_unix(path)) < 0)
			return -1;
		ipc_msg_init(&m, type, ++mda_authd_reqid);
		if (ipc_put_cstr(&m, addr) == 0 && ipc_msg_finish(&m) == 0)
			rc = ipc_call(mda_authd_fd, &m, MDA_AUTHD_TIMEOUT_MS,
			    hdr, reply);
		ipc_msg_fini(&m);
		if (rc < 0)
			authd_drop();
		if (rc < 0 && errno == ETIMEDOUT)
			break;
	}
	return rc;
}

/* RESOLVED: kind, then the mailbox targets (forwards counted only). */
static int
parse_resolved(struct span payload, struct mda_rcpt_res *out)
{
	struct ipc_reader r;
	uint32_t kind, n, flags, i;
	struct span a;

	ipc_reader_init(&r, payload);
	if (ipc_get_u32(&r, &kind) || ipc_get_u32(&r, &n))
		return -1;
	out->kind = kind == IPC_RESOLVE_LOCAL ? MDA_RCPT_OK :
	    kind == IPC_RESOLVE_REMOTE ? MDA_RCPT_REMOTE : MDA_RCPT_UNKNOWN;
	for (i = 0; i < n; i++) {
		if (ipc_get_u32(&r, &flags) ||
		    ipc_get_str(&r, &a, USERDB_ADDR_MAX - 1))
			return -1;
		if (!(flags & IPC_TARGET_MAILBOX)) {
			out->n_forwards++;
			continue;
		}
		if (out->n == USERDB_MAX_TARGETS || memchr(a.p, 0, a.n))
			return -1;
		memcpy(out->t[out->n].address, a.p, a.n);
		out->t[out->n].address[a.n] = '\0';
		out->n++;
	}
	return ipc_get_end(&r);
}

/* USER: found, address, quota bytes, quota messages. */
static int
parse_user(struct span payload, struct mda_target *t, int *found)
{
	struct ipc_reader r;
	uint32_t f;
	struct span a;

	ipc_reader_init(&r, payload);
	if (ipc_get_u32(&r, &f) || ipc_get_str(&r, &a, USERDB_ADDR_MAX) ||
	    ipc_get_u64(&r, &t->quota_bytes) ||
	    ipc_get_u64(&r, &t->quota_messages) || ipc_get_end(&r))
		return -1;
	*found = f == 1;
	return 0;
}

static void
temp(struct mda_rcpt_res *out, const char *why)
{
	out->kind = MDA_RCPT_TEMP;
	out->why = why;
}

void
mda_rcpt_check(const char *authd_path, struct mda_store *st,
    const char *addr, uint64_t size, struct mda_rcpt_res *out)
{
	struct ipc_hdr h;
	struct buf reply;
	const char *why = NULL;
	size_t i, k;
	int found, full;

	memset(out, 0, sizeof(*out));
	buf_init(&reply, 1024, IPC_MAX_PAYLOAD);
	if (authd_ask(authd_path, IPC_AUTH_RESOLVE, addr, &h, &reply) < 0) {
		temp(out, "authd unreachable");
		goto done;
	}
	if (h.type != IPC_AUTH_RESOLVED ||
	    parse_resolved(buf_view(&reply), out) < 0) {
		temp(out, h.type == IPC_AUTH_TEMPFAIL ?
		    "user database unavailable" : "bad answer from authd");
		goto done;
	}
	if (out->kind != MDA_RCPT_OK)
		goto done;
	/* Each mailbox's quota; a target that is no user (any more) is
	 * dropped, as the user database would no longer resolve to it. */
	for (i = 0, k = 0; i < out->n; i++) {
		struct mda_target *t = &out->t[k];

		if (i != k)
			*t = out->t[i];
		if (authd_ask(authd_path, IPC_AUTH_USERINFO, t->address, &h,
		    &reply) < 0 || h.type != IPC_AUTH_USER ||
		    parse_user(buf_view(&reply), t, &found) < 0) {
			temp(out, "authd unreachable");
			goto done;
		}
		if (found)
			k++;
	}
	out->n = k;
	if (out->n == 0 && out->n_forwards == 0) {
		out->kind = MDA_RCPT_UNKNOWN;
		goto done;
	}
	for (i = 0; i < out->n; i++) {
		if ((full = mda_store_full(st, &out->t[i], size, &why)) < 0) {
			log_err("event=usage-failed address=%s reason=\"%s\"",
			    out->t[i].address, why);
			temp(out, "mailbox unavailable");
			goto done;
		}
		if (full) {
			out->kind = MDA_RCPT_FULL;
			break;
		}
	}
done:
	buf_fini(&reply);
}
