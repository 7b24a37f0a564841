/* letterbox init: write a complete self-contained instance into a directory. */
/* SPDX-License-Identifier: ISC */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/tlsw.h"
#include "common/xmem.h"

#define CMD_INIT_CERT_DAYS 3650
#define CMD_INIT_PW_LEN 16
#define CMD_INIT_MAX_OFFSET (65535 - 995)

/* Each daemon program and the listeners it serves, at standard ports. */
static const struct {
	const char *program;
	const char *kind;
	unsigned port;
} cmd_init_listeners[] = {
	{ "letterbox-smtpd", "smtp", 25 },
	{ "letterbox-smtpd", "submission", 587 },
	{ "letterbox-smtpd", "submissions", 465 },
	{ "letterbox-imapd", "imap", 143 },
	{ "letterbox-imapd", "imaps", 993 },
	{ "letterbox-pop3d", "pop3", 110 },
	{ "letterbox-pop3d", "pop3s", 995 },
};

static const char *const cmd_init_users[] = {
	"lb-auth", "lb-smtp", "lb-queue", "lb-mail",
};

struct cmd_init_opts {
	char dir[PATH_MAX];
	char domain[ADDR_DOMAIN_MAX + 1];
	char hostname[ADDR_DOMAIN_MAX + 1];
	unsigned offset;
};

/* 1 if program is installed beside this binary or in LB_LIBEXECDIR. */
static int
cmd_init_have_program(const char *program)
{
	char self[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dirname(self), program);
		if (access(path, X_OK) == 0)
			return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", LB_LIBEXECDIR, program);
	return access(path, X_OK) == 0;
}

/* A config string value: quoted, with '"' and '\' escaped. */
static int
cmd_init_quoted(struct buf *b, const char *s)
{
	if (buf_add(b, "\"", 1) < 0)
		return -1;
	for (; *s != '\0'; s++) {
		if ((*s == '"' || *s == '\\') && buf_add(b, "\\", 1) < 0)
			return -1;
		if (buf_add(b, s, 1) < 0)
			return -1;
	}
	return buf_add(b, "\"", 1);
}

/*
 * Write DIR/letterbox.conf (0644, created exclusively: it holds no
 * secrets, and the daemons re-read it on SIGHUP after dropping root).
 * Listeners are written only for daemons this build has: a config that names a daemon
 * that does not exist would fail at start.
 */
