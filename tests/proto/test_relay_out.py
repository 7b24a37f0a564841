"""letterbox-queued's SMTP client against sinks and against a second
Letterbox instance as the MX: PIPELINING (RFC 2920), BDAT (RFC 3030), one
connection for several messages, per-destination session limits and
backoff, the verify TLS policy with a test CA, and DKIM signatures made
at send and checked with dkimpy (docs/relay.md)."""
# SPDX-License-Identifier: ISC

import imaplib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import lbtest
from dnsd import DnsServer
from test_dkim import keygen, records, verify_all
from test_relay import Sink, relay_instance, submit
from test_relay_mx import free_port_on


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def count(inst, pattern):
    return len(re.findall(pattern, inst.log()))


def submit_many(inst, rcpts):
    """One message per recipient, all in one submission session (one
    login: the messages reach the queue close together)."""
    s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=20)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
    s.login(inst.demo_user, inst.demo_password)
    for r in rcpts:
        s.sendmail(inst.demo_user, [r], b"From: <" + inst.demo_user.encode()
                   + b">\r\nTo: <" + r.encode() + b">\r\nSubject: many"
                   b"\r\n\r\nHello.\r\n")
    s.quit()


# ---- PIPELINING, BDAT, reuse, limits ----

def test_pipelining_sends_mail_rcpts_and_data_in_one_group(instance):
    sink = Sink(peek_after_mail=True)
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["bob@remote.test", "carol@remote.test"])
        inst.wait_log(r"event=removed")
        # what had arrived behind MAIL before it was answered
        assert sink.groups == [b"RCPT TO:<bob@remote.test>\r\n"
                               b"RCPT TO:<carol@remote.test>\r\n"
                               b"DATA\r\n"]
        assert sink.data_verbs == ["DATA"]
        inst.wait_log(r"event=relay-session peer=127\.0\.0\.1:\d+ rcpts=2 "
                      r"data=yes tls=no pipelining=yes bdat=no dkim=no "
                      r"nth=1")
    finally:
        sink.close()


def test_pipelined_refusals_are_read_in_order(instance):
    # carol refused, bob taken: each reply belongs to its own command
    sink = Sink(rcpt_reply=lambda a, n: "550 5.1.1 no such user"
                if a.startswith("carol") else "250 2.1.5 ok")
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["carol@remote.test", "bob@remote.test"])
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        inst.wait_log(r"event=failed rcpt=<carol@remote.test> "
                      r"status=5\.1\.1")
        [(_, rcpts, _)] = sink.messages
        assert rcpts == ["RCPT TO:<bob@remote.test>"]
    finally:
        sink.close()


def test_no_recipient_taken_sends_no_message(instance):
    sink = Sink(rcpt_reply=lambda a, n: "550 5.1.1 no such user")
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["carol@remote.test"])
        inst.wait_log(r"event=failed rcpt=<carol@remote.test> "
                      r"status=5\.1\.1")
        inst.wait_log(r"event=relay-session peer=\S+ rcpts=1 data=no ")
        assert sink.messages == []
        # DATA was in the group (RFC 2920 3.1) and refused by the sink
        assert "DATA" in sink.commands
    finally:
        sink.close()


def test_bdat_when_the_peer_offers_chunking(instance):
    sink = Sink(ehlo=("SIZE 1000000", "8BITMIME", "PIPELINING",
                      "CHUNKING"), peek_after_mail=True)
    try:
        inst = relay_instance(instance, sink)
        body = b"one\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
        msg = submit(inst, ["bob@remote.test"], body=body)
        inst.wait_log(r"event=removed")
        [(_, _, data)] = sink.messages
        # sent as it is: no dot-stuffing in a chunk (RFC 3030 2)
        assert data.endswith(msg)
        assert sink.data_verbs == ["BDAT"]
        assert "BDAT %d LAST" % len(data) in sink.commands
        # BDAT waits for the RCPT replies; no DATA in the group
        assert sink.groups == [b"RCPT TO:<bob@remote.test>\r\n"]
        inst.wait_log(r"event=relay-session peer=\S+ rcpts=1 data=yes "
                      r"tls=no pipelining=yes bdat=yes dkim=no nth=1")
    finally:
        sink.close()


def test_dest_sessions_caps_one_destination(instance):
    sink = Sink(dot_reply=lambda n: (time.sleep(0.4), "250 2.0.0 ok")[1])
    try:
        inst = relay_instance(instance, sink, "queued.dest_sessions = 2")
        submit_many(inst, ["bob%d@remote.test" % i for i in range(6)])
        for i in range(6):
            inst.wait_log(r"event=delivered rcpt=<bob%d@remote.test> "
                          r"relay=smtp" % i, timeout=30)
        assert len(sink.messages) == 6
        assert sink.max_txn == 2
        # the waiting ones went over the open connections
        assert count(inst, r"event=relay-reuse ") >= 1
        assert sink.connections == 6 - count(inst, r"event=relay-reuse ")
    finally:
        sink.close()


