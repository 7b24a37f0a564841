/* letterbox dkim keygen|list|show|sign: DKIM signing keys and their DNS records. */
/* SPDX-License-Identifier: ISC */
#include "cli/cmd_dkim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/dkim.h"
#include "common/dkim_store.h"
#include "common/xmem.h"

#define CMD_DKIM_TXT_CHUNK 255		/* RFC 1035 3.3.14 character-string */

#define cmd_dkim_kinds dkim_store_kinds
#define CMD_DKIM_NKINDS DKIM_STORE_NKINDS

/* DOMAIN as stored: lowercased, and usable as d=.  Prints the error. */
static int
cmd_dkim_domain(const char *in, char out[ADDR_DOMAIN_MAX + 1])
{
	if (addr_domain_normalize(in, out, ADDR_DOMAIN_MAX + 1) != 0 ||
	    !dkim_name_valid(out))
		return cli_fail("invalid domain \"%s\"", in);
	return 0;
}

/* A selector is one or more DNS labels; ours get "-ed"/"-rsa" added. */
static int
cmd_dkim_selector_ok(const char *s)
{
	return strlen(s) <= 63 - 4 && dkim_name_valid(s);
}

/* The default selector: "lb" and the year and month, UTC ("lb202612"). */
static void
cmd_dkim_default_selector(char out[16])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	if (strftime(out, 16, "lb%Y%m", &tm) == 0)
		strcpy(out, "lb");
}

/*
 * SECURITY: as root the keys belong to the queue user, the one process
 * that signs; nobody else may read them (DESIGN.md, Data).  Not root:
 * they stay ours.  Returns 1 and the ids when a chown is due.
 */
static int
cmd_dkim_owner(const struct cfg *cfg, uid_t *uid, gid_t *gid)
{
	const char *user = cfg->queued.d.user ? cfg->queued.d.user :
	    "lb-queue";
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		cli_err("warning: no user %s: the keys stay owned by root",
		    user);
		return 0;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 1;
}

static int
cmd_dkim_mkdir(const char *path, mode_t mode, int own, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return cli_fail("cannot create %s: %s", path, strerror(errno));
	if (own && lchown(path, uid, gid) < 0)
		return cli_fail("cannot hand %s to uid %u: %s", path,
		    (unsigned)uid, strerror(errno));
	return 0;
}

