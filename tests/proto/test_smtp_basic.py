"""letterbox-smtpd: the commands, EHLO, the MX policy of port 25, the
envelope and the Received: header in the spool, and swaks interop."""
# SPDX-License-Identifier: ISC

import re
import shutil
import subprocess

import pytest

import lbtest
from lbtest import RawConn, queued_id, received_split, spool_read

HOST = "mail.example.test"
MAXSIZE = 52428800          # smtpd.max_message_size default, 50M


@pytest.fixture(scope="module")
def srv():
    """One running instance with the SMTP test users, shared by the tests
    of this file (none changes its configuration)."""
    inst = lbtest.Instance()
    try:
        lbtest.smtp_users(inst)
        inst.start()
        lbtest.hold_delivery(inst)
        yield inst
    finally:
        inst.cleanup()


def session(inst, port="smtp", ehlo="client.test"):
    c = RawConn(inst.port(port))
    assert c.reply_line() == "220 %s ESMTP Letterbox" % HOST
    if ehlo:
        c.cmd("EHLO " + ehlo)
        code, _ = c.reply()
        assert code == 250
    return c


def send_message(c, body, mail="MAIL FROM:<alice@remote.example>",
                 rcpts=("demo@example.test",)):
    """A whole transaction, one command at a time; returns the queue id."""
    c.cmd(mail)
    assert c.reply_line() == "250 2.1.0 Ok"
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
        assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line() == "354 End data with <CR><LF>.<CR><LF>"
    c.send(body + b".\r\n")
    rep = c.reply_line()
    assert rep.startswith("250 2.0.0 Ok: queued as "), rep
    return queued_id(rep)


EHLO_KEYWORDS = ["PIPELINING", "SIZE %d" % MAXSIZE, "8BITMIME", "SMTPUTF8",
                 "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"]


@pytest.mark.parametrize("port", ["smtp", "submission"])
def test_ehlo_advertises_exactly(srv, port):
    """RFC 5321 4.1.1.1: the first line greets, the rest are keywords.
    STARTTLS is offered until TLS is up (RFC 3207); AUTH never before TLS
    (RFC 4954 4, RFC 8314), on any port."""
    c = session(srv, port, ehlo=None)
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert code == 250
    assert lines[0] == "%s Hello client.test [127.0.0.1]" % HOST
    assert lines[1:] == EHLO_KEYWORDS + ["STARTTLS"]
    c.close()


def test_helo_has_no_extensions(srv):
    c = session(srv, ehlo=None)
    c.cmd("HELO client.test")
    assert c.reply() == (250, [HOST])
    qid = send_message(c, b"Subject: helo\r\n\r\nx\r\n")
    _, msg = spool_read(srv, qid)
    assert b" with SMTP id %s" % qid.encode() in msg
    c.close()


def test_noop_rset_help_quit(srv):
    c = session(srv)
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.cmd("NOOP anything at all")     # RFC 5321 4.1.1.9: parameter ignored
    assert c.reply_line() == "250 2.0.0 Ok"
    c.cmd("HELP")
    assert c.reply_line() == ("214 2.0.0 Commands: EHLO HELO MAIL RCPT "
                              "DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS "
                              "AUTH; see RFC 5321")
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RSET")
    assert c.reply_line() == "250 2.0.0 Ok"
    # RSET cleared the transaction (RFC 5321 4.1.1.5)
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "503 5.5.1 Need MAIL before RCPT"
    c.cmd("QUIT")
    assert c.reply_line() == "221 2.0.0 %s Bye" % HOST
    assert c.at_eof()


def test_vrfy_never_discloses(srv):
    """RFC 5321 3.5.3, 7.3: 252 for everyone, existing or not."""
    c = session(srv)
    want = ("252 2.5.2 Cannot VRFY user, but will accept message and "
            "attempt delivery")
    for who in ("demo@example.test", "nobody@example.test", "bob",
                "root", "<team@example.test>"):
        c.cmd("VRFY " + who)
        assert c.reply_line() == want
    c.cmd("EXPN team@example.test")
    assert c.reply_line() == "502 5.5.1 EXPN not available"
    c.close()


