"""Commands that wait for imapd's worker threads (index writes, fsyncs;
docs/imapd.md "Writes off the loop"): pipelined commands behind one are
answered in order, other sessions go on meanwhile, and a client that
leaves while its command waits loses nothing and breaks nothing."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import socket
import time

from test_imap_core import DOMAIN, deliver, imap, message  # noqa: F401
from test_imap_rev2 import rev2


def test_pipelined_behind_writes(imap):
    deliver(imap, [message("one"), message("two"), message("three")])
    a = rev2(imap)
    assert a.cmd(b"s1 SELECT INBOX")[-1] == b"s1 OK [READ-WRITE] SELECT completed"
    # one write: STORE, EXPUNGE and APPEND each wait for a worker; what
    # follows them in the same packet waits in the input, in order
    a.send(b"p1 STORE 1 +FLAGS (\\Flagged)\r\n"
           b"p2 FETCH 1 FLAGS\r\n"
           b"p3 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n"
           b"p4 EXPUNGE\r\n"
           b"p5 APPEND INBOX (\\Seen) {5+}\r\nhello\r\n"
           b"p6 UID FETCH 1:* FLAGS\r\n")
    out = a.until(b"p6")
    out = [ln.split(b"] ", 1)[0] + b"]" if ln.startswith(b"p5 OK [APPENDUID")
           else ln for ln in out]
    assert out == [
        b"* 1 FETCH (FLAGS (\\Flagged))", b"p1 OK STORE completed",
        b"* 1 FETCH (FLAGS (\\Flagged))", b"p2 OK FETCH completed",
        b"p3 OK STORE completed",
        b"* 2 EXPUNGE", b"p4 OK EXPUNGE completed",
        b"* 3 EXISTS", b"p5 OK [APPENDUID " +
        out[8].split(b" ")[3] + b" 4]",
        b"* 1 FETCH (FLAGS (\\Flagged) UID 1)",
        b"* 2 FETCH (FLAGS () UID 3)",
        b"* 3 FETCH (FLAGS (\\Seen) UID 4)", b"p6 OK UID FETCH completed"]
    # the file names follow (one transaction for flags and names): 1
    # flagged, 3 none (delivered to new/, moved to cur/ by nobody yet
    # or without letters), 4 seen; 2 is gone
    cur = os.listdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                  "demo", "cur"))
    new = os.listdir(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                  "demo", "new"))
    assert sorted(f.split(":2,")[1] for f in cur if ":2," in f) == [
        "F", "S"], (cur, new)
    assert len(cur) + len(new) == 3, (cur, new)
    a.close()


def test_leave_while_waiting(imap):
    """Twenty clients send a STORE and close at once: each STORE is done
    (it was read before the end of the stream), imapd goes on, ASan
    finds nothing (the fixture checks the log)."""
    deliver(imap, [message("m%d" % i) for i in range(5)])
    for i in range(20):
        r = rev2(imap)
        assert r.cmd(b"s1 SELECT INBOX")[-1].startswith(b"s1 OK")
        r.send(b"x1 STORE %d +FLAGS.SILENT ($k%d)\r\nx2 NOOP\r\n"
               % (i % 5 + 1, i))
        r.s.shutdown(socket.SHUT_RDWR)
        r.close()
    c = rev2(imap)
    assert c.cmd(b"c1 SELECT INBOX")[-1].startswith(b"c1 OK")
    for i in range(20):
        assert c.cmd(b"c2 UID SEARCH KEYWORD $k%d" % i) == [
            b'* ESEARCH (TAG "c2") UID ALL %d' % (i % 5 + 1),
            b"c2 OK UID SEARCH completed"], i
    c.close()
    log = imap.log()
    assert log.count("event=disconnect") >= 20


def session_waits(imap, script):
    """Run script (commands after SELECT INBOX) in a session of its own,
    LOGOUT, and return the waits= its disconnect line logs: how many
    times its commands waited for a worker thread."""
    since = imap.log_size()
    r = rev2(imap)
    assert r.cmd(b"s1 SELECT INBOX")[-1].startswith(b"s1 OK")
    for line in script:
        out = r.cmd(line)
        assert out[-1].split(b" ")[1] == b"OK", out
    assert r.cmd(b"z1 LOGOUT")[-1] == b"z1 OK LOGOUT completed"
    r.close()
    found = imap.wait_log(r"imapd.*event=disconnect .*waits=(\d+)",
                          since=since)
    assert len(found) == 1, found
    return int(found[0])


def test_writes_go_to_workers(imap):
    """STORE waits for a worker once per command (one transaction),
    read-only commands never; this fails if the writes ran on the loop
    (imap_blocking falling back to calling the work directly, as it did
    before co_start set s->co first)."""
    deliver(imap, [message("m%d" % i) for i in range(3)])
    session_waits(imap, [])		# the first SELECT claims \Recent
    base = session_waits(imap, [])
    reads = session_waits(imap, [b"f1 FETCH 1:* (FLAGS)", b"n1 NOOP",
                                 b"f2 UID FETCH 1:* (BODY.PEEK[])",
                                 b"f3 SEARCH ALL"])
    assert reads == base
    stores = session_waits(imap, [b"t%d STORE %d +FLAGS ($w%d)"
                                  % (i, i % 3 + 1, i) for i in range(5)])
    # and each may make the next command (STOREs 2-5, LOGOUT) reconcile
    # once, when inotify tells of its own renames before that command
    assert base + 5 <= stores <= base + 10, (base, stores)


def test_closed_while_waiting(imap):
    """A session closed while its command waits for a worker is freed
    only when the worker is done, and its write is kept.  The worker is
    held on the index's write lock, taken by this test as the MDA takes
    it while it delivers; imapd is stopped meanwhile, which closes the
    session (docs/imapd.md "Writes off the loop")."""
    import lmdb  # python3-lmdb (scripts/deps.sh)

    deliver(imap, [message("one")])
    a = rev2(imap)
    assert a.cmd(b"s1 SELECT INBOX")[-1].startswith(b"s1 OK")
    env = lmdb.open(os.path.join(imap.inst, "state", "mail", DOMAIN,
                                 "demo", "index.lmdb"),
                    subdir=False, max_dbs=16, map_size=1 << 30)
    pids = imap.daemon_pids("imapd")
    since = imap.log_size()
    txn = env.begin(write=True)
    try:
        a.send(b"x1 STORE 1 +FLAGS.SILENT ($held)\r\n")
        time.sleep(1)		# read and handed to a worker, which waits
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        imap.wait_log(r"imapd.*event=disconnect reason=\"closed\" "
                      r"waits=\d+ waiting=worker", since=since)
        # the session waits for the worker: imapd is still running
        time.sleep(0.5)
        assert not re.search(r"daemon-exit daemon=imapd pid=(%s) "
                             % "|".join(map(str, pids)),
                             imap.log()[since:])
    finally:
        txn.abort()
        env.close()
    for pid in pids:
        imap.wait_log(r"daemon-exit daemon=imapd pid=%d status=0 " % pid,
                      since=since)
    imap.wait_log(r"imapd.*event=started", since=since, count=len(pids))
    a.close()
    c = rev2(imap)
    assert c.cmd(b"c1 SELECT INBOX")[-1].startswith(b"c1 OK")
    assert c.cmd(b"c2 FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS ($held))",
                                          b"c2 OK FETCH completed"]
    c.close()
