"""letterbox-smtpd: STARTTLS (RFC 3207), implicit TLS (RFC 8314), AUTH
(RFC 4954) and the submission policy of ports 587 and 465; swaks interop."""
# SPDX-License-Identifier: ISC

import base64
import re
import shutil
import smtplib
import ssl
import subprocess

import pytest

import lbtest
from lbtest import RawConn, queued_id, received_split, spool_read

HOST = "mail.example.test"
BOB, BOB_PW = "bob@example.test", lbtest.SMTP_BOB_PASSWORD
KEYWORDS = ["PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8",
            "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"]


def _probe_sasl():
    """True if the real authd answers IPC_AUTH_SASL_MECHS with at least
    one mechanism (SASL support landed in authd)."""
    inst = lbtest.Instance()
    try:
        inst.start()
        lbtest.hold_delivery(inst)
        a = lbtest.AuthClient(inst.auth_sock, timeout=5)
        a.send(lbtest.IPC_AUTH_SASL_MECHS if hasattr(
            lbtest, "IPC_AUTH_SASL_MECHS") else 103, b"")
        mtype, _, r = a.recv()
        return mtype == 156 and r.str().strip() != ""
    except Exception:
        return False
    finally:
        inst.cleanup()


sasl_available = _probe_sasl()
needs_sasl = pytest.mark.skipif(not sasl_available,
                                reason="authd has no SASL support yet")
needs_swaks = pytest.mark.skipif(shutil.which("swaks") is None,
                                 reason="swaks not installed")


@pytest.fixture(scope="module")
def srv():
    inst = lbtest.Instance()
    try:
        lbtest.smtp_users(inst)
        # failed logins must not slow the other tests down
        inst.edit_conf("authd.throttle_base = 0s\nauthd.throttle_max = 0s")
        inst.start()
        lbtest.hold_delivery(inst)
        yield inst
    finally:
        inst.cleanup()


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def raw(inst, port, ehlo=True):
    c = RawConn(inst.port(port), tls=(port == "submissions"))
    assert c.reply_line() == "220 %s ESMTP Letterbox" % HOST
    if ehlo:
        c.cmd("EHLO client.test")
        assert c.reply()[0] == 250
    return c


def starttls(c):
    c.cmd("STARTTLS")
    assert c.reply_line() == "220 2.0.0 Ready to start TLS"
    c.starttls()
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert code == 250
    return lines


def auth_plain(user, pw):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            pw.encode()).decode()


# --- STARTTLS ---------------------------------------------------------------

@pytest.mark.parametrize("port", ["smtp", "submission"])
def test_starttls_resets_and_hides_starttls(srv, port):
    """RFC 3207 4.2: after TLS the client must EHLO again (the server
    forgets what it learnt) and STARTTLS is no longer offered; AUTH is
    offered now, on every port (RFC 4954 4, RFC 8314 3.3)."""
    c = raw(srv, port)
    c.cmd("STARTTLS")
    assert c.reply_line() == "220 2.0.0 Ready to start TLS"
    c.starttls()
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "503 5.5.1 Send EHLO or HELO first"
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert code == 250
    want = KEYWORDS + (["AUTH " + lines[-1][5:]] if sasl_available else [])
    assert lines[1:] == want
    if sasl_available:
        assert set(lines[-1][5:].split()) >= {"PLAIN", "LOGIN"}
    c.cmd("STARTTLS")
    assert c.reply_line() == "503 5.5.1 TLS already active"
    c.close()


def test_starttls_not_in_transaction(srv):
    c = raw(srv, "smtp")
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("STARTTLS")
    assert c.reply_line() == ("503 5.5.1 STARTTLS not allowed in a mail "
                              "transaction")
    c.close()


