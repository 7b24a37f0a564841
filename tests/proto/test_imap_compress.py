"""letterbox-imapd COMPRESS=DEFLATE (RFC 4978) with a raw socket and
zlib (imaplib has no COMPRESS): over STARTTLS, implicit TLS and clear
text; SELECT, APPEND and FETCH of a 1 MB message, STORE, IDLE with a
delivery through SMTP, a second COMPRESS, COMPRESS before login, a
corrupt stream and a decompression bomb; exact responses; memory per
IDLE session; mbsync (which turns COMPRESS on by itself) syncing a 1
MB message down and one up (docs/imapd.md)."""
# SPDX-License-Identifier: ISC

import os
import re
import shutil
import smtplib
import socket
import ssl
import time
import zlib

import pytest

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ZClient:
    """IMAP over a socket, compressed once COMPRESS says OK: each
    command is sent compressed with a sync flush (zlib wbits -15, raw
    DEFLATE), and what comes back is inflated before lines are cut."""

    def __init__(self, inst, mode):
        port = inst.port("imaps" if mode == "imaps" else "imap")
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if mode == "imaps":
            s = tls_ctx().wrap_socket(s)
        self.s = s
        self.enc = self.dec = None
        self.buf = b""
        self.wire_in = 0        # bytes received after COMPRESS
        self.greeting = self.line()
        if mode == "starttls":
            assert self.cmd(b"t0 STARTTLS") == [
                b"t0 OK Begin TLS negotiation now"]
            self.s = tls_ctx().wrap_socket(s)

    def send(self, data):
        if self.enc is not None:
            data = self.enc.compress(data) + self.enc.flush(
                zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def _fill(self):
        raw = self.s.recv(65536)
        if not raw:
            raise EOFError
        if self.dec is not None:
            self.wire_in += len(raw)
            raw = self.dec.decompress(raw)
        self.buf += raw

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, tag):
        """Lines up to the tagged one; a literal is read whole and
        kept as (line, bytes)."""
        out = []
        while True:
            ln = self.line()
            m = re.search(rb"\{(\d+)\}$", ln)
            if m:
                out.append((ln, self.exact(int(m.group(1)))))
                continue
            out.append(ln)
            if ln.startswith(tag + b" "):
                return out

    def cmd(self, text):
        tag = text.split(b" ", 1)[0]
        self.send(text + b"\r\n")
        return self.response(tag)

    def login(self, inst):
        r = self.cmd(b"l1 LOGIN " + inst.demo_user.encode() + b" " +
                     inst.demo_password.encode())
        assert re.match(rb"l1 OK \[CAPABILITY .* COMPRESS=DEFLATE\] "
                        rb"Logged in$", r[-1]), r

    def compress(self, tag=b"z1"):
        """COMPRESS DEFLATE; every byte after the OK's CRLF is
        compressed both ways."""
        self.s.sendall(tag + b" COMPRESS DEFLATE\r\n")
        ln = self.line()
        assert ln == tag + b" OK DEFLATE active", ln
        self.enc = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.dec = zlib.decompressobj(-15)
        # anything that followed the OK is compressed too
        rest, self.buf = self.buf, b""
        if rest:
            self.buf = self.dec.decompress(rest)

    def at_eof(self):
        try:
            self.s.settimeout(10)
            while True:
                self._fill()
        except (EOFError, ConnectionError, ssl.SSLError):
            return True
        except zlib.error:
            return True

    def close(self):
        self.s.close()


@pytest.fixture
def imap(instance):
    # clear-text logins allowed, so the plain port can be tried too
    instance.edit_conf("imapd.plaintext_auth = yes")
    instance.start()
    instance.wait_log(r"imapd.*event=started", timeout=30)
    instance.wait_log(r"imapd.*event=sasl-mechs", timeout=30)
    yield instance
    if instance.proc is not None:
        assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"daemon-exit daemon=imapd pid=\d+ status=[1-9]",
                         log), log[-3000:]


def big_message():
    body = "".join("line %06d of a big compressed message %s\r\n" %
                   (i, "xyz"[i % 3] * (i % 17)) for i in range(20000))
    msg = ("From: alice@example.org\r\nTo: %s\r\nSubject: big\r\n\r\n%s"
           % (DEMO, body)).encode()
    assert len(msg) > 1000000
    return msg


def smtp_deliver(inst, subject):
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), "client.test",
                     timeout=30)
    s.sendmail("alice@example.org", [DEMO],
               ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n\r\n"
                "hi\r\n" % (DEMO, subject)).encode())
    s.quit()


