"""Delay warnings (RFC 3464 Action: delayed, RFC 3461 NOTIFY) from the real
queue: a message the MDA keeps deferring (demo over quota) warns its local
sender once, with the headers or (RET=FULL) the whole message; NOTIFY
without DELAY, NOTIFY=NEVER and the null sender get none (docs/queue.md)."""
# SPDX-License-Identifier: ISC

import time

import pytest

import lbtest
from test_queue_delivery import maildir_new, parse_dsn, smtp_send


@pytest.fixture
def dq():
    inst = lbtest.Instance(extra_conf="queued.retry_min = 300ms\n"
                                      "queued.retry_max = 1s\n"
                                      "queued.delay_warning = 1s\n")
    try:
        lbtest.smtp_users(inst)
        inst.start()
        r = inst.cli("quota", "set", "demo@example.test", "1K")
        assert r.returncode == 0, r.stderr
        yield inst
    finally:
        inst.cleanup()


BIG = "x" * 3000 + "\r\n"


def deferrals(inst, qid, n):
    inst.wait_log(r"id=%s event=deferred rcpt=<demo@example.test>" % qid,
                  count=n, timeout=30)


def test_delay_warning_once_with_headers(dq):
    qid = smtp_send(dq, ["demo@example.test"], mail="bob@example.test",
                    subject="slow one", body=BIG,
                    mail_params=" ENVID=slow+2Bone")
    bid = dq.wait_log(r"id=%s event=bounce bounce_id=([0-9a-f]{16}) "
                      r"rcpts=1 type=delay" % qid, timeout=30)[0]
    dq.wait_log(r"id=%s event=removed" % bid)
    # later deferrals send no second warning
    n = dq.log().count("id=%s event=deferred" % qid)
    deferrals(dq, qid, n + 3)
    assert dq.log().count("id=%s event=bounce " % qid) == 1
    [dsn] = maildir_new(dq, "bob")
    m, parts, blocks = parse_dsn(dsn)
    assert m["Subject"] == "Delayed Mail (still being retried)"
    assert m["Auto-Submitted"] == "auto-replied"
    assert "will be tried again until" in parts[0].get_payload()
    assert blocks[0]["Original-Envelope-Id"] == "slow+one"
    (r,) = blocks[1:]
    assert r["Final-Recipient"] == "rfc822; demo@example.test"
    assert r["Action"] == "delayed" and r["Status"] == "4.2.2"
    assert r["Diagnostic-Code"].startswith("smtp; 452 4.2.2 ")
    assert r["Will-Retry-Until"] and r["Last-Attempt-Date"]
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "Subject: slow one" in parts[2].get_payload()
    assert BIG.strip() not in dsn.decode()
    # the message itself still waits and goes once there is room
    assert dq.cli("quota", "set", "demo@example.test", "100M").returncode == 0
    dq.wait_log(r"id=%s event=removed" % qid, timeout=30)
    assert len(maildir_new(dq, "demo")) == 1


def test_delay_warning_ret_full(dq):
    qid = smtp_send(dq, ["demo@example.test"], mail="bob@example.test",
                    subject="whole", body=BIG, mail_params=" RET=FULL",
                    rcpt_params=" NOTIFY=DELAY,FAILURE")
    bid = dq.wait_log(r"id=%s event=bounce bounce_id=([0-9a-f]{16}) "
                      r"rcpts=1 type=delay" % qid, timeout=30)[0]
    dq.wait_log(r"id=%s event=removed" % bid)
    [dsn] = maildir_new(dq, "bob")
    _, parts, blocks = parse_dsn(dsn)
    assert blocks[1]["Action"] == "delayed"
    assert parts[2].get_content_type() == "message/rfc822"
    inner = parts[2].get_payload()[0]
    assert inner["Subject"] == "whole"
    assert inner.get_payload().strip() == BIG.strip()


@pytest.mark.parametrize("mail,params", [
    ("bob@example.test", " NOTIFY=FAILURE"),
    ("bob@example.test", " NOTIFY=NEVER"),
    ("", ""),                       # the null sender: never
])
def test_no_delay_warning(dq, mail, params):
    qid = smtp_send(dq, ["demo@example.test"], mail=mail, subject="quiet",
                    body=BIG, rcpt_params=params)
    # well past delay_warning (1 s): several deferrals, no DSN
    deferrals(dq, qid, 4)
    time.sleep(1.5)
    deferrals(dq, qid, 5)
    assert "id=%s event=bounce" % qid not in dq.log()
    assert maildir_new(dq, "bob") == []
