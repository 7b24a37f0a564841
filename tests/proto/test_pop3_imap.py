"""POP3 and IMAP on the same mailbox (issue 6): UIDL is UIDVALIDITY and the
IMAP UID and survives IMAP flag changes, a POP3 DELE at QUIT reaches an IMAP
session as EXPUNGE, POP3's mark_read shows as \\Seen over IMAP, and IMAP
sessions run alongside the one POP3 session (docs/pop3d.md)."""
# SPDX-License-Identifier: ISC

import imaplib
import re
import time

import pytest

import lbtest
from test_pop3 import deliver, login, message, tls_ctx


@pytest.fixture
def both(instance):
    lbtest.smtp_users(instance)
    instance.start()
    instance.wait_log(r"pop3d.*event=started", timeout=30)
    instance.wait_log(r"imapd.*event=started", timeout=30)
    yield instance
    if instance.proc is not None:
        assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log
    assert not re.search(r"daemon-exit daemon=(pop3d|imapd) pid=\d+ "
                         r"status=[1-9]", log), log[-3000:]


def imap_login(inst):
    c = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=30)
    c.starttls(ssl_context=tls_ctx())
    typ, _ = c.login(inst.demo_user, inst.demo_password)
    assert typ == "OK"
    return c


def uid_flags(c):
    """{uid: set of flags} of the selected mailbox."""
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
    assert typ == "OK", data
    out = {}
    for line in data:
        if b"UID" not in line:
            continue    # an unsolicited FETCH (a flag change) in between
        m = re.match(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)\)|"
                     rb"\d+ \(FLAGS \(([^)]*)\) UID (\d+)\)", line)
        assert m, line
        if m.group(1):
            out[int(m.group(1))] = set(m.group(2).split())
        else:
            out[int(m.group(4))] = set(m.group(3).split())
    return out


def test_uidl_is_imap_uid_and_survives_imap_flags(both):
    deliver(both, [message("one"), message("two"), message("three")])
    p = login(both)
    _, u1, _ = p.uidl()
    p.quit()
    c = imap_login(both)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    uidv = int(c.response("UIDVALIDITY")[1][0])
    uids = sorted(uid_flags(c))
    assert [x.split()[1].decode() for x in u1] == [
        "%08x%08x" % (uidv, u) for u in uids]
    # flags and a keyword change over IMAP (the Maildir files are renamed)
    for u, f in zip(uids, (r"(\Flagged)", r"(\Seen \Answered)",
                           r"($Label1 \Draft)")):
        typ, _ = c.uid("STORE", str(u), "+FLAGS", f)
        assert typ == "OK"
    flags = uid_flags(c)
    assert b"\\Flagged" in flags[uids[0]]
    assert {b"\\Seen", b"\\Answered"} <= flags[uids[1]]
    assert {b"$Label1", b"\\Draft"} <= flags[uids[2]]
    # POP3 alongside the IMAP session: the same UIDLs, same order
    p = login(both)
    _, u2, _ = p.uidl()
    assert u2 == u1
    assert p.stat()[0] == 3
    p.quit()
    c.logout()


def test_pop3_dele_reaches_imap_and_mark_read(both):
    deliver(both, [message("keep"), message("drop")])
    c = imap_login(both)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    before = uid_flags(c)
    assert all(b"\\Seen" not in f for f in before.values())
    # one POP3 session while IMAP has INBOX selected: no [IN-USE] for
    # IMAP, and POP3 deletes only at QUIT
    p = login(both)
    p.retr(1)                   # mark_read (the default): \Seen
    p.dele(2)
    typ, _ = c.noop()
    assert typ == "OK"
    assert len(uid_flags(c)) == 2   # nothing expunged before QUIT
    p.quit()
    # the expunge went through the index: the IMAP session is told
    got = []
    for _ in range(20):
        typ, _ = c.noop()
        assert typ == "OK"
        got += c.untagged_responses.pop("EXPUNGE", [])
        if got:
            break
        time.sleep(0.1)
    assert got == [b"2"], got
    flags = uid_flags(c)
    assert len(flags) == 1
    [(uid, f)] = flags.items()
    assert uid == min(before) and b"\\Seen" in f
    c.logout()
    # and a later POP3 session sees one message
    p = login(both)
    assert p.stat()[0] == 1
    p.quit()


def test_dropped_pop3_deletes_nothing_seen_by_imap(both):
    deliver(both, [message("a"), message("b")])
    p = login(both)
    p.dele(1)
    p.dele(2)
    p.sock.close()              # dropped without QUIT
    c = imap_login(both)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    c.logout()
