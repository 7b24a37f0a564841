"""letterbox-queued delivering to MX hosts found in DNS (no smarthost): a
test DNS server (dnsd.py) and SMTP sinks on 127.0.0.2 and 127.0.0.3, all
on one port (queued.mx_port).  MX preference, fallback to the next MX when
the first refuses, one transaction per domain, null MX bounces at once
(RFC 7505), a DNS failure defers (docs/relay.md)."""
# SPDX-License-Identifier: ISC

import glob
import os
import socket

import pytest

from dnsd import DnsServer
from test_queue_delivery import parse_dsn
from test_relay import Sink, submit


def free_port_on(*hosts):
    """A port free on every host (loopback addresses)."""
    for _ in range(50):
        s = socket.socket()
        s.bind((hosts[0], 0))
        port = s.getsockname()[1]
        s.close()
        ok = True
        for h in hosts:
            t = socket.socket()
            try:
                t.bind((h, port))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return port
    raise RuntimeError("no common free port")


@pytest.fixture
def mx(instance):
    d = DnsServer().start()
    d.records["remote.test"] = {"MX": [(20, "mx2.remote.test"),
                                       (10, "mx1.remote.test")]}
    d.records["mx1.remote.test"] = {"A": ["127.0.0.2"]}
    d.records["mx2.remote.test"] = {"A": ["127.0.0.3"]}
    d.records["other.test"] = {"MX": [(5, "mx.other.test")]}
    d.records["mx.other.test"] = {"A": ["127.0.0.3"]}
    d.records["nullmx.test"] = {"MX": [(0, ".")]}
    d.records["broken.test"] = "SERVFAIL"
    port = free_port_on("127.0.0.2", "127.0.0.3")
    instance.edit_conf("queued.resolver = %s\n"
                       "queued.resolver_timeout = 1s\n"
                       "queued.mx_port = %d\n"
                       "queued.retry_min = 300ms\n" % (d.address, port))
    sinks = []
    yield instance, d, port, sinks
    for s in sinks:
        s.close()
    d.stop()


def start(instance):
    instance.start()
    return instance


def test_mx_preference_and_one_transaction_per_domain(mx):
    inst, d, port, sinks = mx
    s1 = Sink(host="127.0.0.2", port=port)
    s2 = Sink(host="127.0.0.3", port=port)
    sinks += [s1, s2]
    start(inst)
    submit(inst, ["bob@remote.test", "carol@other.test",
                  "dave@remote.test"], subject="mx order")
    inst.wait_log(r"event=removed", timeout=30)
    # remote.test's best MX (10) got its two recipients in one
    # transaction; other.test's only MX (on 127.0.0.3) its one
    assert len(s1.messages) == 1
    mail, rcpts, data = s1.messages[0]
    assert mail.startswith("MAIL FROM:<demo@example.test>")
    assert [r.split()[1] for r in rcpts] == ["TO:<bob@remote.test>",
                                             "TO:<dave@remote.test>"]
    assert b"Subject: mx order" in data
    assert len(s2.messages) == 1
    assert [r.split()[1] for r in s2.messages[0][1]] == [
        "TO:<carol@other.test>"]
    log = inst.log()
    assert "event=route domain=remote.test addresses=2" in log
    assert "event=route domain=other.test addresses=1" in log


def test_mx_fallback_when_first_refuses(mx):
    inst, d, port, sinks = mx
    # nothing listens on 127.0.0.2: the connection is refused
    s2 = Sink(host="127.0.0.3", port=port)
    sinks.append(s2)
    start(inst)
    submit(inst, ["bob@remote.test"], subject="fallback")
    inst.wait_log(r"event=removed", timeout=30)
    assert len(s2.messages) == 1
    assert b"Subject: fallback" in s2.messages[0][2]
    assert "event=delivered rcpt=<bob@remote.test>" in inst.log()


def test_null_mx_bounces_at_once(mx):
    inst, d, port, sinks = mx
    start(inst)
    submit(inst, ["nobody@nullmx.test"], subject="to a null MX")
    inst.wait_log(r"event=failed rcpt=<nobody@nullmx\.test> "
                  r"status=5\.1\.10", timeout=30)
    inst.wait_log(r"type=failure", timeout=30)
    box = os.path.join(inst.inst, "state", "mail", "example.test", "demo",
                       "new", "*")
    for _ in range(100):
        if glob.glob(box):
            break
        import time
        time.sleep(0.1)
    [f] = glob.glob(box)
    with open(f, "rb") as fh:
        _, parts, blocks = parse_dsn(fh.read())
    (r,) = blocks[1:]
    assert r["Action"] == "failed" and r["Status"] == "5.1.10"
    assert r["Diagnostic-Code"].startswith("smtp; 556 5.1.10 ")
    # no SMTP connection was tried, and no attempt repeated
    assert "deferred rcpt=<nobody@nullmx.test>" not in inst.log()


def test_dns_failure_defers(mx):
    inst, d, port, sinks = mx
    start(inst)
    submit(inst, ["x@broken.test"], subject="servfail")
    inst.wait_log(r"event=deferred rcpt=<x@broken\.test> status=4\.4\.3",
                  timeout=30)
    # and again later: still queued, not bounced
    inst.wait_log(r"event=deferred rcpt=<x@broken\.test> status=4\.4\.3",
                  count=2, timeout=30)
    assert "event=failed rcpt=<x@broken.test>" not in inst.log()