/* Write the key to path through a temporary file and a rename. */
static int
cmd_dkim_write(const char *path, const struct dkim_key *key, int own,
    uid_t uid, gid_t gid)
{
	char *tmp = xasprintf("%s.tmp", path);
	const char *why = NULL;
	struct buf pem;
	int fd, rc = -1;

	buf_init(&pem, 4096, DKIM_STORE_KEY_MAX);
	if (dkim_key_pem(key, &pem, &why) < 0) {
		cli_err("%s: %s", path, why);
		goto out;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0 || write(fd, pem.data, pem.len) != (ssize_t)pem.len ||
	    (own && fchown(fd, uid, gid) < 0) || fsync(fd) < 0) {
		cli_err("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		cli_err("cannot write %s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(pem.data, pem.len);
	buf_fini(&pem);
	free(tmp);
	return rc;
}

/* Read a key file (common/dkim_store.h); prints the error. */
static int
cmd_dkim_load(const char *path, struct dkim_key **key_out)
{
	char why[512];

	if (dkim_store_load(path, key_out, why, sizeof(why)) < 0)
		return cli_fail("%s", why);
	return 0;
}

/* The selectors with a key file in dir, sorted; -1 (error printed). */
static int
cmd_dkim_selectors(const char *dir, char ***sel_out)
{
	char why[512];
	int n = dkim_store_selectors(dir, sel_out, NULL, why, sizeof(why));

	if (n < 0)
		return cli_fail("%s", why);
	return n;
}

#define cmd_dkim_selectors_free dkim_store_selectors_free

static int
cmd_dkim_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
cmd_dkim_dir(const struct cfg *cfg, const char *domain)
{
	char *sub = xasprintf("dkim/%s", domain);
	char *dir = cfg_state_path(cfg, sub);

	free(sub);
	return dir;
}

/* One TXT record, its data split into strings of at most 255 octets. */
static void
cmd_dkim_txt(FILE *f, const char *name, struct span data)
{
	size_t i, n;

	fprintf(f, "%s. IN TXT", name);
	for (i = 0; i < data.n; i += n) {
		n = data.n - i < CMD_DKIM_TXT_CHUNK ? data.n - i :
		    CMD_DKIM_TXT_CHUNK;
		fprintf(f, " \"%.*s\"", (int)n, (const char *)data.p + i);
	}
	fputc('\n', f);
}

/* The records of one selector's keys; the number printed, or -1. */
static int
cmd_dkim_selector_records(const char *dir, const char *domain,
    const char *sel, FILE *f)
{
	struct dkim_key *key = NULL;
	struct buf txt;
	int count = 0;

	buf_init(&txt, 512, 4096);
	for (size_t k = 0; k < CMD_DKIM_NKINDS; k++) {
		char *path = xasprintf("%s/%s%s", dir, sel,
		    cmd_dkim_kinds[k].file);
		char *name;

		if (access(path, F_OK) != 0) {
			free(path);
			continue;
		}
		if (cmd_dkim_load(path, &key) < 0) {
			free(path);
			buf_fini(&txt);
			return -1;
		}
		free(path);
		buf_reset(&txt);
		if (dkim_key_dns(key, &txt) < 0)
			fatal("BUG: DKIM TXT record longer than 4K");
		dkim_key_free(&key);
		name = xasprintf("%s%s._domainkey.%s", sel,
		    cmd_dkim_kinds[k].dns, domain);
		cmd_dkim_txt(f, name, buf_view(&txt));
		free(name);
		count++;
	}
	buf_fini(&txt);
	return count;
}

int
cmd_dkim_records(const struct cfg *cfg, const char *domain, FILE *f)
{
	char *dir = cmd_dkim_dir(cfg, domain);
	char **sel;
	int n, i, rc, total = 0;

	if ((n = cmd_dkim_selectors(dir, &sel)) < 0) {
		free(dir);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((rc = cmd_dkim_selector_records(dir, domain, sel[i],
		    f)) < 0) {
			total = -1;
			break;
		}
		total += rc;
	}
	cmd_dkim_selectors_free(sel, n);
	free(dir);
	return total;
}

static int
cmd_dkim_keygen(const struct cfg *cfg, const char *domain, const char *sel,
    int force)
{
	char *top = cfg_state_path(cfg, "dkim");
	char *dir = cmd_dkim_dir(cfg, domain);
	char *path[CMD_DKIM_NKINDS] = { NULL };
	struct dkim_key *key = NULL;
	const char *why = NULL;
	uid_t uid = 0;
	gid_t gid = 0;
	int own = cmd_dkim_owner(cfg, &uid, &gid), rc = CLI_EX_ERR;
	size_t k;

	for (k = 0; k < CMD_DKIM_NKINDS; k++) {
		path[k] = xasprintf("%s/%s%s", dir, sel,
		    cmd_dkim_kinds[k].file);
		if (!force && access(path[k], F_OK) == 0) {
			cli_err("%s exists; --force replaces the keys of "
			    "selector %s", path[k], sel);
			goto out;
		}
	}
	/* STATE_DIR as cli_db_open makes it; dkim/ and below closed */
	if (cmd_dkim_mkdir(cfg->state_dir, 0755, 0, 0, 0) < 0 ||
	    cmd_dkim_mkdir(top, 0700, own, uid, gid) < 0 ||
	    cmd_dkim_mkdir(dir, 0700, own, uid, gid) < 0)
		goto out;
	for (k = 0; k < CMD_DKIM_NKINDS; k++) {
		if (dkim_key_generate(cmd_dkim_kinds[k].alg, &key, &why) < 0) {
			cli_err("%s", why);
			goto out;
		}
		if (cmd_dkim_write(path[k], key, own, uid, gid) < 0)
			goto out;
		dkim_key_free(&key);
		printf("wrote %s\n", path[k]);
	}
	printf("; publish in DNS:\n");
	if (cmd_dkim_selector_records(dir, domain, sel, stdout) < 0)
		goto out;
	rc = CLI_EX_OK;
out:
	dkim_key_free(&key);
	for (k = 0; k < CMD_DKIM_NKINDS; k++)
		free(path[k]);
	free(top);
	free(dir);
	return rc;
}

/* "DOMAIN SELECTOR ed25519 rsa" for every selector of every domain. */
static int
cmd_dkim_list(const struct cfg *cfg)
{
	char *top = cfg_state_path(cfg, "dkim");
	struct dirent *de;
	char **dom = NULL;
	size_t nd = 0, i;
	DIR *d;

	if ((d = opendir(top)) == NULL) {
		int e = errno;

		free(top);
		if (e == ENOENT)
			return CLI_EX_OK;
		return cli_err("cannot read %s/dkim: %s", cfg->state_dir,
		    strerror(e));
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !dkim_name_valid(de->d_name))
			continue;
		dom = xreallocarray(dom, nd + 1, sizeof(*dom));
		dom[nd++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nd > 0)
		qsort(dom, nd, sizeof(*dom), cmd_dkim_strcmp);
	for (i = 0; i < nd; i++) {
		char *dir = xasprintf("%s/%s", top, dom[i]);
		char **sel;
		int n = cmd_dkim_selectors(dir, &sel);

		for (int j = 0; j < n; j++) {
			printf("%s %s", dom[i], sel[j]);
			for (size_t k = 0; k < CMD_DKIM_NKINDS; k++) {
				char *p = xasprintf("%s/%s%s", dir, sel[j],
				    cmd_dkim_kinds[k].file);

				if (access(p, F_OK) == 0)
					printf(" %s", cmd_dkim_kinds[k].alg ==
					    DKIM_ED25519_SHA256 ? "ed25519" :
					    "rsa");
				free(p);
			}
			putchar('\n');
		}
		cmd_dkim_selectors_free(sel, n);
		free(dir);
		free(dom[i]);
	}
	free(dom);
	free(top);
	return CLI_EX_OK;
}

/*
 * The selector to use: the one given (it must have keys), else the only
 * one there is.  XXX: with several, the admin names one; the relay will
 * need a rule (or a setting) for which selector signs.
 */
static int
cmd_dkim_pick(const char *dir, const char *domain, const char *given,
    char **sel_out)
{
	char **sel;
	int n = cmd_dkim_selectors(dir, &sel), i, rc = -1;

	if (n < 0)
		return -1;
	if (n == 0)
		cli_err("no DKIM keys for %s: run letterbox dkim keygen %s",
		    domain, domain);
	else if (given != NULL) {
		for (i = 0; i < n && strcmp(sel[i], given) != 0; i++)
			;
		if (i == n)
			cli_err("no DKIM keys for %s with selector %s",
			    domain, given);
		else {
			*sel_out = xstrdup(given);
			rc = 0;
		}
	} else if (n > 1)
		cli_err("%s has %d DKIM selectors; give --selector", domain,
		    n);
	else {
		*sel_out = xstrdup(sel[0]);
		rc = 0;
	}
	cmd_dkim_selectors_free(sel, n);
	return rc;
}

static int
cmd_dkim_show(const struct cfg *cfg, const char *domain, const char *given)
{
	char *dir = cmd_dkim_dir(cfg, domain), *sel = NULL;
	int n = 0;

	if (given == NULL) {
		n = cmd_dkim_records(cfg, domain, stdout);
		if (n == 0)
			cli_err("no DKIM keys for %s: run letterbox dkim "
			    "keygen %s", domain, domain);
	} else if (cmd_dkim_pick(dir, domain, given, &sel) == 0)
		n = cmd_dkim_selector_records(dir, domain, sel, stdout);
	free(sel);
	free(dir);
	return n > 0 ? CLI_EX_OK : CLI_EX_ERR;
}

/* All of standard input, a bare LF made CRLF (files edited by hand). */
static int
cmd_dkim_read_msg(struct buf *msg)
{
	uint8_t in[8192];
	int prev_cr = 0;
	ssize_t n;

	while ((n = read(STDIN_FILENO, in, sizeof(in))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cli_fail("cannot read the message: %s",
			    strerror(errno));
		}
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] == '\n' && !prev_cr &&
			    buf_add(msg, "\r", 1) < 0)
				return cli_fail("message too big");
			if (buf_add(msg, in + i, 1) < 0)
				return cli_fail("message too big");
			prev_cr = in[i] == '\r';
		}
	}
	return 0;
}

