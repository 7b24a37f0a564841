"""letterbox-queued's remote delivery through queued.relay_host: what a
remote SMTP server (a sink on loopback, in a thread) receives, and how its
replies end up in the queue (delivered, deferred, failed -> DSN)."""
# SPDX-License-Identifier: ISC

import base64
import glob
import os
import pwd
import re
import smtplib
import socket
import ssl
import threading
import time

import pytest


class Sink:
    """A small threaded SMTP server: records every connection, command
    and message; rcpt_reply(addr, n) gives the reply to RCPT (n counts
    the tries of that address), dot_reply(n) the reply to the final dot
    (n counts the messages)."""

    def __init__(self, ehlo=("SIZE 1000000", "8BITMIME", "DSN",
                             "PIPELINING"),
                 rcpt_reply=None, dot_reply=None, host="127.0.0.1", port=0,
                 peek_after_mail=False):
        self.ehlo = ehlo
        # record what had already arrived after each MAIL (a pipelined
        # group: RFC 2920), in self.groups
        self.peek_after_mail = peek_after_mail
        self.groups = []
        self.rcpt_reply = rcpt_reply or (lambda a, n: "250 2.1.5 ok")
        self.dot_reply = dot_reply or (lambda n: "250 2.0.0 queued")
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.connections = 0
        self.commands = []
        self.messages = []	# (mail line, [rcpt lines], data bytes)
        self.data_verbs = []	# "DATA" or "BDAT", per message
        self.conn_msgs = []	# messages per connection, in order
        self.tries = {}
        self.auth = []
        self.active = self.max_active = 0
        self.in_txn = self.max_txn = 0
        self.lock = threading.Lock()
        self.stop = False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def close(self):
        self.stop = True
        self.lsock.close()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve_counted, args=(c,),
                             daemon=True).start()

    def serve_counted(self, c):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.serve(c)
        finally:
            with self.lock:
                self.active -= 1

    def serve(self, c):
        f = c.makefile("rb")

        def say(s):
            c.sendall(s.encode() + b"\r\n")

        say("220 sink.test ESMTP")
        mail, rcpts, bdat = None, [], b""
        got = 0
        while True:
            line = f.readline()
            if not line:
                break
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb == "EHLO":
                lines = ["sink.test"] + list(self.ehlo)
                for x in lines[:-1]:
                    say("250-" + x)
                say("250 " + lines[-1])
            elif verb == "MAIL":
                mail, rcpts = cmd, []
                if self.peek_after_mail:
                    time.sleep(0.2)
                    with self.lock:
                        self.groups.append(f.peek(65536))
                with self.lock:
                    self.in_txn += 1
                    self.max_txn = max(self.max_txn, self.in_txn)
                say("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = re.search(r"<([^>]*)>", cmd).group(1)
                with self.lock:
                    n = self.tries[addr] = self.tries.get(addr, 0) + 1
                r = self.rcpt_reply(addr, n)
                if r.startswith("2"):
                    rcpts.append(cmd)
                say(r)
            elif verb == "DATA" and not rcpts:
                # RFC 2920 3.2 (3): no valid recipient, no 354
                with self.lock:
                    self.in_txn -= 1 if mail else 0
                mail = None
                say("554 5.5.1 no valid recipients")
            elif verb == "DATA":
                say("354 go")
                data = b""
                while True:
                    dl = f.readline()
                    if dl in (b".\r\n", b""):
                        break
                    data += dl[1:] if dl.startswith(b".") else dl
                with self.lock:
                    self.messages.append((mail, rcpts, data))
                    self.data_verbs.append("DATA")
                    n = len(self.messages)
                got += 1
                r = self.dot_reply(n)
                with self.lock:
                    self.in_txn -= 1
                mail, rcpts = None, []
                say(r)
            elif verb == "BDAT":
                # RFC 3030 2: BDAT size [LAST], then size raw octets
                m = re.match(r"BDAT (\d+)( LAST)?$", cmd, re.I)
                data = f.read(int(m.group(1)))
                last = bool(m.group(2))
                bdat += data
                if not last:
                    say("250 2.0.0 %d octets" % len(data))
                    continue
                if not rcpts:
                    say("554 5.5.1 no valid recipients")
                    bdat = b""
                    continue
                with self.lock:
                    self.messages.append((mail, rcpts, bdat))
                    self.data_verbs.append("BDAT")
                    n = len(self.messages)
                got += 1
                bdat = b""
                r = self.dot_reply(n)
                with self.lock:
                    self.in_txn -= 1
                mail, rcpts = None, []
                say(r)
            elif verb == "AUTH":
                with self.lock:
                    self.auth.append(cmd)
                say("235 2.7.0 ok")
            elif verb == "RSET":
                mail, rcpts = None, []
                say("250 ok")
            elif verb == "QUIT":
                say("221 bye")
                break
            else:
                say("502 5.5.2 what")
        with self.lock:
            self.conn_msgs.append(got)
        c.close()


def submit(inst, rcpts, body=b"Hello.\r\n", subject="relay test",
           mail_options=(), rcpt_options=()):
    s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=20)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
    s.login(inst.demo_user, inst.demo_password)
    msg = (b"From: <" + inst.demo_user.encode() + b">\r\nTo: <" +
           rcpts[0].encode() + b">\r\nSubject: " + subject.encode() +
           b"\r\nMessage-ID: <" + str(time.monotonic_ns()).encode() +
           b"@client.test>\r\n\r\n" + body)
    s.sendmail(inst.demo_user, rcpts, msg, mail_options=list(mail_options),
               rcpt_options=list(rcpt_options))
    s.quit()
    return msg


