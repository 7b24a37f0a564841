"""letterbox-imapd's literals and MULTIAPPEND against raw sockets, exact
responses: synchronising literals ("+"), LITERAL+ {n+} (RFC 7888),
literal8 ~{n} (RFC 3516), literals too big for the limits (refused
unread, or read and thrown away, or BYE: RFC 7888 4, with imapd's RSS
checked), malformed lines, wrong states, and APPEND of several messages
at once, all or none (RFC 3502, APPENDUID sets of RFC 4315)
(docs/imapd.md)."""
# SPDX-License-Identifier: ISC

import os
import re
import socket

import pytest

from test_imap_core import (AUTH_CAPS, CAPS, DOMAIN, Raw, deliver, imap,  # noqa: F401
                            message)

PLUS = b"+ Ready for literal data"


@pytest.fixture(autouse=True)
def small_quarantine(instance):
    """Under ASan, freed memory waits in a quarantine (256 MiB by
    default) and counts in RSS: OpenSSL's per-record buffers would make
    reading 70 MB look like holding it.  Keep the quarantine small so
    that the RSS checks see what imapd really holds."""
    env = instance.env

    def small_env():
        e = env()
        if "ASAN_OPTIONS" in e:
            e["ASAN_OPTIONS"] += (":quarantine_size_mb=1:"
                                  "thread_local_quarantine_size_kb=64")
        return e
    instance.env = small_env
    yield


def imapd_rss_kib(inst):
    """VmRSS of every letterbox-imapd process, in KiB."""
    total = 0
    pids = inst.daemon_pids("imapd")
    assert pids
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
        total += int(m.group(1))
    return total


def folder_files(inst, folder, sub):
    path = os.path.join(inst.inst, "state", "mail", DOMAIN, "demo",
                        folder, sub)
    return sorted(os.listdir(path))


def inbox_files(inst):
    """The message files of INBOX and what is left in the tmp/ dirs."""
    return (folder_files(inst, "", "cur") + folder_files(inst, "", "new"),
            folder_files(inst, "", "tmp") +
            folder_files(inst, ".Drafts", "tmp"))


def logged_in(inst):
    r = Raw(inst, tls=True)
    r.login(inst)
    return r


def select_inbox(r, tag=b"s0"):
    out = r.cmd(tag + b" SELECT INBOX")
    assert out[-1] == tag + b" OK [READ-WRITE] SELECT completed", out
    return out


def exists(r, n):
    """* n EXISTS, then (an IMAP4rev1 session takes the new messages as
    \\Recent, RFC 3501 7.3.2) * k RECENT."""
    assert r.line() == b"* %d EXISTS" % n
    ln = r.line()
    assert re.match(rb"\* \d+ RECENT$", ln), ln


def appenduid(ln, tag, uids):
    m = re.match(rb"%s OK \[APPENDUID (\d+) %s\] APPEND completed$"
                 % (tag, re.escape(uids)), ln)
    assert m, ln
    return m.group(1)


def test_capabilities(imap):
    # LITERAL+ replaces LITERAL- (RFC 7888 5: never both)
    assert b" LITERAL+ " in CAPS and b"LITERAL-" not in CAPS
    assert b" MULTIAPPEND " in CAPS
    r = Raw(imap)
    assert r.greeting == (b"* OK [CAPABILITY " + CAPS + b" STARTTLS "
                          b"LOGINDISABLED] Letterbox IMAP ready")
    r.close()


