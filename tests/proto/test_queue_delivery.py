"""queued delivers over LMTP: retries, bounces (RFC 3464), DSN options
(RFC 3461), crash safety.  The MDA is played by a small RFC 2033 server
written here, bound on RUN_DIR/lmtp.sock by the test itself."""
# SPDX-License-Identifier: ISC

import email
import email.policy
import os
import re
import shutil
import signal
import subprocess
import socket
import socketserver
import threading
import time

import pytest

import lbtest
from lbtest import RawConn, queued_id, spool_ids, spool_dir

HOST = "mail.example.test"


class Lmtp:
    """An RFC 2033 server on a unix socket.  policy(rcpt, n) gives the
    reply after DATA for the n-th time (from 1) rcpt gets a message;
    rcpt_policy(rcpt) the reply to RCPT (default 250).  Every message
    answered 2xx for a recipient is in .delivered as (rcpt, bytes)."""

    def __init__(self, path, policy=None, rcpt_policy=None, delay=0.0):
        self.path = path
        self.policy = policy or (lambda rcpt, n: "250 2.0.0 Ok delivered")
        self.rcpt_policy = rcpt_policy or (lambda rcpt: "250 2.1.5 Ok")
        self.delay = delay
        self.lock = threading.Lock()
        self.delivered = []
        self.tries = {}
        self.transactions = []   # dicts: msgid, rcpts, state
        self.mails = []
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer.session(self.rfile, self.wfile)

        class Server(socketserver.ThreadingMixIn,
                     socketserver.UnixStreamServer):
            daemon_threads = True

        self.srv = Server(path, Handler)
        os.chmod(path, 0o777)   # queued runs as lb-queue under root
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def session(self, r, w):
        def send(s):
            w.write(s.encode() + b"\r\n")
            w.flush()
        send("220 test LMTP ready")
        mail, rcpts, txn = None, [], None
        try:
            while True:
                line = r.readline()
                if not line:
                    break
                assert line.endswith(b"\r\n"), line
                cmd = line[:-2].decode("utf-8", "replace")
                verb = cmd.split(" ", 1)[0].split(":", 1)[0].upper()
                if verb == "LHLO":
                    send("250-test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                         "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES")
                elif verb == "MAIL":
                    m = re.match(r"MAIL FROM:<([^>]*)>(.*)", cmd)
                    mail, rcpts = m.group(1), []
                    with self.lock:
                        self.mails.append(cmd)
                    send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    rc = re.match(r"RCPT TO:<([^>]*)>", cmd).group(1)
                    rep = self.rcpt_policy(rc)
                    if rep.startswith("2"):
                        rcpts.append(rc)
                    send(rep)
                elif verb == "DATA":
                    send("354 go ahead")
                    data = b""
                    while True:
                        ln = r.readline()
                        if not ln:
                            raise EOFError
                        if ln == b".\r\n":
                            break
                        if ln.startswith(b"."):
                            ln = ln[1:]
                        data += ln
                    msgid = re.search(rb"(?im)^Message-ID: *(<[^>]*>)",
                                      data)
                    txn = {"msgid": msgid.group(1).decode() if msgid
                           else None, "rcpts": list(rcpts),
                           "state": "data", "from": mail}
                    with self.lock:
                        self.transactions.append(txn)
                    if self.delay:
                        time.sleep(self.delay)
                    for rc in rcpts:
                        with self.lock:
                            n = self.tries[rc] = self.tries.get(rc, 0) + 1
                        rep = self.policy(rc, n)
                        if rep.startswith("2"):
                            with self.lock:
                                self.delivered.append((rc, data, mail))
                        send(rep)
                    txn["state"] = "answered"
                elif verb == "RSET":
                    send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    send("221 2.0.0 Bye")
                    if txn:
                        txn["state"] = "done"
                    break
                else:
                    send("500 5.5.1 what")
        except (EOFError, OSError):
            pass


def lmtp_path(inst):
    return os.path.join(inst.inst, "state", "run", "lmtp.sock")


def start(inst, **lmtp_kw):
    lbtest.smtp_users(inst)
    inst.start()
    return Lmtp(lmtp_path(inst), **lmtp_kw)


@pytest.fixture
def conf_instance():
    inst = lbtest.Instance(extra_conf="queued.retry_min = 200ms\n"
                                      "queued.retry_max = 1s\n")
    try:
        yield inst
    finally:
        inst.cleanup()


def smtp_send(inst, rcpts, mail="alice@remote.example", mail_params="",
              rcpt_params="", subject="test", body="Hello.\r\n",
              msgid=None):
    c = RawConn(inst.port("smtp"))
    assert c.reply()[0] == 220
    c.cmd("EHLO client.test")
    assert c.reply()[0] == 250
    c.cmd("MAIL FROM:<%s>%s" % (mail, mail_params))
    assert c.reply()[0] == 250
    for r in rcpts:
        c.cmd("RCPT TO:<%s>%s" % (r, rcpt_params))
        code, texts = c.reply()
        assert code == 250, texts
    c.cmd("DATA")
    assert c.reply()[0] == 354
    msgid = msgid or "<%s.%d@client.test>" % (subject.replace(" ", "-"),
                                             time.monotonic_ns())
    stuffed = re.sub(r"(?m)^\.", "..", body)
    c.send(("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n"
            "\r\n%s.\r\n") % (mail, rcpts[0], subject, msgid, stuffed))
    rep = c.reply_line()
    c.cmd("QUIT")
    c.close()
    qid = queued_id(rep)
    assert qid, rep
    return qid


def wait_for(cond, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timeout waiting for " + what)


def spool_env(inst, qid):
    with open(os.path.join(spool_dir(inst), qid), "rb") as f:
        data = f.read()
    env, _, msg = data.partition(b"\n\n")
    return env.decode(), msg


def bounces(inst):
    """(id, envelope, message) of every queued message from <>."""
    out = []
    for qid in spool_ids(inst):
        try:
            env, msg = spool_env(inst, qid)
        except FileNotFoundError:
            continue
        if re.search(r"(?m)^from$", env):
            out.append((qid, env, msg))
    return out


def parse_dsn(msg):
    m = email.message_from_bytes(msg, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    # per-message fields, then one block per recipient
    blocks = parts[1].get_payload()
    return m, parts, blocks


def test_delivered_and_removed(conf_instance):
    inst = conf_instance
    srv = start(inst)
    try:
        qid = smtp_send(inst, ["demo@example.test", "bob@example.test"],
                        body="..starts with dots\r\n.\r\n.x\r\n")
        wait_for(lambda: len(srv.delivered) == 2, what="delivery")
        inst.wait_log(r"id=%s event=removed" % qid)
        assert qid not in spool_ids(inst)
        assert qid not in spool_ids(inst, "status")
        # one transaction with both mailboxes; dot-stuffing undone exactly
        assert len(srv.transactions) == 1
        assert sorted(srv.transactions[0]["rcpts"]) == [
            "bob@example.test", "demo@example.test"]
        data = srv.delivered[0][1]
        assert data.startswith(b"Received: ")
        assert data.endswith(b"\r\n\r\n..starts with dots\r\n.\r\n.x\r\n")
        log = inst.log()
        assert re.search(r"id=%s event=delivered rcpt=<demo@example.test> "
                         r"relay=lmtp status=2\.0\.0" % qid, log)
        assert srv.mails[0].startswith("MAIL FROM:<alice@remote.example>")
    finally:
        srv.close()


def test_alias_targets_grouped(conf_instance):
    """team and bobby are aliases of bob: one mailbox, one RCPT."""
    inst = conf_instance
    srv = start(inst)
    try:
        qid = smtp_send(inst, ["team@example.test", "bobby@example.test"])
        inst.wait_log(r"id=%s event=removed" % qid)
        assert [d[0] for d in srv.delivered] == ["bob@example.test"]
    finally:
        srv.close()


def test_452_then_250(conf_instance):
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "452 4.2.2 Mailbox full"
                if n == 1 else "250 2.0.0 Ok")
    try:
        qid = smtp_send(inst, ["demo@example.test"])
        inst.wait_log(r"id=%s event=removed" % qid)
        assert len(srv.delivered) == 1
        assert srv.tries["demo@example.test"] == 2
        log = inst.log()
        m = re.search(r"id=%s event=deferred rcpt=<demo@example.test> "
                      r"status=4\.2\.2 attempts=1 next=([0-9.]+) "
                      r"reason=\"452 4\.2\.2 Mailbox full\"" % qid, log)
        assert m and abs(float(m.group(1)) - 0.2) < 0.05, log
        assert "id=%s event=bounce" % qid not in log
    finally:
        srv.close()


def test_550_bounces_to_sender(conf_instance):
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "550 5.1.1 No such mailbox"
                if rc.startswith("bob") else "250 2.0.0 Ok")
    try:
        qid = smtp_send(inst, ["demo@example.test", "bob@example.test"],
                        mail_params=" RET=HDRS ENVID=env+2B1",
                        rcpt_params=" ORCPT=rfc822;orig+2Bx@example.test",
                        subject="bounce me")
        inst.wait_log(r"id=%s event=removed" % qid)
        m = re.search(r"id=%s event=bounce bounce_id=([0-9a-f]{16})" % qid,
                      inst.log())
        assert m
        bid = m.group(1)
        assert len([1 for d in srv.delivered]) == 1
        # the bounce waits for remote delivery (alice is remote, and the
        # tests' resolver answers nothing: DNS fails, 4.4.3, retried)
        inst.wait_log(r"id=%s event=deferred rcpt=<alice@remote.example> "
                      r"status=4\.4\.3" % bid)
        env, msg = spool_env(inst, bid)
        assert re.search(r"(?m)^from$", env)
        assert re.search(r"(?m)^rcpt alice@remote.example", env)
        dsn, parts, blocks = parse_dsn(msg)
        assert dsn["To"] == "<alice@remote.example>"
        assert dsn["Message-ID"] and dsn["Date"]
        assert "MAILER-DAEMON@" + HOST in dsn["From"]
        per_msg, rcpts = blocks[0], blocks[1:]
        assert per_msg["Reporting-MTA"] == "dns; " + HOST
        assert per_msg["Original-Envelope-Id"] == "env+1"
        assert per_msg["Arrival-Date"]
        assert len(rcpts) == 1
        r = rcpts[0]
        assert r["Final-Recipient"] == "rfc822; bob@example.test"
        assert r["Original-Recipient"] == "rfc822; orig+x@example.test"
        assert r["Action"] == "failed"
        assert r["Status"] == "5.1.1"
        assert r["Diagnostic-Code"] == "smtp; 550 5.1.1 No such mailbox"
        assert parts[2].get_content_type() == "text/rfc822-headers"
        hdrs = parts[2].get_payload()
        assert "Subject: bounce me" in hdrs
        assert "Hello." not in hdrs
        assert "<bob@example.test>: 550 5.1.1" in parts[0].get_payload()
        # one bounce per message and round
        assert len(bounces(inst)) == 1
    finally:
        srv.close()


def test_ret_full_returns_message(conf_instance):
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "554 5.7.1 Refused")
    try:
        qid = smtp_send(inst, ["demo@example.test"], mail_params=" RET=FULL",
                        subject="full")
        inst.wait_log(r"id=%s event=bounce" % qid)
        (bid, env, msg), = wait_for(lambda: bounces(inst), what="bounce")
        _, parts, blocks = parse_dsn(msg)
        assert "Original-Envelope-Id" not in blocks[0]
        assert "Original-Recipient" not in blocks[1]
        assert parts[2].get_content_type() == "message/rfc822"
        inner = parts[2].get_payload()[0]
        assert inner["Subject"] == "full"
        assert "Hello." in inner.get_payload()
    finally:
        srv.close()


