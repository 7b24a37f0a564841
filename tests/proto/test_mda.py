"""letterbox-mda: LMTP on RUN_DIR/lmtp.sock and the one-shot deliver, checked
against the Maildir files and the index (docs/mda.md)."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time

import pytest

import lbtest

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN


class LmtpConn(lbtest.RawConn):
    """RawConn over the LMTP unix socket: bytes as given, replies read one
    by one (smtplib.LMTP reads only one reply after DATA)."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.rbuf = b""
        self.timeout = timeout

    def hello(self):
        code, _ = self.reply()
        assert code == 220
        self.cmd("LHLO test.client")
        code, lines = self.reply()
        assert code == 250, lines
        return lines

    def transaction(self, sender, rcpts, msg, size=None):
        """MAIL, RCPTs, DATA pipelined.  Returns (rcpt replies, data
        replies: one per accepted RCPT, or the single DATA refusal)."""
        mail = "MAIL FROM:<%s>" % sender
        if size is not None:
            mail += " SIZE=%d" % size
        out = [mail] + ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]
        self.send("".join(line + "\r\n" for line in out))
        assert self.reply_line().startswith("250 ")
        rr = [self.reply_line() for _ in rcpts]
        d = self.reply_line()
        if not d.startswith("354"):
            return rr, [d]
        body = msg.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        self.send(body + b".\r\n")
        n = sum(1 for r in rr if r.startswith("2"))
        return rr, [self.reply_line() for _ in range(n)]


def lmtp_sock(inst):
    return os.path.join(inst.inst, "state", "run", "lmtp.sock")


def user_dir(inst, user, domain=DOMAIN):
    return os.path.join(inst.inst, "state", "mail", domain, user)


def files(inst, user, sub="new", domain=DOMAIN):
    d = os.path.join(user_dir(inst, user, domain), sub)
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def read_new(inst, user, domain=DOMAIN):
    return [open(os.path.join(user_dir(inst, user, domain), "new", f),
                 "rb").read() for f in files(inst, user, domain=domain)]


def mda(inst, *args, input=None, timeout=60):
    return subprocess.run([lbtest.prog("letterbox-mda"), "-c", inst.conf] +
                          list(args), input=input, capture_output=True,
                          timeout=timeout, env=inst.env())


def index(inst, address):
    """The `index` diagnostic: ({mailbox: {counters}}, [msg dicts])."""
    r = mda(inst, "index", address)
    assert r.returncode == 0, r.stderr
    boxes, msgs = {}, []
    for line in r.stdout.decode().splitlines():
        kind, _, rest = line.partition(" ")
        kv = dict(x.split("=", 1) for x in rest.split(" ") if "=" in x)
        if kind == "mailbox":
            boxes[kv["name"]] = kv
        elif kind == "msg":
            msgs.append(kv)
    return boxes, msgs


def message(subject, body="hello\r\n", extra=""):
    return ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n%s\r\n%s"
            % (DEMO, subject, extra, body)).encode()


@pytest.fixture
def mdainst(instance):
    """Started, with bob, team -> bob, pair -> demo + bob, and the
    catch-all @catch.test -> demo."""
    lbtest.smtp_users(instance)
    r = instance.cli("alias", "add", "pair@" + DOMAIN, DEMO)
    assert r.returncode == 0, r.stderr
    r = instance.cli("alias", "add", "pair@" + DOMAIN, "bob@" + DOMAIN)
    assert r.returncode == 0, r.stderr
    instance.start()
    yield instance
    # a clean stop: no sanitizer report, the mda exits 0 (no leaks)
    if instance.proc is not None:
        assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"event=daemon-exit daemon=mda pid=\d+ status=[1-9]",
                         log), log[-3000:]


