"""letterbox-imapd against Python's imaplib and raw sockets: greeting,
CAPABILITY, STARTTLS and IMAPS, LOGIN/AUTHENTICATE, states, bad input,
mailbox commands, SELECT/FETCH/STORE/EXPUNGE, and two sessions seeing
each other's changes (NOOP, IDLE) (docs/imapd.md)."""
# SPDX-License-Identifier: ISC

import base64
import imaplib
import os
import re
import socket
import ssl
import time

import pytest

import lbtest
from test_mda import LmtpConn, lmtp_sock

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN

CAPS = (b"IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN "
        b"SPECIAL-USE UTF8=ACCEPT STATUS=SIZE ESEARCH APPENDLIMIT=67108864 "
        b"MULTIAPPEND UIDPLUS MOVE CONDSTORE SORT THREAD=ORDEREDSUBJECT "
        b"THREAD=REFERENCES LIST-EXTENDED LIST-STATUS CREATE-SPECIAL-USE "
        b"SEARCHRES QRESYNC BINARY QUOTA QUOTA=RES-STORAGE "
        b"QUOTA=RES-MESSAGE SAVEDATE OBJECTID"
        b" IMAP4rev2")


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# after login: COMPRESS is a command-auth (RFC 4978 5)
AUTH_CAPS = CAPS + b" COMPRESS=DEFLATE"


def deliver(inst, msgs, rcpt=DEMO):
    c = LmtpConn(lmtp_sock(inst))
    c.hello()
    for m in msgs:
        rr, dr = c.transaction("alice@example.org", [rcpt], m)
        assert rr[0].startswith("250") and dr[0].startswith("250"), (rr, dr)
    c.cmd("QUIT")
    c.close()


def message(subject, body="hello\r\n"):
    return ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
            % (DEMO, subject, body)).encode()


def login(inst, implicit=False):
    if implicit:
        m = imaplib.IMAP4_SSL("127.0.0.1", inst.port("imaps"),
                              ssl_context=tls_ctx(), timeout=30)
    else:
        m = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=30)
        m.starttls(ssl_context=tls_ctx())
    typ, data = m.login(inst.demo_user, inst.demo_password)
    assert typ == "OK", data
    return m


class Raw:
    """A line-level client for exact responses and malformed input."""

    def __init__(self, inst, tls=False):
        s = socket.create_connection(("127.0.0.1", inst.port("imap")),
                                     timeout=30)
        self.s = s
        self.f = s.makefile("rb")
        self.greeting = self.line()
        if tls:
            self.send(b"t0 STARTTLS\r\n")
            assert self.line() == b"t0 OK Begin TLS negotiation now"
            self.s = tls_ctx().wrap_socket(s)
            self.f = self.s.makefile("rb")

    def send(self, b):
        self.s.sendall(b)

    def line(self):
        ln = self.f.readline()
        assert ln.endswith(b"\r\n"), ln
        return ln[:-2]

    def until(self, tag):
        """The lines up to and including the tagged answer for tag."""
        out = []
        while True:
            ln = self.line()
            out.append(ln)
            if ln.startswith(tag + b" "):
                return out

    def cmd(self, text):
        """Send one command; the lines up to its tagged answer."""
        self.send(text + b"\r\n")
        return self.until(text.split(b" ", 1)[0])

    def login(self, inst):
        r = self.cmd(b"l1 LOGIN " + inst.demo_user.encode() + b" " +
                     inst.demo_password.encode())
        assert r[-1].startswith(b"l1 OK"), r

    def close(self):
        self.s.close()


@pytest.fixture
def imap(instance):
    instance.start()
    instance.wait_log(r"imapd.*event=started", timeout=30)
    # the SASL list comes from authd once it answers
    instance.wait_log(r"imapd.*event=sasl-mechs", timeout=30)
    yield instance
    if instance.proc is not None:
        assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"daemon-exit daemon=imapd pid=\d+ status=[1-9]",
                         log), log[-3000:]


def test_greeting_capability_starttls(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.port("imap"), timeout=30)
    assert m.welcome == (b"* OK [CAPABILITY " + CAPS +
                         b" STARTTLS LOGINDISABLED] Letterbox IMAP ready")
    assert m.capability() == ("OK", [CAPS + b" STARTTLS LOGINDISABLED"])
    # RFC 9051 6.2.3: no LOGIN before TLS
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        m.login(imap.demo_user, imap.demo_password)
    assert m.starttls(ssl_context=tls_ctx())[0] == "OK"
    assert m.capability() == ("OK", [CAPS + b" SASL-IR AUTH=PLAIN "
                                     b"AUTH=LOGIN"])
    typ, data = m.login(imap.demo_user, imap.demo_password)
    assert (typ, data) == ("OK", [b"[CAPABILITY " + AUTH_CAPS +
                                  b"] Logged in"])
    # imaplib files the response code with the untagged ones
    assert m.untagged_responses.pop("CAPABILITY") == [AUTH_CAPS]
    assert m.capability() == ("OK", [AUTH_CAPS])
    assert m.noop() == ("OK", [b"NOOP completed"])
    assert m.logout() == ("BYE", [b"Letterbox IMAP logging out"])


def test_imaps_and_wrong_password(imap):
    m = imaplib.IMAP4_SSL("127.0.0.1", imap.port("imaps"),
                          ssl_context=tls_ctx(), timeout=30)
    assert m.welcome == (b"* OK [CAPABILITY " + CAPS + b" SASL-IR "
                         b"AUTH=PLAIN AUTH=LOGIN] Letterbox IMAP ready")
    with pytest.raises(imaplib.IMAP4.error,
                       match=r"AUTHENTICATIONFAILED\] Authentication failed"):
        m.login(imap.demo_user, "wrong")
    assert m.login(imap.demo_user, imap.demo_password)[0] == "OK"
    m.logout()


