"""IMAP4rev2 (RFC 9051) in letterbox-imapd: advertised next to IMAP4rev1,
turned on by ENABLE IMAP4rev2, and each difference from RFC 3501 it
brings (Appendix E) with exact responses, a rev1 session alongside
showing that its behaviour stays (docs/imapd.md, "IMAP4rev2")."""
# SPDX-License-Identifier: ISC

import os
import re

from test_imap_core import (AUTH_CAPS, CAPS, DOMAIN, Raw, deliver,  # noqa: F401
                            imap, login, message)


def rev2(inst):
    r = Raw(inst, tls=True)
    r.login(inst)
    assert r.cmd(b"e1 ENABLE IMAP4rev2") == [
        b"* ENABLED IMAP4rev2", b"e1 OK ENABLE completed"]
    return r


def rev1(inst):
    r = Raw(inst, tls=True)
    r.login(inst)
    return r


def select_lines(out):
    """SELECT's untagged lines with the per-instance numbers masked."""
    return [re.sub(rb"\[(UIDVALIDITY|MAILBOXID) [^]]+\]", rb"[\1 x]", ln)
            for ln in out]


def test_rev2_capability_enable(imap):
    assert CAPS.startswith(b"IMAP4rev1 ") and CAPS.endswith(b" IMAP4rev2")
    m = login(imap)
    assert m.enable("IMAP4rev2") == ("OK", [b"ENABLE completed"])
    assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
    # RFC 9051 6.3.1: CAPABILITY does not change after ENABLE
    m.untagged_responses.pop("CAPABILITY", None)  # login's code
    assert m.capability() == ("OK", [AUTH_CAPS])
    m.logout()
    r = rev1(imap)
    # RFC 5161 3.1: only what this command enabled is told
    assert r.cmd(b"e1 ENABLE IMAP4rev2 X-UNKNOWN CONDSTORE") == [
        b"* ENABLED IMAP4rev2 CONDSTORE", b"e1 OK ENABLE completed"]
    assert r.cmd(b"e2 ENABLE IMAP4rev2") == [
        b"* ENABLED", b"e2 OK ENABLE completed"]
    assert r.cmd(b"e3 enable imap4REV2 utf8=accept") == [
        b"* ENABLED UTF8=ACCEPT", b"e3 OK ENABLE completed"]
    r.close()


