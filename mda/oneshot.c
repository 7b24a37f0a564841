/* letterbox-mda's one-shot subcommands: deliver (for other MTAs) and index (a diagnostic listing). */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/addr.h"
#include "common/cfg.h"
#include "common/daemon.h"
#include "common/log.h"
#include "common/xmem.h"
#include "mda/mda.h"

#define MDA_EX_DATAERR 65	/* sysexits.h: the message is too big */
#define ONESHOT_CHUNK (64u * 1024u)

/* SECURITY: as root, become the mail user (as the daemon does) before
 * touching any mailbox; as anyone else, stay (it must be that user). */
static void
oneshot_privs(const struct cfg *cfg)
{
	struct daemon_ctx ctx;
	const char *env = getenv("LB_UNPRIVILEGED");

	memset(&ctx, 0, sizeof(ctx));
	ctx.name = "mda";
	ctx.ctl_fd = -1;
	ctx.unprivileged = env != NULL && strcmp(env, "1") == 0;
	daemon_drop_privs(&ctx, &cfg->mda.d);
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
}

static int
valid_address(const char *a)
{
	struct addr_parts ap;

	return addr_parse(span_cstr(a), &ap, NULL) == 0;
}

/* stdin, line ends made CRLF, into an unlinked file in mail/.tmp/.
 * Returns the fd, or -1 (*ex_out says why). */
static int
read_message(const struct cfg *cfg, const char *tmp_dir, uint64_t max,
    uint64_t *size_out, int *ex_out)
{
	char path[4096];
	uint8_t *in = xmalloc(ONESHOT_CHUNK), *out;
	struct mda_crlf cr = { 0 };
	uint64_t size = 0;
	size_t n;
	ssize_t r;
	int fd, rc = 0;

	out = xmalloc(2 * ONESHOT_CHUNK + 2);
	*ex_out = MDA_EX_TEMPFAIL;
	snprintf(path, sizeof(path), "%s/deliver.XXXXXX", tmp_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
		fprintf(stderr, "letterbox-mda: %s: %s\n", path,
		    strerror(errno));
		goto fail;
	}
	(void)unlink(path);
	for (;;) {
		r = read(0, in, ONESHOT_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "letterbox-mda: reading the message: "
			    "%s\n", strerror(errno));
			goto fail;
		}
		n = r == 0 ? mda_crlf_end(&cr, out) :
		    mda_crlf_feed(&cr, span_make(in, (size_t)r), out);
		size += n;
		if (size > max) {
			fprintf(stderr, "letterbox-mda: message larger than "
			    "%llu bytes\n", (unsigned long long)max);
			*ex_out = MDA_EX_DATAERR;
			goto fail;
		}
		for (size_t off = 0; off < n; ) {
			ssize_t w = write(fd, out + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "letterbox-mda: writing the "
				    "message: %s\n", strerror(errno));
				goto fail;
			}
			off += (size_t)w;
		}
		if (r == 0)
			break;
	}
	*size_out = size;
	rc = fd;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	rc = -1;
out:
	free(in);
	free(out);
	return rc;
}

/* Deliver to every mailbox of res; the exit code. */
static int
deliver_all(struct mda_store *st, const struct mda_rcpt_res *res, int fd,
    uint64_t size, const char *sender, const char *rcpt)
{
	int ex = MDA_EX_OK;
	size_t i;

	for (i = 0; i < res->n; i++) {
		const char *why = NULL;
		uint32_t uid = 0;
		enum mda_status s;

		s = mda_store_deliver(st, &res->t[i], fd, size, sender, rcpt,
		    &uid, &why);
		if (s == MDA_OK) {
			log_info("event=delivered rcpt=<%s> mailbox=%s uid=%u "
			    "size=%llu", rcpt, res->t[i].address, uid,
			    (unsigned long long)size);
			continue;
		}
		fprintf(stderr, "letterbox-mda: %s: %s\n", res->t[i].address,
		    s == MDA_FULL ? "mailbox full" : why);
		ex = MDA_EX_TEMPFAIL;
	}
	return ex;
}

int
mda_cmd_deliver(const struct cfg *cfg, int argc, char **argv)
{
	const char *sender = "", *rcpt;
	char *mail_dir, *tmp_dir, *authd_path;
	struct mda_rcpt_res *res;
	struct mda_store *st;
	uint64_t size = 0;
	int i = 1, fd, ex;

	if (i + 1 < argc && strcmp(argv[i], "-f") == 0) {
		sender = argv[i + 1];
		i += 2;
	}
	if (i + 1 != argc || (sender[0] != '\0' && strcmp(sender, "<>") &&
	    !valid_address(sender)) || !valid_address(argv[i])) {
		fprintf(stderr, "usage: letterbox-mda -c FILE deliver "
		    "[-f SENDER] ADDRESS < message\n");
		return MDA_EX_USAGE;
	}
	if (strcmp(sender, "<>") == 0)
		sender = "";
	rcpt = argv[i];
	oneshot_privs(cfg);
	mail_dir = cfg_state_path(cfg, "mail");
	tmp_dir = xasprintf("%s/.tmp", mail_dir);
	if ((mkdir(mail_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(tmp_dir, 0700) < 0 && errno != EEXIST)) {
		fprintf(stderr, "letterbox-mda: %s: %s\n", tmp_dir,
		    strerror(errno));
		free(mail_dir);
		free(tmp_dir);
		return MDA_EX_TEMPFAIL;
	}
	res = xcalloc(1, sizeof(*res));
	st = mda_store_new(mail_dir, cfg->hostname);
	authd_path = xasprintf("%s/authd.sock", cfg->run_dir);
	fd = read_message(cfg, tmp_dir, cfg->smtpd.max_message_size +
	    64 * 1024, &size, &ex);
	if (fd >= 0) {
		mda_rcpt_check(authd_path, st, rcpt, size, res);
		switch (res->kind) {
		case MDA_RCPT_OK:
			ex = deliver_all(st, res, fd, size, sender, rcpt);
			break;
		case MDA_RCPT_FULL:
			fprintf(stderr, "letterbox-mda: %s: mailbox full\n",
			    rcpt);
			ex = MDA_EX_TEMPFAIL;
			break;
		case MDA_RCPT_TEMP:
			fprintf(stderr, "letterbox-mda: %s: %s\n", rcpt,
			    res->why);
			ex = MDA_EX_TEMPFAIL;
			break;
		default:
			fprintf(stderr, "letterbox-mda: %s: user unknown\n",
			    rcpt);
			ex = MDA_EX_NOUSER;
			break;
		}
		close(fd);
	}
	mda_store_free(&st);
	free(res);
	free(authd_path);
	free(mail_dir);
	free(tmp_dir);
	return ex;
}

int
mda_cmd_index(const struct cfg *cfg, int argc, char **argv)
{
	char norm[USERDB_ADDR_MAX], *mail_dir;
	const char *why = NULL;
	int rc;

	if (argc != 2 || addr_normalize(argv[1], norm, sizeof(norm)) != 0) {
		fprintf(stderr, "usage: letterbox-mda -c FILE index ADDRESS\n");
		return MDA_EX_USAGE;
	}
	oneshot_privs(cfg);
	mail_dir = cfg_state_path(cfg, "mail");
	rc = mda_store_print(mail_dir, norm, &why);
	free(mail_dir);
	if (rc < 0) {
		fprintf(stderr, "letterbox-mda: index %s: %s\n", norm, why);
		return 1;
	}
	return 0;
}