# (state: commands sent first, each must get 250), command, reply
ERRORS = [
    ([], "FOO", "500 5.5.1 Command unrecognized"),
    ([], "MAILFROM:<a@remote.example>", "500 5.5.1 Command unrecognized"),
    (None, "MAIL FROM:<a@remote.example>", "503 5.5.1 Send EHLO or HELO first"),
    (None, "RCPT TO:<demo@example.test>", "503 5.5.1 Send EHLO or HELO first"),
    ([], "RCPT TO:<demo@example.test>", "503 5.5.1 Need MAIL before RCPT"),
    ([], "DATA", "503 5.5.1 Need RCPT before DATA"),
    (["MAIL FROM:<a@remote.example>"], "MAIL FROM:<b@remote.example>",
     "503 5.5.1 Nested MAIL command"),
    # RFC 5321 3.3: no valid recipients: 554 (or 503)
    (["MAIL FROM:<a@remote.example>"], "DATA", "554 5.5.1 No valid recipients"),
    ([], "EHLO", "501 5.5.4 *"),
    ([], "HELO a b", "501 5.5.4 *"),
    ([], "MAIL FROM:a@remote.example", "501 *"),
    ([], "MAIL FROM:<a@remote.example", "501 *"),
    ([], "MAIL TO:<a@remote.example>", "501 *"),
    ([], "MAIL FROM:<not an address>", "501 5.1.7 *"),
    (["MAIL FROM:<a@remote.example>"], "RCPT TO:<nodomain>", "501 5.1.3 *"),
    # RFC 5321 4.1.1.11 / 4.2.3: 555 for unknown parameters
    ([], "MAIL FROM:<a@remote.example> FOO=BAR",
     "555 5.5.4 Unsupported parameter FOO"),
    ([], "MAIL FROM:<a@remote.example> SIZE=12 SIZE=13",
     "501 5.5.4 Duplicate SIZE parameter"),
    ([], "MAIL FROM:<a@remote.example> SIZE=abc", "501 5.5.4 Bad SIZE value"),
    ([], "MAIL FROM:<a@remote.example> BODY=BINARYMIME",
     "555 5.5.4 Unsupported BODY type"),
    (["MAIL FROM:<a@remote.example>"],
     "RCPT TO:<demo@example.test> NOTIFY=NEVER,SUCCESS",
     "501 5.5.4 Bad NOTIFY value"),     # RFC 3461 4.1
    ([], "MAIL FROM:<a@remote.example> RET=ALL", "501 5.5.4 Bad RET value"),
    ([], "MAIL FROM:<a@remote.example> ENVID=" + "x" * 101,
     "501 5.5.4 Bad ENVID value"),      # RFC 3461 4.4: 100 chars max
    ([], "RSET now", "501 5.5.4 *"),
    ([], "QUIT now", "501 5.5.4 *"),
    ([], "STARTTLS now", "501 5.5.4 *"),   # RFC 3207 4
    ([], "DATA now", "501 5.5.4 *"),
    ([], "BDAT x", "501 5.5.4 *"),
    ([], "BDAT 10 FIRST", "501 5.5.4 *"),
]


@pytest.mark.parametrize("before,cmd,want", ERRORS,
                         ids=[e[1][:40] for e in ERRORS])
def test_errors(srv, before, cmd, want):
    """Unknown commands 500, bad syntax 501, wrong order 503, each with its
    RFC 3463 code; the session goes on (NOOP answers after)."""
    c = session(srv, ehlo=None if before is None else "client.test")
    for b in before or []:
        c.cmd(b)
        assert c.reply_line().startswith("250 ")
    c.cmd(cmd)
    got = c.reply_line()
    assert lbtest.dlg_match(want, got), got
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.close()