def test_starttls_injection_and_twice(imap):
    r = Raw(imap)
    # a command sent with STARTTLS before the handshake is dropped
    r.send(b"t0 STARTTLS\r\nt1 CAPABILITY\r\n")
    assert r.line() == b"t0 OK Begin TLS negotiation now"
    r.s = tls_ctx().wrap_socket(r.s)
    r.f = r.s.makefile("rb")
    assert r.cmd(b"t2 STARTTLS") == [b"t2 BAD Already using TLS"]
    assert r.cmd(b"t3 NOOP") == [b"t3 OK NOOP completed"]
    r.close()
    imap.wait_log(r"event=starttls-injection dropped=15")


def test_authenticate_plain(imap):
    r = Raw(imap, tls=True)
    cred = base64.b64encode(b"\0" + imap.demo_user.encode() + b"\0" +
                            imap.demo_password.encode())
    # SASL-IR (RFC 4959)
    a = r.cmd(b"a1 AUTHENTICATE PLAIN " + cred)
    assert a == [b"a1 OK [CAPABILITY " + AUTH_CAPS + b"] Logged in"]
    assert r.cmd(b"a2 AUTHENTICATE PLAIN " + cred) == [
        b"a2 BAD AUTHENTICATE is not allowed after login"]
    r.close()
    # the continuation form, and "*" to cancel
    r = Raw(imap, tls=True)
    r.send(b"b1 AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ "
    r.send(b"*\r\n")
    assert r.line() == b"b1 BAD Authentication cancelled"
    r.send(b"b2 AUTHENTICATE PLAIN\r\n")
    assert r.line() == b"+ "
    r.send(cred + b"\r\n")
    assert r.line() == b"b2 OK [CAPABILITY " + AUTH_CAPS + b"] Logged in"
    assert r.cmd(b"b3 AUTHENTICATE X-NONE") == [
        b"b3 BAD AUTHENTICATE is not allowed after login"]
    r.close()


def test_wrong_state_and_bad_input(imap):
    r = Raw(imap)
    assert r.cmd(b"s1 SELECT INBOX") == [
        b"s1 BAD SELECT needs LOGIN or AUTHENTICATE first"]
    assert r.cmd(b"s2 FETCH 1 FLAGS") == [
        b"s2 BAD FETCH needs LOGIN or AUTHENTICATE first"]
    assert r.cmd(b"s3 FROB") == [b"s3 BAD Unknown command FROB"]
    assert r.cmd(b"s4 UID NOOP") == [b"s4 BAD Unknown command UID NOOP"]
    # 8-bit in an atom
    out = r.cmd(b"s6 NOOP caf\xc3\xa9")
    assert out[-1].startswith(b"s6 BAD"), out
    # a literal too big is refused before any "+", unread
    r.send(b"s7 LOGIN {2000000000}\r\n")
    ln = r.line()
    assert ln.startswith(b"s7 BAD [TOOBIG]"), ln
    assert r.cmd(b"s8 NOOP") == [b"s8 OK NOOP completed"]
    # before login literals above 4 KiB are refused before "+"
    r.send(b"s10 LOGIN {5000}\r\n")
    assert r.line() == b"s10 NO [TOOBIG] Literal too big for this command"
    # and so is a line above 8 KiB
    out = r.cmd(b"s11 LOGIN " + b"x" * 9000 + b" y")
    assert len(out) == 1 and out[0].startswith(b"s11 BAD"), out
    assert r.cmd(b"s9 CAPABILITY x") == [
        b"s9 BAD CAPABILITY takes no arguments"]
    r.close()
    r = Raw(imap, tls=True)
    r.login(imap)
    assert r.cmd(b"s1 FETCH 1 FLAGS") == [
        b"s1 BAD FETCH needs a selected mailbox (SELECT or EXAMINE)"]
    assert r.cmd(b"s2 LOGIN a b") == [
        b"s2 BAD LOGIN is not allowed after login"]
    assert r.cmd(b"s3 CLOSE") == [
        b"s3 BAD CLOSE needs a selected mailbox (SELECT or EXAMINE)"]
    r.close()


def test_unbalanced_parentheses(imap):
    r = Raw(imap)
    out = r.cmd(b"p1 ID (\"a\" \"b\"")
    assert len(out) == 1 and out[0].startswith(b"p1 BAD"), out
    out = r.cmd(b"p2 ID \"a\" \"b\")")
    assert len(out) == 1 and out[0].startswith(b"p2 BAD"), out
    assert r.cmd(b"p3 NOOP") == [b"p3 OK NOOP completed"]
    r.close()


def test_id_enable_namespace(imap):
    r = Raw(imap, tls=True)
    assert r.cmd(b'i1 ID ("name" "pytest" "version" NIL)') == [
        b'* ID ("name" "Letterbox")', b"i1 OK ID completed"]
    assert r.cmd(b"i2 ID NIL") == [b'* ID ("name" "Letterbox")',
                                   b"i2 OK ID completed"]
    assert r.cmd(b"i3 ENABLE UTF8=ACCEPT") == [
        b"i3 BAD ENABLE needs LOGIN or AUTHENTICATE first"]
    r.login(imap)
    assert r.cmd(b"i4 ENABLE UTF8=ACCEPT X-UNKNOWN") == [
        b"* ENABLED UTF8=ACCEPT", b"i4 OK ENABLE completed"]
    assert r.cmd(b"i5 ENABLE UTF8=ACCEPT") == [
        b"* ENABLED", b"i5 OK ENABLE completed"]
    assert r.cmd(b"i6 NAMESPACE") == [b'* NAMESPACE (("" "/")) NIL NIL',
                                      b"i6 OK NAMESPACE completed"]
    assert r.cmd(b"i7 LOGOUT") == [b"* BYE Letterbox IMAP logging out",
                                   b"i7 OK LOGOUT completed"]
    r.close()


def test_mailboxes(imap):
    m = login(imap)
    typ, data = m.list()
    assert (typ, data) == ("OK", [
        b'(\\HasNoChildren \\Archive) "/" "Archive"',
        b'(\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'(\\HasNoChildren) "/" "INBOX"',
        b'(\\HasNoChildren \\Junk) "/" "Junk"',
        b'(\\HasNoChildren \\Sent) "/" "Sent"',
        b'(\\HasNoChildren \\Trash) "/" "Trash"'])
    assert m.list('""', '""') == ("OK", [b'(\\Noselect) "/" ""'])
    assert m.list('""', "inbox") == ("OK", [b'(\\HasNoChildren) "/" "INBOX"'])
    typ, data = m.create("Work/2024")
    # RFC 8474 4.1: the new mailbox's MAILBOXID
    assert typ == "OK" and re.match(
        rb"\[MAILBOXID \(F[0-9a-f]{16}\)\] CREATE completed$", data[0]), data
    assert m.create("Work") == ("NO", [b"[ALREADYEXISTS] Mailbox exists"])
    assert m.create("inbox") == ("NO", [b"[ALREADYEXISTS] INBOX always "
                                        b"exists"])
    assert m.list('""', "Work*") == ("OK", [
        b'(\\HasChildren) "/" "Work"', b'(\\HasNoChildren) "/" "Work/2024"'])
    assert m.list("Work/", "%") == ("OK", [
        b'(\\HasNoChildren) "/" "Work/2024"'])
    assert m.list('""', "W%") == ("OK", [b'(\\HasChildren) "/" "Work"'])
    assert os.path.isdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                      "demo", ".Work.2024", "cur"))
    assert m.rename("Work", "Job") == ("OK", [b"RENAME completed"])
    assert m.list('""', "Job*") == ("OK", [
        b'(\\HasChildren) "/" "Job"', b'(\\HasNoChildren) "/" "Job/2024"'])
    assert m.list('""', "Work*") == ("OK", [None])
    assert os.path.isdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                      "demo", ".Job.2024", "cur"))
    assert m.rename("Nope", "X") == ("NO", [b"[NONEXISTENT] No such "
                                            b"mailbox"])
    assert m.rename("Job", "Sent") == ("NO", [b"[ALREADYEXISTS] Mailbox "
                                              b"exists"])
    # subscriptions: the special folders are subscribed from the start
    assert m.subscribe("Job") == ("OK", [b"SUBSCRIBE completed"])
    assert m.lsub('""', "Jo*") == ("OK", [b'() "/" "Job"'])
    assert m.unsubscribe("Job") == ("OK", [b"UNSUBSCRIBE completed"])
    assert m.lsub('""', "Jo*") == ("OK", [None])
    assert m.delete("Job/2024") == ("OK", [b"DELETE completed"])
    assert not os.path.exists(os.path.join(imap.inst, "state", "mail",
                                           DOMAIN, "demo", ".Job.2024"))
    assert m.delete("Job/2024") == ("NO", [b"[NONEXISTENT] No such "
                                           b"mailbox"])
    assert m.delete("INBOX") == ("NO", [b"[CANNOT] INBOX cannot be "
                                        b"deleted"])
    assert m.create('"a*b"') == ("NO", [b"[CANNOT] No wildcards in mailbox "
                                      b"names"])
    typ, data = m.status("Sent", "(MESSAGES UNSEEN DELETED SIZE RECENT)")
    assert (typ, data) == ("OK", [b'"Sent" (MESSAGES 0 UNSEEN 0 DELETED 0 '
                                  b'SIZE 0 RECENT 0)'])
    assert m.status("Nope", "(MESSAGES)") == ("NO", [
        b"[NONEXISTENT] No such mailbox"])
    m.logout()