def test_null_sender_550_no_bounce(conf_instance):
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "550 5.1.1 No")
    try:
        qid = smtp_send(inst, ["demo@example.test"], mail="")
        inst.wait_log(r"id=%s event=removed" % qid)
        log = inst.log()
        assert re.search(r"id=%s event=failed rcpt=<demo@example.test> "
                         r"status=5\.1\.1" % qid, log)
        assert "id=%s event=bounce-dropped" % qid in log
        assert "id=%s event=bounce " % qid not in log
        assert bounces(inst) == []
    finally:
        srv.close()


def test_notify_never_no_bounce(conf_instance):
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "550 5.1.1 No")
    try:
        qid = smtp_send(inst, ["demo@example.test"],
                        rcpt_params=" NOTIFY=NEVER")
        inst.wait_log(r"id=%s event=removed" % qid)
        assert "event=bounce" not in inst.log()
        assert bounces(inst) == []
    finally:
        srv.close()


def test_notify_delay_only_no_failure_dsn(conf_instance):
    """NOTIFY=DELAY without FAILURE: a failure is not reported."""
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "550 5.1.1 No")
    try:
        qid = smtp_send(inst, ["demo@example.test"],
                        rcpt_params=" NOTIFY=DELAY")
        inst.wait_log(r"id=%s event=removed" % qid)
        assert bounces(inst) == []
    finally:
        srv.close()