def test_starttls_command_injection(srv):
    """CVE-2011-0411 / RFC 3207 5: commands pipelined after STARTTLS in
    the clear are dropped, never run inside TLS; the first reply inside
    TLS belongs to the first command sent inside TLS."""
    c = raw(srv, "smtp")
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\nNOOP\r\n")
    assert c.reply_line() == "220 2.0.0 Ready to start TLS"
    assert c.rbuf == b""
    c.starttls()
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert code == 250 and lines[0].startswith(HOST + " Hello")
    # the injected MAIL was not executed: a fresh MAIL is not nested
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    srv.wait_log(r"event=starttls-injection dropped=%d"
                 % len(b"MAIL FROM:<evil@remote.example>\r\nNOOP\r\n"))
    assert "from=<evil@remote.example>" not in srv.log()
    c.close()


def test_received_esmtps_names_tls(srv):
    """RFC 3848: with ESMTPS; the TLS version and cipher are recorded."""
    c = raw(srv, "smtp")
    starttls(c)
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: tls\r\n\r\nsecret\r\n.\r\n")
    qid = queued_id(c.reply_line())
    rec, rest = received_split(spool_read(srv, qid)[1])
    assert rest == b"Subject: tls\r\n\r\nsecret\r\n"
    assert re.fullmatch(
        r"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n"
        r"\tby mail\.example\.test \(Letterbox\) with ESMTPS id %s\r\n"
        r"\t\(using %s with cipher %s\)\r\n"
        r"\tfor <demo@example\.test>;\r\n\t[^\r\n]+\r\n"
        % (qid, re.escape(c.s.version()), re.escape(c.s.cipher()[0])),
        rec.decode()), rec
    c.close()


# --- AUTH and the submission policy ----------------------------------------

@pytest.mark.parametrize("port", ["smtp", "submission"])
def test_auth_refused_before_tls(srv, port):
    """RFC 4954 4 + RFC 3207: no AUTH in clear text: 538 5.7.11, and it is
    not advertised."""
    c = raw(srv, port, ehlo=False)
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert not any(ln.startswith("AUTH") for ln in lines)
    c.cmd("AUTH PLAIN " + auth_plain(BOB, BOB_PW))
    assert c.reply_line() == ("538 5.7.11 Encryption required for requested "
                              "authentication mechanism")
    c.cmd("AUTH LOGIN")
    assert c.reply_line().startswith("538 5.7.11 ")
    c.close()


@pytest.mark.parametrize("tls", [False, True])
def test_submission_mail_before_auth(srv, tls):
    """RFC 6409 4.3 / RFC 4954 6: submission needs AUTH: 530 5.7.0."""
    c = raw(srv, "submission")
    if tls:
        starttls(c)
    c.cmd("MAIL FROM:<%s>" % BOB)
    assert c.reply_line() == "530 5.7.0 Authentication required"
    c.close()


def test_implicit_tls_port465_without_auth(srv):
    c = raw(srv, "submissions")
    assert c.s.version() in ("TLSv1.2", "TLSv1.3")
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert "STARTTLS" not in lines
    assert any(ln.startswith("AUTH ") for ln in lines) == sasl_available
    c.cmd("STARTTLS")
    assert c.reply_line() == "503 5.5.1 TLS already active"
    c.cmd("MAIL FROM:<%s>" % BOB)
    assert c.reply_line() == "530 5.7.0 Authentication required"
    c.close()


def smtp_client(inst, port):
    if port == "submissions":
        s = smtplib.SMTP_SSL("127.0.0.1", inst.port(port), context=tls_ctx(),
                             timeout=15)
    else:
        s = smtplib.SMTP("127.0.0.1", inst.port(port), timeout=15)
        s.starttls(context=tls_ctx())
    s.ehlo("client.test")
    return s


def check_submission(inst, s):
    """After AUTH as bob: his own address and his alias may send, someone
    else's address may not (553 5.7.1), relaying is allowed."""
    code, text = s.mail(BOB)
    assert (code, text) == (250, b"2.1.0 Ok")
    assert s.rcpt("someone@remote.example") == (250, b"2.1.5 Ok")
    assert s.rcpt("demo@example.test") == (250, b"2.1.5 Ok")
    code, text = s.data(b"Subject: submitted\r\n\r\nhi\r\n")
    assert code == 250
    qid = queued_id(text.decode())
    env, msg = spool_read(inst, qid)
    lines = env.splitlines()
    assert "auth " + BOB in lines and "from " + BOB in lines
    assert "rcpt someone@remote.example" in lines
    assert b" with ESMTPSA id " + qid.encode() in msg
    # an alias of bob's
    assert s.mail("team@example.test") == (250, b"2.1.0 Ok")
    assert s.rcpt("demo@example.test")[0] == 250
    assert s.data(b"Subject: alias\r\n\r\nhi\r\n")[0] == 250
    # someone else's address
    code, text = s.mail("demo@example.test")
    assert (code, text) == (553, b"5.7.1 Sender address not owned by user "
                            b"bob@example.test")
    assert s.rset() == (250, b"2.0.0 Ok")