def test_rev2_select_examine(imap):
    """RFC 9051 6.3.2: FLAGS, EXISTS, LIST and the OK codes; no RECENT
    (Appendix E 12), no [UNSEEN] (E 11); [CLOSED] when another mailbox
    was selected (E 9), also when the new SELECT fails."""
    deliver(imap, [message("one"), message("two")])
    r = rev2(imap)
    assert r.cmd(b"s0 CREATE Work/Done")[-1].startswith(b"s0 OK")
    flags = (b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
    perm = (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
            b"\\Draft \\*)] Flags permitted")
    out = select_lines(r.cmd(b"s1 SELECT INBOX"))
    assert out == [
        flags, b"* 2 EXISTS", b"* OK [UIDVALIDITY x] UIDs valid",
        b"* OK [UIDNEXT 3] Predicted next UID", b"* OK [MAILBOXID x] Ok",
        perm, b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b"s1 OK [READ-WRITE] SELECT completed"]
    out = select_lines(r.cmd(b"s2 EXAMINE Work"))
    assert out == [
        b"* OK [CLOSED] Previous mailbox closed",
        flags, b"* 0 EXISTS", b"* OK [UIDVALIDITY x] UIDs valid",
        b"* OK [UIDNEXT 1] Predicted next UID", b"* OK [MAILBOXID x] Ok",
        b"* OK [PERMANENTFLAGS ()] Read-only mailbox",
        b'* LIST (\\HasChildren) "/" "Work"',
        b"s2 OK [READ-ONLY] EXAMINE completed"]
    out = select_lines(r.cmd(b"s3 SELECT Drafts"))
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed"
    assert out[-2:] == [b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
                        b"s3 OK [READ-WRITE] SELECT completed"]
    # a failed SELECT closes the old mailbox too (RFC 9051 6.3.2)
    assert r.cmd(b"s4 SELECT Nope") == [
        b"* OK [CLOSED] Previous mailbox closed",
        b"s4 NO [NONEXISTENT] No such mailbox"]
    assert r.cmd(b"s5 FETCH 1 UID")[-1].startswith(b"s5 BAD FETCH needs")
    r.close()
    # IMAP4rev1 alongside: RECENT and [UNSEEN n], no LIST; the rev2
    # session left the two messages \Recent for it (RFC 3501 2.3.2)
    r = rev1(imap)
    out = select_lines(r.cmd(b"s1 SELECT INBOX"))
    assert out == [
        flags, b"* 2 EXISTS", b"* 2 RECENT",
        b"* OK [UNSEEN 1] First unseen",
        b"* OK [UIDVALIDITY x] UIDs valid",
        b"* OK [UIDNEXT 3] Predicted next UID", b"* OK [MAILBOXID x] Ok",
        perm, b"s1 OK [READ-WRITE] SELECT completed"]
    r.close()


def test_rev2_search_esearch(imap):
    """RFC 9051 6.4.4 (Appendix E 4): SEARCH answers ESEARCH, no RETURN
    meaning RETURN (ALL); never "* SEARCH"."""
    deliver(imap, [message("apple"), message("banana"), message("cherry")])
    r = rev2(imap)
    r.cmd(b"x0 SELECT INBOX")
    assert r.cmd(b"x1 SEARCH ALL") == [
        b'* ESEARCH (TAG "x1") ALL 1:3', b"x1 OK SEARCH completed"]
    assert r.cmd(b"x2 UID SEARCH OR SUBJECT apple SUBJECT cherry") == [
        b'* ESEARCH (TAG "x2") UID ALL 1,3', b"x2 OK UID SEARCH completed"]
    # nothing found: the ESEARCH still comes, without ALL
    assert r.cmd(b"x3 SEARCH SUBJECT durian") == [
        b'* ESEARCH (TAG "x3")', b"x3 OK SEARCH completed"]
    assert r.cmd(b"x4 SEARCH CHARSET UTF-8 SUBJECT banana") == [
        b'* ESEARCH (TAG "x4") ALL 2', b"x4 OK SEARCH completed"]
    assert r.cmd(b"x5 SEARCH RETURN (MIN COUNT) ALL") == [
        b'* ESEARCH (TAG "x5") MIN 1 COUNT 3', b"x5 OK SEARCH completed"]
    assert r.cmd(b"x6 SEARCH RETURN () 2:3") == [
        b'* ESEARCH (TAG "x6") ALL 2:3', b"x6 OK SEARCH completed"]
    # SAVE alone still sends nothing (6.4.4.1), "$" works
    assert r.cmd(b"x7 SEARCH RETURN (SAVE) SUBJECT banana") == [
        b"x7 OK SEARCH completed"]
    assert r.cmd(b"x8 SEARCH NOT $") == [
        b'* ESEARCH (TAG "x8") ALL 1,3', b"x8 OK SEARCH completed"]
    # CONDSTORE's MODSEQ rides in the ESEARCH (RFC 7162 3.1.5)
    out = r.cmd(b"x9 SEARCH MODSEQ 1")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "x9"\) ALL 1:3 MODSEQ \d+',
                        out[0]), out
    # SORT and THREAD are extensions with their own responses
    assert r.cmd(b"x10 SORT (SUBJECT) UTF-8 ALL") == [
        b"* SORT 1 2 3", b"x10 OK SORT completed"]
    r.close()
    # IMAP4rev1 alongside: "* SEARCH", through imaplib too
    r = rev1(imap)
    r.cmd(b"y0 SELECT INBOX")
    assert r.cmd(b"y1 SEARCH ALL") == [b"* SEARCH 1 2 3",
                                       b"y1 OK SEARCH completed"]
    assert r.cmd(b"y2 SEARCH SUBJECT durian") == [b"* SEARCH",
                                                  b"y2 OK SEARCH completed"]
    r.close()
    m = login(imap)
    m.select("INBOX")
    assert m.search(None, "ALL") == ("OK", [b"1 2 3"])
    m.logout()