# ---- backoff ----

def test_smarthost_backoff_and_flush(instance):
    port = closed_port()
    instance.edit_conf("queued.relay_host = 127.0.0.1:%d\n"
                       "queued.retry_min = 30s" % port)
    inst = instance.start()
    submit(inst, ["bob@remote.test"])
    inst.wait_log(r'event=destination-down dest=\[smarthost\] fails=1 '
                  r'retry_in_ms=30000 reason="421 4\.4\.2 smtp: no address '
                  r'of the destination accepted a connection"')
    # the next message is not tried there while it backs off
    submit(inst, ["carol@remote.test"])
    inst.wait_log(r"event=deferred rcpt=<carol@remote.test> status=4\.4\.1")
    assert count(inst, r"event=smtp-connect-failed ") == 1
    # `letterbox queue flush` means now, destination backoff included
    r = inst.cli("queue", "flush")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "flushed 2 messages\n"
    inst.wait_log(r"event=smtp-connect-failed ", count=2)
    deadline = time.monotonic() + 10
    while count(inst, r"event=deferred rcpt=<\w+@remote.test> "
                r"status=4\.4\.2") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count(inst, r"event=deferred rcpt=<\w+@remote.test> "
                 r"status=4\.4\.2") >= 2


@pytest.fixture
def mx(instance):
    d = DnsServer().start()
    d.records["remote.test"] = {"MX": [(10, "mx1.remote.test")]}
    d.records["mx1.remote.test"] = {"A": ["127.0.0.2"]}
    d.records["dead.test"] = {"MX": [(10, "mx.dead.test")]}
    d.records["mx.dead.test"] = {"A": ["127.0.0.4"]}
    port = free_port_on("127.0.0.2", "127.0.0.4")
    instance.edit_conf("queued.resolver = %s\n"
                       "queued.resolver_timeout = 1s\n"
                       "queued.mx_port = %d\n"
                       "queued.retry_min = 30s\n" % (d.address, port))
    yield instance, port
    d.stop()


def test_dead_domain_does_not_hold_up_the_others(mx):
    inst, port = mx
    sink = Sink(host="127.0.0.2", port=port)
    try:
        inst.start()
        submit(inst, ["x@dead.test"])
        inst.wait_log(r'event=destination-down dest=dead\.test fails=1 ')
        submit(inst, ["y@dead.test", "bob@remote.test"])
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        inst.wait_log(r"event=deferred rcpt=<y@dead.test> status=4\.4\.1")
        assert count(inst, r"event=smtp-connect-failed peer=127\.0\.0\.4") \
            == 1
        [(_, rcpts, _)] = sink.messages
        assert rcpts == ["RCPT TO:<bob@remote.test>"]
    finally:
        sink.close()


# ---- a second Letterbox instance as the MX ----

def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def make_ca_and_cert(inst, name):
    """A test CA and a server certificate for name signed by it, in a
    directory of inst that its daemons (their own users under root) can
    read."""
    d = os.path.join(inst.dir, "ca-" + name)
    os.makedirs(d, mode=0o755)
    os.chmod(d, 0o755)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            "ca.key", "-out", "ca.crt", "-days", "2", "-subj",
            "/CN=Letterbox Test CA", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key",
            "-out", "srv.csr", "-subj", "/CN=" + name, cwd=d)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" %
                name)
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey",
            "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "2",
            "-extfile", "ext", cwd=d)
    os.chmod(os.path.join(d, "ca.crt"), 0o644)
    return d


