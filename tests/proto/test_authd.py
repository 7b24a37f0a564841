"""authd over its real socket: passwords, resolution, throttling, bad peers."""
# SPDX-License-Identifier: ISC

import os
import socket
import struct
import subprocess

import pytest

import lbtest
from lbtest import IPC_AUTH_OK, IPC_AUTH_FAIL, IPC_AUTH_ERROR


def add_user(inst, address, password):
    r = inst.cli("user", "add", address, "--password-stdin",
                 input=password + "\n")
    assert r.returncode == 0, r.stderr


def test_right_and_wrong_password(running):
    c = running.auth()
    assert c.check(running.demo_user, running.demo_password)[:2] == \
        (IPC_AUTH_OK, running.demo_user)
    # Case of the address does not matter; the reply is canonical.
    assert c.check(running.demo_user.upper(), running.demo_password)[:2] == \
        (IPC_AUTH_OK, running.demo_user)
    t, text, _ = c.check(running.demo_user, "wrong", ip="192.0.2.10")
    assert t == IPC_AUTH_FAIL
    # An unknown user gets exactly the same answer as a wrong password.
    t2, text2, _ = c.check("nobody@example.test", "wrong", ip="192.0.2.11")
    assert (t2, text2) == (t, text)
    c.close()
    log = running.log()
    assert "event=auth-fail" in log
    assert "wrong" not in log.replace("wrong-", "")  # never the password
    assert running.demo_password not in log


def test_user_added_while_running_can_log_in(running):
    add_user(running, "Bob@Example.Test", "s3cret pass")
    c = running.auth()
    assert c.check("bob@example.test", "s3cret pass")[:2] == \
        (IPC_AUTH_OK, "bob@example.test")
    r = running.cli("user", "passwd", "bob@example.test", "--password-stdin",
                    input="new pass\n")
    assert r.returncode == 0, r.stderr
    assert c.check("bob@example.test", "s3cret pass", ip="192.0.2.20")[0] == \
        IPC_AUTH_FAIL
    assert c.check("bob@example.test", "new pass", ip="192.0.2.21")[0] == \
        IPC_AUTH_OK
    r = running.cli("user", "del", "bob@example.test")
    assert r.returncode == 0, r.stderr
    assert c.check("bob@example.test", "new pass", ip="192.0.2.22")[0] == \
        IPC_AUTH_FAIL
    c.close()


def test_throttle_grows_per_ip_and_spares_others(instance):
    instance.edit_conf("authd.throttle_base = 400ms\n"
                       "authd.throttle_max = 1600ms\n"
                       "authd.throttle_window = 10m")
    instance.start()
    add_user(instance, "carol@example.test", "carol pw")
    c = instance.auth()
    # Baseline: what one Argon2id verification costs on this machine.
    _, _, base = c.check("carol@example.test", "carol pw", ip="198.51.100.1")
    took = []
    for i in range(5):
        t, _, s = c.check("carol@example.test", "bad%d" % i, ip="203.0.113.5")
        assert t == IPC_AUTH_FAIL
        took.append(s)
    want = [0, 0.4, 0.8, 1.6, 1.6]
    # Each answer waits at least its delay; on a loaded machine the hash
    # itself may take a few times the baseline, so the upper bound is
    # loose and the lower one does not subtract the baseline.
    for got, w in zip(took, want):
        assert w - 0.05 <= got <= w + 0.5 + 3 * base, (took, want, base)
    # The same IP is slowed down even for another account's right password.
    t, _, s = c.check(instance.demo_user, instance.demo_password,
                      ip="203.0.113.5")
    assert t == IPC_AUTH_OK and s - base >= 1.5, s
    # The account is slowed down from another IP too...
    t, _, s = c.check("carol@example.test", "carol pw", ip="198.51.100.2")
    assert t == IPC_AUTH_OK and s - base >= 1.5, s
    # ...and that success cleared the account, so the next one is quick.
    t, _, s = c.check("carol@example.test", "carol pw", ip="198.51.100.3")
    assert t == IPC_AUTH_OK and s - base < 0.3, s
    # Another IP and account never waited.
    t, _, s = c.check(instance.demo_user, instance.demo_password,
                      ip="198.51.100.4")
    assert t == IPC_AUTH_OK and s - base < 0.3, s
    c.close()
    assert "failures=5" in instance.log()