def test_notify_success_dsn(conf_instance):
    inst = conf_instance
    srv = start(inst)
    try:
        qid = smtp_send(inst, ["demo@example.test", "bob@example.test"],
                        rcpt_params=" NOTIFY=SUCCESS,FAILURE")
        inst.wait_log(r"id=%s event=removed" % qid)
        (bid, env, msg), = wait_for(lambda: bounces(inst), what="dsn")
        dsn, parts, blocks = parse_dsn(msg)
        assert dsn["Subject"] == "Successful Mail Delivery Report"
        got = sorted((b["Final-Recipient"], b["Action"], b["Status"])
                     for b in blocks[1:])
        assert got == [("rfc822; bob@example.test", "delivered", "2.0.0"),
                       ("rfc822; demo@example.test", "delivered", "2.0.0")]
    finally:
        srv.close()


def test_local_sender_gets_bounce_delivered(conf_instance):
    """A bounce is a message like any other: to a local sender it is
    delivered over LMTP, from <>."""
    inst = conf_instance
    srv = start(inst, policy=lambda rc, n: "550 5.2.1 Disabled"
                if rc.startswith("bob") else "250 2.0.0 Ok")
    try:
        qid = smtp_send(inst, ["bob@example.test"], mail="demo@example.test")
        m = inst.wait_log(r"id=%s event=bounce bounce_id=([0-9a-f]{16})"
                          % qid)
        inst.wait_log(r"id=%s event=removed" % m[0])
        (rc, data, mail), = srv.delivered
        assert rc == "demo@example.test" and mail == ""
        _, _, blocks = parse_dsn(data)
        assert blocks[1]["Status"] == "5.2.1"
    finally:
        srv.close()


