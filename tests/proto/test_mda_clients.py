"""mda.lmtp_clients: another MTA's user (Postfix's lmtp client) may use lmtp.sock."""
# SPDX-License-Identifier: ISC

import os
import subprocess

import pytest

import lbtest

CLIENT = ("import socket,sys\n"
          "s=socket.socket(socket.AF_UNIX)\n"
          "s.settimeout(10)\n"
          "s.connect(sys.argv[1])\n"
          "try:\n"
          "    print(s.recv(200).decode() or 'closed')\n"
          "except (BrokenPipeError, ConnectionResetError):\n"
          "    print('closed')\n")


def as_nobody():
    os.setgid(65534)
    os.setuid(65534)


def greeting_as_nobody(inst):
    sock = os.path.join(inst.inst, "state", "run", "lmtp.sock")
    r = subprocess.run(["/usr/bin/python3", "-c", CLIENT, sock],
                       preexec_fn=as_nobody, capture_output=True, text=True,
                       timeout=30)
    return r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as nobody")
def test_outside_client_allowed_only_when_named(instance):
    instance.start()
    assert greeting_as_nobody(instance) == "closed\n"
    instance.stop()
    instance.edit_conf("mda.lmtp_clients = nobody")
    instance.start()
    assert greeting_as_nobody(instance).startswith("220 ")


def test_unknown_client_user_fails_check(instance):
    instance.edit_conf("mda.lmtp_clients = postfix,no-such-user-here")
    r = subprocess.run([lbtest.prog("letterboxd"), "-c", instance.conf, "-t"],
                       capture_output=True, text=True, env=instance.env())
    assert r.returncode == 1
    assert 'mda: client user "no-such-user-here" does not exist' in r.stderr
