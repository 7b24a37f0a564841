"""letterboxd: start, ready, clean stop, reload, restart after a crash."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import subprocess
import time

import lbtest

# Every daemon of this build, one process each in a default instance.
DAEMONS = ("authd", "queued", "mda", "smtpd", "pop3d", "imapd")


def test_start_and_clean_stop(instance):
    instance.start()
    log = instance.log()
    assert re.search(r"letterboxd\[\d+\] notice: event=start config=%s "
                     r"daemons=%d" % (re.escape(os.path.realpath(instance.conf)),
                                      len(DAEMONS)),
                     log)
    pids = {d: instance.daemon_pids(d) for d in DAEMONS}
    assert all(len(p) == 1 for p in pids.values()), pids
    [authd], [queued] = pids["authd"], pids["queued"]
    assert os.path.exists(instance.auth_sock)
    pidfile = os.path.join(instance.inst, "state", "run", "letterboxd.pid")
    with open(pidfile) as f:
        assert int(f.read()) == instance.proc.pid
    assert instance.stop() == 0
    for p in pids.values():
        assert not lbtest.pid_alive(p[0])
    log = instance.log()
    assert re.search(r"event=daemon-exit daemon=authd pid=%d status=0 " % authd,
                     log), log
    assert "event=stopped" in log
    assert not os.path.exists(instance.auth_sock)
    assert not os.path.exists(pidfile)
    # Sanitizer reports would show up in the shared log.
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log


def test_unprivileged_warning_once(instance):
    if os.geteuid() == 0:
        # As root the daemons really drop to their users instead.
        instance.start()
        assert re.search(r"authd\[\d+\] info: event=privileges user=lb-auth",
                         instance.log())
        return
    instance.start()
    assert instance.log().count("event=unprivileged") == 1


def test_crashed_daemon_is_restarted(running):
    [old] = running.daemon_pids("authd")
    mark = running.log_size()
    os.kill(old, signal.SIGKILL)
    running.wait_log(r"event=daemon-exit daemon=authd pid=%d signal=9" % old,
                     since=mark)
    running.wait_log(r"event=daemon-ready daemon=authd", since=mark, timeout=15)
    [new] = running.daemon_pids("authd")
    assert new != old
    # The restarted authd answers on the same socket.
    c = running.auth()
    t, text, _ = c.check(running.demo_user, running.demo_password)
    c.close()
    assert (t, text) == (lbtest.IPC_AUTH_OK, running.demo_user)


def test_restart_backoff_grows(instance):
    instance.edit_conf("master.restart_min = 200ms\nmaster.restart_max = 1s")
    instance.start()
    delays = []
    for _ in range(3):
        [pid] = instance.daemon_pids("authd")
        mark = instance.log_size()
        os.kill(pid, signal.SIGKILL)
        m = instance.wait_log(r"event=daemon-restart daemon=authd in=([\d.]+)s",
                              since=mark)
        delays.append(float(m[0]))
        instance.wait_log(r"event=daemon-ready daemon=authd", since=mark)
    assert delays == [0.2, 0.4, 0.8]


def test_sighup_reload(running):
    mark = running.log_size()
    running.edit_conf("log_level = debug")
    running.proc.send_signal(signal.SIGHUP)
    running.wait_log(r"letterboxd\[\d+\] notice: event=reload", since=mark)
    running.wait_log(r"authd\[\d+\] info: event=reload", since=mark)
    [pid] = running.daemon_pids("authd")
    # Still serving, same process.
    c = running.auth()
    assert c.check(running.demo_user, running.demo_password)[0] == \
        lbtest.IPC_AUTH_OK
    c.close()
    assert running.daemon_pids("authd") == [pid]


def test_sighup_with_bad_config_keeps_running(running):
    mark = running.log_size()
    with open(running.conf, "a") as f:
        f.write("lisen = 1\n")
    lineno = sum(1 for _ in open(running.conf))
    running.proc.send_signal(signal.SIGHUP)
    running.wait_log(r"event=reload-failed", since=mark)
    log = running.log()[mark:]
    assert "%s:%d:1: unknown key \"lisen\"" % (running.conf, lineno) in log \
        or "%s:%d:1: unknown key \"lisen\"" % (
            os.path.realpath(running.conf), lineno) in log, log
    assert running.proc.poll() is None
    c = running.auth()
    assert c.check(running.demo_user, running.demo_password)[0] == \
        lbtest.IPC_AUTH_OK
    c.close()


def test_stop_is_graceful_then_forced(instance):
    """A child that ignores SIGTERM is killed after the grace period."""
    instance.edit_conf("master.shutdown_grace = 500ms")
    instance.start()
    [pid] = instance.daemon_pids("authd")
    os.kill(pid, signal.SIGSTOP)  # it cannot act on SIGTERM now
    t0 = time.monotonic()
    assert instance.stop() == 0
    took = time.monotonic() - t0
    assert 0.4 < took < 5, took
    assert "event=stop-grace-expired killing=1" in instance.log()
    assert not lbtest.pid_alive(pid)


def test_config_test_mode(instance):
    r = subprocess.run([lbtest.prog("letterboxd"), "-c", instance.conf, "-t"],
                       capture_output=True, text=True, env=instance.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: OK\n" % instance.conf


def test_missing_config_file(tmp_path):
    missing = str(tmp_path / "nope.conf")
    r = subprocess.run([lbtest.prog("letterboxd"), "-c", missing],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("%s: cannot read: No such file or directory"
                               % missing), r.stderr


def test_daemons_stop_when_master_is_killed(running):
    """kill -9 of letterboxd must not leave its daemons running."""
    [authd] = running.daemon_pids("authd")
    running.proc.kill()
    running.proc.wait(10)
    deadline = time.monotonic() + 10
    while lbtest.pid_alive(authd) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not lbtest.pid_alive(authd)
    assert "event=master-gone action=stop" in running.log()


def _uid_of(pid):
    """The real, effective, saved and fs uids of pid, or None if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        return None
    return None