@needs_sasl
@pytest.mark.parametrize("port", ["submission", "submissions", "smtp"])
def test_smtplib_login(srv, port):
    """smtplib's login() (it picks the mechanism) on every port."""
    s = smtp_client(srv, port)
    assert s.login(BOB, BOB_PW) == (235, b"2.7.0 Authentication successful")
    if port == "smtp":
        # port 25 is the MX: the sender policy is submission's (see
        # test_port25_auth_sender_policy); relaying needs AUTH everywhere
        assert s.mail(BOB) == (250, b"2.1.0 Ok")
        assert s.rcpt("someone@remote.example") == (250, b"2.1.5 Ok")
        assert s.data(b"Subject: via 25\r\n\r\nhi\r\n")[0] == 250
    else:
        check_submission(srv, s)
    s.quit()


@needs_sasl
def test_port25_auth_sender_policy(srv):
    """An authenticated session relays on port 25 too; it should then be
    held to the same sender rule as submission (RFC 6409 8.1 lets the MSA
    check the sender; relaying as anyone on 25 bypasses that check)."""
    s = smtp_client(srv, "smtp")
    s.login(BOB, BOB_PW)
    assert s.mail("demo@example.test")[0] == 553
    s.quit()


@needs_sasl
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("port", ["submission", "submissions"])
def test_auth_mechanisms(srv, port, mech):
    s = smtp_client(srv, port)
    s.user, s.password = BOB, BOB_PW
    authobj = s.auth_plain if mech == "PLAIN" else s.auth_login
    assert s.auth(mech, authobj, initial_response_ok=(mech == "PLAIN")) == (
        235, b"2.7.0 Authentication successful")
    check_submission(srv, s)
    # RFC 4954 4: no second AUTH in a session
    assert s.docmd("AUTH", "PLAIN " + auth_plain(BOB, BOB_PW)) == (
        503, b"5.5.1 Already authenticated")
    s.quit()