RCPTS = [
    ("demo@example.test", "250 2.1.5 Ok"),           # a user
    ("DEMO@Example.TEST", "250 2.1.5 Ok"),           # any case
    ("team@example.test", "250 2.1.5 Ok"),           # an alias
    ("bob+news@example.test", "250 2.1.5 Ok"),       # user+tag
    ("anyone@catch.test", "250 2.1.5 Ok"),           # a catch-all
    ("nobody@example.test", "550 5.1.1 <nobody@example.test>: Recipient "
     "address rejected: User unknown"),
    ("nobody+tag@example.test", "550 5.1.1 *User unknown"),
    ("someone@remote.example", "554 5.7.1 <someone@remote.example>: Relay "
     "access denied"),
    ("demo@example.test.remote.example", "554 5.7.1 *Relay access denied"),
]


@pytest.mark.parametrize("rcpt,want", RCPTS, ids=[r[0] for r in RCPTS])
def test_port25_recipients(srv, rcpt, want):
    """Port 25 is the MX: local recipients only, no relaying without AUTH
    (RFC 5321 3.6.2, 7.1); unknown users are refused at RCPT."""
    c = session(srv)
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<%s>" % rcpt)
    got = c.reply_line()
    assert lbtest.dlg_match(want, got), got
    c.close()


def test_case_and_address_literal(srv):
    """RFC 5321 2.4: verbs and FROM:/TO: in any case; 4.1.1.1: EHLO may
    give an address literal, which the Received: line shows as given."""
    c = session(srv, ehlo=None)
    c.cmd("ehlo [127.0.0.1]")
    code, lines = c.reply()
    assert code == 250 and lines[0] == "%s Hello [127.0.0.1] [127.0.0.1]" % HOST
    c.cmd("mail from:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("rCpT To:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("data")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: lc\r\n\r\nx\r\n.\r\n")
    _, msg = spool_read(srv, queued_id(c.reply_line()))
    assert msg.startswith(b"Received: from [127.0.0.1] ([127.0.0.1])\r\n")
    c.close()


@pytest.mark.parametrize("rcpt", ["Postmaster", "postmaster@example.test",
                                  "POSTMASTER@example.test"])
def test_postmaster_accepted(srv, rcpt):
    """RFC 5321 4.5.1: every SMTP server MUST accept mail for the reserved
    case-insensitive mailbox postmaster, and RCPT TO:<Postmaster> without
    a domain (4.1.1.3)."""
    c = session(srv)
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<%s>" % rcpt)
    got = c.reply_line()
    c.close()
    assert got == "250 2.1.5 Ok"


def test_pipelining_batch(srv):
    """RFC 2920 3.1: MAIL, RCPTs and DATA in one write; the replies come
    in order, one per command, and a refused RCPT does not stop the rest.
    After the end of data, RSET and NOOP pipelined with it."""
    c = session(srv)
    c.send(b"MAIL FROM:<alice@remote.example>\r\n"
           b"RCPT TO:<demo@example.test>\r\n"
           b"RCPT TO:<nobody@example.test>\r\n"
           b"RCPT TO:<someone@remote.example>\r\n"
           b"RCPT TO:<team@example.test>\r\n"
           b"DATA\r\n")
    got = [c.reply_line()[:9] for _ in range(6)]
    assert got == ["250 2.1.0", "250 2.1.5", "550 5.1.1", "554 5.7.1",
                   "250 2.1.5", "354 End d"]
    c.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\n")
    qid = queued_id(c.reply_line())
    assert qid
    assert c.reply_line() == "250 2.0.0 Ok"
    assert c.reply_line() == "250 2.0.0 Ok"
    env, msg = spool_read(srv, qid)
    assert [ln for ln in env.splitlines() if ln.startswith("rcpt ")] == [
        "rcpt demo@example.test", "rcpt team@example.test"]
    c.close()


def test_received_header_and_queue_id(srv):
    """RFC 5321 4.4: we prepend exactly one Received: header; "for" names
    the recipient when there is one.  The queue id in the 250 reply is the
    spool file name and tags the smtpd log lines (docs/queue.md)."""
    c = session(srv, ehlo="client.test")
    body = (b"Received: from elsewhere by client.test; Mon, 1 Jan 2024\r\n"
            b"Subject: received\r\nMessage-ID: <r1@client.test>\r\n\r\n"
            b"hello\r\n")
    qid = send_message(c, body)
    assert qid in lbtest.spool_ids(srv)
    env, msg = spool_read(srv, qid)
    assert env.splitlines()[:2] == ["LBENV 1", "id " + qid]
    rec, rest = received_split(msg)
    assert rest == body
    assert msg.count(b"Received: ") == 2
    assert re.fullmatch(
        r"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n"
        r"\tby mail\.example\.test \(Letterbox\) with ESMTP id %s\r\n"
        r"\tfor <demo@example\.test>;\r\n"
        r"\t\w{3}, \d{2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\r\n" % qid,
        rec.decode()), rec
    assert "from HELO" not in rec.decode()
    log = srv.wait_log(r"conn=(\w+) event=queued id=%s from=<alice@remote"
                       r"\.example> rcpts=1 size=%d" % (qid, len(body)))
    conn = log[0]
    assert re.search(r"smtpd\[\d+\] info: conn=%s event=rcpt "
                     r"to=<demo@example.test>" % conn, srv.log())
    # two recipients: no "for"
    qid2 = send_message(c, b"Subject: two\r\n\r\nx\r\n",
                        rcpts=("demo@example.test", "bob@example.test"))
    rec2, _ = received_split(spool_read(srv, qid2)[1])
    assert b"for <" not in rec2
    assert qid2 != qid
    c.close()


def test_client_bytes_escaped_in_log(srv):
    """STYLE 7: client bytes are escaped before logging, so a quoted local
    part (legal, RFC 5321 4.1.2) cannot forge key=value pairs or quotes on
    the smtpd log lines (event=mail, rcpt, reply, queued)."""
    c = session(srv)
    evil = '"x\\" event=queued id=0123456789abcdef"@remote.example'
    c.cmd("MAIL FROM:<%s>" % evil)
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd('RCPT TO:<"y\\" event=rcpt"@example.test>')
    assert c.reply_line().startswith("550 5.1.1 ")
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: esc\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply_line())
    c.close()
    srv.wait_log(r"event=queued id=%s" % qid, count=2)
    smtpd = [ln for ln in srv.log().splitlines() if "smtpd[" in ln]
    assert not [ln for ln in smtpd if "event=queued id=0123" in ln
                or "event=rcpt\"" in ln or ' event=rcpt"' in ln]
    assert not [ln for ln in smtpd if "x\\\" " in ln]