def test_select_fetch_store_expunge(imap):
    deliver(imap, [message("one"), message("two"), message("three")])
    m = login(imap)
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
    assert (typ, data) == ("OK", [b'"INBOX" (MESSAGES 3 UNSEEN 3 UIDNEXT 4)'])
    typ, data = m.select("inbox")
    assert (typ, data) == ("OK", [b"3"])
    assert m.untagged_responses.get("FLAGS") == [
        b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"]
    assert m.untagged_responses.get("UNSEEN") == [b"1"]
    # RFC 3501 2.3.2: the first session told of them has them \Recent
    assert m.untagged_responses.get("RECENT") == [b"3"]
    assert m.untagged_responses.get("UIDNEXT") == [b"4"]
    assert m.untagged_responses.get("READ-WRITE") == [b""]
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    assert (typ, data) == ("OK", [b"1 (UID 1 FLAGS (\\Recent))",
                                  b"2 (UID 2 FLAGS (\\Recent))",
                                  b"3 (UID 3 FLAGS (\\Recent))"])
    typ, data = m.fetch("2", "(RFC822.SIZE)")
    sizes = [int(f.split(",S=")[1]) for f in os.listdir(os.path.join(
        imap.inst, "state", "mail", DOMAIN, "demo", "new"))]
    assert typ == "OK" and len(data) == 1, data
    size = int(re.match(rb"2 \(RFC822.SIZE (\d+)\)$", data[0]).group(1))
    assert size in sizes, (size, sizes)
    with pytest.raises(imaplib.IMAP4.error, match="out of range"):
        m.fetch("9", "FLAGS")
    typ, data = m.store("1:2", "+FLAGS", "(\\Seen $Label1)")
    assert (typ, data) == ("OK", [b"1 (FLAGS (\\Seen $Label1 \\Recent))",
                                  b"2 (FLAGS (\\Seen $Label1 \\Recent))"])
    typ, data = m.uid("STORE", "2", "-FLAGS", "($Label1)")
    assert (typ, data) == ("OK", [b"2 (FLAGS (\\Seen \\Recent) UID 2)"])
    typ, data = m.store("3", "+FLAGS.SILENT", "\\Deleted")
    assert (typ, data) == ("OK", [None])
    # the file name carries the flags (Maildir ":2,S")
    cur = os.listdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                  "demo", "cur"))
    assert sum(1 for f in cur if f.endswith(":2,S")) == 2, cur
    typ, data = m.expunge()
    assert (typ, data) == ("OK", [b"3"])
    assert m.fetch("1:*", "FLAGS") == ("OK", [
        b"1 (FLAGS (\\Seen $Label1 \\Recent))",
        b"2 (FLAGS (\\Seen \\Recent))"])
    assert m.unselect() == ("OK", [b"UNSELECT completed"])
    typ, data = m.select("INBOX", readonly=True)
    assert (typ, data) == ("OK", [b"2"])
    assert m.store("1", "+FLAGS", "\\Flagged")[0] == "NO"
    assert m.close() == ("OK", [b"CLOSE completed"])
    m.logout()