def test_synchronising_literals(imap):
    r = Raw(imap, tls=True)
    user = imap.demo_user.encode()
    pw = imap.demo_password.encode()
    # LOGIN with both arguments as {n}: a "+" before each payload
    r.send(b"l1 LOGIN {%d}\r\n" % len(user))
    assert r.line() == PLUS
    r.send(user + b" {%d}\r\n" % len(pw))
    assert r.line() == PLUS
    r.send(pw + b"\r\n")
    assert r.line() == b"l1 OK [CAPABILITY " + AUTH_CAPS + b"] Logged in"
    r.send(b"s1 SELECT {5}\r\n")
    assert r.line() == PLUS
    r.send(b"INBOX\r\n")
    out = []
    while not out or not out[-1].startswith(b"s1 "):
        out.append(r.line())
    assert out[0] == (b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                      b"\\Draft)")
    assert b"* 0 EXISTS" in out
    assert out[-1] == b"s1 OK [READ-WRITE] SELECT completed"
    msg = message("sync")
    r.send(b"a1 APPEND INBOX (\\Seen) {%d}\r\n" % len(msg))
    assert r.line() == PLUS
    r.send(msg + b"\r\n")
    exists(r, 1)
    appenduid(r.line(), b"a1", b"1")
    r.send(b"f1 FETCH 1 (FLAGS BODY.PEEK[])\r\n")
    assert r.line() == (b"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[] {%d}"
                        % len(msg))
    assert r.f.read(len(msg)) == msg
    assert r.line() == b")"
    assert r.line() == b"f1 OK FETCH completed"
    r.close()