def test_lmtp_down_then_up(conf_instance):
    """No LMTP server: deferred with backoff; delivered once it is up."""
    inst = conf_instance
    lbtest.smtp_users(inst)
    inst.start()
    lbtest.hold_delivery(inst)      # the MDA's socket is gone
    qid = smtp_send(inst, ["demo@example.test"])
    inst.wait_log(r"id=%s event=deferred .*attempts=5 " % qid)
    srv = Lmtp(lmtp_path(inst))
    try:
        inst.wait_log(r"id=%s event=removed" % qid)
        assert len(srv.delivered) == 1
        att = [float(x) for x in re.findall(
            r"id=%s event=deferred .*?next=([0-9.]+)" % qid, inst.log())]
        # 0.2, 0.4, 0.8, then the 1s cap
        assert att[:5] == pytest.approx([0.2, 0.4, 0.8, 1, 1], abs=0.05)
        assert all(a <= 1.0 + 1e-6 for a in att)
    finally:
        srv.close()


def test_lifetime_expiry_bounces_547():
    inst = lbtest.Instance(extra_conf="queued.retry_min = 200ms\n"
                                      "queued.retry_max = 1s\n"
                                      "queued.lifetime = 2s\n")
    try:
        srv = start(inst, policy=lambda rc, n: "452 4.2.2 Mailbox full")
        try:
            qid = smtp_send(inst, ["demo@example.test"])
            inst.wait_log(r"id=%s event=failed rcpt=<demo@example.test> "
                          r"status=5\.4\.7" % qid, timeout=30)
            inst.wait_log(r"id=%s event=removed" % qid)
            (bid, env, msg), = wait_for(lambda: bounces(inst), what="dsn")
            _, _, blocks = parse_dsn(msg)
            assert blocks[1]["Action"] == "failed"
            assert blocks[1]["Status"] == "5.4.7"
            assert "delivery time expired" in blocks[1]["Diagnostic-Code"]
            assert srv.tries["demo@example.test"] >= 3
        finally:
            srv.close()
    finally:
        inst.cleanup()