def test_two_sessions_noop_and_idle(imap):
    deliver(imap, [message("one"), message("two")])
    a = Raw(imap, tls=True)
    a.login(imap)
    b = Raw(imap, tls=True)
    b.login(imap)
    assert a.cmd(b"a1 SELECT INBOX")[-1] == b"a1 OK [READ-WRITE] SELECT " \
                                            b"completed"
    assert b.cmd(b"b1 SELECT INBOX")[-1] == b"b1 OK [READ-WRITE] SELECT " \
                                            b"completed"
    assert a.cmd(b"a2 STORE 2 +FLAGS (\\Flagged)") == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent))", b"a2 OK STORE completed"]
    # the other session sees it at its next command
    assert b.cmd(b"b2 NOOP") == [b"* 2 FETCH (FLAGS (\\Flagged))",
                                 b"b2 OK NOOP completed"]
    assert b.cmd(b"b3 NOOP") == [b"b3 OK NOOP completed"]
    assert a.cmd(b"a3 NOOP") == [b"a3 OK NOOP completed"]
    # IDLE: a delivery shows as EXISTS within a second
    b.send(b"b4 IDLE\r\n")
    assert b.line() == b"+ idling"
    t0 = time.monotonic()
    deliver(imap, [message("three")])
    b.s.settimeout(5)
    assert b.line() == b"* 3 EXISTS"
    assert b.line() == b"* 1 RECENT"  # b was told of it first
    assert time.monotonic() - t0 < 2.0
    # a flag change and an expunge by the other session, told in IDLE
    assert a.cmd(b"a4 STORE 1 +FLAGS (\\Deleted)")[-1] == \
        b"a4 OK STORE completed"
    assert b.line() == b"* 1 FETCH (FLAGS (\\Deleted))"
    assert a.cmd(b"a5 EXPUNGE") == [b"* 1 EXPUNGE",
                                    b"a5 OK EXPUNGE completed"]
    assert b.line() == b"* 1 EXPUNGE"
    b.send(b"DONE\r\n")
    assert b.line() == b"b4 OK IDLE terminated"
    assert b.cmd(b"b5 FETCH 1:* (UID)") == [
        b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)", b"b5 OK FETCH completed"]
    a.close()
    b.close()


def test_search(imap):
    deliver(imap, [message("apple pie"), message("banana", "long body "
                                                 "with a kiwi\r\n"),
                   message("cherry")])
    m = login(imap)
    assert m.select("INBOX") == ("OK", [b"3"])
    assert m.store("2", "+FLAGS", "(\\Seen)")[0] == "OK"
    assert m.search(None, "ALL") == ("OK", [b"1 2 3"])
    assert m.search(None, "UNSEEN") == ("OK", [b"1 3"])
    assert m.search(None, "SUBJECT", "BANANA") == ("OK", [b"2"])
    assert m.search(None, "BODY", "kiwi") == ("OK", [b"2"])
    assert m.search(None, "OR", "SUBJECT", "apple", "SUBJECT",
                    "cherry") == ("OK", [b"1 3"])
    assert m.search(None, "NOT", "2:3") == ("OK", [b"1"])
    assert m.uid("SEARCH", "UID", "2:*") == ("OK", [b"2 3"])
    assert m.search(None, "FROM", "nobody") == ("OK", [b""])
    typ, data = m.search("X-UNKNOWN", "ALL")
    assert (typ, data) == ("NO", [b"[BADCHARSET (UTF-8 US-ASCII)] "
                                  b"Unsupported charset"])
    r = Raw(imap, tls=True)
    r.login(imap)
    r.cmd(b"x1 SELECT INBOX")
    assert r.cmd(b"x2 SEARCH RETURN (MIN MAX COUNT ALL) NOT SEEN") == [
        b'* ESEARCH (TAG "x2") MIN 1 MAX 3 ALL 1,3 COUNT 2',
        b"x2 OK SEARCH completed"]
    assert r.cmd(b"x3 UID SEARCH RETURN () ALL") == [
        b'* ESEARCH (TAG "x3") UID ALL 1:3', b"x3 OK UID SEARCH completed"]
    assert r.cmd(b"x4 SEARCH (")[-1].startswith(b"x4 BAD")
    r.close()
    m.logout()


def test_append_fetch_body(imap):
    m = login(imap)
    small = message("small")
    # above the reader's 8 KiB inline size: streamed into tmp/
    big = message("big", "".join("line %06d of a big message\r\n" % i
                                 for i in range(40000)))
    assert len(big) > 1000000
    typ, data = m.append("Drafts", "(\\Draft \\Seen $Mine)",
                         '"17-Jul-1996 02:44:25 -0700"', small)
    assert typ == "OK", data
    uidv = re.match(rb"\[APPENDUID (\d+) 1\] APPEND completed$", data[0])
    assert uidv, data
    typ, data = m.append("Drafts", None, None, big)
    assert data == [b"[APPENDUID " + uidv.group(1) + b" 2] APPEND completed"]
    assert m.append("Nope", None, None, small) == ("NO", [
        b"[TRYCREATE] No such mailbox"])
    assert m.select("Drafts") == ("OK", [b"2"])
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE)")
    assert (typ, data) == ("OK", [
        b'1 (FLAGS (\\Seen \\Draft $Mine \\Recent) INTERNALDATE '
        b'"17-Jul-1996 09:44:25 +0000" RFC822.SIZE %d)' % len(small)])
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == small, data
    typ, data = m.uid("FETCH", "2", "(BODY.PEEK[]<10.20>)")
    assert data == [(b"2 (BODY[]<10> {20}", big[10:30]), b" UID 2)"], data
    typ, data = m.fetch("2", "(FLAGS)")
    assert data == [b"2 (FLAGS (\\Recent))"]
    # without PEEK: the whole big message, streamed, and \Seen set
    typ, data = m.fetch("2", "(RFC822)")
    assert typ == "OK" and data[0][0] == b"2 (RFC822 {%d}" % len(big)
    assert data[0][1] == big
    assert data[1] == b" FLAGS (\\Seen \\Recent))"
    cur = os.listdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                  "demo", ".Drafts", "cur"))
    assert sorted(f.split(":2,")[1] for f in cur) == ["DS", "S"], cur
    assert m.status("Drafts", "(MESSAGES UNSEEN SIZE)") == ("OK", [
        b'"Drafts" (MESSAGES 2 UNSEEN 0 SIZE %d)' % (len(small) + len(big))])
    # an APPEND into the selected mailbox tells EXISTS
    m.untagged_responses.pop("EXISTS", None)
    typ, data = m.append("Drafts", None, None, small)
    assert m.untagged_responses.pop("EXISTS") == [b"3"]
    m.logout()


