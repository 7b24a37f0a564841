"""letterbox-pop3d against Python's poplib and raw sockets: every command,
STLS and POP3S, pipelining, dot-stuffing, UPDATE only at QUIT, [IN-USE],
stable UIDLs, throttled wrong passwords (docs/pop3d.md)."""
# SPDX-License-Identifier: ISC

import base64
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import lbtest
from test_mda import LmtpConn, lmtp_sock, index, user_dir

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def deliver(inst, msgs, rcpt=DEMO):
    """Each message through the MDA's LMTP socket, as queued delivers."""
    c = LmtpConn(lmtp_sock(inst))
    c.hello()
    for m in msgs:
        rr, dr = c.transaction("alice@example.org", [rcpt], m)
        assert rr[0].startswith("250") and dr[0].startswith("250"), (rr, dr)
    c.cmd("QUIT")
    c.close()


def message(subject, body="hello\r\n"):
    return ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
            % (DEMO, subject, body)).encode()


DOTTY = message("dots", ".starts with a dot\r\n..two dots\r\n.\r\n"
                "middle . dot\r\n")


def login(inst, user=None, password=None, implicit=False):
    user = user or inst.demo_user
    password = password or inst.demo_password
    if implicit:
        p = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"),
                            context=tls_ctx(), timeout=30)
    else:
        p = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
        p.stls(context=tls_ctx())
    p.user(user)
    p.pass_(password)
    return p


@pytest.fixture
def pop(instance):
    lbtest.smtp_users(instance)
    instance.start()
    instance.wait_log(r"daemon=pop3d.*event=started|pop3d.*event=started",
                      timeout=30)
    yield instance
    if instance.proc is not None:
        assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"daemon-exit daemon=pop3d pid=\d+ status=[1-9]",
                         log), log[-3000:]


def test_pop3_every_command(pop):
    msgs = [message("one"), DOTTY, message("three", ("x" * 70 + "\r\n") * 80)]
    deliver(pop, msgs)
    p = login(pop)
    caps = p.capa()
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                "PIPELINING", "EXPIRE", "LOGIN-DELAY", "IMPLEMENTATION"):
        assert cap in caps, caps
    assert "USER" not in caps  # AUTHORIZATION only
    n, size = p.stat()
    resp, lines, _ = p.list()
    assert resp.startswith(b"+OK")
    sizes = [int(x.split()[1]) for x in lines]
    assert n == 3 and size == sum(sizes)
    assert p.list(2).split()[2] == str(sizes[1]).encode()
    _, uids, _ = p.uidl()
    assert len(uids) == 3 and len(set(uids)) == 3
    for i, m in enumerate(msgs):
        resp, lines, octets = p.retr(i + 1)
        got = b"\r\n".join(lines) + b"\r\n"
        # the MDA adds its trace headers at the top
        assert got.endswith(m) and b"\r\n\r\n" in got, i
        assert octets == len(got) == sizes[i], i
    _, top, _ = p.top(3, 0)
    assert top[-1] == b"" and b"Subject: three" in top
    _, top, _ = p.top(2, 2)
    assert top[-2:] == [b".starts with a dot", b"..two dots"]
    assert p.noop().startswith(b"+OK")
    assert p.dele(1).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="deleted"):
        p.retr(1)
    assert p.stat()[0] == 2
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 3
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(4)
    assert p.quit().startswith(b"+OK")


def test_pop3_dot_stuffing_raw(pop):
    deliver(pop, [DOTTY])
    c = lbtest.RawConn(pop.port("pop3s"), tls=True)
    assert c.line().startswith("+OK")
    c.cmd("USER " + pop.demo_user)
    assert c.line().startswith("+OK")
    c.cmd("PASS " + pop.demo_password)
    assert c.line().startswith("+OK")
    c.cmd("RETR 1")
    assert re.match(r"\+OK \d+ octets", c.line())
    got = []
    while True:
        ln = c.line()
        if ln == ".":
            break
        got.append(ln)
    body = got[got.index("") + 1:]
    assert body == ["..starts with a dot", "...two dots", "..",
                    "middle . dot"]
    c.cmd("QUIT")
    assert c.line().startswith("+OK")
    c.close()