def relay_instance(instance, sink, extra=""):
    instance.edit_conf("queued.relay_host = 127.0.0.1:%d\n"
                       "queued.retry_min = 300ms\n%s" % (sink.port, extra))
    instance.start()
    return instance


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def test_relay_delivers_with_dsn_params(instance, sink):
    inst = relay_instance(instance, sink)
    msg = submit(inst, ["bob@remote.test", "carol@remote.test"],
                 mail_options=["RET=HDRS", "ENVID=E-1"],
                 rcpt_options=["NOTIFY=FAILURE",
                               "ORCPT=rfc822;bob@remote.test"])
    inst.wait_log(r"event=delivered rcpt=<carol@remote.test> relay=smtp "
                  r"status=2\.0\.0")
    inst.wait_log(r"event=removed")
    assert sink.connections == 1
    [(mail, rcpts, data)] = sink.messages
    assert mail.startswith("MAIL FROM:<%s> SIZE=" % inst.demo_user)
    assert "RET=HDRS" in mail and "ENVID=E-1" in mail
    # several recipients in one transaction, DSN parameters passed on
    assert rcpts == ["RCPT TO:<bob@remote.test> NOTIFY=FAILURE "
                     "ORCPT=rfc822;bob@remote.test",
                     "RCPT TO:<carol@remote.test> NOTIFY=FAILURE "
                     "ORCPT=rfc822;bob@remote.test"]
    assert data.endswith(msg)
    assert sink.commands[0].startswith("EHLO ")
    assert sink.commands[-1] == "QUIT"


def test_relay_dot_stuffing(instance, sink):
    inst = relay_instance(instance, sink)
    msg = submit(inst, ["bob@remote.test"],
                 body=b".leading dot\r\n..two\r\nend\r\n")
    inst.wait_log(r"event=removed")
    [(_, _, data)] = sink.messages
    assert data.endswith(msg)


def test_relay_temp_then_success(instance):
    sink = Sink(rcpt_reply=lambda a, n: "451 4.3.0 try later" if n == 1
                else "250 2.1.5 ok")
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["bob@remote.test"])
        inst.wait_log(r"event=deferred rcpt=<bob@remote.test> "
                      r"status=4\.3\.0")
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        inst.wait_log(r"event=removed")
        assert sink.tries["bob@remote.test"] == 2
        assert len(sink.messages) == 1
    finally:
        sink.close()