def test_kill9_mid_delivery_at_least_once(conf_instance):
    """kill -9 queued while transactions are in flight: after the restart
    every message is delivered, and only the in-flight ones twice."""
    inst = conf_instance
    srv = start(inst, delay=0.4)
    try:
        n = 12
        ids = [smtp_send(inst, ["demo@example.test"], subject="k%d" % i,
                         msgid="<k%d@client.test>" % i) for i in range(n)]
        wait_for(lambda: len(srv.delivered) >= 3, what="some deliveries")
        pid, = inst.daemon_pids("queued")
        os.kill(pid, signal.SIGKILL)
        inflight_at_kill = None
        time.sleep(0.2)
        with srv.lock:
            inflight_at_kill = {t["msgid"] for t in srv.transactions
                                if t["state"] != "done"}
        inst.wait_log(r"event=daemon-start daemon=queued", count=2,
                      timeout=30)
        for qid in ids:
            inst.wait_log(r"id=%s event=removed" % qid, timeout=60)
        got = {}
        for rc, data, _ in srv.delivered:
            mid = re.search(rb"Message-ID: (<[^>]*>)", data).group(1).decode()
            got[mid] = got.get(mid, 0) + 1
        assert set(got) == {"<k%d@client.test>" % i for i in range(n)}
        dups = {m for m, c in got.items() if c > 1}
        assert all(c <= 2 for c in got.values()), got
        assert dups <= inflight_at_kill, (dups, inflight_at_kill)
        assert len(inflight_at_kill) <= 16  # queued.lmtp_sessions default
        assert spool_ids(inst) == [] and spool_ids(inst, "status") == []
    finally:
        srv.close()


def test_sigterm_finishes_transactions_in_flight(conf_instance):
    """SIGTERM: no new attempt, but the transactions under way finish and
    are recorded, so nothing is delivered twice; queued exits 0 (and
    clean under ASan)."""
    inst = conf_instance
    srv = start(inst, delay=1.0)
    try:
        qid = smtp_send(inst, ["demo@example.test", "bob@example.test"])
        wait_for(lambda: srv.transactions, what="a transaction")
        assert inst.stop() == 0
        log = inst.log()
        assert "id=%s event=removed" % qid in log
        assert re.search(r"event=daemon-exit daemon=queued pid=\d+ "
                         r"status=0 ", log)
        assert len(srv.delivered) == 2
    finally:
        srv.close()


