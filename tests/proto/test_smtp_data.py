"""letterbox-smtpd: DATA and BDAT (RFC 3030), SIZE (RFC 1870), and bad
input: SMTP smuggling, bare CR/LF, NUL, clients that vanish mid-message;
plus the dialog files in tests/proto/smtp/."""
# SPDX-License-Identifier: ISC

import glob
import os
import time

import pytest

import lbtest
from lbtest import RawConn, queued_id, received_split, spool_ids, spool_read

MAXSIZE = 10240


@pytest.fixture(scope="module")
def srv():
    inst = lbtest.Instance()
    try:
        lbtest.smtp_users(inst)
        inst.edit_conf("smtpd.max_message_size = 10K")
        inst.start()
        lbtest.hold_delivery(inst)
        yield inst
    finally:
        inst.cleanup()


def session(inst, rcpts=("demo@example.test",), mail_params=""):
    c = RawConn(inst.port("smtp"))
    assert c.reply_line().startswith("220 ")
    c.cmd("EHLO client.test")
    code, lines = c.reply()
    assert code == 250 and "SIZE %d" % MAXSIZE in lines
    if rcpts is not None:
        c.cmd("MAIL FROM:<alice@remote.example>" + mail_params)
        assert c.reply_line() == "250 2.1.0 Ok"
        for r in rcpts:
            c.cmd("RCPT TO:<%s>" % r)
            assert c.reply_line() == "250 2.1.5 Ok"
    return c


def wait_for(cond, timeout=5):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def body_of(inst, qid):
    return received_split(spool_read(inst, qid)[1])[1]


# --- BDAT (RFC 3030) ------------------------------------------------------

def test_bdat_several_chunks_then_bdat_0_last(srv):
    """RFC 3030 2: each chunk gets 250, BDAT 0 LAST ends the message; the
    chunks are taken byte for byte (no dot-unstuffing in BDAT, 4.2)."""
    c = session(srv)
    chunks = [b"Subject: bdat\r\n\r\n", b"..not unstuffed\r\nline 2\r",
              b"\nline 3\r\n.\r\n"]
    total = 0
    for ch in chunks:
        c.send(b"BDAT %d\r\n" % len(ch) + ch)
        total += len(ch)
        assert c.reply_line() == "250 2.0.0 %d octets received" % total
    c.cmd("BDAT 0 LAST")
    qid = queued_id(c.reply_line())
    assert qid
    assert body_of(srv, qid) == b"".join(chunks)
    env, _ = spool_read(srv, qid)
    assert "rcpt demo@example.test" in env.splitlines()
    c.close()


def test_bdat_pipelined_last(srv):
    """RFC 3030 4.2: BDAT commands may be pipelined; one write carries two
    chunks and the LAST; the replies come in order."""
    c = session(srv)
    c.send(b"BDAT 19\r\nSubject: pipe\r\n\r\nab" b"BDAT 4 LAST\r\ncd\r\n"
           b"NOOP\r\n")
    assert c.reply_line() == "250 2.0.0 19 octets received"
    qid = queued_id(c.reply_line())
    assert c.reply_line() == "250 2.0.0 Ok"
    assert body_of(srv, qid) == b"Subject: pipe\r\n\r\nabcd\r\n"
    c.close()


def test_bdat_out_of_order(srv):
    """RFC 3030 2: the chunk of a refused BDAT is still read (its bytes are
    not commands), then the error comes."""
    c = session(srv, rcpts=None)
    c.send(b"BDAT 6\r\nQUIT\r\n")
    assert c.reply_line() == "503 5.5.1 Need MAIL before BDAT"
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.send(b"BDAT 6 LAST\r\nQUIT\r\n")
    assert c.reply_line() == "554 5.5.1 No valid recipients"
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.close()
    c = session(srv)
    c.send(b"BDAT 3\r\nab\n")
    assert c.reply_line() == "250 2.0.0 3 octets received"
    c.cmd("DATA")
    assert c.reply_line() == "503 5.5.1 DATA after BDAT in one transaction"
    c.cmd("BDAT 0 LAST")
    # the bare LF of the first chunk refuses the message (smuggling)
    assert c.reply_line() == ("550 5.6.0 Bare CR or LF in message: lines "
                              "must end with CRLF")
    c.close()


def test_bdat_empty_message(srv):
    c = session(srv)
    c.cmd("BDAT 0 LAST")
    qid = queued_id(c.reply_line())
    assert qid and body_of(srv, qid) == b""
    c.close()


# --- SIZE (RFC 1870) ------------------------------------------------------

def test_size_declared_too_big(srv):
    """RFC 1870 6.1: a declared SIZE over the limit: 552 at MAIL (5.3.4,
    RFC 3463); at the limit is fine."""
    c = session(srv, rcpts=None)
    c.cmd("MAIL FROM:<alice@remote.example> SIZE=%d" % (MAXSIZE + 1))
    assert c.reply_line() == ("552 5.3.4 Message size exceeds fixed maximum "
                              "message size")
    c.cmd("MAIL FROM:<alice@remote.example> SIZE=%d" % MAXSIZE)
    assert c.reply_line() == "250 2.1.0 Ok"
    c.close()


