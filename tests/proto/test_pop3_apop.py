"""APOP (RFC 1939 7) in letterbox-pop3d: off by default, on with
pop3d.apop = yes and a per-user secret set by `letterbox user apop`
(docs/pop3d.md)."""
# SPDX-License-Identifier: ISC

import hashlib
import poplib
import re
import time

import pytest

import lbtest
from test_pop3 import deliver, message, tls_ctx

SECRET = "tanstaaf"
TS_RE = re.compile(r"<(\d+)\.([0-9a-f]{16})\.(\d+)@[^<>@\s]+>")


def pop3s(inst):
    return poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"),
                           context=tls_ctx(), timeout=60)


def check_log(inst):
    log = inst.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"daemon-exit daemon=(pop3d|authd) pid=\d+ "
                         r"status=[1-9]", log), log[-3000:]


def started(inst):
    lbtest.smtp_users(inst)
    inst.start()
    inst.wait_log(r"pop3d.*event=started", timeout=30)
    return inst


@pytest.fixture
def pop_off(instance):
    yield started(instance)
    assert instance.stop() == 0
    check_log(instance)


@pytest.fixture
def pop_apop(instance):
    instance.edit_conf("pop3d.apop = yes")
    r = instance.cli("user", "apop", instance.demo_user, "--password-stdin",
                     input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    yield started(instance)
    assert instance.stop() == 0
    check_log(instance)


def test_apop_off_by_default(pop_off):
    p = pop3s(pop_off)
    welcome = p.getwelcome().decode()
    assert "<" not in welcome and ">" not in welcome, welcome
    with pytest.raises(poplib.error_proto, match=r"-ERR APOP not available"):
        p._shortcmd("APOP %s %s" % (pop_off.demo_user, "0" * 32))
    # poplib itself refuses: no timestamp in the greeting
    with pytest.raises(poplib.error_proto):
        p.apop(pop_off.demo_user, SECRET)
    # and USER/PASS still works on the same connection
    p.user(pop_off.demo_user)
    p.pass_(pop_off.demo_password)
    p.quit()


def test_apop_login_and_retrieve(pop_apop):
    deliver(pop_apop, [message("apop one"), message("apop two")])
    p = pop3s(pop_apop)
    welcome = p.getwelcome().decode()
    assert TS_RE.search(welcome), welcome
    resp = p.apop(pop_apop.demo_user, SECRET)
    assert resp.startswith(b"+OK"), resp
    assert p.stat()[0] == 2
    _, lines, _ = p.retr(1)
    assert b"Subject: apop one" in lines
    p.quit()
    assert "event=login how=apop user=%s" % pop_apop.demo_user in \
        pop_apop.log()


def test_apop_digest_case_and_address_case(pop_apop):
    p = pop3s(pop_apop)
    ts = TS_RE.search(p.getwelcome().decode()).group(0)
    digest = hashlib.md5((ts + SECRET).encode()).hexdigest().upper()
    resp = p._shortcmd("APOP %s %s" % (pop_apop.demo_user.upper(), digest))
    assert resp.startswith(b"+OK"), resp
    p.quit()


def test_apop_wrong_digest_throttled(pop_apop):
    times = []
    for _ in range(3):
        p = pop3s(pop_apop)
        t0 = time.monotonic()
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
            p.apop(pop_apop.demo_user, "wrong")
        times.append(time.monotonic() - t0)
        p.quit()
    assert times[2] >= 1.0, times
    assert "event=auth-fail how=apop" in pop_apop.log()
    # a digest for another greeting's timestamp is wrong too (replay)
    p = pop3s(pop_apop)
    ts = TS_RE.search(p.getwelcome().decode()).group(0)
    p.quit()
    p = pop3s(pop_apop)
    digest = hashlib.md5((ts + SECRET).encode()).hexdigest()
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p._shortcmd("APOP %s %s" % (pop_apop.demo_user, digest))
    p.quit()


def test_apop_user_without_secret(pop_apop):
    bob = "bob@" + pop_apop.domain
    p = pop3s(pop_apop)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.apop(bob, lbtest.SMTP_BOB_PASSWORD)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.apop(bob, SECRET)
    p.quit()
    # bob's password still works with USER/PASS
    p = pop3s(pop_apop)
    p.user(bob)
    p.pass_(lbtest.SMTP_BOB_PASSWORD)
    p.quit()


def test_apop_cleared_secret(pop_apop):
    r = pop_apop.cli("user", "apop", pop_apop.demo_user, "--clear")
    assert r.returncode == 0, r.stderr
    p = pop3s(pop_apop)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.apop(pop_apop.demo_user, SECRET)
    p.quit()


def test_apop_timestamps_differ(pop_apop):
    seen = set()
    for _ in range(5):
        p = pop3s(pop_apop)
        m = TS_RE.search(p.getwelcome().decode())
        assert m, p.getwelcome()
        seen.add(m.group(0))
        p.quit()
    assert len(seen) == 5, seen


def test_apop_in_use(pop_apop):
    a = pop3s(pop_apop)
    a.apop(pop_apop.demo_user, SECRET)
    b = pop3s(pop_apop)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
        b.apop(pop_apop.demo_user, SECRET)
    b.quit()
    a.quit()


def test_apop_before_tls(pop_apop):
    """As USER/PASS: refused before STLS unless plaintext_auth = yes."""
    p = poplib.POP3("127.0.0.1", pop_apop.port("pop3"), timeout=60)
    assert TS_RE.search(p.getwelcome().decode())
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        p.apop(pop_apop.demo_user, SECRET)
    p.stls(context=tls_ctx())
    resp = p.apop(pop_apop.demo_user, SECRET)
    assert resp.startswith(b"+OK"), resp
    p.quit()


def test_apop_not_after_login(pop_apop):
    p = pop3s(pop_apop)
    p.apop(pop_apop.demo_user, SECRET)
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        p.apop(pop_apop.demo_user, SECRET)
    p.quit()
