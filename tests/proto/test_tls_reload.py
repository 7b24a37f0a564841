"""SIGHUP with a new certificate: new connections get it, old ones finish."""
# SPDX-License-Identifier: ISC

import hashlib
import os
import signal
import smtplib
import ssl
import subprocess

import lbtest


def cert_of(port):
    """SHA-256 of the certificate a STARTTLS session on port presents."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    s.ehlo("reload.example")
    s.starttls(context=ctx)
    der = s.sock.getpeercert(binary_form=True)
    s.quit()
    return hashlib.sha256(der).hexdigest()


def new_cert(inst):
    tls = os.path.join(inst.inst, "tls")
    for f in ("cert.pem", "key.pem"):
        os.unlink(os.path.join(tls, f))
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=mail.example.test",
         "-keyout", os.path.join(tls, "key.pem"),
         "-out", os.path.join(tls, "cert.pem")],
        capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(os.path.join(tls, "key.pem"), 0o600)


def test_sighup_serves_new_certificate(running):
    port = running.port("smtp")
    before = cert_of(port)
    # A session in the middle of a transaction across the reload.
    old = smtplib.SMTP("127.0.0.1", port, timeout=20)
    old.ehlo("old.example")
    assert old.mail("a@elsewhere.example")[0] == 250
    assert old.rcpt(running.demo_user)[0] == 250
    [old_pid] = running.daemon_pids("smtpd")
    new_cert(running)
    mark = running.log_size()
    running.proc.send_signal(signal.SIGHUP)
    running.wait_log(r"event=daemon-replace daemon=smtpd old=%d" % old_pid,
                     since=mark)
    running.wait_log(r"event=daemon-ready daemon=smtpd", since=mark)
    after = cert_of(port)
    assert after != before
    # The old process finishes the transaction, then says goodbye.
    assert lbtest.pid_alive(old_pid)
    code, text = old.data(b"Subject: across a reload\r\n\r\nhi\r\n")
    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as "), text
    assert old.noop() == (421, b"4.3.2 mail.example.test Service shutting "
                                b"down")
    old.close()
    running.wait_log(r"event=daemon-retired daemon=smtpd pid=%d status=0"
                     % old_pid, since=mark)
    assert not lbtest.pid_alive(old_pid)
    assert len(running.daemon_pids("smtpd")) == 1


def test_sighup_with_broken_key_keeps_serving(running):
    """A reload whose key does not load is refused as a whole: the old
    smtpd keeps serving the old certificate."""
    port = running.port("smtp")
    before = cert_of(port)
    [pid] = running.daemon_pids("smtpd")
    key = os.path.join(running.inst, "tls", "key.pem")
    with open(key, "w") as f:
        f.write("not a key\n")
    mark = running.log_size()
    running.proc.send_signal(signal.SIGHUP)
    running.wait_log(r"event=reload-failed keeping=old-config", since=mark)
    log = running.log()[mark:]
    assert "letterbox.conf: TLS: " in log, log
    assert "daemon-replace" not in log
    assert running.daemon_pids("smtpd") == [pid]
    assert cert_of(port) == before


def test_config_test_mode_loads_tls(instance):
    key = os.path.join(instance.inst, "tls", "key.pem")
    with open(key, "w") as f:
        f.write("not a key\n")
    r = subprocess.run([lbtest.prog("letterboxd"), "-c", instance.conf, "-t"],
                       capture_output=True, text=True, env=instance.env())
    assert r.returncode == 1
    assert r.stderr.startswith("letterboxd: %s: TLS: " % instance.conf), \
        r.stderr