def test_nonsynchronising_literals(imap):
    r = Raw(imap, tls=True)
    user = imap.demo_user.encode()
    pw = imap.demo_password.encode()
    # {n+}: no "+", the payload follows at once (RFC 7888 3)
    r.send(b"l1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(user), user, len(pw), pw))
    assert r.line() == b"l1 OK [CAPABILITY " + AUTH_CAPS + b"] Logged in"
    select_inbox(r)
    m1 = message("plus one", "needle in the body\r\n")
    r.send(b"a1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(m1), m1))
    exists(r, 1)
    appenduid(r.line(), b"a1", b"1")
    # above LITERAL-'s 4096: LITERAL+ takes any size up to the limits
    # (streamed into tmp/ past the reader's 8 KiB)
    m2 = message("plus two", "x" * 70 + "\r\n") * 200
    assert len(m2) > 8192
    r.send(b"a2 APPEND INBOX {%d+}\r\n%s\r\n" % (len(m2), m2))
    exists(r, 2)
    appenduid(r.line(), b"a2", b"2")
    # a {n+} in SEARCH, and pipelined with the next command
    r.send(b"q1 SEARCH TEXT {6+}\r\nneedle\r\nq2 UID SEARCH SUBJECT "
           b"{3+}\r\ntwo\r\n")
    assert r.line() == b"* SEARCH 1"
    assert r.line() == b"q1 OK SEARCH completed"
    assert r.line() == b"* SEARCH 2"
    assert r.line() == b"q2 OK UID SEARCH completed"
    r.send(b"f1 FETCH 2 BODY.PEEK[]\r\n")
    assert r.line() == b"* 2 FETCH (BODY[] {%d}" % len(m2)
    assert r.f.read(len(m2)) == m2
    assert r.line() == b")"
    assert r.line() == b"f1 OK FETCH completed"
    r.close()


def test_literal8_append(imap):
    r = logged_in(imap)
    bin1 = b"Subject: bin\r\n\r\n\x00\x01\xff\r\n"
    bin2 = b"Subject: bin2\r\n\r\n\x00\x00\r\n"
    # ~{n} (RFC 3516 4.4): synchronising, NUL allowed
    r.send(b"b1 APPEND INBOX ~{%d}\r\n" % len(bin1))
    assert r.line() == PLUS
    r.send(bin1 + b"\r\n")
    appenduid(r.line(), b"b1", b"1")
    # ~{n+} (RFC 4466 / 7888)
    r.send(b"b2 APPEND INBOX ~{%d+}\r\n%s\r\n" % (len(bin2), bin2))
    appenduid(r.line(), b"b2", b"2")
    # a plain literal may not hold NUL (RFC 9051 CHAR8)
    r.send(b"b3 APPEND INBOX {%d+}\r\n%s\r\n" % (len(bin2), bin2))
    assert r.line() == b"b3 BAD NUL in literal (use literal8)"
    select_inbox(r)
    for n, want in ((1, bin1), (2, bin2)):
        r.send(b"f%d FETCH %d BINARY.PEEK[]\r\n" % (n, n))
        assert r.line() == b"* %d FETCH (BINARY[] ~{%d}" % (n, len(want))
        assert r.f.read(len(want)) == want
        assert r.line() == b")"
        assert r.line() == b"f%d OK FETCH completed" % n
    r.close()


def test_2gb_literal_refused_unread(imap):
    r = logged_in(imap)
    before = imapd_rss_kib(imap)
    # {2147483648}: the client waits for "+"; BAD at once, nothing read
    r.send(b"a1 APPEND INBOX {2147483648}\r\n")
    assert r.line() == b"a1 BAD [TOOBIG] Literal too big"
    assert r.cmd(b"a2 NOOP") == [b"a2 OK NOOP completed"]
    # within the reader's 1 GiB but above APPENDLIMIT: NO, also unread
    r.send(b"a3 APPEND INBOX {1000000000}\r\n")
    assert r.line() == b"a3 NO [TOOBIG] Message larger than APPENDLIMIT"
    r.send(b"a4 APPEND INBOX ~{2147483648}\r\n")
    assert r.line() == b"a4 BAD [TOOBIG] Literal too big"
    # before login too
    r2 = Raw(imap)
    r2.send(b"l1 LOGIN {2147483648}\r\n")
    assert r2.line() == b"l1 BAD [TOOBIG] Literal too big"
    assert r2.cmd(b"l2 NOOP") == [b"l2 OK NOOP completed"]
    r2.close()
    assert r.cmd(b"a5 NOOP") == [b"a5 OK NOOP completed"]
    assert imapd_rss_kib(imap) - before < 4096
    assert folder_files(imap, "", "tmp") == []
    r.close()


def send_until_closed(r, total, chunk=1 << 20):
    """Send total bytes of payload; the count sent before the server
    closed (or total)."""
    data = b"x" * chunk
    sent = 0
    try:
        while sent < total:
            r.s.sendall(data)
            sent += chunk
    except OSError:  # EPIPE, ECONNRESET, SSL EOF, timeout
        pass
    return sent


def test_2gb_nonsync_literal_closes(imap):
    r = logged_in(imap)
    before = imapd_rss_kib(imap)
    # {2147483648+}: the client sends it regardless; RFC 7888 4 choice
    # 2: BYE [TOOBIG] and close, without reading it
    r.send(b"a1 APPEND INBOX {2147483648+}\r\n")
    r.s.settimeout(10)
    sent = send_until_closed(r, 256 << 20)
    assert sent < 256 << 20
    assert r.line() == (b"* BYE [TOOBIG] Non-synchronizing literal too "
                        b"big")
    assert r.f.readline() == b""
    r.close()
    assert imapd_rss_kib(imap) - before < 4096
    imap.wait_log(r"event=close reason=\"literal too big\"")
    # imapd serves on
    r = logged_in(imap)
    assert r.cmd(b"a2 NOOP") == [b"a2 OK NOOP completed"]
    r.close()


def test_nonsync_literal_over_limits_discarded(imap):
    r = logged_in(imap)
    before = imapd_rss_kib(imap)
    # above APPENDLIMIT (64 MiB) and within the reader's 1 GiB: read and
    # thrown away (RFC 7888 4 choice 1), then NO; the session goes on
    n = 70 * 1000 * 1000
    r.send(b"a1 APPEND INBOX {%d+}\r\n" % n)
    chunk = b"y" * (1 << 20)
    left = n
    while left > 0:
        r.s.sendall(chunk[:min(left, len(chunk))])
        left -= min(left, len(chunk))
    r.send(b"\r\n")
    assert r.line() == b"a1 NO [TOOBIG] Message larger than APPENDLIMIT"
    assert imapd_rss_kib(imap) - before < 4096
    assert r.cmd(b"a2 NOOP") == [b"a2 OK NOOP completed"]
    # a {n+} above the 8 KiB kept by the reader, for another command
    select_inbox(r)
    r.send(b"q1 SEARCH TEXT {20000+}\r\n" + b"z" * 20000 + b"\r\n")
    assert r.line() == b"q1 NO [TOOBIG] Literal too big for this command"
    # more than the 64 KiB of kept literals in one command
    big = b"".join(b" {8000+}\r\n" + b"k" * 8000 for _ in range(9))
    r.send(b"q2 SEARCH TEXT a" + big + b"\r\n")
    assert r.line() == b"q2 NO [TOOBIG] Literal too big for this command"
    assert r.cmd(b"q3 NOOP") == [b"q3 OK NOOP completed"]
    # nothing was stored, no tmp/ file left
    assert inbox_files(imap) == ([], [])
    r.close()
    # before login: literals above 4 KiB are thrown away the same way
    r = Raw(imap)
    r.send(b"l1 LOGIN {5000+}\r\n" + b"u" * 5000 + b" p\r\n")
    assert r.line() == b"l1 NO [TOOBIG] Literal too big for this command"
    assert r.cmd(b"l2 NOOP") == [b"l2 OK NOOP completed"]
    r.close()


def test_malformed_lines(imap):
    r = Raw(imap)
    # overlong command line: 8 KiB before login
    out = r.cmd(b"o1 LOGIN " + b"x" * 9000 + b" y")
    assert out == [b"o1 BAD Command line too long"]
    out = r.cmd(b"p1 ID (\"a\" \"b\"")
    assert out == [b"p1 BAD Unbalanced parentheses"]
    out = r.cmd(b"p2 ID \"a\" \"b\")")
    assert out == [b"p2 BAD Unexpected \")\""]
    assert r.cmd(b"e1 NOOP caf\xc3\xa9") == [
        b"e1 BAD 8-bit character in atom"]
    assert r.cmd(b"n1 NOOP a\x00b") == [b"n1 BAD NUL in command"]
    assert r.cmd(b"n2 NO\x00OP") == [b"n2 BAD Invalid command name"]
    r.send(b"n3 NOOP\n")
    assert r.line() == b"n3 BAD Line must end with CRLF"
    # wrong state
    assert r.cmd(b"w1 SELECT INBOX") == [
        b"w1 BAD SELECT needs LOGIN or AUTHENTICATE first"]
    assert r.cmd(b"w2 APPEND INBOX {1+}\r\nx") == [
        b"w2 BAD APPEND needs LOGIN or AUTHENTICATE first"]
    assert r.cmd(b"w3 FETCH 1 FLAGS") == [
        b"w3 BAD FETCH needs LOGIN or AUTHENTICATE first"]
    assert r.cmd(b"w4 NOOP") == [b"w4 OK NOOP completed"]
    r.close()
    r = logged_in(imap)
    assert r.cmd(b"w5 FETCH 1 FLAGS") == [
        b"w5 BAD FETCH needs a selected mailbox (SELECT or EXAMINE)"]
    # 64 KiB after login
    out = r.cmd(b"o2 SEARCH TEXT " + b"x" * 65536)
    assert out == [b"o2 BAD Command line too long"]
    out = r.cmd(b"o3 NOOP " + b"x" * (65536 - 10))
    assert out == [b"o3 BAD NOOP takes no arguments"]
    assert r.cmd(b"o4 NOOP") == [b"o4 OK NOOP completed"]
    r.close()


# ---- MULTIAPPEND (RFC 3502) ----

def fetch_all(r, n, tag=b"f9"):
    """(flags line, body) of messages 1..n."""
    r.send(tag + b" FETCH 1:%d (FLAGS BODY.PEEK[])\r\n" % n)
    got = []
    for i in range(1, n + 1):
        ln = r.line()
        m = re.match(rb"\* %d FETCH \(FLAGS \(([^)]*)\) BODY\[\] ~?\{(\d+)\}$"
                     % i, ln)
        assert m, ln
        body = r.f.read(int(m.group(2)))
        assert r.line() == b")"
        got.append((m.group(1), body))
    assert r.line() == tag + b" OK FETCH completed"
    return got


def test_multiappend(imap):
    r = logged_in(imap)
    m1 = message("multi one")
    m2 = message("multi two", "z" * 70 + "\r\n") * 300   # streamed
    m3 = b"Subject: multi three\r\n\r\n\x00bin\r\n"      # literal8
    r.send(b"a1 APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged $Work) "
           b"\"01-Feb-2024 10:00:00 +0000\" {%d+}\r\n%s ~{%d+}\r\n%s\r\n"
           % (len(m1), m1, len(m2), m2, len(m3), m3))
    uidv = appenduid(r.line(), b"a1", b"1:3")
    select_inbox(r)
    assert fetch_all(r, 3) == [(b"\\Seen \\Recent", m1),
                               (b"\\Flagged $Work \\Recent", m2),
                               (b"\\Recent", m3)]
    assert r.cmd(b"f2 FETCH 2 INTERNALDATE") == [
        b'* 2 FETCH (INTERNALDATE " 1-Feb-2024 10:00:00 +0000")',
        b"f2 OK FETCH completed"]
    # synchronising literals: a "+" for each message; the selected
    # mailbox tells its new EXISTS
    m4, m5 = message("multi four"), message("multi five")
    r.send(b"a2 APPEND INBOX {%d}\r\n" % len(m4))
    assert r.line() == PLUS
    r.send(m4 + b" {%d}\r\n" % len(m5))
    assert r.line() == PLUS
    r.send(m5 + b"\r\n")
    exists(r, 5)
    assert appenduid(r.line(), b"a2", b"4:5") == uidv
    # many small messages: more than the 64 KiB the reader keeps per
    # command (the rest is streamed)
    small = [message("small %d" % i, "s" * 7000 + "\r\n") for i in range(12)]
    r.send(b"a3 APPEND Drafts" + b"".join(
        b" {%d+}\r\n%s" % (len(m), m) for m in small) + b"\r\n")
    appenduid(r.line(), b"a3", b"1:12")
    assert r.cmd(b"s1 EXAMINE Drafts")[-1] == (
        b"s1 OK [READ-ONLY] EXAMINE completed")
    # EXAMINE shows \Recent without taking it (RFC 3501 6.3.2)
    assert fetch_all(r, 12) == [(b"\\Recent", m) for m in small]
    files, tmp = inbox_files(imap)
    assert len(files) == 5 and tmp == []
    r.close()


def test_multiappend_all_or_none(imap):
    deliver(imap, [message("first")])
    r = logged_in(imap)
    select_inbox(r)
    m1, m2 = message("one"), message("two")
    before = inbox_files(imap)
    assert len(before[0]) == 1 and before[1] == []

    # the second message above APPENDLIMIT: refused before its "+"
    r.send(b"a1 APPEND INBOX {%d}\r\n" % len(m1))
    assert r.line() == PLUS
    r.send(m1 + b" {70000000}\r\n")
    assert r.line() == b"a1 NO [TOOBIG] Message larger than APPENDLIMIT"
    assert inbox_files(imap) == before
    # the same, the first one streamed (its tmp/ file goes)
    big = message("big", "b" * 70 + "\r\n") * 300
    r.send(b"a2 APPEND INBOX {%d+}\r\n%s {70000000}\r\n" % (len(big), big))
    assert r.line() == b"a2 NO [TOOBIG] Message larger than APPENDLIMIT"
    assert inbox_files(imap) == before
    # non-synchronising: read and thrown away, then NO
    n = 70 * 1000 * 1000
    r.send(b"a3 APPEND INBOX {%d+}\r\n%s {%d+}\r\n" % (len(m1), m1, n))
    chunk = b"y" * (1 << 20)
    left = n
    while left > 0:
        r.s.sendall(chunk[:min(left, len(chunk))])
        left -= min(left, len(chunk))
    r.send(b" {%d+}\r\n%s\r\n" % (len(m2), m2))
    assert r.line() == b"a3 NO [TOOBIG] Message larger than APPENDLIMIT"
    assert inbox_files(imap) == before
    # an empty message cancels the whole APPEND (RFC 3502 6.3.11)
    r.send(b"a4 APPEND INBOX {%d+}\r\n%s {0+}\r\n {%d+}\r\n%s\r\n"
           % (len(big), big, len(m2), m2))
    assert r.line() == b"a4 NO [CANNOT] Empty message"
    assert inbox_files(imap) == before
    # a bad flag in the third message: BAD, nothing stored
    r.send(b"a5 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s (\\Bogus) {%d+}\r\n"
           b"%s\r\n" % (len(m1), m1, len(big), big, len(m2), m2))
    assert r.line() == b"a5 BAD Bad flag list"
    # a missing literal after the flags of the second message
    r.send(b"a6 APPEND INBOX {%d+}\r\n%s (\\Seen)\r\n" % (len(m1), m1))
    assert r.line() == (b"a6 BAD APPEND takes a mailbox and messages: "
                        b"[flags] [date-time] literal")
    # more than 100 messages in one APPEND
    tiny = b"a: b\r\n\r\n"
    r.send(b"a9 APPEND INBOX" +
           b"".join(b" {8+}\r\n" + tiny for _ in range(101)) + b"\r\n")
    assert r.line() == b"a9 NO [LIMIT] Too many messages in one APPEND"
    assert inbox_files(imap) == before
    # no such mailbox
    r.send(b"a7 APPEND Nope {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(big), big, len(m2), m2))
    assert r.line() == b"a7 NO [TRYCREATE] No such mailbox"
    assert inbox_files(imap) == before
    assert r.cmd(b"n1 NOOP") == [b"n1 OK NOOP completed"]
    # and then one that works
    r.send(b"a8 APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(m1), m1, len(m2), m2))
    exists(r, 3)
    appenduid(r.line(), b"a8", b"2:3")
    r.close()


def test_multiappend_quota(imap):
    r = imap.cli("quota", "set", imap.demo_user, "100K", "3")
    assert r.returncode == 0, r.stderr
    deliver(imap, [message("q1")])
    r = logged_in(imap)
    # USERINFO is asked at login; its answer comes soon after
    for _ in range(50):
        out = r.cmd(b"g1 GETQUOTAROOT INBOX")
        if out[0].endswith(b' ""'):
            break
    assert re.match(rb'\* QUOTA "" \(STORAGE 1 100 MESSAGE 1 3\)$', out[1])
    before = inbox_files(imap)
    m = message("q")
    # three more would make 4 messages: none is stored
    r.send(b"a1 APPEND INBOX" + b" {%d+}\r\n%s" % (len(m), m) * 3 + b"\r\n")
    assert r.line() == b"a1 NO [OVERQUOTA] Mailbox quota exceeded"
    assert inbox_files(imap) == before
    # the byte limit crossed by the second, streamed message: refused
    # when it is announced, before its "+"; the first one's file goes
    big = message("big", "b" * 70 + "\r\n") * 1400
    r.send(b"a2 APPEND INBOX {%d+}\r\n%s {%d}\r\n"
           % (len(big), big, len(big)))
    assert r.line() == b"a2 NO [OVERQUOTA] Mailbox quota exceeded"
    assert inbox_files(imap) == before
    # two fit
    r.send(b"a3 APPEND INBOX" + b" {%d+}\r\n%s" % (len(m), m) * 2 + b"\r\n")
    appenduid(r.line(), b"a3", b"2:3")
    r.close()