def install_cert(inst, d):
    """The instance's TLS files get srv.crt/srv.key (same owners and
    modes as the ones letterbox init made)."""
    for ours, theirs in (("cert", "srv.crt"), ("key", "srv.key")):
        path = os.path.join(inst.inst, "tls", ours + ".pem")
        with open(os.path.join(d, theirs), "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data)


@pytest.fixture
def pair(instance):
    b = lbtest.Instance(domain="b.test")
    d = DnsServer().start()
    d.records["b.test"] = {"MX": [(10, "mx.b.test")]}
    d.records["mx.b.test"] = {"A": ["127.0.0.1"]}
    instance.edit_conf("queued.resolver = %s\n"
                       "queued.resolver_timeout = 1s\n"
                       "queued.mx_port = %d\n"
                       "queued.retry_min = 30s\n" % (d.address,
                                                     b.port("smtp")))
    try:
        yield instance, b
    finally:
        b.cleanup()
        d.stop()


def fetch_all(inst, user, password):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = imaplib.IMAP4_SSL("127.0.0.1", inst.port("imaps"), ssl_context=ctx,
                          timeout=20)
    c.login(user, password)
    c.select("INBOX", readonly=True)
    typ, data = c.search(None, "ALL")
    if data == [b""]:
        c.logout()
        return []
    typ, data = c.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    c.logout()
    return [x[1] for x in data if isinstance(x, tuple)]


def test_second_instance_as_mx_verified_tls_and_dkim(pair):
    a, b = pair
    ca = make_ca_and_cert(a, "mx.b.test")
    install_cert(b, ca)
    keygen(a, "example.test", "s1")
    recs = records(a.cli("dkim", "show", "example.test").stdout)
    a.edit_conf("queued.tls_policy = \"b.test:verify, *:may\"\n"
                "queued.tls_ca_file = %s/ca.crt" % ca)
    b.start()
    a.start()
    sent = [submit(a, ["demo@b.test"], subject="to b %d" % i,
                   body=b"Hello B %d.\r\n.dot line\r\n" % i)
            for i in range(2)]
    for i in range(2):
        a.wait_log(r"event=delivered rcpt=<demo@b.test> relay=smtp",
                   count=2, timeout=30)
    a.wait_log(r"event=smtp-tls peer=127\.0\.0\.1:%d version=TLSv1\.3 "
               % b.port("smtp"))
    # our smtpd offers PIPELINING and CHUNKING: both were used
    a.wait_log(r"event=relay-session peer=127\.0\.0\.1:%d rcpts=1 data=yes "
               r"tls=yes pipelining=yes bdat=yes dkim=yes nth=1"
               % b.port("smtp"))
    a.wait_log(r"event=dkim-signed domain=example\.test")
    b.wait_log(r"event=delivered rcpt=<demo@b\.test> ", count=2)
    got = fetch_all(b, b.demo_user, b.demo_password)
    assert len(got) == 2
    for msg, data in zip(sent, sorted(got, key=lambda x: b"to b 1" in x)):
        assert data.endswith(msg)
        sigs = re.findall(rb"^DKIM-Signature:.*?(?=^\S)", data, re.M | re.S)
        assert len(sigs) == 2
        assert b"s=s1-ed" in sigs[0] + sigs[1]
        assert b"s=s1-rsa" in sigs[0] + sigs[1]
        assert verify_all(data, recs) == [True, True]


def test_verify_policy_defers_an_unknown_ca_and_a_wrong_name(pair):
    a, b = pair
    a.edit_conf("queued.tls_policy = b.test:verify")
    b.start()
    a.start()
    # b's self-signed certificate chains to no CA we trust
    submit(a, ["demo@b.test"])
    a.wait_log(r"event=deferred rcpt=<demo@b.test> status=4\.7\.5")
    assert re.search(r"certificate of 127\.0\.0\.1:%d not verified: "
                     r"self.signed certificate" % b.port("smtp"), a.log())
    a.stop()
    # a CA we trust, but the certificate names another host
    ca = make_ca_and_cert(a, "other.b.test")
    install_cert(b, ca)
    b.stop()
    b.start()
    a.edit_conf("queued.tls_ca_file = %s/ca.crt" % ca)
    a.start()
    a.cli("queue", "flush")
    a.wait_log(r"certificate of 127\.0\.0\.1:%d not verified: hostname "
               r"mismatch" % b.port("smtp"), timeout=30)
    assert fetch_all(b, b.demo_user, b.demo_password) == []


# ---- NOTIFY=SUCCESS across the relay (RFC 3461 5.2) ----

def inbox_file(inst, timeout=20):
    mdir = os.path.join(inst.inst, "state", "mail", "example.test", "demo",
                        "new")
    deadline = time.time() + timeout
    while not (os.path.isdir(mdir) and os.listdir(mdir)) and \
            time.time() < deadline:
        time.sleep(0.1)
    [name] = os.listdir(mdir)
    with open(os.path.join(mdir, name), "rb") as f:
        return f.read()


def test_success_notify_relayed_without_dsn(instance):
    # the next hop has no DSN: NOTIFY is not passed on (5.2.2 (a)) and
    # we say "relayed" (5.2.2 (b))
    sink = Sink(ehlo=("SIZE 1000000", "8BITMIME", "PIPELINING"))
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["bob@remote.test"],
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        inst.wait_log(r"event=bounce .*type=success")
        [(_, rcpts, _)] = sink.messages
        assert rcpts == ["RCPT TO:<bob@remote.test>"]
        text = inbox_file(inst)
        assert b"Final-Recipient: rfc822; bob@remote.test" in text
        assert b"Action: relayed\r\nStatus: 2.0.0" in text
        assert b"<bob@remote.test>: relayed to a server that sends no " \
            b"delivery reports" in text
    finally:
        sink.close()


def test_success_notify_passed_to_a_dsn_server(instance):
    # the next hop takes DSN requests: it gets NOTIFY and answers for
    # itself; we send no success DSN (5.2.1)
    sink = Sink()
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["bob@remote.test"],
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        inst.wait_log(r"event=removed")
        [(_, rcpts, _)] = sink.messages
        assert rcpts == ["RCPT TO:<bob@remote.test> "
                         "NOTIFY=SUCCESS,FAILURE"]
        assert "event=bounce" not in inst.log()
        mdir = os.path.join(inst.inst, "state", "mail", "example.test",
                            "demo", "new")
        assert not os.path.isdir(mdir) or os.listdir(mdir) == []
    finally:
        sink.close()
