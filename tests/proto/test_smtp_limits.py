"""letterbox-smtpd limits: line length, errors, timeouts, recipients,
connections per IP, early talkers.  Each test sets its own limit on a
fresh instance."""
# SPDX-License-Identifier: ISC

import time

import pytest

import lbtest
from lbtest import RawConn, queued_id, spool_ids, spool_read

HOST = "mail.example.test"


def start(inst, conf=""):
    if conf:
        inst.edit_conf(conf)
    inst.start()
    lbtest.hold_delivery(inst)
    return inst


def session(inst, port="smtp"):
    c = RawConn(inst.port(port))
    assert c.reply_line() == "220 %s ESMTP Letterbox" % HOST
    c.cmd("EHLO client.test")
    assert c.reply()[0] == 250
    return c


def test_command_line_length(instance):
    """RFC 5321 4.5.3.1.4: a command line is at most 1000 octets with its
    CRLF.  One longer gets 500 5.5.2 (4.5.3.1: "500 Line too long") and
    the session continues."""
    c = session(start(instance))
    c.cmd("NOOP " + "x" * (998 - 5))            # 1000 with CRLF: fine
    assert c.reply_line() == "250 2.0.0 Ok"
    c.cmd("NOOP " + "x" * (999 - 5))            # 1001
    assert c.reply_line() == "500 5.5.2 Line too long (RFC 5321 4.5.3.1)"
    c.cmd("RCPT TO:<" + "a" * 5000 + "@example.test>")
    assert c.reply_line() == "500 5.5.2 Line too long (RFC 5321 4.5.3.1)"
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.close()


def test_too_many_errors(instance):
    """smtpd.max_errors: the last error reply is followed by 421 and the
    close (RFC 5321 4.2.2, 3.8)."""
    c = session(start(instance, "smtpd.max_errors = 3"))
    c.cmd("FOO")
    assert c.reply_line() == "500 5.5.1 Command unrecognized"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "503 5.5.1 Need MAIL before RCPT"
    c.cmd("MAIL FROM:<bad")
    assert c.reply_line().startswith("501 ")
    assert c.reply_line() == "421 4.7.0 %s Too many errors; closing" % HOST
    assert c.at_eof()
    instance.wait_log(r'event=close reason="too many errors"')


def test_idle_timeout(instance):
    """A client that says nothing for smtpd.timeout gets 421 4.4.2 and the
    connection is closed (RFC 5321 4.5.3.2)."""
    c = session(start(instance, "smtpd.timeout = 2s"))
    t0 = time.monotonic()
    assert c.reply_line(timeout=10) == "421 4.4.2 %s Timeout; closing" % HOST
    took = time.monotonic() - t0
    assert 1.5 < took < 5, took
    assert c.at_eof()


def test_data_timeout_leaves_nothing(instance):
    """A client that stalls inside DATA: 421 4.4.2 after
    smtpd.data_timeout, and its half message is dropped."""
    c = session(start(instance, "smtpd.data_timeout = 2s"))
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    c.cmd("RCPT TO:<demo@example.test>")
    assert c.reply_line() == "250 2.1.5 Ok"
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: slow\r\n\r\nhalf a mess")
    assert c.reply_line(timeout=10) == "421 4.4.2 %s Timeout; closing" % HOST
    assert c.at_eof()
    deadline = time.monotonic() + 5
    while spool_ids(instance, "tmp") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_ids(instance, "tmp") == [] and spool_ids(instance) == []


def test_max_recipients(instance):
    """smtpd.max_recipients = 3: the 4th RCPT gets 452 4.5.3 (RFC 5321
    4.5.3.1.10: the client sends the rest in another transaction); the
    message goes to the first three."""
    c = session(start(instance, "smtpd.max_recipients = 3"))
    c.cmd("MAIL FROM:<alice@remote.example>")
    assert c.reply_line() == "250 2.1.0 Ok"
    rcpts = ["demo@example.test", "demo+a@example.test",
             "demo+b@example.test", "demo+c@example.test"]
    got = []
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
        got.append(c.reply_line())
    assert got == ["250 2.1.5 Ok"] * 3 + ["452 4.5.3 Too many recipients"]
    c.cmd("DATA")
    assert c.reply_line().startswith("354 ")
    c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
    env, _ = spool_read(instance, queued_id(c.reply_line()))
    assert [ln[5:] for ln in env.splitlines()
            if ln.startswith("rcpt ")] == rcpts[:3]
    c.close()


def test_max_per_ip(instance):
    """listen smtp { max_per_ip = 2 }: the third simultaneous connection
    from one IP gets 421 4.7.0 and is closed; when one ends, a new one is
    served."""
    start(instance, "listen smtp.max_per_ip = 2")
    a, b = session(instance), session(instance)
    c = RawConn(instance.port("smtp"))
    got = c.reply_line()
    assert got.startswith("421 4.7.0 %s " % HOST), got
    assert got.endswith("; try again later")
    assert c.at_eof()
    # another listener is counted apart
    d = session(instance, "submission")
    a.cmd("QUIT")
    assert a.reply_line().startswith("221 ")
    assert a.at_eof()
    deadline = time.monotonic() + 5
    while True:
        e = RawConn(instance.port("smtp"))
        got = e.reply_line()
        if got.startswith("220 ") or time.monotonic() > deadline:
            break
        e.close()
        time.sleep(0.1)
    assert got == "220 %s ESMTP Letterbox" % HOST
    for x in (b, d, e):
        x.close()


def test_early_talker(instance):
    """smtpd.greet_pause = 500ms: a client that speaks before the greeting
    gets 554 5.5.1 and the close, and none of its commands runs; a patient
    one gets the greeting after the pause."""
    start(instance, "smtpd.greet_pause = 500ms")
    t0 = time.monotonic()
    c = RawConn(instance.port("smtp"))
    assert c.reply_line() == "220 %s ESMTP Letterbox" % HOST
    assert time.monotonic() - t0 >= 0.45
    c.close()
    c = RawConn(instance.port("smtp"))
    c.send(b"EHLO spam.test\r\nMAIL FROM:<spam@remote.example>\r\n"
           b"RCPT TO:<demo@example.test>\r\nDATA\r\nspam\r\n.\r\n")
    assert c.reply_line() == ("554 5.5.1 Protocol error: talked before the "
                              "greeting")
    assert c.at_eof()
    instance.wait_log(r'event=close reason="early talker"')
    assert "from=<spam@remote.example>" not in instance.log()
    assert spool_ids(instance) == []
