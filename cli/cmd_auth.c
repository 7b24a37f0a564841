/* letterbox auth test|resolve: ask the running authd exactly as smtpd or imapd would. */
/* SPDX-License-Identifier: ISC */
#include "cli/cmd_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/ipc.h"
#include "common/ipc_msg.h"
#include "common/xmem.h"

#define CMD_AUTH_TIMEOUT_MS 30000
#define CMD_AUTH_PW_MAX 1024
#define EX_USAGE_ 64
#define EX_TEMPFAIL_ 75

static int
cmd_auth_usage(void)
{
	fprintf(stderr, "usage: letterbox auth test ADDRESS [--password-stdin] "
	    "[--ip IP] [--service NAME]\n"
	    "       letterbox auth resolve ADDRESS\n");
	return EX_USAGE_;
}

/* One line from f into pw (sodium memory); strips the newline. */
static int
cmd_auth_read_line(FILE *f, char *pw, size_t sz)
{
	size_t n;

	if (fgets(pw, (int)sz, f) == NULL)
		return -1;
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	return 0;
}

static int
cmd_auth_prompt(char *pw, size_t sz)
{
	struct termios old, noecho;
	FILE *tty = fopen("/dev/tty", "r+");
	int rc;

	if (tty == NULL) {
		fprintf(stderr, "letterbox: no terminal to ask for the password "
		    "on; use --password-stdin\n");
		return -1;
	}
	fputs("Password: ", tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) < 0) {
		fclose(tty);
		return -1;
	}
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	(void)tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	rc = cmd_auth_read_line(tty, pw, sz);
	(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	return rc;
}

static double
cmd_auth_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000. + ts.tv_nsec / 1e6;
}

/* Connect, send m, wait for the reply.  Returns 0 or an exit code. */
static int
cmd_auth_call(const struct cfg *cfg, struct ipc_msg *m, struct ipc_hdr *h,
    struct buf *reply)
{
	char *path = xasprintf("%s/authd.sock", cfg->run_dir);
	int fd, rc = 0;

	if (ipc_msg_finish(m) < 0) {
		fprintf(stderr, "letterbox: request too long\n");
		free(path);
		return EX_USAGE_;
	}
	if ((fd = ipc_connect_unix(path)) < 0) {
		fprintf(stderr, "letterbox: cannot reach authd at %s: %s\n",
		    path, strerror(errno));
		free(path);
		return EX_TEMPFAIL_;
	}
	if (ipc_call(fd, m, CMD_AUTH_TIMEOUT_MS, h, reply) < 0) {
		fprintf(stderr, "letterbox: no answer from authd at %s: %s\n",
		    path, strerror(errno));
		rc = EX_TEMPFAIL_;
	}
	close(fd);
	free(path);
	return rc;
}