def test_authd_down_defers_then_delivers(conf_instance):
    """authd gone (killed; letterboxd restarts it after master.restart_min
    = 1s): the lookup waits for it (ipcc reconnects) or fails
    temporarily and is retried; either way nothing is lost and the
    message is delivered once."""
    import test_queued as tq
    inst = conf_instance
    srv = start(inst)
    try:
        pid, = inst.daemon_pids("authd")
        # smtpd's RCPT lookup needs authd too: commit behind its back
        c = tq.QueueClient(os.path.join(inst.inst, "state", "run",
                                        "queued.sock"))
        qid, fd = c.create()
        data = tq.envelope(qid, rcpts=("demo@example.test",)) + \
            b"Subject: x\r\nMessage-ID: <authd@x>\r\n\r\nbody\r\n"
        tq.write_all(fd, data)
        os.close(fd)
        os.kill(pid, signal.SIGKILL)
        inst.wait_log(r"event=daemon-exit daemon=authd pid=%d" % pid)
        assert c.commit(qid, len(data))[0] == tq.IPC_QUEUE_COMMITTED
        c.close()
        inst.wait_log(r"id=%s event=removed" % qid, timeout=30)
        assert not re.search(r"id=%s event=(failed|bounce)" % qid,
                             inst.log())
        assert sum(1 for d in srv.delivered if b"<authd@x>" in d[1]) == 1
    finally:
        srv.close()


# ---------------------------------------------------------------------------
# End to end: SMTP in on port 25, queued, the real letterbox-mda, Maildir.

def maildir_new(inst, user, domain="example.test"):
    d = os.path.join(inst.inst, "state", "mail", domain, user, "new")
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


@pytest.fixture
def e2e(conf_instance):
    lbtest.smtp_users(conf_instance)
    conf_instance.start()
    yield conf_instance


def test_e2e_smtp_to_maildir(e2e):
    inst = e2e
    qid = smtp_send(inst, ["demo@example.test", "team@example.test",
                           "bobby@example.test"], subject="e2e",
                    body=".dot line\r\nend\r\n")
    inst.wait_log(r"id=%s event=removed" % qid)
    demo, bob = maildir_new(inst, "demo"), maildir_new(inst, "bob")
    # team and bobby are both bob: one copy
    assert len(demo) == 1 and len(bob) == 1, (demo, bob)
    for m, who in ((demo[0], b"demo"), (bob[0], b"bob")):
        # the MDA adds Return-Path and Delivered-To above our Received:
        assert m.startswith(b"Return-Path: <alice@remote.example>\r\n"
                            b"Delivered-To: " + who + b"@example.test\r\n"
                            b"Received: "), m[:200]
        assert b"\nSubject: e2e\r\n" in m
        assert m.endswith(b"\r\n\r\n.dot line\r\nend\r\n")
    assert spool_ids(inst) == [] and spool_ids(inst, "status") == []
    log = inst.log()
    for r in ("demo", "team", "bobby"):
        assert re.search(r"id=%s event=delivered rcpt=<%s@example.test> "
                         r"relay=lmtp status=2\.0\.0" % (qid, r), log)


def test_e2e_bounce_lands_in_senders_maildir(e2e):
    """A recipient that is unknown by delivery time (committed straight to
    queued, as if the user had been deleted after SMTP said 250) fails
    5.1.1; the DSN is queued and delivered into the local sender's
    Maildir."""
    import test_queued as tq
    inst = e2e
    c = tq.QueueClient(os.path.join(inst.inst, "state", "run",
                                    "queued.sock"))
    qid, fd = c.create()
    data = tq.envelope(qid, rcpts=("gone@example.test", "bob@example.test"),
                       sender="demo@example.test") + \
        b"Subject: to a deleted user\r\nMessage-ID: <gone@x>\r\n\r\nhi\r\n"
    tq.write_all(fd, data)
    os.close(fd)
    assert c.commit(qid, len(data))[0] == tq.IPC_QUEUE_COMMITTED
    c.close()
    bid = inst.wait_log(r"id=%s event=bounce bounce_id=([0-9a-f]{16})"
                        % qid)[0]
    inst.wait_log(r"id=%s event=removed" % bid)
    assert len(maildir_new(inst, "bob")) == 1
    demo = maildir_new(inst, "demo")
    assert len(demo) == 1
    _, parts, blocks = parse_dsn(demo[0])
    (r,) = blocks[1:]
    assert r["Final-Recipient"] == "rfc822; gone@example.test"
    assert r["Action"] == "failed" and r["Status"] == "5.1.1"
    assert "Subject: to a deleted user" in parts[2].get_payload()
    assert spool_ids(inst) == []