def test_pop3_plaintext_refused_and_stls(pop):
    p = poplib.POP3("127.0.0.1", pop.port("pop3"), timeout=30)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user(pop.demo_user)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p._shortcmd("AUTH PLAIN")
    p.stls(context=tls_ctx())
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps and "PLAIN" in caps["SASL"]
    p.user(pop.demo_user)
    p.pass_(pop.demo_password)
    p.quit()


def test_pop3s_auth_plain_initial_response(pop):
    deliver(pop, [message("one")])
    c = lbtest.RawConn(pop.port("pop3s"), tls=True)
    assert c.line().startswith("+OK")
    ir = base64.b64encode(("\0%s\0%s" % (pop.demo_user, pop.demo_password))
                          .encode()).decode()
    c.cmd("AUTH PLAIN " + ir)
    assert c.line().startswith("+OK"), "login"
    c.cmd("STAT")
    assert c.line().startswith("+OK 1 ")
    c.cmd("QUIT")
    assert c.line().startswith("+OK")
    # and without initial response: "+ " then the response
    c = lbtest.RawConn(pop.port("pop3s"), tls=True)
    c.line()
    c.cmd("AUTH PLAIN")
    assert c.line().startswith("+ ")
    c.cmd(ir)
    assert c.line().startswith("+OK")
    c.cmd("QUIT")
    c.line()
    c.close()


def test_pop3_pipelining(pop):
    deliver(pop, [message("m%d" % i) for i in range(5)])
    c = lbtest.RawConn(pop.port("pop3s"), tls=True)
    c.line()
    c.send("USER %s\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nDELE 3\r\n"
           "LIST 3\r\nUIDL 4\r\nNOOP\r\nQUIT\r\n"
           % (pop.demo_user, pop.demo_password))
    lines = []
    while True:
        ln = c.line()
        if ln is None:
            break
        lines.append(ln)
    status = [x for x in lines if x.startswith(("+OK", "-ERR"))]
    assert [x.split()[0] for x in status] == [
        "+OK"] * 3 + ["+OK", "+OK", "+OK", "-ERR", "+OK", "+OK", "+OK"], lines
    assert status[-1].startswith("+OK Bye (1 messages deleted)")
    assert lines.count(".") == 2


def test_pop3_dropped_connection_deletes_nothing(pop):
    deliver(pop, [message("a"), message("b")])
    p = login(pop)
    p.dele(1)
    p.dele(2)
    p.sock.shutdown(socket.SHUT_RDWR)  # no QUIT
    p.sock.close()
    time.sleep(0.5)
    p = login(pop)
    assert p.stat()[0] == 2
    p.dele(1)
    p.quit()
    p = login(pop)
    assert p.stat()[0] == 1
    p.quit()
    boxes, msgs = index(pop, DEMO)
    assert int(boxes["INBOX"]["messages"]) == 1
    assert len(os.listdir(os.path.join(user_dir(pop, "demo"), "new"))) + \
        len(os.listdir(os.path.join(user_dir(pop, "demo"), "cur"))) == 1


def test_pop3_in_use(pop):
    deliver(pop, [message("a")])
    p1 = login(pop)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        login(pop)
    p1.quit()
    p2 = login(pop)  # free again
    p2.quit()


def test_pop3_uidl_stable(pop):
    deliver(pop, [message("a"), message("b")])
    p = login(pop)
    _, u1, _ = p.uidl()
    p.retr(1)  # mark_read: \Seen and the file renamed to cur/...:2,S
    p.quit()
    cur = os.listdir(os.path.join(user_dir(pop, "demo"), "cur"))
    assert any(f.endswith(":2,S") for f in cur), cur
    boxes, msgs = index(pop, DEMO)
    # UIDL is UIDVALIDITY and UID: the same message IMAP names
    uidv = int(boxes["INBOX"]["uidvalidity"])
    assert [x.split()[1].decode() for x in u1] == [
        "%08x%08x" % (uidv, int(m["uid"])) for m in msgs]
    # a flag change by another program (mutt) renames the file
    d = os.path.join(user_dir(pop, "demo"))
    new = os.listdir(os.path.join(d, "new"))
    os.rename(os.path.join(d, "new", new[0]),
              os.path.join(d, "cur", new[0] + ":2,F"))
    time.sleep(1.1)
    deliver(pop, [message("c")])
    p = login(pop)
    _, u2, _ = p.uidl()
    assert u2[:2] == u1 and len(u2) == 3
    p.quit()


