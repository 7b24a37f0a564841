"""The user-facing commands: make run brings up a demo instance; make install lays out files."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import subprocess
import tempfile
import time

import lbtest


def test_make_run_script_prints_login_and_serves(tmp_path):
    demo = tempfile.mkdtemp(prefix="lbrun-")
    os.chmod(demo, 0o755)
    demo_dir = os.path.join(demo, "demo")
    env = dict(os.environ, LB_DEMO_DIR=demo_dir,
               LB_PORT_OFFSET=str(lbtest.free_offset()), **lbtest.SAN_ENV)
    log = open(os.path.join(demo, "out"), "w+")
    p = subprocess.Popen([os.path.join(lbtest.REPO, "scripts", "run.sh"),
                          lbtest.BUILD], stdout=log, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        text = ""
        while "event=ready" not in text and time.monotonic() < deadline:
            assert p.poll() is None, text
            time.sleep(0.1)
            log.seek(0)
            text = log.read()
        m = re.search(r"demo login: (demo@example\.test) password: (\S+)", text)
        assert m, text
        with open(os.path.join(demo_dir, "demo-password")) as f:
            assert f.read().strip() == m.group(2)
        c = lbtest.AuthClient(os.path.join(demo_dir, "state", "run",
                                           "authd.sock"))
        assert c.check(m.group(1), m.group(2))[0] == lbtest.IPC_AUTH_OK
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(20)
        left = lbtest.pgroup_pids(p.pid)
        if left:
            os.killpg(p.pid, signal.SIGKILL)
        log.close()
        subprocess.run(["rm", "-rf", demo])
    assert rc == 0 and not left


def test_make_install_layout(tmp_path):
    dest = tmp_path / "dest"
    san = "1" if lbtest.BUILD.rstrip("/").endswith("san") else "0"
    r = subprocess.run(["make", "-s", "-C", lbtest.REPO, "SAN=" + san,
                        "install", "DESTDIR=%s" % dest, "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for f in ("usr/sbin/letterboxd", "usr/bin/letterbox",
              "usr/libexec/letterbox/letterbox-authd",
              "usr/etc/letterbox/letterbox.conf.example",
              "usr/share/doc/letterbox/config.md"):
        assert (dest / f).exists(), f
    assert os.access(dest / "usr/sbin/letterboxd", os.X_OK)