def test_relay_permanent_failure_bounces(instance):
    sink = Sink(rcpt_reply=lambda a, n: "550 5.1.1 no such user"
                if a.startswith("nobody") else "250 2.1.5 ok")
    try:
        inst = relay_instance(instance, sink)
        submit(inst, ["nobody@remote.test", "bob@remote.test"])
        inst.wait_log(r"event=failed rcpt=<nobody@remote.test> "
                      r"status=5\.1\.1")
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        inst.wait_log(r"event=bounce .*type=failure")
        mdir = os.path.join(inst.inst, "state", "mail", "example.test",
                            "demo", "new")
        deadline = time.time() + 20
        while not glob.glob(os.path.join(mdir, "*")) and \
                time.time() < deadline:
            time.sleep(0.1)
        [dsn] = glob.glob(os.path.join(mdir, "*"))
        with open(dsn, "rb") as f:
            text = f.read()
        assert b"Final-Recipient: rfc822; nobody@remote.test" in text
        assert b"Action: failed" in text
        assert b"Status: 5.1.1" in text
        assert b"Diagnostic-Code: smtp; 550 5.1.1 no such user" in text
        assert b"bob@remote.test" not in text.split(b"Final-Recipient")[1]
    finally:
        sink.close()


def test_relay_refused_is_deferred(instance):
    # a port where nothing listens: deferred, nothing lost
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        instance.edit_conf("queued.relay_host = [127.0.0.1]:%d\n"
                           "queued.retry_min = 10s" % port)
        instance.start()
        submit(instance, ["bob@remote.test"])
        instance.wait_log(r"event=deferred rcpt=<bob@remote.test> "
                          r"status=4\.4\.2")
        qdir = os.path.join(instance.inst, "state", "spool", "queue")
        assert len(os.listdir(qdir)) == 1
    finally:
        s.close()


def conf_value(inst, key):
    with open(inst.conf) as f:
        for line in f:
            m = re.match(r"\s*%s\s*=\s*(\S+)" % key, line)
            if m:
                return m.group(1).strip("\"")
    raise KeyError(key)