def test_append_refused_literals(imap):
    r = Raw(imap, tls=True)
    r.login(imap)
    # too big for APPENDLIMIT: refused before "+", nothing read
    r.send(b"a1 APPEND INBOX {70000000}\r\n")
    assert r.line() == b"a1 NO [TOOBIG] Message larger than APPENDLIMIT"
    # a big literal for another command
    r.send(b"a2 LOGIN {20000}\r\n")
    ln = r.line()
    assert ln == b"a2 NO [TOOBIG] Literal too big for this command", ln
    # a synchronising literal: "+", then the message
    r.send(b"a3 APPEND INBOX {8}\r\n")
    assert r.line() == b"+ Ready for literal data"
    r.send(b"a: b\r\n\r\n\r\n")
    ln = r.line()
    assert re.match(rb"a3 OK \[APPENDUID \d+ 1\] APPEND completed$", ln), ln
    # LITERAL+: a non-synchronising literal needs no "+"
    r.send(b"a4 APPEND INBOX {8+}\r\na: c\r\n\r\n\r\n")
    ln = r.line()
    assert re.match(rb"a4 OK \[APPENDUID \d+ 2\] APPEND completed$", ln), ln
    r.close()


def test_copy_move_uid_expunge(imap):
    deliver(imap, [message("m%d" % i) for i in range(1, 6)])
    m = login(imap)
    assert m.select("INBOX") == ("OK", [b"5"])
    uidv = m.status("Archive", "(UIDVALIDITY)")[1][0].split()[-1][:-1]
    assert m.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    typ, data = m.copy("1:3", "Archive")
    assert (typ, data) == ("OK", [b"[COPYUID " + uidv + b" 1:3 1:3] COPY "
                                  b"completed"])
    assert m.copy("1", "Nope") == ("NO", [b"[TRYCREATE] No such mailbox"])
    m.untagged_responses.pop("OK", None)
    typ, data = m.uid("MOVE", "4,5", "Archive")
    assert typ == "OK", data
    assert m.untagged_responses.pop("OK") == [
        b"[COPYUID " + uidv + b" 4:5 4:5] Moved"]
    assert m.untagged_responses.pop("EXPUNGE") == [b"4", b"4"]
    assert m.fetch("1:*", "UID") == ("OK", [b"1 (UID 1)", b"2 (UID 2)",
                                            b"3 (UID 3)"])
    assert m.status("Archive", "(MESSAGES)") == ("OK", [
        b'"Archive" (MESSAGES 5)'])
    # UID EXPUNGE only expunges the UIDs given
    assert m.store("1:3", "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
    assert m.uid("EXPUNGE", "2:3")[0] == "OK"
    assert m.untagged_responses.pop("EXPUNGE") == [b"2", b"2"]
    assert m.fetch("1:*", "(UID FLAGS)") == ("OK", [
        b"1 (UID 1 FLAGS (\\Deleted \\Recent))"])
    assert m.select("Archive") == ("OK", [b"5"])
    assert m.fetch("1:*", "FLAGS") == ("OK", [
        b"1 (FLAGS (\\Recent))", b"2 (FLAGS (\\Flagged \\Recent))",
        b"3 (FLAGS (\\Recent))", b"4 (FLAGS (\\Recent))",
        b"5 (FLAGS (\\Recent))"])
    typ, data = m.fetch("5", "(BODY.PEEK[])")
    assert data[0][1].endswith(message("m5")), data
    m.logout()


def test_move_raw_copyuid(imap):
    deliver(imap, [message("a"), message("b")])
    r = Raw(imap, tls=True)
    r.login(imap)
    r.cmd(b"m1 SELECT INBOX")
    out = r.cmd(b"m2 MOVE 1 Trash")
    assert len(out) == 3, out
    assert re.match(rb"\* OK \[COPYUID \d+ 1 1\] Moved$", out[0]), out
    assert out[1:] == [b"* 1 EXPUNGE", b"m2 OK MOVE completed"]
    r.close()


def test_condstore(imap):
    deliver(imap, [message("c1"), message("c2"), message("c3")])
    r = Raw(imap, tls=True)
    r.login(imap)
    out = r.cmd(b"c1 SELECT INBOX (CONDSTORE)")
    hms = [ln for ln in out if ln.startswith(b"* OK [HIGHESTMODSEQ ")]
    assert len(hms) == 1, out
    hms = int(hms[0].split()[3][:-1])
    assert r.cmd(b"c2 FETCH 1:* (MODSEQ)") == [
        b"* 1 FETCH (MODSEQ (%d))" % (hms - 2),
        b"* 2 FETCH (MODSEQ (%d))" % (hms - 1),
        b"* 3 FETCH (MODSEQ (%d))" % hms, b"c2 OK FETCH completed"]
    assert r.cmd(b"c3 STORE 2 +FLAGS (\\Seen)") == [
        b"* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (%d))" % (hms + 1),
        b"c3 OK STORE completed"]
    assert r.cmd(b"c4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms) == [
        b"* 2 FETCH (FLAGS (\\Seen \\Recent) UID 2 MODSEQ (%d))"
        % (hms + 1), b"c4 OK UID FETCH completed"]
    # the message changed since: MODIFIED, nothing stored for it
    assert r.cmd(b"c5 STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)"
                 % hms) == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (%d))" % (hms + 2),
        b"c5 OK [MODIFIED 2] Conditional STORE failed"]
    assert r.cmd(b"c6 UID STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)") == [
        b"c6 OK [MODIFIED 3] Conditional STORE failed"]
    assert r.cmd(b"c7 SEARCH MODSEQ %d" % (hms + 1)) == [
        b"* SEARCH 1 2 (MODSEQ %d)" % (hms + 2), b"c7 OK SEARCH completed"]
    assert r.cmd(b"c8 STATUS INBOX (HIGHESTMODSEQ MESSAGES)") == [
        b'* STATUS "INBOX" (HIGHESTMODSEQ %d MESSAGES 3)' % (hms + 2),
        b"c8 OK STATUS completed"]
    assert r.cmd(b"c9 UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)")[-1] \
        .startswith(b"c9 BAD")
    r.close()
    r = Raw(imap, tls=True)
    r.login(imap)
    assert r.cmd(b"e1 ENABLE CONDSTORE") == [b"* ENABLED CONDSTORE",
                                             b"e1 OK ENABLE completed"]
    r.close()


