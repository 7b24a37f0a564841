"""authd's SASL exchanges (Cyrus SASL inside authd) over its real socket."""
# SPDX-License-Identifier: ISC

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import lbtest

CRED = 1  # IPC_AUTH_FAIL_CREDENTIALS


def add_user(inst, address, password):
    r = inst.cli("user", "add", address, "--password-stdin",
                 input=password + "\n")
    assert r.returncode == 0, r.stderr


def plain(authc, pw, authz=""):
    return ("%s\0%s\0%s" % (authz, authc, pw)).encode()


def test_mechs(running):
    c = running.auth()
    assert c.sasl_mechs() == "PLAIN LOGIN"
    c.close()


def test_plain_initial_response(running):
    c = running.auth()
    ans, _ = c.sasl_start(1, "PLAIN", plain(running.demo_user,
                                             running.demo_password))
    assert ans == ("ok", running.demo_user)
    # canonical identity whatever the case the user typed
    ans, _ = c.sasl_start(2, "PLAIN", plain("DEMO@Example.TEST",
                                             running.demo_password))
    assert ans == ("ok", running.demo_user)
    # the sid is free again once the exchange ended
    ans, _ = c.sasl_start(1, "PLAIN", plain(running.demo_user,
                                             "wrong-Pw-1"), ip="192.0.2.30")
    assert ans == ("fail", CRED, "invalid credentials")
    # an unknown user reads exactly like a wrong password
    ans2, _ = c.sasl_start(3, "PLAIN", plain("ghost@example.test",
                                              "wrong-Pw-2"), ip="192.0.2.31")
    assert ans2 == ans
    # acting as somebody else is refused, even with the right password
    ans, _ = c.sasl_start(4, "PLAIN", plain(running.demo_user,
                                             running.demo_password,
                                             authz="other@example.test"),
                          ip="192.0.2.32")
    assert ans == ("fail", CRED, "invalid credentials")
    # the same authzid (in another case) is fine
    ans, _ = c.sasl_start(5, "PLAIN", plain(running.demo_user,
                                             running.demo_password,
                                             authz=running.demo_user.upper()))
    assert ans == ("ok", running.demo_user)
    # malformed (no NULs) and unknown mechanisms
    ans, _ = c.sasl_start(6, "PLAIN", b"just-some-bytes", ip="192.0.2.33")
    assert ans[0] == "fail"
    ans, _ = c.sasl_start(7, "CRAM-MD5", None, ip="192.0.2.34")
    assert ans == ("fail", CRED, "unsupported mechanism")
    c.close()
    running.wait_log(r"reason=mechanism")
    log = running.log()
    assert re.search(r"event=auth-ok service=smtp mech=PLAIN "
                     r'user="demo@example.test"', log), log
    assert re.search(r"event=auth-fail service=smtp mech=PLAIN "
                     r'user="demo@example.test" ip=192.0.2.30 '
                     r"reason=credentials failures=1", log), log
    assert "reason=authz" in log and "reason=mechanism" in log
    for secret in (running.demo_password, "wrong-Pw-1", "wrong-Pw-2"):
        assert secret not in log


def test_plain_without_initial_response(running):
    c = running.auth()
    ans, _ = c.sasl_start(9, "PLAIN")
    assert ans == ("challenge", b"")
    ans, _ = c.sasl_step(9, plain(running.demo_user, running.demo_password))
    assert ans == ("ok", running.demo_user)
    c.close()


def test_login_two_challenges(running):
    add_user(running, "Lou@Example.Test", "lou's pw")
    c = running.auth()
    ans, _ = c.sasl_start(20, "LOGIN", service="imap")
    assert ans == ("challenge", b"Username:")
    ans, _ = c.sasl_step(20, "LOU@example.test")
    assert ans == ("challenge", b"Password:")
    ans, _ = c.sasl_step(20, "lou's pw")
    assert ans == ("ok", "lou@example.test")
    # and a wrong password
    assert c.sasl_start(21, "LOGIN", ip="192.0.2.40")[0][0] == "challenge"
    assert c.sasl_step(21, "lou@example.test")[0][0] == "challenge"
    ans, _ = c.sasl_step(21, "not-Lou-pw")
    assert ans == ("fail", CRED, "invalid credentials")
    c.close()
    running.wait_log(r"mech=LOGIN .*reason=credentials")
    log = running.log()
    assert re.search(r"event=auth-ok service=imap mech=LOGIN "
                     r'user="lou@example.test"', log), log
    assert "mech=LOGIN" in log and "reason=credentials" in log
    assert "lou's pw" not in log and "not-Lou-pw" not in log


def test_abort_and_unknown_sid(running):
    c = running.auth()
    assert c.sasl_start(30, "LOGIN")[0] == ("challenge", b"Username:")
    c.sasl_abort(30)
    ans, _ = c.sasl_step(30, running.demo_user)
    assert ans[0:2] == ("fail", CRED)
    ans, _ = c.sasl_step(31337, "whatever")
    assert ans[0:2] == ("fail", CRED)
    # the connection is still fine
    assert c.sasl_mechs() == "PLAIN LOGIN"
    c.close()


def test_65_open_exchanges(running):
    c = running.auth()
    for sid in range(1, 65):
        ans, _ = c.sasl_start(sid, "LOGIN")
        assert ans == ("challenge", b"Username:"), (sid, ans)
    ans, _ = c.sasl_start(65, "LOGIN")
    assert ans[0] == "tempfail", ans
    # another connection has its own 64
    c2 = running.auth()
    assert c2.sasl_start(1, "LOGIN")[0][0] == "challenge"
    c2.close()
    # ending one makes room
    c.sasl_abort(7)
    assert c.sasl_start(65, "LOGIN")[0][0] == "challenge"
    # finish one of the open ones normally
    assert c.sasl_step(3, running.demo_user)[0] == ("challenge",
                                                     b"Password:")
    assert c.sasl_step(3, running.demo_password)[0] == ("ok",
                                                         running.demo_user)
    c.close()
    # closing the connection freed them all: authd is fine and answers
    c = running.auth()
    assert c.check(running.demo_user, running.demo_password)[0] == \
        lbtest.IPC_AUTH_OK
    c.close()


