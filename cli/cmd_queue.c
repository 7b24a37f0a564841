/* letterbox queue list|show|flush|delete|hold|release: asks queued over spool/admin.sock (docs/queue.md, "Admin commands"). */
/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/ipc.h"
#include "common/ipc_msg.h"

#define CMD_QUEUE_TIMEOUT_MS 30000

static const struct {
	const char *name;
	enum ipc_type type;
	int id;			/* 0: none, 1: required, 2: optional */
} queue_actions[] = {
	{ "list", IPC_QADMIN_LIST, 0 },
	{ "show", IPC_QADMIN_SHOW, 1 },
	{ "flush", IPC_QADMIN_FLUSH, 2 },
	{ "delete", IPC_QADMIN_DELETE, 1 },
	{ "hold", IPC_QADMIN_HOLD, 1 },
	{ "release", IPC_QADMIN_RELEASE, 1 },
};

int
cmd_queue(const struct cfg *cfg, int argc, char **argv)
{
	const char *pos[3], *why = NULL;
	struct ipc_msg m;
	struct ipc_hdr hdr;
	struct ipc_reader r;
	struct span text;
	struct buf reply;
	char *spool, *path;
	size_t i;
	int n, fd, rc;

	if ((n = cli_args(argc - 1, argv + 1, NULL, pos, 3, &why)) < 0)
		return cli_usage("queue", "%s", why);
	if (n == 0)
		return cli_usage("queue", "queue: missing action");
	for (i = 0; i < sizeof(queue_actions) / sizeof(queue_actions[0]); i++)
		if (strcmp(pos[0], queue_actions[i].name) == 0)
			break;
	if (i == sizeof(queue_actions) / sizeof(queue_actions[0]))
		return cli_usage("queue", "queue: unknown action \"%s\"",
		    pos[0]);
	if (queue_actions[i].id == 1 && n < 2)
		return cli_usage("queue", "queue %s: missing ID", pos[0]);
	if (n > (queue_actions[i].id ? 2 : 1))
		return cli_usage("queue", "queue %s: too many arguments",
		    pos[0]);
	spool = cfg_state_path(cfg, "spool");
	if (asprintf(&path, "%s/admin.sock", spool) < 0) {
		free(spool);
		return cli_err("out of memory");
	}
	free(spool);
	if ((fd = ipc_connect_unix(path)) < 0) {
		rc = cli_err("cannot reach letterbox-queued at %s: %s (is "
		    "letterboxd running, and are you root or the queue "
		    "user?)", path, strerror(errno));
		free(path);
		return rc;
	}
	ipc_msg_init(&m, queue_actions[i].type, 1);
	if (queue_actions[i].id != 0 &&
	    ipc_put_cstr(&m, n > 1 ? pos[1] : "") < 0) {
		ipc_msg_fini(&m);
		close(fd);
		free(path);
		return cli_err("queue %s: the id is too long", pos[0]);
	}
	buf_init(&reply, 4096, IPC_MAX_PAYLOAD);
	if (ipc_msg_finish(&m) < 0 || ipc_call(fd, &m,
	    CMD_QUEUE_TIMEOUT_MS, &hdr, &reply) < 0) {
		rc = cli_err("no answer from letterbox-queued at %s: %s", path,
		    strerror(errno));
		goto out;
	}
	ipc_reader_init(&r, buf_view(&reply));
	if ((hdr.type != IPC_QADMIN_OK && hdr.type != IPC_QADMIN_ERR) ||
	    ipc_get_str(&r, &text, IPC_MAX_PAYLOAD) < 0) {
		rc = cli_err("a malformed answer from letterbox-queued");
		goto out;
	}
	if (hdr.type == IPC_QADMIN_OK) {
		fwrite(text.p, 1, text.n, stdout);
		rc = CLI_EX_OK;
	} else {
		/* the text ends in a newline: print it as the error */
		while (text.n > 0 && text.p[text.n - 1] == '\n')
			text.n--;
		rc = cli_err("%.*s", (int)text.n, (const char *)text.p);
	}
out:
	ipc_msg_fini(&m);
	buf_fini(&reply);
	close(fd);
	free(path);
	return rc;
}