def test_rev2_unsolicited_fetch_has_uid(imap):
    """RFC 9051 7.5.2 (Appendix E 21): another session's flag change is
    told with UID in IMAP4rev2; rev1 sessions get FLAGS alone."""
    deliver(imap, [message("one"), message("two")])
    a = rev2(imap)
    b = rev1(imap)
    c = rev1(imap)
    for s in (a, b, c):
        assert s.cmd(b"s1 SELECT INBOX")[-1] == \
            b"s1 OK [READ-WRITE] SELECT completed"
    assert c.cmd(b"c1 STORE 2 +FLAGS.SILENT (\\Flagged)") == [
        b"c1 OK STORE completed"]
    assert a.cmd(b"a1 NOOP") == [b"* 2 FETCH (FLAGS (\\Flagged) UID 2)",
                                 b"a1 OK NOOP completed"]
    # b selected first among the rev1 sessions: \Recent is its own
    assert b.cmd(b"b1 NOOP") == [b"* 2 FETCH (FLAGS (\\Flagged \\Recent))",
                                 b"b1 OK NOOP completed"]
    assert c.cmd(b"c2 FETCH 2 FLAGS") == [b"* 2 FETCH (FLAGS (\\Flagged))",
                                      b"c2 OK FETCH completed"]
    # never \Recent in IMAP4rev2 (Appendix E 12)
    assert a.cmd(b"a2 FETCH 1:2 FLAGS") == [
        b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS (\\Flagged))",
        b"a2 OK FETCH completed"]
    for s in (a, b, c):
        s.close()


def test_rev2_list_nonexistent(imap):
    """RFC 9051 6.3.9.8 example 10: a hierarchy level that is no mailbox
    is \\NonExistent \\HasChildren in IMAP4rev2 (\\Noselect in rev1)."""
    r = rev2(imap)
    assert r.cmd(b"c1 CREATE Proj/Alpha")[-1].startswith(b"c1 OK")
    assert r.cmd(b"c2 DELETE Proj") == [b"c2 OK DELETE completed"]
    assert r.cmd(b'c3 LIST "" "Proj*"') == [
        b'* LIST (\\NonExistent \\HasChildren) "/" "Proj"',
        b'* LIST (\\HasNoChildren) "/" "Proj/Alpha"',
        b"c3 OK LIST completed"]
    # LSUB is deprecated but still there (Appendix E 19)
    assert r.cmd(b"c4 SUBSCRIBE Proj/Alpha") == [
        b"c4 OK SUBSCRIBE completed"]
    assert r.cmd(b'c5 LSUB "" "Proj*"') == [
        b'* LSUB (\\Noselect) "/" "Proj"',
        b'* LSUB () "/" "Proj/Alpha"', b"c5 OK LSUB completed"]
    r.close()
    r = rev1(imap)
    assert r.cmd(b'c3 LIST "" "Proj*"') == [
        b'* LIST (\\Noselect \\HasChildren) "/" "Proj"',
        b'* LIST (\\HasNoChildren) "/" "Proj/Alpha"',
        b"c3 OK LIST completed"]
    r.close()


def test_rev2_status(imap):
    """STATUS DELETED and SIZE are base IMAP4rev2 (Appendix E 3)."""
    msgs = [message("one"), message("two")]
    deliver(imap, msgs)
    r = rev2(imap)
    r.cmd(b"s0 SELECT INBOX")
    assert r.cmd(b"s1 STORE 1 +FLAGS.SILENT (\\Deleted)") == [
        b"s1 OK STORE completed"]
    sizes = [int(re.search(rb"RFC822.SIZE (\d+)", ln).group(1))
             for ln in r.cmd(b"s2 FETCH 1:2 RFC822.SIZE")[:-1]]
    assert len(sizes) == 2
    assert r.cmd(b"s3 STATUS INBOX (MESSAGES DELETED SIZE UNSEEN)") == [
        b'* STATUS "INBOX" (MESSAGES 2 DELETED 1 SIZE %d UNSEEN 2)'
        % sum(sizes), b"s3 OK STATUS completed"]
    r.close()