def test_resolve(running):
    add_user(running, "alice@example.test", "pw alice")
    for args in (["alias", "add", "sales@example.test", "alice@example.test",
                  "partner@elsewhere.example"],
                 ["alias", "add", "@example.test", "demo@example.test"]):
        r = running.cli(*args)
        assert r.returncode == 0, r.stderr
    c = running.auth()
    assert c.resolve("alice@example.test") == \
        ("local", [("alice@example.test", "mailbox")])
    assert c.resolve("Alice+news@EXAMPLE.test") == \
        ("local", [("alice@example.test", "mailbox")])
    kind, targets = c.resolve("sales@example.test")
    assert kind == "local"
    assert sorted(targets) == [("alice@example.test", "mailbox"),
                               ("partner@elsewhere.example", "forward")]
    assert c.resolve("whoever@example.test") == \
        ("local", [("demo@example.test", "mailbox")])
    assert c.resolve("someone@elsewhere.example") == ("remote", [])
    r = running.cli("alias", "del", "@example.test")
    assert r.returncode == 0, r.stderr
    assert c.resolve("whoever@example.test") == ("unknown", [])
    c.close()


def test_malformed_request_closes_only_that_client(running):
    bad = running.auth()
    # An AUTH_CHECK whose string length runs past the payload.
    bad.s.sendall(lbtest.ipc_frame(lbtest.IPC_AUTH_CHECK, 7,
                                   struct.pack("<I", 1000) + b"x"))
    mtype, reqid, r = bad.recv()
    assert (mtype, reqid) == (IPC_AUTH_ERROR, 7)
    with pytest.raises((EOFError, ConnectionResetError)):
        bad.recv()
    bad.close()
    # An oversized frame header: closed without a reply.
    big = running.auth()
    big.s.sendall(struct.pack("<IIQ", lbtest.IPC_AUTH_CHECK, 0x7fffffff, 1))
    with pytest.raises((EOFError, ConnectionResetError)):
        big.recv()
    big.close()
    good = running.auth()
    assert good.check(running.demo_user, running.demo_password)[0] == \
        IPC_AUTH_OK
    good.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_foreign_uid_is_refused(running):
    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)
    # However the refusal reaches the client (EOF, reset, or a broken
    # pipe if it is still sending), it must never get an answer.
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "s.settimeout(10)\n"
            "s.connect(sys.argv[1])\n"
            "try:\n"
            "    s.sendall(b'\\x64\\0\\0\\0' + b'\\0'*12)\n"
            "    print('answer' if s.recv(100) else 'closed')\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    print('closed')\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, running.auth_sock],
                       preexec_fn=as_nobody, capture_output=True, text=True,
                       timeout=30)
    assert r.stdout == "closed\n", (r.stdout, r.stderr)
    assert "event=peer-refused uid=65534" in running.log()


def test_cli_auth_test(running):
    r = running.cli("auth", "test", running.demo_user, "--password-stdin",
                    input=running.demo_password + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK %s" % running.demo_user), r.stdout
    r = running.cli("auth", "test", running.demo_user, "--password-stdin",
                    "--ip", "192.0.2.99", input="nope\n")
    assert r.returncode == 1
    assert r.stdout.startswith("FAIL"), r.stdout
    r = running.cli("auth", "resolve", "DEMO+x@example.test")
    assert r.returncode == 0
    assert r.stdout == "local: demo@example.test (mailbox)\n", r.stdout