def test_mda_lhlo_and_delivery(mdainst):
    c = LmtpConn(lmtp_sock(mdainst))
    assert c.reply()[0] == 220
    # RFC 2033 4.1: EHLO and HELO get no positive reply
    c.cmd("EHLO x")
    assert c.reply_line().startswith("500 ")
    c.cmd("HELO x")
    assert c.reply_line().startswith("500 ")
    c.cmd("MAIL FROM:<a@b.example>")
    assert c.reply_line().startswith("503 ")
    c.cmd("LHLO x")
    code, lines = c.reply()
    assert code == 250
    for ext in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME",
                "SMTPUTF8"):
        assert ext in lines
    assert any(l.startswith("SIZE ") for l in lines)
    msg = message("first") + b"..leading dot line\r\n"
    rr, dr = c.transaction("alice@example.org", [DEMO], msg, size=len(msg))
    assert rr == ["250 2.1.5 Ok"]
    assert len(dr) == 1 and dr[0].startswith("250 2.0.0 Ok: delivered to "
                                              "demo@example.test INBOX "
                                              "uid 1"), dr
    c.cmd("QUIT")
    assert c.reply_line().startswith("221")
    c.close()
    [data] = read_new(mdainst, "demo")
    want = (b"Return-Path: <alice@example.org>\r\nDelivered-To: "
            b"demo@example.test\r\n" + msg)
    assert data == want
    [name] = files(mdainst, "demo")
    assert name.endswith(",S=%d" % len(want))
    boxes, msgs = index(mdainst, DEMO)
    assert boxes["INBOX"]["messages"] == "1"
    assert boxes["INBOX"]["size"] == str(len(want))
    [m] = msgs
    assert m["uid"] == "1" and m["file"] == "new/" + name
    assert m["size"] == str(len(want)) and m["flags"] == "-"
    # the cache blob describes the bytes as stored, prefix included
    assert m["cache"] == "ok" and m["end_off"] == str(len(want))
    assert m["body_off"] == str(want.index(b"\r\n\r\n") + 4)
    assert abs(int(m["internaldate"]) - time.time()) < 60
    # nothing left behind in tmp/ or mail/.tmp
    assert files(mdainst, "demo", "tmp") == []
    assert os.listdir(os.path.join(mdainst.inst, "state", "mail",
                                   ".tmp")) == []


def test_mda_smtplib_lmtp(mdainst):
    c = smtplib.LMTP(lmtp_sock(mdainst))
    c.ehlo("client")
    assert c.has_extn("pipelining") and c.has_extn("size")
    refused = c.sendmail("", [DEMO], message("null sender"))
    assert refused == {}
    c.quit()
    [data] = read_new(mdainst, "demo")
    assert data.startswith(b"Return-Path: <>\r\nDelivered-To: "
                           b"demo@example.test\r\nFrom: ")


def test_mda_replies_per_rcpt_in_order(mdainst):
    """An alias to two users, a plain user, an unknown one: one reply
    per accepted RCPT after the data, in RCPT order (RFC 2033 4.2)."""
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    rr, dr = c.transaction("alice@example.org",
                           ["pair@" + DOMAIN, "nobody@" + DOMAIN,
                            "bob@" + DOMAIN], message("two"))
    assert rr[0] == "250 2.1.5 Ok"
    assert rr[1].startswith("550 5.1.1 ")
    assert rr[2] == "250 2.1.5 Ok"
    assert len(dr) == 2
    # the two copies for bob are delivered in parallel: either gets uid 1
    m = re.match(r"250 2\.0\.0 Ok: delivered to bob@example\.test INBOX "
                 r"uid ([12]), demo@example\.test INBOX uid 1$", dr[0])
    assert m, dr[0]
    assert dr[1] == ("250 2.0.0 Ok: delivered to bob@example.test INBOX "
                     "uid %d" % (3 - int(m.group(1))))
    # the same connection goes on
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.close()
    [d] = read_new(mdainst, "demo")
    assert b"Delivered-To: pair@example.test\r\n" in d
    bobs = read_new(mdainst, "bob")
    assert len(bobs) == 2
    assert sorted(b.split(b"\r\n")[1] for b in bobs) == [
        b"Delivered-To: bob@example.test", b"Delivered-To: pair@example.test"]
    boxes, msgs = index(mdainst, "bob@" + DOMAIN)
    assert boxes["INBOX"]["messages"] == "2"
    assert [m["uid"] for m in msgs] == ["1", "2"]