def test_dot_unstuffing(srv):
    """RFC 5321 4.5.2: a leading dot is removed from every line that has
    one; the rest of the body is kept byte for byte."""
    c = session(srv)
    qid = send_message(c, b"Subject: dots\r\n\r\n..x\r\n...\r\n..\r\n"
                       b".a.b.\r\n x.\r\n\r\n")
    _, msg = spool_read(srv, qid)
    _, rest = received_split(msg)
    assert rest == (b"Subject: dots\r\n\r\n.x\r\n..\r\n.\r\na.b.\r\n x.\r\n"
                    b"\r\n")
    c.close()


def test_dsn_parameters_in_envelope(srv):
    """RFC 3461: RET and ENVID (MAIL), NOTIFY and ORCPT (RCPT) are kept in
    the envelope in spool/queue/ID as docs/queue.md describes."""
    c = session(srv)
    c.cmd("MAIL FROM:<alice@remote.example> RET=HDRS ENVID=QQ+2Bx")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test> NOTIFY=SUCCESS,FAILURE "
          "ORCPT=rfc822;demo+2Bx@example.test")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("RCPT TO:<team@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
    qid = queued_id(c.reply_line())
    env, _ = spool_read(srv, qid)
    lines = env.splitlines()
    assert "ret hdrs" in lines
    assert "envid QQ+2Bx" in lines
    assert "from alice@remote.example" in lines
    assert [ln for ln in lines if ln.startswith("rcpt ")] == [
        "rcpt demo@example.test notify=success,failure "
        "orcpt=rfc822;demo+2Bx@example.test",
        "rcpt bob@example.test notify=never",
        "rcpt team@example.test"]
    # RET=FULL, and the null sender
    c.cmd("MAIL FROM:<> RET=FULL")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test> NOTIFY=DELAY")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: dsn2\r\n\r\nx\r\n.\r\n")
    env, _ = spool_read(srv, queued_id(c.reply_line()))
    lines = env.splitlines()
    assert "ret full" in lines and "from" in lines
    assert "rcpt demo@example.test notify=delay" in lines
    assert not any(ln.startswith("envid") for ln in lines)
    c.close()