@needs_sasl
def test_auth_raw_exchange_and_failures(srv):
    """RFC 4954 4: 334 challenges in base64, "*" cancels (501), a bad
    password is 535 5.7.8, an unknown mechanism 504 5.5.4."""
    c = raw(srv, "submission")
    starttls(c)
    c.cmd("AUTH CRAM-SHA-999")
    assert c.reply_line() == "504 5.5.4 Unrecognized authentication type"
    c.cmd("AUTH LOGIN")
    assert c.reply_line() == "334 VXNlcm5hbWU6"       # "Username:"
    c.cmd("*")
    assert c.reply_line() == "501 5.0.0 Authentication cancelled"
    c.cmd("AUTH PLAIN " + auth_plain(BOB, "wrong-password"))
    assert c.reply_line() == "535 5.7.8 Authentication credentials invalid"
    c.cmd("AUTH PLAIN !!!notbase64")
    assert c.reply_line() == "501 5.5.2 Invalid base64 data"
    c.cmd("AUTH PLAIN")
    assert c.reply_line() == "334 "
    c.cmd(auth_plain(BOB, BOB_PW))
    assert c.reply_line() == "235 2.7.0 Authentication successful"
    c.cmd("MAIL FROM:<bobby@example.test>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.close()
    assert BOB_PW not in srv.log()
    assert auth_plain(BOB, BOB_PW) not in srv.log()


@needs_sasl
def test_port25_relay_after_auth(srv):
    """Relaying needs an authenticated user on every port, 25 included."""
    c = raw(srv, "smtp")
    starttls(c)
    c.cmd("AUTH PLAIN " + auth_plain(BOB, BOB_PW))
    assert c.reply_line() == "235 2.7.0 Authentication successful"
    c.cmd("MAIL FROM:<%s>" % BOB)
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<someone@remote.example>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.close()


# --- swaks ------------------------------------------------------------------

def swaks(*args):
    return subprocess.run(["swaks", "--server", "127.0.0.1"] + list(args),
                          capture_output=True, text=True, timeout=60)


@needs_swaks
def test_swaks_starttls_port25(srv):
    r = swaks("--port", str(srv.port("smtp")), "--tls",
              "--from", "alice@remote.example", "--to", "demo@example.test")
    assert r.returncode == 0, r.stdout + r.stderr
    _, msg = spool_read(srv, queued_id(r.stdout))
    assert b" with ESMTPS id " in msg


@needs_swaks
@needs_sasl
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_submission_starttls_auth(srv, mech):
    r = swaks("--port", str(srv.port("submission")), "--tls",
              "--auth", mech, "--auth-user", BOB, "--auth-password", BOB_PW,
              "--from", BOB, "--to", "someone@remote.example")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0 Authentication successful" in r.stdout
    env, msg = spool_read(srv, queued_id(r.stdout))
    assert "auth " + BOB in env.splitlines()
    assert b" with ESMTPSA id " in msg
    assert BOB_PW not in srv.log()


@needs_swaks
@needs_sasl
def test_swaks_implicit_tls_port465(srv):
    r = swaks("--port", str(srv.port("submissions")), "--tlsc",
              "--auth", "PLAIN", "--auth-user", BOB, "--auth-password",
              BOB_PW, "--from", "team@example.test",
              "--to", "demo@example.test")
    assert r.returncode == 0, r.stdout + r.stderr
    env, _ = spool_read(srv, queued_id(r.stdout))
    assert "from team@example.test" in env.splitlines()


@needs_swaks
def test_swaks_wrong_sender_refused(srv):
    if not sasl_available:
        pytest.skip("authd has no SASL support yet")
    r = swaks("--port", str(srv.port("submission")), "--tls",
              "--auth", "PLAIN", "--auth-user", BOB, "--auth-password",
              BOB_PW, "--from", "demo@example.test",
              "--to", "someone@remote.example")
    assert r.returncode != 0
    assert "553 5.7.1 Sender address not owned by user bob@example.test" \
        in r.stdout


@pytest.mark.skip(reason="swaks 20201014 (Debian 12) has no BDAT/CHUNKING "
                  "support; BDAT is covered by test_smtp_data.py")
def test_swaks_bdat():
    pass


@needs_sasl
@pytest.mark.parametrize("show", [False, True])
def test_received_names_auth_user_only_when_configured(show):
    """smtpd.received_auth: the Received: header says who authenticated
    only when the admin asks for it; the protocol is ESMTPSA either way
    (RFC 3848)."""
    inst = lbtest.Instance()
    try:
        lbtest.smtp_users(inst)
        if show:
            inst.edit_conf("smtpd.received_auth = yes")
        inst.start()
        lbtest.hold_delivery(inst)
        c = raw(inst, "submission")
        starttls(c)
        c.cmd("AUTH PLAIN " + auth_plain(BOB, BOB_PW))
        assert c.reply_line() == "235 2.7.0 Authentication successful"
        c.cmd("MAIL FROM:<%s>" % BOB)
        assert c.reply_line() == "250 2.1.0 Ok"
        c.cmd("RCPT TO:<demo@example.test>")
        assert c.reply_line() == "250 2.1.5 Ok"
        c.cmd("DATA")
        assert c.reply_line().startswith("354 ")
        c.send(b"Subject: who\r\n\r\nme\r\n.\r\n")
        qid = queued_id(c.reply_line())
        c.close()
        rec, _ = received_split(spool_read(inst, qid)[1])
        assert " with ESMTPSA id %s\r\n" % qid in rec.decode()
        assert ("\t(authenticated as %s)\r\n" % BOB in rec.decode()) == show
    finally:
        inst.cleanup()