def test_mda_tag_catchall_unknown_remote(mdainst):
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    rr, dr = c.transaction("alice@example.org",
                           ["demo+lists@" + DOMAIN, "whoever@catch.test",
                            "x@elsewhere.example"], message("tags"))
    assert rr[:2] == ["250 2.1.5 Ok", "250 2.1.5 Ok"]
    assert rr[2].startswith("550 5.1.1 ")
    assert [d[:9] for d in dr] == ["250 2.0.0", "250 2.0.0"]
    c.close()
    got = sorted(d.split(b"\r\n")[1] for d in read_new(mdainst, "demo"))
    assert got == [b"Delivered-To: demo+lists@example.test",
                   b"Delivered-To: whoever@catch.test"]
    # no mailbox was made for the catch-all domain itself
    assert not os.path.exists(os.path.join(mdainst.inst, "state", "mail",
                                           "catch.test"))


def test_mda_protocol_errors(mdainst):
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    c.cmd("MAIL FROM:<alice@example.org>")
    assert c.reply_line().startswith("250")
    c.cmd("RCPT TO:<nobody@example.test>")
    assert c.reply_line().startswith("550 5.1.1")
    # RFC 2033 4.2: DATA without a successful RCPT is 503
    c.cmd("DATA")
    assert c.reply_line().startswith("503 ")
    c.cmd("RSET")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.cmd("MAIL FROM:<alice@example.org> FOO=BAR")
    assert c.reply_line().startswith("555 ")
    c.cmd("MAIL FROM:<alice@example.org> BODY=8BITMIME SMTPUTF8")
    assert c.reply_line().startswith("250")
    c.cmd("RCPT TO:<%s>" % DEMO)
    assert c.reply_line().startswith("250")
    c.cmd("RCPT TO:<bob@example.test>")
    assert c.reply_line().startswith("250")
    c.cmd("DATA")
    assert c.reply_line().startswith("354")
    # a bare LF: refused for every recipient, nothing delivered
    c.send(b"Subject: x\r\n\r\nbad\nline\r\n.\r\n")
    assert c.reply_line().startswith("550 5.6.0")
    assert c.reply_line().startswith("550 5.6.0")
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.close()
    assert files(mdainst, "demo") == [] and files(mdainst, "bob") == []


def test_mda_quota(mdainst):
    r = mdainst.cli("quota", "set", DEMO, "1K")
    assert r.returncode == 0, r.stderr
    big = message("big", body="x" * 2000 + "\r\n")
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    # declared: refused at RCPT
    rr, dr = c.transaction("alice@example.org", [DEMO], big, size=len(big))
    assert rr[0].startswith("452 4.2.2"), rr
    assert dr[0].startswith("503 ")
    c.cmd("RSET")
    assert c.reply_line().startswith("250")
    # not declared: refused after the data, for that recipient only
    rr, dr = c.transaction("alice@example.org", [DEMO, "bob@" + DOMAIN],
                           big)
    assert rr == ["250 2.1.5 Ok", "250 2.1.5 Ok"]
    assert dr[0].startswith("452 4.2.2"), dr
    assert dr[1].startswith("250 2.0.0"), dr
    c.close()
    assert files(mdainst, "demo") == [] and files(mdainst, "demo", "tmp") == []
    assert len(files(mdainst, "bob")) == 1
    boxes, msgs = index(mdainst, DEMO)
    assert boxes["INBOX"]["messages"] == "0" and msgs == []
    # a small one still fits
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    rr, dr = c.transaction("alice@example.org", [DEMO], message("small"))
    assert dr[0].startswith("250 2.0.0"), dr
    c.close()
    # the one-shot says "try later" (75) for a full mailbox
    r = mda(mdainst, "deliver", DEMO, input=big)
    assert r.returncode == 75, r.stderr
    assert len(files(mdainst, "demo")) == 1


def lmtp_send(inst, rcpt, subject):
    c = LmtpConn(lmtp_sock(inst))
    c.hello()
    rr, dr = c.transaction("alice@example.org", [rcpt], message(subject))
    c.close()
    assert dr[0].startswith("250 2.0.0"), (rr, dr)
    return int(dr[0].rsplit(" ", 1)[1])


