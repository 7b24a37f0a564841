"""\\Recent in IMAP4rev1 sessions (RFC 3501 2.3.2): a message is recent in
exactly one session, the first SELECT (or the first selected session
told of a new message) takes it; EXAMINE sees without taking; RECENT in
SELECT, after EXISTS and in STATUS; \\Recent in FETCH FLAGS; SEARCH
RECENT, NEW, OLD; nothing of it in IMAP4rev2 sessions (docs/imapd.md)."""
# SPDX-License-Identifier: ISC

from test_imap_core import deliver, imap, message  # noqa: F401
from test_imap_rev2 import rev1, rev2


def recent_line(out):
    return [ln for ln in out if ln.endswith(b" RECENT")]


def test_recent_claimed_once(imap):
    deliver(imap, [message("one"), message("two")])
    a, b, c = rev1(imap), rev1(imap), rev1(imap)
    # nobody has them yet: STATUS counts them
    assert a.cmd(b"s1 STATUS INBOX (MESSAGES RECENT)") == [
        b'* STATUS "INBOX" (MESSAGES 2 RECENT 2)', b"s1 OK STATUS completed"]
    # EXAMINE sees them \Recent and leaves them (RFC 3501 6.3.2)
    assert recent_line(a.cmd(b"e1 EXAMINE INBOX")) == [b"* 2 RECENT"]
    assert a.cmd(b"e2 FETCH 1:2 FLAGS") == [
        b"* 1 FETCH (FLAGS (\\Recent))", b"* 2 FETCH (FLAGS (\\Recent))",
        b"e2 OK FETCH completed"]
    # the first SELECT takes them, the next one finds none
    assert recent_line(b.cmd(b"b1 SELECT INBOX")) == [b"* 2 RECENT"]
    assert recent_line(c.cmd(b"c1 SELECT INBOX")) == [b"* 0 RECENT"]
    assert recent_line(a.cmd(b"e3 EXAMINE INBOX")) == [b"* 0 RECENT"]
    assert c.cmd(b"c2 STATUS INBOX (RECENT)") == [
        b'* STATUS "INBOX" (RECENT 0)', b"c2 OK STATUS completed"]
    # STATUS of the mailbox b has selected counts its own
    assert b.cmd(b"b2 STATUS INBOX (RECENT)") == [
        b'* STATUS "INBOX" (RECENT 2)', b"b2 OK STATUS completed"]
    # SEARCH RECENT, NEW (recent and unseen), OLD
    assert b.cmd(b"b3 STORE 1 +FLAGS.SILENT (\\Seen)") == [
        b"b3 OK STORE completed"]
    assert b.cmd(b"b4 SEARCH RECENT") == [b"* SEARCH 1 2",
                                          b"b4 OK SEARCH completed"]
    assert b.cmd(b"b5 SEARCH NEW") == [b"* SEARCH 2",
                                       b"b5 OK SEARCH completed"]
    assert b.cmd(b"b6 SEARCH OLD") == [b"* SEARCH",
                                       b"b6 OK SEARCH completed"]
    assert c.cmd(b"c3 SEARCH RECENT") == [b"* 1 FETCH (FLAGS (\\Seen))",
                                          b"* SEARCH",
                                          b"c3 OK SEARCH completed"]
    assert c.cmd(b"c4 SEARCH OLD") == [b"* SEARCH 1 2",
                                       b"c4 OK SEARCH completed"]
    # \Recent is not the client's to set or clear
    assert b.cmd(b"b7 STORE 2 FLAGS (\\Flagged)") == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent))", b"b7 OK STORE completed"]
    # a new message: the first selected session told of it takes it,
    # RECENT follows EXISTS (RFC 3501 7.3.2)
    deliver(imap, [message("three")])
    assert c.cmd(b"c5 NOOP") == [b"* 3 EXISTS", b"* 1 RECENT",
                                 b"* 2 FETCH (FLAGS (\\Flagged))",
                                 b"c5 OK NOOP completed"]
    assert b.cmd(b"b8 NOOP") == [b"* 3 EXISTS", b"* 2 RECENT",
                                 b"b8 OK NOOP completed"]
    assert b.cmd(b"b9 FETCH 2:3 FLAGS") == [
        b"* 2 FETCH (FLAGS (\\Flagged \\Recent))",
        b"* 3 FETCH (FLAGS ())", b"b9 OK FETCH completed"]
    assert c.cmd(b"c6 FETCH 3 FLAGS") == [b"* 3 FETCH (FLAGS (\\Recent))",
                                          b"c6 OK FETCH completed"]
    # a read-only session sees new ones recent but does not take them
    assert a.cmd(b"e4 NOOP") == [b"* 3 EXISTS", b"* 0 RECENT",
                                 b"* 1 FETCH (FLAGS (\\Seen))",
                                 b"* 2 FETCH (FLAGS (\\Flagged))",
                                 b"e4 OK NOOP completed"]
    # expunged ones leave the count
    assert c.cmd(b"c7 STORE 3 +FLAGS.SILENT (\\Deleted)") == [
        b"c7 OK STORE completed"]
    assert c.cmd(b"c8 EXPUNGE") == [b"* 3 EXPUNGE", b"c8 OK EXPUNGE completed"]
    assert c.cmd(b"c9 STATUS INBOX (RECENT MESSAGES)") == [
        b'* STATUS "INBOX" (RECENT 0 MESSAGES 2)', b"c9 OK STATUS completed"]
    for s in (a, b, c):
        s.close()


def test_recent_rev2_takes_none(imap):
    """IMAP4rev2 has no \\Recent (RFC 9051 Appendix E 12): its sessions
    neither see nor take it, and leave it to rev1 sessions."""
    deliver(imap, [message("one")])
    r2 = rev2(imap)
    out = r2.cmd(b"a1 SELECT INBOX")
    assert recent_line(out) == [] and b"* 1 EXISTS" in out
    assert r2.cmd(b"a2 FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS ())",
                                          b"a2 OK FETCH completed"]
    assert r2.cmd(b"a3 SEARCH RECENT") == [b'* ESEARCH (TAG "a3")',
                                          b"a3 OK SEARCH completed"]
    assert r2.cmd(b"a4 STATUS INBOX (RECENT)") == [
        b'* STATUS "INBOX" (RECENT 0)', b"a4 OK STATUS completed"]
    deliver(imap, [message("two")])
    assert r2.cmd(b"a5 NOOP") == [b"* 2 EXISTS", b"a5 OK NOOP completed"]
    r1 = rev1(imap)
    assert recent_line(r1.cmd(b"b1 SELECT INBOX")) == [b"* 2 RECENT"]
    r1.close()
    r2.close()