def test_sort_thread(imap):
    def msg(subject, mid, refs=None, frm="alice@example.org"):
        h = "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n" % (
            frm, DEMO, subject, mid)
        if refs:
            h += "References: <%s>\r\nIn-Reply-To: <%s>\r\n" % (refs, refs)
        return (h + "\r\nbody\r\n").encode()
    deliver(imap, [msg("zebra", "a@x"), msg("Re: zebra", "b@x", "a@x"),
                   msg("apple", "c@x", frm="bob@example.org"),
                   msg("Re: apple", "d@x", "c@x")])
    r = Raw(imap, tls=True)
    r.login(imap)
    r.cmd(b"t1 SELECT INBOX")
    assert r.cmd(b"t2 SORT (SUBJECT) UTF-8 ALL") == [
        b"* SORT 3 4 1 2", b"t2 OK SORT completed"]
    assert r.cmd(b"t3 UID SORT (REVERSE SUBJECT) US-ASCII NOT 4") == [
        b"* SORT 1 2 3", b"t3 OK UID SORT completed"]
    assert r.cmd(b"t4 THREAD REFERENCES UTF-8 ALL") == [
        b"* THREAD (1 2)(3 4)", b"t4 OK THREAD completed"]
    assert r.cmd(b"t5 UID THREAD ORDEREDSUBJECT UTF-8 ALL") == [
        b"* THREAD (1 2)(3 4)", b"t5 OK UID THREAD completed"]
    assert r.cmd(b"t6 SORT (SUBJECT) KOI8-R ALL") == [
        b"t6 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"]
    assert r.cmd(b"t7 SORT (NOPE) UTF-8 ALL")[-1].startswith(b"t7 BAD")
    assert r.cmd(b"t8 THREAD NOPE UTF-8 ALL") == [
        b"t8 BAD Unknown threading algorithm"]
    r.close()


def test_rename_inbox(imap):
    deliver(imap, [message("r1"), message("r2")])
    m = login(imap)
    # a second session watches INBOX
    w = login(imap)
    assert w.select("INBOX") == ("OK", [b"2"])
    assert m.rename("INBOX", "Old/Inbox") == ("OK", [b"RENAME completed"])
    assert m.status("INBOX", "(MESSAGES)") == ("OK", [
        b'"INBOX" (MESSAGES 0)'])
    assert m.status("Old/Inbox", "(MESSAGES UIDNEXT)") == ("OK", [
        b'"Old/Inbox" (MESSAGES 2 UIDNEXT 3)'])
    assert w.noop()[0] == "OK"
    assert w.untagged_responses.pop("EXPUNGE") == [b"1", b"1"]
    assert m.select("Old/Inbox") == ("OK", [b"2"])
    typ, data = m.fetch("2", "(BODY.PEEK[])")
    assert data[0][1].endswith(message("r2")), data
    d = os.path.join(imap.inst, "state", "mail", DOMAIN, "demo")
    assert os.listdir(os.path.join(d, "new")) == []
    assert os.listdir(os.path.join(d, "cur")) == []
    m.logout()
    w.logout()