class TlsSink(Sink):
    """A Sink that offers STARTTLS with the instance's own certificate."""

    def __init__(self, cert, key, **kw):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.tls_sessions = 0
        super().__init__(ehlo=("SIZE 1000000", "8BITMIME", "DSN",
                               "STARTTLS"), **kw)

    def serve(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 sink.test ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                c.close()
                return
            cmd = line.decode().rstrip("\r\n")
            with self.lock:
                self.commands.append(cmd)
            if cmd.upper().startswith("EHLO"):
                c.sendall(b"250-sink.test\r\n250 STARTTLS\r\n")
            elif cmd.upper() == "STARTTLS":
                c.sendall(b"220 2.0.0 go ahead\r\n")
                break
            else:
                c.sendall(b"530 5.7.0 STARTTLS first\r\n")
        tc = self.ctx.wrap_socket(c, server_side=True)
        with self.lock:
            self.tls_sessions += 1
        # the rest of the session, over TLS, without a new greeting
        self.ehlo = ("SIZE 1000000", "8BITMIME", "DSN", "AUTH PLAIN LOGIN")
        orig = tc.sendall
        first = [True]

        def sendall(b):
            if first[0] and b.startswith(b"220 "):
                first[0] = False
                return None
            return orig(b)
        tc.sendall = sendall
        Sink.serve(self, tc)


def test_relay_starttls(instance):
    instance.edit_conf("queued.retry_min = 300ms")
    cert = conf_value(instance, "cert")
    key = conf_value(instance, "key")
    sink = TlsSink(cert, key)
    try:
        inst = relay_instance(instance, sink,
                              "queued.relay_tls = require")
        msg = submit(inst, ["bob@remote.test"])
        inst.wait_log(r"event=relay-session peer=127\.0\.0\.1:%d rcpts=1 "
                      r"data=yes tls=yes" % sink.port)
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        assert sink.tls_sessions == 1
        assert sink.commands[:2] == ["EHLO " + sink.commands[0][5:],
                                     "STARTTLS"]
        # RFC 3207 4.2: EHLO again over TLS
        assert sink.commands[2].startswith("EHLO ")
        [(_, _, data)] = sink.messages
        assert data.endswith(msg)
    finally:
        sink.close()


def test_relay_require_tls_without_starttls(instance, sink):
    inst = relay_instance(instance, sink, "queued.relay_tls = require")
    submit(inst, ["bob@remote.test"])
    inst.wait_log(r"event=deferred rcpt=<bob@remote.test> status=4\.7\.0")
    assert sink.messages == []
    assert "MAIL" not in " ".join(sink.commands)


def auth_file(inst, mode=0o600, text="relayuser s3cret pass\n"):
    path = os.path.join(inst.inst, "relay-auth")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    os.chown(path, pwd.getpwnam("lb-queue").pw_uid, -1)
    return path


def test_relay_auth_plain_over_tls(instance):
    instance.edit_conf("queued.retry_min = 300ms")
    sink = TlsSink(conf_value(instance, "cert"), conf_value(instance, "key"))
    try:
        inst = relay_instance(instance, sink, "queued.relay_auth_file = %s"
                              % auth_file(instance))
        submit(inst, ["bob@remote.test"])
        inst.wait_log(r"event=delivered rcpt=<bob@remote.test> relay=smtp")
        [cmd] = sink.auth
        assert cmd.startswith("AUTH PLAIN ")
        assert base64.b64decode(cmd[11:]) == b"\0relayuser\0s3cret pass"
        assert sink.commands.index(cmd) > sink.commands.index("STARTTLS")
        assert len(sink.messages) == 1
    finally:
        sink.close()


def test_relay_auth_never_in_clear(instance):
    sink = Sink(ehlo=("AUTH PLAIN LOGIN", "8BITMIME"))
    try:
        inst = relay_instance(instance, sink, "queued.relay_auth_file = %s"
                              % auth_file(instance))
        submit(inst, ["bob@remote.test"])
        inst.wait_log(r"event=deferred rcpt=<bob@remote.test> "
                      r"status=4\.7\.0")
        assert sink.auth == [] and sink.messages == []
    finally:
        sink.close()


def test_relay_auth_file_mode_refused(instance, sink):
    path = auth_file(instance, mode=0o644)
    instance.edit_conf("queued.relay_host = 127.0.0.1:%d\n"
                       "queued.relay_auth_file = %s" % (sink.port, path))
    instance.start(wait=False)
    instance.wait_log(r"queued: queued.relay_auth_file: must be owned by "
                      r"the queue user and mode 0600 or less")


def test_relay_remote_sessions_limit(instance):
    # a slow relay: every message waits for the one session
    sink = Sink(dot_reply=lambda n: (time.sleep(0.5), "250 2.0.0 ok")[1])
    try:
        inst = relay_instance(instance, sink, "queued.remote_sessions = 1")
        for i in range(3):
            submit(inst, ["bob%d@remote.test" % i])
        for i in range(3):
            inst.wait_log(r"event=delivered rcpt=<bob%d@remote.test> "
                          r"relay=smtp" % i)
        assert len(sink.messages) == 3
        assert sink.max_txn == 1
        # the two that waited went over the first one's connection
        # (RFC 5321 3.3: MAIL after the end of data), one after another
        assert sink.connections == 1
        inst.wait_log(r"event=relay-reuse peer=127\.0\.0\.1:\d+ nth=2")
        inst.wait_log(r"event=relay-reuse peer=127\.0\.0\.1:\d+ nth=3")
        deadline = time.monotonic() + 10
        while not sink.conn_msgs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.conn_msgs == [3]
    finally:
        sink.close()