def test_mda_reconcile_hand_dropped(mdainst):
    assert lmtp_send(mdainst, DEMO, "one") == 1
    # another program drops a file into new/ (LF line ends, no ,S=)
    new = os.path.join(user_dir(mdainst, "demo"), "new")
    path = os.path.join(new, "1700000000.handmade.host")
    with open(path, "wb") as f:
        f.write(b"Subject: by hand\n\nhi\n")
    st = os.stat(new)
    os.chown(path, st.st_uid, st.st_gid)
    time.sleep(1.1)     # mtimes a second old are remembered: be sure
    assert lmtp_send(mdainst, DEMO, "two") == 2
    boxes, msgs = index(mdainst, DEMO)
    assert boxes["INBOX"]["messages"] == "3"
    byfile = {m["file"]: m for m in msgs}
    assert byfile["new/1700000000.handmade.host"]["uid"] == "3"
    assert byfile["new/1700000000.handmade.host"]["cache"] == "none"
    assert sorted(m["uid"] for m in msgs) == ["1", "2", "3"]


def test_mda_index_rebuild(mdainst):
    for i in range(3):
        lmtp_send(mdainst, DEMO, "m%d" % i)
    boxes, msgs = index(mdainst, DEMO)
    old_uv = boxes["INBOX"]["uidvalidity"]
    # a client read the first: moved to cur/ with :2,S (as imapd would)
    root = user_dir(mdainst, "demo")
    first = sorted(files(mdainst, "demo"))[0]
    os.rename(os.path.join(root, "new", first),
              os.path.join(root, "cur", first + ":2,FS"))
    os.unlink(os.path.join(root, "index.lmdb"))
    lmtp_send(mdainst, DEMO, "after")
    boxes, msgs = index(mdainst, DEMO)
    assert boxes["INBOX"]["uidvalidity"] != old_uv
    assert boxes["INBOX"]["messages"] == "4"
    assert sorted(int(m["uid"]) for m in msgs) == [1, 2, 3, 4]
    flags = {m["file"]: m["flags"] for m in msgs}
    assert flags["cur/" + first + ":2,FS"] == "FS"
    assert sum(1 for f in flags.values() if f == "-") == 3
    assert int(boxes["INBOX"]["unseen"]) == 3
    assert "event=index-replaced" in mdainst.log()


def test_mda_deliver_oneshot(mdainst):
    msg = b"Subject: one-shot\nTo: demo@example.test\n\nline one\nline two\n"
    r = mda(mdainst, "deliver", "-f", "alice@example.org", DEMO, input=msg)
    assert r.returncode == 0, r.stderr
    [data] = read_new(mdainst, "demo")
    assert data == (b"Return-Path: <alice@example.org>\r\nDelivered-To: "
                    b"demo@example.test\r\n" + msg.replace(b"\n", b"\r\n"))
    boxes, msgs = index(mdainst, DEMO)
    assert msgs[0]["cache"] == "ok" and msgs[0]["size"] == str(len(data))
    r = mda(mdainst, "deliver", "nobody@" + DOMAIN, input=msg)
    assert r.returncode == 67, r.stderr
    r = mda(mdainst, "deliver", input=msg)
    assert r.returncode == 64
    r = mda(mdainst, "deliver", "not an address", input=msg)
    assert r.returncode == 64
    # owned files: the one-shot ran as the mail user, not root
    st = os.stat(os.path.join(user_dir(mdainst, "demo"), "new",
                              files(mdainst, "demo")[0]))
    if os.geteuid() == 0:
        assert st.st_uid != 0
    # authd down: try again later
    mdainst.stop()
    r = mda(mdainst, "deliver", DEMO, input=msg)
    assert r.returncode == 75, r.stderr
    assert len(files(mdainst, "demo")) == 1


