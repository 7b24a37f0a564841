"""`letterbox queue list|show|flush|delete|hold|release` against a running
queued (issue 7, docs/queue.md "Admin commands"): exact listings of a
deferred message, hold across a restart, release and flush deliver, delete
removes without a DSN, and clear errors."""
# SPDX-License-Identifier: ISC

import re

import pytest

import lbtest
from test_queue_delivery import maildir_new, smtp_send


@pytest.fixture
def q():
    # a deferral waits long enough for the CLI to see it
    inst = lbtest.Instance(extra_conf="queued.retry_min = 10m\n"
                                      "queued.retry_max = 1h\n")
    try:
        lbtest.smtp_users(inst)
        inst.start()
        yield inst
    finally:
        inst.cleanup()


def cli_ok(inst, *args):
    r = inst.cli("queue", *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert r.stderr == ""
    return r.stdout


def deferred_message(inst, subject):
    """A message to demo that the MDA defers (452 4.2.2: over quota)."""
    r = inst.cli("quota", "set", "demo@example.test", "1K")
    assert r.returncode == 0, r.stderr
    qid = smtp_send(inst, ["demo@example.test"], subject=subject,
                    body="x" * 3000 + "\r\n")
    inst.wait_log(r"id=%s event=deferred rcpt=<demo@example.test> "
                  r"status=4\.2\.2" % qid)
    return qid


def test_queue_list_show(q):
    qid = deferred_message(q, "over quota")
    out = cli_ok(q, "list").splitlines()
    assert re.match(r"ID +SIZE +AGE +NEXT +RCPTS +SENDER -> RECIPIENT$",
                    out[0]), out
    m = re.match(r"%s +(\d+) +\d+s +in (\d+)m +1/1 +<alice@remote.example> "
                 r"-> demo@example.test$" % qid, out[1])
    assert m, out
    assert int(m.group(1)) > 3000 and 8 <= int(m.group(2)) <= 10
    assert re.match(r" +last error: 452 4\.2\.2 .*Mailbox full", out[2]), out
    assert out[3:] == ["1 message in the queue"]
    show = cli_ok(q, "show", qid).splitlines()
    assert show[:2] == ["id: " + qid, "state: queued"]
    assert "from: <alice@remote.example>" in show
    assert "client: 127.0.0.1 client.test" in show
    [r] = [x for x in show if x.startswith("rcpt ")]
    assert re.match(r"rcpt <demo@example.test>: deferred attempts=1 "
                    r"next=\d+m last=\"452 4\.2\.2 .*Mailbox full\"$", r), r
    hdr = show[show.index("header:") + 1:]
    assert "  Subject: over quota" in hdr
    assert any(h.startswith("  Received: from client.test") for h in hdr)


def test_queue_hold_survives_restart_then_release(q):
    qid = deferred_message(q, "held")
    assert cli_ok(q, "hold", qid) == "%s: held\n" % qid
    assert re.search(r"^%s .* held " % qid, cli_ok(q, "list"), re.M)
    # a flush does not override a hold
    r = q.cli("queue", "flush", qid)
    assert r.returncode == 1
    assert r.stderr == "letterbox: %s is held: release it first\n" % qid
    assert q.stop() == 0
    q.start()
    assert "state: held" in cli_ok(q, "show", qid).splitlines()
    # room in the mailbox, then release: delivered at once
    assert q.cli("quota", "set", "demo@example.test", "100M").returncode == 0
    mark = q.log_size()
    assert cli_ok(q, "release", qid) == "%s: released\n" % qid
    q.wait_log(r"id=%s event=removed" % qid, since=mark)
    assert len(maildir_new(q, "demo")) == 1
    assert cli_ok(q, "list").splitlines()[-1] == "0 messages in the queue"


def test_queue_flush_and_delete(q):
    a = deferred_message(q, "first")
    b = smtp_send(q, ["demo@example.test"], subject="second",
                  body="y" * 3000 + "\r\n")
    q.wait_log(r"id=%s event=deferred" % b)
    # delete: gone, no DSN to the sender
    mark = q.log_size()
    assert cli_ok(q, "delete", b) == "%s: deleted\n" % b
    q.wait_log(r"id=%s event=admin-delete" % b, since=mark)
    assert "id=%s event=bounce" % b not in q.log()
    assert b not in lbtest.spool_ids(q)
    # flush every message: tried now, delivered once there is room
    assert q.cli("quota", "set", "demo@example.test", "100M").returncode == 0
    mark = q.log_size()
    assert cli_ok(q, "flush") == "flushed 1 message\n"
    q.wait_log(r"id=%s event=delivered" % a, since=mark)
    q.wait_log(r"id=%s event=removed" % a, since=mark)
    [msg] = maildir_new(q, "demo")
    assert b"Subject: first" in msg


def test_queue_cli_errors(q):
    r = q.cli("queue", "show", "0123456789abcdef")
    assert (r.returncode, r.stderr) == (
        1, "letterbox: no message 0123456789abcdef in the queue\n")
    r = q.cli("queue", "hold", "../etc/passwd")
    assert (r.returncode, r.stderr) == (
        1, "letterbox: not a queue id (16 hex digits)\n")
    r = q.cli("queue", "frob")
    assert r.returncode == 64 and "unknown action" in r.stderr
    r = q.cli("queue", "show")
    assert r.returncode == 64 and "missing ID" in r.stderr
    r = q.cli("queue", "list", "extra")
    assert r.returncode == 64 and "too many arguments" in r.stderr
    assert q.stop() == 0
    r = q.cli("queue", "list")
    assert r.returncode == 1
    assert r.stderr.startswith("letterbox: cannot reach letterbox-queued at ")
