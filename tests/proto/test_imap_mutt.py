"""mutt against letterbox-imapd over IMAPS, without a human: mutt runs
in a pseudo-terminal with a muttrc that asks nothing
(tests/proto/imap_clients/muttrc.in) and a "push" of index and pager
functions: open the message, pipe it to a file, save it to Archive
(copy, \\Deleted), sync (expunge) and quit.  imaplib then checks that
the message left INBOX and is in Archive with the same bytes."""
# SPDX-License-Identifier: ISC

import os
import pty
import select
import shutil
import subprocess
import time

import pytest

from test_imap_core import deliver, imap, login, message  # noqa: F401

HERE = os.path.join(os.path.dirname(__file__), "imap_clients")


def run_in_pty(argv, env, timeout=90):
    """Run argv on a pseudo-terminal (mutt needs curses); its exit
    status and everything it drew."""
    master, slave = pty.openpty()
    # 80x24 is what curses assumes without a size
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                         env=env, close_fds=True, start_new_session=True)
    os.close(slave)
    out = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        else:
            p.kill()
        rc = p.wait(timeout=10)
    finally:
        os.close(master)
    return rc, out


def fetch_bodies(m, box):
    typ, data = m.select(box)
    assert typ == "OK", data
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    if data == [None]:
        return []
    return [(item[0], item[1]) for item in data if isinstance(item, tuple)]


@pytest.mark.skipif(shutil.which("mutt") is None,
                    reason="mutt missing: scripts/deps.sh installs it")
def test_imap_clients_mutt(imap, tmp_path):
    tmp = str(tmp_path)
    keep = message("stays here", "not this one\r\n")
    move = message("mutt moves me", "the body mutt reads\r\n")
    deliver(imap, [keep, move])
    m = login(imap)
    inbox = fetch_bodies(m, "INBOX")
    assert len(inbox) == 2
    # what LMTP delivered: Return-Path and Delivered-To in front
    delivered = inbox[1][1]
    assert delivered.endswith(move)
    m.logout()

    cert = os.path.join(imap.inst, "tls", "cert.pem")
    with open(os.path.join(HERE, "muttrc.in")) as f:
        conf = f.read()
    for k, v in (("PORT", str(imap.port("imaps"))), ("USER", imap.demo_user),
                 ("PASS", imap.demo_password), ("CERT", cert)):
        conf = conf.replace("@%s@" % k, v)
    muttrc = os.path.join(tmp, "muttrc")
    with open(muttrc, "w") as f:
        f.write(conf)
    piped = os.path.join(tmp, "piped.eml")
    # the second message (index order: by date, then as they came);
    # <pipe-message> with $pipe_decode off gives the raw message
    keys = ("<last-entry><display-message><exit>"
            "<pipe-message>cat > %s<enter>"
            "<save-message><kill-line>=Archive<enter>"
            "<sync-mailbox><quit>" % piped)
    env = {"HOME": tmp, "TERM": "xterm", "LC_ALL": "C.UTF-8",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "MAIL": os.path.join(tmp, "nomail")}
    rc, screen = run_in_pty(["mutt", "-n", "-F", muttrc, "-e",
                             "push '%s'" % keys], env)
    assert rc == 0, (rc, screen[-3000:], imap.log()[-3000:])

    # mutt read the message: the piped copy is the stored message
    with open(piped, "rb") as f:
        got = f.read().replace(b"\n", b"\r\n")
    assert got == delivered, got

    m = login(imap)
    inbox = fetch_bodies(m, "INBOX")
    assert len(inbox) == 1 and inbox[0][1].endswith(keep), inbox
    archive = fetch_bodies(m, "Archive")
    assert len(archive) == 1, archive
    head, body = archive[0]
    assert body == delivered
    # mutt displayed it: \Seen came along
    assert b"\\Seen" in head, head
    m.logout()
