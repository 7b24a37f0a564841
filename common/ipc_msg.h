/* Every IPC message type and payload layout, in one place (STYLE.md 2). */
/* SPDX-License-Identifier: ISC */
#ifndef LB_IPC_MSG_H
#define LB_IPC_MSG_H

/*
 * Names read destination then verb.  Payload fields in order; "str" is a
 * u32 length plus bytes.  A reply carries the request id of its request.
 */
enum ipc_type {
	IPC_NONE = 0,		/* never valid on the wire */

	/* child -> master, on the control socket at fd 3 */
	IPC_MASTER_READY = 1,	/* (empty): listening and serving */

	/* client -> authd */
	IPC_AUTH_CHECK = 100,	/* str user, str password, str service,
				 * str client_ip */
	IPC_AUTH_RESOLVE,	/* str address */
	IPC_AUTH_USERINFO,	/* str address: quota and mailbox of a user */
	/*
	 * SASL (Cyrus SASL runs inside authd; protocol daemons only relay).
	 * Payloads are raw SASL bytes: the protocol daemon does its own
	 * base64.  sid names one exchange, chosen by the client, unique on
	 * its connection.  A START or STEP is answered by
	 * IPC_AUTH_SASL_CHALLENGE (send it, wait for the client's STEP),
	 * IPC_AUTH_OK (authenticated), IPC_AUTH_FAIL or IPC_AUTH_TEMPFAIL;
	 * the last three end the exchange.
	 */
	IPC_AUTH_SASL_MECHS,	/* (empty) -> IPC_AUTH_SASL_MECHLIST */
	IPC_AUTH_SASL_START,	/* u64 sid, str mech, str service,
				 * str client_ip, u32 has_initial,
				 * str initial_response */
	IPC_AUTH_SASL_STEP,	/* u64 sid, str response */
	IPC_AUTH_SASL_ABORT,	/* u64 sid (no reply) */
	IPC_AUTH_APOP,		/* str user, str timestamp (the greeting's
				 * "<...>"), str digest (32 hex), str service,
				 * str client_ip: is MD5(timestamp secret)
				 * the digest (RFC 1939 7)?  Answered like
				 * IPC_AUTH_CHECK: OK, FAIL or TEMPFAIL */

	/* authd -> client */
	IPC_AUTH_OK = 150,	/* str canonical address ("user@domain") */
	IPC_AUTH_FAIL,		/* u32 reason (enum ipc_auth_fail), str text */
	IPC_AUTH_TEMPFAIL,	/* str text: try again later */
	IPC_AUTH_RESOLVED,	/* u32 kind (enum ipc_resolve_kind), u32 n,
				 * n x (u32 flags (IPC_TARGET_*), str address) */
	IPC_AUTH_USER,		/* u32 found(0/1), str address,
				 * u64 quota_bytes, u64 quota_messages */
	IPC_AUTH_ERROR,		/* str text: the request was malformed */
	IPC_AUTH_SASL_MECHLIST,	/* str "PLAIN LOGIN": space separated */
	IPC_AUTH_SASL_CHALLENGE, /* u64 sid, str challenge (may be empty) */

	/* smtpd -> queued (RUN_DIR/queued.sock); docs/queue.md */
	IPC_QUEUE_CREATE = 200,	/* (empty): a new spool file, please */
	IPC_QUEUE_COMMIT,	/* str id, u64 size: make it durable */
	IPC_QUEUE_ABORT,	/* str id: drop it (no reply) */

	/* queued -> smtpd */
	IPC_QUEUE_CREATED = 250, /* str id, + the file's fd (O_WRONLY) */
	IPC_QUEUE_COMMITTED,	/* str id: on disk, fsynced, in the queue */
	IPC_QUEUE_TEMPFAIL,	/* str text: answer 451 and keep nothing */
	IPC_QUEUE_ERROR,	/* str text: the request was malformed */

	/* letterbox queue -> queued (spool/admin.sock); docs/queue.md */
	IPC_QADMIN_LIST = 300,	/* (empty) */
	IPC_QADMIN_SHOW,	/* str id */
	IPC_QADMIN_FLUSH,	/* str id ("": every message) */
	IPC_QADMIN_DELETE,	/* str id */
	IPC_QADMIN_HOLD,	/* str id */
	IPC_QADMIN_RELEASE,	/* str id */

	/* queued -> letterbox queue */
	IPC_QADMIN_OK = 350,	/* str text to print */
	IPC_QADMIN_ERR,		/* str text: what went wrong */
};

enum ipc_auth_fail {
	IPC_AUTH_FAIL_CREDENTIALS = 1,	/* unknown user or wrong password */
	IPC_AUTH_FAIL_DISABLED,		/* account disabled */
};

enum ipc_resolve_kind {
	IPC_RESOLVE_LOCAL = 1,	/* targets are local mailboxes (+ forwards) */
	IPC_RESOLVE_UNKNOWN,	/* local domain, no such user: 550 5.1.1 */
	IPC_RESOLVE_REMOTE,	/* not one of our domains */
};

#define IPC_TARGET_MAILBOX 1u	/* a local mailbox "user@domain" */
#define IPC_TARGET_FORWARD 2u	/* an address elsewhere: relay to it */

#endif