def test_rev2_mailbox_names(imap):
    """RFC 9051 5.1: IMAP4rev2 names mailboxes in UTF-8; a rev1 session
    sees the same mailboxes in modified UTF-7 (Appendix A.1); the index
    and the folder directories have UTF-8 (docs/store.md)."""
    u = "Entw\u00fcrfe".encode()
    r2 = rev2(imap)
    r1 = rev1(imap)
    assert r2.cmd(b'n1 CREATE "' + u + b'"')[-1].startswith(b"n1 OK")
    assert os.path.isdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                      "demo", ".Entw\u00fcrfe", "cur"))
    assert r2.cmd(b'n2 LIST "" "Entw*"') == [
        b'* LIST (\\HasNoChildren) "/" "' + u + b'"',
        b"n2 OK LIST completed"]
    assert r1.cmd(b'n2 LIST "" "Entw*"') == [
        b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"',
        b"n2 OK LIST completed"]
    # the rev1 pattern matches the modified UTF-7 form
    assert r1.cmd(b'n3 LIST "" "Entw&APw-*"')[0] == \
        b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"'
    assert r1.cmd(b"n4 STATUS Entw&APw-rfe (MESSAGES)") == [
        b'* STATUS "Entw&APw-rfe" (MESSAGES 0)', b"n4 OK STATUS completed"]
    assert r1.cmd(b"n5 GETQUOTAROOT Entw&APw-rfe")[0].startswith(
        b'* QUOTAROOT "Entw&APw-rfe"')
    # RFC 3501 5.1.3's example, made by rev1, read by rev2
    assert r1.cmd(b"n6 CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-")[-1] \
        .startswith(b"n6 OK")
    assert r2.cmd(b'n7 LIST "" "~peter/*"') == [
        b'* LIST (\\HasChildren) "/" "~peter/mail"',
        b'* LIST (\\HasChildren) "/" "~peter/mail/' +
        "\u53f0\u5317".encode() + b'"',
        b'* LIST (\\HasNoChildren) "/" "~peter/mail/' +
        "\u53f0\u5317/\u65e5\u672c\u8a9e".encode() + b'"',
        b"n7 OK LIST completed"]
    # "&" is "&-" in modified UTF-7
    assert r2.cmd(b'n8 CREATE "R&D"')[-1].startswith(b"n8 OK")
    assert r1.cmd(b'n9 LIST "" "R*"') == [
        b'* LIST (\\HasNoChildren) "/" "R&-D"', b"n9 OK LIST completed"]
    assert r1.cmd(b"n10 SELECT R&-D")[-1] == \
        b"n10 OK [READ-WRITE] SELECT completed"
    # SELECT's LIST line in UTF-8; the same mailbox from both sides
    out = r2.cmd(b'n11 SELECT "' + u + b'"')
    assert out[-2:] == [b'* LIST (\\HasNoChildren) "/" "' + u + b'"',
                        b"n11 OK [READ-WRITE] SELECT completed"]
    assert r1.cmd(b"n12 APPEND Entw&APw-rfe {3+}\r\nx\r\n")[-1] \
        .startswith(b"n12 OK [APPENDUID")
    assert r2.cmd(b"n13 NOOP") == [b"* 1 EXISTS", b"n13 OK NOOP completed"]
    # RFC 9051 5.1: no 8-bit names that are not UTF-8
    assert r2.cmd(b"n14 CREATE {2+}\r\n\xff\xfe") == [
        b"n14 BAD Bad mailbox name (not UTF-8)"]
    # UTF8=ACCEPT (RFC 6855 3) names in UTF-8 as well
    r3 = rev1(imap)
    assert r3.cmd(b"u1 ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT"
    assert r3.cmd(b'u2 STATUS "' + u + b'" (MESSAGES)') == [
        b'* STATUS "' + u + b'" (MESSAGES 1)', b"u2 OK STATUS completed"]
    for r in (r1, r2, r3):
        r.close()


def test_rev2_utf8_strings(imap):
    """RFC 9051 Appendix A: UTF-8 in quoted strings only after ENABLE
    IMAP4rev2, both ways: the reader takes it, FETCH sends it quoted."""
    subj = "Gr\u00fc\u00dfe".encode()
    deliver(imap, [b"From: alice@example.org\r\nTo: demo@example.test\r\n"
                   b"Subject: " + subj + b"\r\n\r\nhi\r\n"])
    r1 = rev1(imap)
    r1.cmd(b"s1 SELECT INBOX")
    out = r1.cmd(b"f1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] ENVELOPE)")
    assert b'"' + subj + b'"' not in b"".join(out)
    assert out[-1] == b"f1 OK FETCH completed"
    assert r1.cmd(b'f2 SEARCH CHARSET UTF-8 SUBJECT "' + subj + b'"')[-1] \
        .startswith(b"f2 BAD")
    r2 = rev2(imap)
    r2.cmd(b"s1 SELECT INBOX")
    out = r2.cmd(b"f1 FETCH 1 (ENVELOPE)")
    assert out[0].startswith(b'* 1 FETCH (ENVELOPE (NIL "' + subj + b'" '), \
        out
    assert r2.cmd(b'f2 SEARCH CHARSET UTF-8 SUBJECT "' + subj + b'"') == [
        b'* ESEARCH (TAG "f2") ALL 1', b"f2 OK SEARCH completed"]
    r1.close()
    r2.close()