def test_authd_as_root_refused_and_restarted_with_backoff(instance):
    """authd.user = root: authd refuses to start, letterboxd keeps
    restarting it with growing delays, and no authd ever serves as root."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root: only then are daemon users applied")
    instance.edit_conf("authd.user = root\n"
                       "master.restart_min = 200ms\n"
                       "master.restart_max = 1s")
    instance.start(wait=False)
    m = instance.wait_log(r"event=daemon-restart daemon=authd in=([\d.]+)s",
                          count=3, timeout=30)
    assert [float(x) for x in m[:3]] == [0.2, 0.4, 0.8], m
    log = instance.log()
    assert re.search(r"authd\[\d+\] \w+: letterbox-authd: refusing to run "
                     r"as root|refusing to run as root \(user \"root\"\)",
                     log), log
    assert log.count("refusing to run as root") >= 3, log
    assert "event=daemon-ready daemon=authd" not in log
    assert "event=ready" not in log
    pids = [int(p) for p in re.findall(
        r"event=daemon-start daemon=authd pid=(\d+)", log)]
    assert len(pids) >= 3
    # Each of them exited with status 1 and none lingers running as root.
    for pid in pids:
        deadline = time.monotonic() + 5
        while lbtest.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not lbtest.pid_alive(pid), (pid, _uid_of(pid))
        instance.wait_log(r"event=daemon-exit daemon=authd pid=%d status=1 "
                          % pid, timeout=5)
    # Whatever authd is alive right now never runs as root for long, and
    # the socket never answers.
    for pid in instance.daemon_pids("authd"):
        uids = _uid_of(pid)
        if uids is not None and 0 in uids:
            deadline = time.monotonic() + 5
            while lbtest.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not lbtest.pid_alive(pid), "authd %d stays root" % pid
    if os.path.exists(instance.auth_sock):
        try:
            c = lbtest.AuthClient(instance.auth_sock, timeout=1.5)
        except OSError:
            c = None
        if c is not None:
            try:
                c.check(instance.demo_user, instance.demo_password)
                raise AssertionError("an authd configured as root answered")
            except (OSError, EOFError):
                pass
            finally:
                c.close()
    assert instance.proc.poll() is None     # the master itself stays up
    assert instance.stop() == 0


def test_authd_unknown_user_fails_config_test(instance):
    """authd.user = nosuchuser: letterboxd -t exits 1 naming the user."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root: only then are daemon users checked")
    instance.edit_conf("authd.user = nosuchuser")
    r = subprocess.run([lbtest.prog("letterboxd"), "-c", instance.conf, "-t"],
                       capture_output=True, text=True, env=instance.env(),
                       timeout=30)
    assert r.stdout == ""
    assert 'user "nosuchuser" does not exist' in r.stderr, r.stderr
    assert instance.conf in r.stderr or \
        os.path.realpath(instance.conf) in r.stderr, r.stderr
    assert r.returncode == 1, (r.stdout, r.stderr)