def test_size_exceeded_in_data(srv):
    """RFC 1870 6.3: a message that grows past the limit is refused with
    552 after the end of data and not queued; exactly the limit passes."""
    c = session(srv)
    before = spool_ids(srv)
    head = b"Subject: big\r\n\r\n"
    line = b"x" * 98 + b"\r\n"
    big = head + line * (MAXSIZE // 100 + 1)
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(big + b".\r\n")
    assert c.reply_line() == ("552 5.3.4 Message size exceeds fixed maximum "
                              "message size")
    assert spool_ids(srv) == before
    # the session goes on; exactly MAXSIZE octets are accepted
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    exact = head + b"y" * (MAXSIZE - len(head) - 2) + b"\r\n"
    assert len(exact) == MAXSIZE
    c.send(exact + b".\r\n")
    qid = queued_id(c.reply_line())
    assert body_of(srv, qid) == exact
    c.close()


def test_size_exceeded_in_bdat(srv):
    c = session(srv)
    before = spool_ids(srv)
    chunk = b"z" * 6000 + b"\r\n"
    c.send(b"BDAT %d LAST\r\n" % (2 * len(chunk)) + chunk + chunk)
    assert c.reply_line() == ("552 5.3.4 Message size exceeds fixed maximum "
                              "message size")
    # in several chunks: whichever reply refuses it, it is 552 5.3.4 and
    # nothing is queued
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    c.send(b"BDAT 0 LAST\r\n")
    replies = [c.reply_line() for _ in range(3)]
    assert replies[0] == "250 2.0.0 6002 octets received"
    assert ("552 5.3.4 Message size exceeds fixed maximum message size"
            in replies)
    assert not any(queued_id(r) for r in replies)
    assert spool_ids(srv) == before
    c.close()


# --- smuggling and bad bytes ----------------------------------------------

SMUGGLE = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n",
           b"\n.\r", b"\r\n.\r", b"\r\n.\x00\r\n", b"\n..\n"]


@pytest.mark.parametrize("sep", SMUGGLE, ids=[repr(s)[2:-1] for s in SMUGGLE])
def test_smuggling_refused(srv, sep):
    """SMTP smuggling (CVE-2023-51764/51765/51766): only <CRLF>.<CRLF> ends
    the data (RFC 5321 4.1.1.4); a look-alike inside it makes the whole
    message refused with 550 5.6.0 after the real end, nothing queued, and
    the smuggled transaction is never executed."""
    c = session(srv)
    before = spool_ids(srv)
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: real\r\n\r\nreal" + sep +
           b"MAIL FROM:<admin@example.test>\r\n"
           b"RCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    got = c.reply_line()
    assert got.startswith("550 5.6.0 "), got
    c.cmd("NOOP")
    assert c.reply_line() == "250 2.0.0 Ok"
    c.cmd("QUIT")
    assert c.reply_line().startswith("221 ")
    assert c.at_eof()
    assert spool_ids(srv) == before
    assert "from=<admin@example.test>" not in srv.log()


def test_bare_cr_in_data(srv):
    c = session(srv)
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: cr\r\n\r\nab\rcd\r\n.\r\n")
    assert c.reply_line() == ("550 5.6.0 Bare CR or LF in message: lines "
                              "must end with CRLF")
    c.close()


def test_nul_in_bdat(srv):
    c = session(srv)
    c.send(b"BDAT 8 LAST\r\na\x00b\r\nc\r\n")
    assert c.reply_line() == "550 5.6.0 NUL byte in message"
    c.close()


@pytest.mark.parametrize("how", ["data", "bdat"])
def test_disconnect_mid_message_leaves_nothing(srv, how):
    """A client that goes away mid-message: its spool file is dropped
    (docs/queue.md: ABORT), nothing in spool/queue/ nor spool/tmp/."""
    before = spool_ids(srv)
    c = session(srv)
    if how == "data":
        c.cmd("DATA")
        assert c.reply_line().startswith("354 ")
        c.send(b"Subject: gone\r\n\r\n" + b"partial line\r\n" * 100)
    else:
        c.send(b"BDAT 100\r\nabc\r\n")
        c.send(b"x" * 50)
    assert wait_for(lambda: spool_ids(srv, "tmp") != [])
    time.sleep(0.2)
    c.close()
    assert wait_for(lambda: spool_ids(srv, "tmp") == [])
    assert spool_ids(srv) == before
    srv.wait_log(r"event=aborted id=")


# --- the dialog files -------------------------------------------------------

DLG = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "smtp",
                                    "*.dlg")))


@pytest.mark.parametrize("path", DLG,
                         ids=[os.path.basename(p)[:-4] for p in DLG])
def test_dialog(instance, path):
    """Play tests/proto/smtp/NAME.dlg (format: lbtest.play_dialog) against
    a fresh instance with the dialog's @conf keys; every dialog is bad
    input, so nothing may be queued."""
    conf, port, _ = lbtest.dlg_load(path)
    if conf:
        instance.edit_conf("\n".join(conf))
    instance.start()
    lbtest.hold_delivery(instance)
    lbtest.play_dialog(path, instance.port(port))
    assert spool_ids(instance) == []