/* The message with an ed25519 and an RSA signature on top, to stdout. */
static int
cmd_dkim_sign(const struct cfg *cfg, const char *domain, const char *given,
    int64_t t)
{
	char *dir = cmd_dkim_dir(cfg, domain), *sel = NULL, *dsel;
	struct dkim_sign_req req = { domain, NULL, t };
	uint8_t bh[DKIM_HASH_LEN];
	struct dkim_key *key = NULL;
	struct span hdr, body;
	struct buf msg, out;
	const char *why = NULL;
	int rc = CLI_EX_ERR, signed_n = 0;

	buf_init(&msg, 64 * 1024, cfg->smtpd.max_message_size ?
	    cfg->smtpd.max_message_size * 2 : (size_t)1 << 30);
	buf_init(&out, 4096, 2 * DKIM_SIG_MAX);
	if (cmd_dkim_pick(dir, domain, given, &sel) < 0 ||
	    cmd_dkim_read_msg(&msg) < 0)
		goto out;
	dkim_split(buf_view(&msg), &hdr, &body);
	dkim_body_hash(body, bh);
	for (size_t k = 0; k < CMD_DKIM_NKINDS; k++) {
		char *path = xasprintf("%s/%s%s", dir, sel,
		    cmd_dkim_kinds[k].file);

		if (access(path, F_OK) != 0) {
			free(path);
			continue;
		}
		if (cmd_dkim_load(path, &key) < 0) {
			free(path);
			goto out;
		}
		free(path);
		dsel = xasprintf("%s%s", sel, cmd_dkim_kinds[k].dns);
		req.selector = dsel;
		if (dkim_sign(key, &req, hdr, bh, &out, &why) < 0) {
			free(dsel);
			cli_err("cannot sign: %s", why);
			goto out;
		}
		free(dsel);
		dkim_key_free(&key);
		signed_n++;
	}
	if (signed_n == 0)
		goto out;
	if (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fwrite(msg.data, 1, msg.len, stdout) != msg.len ||
	    fflush(stdout) != 0) {
		cli_err("cannot write the message: %s", strerror(errno));
		goto out;
	}
	rc = CLI_EX_OK;
out:
	dkim_key_free(&key);
	buf_fini(&msg);
	buf_fini(&out);
	free(sel);
	free(dir);
	return rc;
}