def test_e2e_quota_full_then_raised(e2e):
    """The MDA answers 452 4.2.2 for demo (over quota) and 250 for bob in
    the same transaction: bob is recorded delivered, demo deferred; once
    the quota is raised the retry delivers to demo only."""
    inst = e2e
    r = inst.cli("quota", "set", "demo@example.test", "1K")
    assert r.returncode == 0, r.stderr
    qid = smtp_send(inst, ["demo@example.test", "bob@example.test"],
                    body="x" * 3000 + "\r\n")
    inst.wait_log(r"id=%s event=deferred rcpt=<demo@example.test> "
                  r"status=4\.2\.2" % qid)
    assert len(maildir_new(inst, "bob")) == 1
    r = inst.cli("quota", "set", "demo@example.test", "100M")
    assert r.returncode == 0, r.stderr
    inst.wait_log(r"id=%s event=removed" % qid, timeout=30)
    assert len(maildir_new(inst, "demo")) == 1
    assert len(maildir_new(inst, "bob")) == 1


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
def test_e2e_swaks_tag_alias_catchall_unknown(e2e):
    """swaks on port 25, one message per address form, each to its
    Maildir through the queue and the MDA; an unknown local user is
    refused at RCPT (550 5.1.1), so nothing bounces later."""
    inst = e2e
    cases = (("demo+lists@example.test", "demo"),   # plus-addressing
             ("team@example.test", "bob"),          # alias
             ("whoever@catch.test", "demo"),        # catch-all
             ("bob@example.test", "bob"))
    qids = []
    for i, (rcpt, _) in enumerate(cases):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port",
             str(inst.port("smtp")), "--from", "alice@remote.example",
             "--to", rcpt, "--helo", "swaks.test",
             "--header", "Subject: swaks e2e %d" % i,
             "--header", "Message-ID: <swaks%d@remote.example>" % i],
            capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        qids.append(queued_id(r.stdout))
    for qid in qids:
        inst.wait_log(r"id=%s event=removed" % qid)
    demo, bob = maildir_new(inst, "demo"), maildir_new(inst, "bob")
    assert len(demo) == 2 and len(bob) == 2, (demo, bob)
    for i, (rcpt, who) in enumerate(cases):
        box = demo if who == "demo" else bob
        [m] = [m for m in box
               if b"Message-ID: <swaks%d@remote.example>" % i in m]
        assert m.startswith(b"Return-Path: <alice@remote.example>\r\n"
                            b"Delivered-To: " + who.encode() +
                            b"@example.test\r\nReceived: from swaks.test")
        assert b"\r\nSubject: swaks e2e %d\r\n" % i in m
    # the index has them too
    r = subprocess.run([lbtest.prog("letterbox-mda"), "-c", inst.conf,
                        "index", "demo@example.test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.search(r"mailbox name=INBOX uidvalidity=\d+ uidnext=3 "
                     r"messages=2 unseen=2 ", r.stdout), r.stdout
    # unknown local user: 550 5.1.1 at RCPT time, no queue file
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(inst.port("smtp")),
         "--from", "alice@remote.example", "--to", "nosuch@example.test"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "<** 550 5.1.1 " in r.stdout, r.stdout
    assert spool_ids(inst) == []