static int
cmd_auth_test(const struct cfg *cfg, int argc, char **argv)
{
	const char *addr = NULL, *ip = "127.0.0.1", *service = "cli";
	int from_stdin = 0, i, rc;
	struct ipc_msg m;
	struct ipc_hdr h;
	struct ipc_reader r;
	struct buf reply;
	struct span text;
	uint32_t reason;
	double t0, ms;
	char *pw;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			from_stdin = 1;
		else if (strcmp(argv[i], "--ip") == 0 && i + 1 < argc)
			ip = argv[++i];
		else if (strcmp(argv[i], "--service") == 0 && i + 1 < argc)
			service = argv[++i];
		else if (argv[i][0] != '-' && addr == NULL)
			addr = argv[i];
		else
			return cmd_auth_usage();
	}
	if (addr == NULL)
		return cmd_auth_usage();
	if (sodium_init() < 0 || (pw = sodium_malloc(CMD_AUTH_PW_MAX)) == NULL)
		return EX_TEMPFAIL_;
	rc = from_stdin ? cmd_auth_read_line(stdin, pw, CMD_AUTH_PW_MAX) :
	    cmd_auth_prompt(pw, CMD_AUTH_PW_MAX);
	if (rc < 0) {
		fprintf(stderr, "letterbox: no password given\n");
		sodium_free(pw);
		return EX_USAGE_;
	}
	ipc_msg_init(&m, IPC_AUTH_CHECK, 1);
	(void)ipc_put_cstr(&m, addr);
	(void)ipc_put_cstr(&m, pw);
	(void)ipc_put_cstr(&m, service);
	(void)ipc_put_cstr(&m, ip);
	sodium_memzero(pw, CMD_AUTH_PW_MAX);
	sodium_free(pw);
	buf_init(&reply, 256, IPC_MAX_PAYLOAD);
	t0 = cmd_auth_now_ms();
	rc = cmd_auth_call(cfg, &m, &h, &reply);
	ms = cmd_auth_now_ms() - t0;
	/* the request held the password: wipe our copy of the frame */
	sodium_memzero(m.b.data, m.b.len);
	ipc_msg_fini(&m);
	if (rc != 0)
		goto out;
	ipc_reader_init(&r, buf_view(&reply));
	if (h.type == IPC_AUTH_OK && ipc_get_str(&r, &text, 1024) == 0) {
		printf("OK %.*s (%.0f ms)\n", (int)text.n, text.p, ms);
	} else if (h.type == IPC_AUTH_FAIL && ipc_get_u32(&r, &reason) == 0 &&
	    ipc_get_str(&r, &text, 1024) == 0) {
		printf("FAIL: %.*s (%.0f ms)\n", (int)text.n, text.p, ms);
		rc = 1;
	} else if (h.type == IPC_AUTH_TEMPFAIL &&
	    ipc_get_str(&r, &text, 1024) == 0) {
		printf("FAIL: temporary: %.*s (%.0f ms)\n", (int)text.n, text.p,
		    ms);
		rc = EX_TEMPFAIL_;
	} else {
		fprintf(stderr, "letterbox: unexpected answer type %u from "
		    "authd\n", h.type);
		rc = EX_TEMPFAIL_;
	}
out:
	buf_fini(&reply);
	return rc;
}

static int
cmd_auth_print_resolved(struct ipc_reader *r)
{
	uint32_t kind, n, flags, i;
	struct span a;

	if (ipc_get_u32(r, &kind) < 0 || ipc_get_u32(r, &n) < 0)
		return -1;
	if (kind == IPC_RESOLVE_UNKNOWN) {
		printf("unknown\n");
		return 1;
	}
	if (kind == IPC_RESOLVE_REMOTE) {
		printf("remote\n");
		return 0;
	}
	printf("local:");
	for (i = 0; i < n; i++) {
		if (ipc_get_u32(r, &flags) < 0 || ipc_get_str(r, &a, 1024) < 0)
			return -1;
		printf("%s %.*s (%s)", i ? "," : "", (int)a.n, a.p,
		    flags & IPC_TARGET_MAILBOX ? "mailbox" : "forward");
	}
	printf("\n");
	return ipc_get_end(r) < 0 ? -1 : 0;
}

static int
cmd_auth_resolve(const struct cfg *cfg, int argc, char **argv)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	struct ipc_reader r;
	struct buf reply;
	int rc;

	if (argc != 1 || argv[0][0] == '-')
		return cmd_auth_usage();
	ipc_msg_init(&m, IPC_AUTH_RESOLVE, 1);
	(void)ipc_put_cstr(&m, argv[0]);
	buf_init(&reply, 256, IPC_MAX_PAYLOAD);
	rc = cmd_auth_call(cfg, &m, &h, &reply);
	ipc_msg_fini(&m);
	if (rc == 0) {
		ipc_reader_init(&r, buf_view(&reply));
		if (h.type != IPC_AUTH_RESOLVED ||
		    (rc = cmd_auth_print_resolved(&r)) < 0) {
			fprintf(stderr, "letterbox: unexpected answer type %u "
			    "from authd\n", h.type);
			rc = EX_TEMPFAIL_;
		}
	}
	buf_fini(&reply);
	return rc;
}

int
cmd_auth(const struct cfg *cfg, int argc, char **argv)
{
	if (argc < 2)
		return cmd_auth_usage();
	if (strcmp(argv[1], "test") == 0)
		return cmd_auth_test(cfg, argc - 2, argv + 2);
	if (strcmp(argv[1], "resolve") == 0)
		return cmd_auth_resolve(cfg, argc - 2, argv + 2);
	return cmd_auth_usage();
}