int
cmd_dkim(const struct cfg *cfg, int argc, char **argv)
{
	char domain[ADDR_DOMAIN_MAX + 1], defsel[16];
	const char *pos[2], *why = NULL, *sel = NULL, *tstr = NULL;
	int n, force = 0;
	uint64_t t = 0;
	const struct cli_opt opts[] = {
		{ "selector", &sel, NULL },
		{ "force", NULL, &force },
		{ "time", &tstr, NULL },
		{ NULL, NULL, NULL },
	};

	if ((n = cli_args(argc - 1, argv + 1, opts, pos, 2, &why)) < 0)
		return cli_usage("dkim", "%s", why);
	if (n == 0)
		return cli_usage("dkim", "dkim: missing action");
	if (strcmp(pos[0], "list") == 0) {
		if (n != 1 || sel || force || tstr)
			return cli_usage("dkim", "dkim list takes no "
			    "arguments");
		return cmd_dkim_list(cfg);
	}
	if (strcmp(pos[0], "keygen") != 0 && strcmp(pos[0], "show") != 0 &&
	    strcmp(pos[0], "sign") != 0)
		return cli_usage("dkim", "dkim: unknown action \"%s\"",
		    pos[0]);
	if (n != 2)
		return cli_usage("dkim", "dkim %s: missing DOMAIN", pos[0]);
	if (force && strcmp(pos[0], "keygen") != 0)
		return cli_usage("dkim", "dkim %s has no --force", pos[0]);
	if (tstr != NULL && (strcmp(pos[0], "sign") != 0 ||
	    cli_parse_count(tstr, &t, &why) < 0 || t == 0 ||
	    t > INT64_MAX))
		return cli_usage("dkim", "--time: only for dkim sign, in "
		    "seconds since 1970");
	if (sel != NULL && !cmd_dkim_selector_ok(sel))
		return cli_usage("dkim", "invalid selector \"%s\" (letters, "
		    "digits, '-', '_', dot-separated, at most 59)", sel);
	if (cmd_dkim_domain(pos[1], domain) < 0)
		return CLI_EX_ERR;
	if (strcmp(pos[0], "keygen") == 0) {
		if (sel == NULL) {
			cmd_dkim_default_selector(defsel);
			sel = defsel;
		}
		return cmd_dkim_keygen(cfg, domain, sel, force);
	}
	if (strcmp(pos[0], "show") == 0)
		return cmd_dkim_show(cfg, domain, sel);
	return cmd_dkim_sign(cfg, domain, sel,
	    tstr != NULL ? (int64_t)t : (int64_t)time(NULL));
}