def test_8bitmime_body(srv):
    """RFC 6152: BODY=8BITMIME, every octet but CR, LF and NUL arrives
    unchanged; the envelope says 8bitmime."""
    c = session(srv)
    body = (b"Subject: 8bit\r\nContent-Type: text/plain; charset=latin1\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" +
            bytes(b for b in range(1, 256) if b not in (10, 13)) +
            b"\r\ncaf\xc3\xa9 \xe9t\xe9\r\n")
    qid = send_message(c, body, mail="MAIL FROM:<alice@remote.example> "
                       "BODY=8BITMIME")
    env, msg = spool_read(srv, qid)
    assert "body 8bitmime" in env.splitlines()
    assert received_split(msg)[1] == body
    c.cmd("MAIL FROM:<alice@remote.example> BODY=7BIT")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.close()


def test_smtputf8_addresses(srv):
    """RFC 6531 3.4: UTF-8 addresses need the SMTPUTF8 parameter: with it,
    a UTF-8 sender, a UTF-8 alias and a UTF-8 user are accepted (and the
    envelope says smtputf8, the Received: says UTF8SMTP, RFC 6531 3.7.3);
    without it, 553 5.6.7 (RFC 6531 3.5)."""
    c = session(srv)
    c.cmd("MAIL FROM:<jörg@remote.example>")
    assert c.reply_line() == "553 5.6.7 Non-ASCII address needs SMTPUTF8"
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<jürgen@example.test>")
    assert c.reply_line() == "553 5.6.7 Non-ASCII address needs SMTPUTF8"
    c.cmd("RSET")
    assert c.reply_line() == "250 2.0.0 Ok"
    qid = send_message(c, "Subject: grüße\r\n\r\nhallo\r\n".encode(),
                       mail="MAIL FROM:<jörg@remote.example> SMTPUTF8",
                       rcpts=("jürgen@example.test", "zoë@example.test"))
    env, msg = spool_read(srv, qid)
    lines = env.splitlines()
    assert "smtputf8 1" in lines
    assert "from jörg@remote.example" in lines
    assert "rcpt jürgen@example.test" in lines
    assert "rcpt zoë@example.test" in lines
    assert b" with UTF8SMTP id " + qid.encode() in msg
    c.cmd("MAIL FROM:<a@remote.example> SMTPUTF8")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<nöbody@example.test>")
    assert c.reply_line().startswith("550 5.1.1 ")
    c.close()


needs_swaks = pytest.mark.skipif(shutil.which("swaks") is None,
                                 reason="swaks not installed")


def swaks(*args, timeout=60):
    r = subprocess.run(["swaks", "--server", "127.0.0.1"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r


@needs_swaks
def test_swaks_plain_port25(srv):
    r = swaks("--port", str(srv.port("smtp")), "--from", "alice@remote.example",
              "--to", "demo@example.test", "--helo", "swaks.test",
              "--header", "Subject: swaks plain")
    assert r.returncode == 0, r.stdout + r.stderr
    qid = queued_id(r.stdout)
    env, msg = spool_read(srv, qid)
    assert "rcpt demo@example.test" in env.splitlines()
    assert b"Subject: swaks plain\r\n" in msg
    assert msg.startswith(b"Received: from swaks.test ([127.0.0.1])")


@needs_swaks
def test_swaks_pipeline(srv):
    r = swaks("--port", str(srv.port("smtp")), "--pipeline",
              "--from", "alice@remote.example",
              "--to", "demo@example.test,team@example.test",
              "--header", "Subject: swaks pipelined")
    assert r.returncode == 0, r.stdout + r.stderr
    env, msg = spool_read(srv, queued_id(r.stdout))
    assert [ln for ln in env.splitlines() if ln.startswith("rcpt ")] == [
        "rcpt demo@example.test", "rcpt team@example.test"]