def test_compress_starttls_session(imap):
    c = ZClient(imap, "starttls")
    c.login(imap)
    # an unknown mechanism: BAD, nothing changes (RFC 4978 3)
    assert c.cmd(b"z0 COMPRESS GZIP") == [
        b"z0 BAD Unknown compression mechanism"]
    assert c.cmd(b"z0 COMPRESS") == [
        b"z0 BAD COMPRESS needs a mechanism: DEFLATE"]
    c.compress()
    assert c.cmd(b"s1 SELECT INBOX")[-1] == \
        b"s1 OK [READ-WRITE] SELECT completed"
    # APPEND: a 1 MB synchronising literal sent compressed
    msg = big_message()
    c.send(b"a1 APPEND INBOX (\\Draft) {%d}\r\n" % len(msg))
    assert c.line() == b"+ Ready for literal data"
    for i in range(0, len(msg), 100000):
        c.send(msg[i:i + 100000])
    c.send(b"\r\n")
    r = c.response(b"a1")
    assert r[0] == b"* 1 EXISTS"
    assert re.match(rb"a1 OK \[APPENDUID \d+ 1\] APPEND completed$",
                    r[-1]), r
    # FETCH: the body streamed back compressed, exact bytes
    before = c.wire_in
    r = c.cmd(b"f1 FETCH 1 (BODY[])")
    assert r == [(b"* 1 FETCH (BODY[] {%d}" % len(msg), msg),
                 b" FLAGS (\\Seen \\Draft \\Recent))", b"f1 OK FETCH completed"]
    # it was compressed on the wire
    assert c.wire_in - before < len(msg) // 3
    assert c.cmd(b"f2 STORE 1 +FLAGS (\\Flagged)") == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Seen \\Draft \\Recent))",
        b"f2 OK STORE completed"]
    # IDLE: a delivery through SMTP is told at once (the server flushes
    # each batch, so the client never waits for more)
    c.send(b"i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    smtp_deliver(imap, "while idling")
    c.s.settimeout(30)
    assert c.line() == b"* 2 EXISTS"
    assert c.line() == b"* 2 RECENT"
    c.send(b"DONE\r\n")
    assert c.line() == b"i1 OK IDLE terminated"
    # after IDLE (the server's compressor was freed and made anew)
    assert c.cmd(b"f3 FETCH 2 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])") == [
        (b'* 2 FETCH (FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS ("SUBJECT")] {25}',
         b"Subject: while idling\r\n\r\n"),
        b")", b"f3 OK FETCH completed"]
    # twice: NO with the response code (RFC 4978 3)
    assert c.cmd(b"z2 COMPRESS DEFLATE") == [
        b"z2 NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS"]
    assert c.cmd(b"z3 COMPRESS GZIP") == [
        b"z3 BAD Unknown compression mechanism"]
    assert c.cmd(b"o1 LOGOUT") == [b"* BYE Letterbox IMAP logging out",
                                   b"o1 OK LOGOUT completed"]
    assert c.at_eof()
    imap.wait_log(r"imapd.*event=compress mechanism=DEFLATE")


def test_compress_clear_text_and_states(imap):
    c = ZClient(imap, "plain")
    # before login: not offered, and not allowed (command-auth)
    assert b"COMPRESS" not in c.greeting
    assert c.cmd(b"z1 COMPRESS DEFLATE") == [
        b"z1 BAD COMPRESS needs LOGIN or AUTHENTICATE first"]
    r = c.cmd(b"c1 CAPABILITY")
    assert b"COMPRESS" not in r[0] and r[-1] == b"c1 OK CAPABILITY completed"
    c.login(imap)
    r = c.cmd(b"c2 CAPABILITY")
    assert r[0].endswith(b" COMPRESS=DEFLATE"), r
    # pipelined right behind COMPRESS: compressed too
    c.s.sendall(b"z2 COMPRESS DEFLATE\r\n")
    c.enc = zlib.compressobj(6, zlib.DEFLATED, -15)
    c.send(b"n1 NOOP\r\n")
    ln = c.line()
    assert ln == b"z2 OK DEFLATE active"
    c.dec = zlib.decompressobj(-15)
    rest, c.buf = c.buf, b""
    c.buf = c.dec.decompress(rest)
    assert c.response(b"n1") == [b"n1 OK NOOP completed"]
    r = c.cmd(b"c3 CAPABILITY")
    assert r[0].endswith(b" COMPRESS=DEFLATE"), r
    assert c.cmd(b"n2 NOOP") == [b"n2 OK NOOP completed"]
    c.close()


def test_compress_imaps_corrupt_and_bomb(imap):
    c = ZClient(imap, "imaps")
    c.login(imap)
    c.compress()
    assert c.cmd(b"n1 NOOP") == [b"n1 OK NOOP completed"]
    # a corrupt stream: the connection closes, with a log line
    c.s.sendall(b"\xff\xff\xff\xff")
    assert c.at_eof()
    imap.wait_log(r'imapd.*event=disconnect reason="inflate: invalid '
                  r'block type"')
    # a bomb: 16 MB of one command line from about 16 KB; the 64 KiB
    # line limit applies as to plain input, and the session goes on
    c = ZClient(imap, "imaps")
    c.login(imap)
    c.compress()
    c.send(b"b1 NOOP ")
    chunk = b"x" * (1 << 20)
    sent = 0
    for _ in range(16):
        data = c.enc.compress(chunk)
        c.s.sendall(data)
        sent += len(data)
    c.send(b"\r\nb2 NOOP\r\n")
    assert sent < 40000
    assert c.response(b"b2") == [b"b1 BAD Command line too long",
                                 b"b2 OK NOOP completed"]
    c.close()
    log = imap.log()
    assert "ERROR: AddressSanitizer" not in log


def test_compress_idle_memory(imap):
    """8 sessions, logged in, INBOX selected, in IDLE, with and without
    COMPRESS, and again after an APPEND and a FETCH of 40 KB: imapd's
    growth per session (docs/imapd.md).
    Sanitizer builds only print: their allocator is not malloc's."""
    pid = imap.daemon_pids("imapd")[0]
    san = os.environ.get("LB_BUILD", "").rstrip("/").endswith("/san")
    msg = ("Subject: m\r\n\r\n" + "".join(
        "%06d the quick brown fox jumps over the lazy dog %d\r\n" %
        (i, i * 7919 % 1000) for i in range(800))).encode()

    def rss():
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        return 0

    def sessions(n, compressed, traffic):
        cs = []
        for i in range(n):
            c = ZClient(imap, "plain")
            c.login(imap)
            if compressed:
                c.compress()
            if traffic:
                c.send(b"a1 APPEND INBOX {%d}\r\n" % len(msg))
                assert c.line() == b"+ Ready for literal data"
                c.send(msg + b"\r\n")
                assert c.response(b"a1")[-1].startswith(b"a1 OK")
            c.cmd(b"s1 SELECT INBOX")
            if traffic:
                r = c.cmd(b"f1 FETCH 1 BODY.PEEK[]")
                assert r[0][1] == msg
            c.send(b"i1 IDLE\r\n")
            assert c.line() == b"+ idling"
            cs.append(c)
        time.sleep(0.3)
        return cs

    n = 8           # listen max_per_ip is 20
    warm = sessions(1, True, True) + sessions(1, False, True)
    per = {}
    for traffic in (False, True):
        for compressed in (False, True):
            before = rss()
            cs = sessions(n, compressed, traffic)
            per[traffic, compressed] = (rss() - before) / n
            for c in cs:
                c.close()
            time.sleep(0.3)
    for c in warm:
        c.close()
    for traffic in (False, True):
        print("imapd: per session in IDLE%s: %.1f KiB plain, %.1f KiB "
              "with COMPRESS" % (" after 40 KB each way" if traffic else "",
                                 per[traffic, False], per[traffic, True]))
    if not san:
        assert per[False, True] - per[False, False] < 56


@pytest.mark.skipif(shutil.which("mbsync") is None,
                    reason="mbsync missing: scripts/deps.sh installs isync")
def test_compress_mbsync(imap, tmp_path):
    """isync 1.4 turns COMPRESS on by itself when it is offered: a 1 MB
    message down, a local one up, both exact."""
    from test_imap_clients import maildir_msgs, mbsync
    tmp = str(tmp_path)
    big = big_message()
    c = ZClient(imap, "imaps")
    c.login(imap)
    c.compress()
    c.send(b"a1 APPEND INBOX {%d}\r\n" % len(big))
    assert c.line() == b"+ Ready for literal data"
    c.send(big + b"\r\n")
    assert c.response(b"a1")[-1].startswith(b"a1 OK [APPENDUID ")
    md = os.path.join(tmp, "mail", "INBOX")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub))
    up = ("From: demo@example.test\r\nSubject: local up\r\n\r\n" +
          "up %d\r\n" * 3000 % tuple(range(3000))).encode()
    with open(os.path.join(md, "cur", "1000.lb.test:2,S"), "wb") as f:
        f.write(up)
    with open(os.path.join(tmp, "pass"), "w") as f:
        f.write(imap.demo_password + "\n")
    with open(os.path.join(os.path.dirname(__file__), "imap_clients",
                           "mbsyncrc.in")) as f:
        conf = f.read()
    for k, v in (("PORT", str(imap.port("imaps"))), ("USER", imap.demo_user),
                 ("PASSFILE", os.path.join(tmp, "pass")),
                 ("CERT", os.path.join(imap.inst, "tls", "cert.pem")),
                 ("MAILDIR", os.path.join(tmp, "mail"))):
        conf = conf.replace("@%s@" % k, v)
    with open(os.path.join(tmp, "mbsyncrc"), "w") as f:
        f.write(conf)
    n0 = len(re.findall(r"event=compress ", imap.log()))
    mbsync(imap, tmp)
    assert len(re.findall(r"event=compress ", imap.log())) > n0
    local = maildir_msgs(md)
    assert sorted(local) == ["big", "local up"]
    with open(local["big"], "rb") as f:
        got = f.read()
    # mbsync stores LF line ends and adds an X-TUID header line
    assert got.split(b"\n\n", 1)[1] == \
        big.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n")
    r = c.cmd(b"s1 SELECT INBOX")
    assert r[-1] == b"s1 OK [READ-WRITE] SELECT completed"
    r = c.cmd(b"f1 FETCH 2 (BODY.PEEK[TEXT])")
    text = up.split(b"\r\n\r\n", 1)[1]
    assert r[0] == (b"* 2 FETCH (BODY[TEXT] {%d}" % len(text), text), r
    c.close()