static int
cmd_init_write_conf(const struct cmd_init_opts *o, const char *path)
{
	struct buf b;
	char *state = xasprintf("%s/state", o->dir);
	char *cert = xasprintf("%s/tls/cert.pem", o->dir);
	char *key = xasprintf("%s/tls/key.pem", o->dir);
	int fd, rc = 0, any = 0;
	size_t i;

	buf_init(&b, 1024, 64 * 1024);
	rc |= buf_addf(&b, "# Letterbox instance written by letterbox init.\n"
	    "# Reference: docs/config.md.\n\nhostname = %s\nstate_dir = ",
	    o->hostname);
	rc |= cmd_init_quoted(&b, state);
	rc |= buf_addstr(&b, "\nlog = stderr\n\ntls {\n\tcert = ");
	rc |= cmd_init_quoted(&b, cert);
	rc |= buf_addstr(&b, "\n\tkey = ");
	rc |= cmd_init_quoted(&b, key);
	rc |= buf_addstr(&b, "\n}\n");
	for (i = 0; i < sizeof(cmd_init_listeners) /
	    sizeof(cmd_init_listeners[0]); i++) {
		unsigned port = cmd_init_listeners[i].port + o->offset;

		if (!cmd_init_have_program(cmd_init_listeners[i].program))
			continue;
		any = 1;
		rc |= buf_addf(&b, "\nlisten %s {\n\taddress = 127.0.0.1:%u\n"
		    "\taddress = [::1]:%u\n}\n", cmd_init_listeners[i].kind,
		    port, port);
	}
	if (!any)
		rc |= buf_addstr(&b, "\n# No listen blocks: this build has no "
		    "letterbox-smtpd, letterbox-imapd\n# or letterbox-pop3d "
		    "yet.  Run letterbox init again once it does.\n");
	free(state);
	free(cert);
	free(key);
	if (rc != 0) {
		buf_fini(&b);
		return cli_fail("config text too long");
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ||
	    fsync(fd) < 0) {
		rc = cli_fail("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		buf_fini(&b);
		return rc;
	}
	buf_fini(&b);
	if (close(fd) < 0)
		return cli_fail("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* DIR must not exist (we create it, not its parents) or be empty. */
static int
cmd_init_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;

	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return cli_fail("cannot create %s: %s", dir, strerror(errno));
	if ((d = opendir(dir)) == NULL)
		return cli_fail("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return cli_fail("%s is not empty", dir);
		}
	}
	closedir(d);
	return 0;
}

/* SECURITY: runs useradd with a fixed argv, no shell. */
static int
cmd_init_sysuser(const char *name)
{
	char *const argv[] = {
		"useradd", "--system", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
		(char *)name, NULL,
	};
	pid_t pid;
	int st;

	if (getpwnam(name) != NULL)
		return 0;
	if ((pid = fork()) < 0)
		return cli_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp("useradd", argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return cli_fail("useradd %s failed", name);
	return 0;
}

/* The demo domain, the demo user with a random password, and the file
 * that tells the admin that password. */
static int
cmd_init_demo(const struct cfg *cfg, const struct cmd_init_opts *o)
{
	struct secret_str pw;
	struct userdb_user u;
	struct userdb *db;
	const char *why = NULL;
	char *pwfile = xasprintf("%s/demo-password", o->dir);
	int fd = -1, rc = -1;

	secret_str_init(&pw);
	if (cli_db_open(cfg, &db) < 0)
		goto out;
	memset(&u, 0, sizeof(u));
	snprintf(u.address, sizeof(u.address), "demo@%s", o->domain);
	u.quota_bytes = cfg->default_quota_bytes;
	u.quota_messages = cfg->default_quota_messages;
	secret_str_random(&pw, CMD_INIT_PW_LEN);
	if (userdb_domain_add(db, o->domain, &why) < 0) {
		cli_err("%s", why);
		goto out;
	}
	if (cli_hash(cfg, &pw, u.hash) < 0)
		goto out;
	if (userdb_user_add(db, &u, &why) < 0) {
		cli_err("%s", why);
		goto out;
	}
	if (cli_ensure_postmaster(db, u.address) < 0)
		goto out;
	fd = open(pwfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", pw.p) < 0 || close(fd) < 0) {
		cli_err("cannot write %s: %s", pwfile, strerror(errno));
		goto out;
	}
	printf("demo login: %s password: %s\n", u.address, pw.p);
	rc = 0;
out:
	secret_str_fini(&pw);
	userdb_close(&db);
	free(pwfile);
	return rc;
}

static int
cmd_init_parse(int argc, char **argv, struct cmd_init_opts *o)
{
	const char *pos[1], *why = NULL, *dom = NULL, *host = NULL;
	const char *off = NULL;
	char cwd[PATH_MAX];
	uint64_t n = 0;
	size_t len;
	const struct cli_opt opts[] = {
		{ "domain", &dom, NULL },
		{ "hostname", &host, NULL },
		{ "port-offset", &off, NULL },
		{ NULL, NULL, NULL },
	};

	memset(o, 0, sizeof(*o));
	if (cli_args(argc - 1, argv + 1, opts, pos, 1, &why) != 1)
		return cli_usage("init", "%s", why ? why : "init: missing DIR");
	if (off != NULL && (cli_parse_count(off, &n, &why) < 0 ||
	    strcmp(off, "unlimited") == 0 || n > CMD_INIT_MAX_OFFSET))
		return cli_usage("init", "--port-offset: must be a number "
		    "from 0 to %d", CMD_INIT_MAX_OFFSET);
	o->offset = (unsigned)n;
	if (pos[0][0] == '\0')
		return cli_usage("init", "init: empty DIR");
	if (pos[0][0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		return cli_err("getcwd: %s", strerror(errno));
	if ((size_t)snprintf(o->dir, sizeof(o->dir), "%s%s%s",
	    pos[0][0] == '/' ? "" : cwd, pos[0][0] == '/' ? "" : "/",
	    pos[0]) >= sizeof(o->dir) - 32)
		return cli_err("%s: path too long", pos[0]);
	while ((len = strlen(o->dir)) > 1 && o->dir[len - 1] == '/')
		o->dir[len - 1] = '\0';
	for (const char *p = o->dir; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			return cli_err("%s: control character in path", pos[0]);
	if (addr_domain_normalize(dom ? dom : "example.test", o->domain,
	    sizeof(o->domain)) < 0) {
		addr_domain_valid(span_cstr(dom), &why);
		return cli_err("invalid domain \"%s\": %s", dom, why);
	}
	if (host == NULL) {
		char mail[sizeof(o->domain) + 8];

		snprintf(mail, sizeof(mail), "mail.%s", o->domain);
		if (strlen(mail) >= sizeof(o->hostname))
			return cli_err("hostname %s is longer than 255 octets; "
			    "give --hostname", mail);
		memcpy(o->hostname, mail, strlen(mail) + 1);
	} else if (addr_domain_normalize(host, o->hostname,
	    sizeof(o->hostname)) < 0) {
		addr_domain_valid(span_cstr(host), &why);
		return cli_err("invalid hostname \"%s\": %s", host, why);
	}
	return CLI_EX_OK;
}

/* As root: the system users, before anything is handed to them. */
static int
cmd_init_sysusers(void)
{
	if (geteuid() != 0)
		return 0;
	for (size_t i = 0; i < sizeof(cmd_init_users) /
	    sizeof(cmd_init_users[0]); i++)
		if (cmd_init_sysuser(cmd_init_users[i]) < 0)
			return -1;
	return 0;
}

static int
cmd_init_make(const struct cmd_init_opts *o)
{
	char *tls = xasprintf("%s/tls", o->dir);
	char *cert = xasprintf("%s/cert.pem", tls);
	char *key = xasprintf("%s/key.pem", tls);
	char *conf = xasprintf("%s/letterbox.conf", o->dir);
	struct cfg *cfg = NULL;
	struct buf errs;
	const char *why = NULL;
	int rc = -1;

	buf_init(&errs, 256, 64 * 1024);
	if (cmd_init_dir(o->dir) < 0)
		goto out;
	if (mkdir(tls, 0755) < 0) {
		cli_err("cannot create %s: %s", tls, strerror(errno));
		goto out;
	}
	if (tlsw_selfsigned_write(cert, key, o->hostname, CMD_INIT_CERT_DAYS,
	    &why) < 0) {
		cli_err("cannot make the TLS certificate: %s", why);
		goto out;
	}
	if (cmd_init_write_conf(o, conf) < 0 || cmd_init_sysusers() < 0)
		goto out;
	/* load what we wrote: init must never leave a config that fails */
	if (cfg_load(conf, &cfg, &errs) < 0) {
		fputs(buf_cstr(&errs), stderr);
		cli_err("BUG: the config init wrote does not load");
		goto out;
	}
	printf("wrote %s\n", conf);
	if (cmd_init_demo(cfg, o) < 0)
		goto out;
	rc = 0;
out:
	cfg_free(&cfg);
	buf_fini(&errs);
	free(tls);
	free(cert);
	free(key);
	free(conf);
	return rc;
}

int
cmd_init(const char *cfg_path, int argc, char **argv)
{
	struct cmd_init_opts o;
	int rc;

	if ((rc = cmd_init_parse(argc, argv, &o)) != CLI_EX_OK)
		return rc;
	return cmd_init_make(&o) < 0 ? CLI_EX_ERR : CLI_EX_OK;
}