def test_throttle_applies_to_sasl(instance):
    instance.edit_conf("authd.throttle_base = 400ms\n"
                       "authd.throttle_max = 1600ms\n"
                       "authd.throttle_window = 10m")
    instance.start()
    add_user(instance, "carol@example.test", "carol pw")
    c = instance.auth()
    # Baseline: what one Argon2id verification costs on this machine.
    ans, base = c.sasl_start(1, "PLAIN", plain("carol@example.test",
                                                "carol pw"),
                             ip="198.51.100.1")
    assert ans[0] == "ok"
    took = []
    for i in range(5):
        ans, s = c.sasl_start(10 + i, "PLAIN",
                              plain("carol@example.test", "bad-%d" % i),
                              ip="203.0.113.5")
        assert ans[0] == "fail"
        took.append(s - base)
    want = [0, 0.4, 0.8, 1.6, 1.6]
    for got, w in zip(took, want):
        assert w - 0.1 <= got <= w + 0.5 + base, (took, want, base)
    # SASL failures count for CHECK too: the IP is slowed down...
    t, _, s = c.check(instance.demo_user, instance.demo_password,
                      ip="203.0.113.5")
    assert t == lbtest.IPC_AUTH_OK and s - base >= 1.5, s
    # ...and a START from it waits before even the first challenge.
    ans, s = c.sasl_start(20, "LOGIN", ip="203.0.113.5")
    assert ans == ("challenge", b"Username:") and s >= 1.5, s
    c.sasl_abort(20)
    # The account is slowed from another IP (known once Cyrus checks it)
    ans, s = c.sasl_start(21, "PLAIN", plain("carol@example.test",
                                              "carol pw"),
                          ip="198.51.100.2")
    assert ans == ("ok", "carol@example.test") and s - base >= 1.5, s
    # ...and that success cleared the account, so the next one is quick.
    ans, s = c.sasl_start(22, "PLAIN", plain("carol@example.test",
                                              "carol pw"),
                          ip="198.51.100.3")
    assert ans[0] == "ok" and s - base < 0.3, s
    # Another IP and account never waited.
    ans, s = c.sasl_start(23, "LOGIN", ip="198.51.100.4")
    assert ans[0] == "challenge" and s < 0.3, s
    c.close()
    instance.wait_log(r"failures=5")
    log = instance.log()
    assert re.search(r"event=auth-fail service=smtp mech=PLAIN "
                     r'user="carol@example.test" ip=203.0.113.5 '
                     r"reason=credentials failures=5 delay_ms=1600", log), log
    for i in range(5):
        assert "bad-%d" % i not in log
    assert "carol pw" not in log


def authd_pid(inst):
    pids = []
    for name in ("authd", "letterbox-authd"):
        pids += inst.daemon_pids(name)
    assert len(pids) == 1, inst.log()
    return pids[0]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("strace") is None,
                    reason="needs root and strace to trace authd")
def test_no_sasldb_or_saslauthd(running, tmp_path):
    """Cyrus never opens sasldb, a SASL config file or saslauthd's socket,
    whatever the answer."""
    out = tmp_path / "strace.txt"
    st = subprocess.Popen(["strace", "-f", "-qq", "-e",
                           "trace=%file,%network", "-o", str(out), "-p",
                           str(authd_pid(running))],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached
        c = running.auth()
        assert c.sasl_start(1, "PLAIN", plain(running.demo_user,
                                               running.demo_password))[0][0] \
            == "ok"
        assert c.sasl_start(2, "PLAIN", plain(running.demo_user, "bad"),
                            ip="192.0.2.77")[0][0] == "fail"
        assert c.sasl_start(3, "PLAIN", plain("ghost@example.test", "bad"),
                            ip="192.0.2.78")[0][0] == "fail"
        assert c.sasl_start(4, "PLAIN", plain(running.demo_user, "x",
                                               "a@example.test"),
                            ip="192.0.2.79")[0][0] == "fail"
        c.sasl_start(5, "LOGIN")
        c.sasl_step(5, running.demo_user)
        assert c.sasl_step(5, "bad")[0][0] == "fail"
        c.close()
        time.sleep(0.3)
    finally:
        st.send_signal(signal.SIGINT)
        st.wait(10)
    trace = out.read_text()
    assert "accept" in trace, trace  # we did watch authd serve us
    for bad in ("sasldb", "/etc/sasl", "saslauthd", "mux", "sasl2/"):
        assert bad not in trace, trace


def test_close_with_steps_in_flight(running):
    """Steps still queued or running on the verifier threads when their
    connection closes are dropped safely; authd exits cleanly (no
    sanitizer report) afterwards."""
    c = running.auth()
    for sid in range(1, 9):
        c.sasl_start_send(sid, "PLAIN", plain(running.demo_user,
                                              running.demo_password))
    c.sasl_start_send(20, "LOGIN")
    c.close()
    c = running.auth()
    ans, _ = c.sasl_start(1, "PLAIN", plain(running.demo_user,
                                             running.demo_password))
    assert ans == ("ok", running.demo_user)
    c.sasl_start(2, "LOGIN")  # left open at shutdown
    assert running.stop() == 0
    assert re.search(r"event=daemon-exit daemon=authd pid=\d+ status=0",
                     running.log()), running.log()
