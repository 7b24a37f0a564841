"""Real IMAP clients against letterbox-imapd (issue 5, Tests): mbsync
(isync) syncs INBOX both ways with a local Maildir.
XXX: mutt/neomutt and the npm imapflow client are not done yet."""
# SPDX-License-Identifier: ISC

import glob
import imaplib
import os
import shutil
import subprocess

import pytest

import lbtest  # noqa: F401  (conftest's fixtures)
from test_imap_core import deliver, login, message

HERE = os.path.join(os.path.dirname(__file__), "imap_clients")


def maildir_msgs(d):
    """{subject: file name} of a Maildir's new/ and cur/."""
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(d, sub)):
            with open(os.path.join(d, sub, name), "rb") as f:
                for line in f.read().split(b"\r\n\r\n")[0].splitlines():
                    if line.startswith(b"Subject: "):
                        out[line[9:].strip().decode()] = os.path.join(
                            d, sub, name)
    return out


def server_msgs(m):
    """{subject: flags} of the server's INBOX over imaplib."""
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    out = {}
    if data == [None]:
        return out
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        subj = [ln[9:].decode() for ln in body.split(b"\r\n")
                if ln.startswith(b"Subject: ")][0]
        flags = head.split(b"FLAGS (")[1].split(b")")[0].decode().split()
        out[subj] = sorted(flags)
    return out


def mbsync(inst, tmp):
    r = subprocess.run(["mbsync", "-c", os.path.join(tmp, "mbsyncrc"), "-a"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr, inst.log()[-3000:])


@pytest.mark.skipif(shutil.which("mbsync") is None,
                    reason="mbsync missing: scripts/deps.sh installs isync")
def test_imap_clients_mbsync(running, tmp_path):
    inst = running
    tmp = str(tmp_path)
    deliver(inst, [message("server one"), message("server two")])
    md = os.path.join(tmp, "mail", "INBOX")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub))
    for i, subj in enumerate(("local one", "local two")):
        with open(os.path.join(md, "cur", "100%d.lb.test:2," % i),
                  "wb") as f:
            f.write(message(subj))
    with open(os.path.join(tmp, "pass"), "w") as f:
        f.write(inst.demo_password + "\n")
    cert = glob.glob(os.path.join(inst.inst, "tls", "cert.pem"))[0]
    with open(os.path.join(HERE, "mbsyncrc.in")) as f:
        conf = f.read()
    for k, v in (("PORT", str(inst.port("imaps"))), ("USER", inst.demo_user),
                 ("PASSFILE", os.path.join(tmp, "pass")), ("CERT", cert),
                 ("MAILDIR", os.path.join(tmp, "mail"))):
        conf = conf.replace("@%s@" % k, v)
    with open(os.path.join(tmp, "mbsyncrc"), "w") as f:
        f.write(conf)

    mbsync(inst, tmp)
    local = maildir_msgs(md)
    assert sorted(local) == ["local one", "local two", "server one",
                             "server two"]
    m = login(inst, implicit=True)
    assert server_msgs(m) == {"local one": [], "local two": [],
                              "server one": [], "server two": []}

    # flag one message locally, delete one on the server
    p = local["server one"]
    os.rename(p, p.split(":2,")[0] + ":2,FS") if ":2," in p else \
        os.rename(p, os.path.join(md, "cur", os.path.basename(p) + ":2,FS"))
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", '"local two"')
    assert typ == "OK" and len(data[0].split()) == 1
    m.store(data[0].split()[0], "+FLAGS.SILENT", "\\Deleted")
    assert m.expunge()[0] == "OK"
    m.logout()

    mbsync(inst, tmp)
    assert sorted(maildir_msgs(md)) == ["local one", "server one",
                                        "server two"]
    m = login(inst, implicit=True)
    assert server_msgs(m) == {"local one": [],
                              "server one": ["\\Flagged", "\\Seen"],
                              "server two": []}
    m.logout()


NPM_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "build", "npm")


def imapflow_dir():
    """imapflow installed with npm into build/npm (cached there)."""
    mod = os.path.join(NPM_DIR, "node_modules", "imapflow")
    if not os.path.isdir(mod):
        if shutil.which("npm") is None:
            pytest.skip("npm missing")
        os.makedirs(NPM_DIR, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                            "--cache", os.path.join(NPM_DIR, "cache"),
                            "imapflow"], cwd=NPM_DIR, capture_output=True,
                           timeout=300)
        if r.returncode != 0:
            pytest.skip("npm registry unreachable: %r" % r.stderr[-500:])
    return os.path.join(NPM_DIR, "node_modules")


def test_imap_clients_imapflow(running):
    import json
    inst = running
    mods = imapflow_dir()
    msg = message("flow one")
    deliver(inst, [msg])
    env = dict(os.environ, IMAPFLOW_DIR=mods)
    r = subprocess.run(["node", os.path.join(HERE, "imapflow_test.mjs"),
                        str(inst.port("imaps")), inst.demo_user,
                        inst.demo_password], capture_output=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["exists"] == 1
    assert {"path": "INBOX", "specialUse": "\\Inbox"} in out["list"]
    for box, use in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"),
                     ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                     ("Archive", "\\Archive")):
        assert {"path": box, "specialUse": use} in out["list"], out["list"]
    # the MDA adds Return-Path and Delivered-To (RFC 5321 4.4) in front
    stored = (b"Return-Path: <alice@example.org>\r\n"
              b"Delivered-To: demo@example.test\r\n" + msg)
    assert [(m["subject"], m["from"], m["flags"], m["source"])
            for m in out["messages"]] == [
        ("flow one", ["alice@example.org"], [], stored.decode("latin1"))]
    assert out["stored"] is True
    assert out["flagsAfter"] == ["$Label1", "\\Flagged"]