MIME = (b"From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
        b"Subject: parts\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
        b"Message-ID: <p1@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"hello\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n")


def test_fetch_render(imap):
    m = login(imap)
    typ, data = m.append("INBOX", None, None, MIME)
    assert typ == "OK", data
    r = Raw(imap, tls=True)
    r.login(imap)
    r.cmd(b"f1 SELECT INBOX")
    out = r.cmd(b"f2 FETCH 1 (ENVELOPE)")
    assert out == [
        b'* 1 FETCH (ENVELOPE ("Fri, 04 Dec 2026 10:00:00 +0000" "parts" '
        b'(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" '
        b'"example.org")) (("Alice" NIL "alice" "example.org")) ((NIL NIL '
        b'"demo" "example.test")) NIL NIL NIL "<p1@example.org>"))',
        b"f2 OK FETCH completed"], out
    out = r.cmd(b"f3 FETCH 1 (BODY)")
    assert out == [
        b'* 1 FETCH (BODY (("text" "plain" ("charset" "us-ascii") NIL NIL '
        b'"7bit" 5 0)("application" "octet-stream" NIL NIL NIL "base64" 8) '
        b'"mixed"))', b"f3 OK FETCH completed"], out
    out = r.cmd(b"f4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert out == [b"* 1 FETCH (BODY[HEADER.FIELDS (\"Subject\")] {18}",
                   b"Subject: parts", b"", b")", b"f4 OK FETCH completed"], out
    out = r.cmd(b"f5 FETCH 1 (BODY.PEEK[1] BINARY.SIZE[2])")
    assert out == [b"* 1 FETCH (BODY[1] {5}", b"hello BINARY.SIZE[2] 4)",
                   b"f5 OK FETCH completed"], out
    r.send(b"f6 FETCH 1 (BINARY.PEEK[2])\r\n")
    head = r.line()
    assert head == b"* 1 FETCH (BINARY[2] ~{4}", head
    assert r.f.read(4) == b"\x00\x01\x02\x03"
    assert r.line() == b")"
    assert r.line() == b"f6 OK FETCH completed"
    out = r.cmd(b"f7 FETCH 1 (BODY[9])")
    assert out == [b'* 1 FETCH (BODY[9] "" FLAGS (\\Seen \\Recent))',
                   b"f7 OK FETCH completed"], out
    out = r.cmd(b"f8 FETCH 1 (BINARY[1.MIME])")
    assert out[-1].startswith(b"f8 BAD") or out[-1].startswith(b"f8 NO"), out
    r.close()
    m.logout()


def test_list_extended_status_special_use(imap):
    deliver(imap, [message("x")])
    r = Raw(imap, tls=True)
    r.login(imap)
    out = r.cmd(b"l1 CREATE Lists/Deep")
    assert re.match(rb"l1 OK \[MAILBOXID \(F[0-9a-f]{16}\)\] CREATE "
                    rb"completed$", out[0]), out
    assert r.cmd(b"l2 SUBSCRIBE Lists/Deep") == [
        b"l2 OK SUBSCRIBE completed"]
    out = r.cmd(b"l3 CREATE Spam (USE (\\Junk))")
    assert len(out) == 1 and out[0].startswith(b"l3 OK [MAILBOXID ("), out
    assert r.cmd(b"l4 CREATE Odd (USE (\\Nope))") == [
        b"l4 NO [USEATTR] Unsupported special-use attribute"]
    assert r.cmd(b'l5 LIST (SPECIAL-USE) "" *') == [
        b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Spam"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
        b"l5 OK LIST completed"]
    assert r.cmd(b'l6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "L%"') == [
        b'* LIST (\\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))',
        b"l6 OK LIST completed"]
    assert r.cmd(b'l7 LIST (SUBSCRIBED) "" "L*"') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Deep"',
        b"l7 OK LIST completed"]
    assert r.cmd(b'l8 LIST "" (INBOX "Li*") RETURN (SUBSCRIBED STATUS '
                 b'(MESSAGES UNSEEN))') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"',
        b'* STATUS "INBOX" (MESSAGES 1 UNSEEN 1)',
        b'* LIST (\\HasChildren) "/" "Lists"',
        b'* STATUS "Lists" (MESSAGES 0 UNSEEN 0)',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Deep"',
        b'* STATUS "Lists/Deep" (MESSAGES 0 UNSEEN 0)',
        b"l8 OK LIST completed"]
    assert r.cmd(b'l9 LIST (RECURSIVEMATCH) "" *')[-1].startswith(
        b"l9 BAD")
    assert r.cmd(b'l10 LIST "" * RETURN (STATUS (NOPE))')[-1].startswith(
        b"l10 BAD")
    r.close()


def test_searchres(imap):
    deliver(imap, [message("s%d" % i) for i in range(1, 6)])
    r = Raw(imap, tls=True)
    r.login(imap)
    r.cmd(b"r1 SELECT INBOX")
    assert r.cmd(b"r2 FETCH $ (UID)") == [b"r2 OK FETCH completed"]
    assert r.cmd(b"r3 STORE 2,4 +FLAGS (\\Flagged)")[-1] == \
        b"r3 OK STORE completed"
    # SAVE alone: no ESEARCH, the result kept as UIDs
    assert r.cmd(b"r4 SEARCH RETURN (SAVE) FLAGGED") == [
        b"r4 OK SEARCH completed"]
    assert r.cmd(b"r5 FETCH $ (UID FLAGS)") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
        b"* 4 FETCH (UID 4 FLAGS (\\Flagged \\Recent))",
        b"r5 OK FETCH completed"]
    assert r.cmd(b"r6 SEARCH NOT $") == [b"* SEARCH 1 3 5",
                                         b"r6 OK SEARCH completed"]
    assert r.cmd(b"r7 UID SEARCH RETURN (SAVE MIN COUNT) UNFLAGGED") == [
        b'* ESEARCH (TAG "r7") UID MIN 1 COUNT 3',
        b"r7 OK UID SEARCH completed"]
    assert r.cmd(b"r8 STORE $ +FLAGS.SILENT (\\Deleted)") == [
        b"r8 OK STORE completed"]
    assert r.cmd(b"r9 EXPUNGE") == [b"* 1 EXPUNGE", b"* 2 EXPUNGE",
                                    b"* 3 EXPUNGE", b"r9 OK EXPUNGE completed"]
    # expunged UIDs drop out of "$"
    assert r.cmd(b"r10 UID FETCH $ (UID)") == [b"r10 OK UID FETCH completed"]
    r.close()


def test_qresync(imap):
    deliver(imap, [message("q%d" % i) for i in range(1, 6)])
    r = Raw(imap, tls=True)
    r.login(imap)
    out = r.cmd(b"q1 SELECT INBOX (QRESYNC (1 1))")
    assert out == [b"q1 BAD SELECT takes a mailbox name and optionally "
                   b"(CONDSTORE) or (QRESYNC (uidvalidity modseq [uids])), "
                   b"QRESYNC once enabled"], out
    assert r.cmd(b"q2 ENABLE QRESYNC") == [b"* ENABLED QRESYNC",
                                           b"q2 OK ENABLE completed"]
    out = r.cmd(b"q3 SELECT INBOX")
    uidv = int([ln for ln in out if b"UIDVALIDITY" in ln][0].split()[3][:-1])
    hms = int([ln for ln in out if b"HIGHESTMODSEQ" in ln][0]
              .split()[3][:-1])
    # changes while the client is away: a flag, two expunges
    w = login(imap)
    w.select("INBOX")
    w.store("2", "+FLAGS", "(\\Flagged)")
    w.store("3:4", "+FLAGS.SILENT", "(\\Deleted)")
    w.expunge()
    w.logout()
    out = r.cmd(b"q4 SELECT INBOX (QRESYNC (%d %d 1:5))" % (uidv, hms))
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed", out
    assert b"* VANISHED (EARLIER) 3:4" in out, out
    fl = [ln for ln in out if b"FETCH" in ln]
    assert fl == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%d))"
                  % (hms + 1)], out
    assert out[-1] == b"q4 OK [READ-WRITE] SELECT completed"
    assert r.cmd(b"q5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)"
                 % hms) == [
        b"* VANISHED (EARLIER) 3:4",
        b"* 2 FETCH (FLAGS (\\Flagged) UID 2 MODSEQ (%d))" % (hms + 1),
        b"q5 OK UID FETCH completed"]
    # our own EXPUNGE, and another session's, as VANISHED
    assert r.cmd(b"q6 STORE 1 +FLAGS.SILENT (\\Deleted)") == [
        b"q6 OK STORE completed"]
    assert r.cmd(b"q7 EXPUNGE") == [b"* VANISHED 1",
                                    b"q7 OK EXPUNGE completed"]
    w = login(imap)
    w.select("INBOX")
    w.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    w.expunge()
    w.logout()
    assert r.cmd(b"q8 NOOP") == [b"* VANISHED 2", b"q8 OK NOOP completed"]
    r.close()