def test_pop3_bad_input(pop):
    c = lbtest.RawConn(pop.port("pop3"))
    assert c.line().startswith("+OK")
    c.cmd("X" * 5000)
    assert c.line().startswith("-ERR")
    c.cmd("STAT")
    assert c.line().startswith("-ERR STAT not allowed before login")
    c.send(b"NO\0OP\r\n")
    assert c.line().startswith("-ERR")
    c.cmd("RETR abc")
    assert c.line().startswith("-ERR")
    c.cmd("CAPA x")
    assert c.line().startswith("-ERR")
    c.cmd("CAPA")
    assert c.line().startswith("+OK")
    while c.line() != ".":
        pass
    c.cmd("QUIT")
    assert c.line().startswith("+OK")
    c.close()


def test_pop3_wrong_password_throttled(pop):
    """authd delays answers after failures from one IP (throttle_base 1s)."""
    times = []
    for _ in range(3):
        p = poplib.POP3_SSL("127.0.0.1", pop.port("pop3s"),
                            context=tls_ctx(), timeout=60)
        p.user(pop.demo_user)
        t0 = time.monotonic()
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            p.pass_("wrong")
        times.append(time.monotonic() - t0)
        p.quit()
    assert times[2] >= 1.0, times
    assert "event=auth-fail how=pass" in pop.log()


def fetchmail(inst, tmp, keep):
    """Debian's fetchmail over STLS into an MDA command that appends to
    an mbox; returns the mbox's message count."""
    rc = os.path.join(tmp, "fetchmailrc")
    mbox = os.path.join(tmp, "mbox")
    mda = os.path.join(tmp, "mda.sh")
    with open(mda, "w") as f:
        f.write("#!/bin/sh\n{ echo 'From fetchmail'; cat; echo; } >> %s\n"
                % mbox)
    os.chmod(mda, 0o755)
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 service %d protocol pop3 auth password\n'
                '  user "%s" password "%s" sslproto tls1.2+ no sslcertck\n'
                '  mda "%s"\n  %s\n'
                % (inst.port("pop3"), inst.demo_user, inst.demo_password,
                   mda, "keep" if keep else "nokeep fetchall"))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=tmp, FETCHMAILHOME=tmp)
    r = subprocess.run(["fetchmail", "-f", rc, "--nosyslog", "-v",
                        "--sslproto", "tls1.2+"] + (["--keep"] if keep
                                                    else []),
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    if not os.path.exists(mbox):
        return 0
    with open(mbox, errors="replace") as f:
        return sum(1 for ln in f if ln.startswith("From fetchmail"))


@pytest.mark.skipif(not shutil.which("fetchmail"),
                    reason="fetchmail not installed (scripts/deps.sh)")
def test_pop3_fetchmail(pop, tmp_path):
    deliver(pop, [message("f%d" % i) for i in range(4)] + [DOTTY])
    assert fetchmail(pop, str(tmp_path), keep=True) == 5
    p = login(pop)
    assert p.stat()[0] == 5  # --keep left them
    p.quit()
    os.unlink(os.path.join(str(tmp_path), "mbox"))
    assert fetchmail(pop, str(tmp_path), keep=False) == 5
    p = login(pop)
    assert p.stat()[0] == 0
    p.quit()


def test_pop3_stop_with_open_session(pop):
    """SIGTERM closes open sessions at once, without UPDATE."""
    deliver(pop, [message("a")])
    p = login(pop)
    p.dele(1)
    assert pop.stop() == 0
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        p.stat()
    since = pop.log_size()
    pop.start(wait=False)
    pop.wait_log(r"pop3d\[\d+\] notice: event=started", timeout=30,
                 since=since)
    pop.wait_log(r"event=ready", timeout=30, since=since)
    p = login(pop)
    assert p.stat()[0] == 1
    p.quit()