def test_mda_concurrent_one_user(mdainst):
    """10 LMTP clients x 20 messages to one user: UIDs 1..200, each
    once, and the counters exact."""
    errors, uids = [], []
    lock = threading.Lock()

    def client(n):
        try:
            c = LmtpConn(lmtp_sock(mdainst))
            c.hello()
            for i in range(20):
                rr, dr = c.transaction("alice@example.org", [DEMO],
                                       message("c%d-%d" % (n, i)))
                assert dr[0].startswith("250 2.0.0"), dr
                with lock:
                    uids.append(int(dr[0].rsplit(" ", 1)[1]))
            c.close()
        except Exception as e:      # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert errors == []
    assert sorted(uids) == list(range(1, 201))
    assert len(files(mdainst, "demo")) == 200
    boxes, msgs = index(mdainst, DEMO)
    assert boxes["INBOX"]["messages"] == "200"
    assert boxes["INBOX"]["uidnext"] == "201"
    assert sorted(int(m["uid"]) for m in msgs) == list(range(1, 201))
    total = sum(os.path.getsize(os.path.join(user_dir(mdainst, "demo"),
                                             "new", f))
                for f in files(mdainst, "demo"))
    assert boxes["INBOX"]["size"] == str(total)
    assert all(m["cache"] == "ok" for m in msgs)


def test_mda_kill9_keeps_acknowledged(mdainst):
    """SIGKILL the mda during a burst: every recipient that got 250 has
    its file and its index entry."""
    acked, stop = [], threading.Event()
    lock = threading.Lock()

    def client(n):
        i = 0
        while not stop.is_set():
            try:
                c = LmtpConn(lmtp_sock(mdainst), timeout=10)
                c.hello()
                while not stop.is_set():
                    subj = "k%d-%d" % (n, i)
                    i += 1
                    rr, dr = c.transaction("alice@example.org", [DEMO],
                                           message(subj))
                    if dr and dr[0] and dr[0].startswith("250 2.0.0"):
                        with lock:
                            acked.append((subj,
                                          int(dr[0].rsplit(" ", 1)[1])))
                c.close()
            except (OSError, AssertionError, AttributeError, ValueError):
                time.sleep(0.05)    # mda gone: connect again

    ts = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in ts:
        t.start()
    try:
        for _ in range(3):
            time.sleep(0.7)
            [pid] = mdainst.daemon_pids("mda")
            os.kill(pid, signal.SIGKILL)
            since = mdainst.log_size()
            mdainst.wait_log(r"event=daemon-ready daemon=mda", since=since,
                             timeout=30)
        time.sleep(0.7)
    finally:
        stop.set()
        for t in ts:
            t.join(60)
    print("acked=%d" % len(acked))
    assert len(acked) > 10, acked
    root = user_dir(mdainst, "demo")
    # the next delivery reconciles anything linked but not indexed
    time.sleep(1.1)
    lmtp_send(mdainst, DEMO, "final")
    boxes, msgs = index(mdainst, DEMO)
    byuid = {int(m["uid"]): m for m in msgs}
    # UIDs are unique within the mailbox, and no acked one is lost
    assert len(byuid) == len(msgs)
    for subj, uid in acked:
        m = byuid[uid]
        with open(os.path.join(root, m["file"]), "rb") as f:
            assert b"Subject: %s\r\n" % subj.encode() in f.read()
    on_disk = len(files(mdainst, "demo"))
    assert int(boxes["INBOX"]["messages"]) == on_disk == len(msgs)


def test_mda_pipelined_after_data_and_stop(mdainst):
    """Commands pipelined behind the final dot wait for the per-RCPT
    replies; at SIGTERM an idle session gets 421 and the mda exits 0."""
    c = LmtpConn(lmtp_sock(mdainst))
    c.hello()
    c.send(b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
    assert [c.reply_line()[:3] for _ in range(4)] == ["250", "250", "250",
                                                      "354"]
    c.send(message("piped") + b".\r\nNOOP\r\nRSET\r\n")
    got = [c.reply_line() for _ in range(4)]
    assert got[0].startswith("250 2.0.0 Ok: delivered to demo@")
    assert got[1].startswith("250 2.0.0 Ok: delivered to bob@")
    assert got[2:] == ["250 2.0.0 Ok", "250 2.0.0 Ok"]
    mdainst.proc.send_signal(signal.SIGTERM)
    assert c.reply_line().startswith("421 4.3.2")
    assert c.at_eof()
    c.close()
    assert mdainst.stop() == 0
    assert re.search(r"event=daemon-exit daemon=mda pid=\d+ status=0 ",
                     mdainst.log())