def test_append_literal8_and_sigterm(imap):
    r = Raw(imap, tls=True)
    r.login(imap)
    msg = b"Subject: bin\r\n\r\n\x00\x01\xff\r\n"
    r.send(b"b1 APPEND INBOX ~{%d}\r\n" % len(msg))
    assert r.line() == b"+ Ready for literal data"
    r.send(msg + b"\r\n")
    ln = r.line()
    assert re.match(rb"b1 OK \[APPENDUID \d+ 1\] APPEND completed$", ln), ln
    r.cmd(b"b2 SELECT INBOX")
    r.send(b"b3 FETCH 1 (BINARY.PEEK[])\r\n")
    assert r.line() == b"* 1 FETCH (BINARY[] ~{%d}" % len(msg)
    assert r.f.read(len(msg)) == msg
    assert r.line() == b")"
    assert r.line() == b"b3 OK FETCH completed"
    # SIGTERM: every session is told and closed, imapd exits cleanly
    r.send(b"b4 IDLE\r\n")
    assert r.line() == b"+ idling"
    assert imap.stop() == 0
    assert r.line() == b"* BYE [UNAVAILABLE] Service shutting down"
    assert r.f.readline() == b""
    assert "event=stopped" in "\n".join(
        ln for ln in imap.log().splitlines() if "imapd[" in ln)


def test_quota(imap):
    r = imap.cli("quota", "set", imap.demo_user, "10K", "3")
    assert r.returncode == 0, r.stderr
    deliver(imap, [message("q1")])
    r = Raw(imap, tls=True)
    r.login(imap)
    # USERINFO is asked at login; its answer comes soon after
    for _ in range(50):
        out = r.cmd(b"g1 GETQUOTAROOT INBOX")
        if out[0].endswith(b' ""'):
            break
        time.sleep(0.1)
    assert out[0] == b'* QUOTAROOT "INBOX" ""', out
    assert re.match(rb'\* QUOTA "" \(STORAGE 1 10 MESSAGE 1 3\)$', out[1]), out
    assert out[2] == b"g1 OK GETQUOTAROOT completed"
    assert r.cmd(b'g2 GETQUOTA ""')[-1] == b"g2 OK GETQUOTA completed"
    assert r.cmd(b'g3 GETQUOTA "x"') == [
        b"g3 NO [NONEXISTENT] No such quota root"]
    assert r.cmd(b'g4 SETQUOTA "" (STORAGE 1)') == [
        b"g4 NO [NOPERM] Quotas are set by the administrator"]
    # too big for the byte limit: refused before "+"
    r.send(b"g5 APPEND INBOX {20000}\r\n")
    assert r.line() == b"g5 NO [OVERQUOTA] Mailbox quota exceeded"
    for i in range(2):
        r.send(b"g6 APPEND INBOX {8}\r\n")
        assert r.line() == b"+ Ready for literal data"
        r.send(b"a: b\r\n\r\n\r\n")
        assert r.line().startswith(b"g6 OK [APPENDUID")
    # the message limit (3)
    r.send(b"g7 APPEND INBOX {8+}\r\na: b\r\n\r\n\r\n")
    assert r.line() == b"g7 NO [OVERQUOTA] Mailbox quota exceeded"
    r.close()


def test_savedate_objectid(imap):
    deliver(imap, [message("o1")])
    r = Raw(imap, tls=True)
    r.login(imap)
    out = r.cmd(b"o1 SELECT INBOX")
    mid = [ln for ln in out if b"MAILBOXID" in ln]
    assert len(mid) == 1 and re.match(
        rb"\* OK \[MAILBOXID \(F[0-9a-f]{16}\)\] Ok$", mid[0]), out
    boxid = mid[0].split(b"(")[1].split(b")")[0]
    assert r.cmd(b"o2 STATUS INBOX (MAILBOXID)") == [
        b'* STATUS "INBOX" (MAILBOXID (' + boxid + b"))",
        b"o2 OK STATUS completed"]
    out = r.cmd(b"o3 FETCH 1 (EMAILID THREADID SAVEDATE)")
    m = re.match(rb'\* 1 FETCH \(EMAILID \((M[0-9a-f]{16})\) THREADID '
                 rb'(NIL|\(T[0-9a-f]{16}\)) SAVEDATE "[ 0-9]{2}-[A-Z][a-z]{2}-'
                 rb'\d{4} \d\d:\d\d:\d\d \+0000"\)$', out[0])
    assert m and out[1] == b"o3 OK FETCH completed", out
    assert r.cmd(b"o4 SEARCH EMAILID " + m.group(1)) == [
        b"* SEARCH 1", b"o4 OK SEARCH completed"]
    assert r.cmd(b"o5 SEARCH SAVEDSINCE 1-Jan-2000") == [
        b"* SEARCH 1", b"o5 OK SEARCH completed"]
    r.close()
