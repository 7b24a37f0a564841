"""letterbox dkim and letterbox dns against a real `letterbox init` instance;
every signature is checked by an independent verifier, dkimpy (Debian's
python3-dkim), fed the TXT records the CLI printed: no network."""
# SPDX-License-Identifier: ISC

import base64
import os
import pwd
import re
import stat
import subprocess
import time

import dkim
import nacl.signing
import pytest

import lbtest

REPO = lbtest.REPO
U = "usage: letterbox [-c FILE] "
DKIM_USAGE = [
    "dkim keygen DOMAIN [--selector S] [--force]",
    "dkim list",
    "dkim show DOMAIN [--selector S]",
    "dkim sign DOMAIN [--selector S] [--time T] < MESSAGE",
]


def usage_err(msg, lines=DKIM_USAGE):
    return "letterbox: %s\n%s" % (msg, "".join(U + x + "\n" for x in lines))


def records(text):
    """{name with final dot: TXT data} from zone-file lines."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\S+\._domainkey\.\S+) IN TXT (.*)$', line)
        if m:
            strings = re.findall(r'"([^"]*)"', m.group(2))
            assert all(len(s) <= 255 for s in strings), line
            assert m.group(2) == " ".join('"%s"' % s for s in strings)
            out[m.group(1)] = "".join(strings).encode()
    return out


def dnsfunc(recs):
    def f(name, timeout=5):
        return recs.get(name.decode())
    return f


def keygen(inst, domain="example.test", selector="t1", *more):
    r = inst.cli("dkim", "keygen", domain, "--selector", selector, *more)
    assert r.returncode == 0, r.stderr
    return r


def sign(inst, msg, domain="example.test", *more):
    r = subprocess.run([lbtest.prog("letterbox"), "-c", inst.conf, "dkim",
                        "sign", domain] + list(more), input=msg,
                       capture_output=True, timeout=60, env=inst.env())
    return r


def verify_all(signed, recs):
    """Both signatures (ed25519, rsa), each on its own; dkimpy raises on
    some failures (body hash mismatch) and returns False on others."""
    out = []
    for i in range(2):
        try:
            out.append(dkim.DKIM(signed).verify(idx=i,
                                                dnsfunc=dnsfunc(recs)))
        except dkim.DKIMException:
            out.append(False)
    return out


@pytest.fixture
def keyed(instance):
    keygen(instance)
    r = instance.cli("dkim", "show", "example.test")
    assert r.returncode == 0, r.stderr
    instance.recs = records(r.stdout)
    assert sorted(instance.recs) == ["t1-ed._domainkey.example.test.",
                                     "t1-rsa._domainkey.example.test."]
    return instance


# ---- the fixed vector of tests/unit/test_dkim.c ----

def test_unit_vector_verifies():
    seed = bytes(range(32))
    pk = nacl.signing.SigningKey(seed).verify_key.encode()
    rec = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(pk)
    with open(os.path.join(REPO, "tests/data/dkim/ed25519-vector.eml"),
              "rb") as f:
        msg = f.read()
    recs = {"vector-ed._domainkey.example.org.": rec}
    assert dkim.verify(msg, dnsfunc=dnsfunc(recs))
    assert not dkim.verify(msg.replace(b"caf", b"cafe"),
                           dnsfunc=dnsfunc(recs))


# ---- keygen, files, records ----

def test_keygen_files_and_records(instance):
    r = keygen(instance, "Example.TEST")
    d = os.path.join(instance.inst, "state", "dkim", "example.test")
    ed = os.path.join(d, "t1.ed25519.key")
    rsa = os.path.join(d, "t1.rsa.key")
    lines = r.stdout.splitlines()
    assert lines[:3] == ["wrote " + ed, "wrote " + rsa,
                         "; publish in DNS:"]
    recs = records(r.stdout)
    assert len(lines) == 5 and len(recs) == 2
    edrec = recs["t1-ed._domainkey.example.test."]
    rsarec = recs["t1-rsa._domainkey.example.test."]
    assert re.fullmatch(rb"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", edrec)
    assert rsarec.startswith(b"v=DKIM1; k=rsa; p=MIIBIjAN")  # RSA-2048 SPKI
    assert '" "' in lines[4]          # split into 255-octet strings
    # owner: the queue user as root, else us; files 0600, dirs 0700
    want_uid = os.getuid()
    if os.geteuid() == 0:
        try:
            want_uid = pwd.getpwnam("lb-queue").pw_uid
        except KeyError:
            pass
    for p, mode in ((os.path.dirname(d), 0o700), (d, 0o700), (ed, 0o600),
                    (rsa, 0o600)):
        st = os.stat(p)
        assert stat.S_IMODE(st.st_mode) == mode, p
        assert st.st_uid == want_uid, p
    # PKCS#8 PEM that OpenSSL reads
    for p, kind in ((ed, "ED25519"), (rsa, "(2048 bit")):
        with open(p) as f:
            assert f.read().startswith("-----BEGIN PRIVATE KEY-----\n")
        o = subprocess.run(["openssl", "pkey", "-in", p, "-noout", "-text"],
                           capture_output=True, text=True)
        assert o.returncode == 0 and kind in o.stdout, o.stderr
    # show prints the same records again; list names them
    r = instance.cli("dkim", "show", "example.test")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "\n".join(lines[3:5]) + "\n"
    r = instance.cli("dkim", "list")
    assert (r.returncode, r.stdout) == (0, "example.test t1 ed25519 rsa\n")


def test_keygen_refuses_overwrite(instance):
    keygen(instance)
    d = os.path.join(instance.inst, "state", "dkim", "example.test")
    with open(os.path.join(d, "t1.ed25519.key"), "rb") as f:
        before = f.read()
    r = instance.cli("dkim", "keygen", "example.test", "--selector", "t1")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("letterbox: %s/t1.ed25519.key exists; --force "
                        "replaces the keys of selector t1\n" % d)
    with open(os.path.join(d, "t1.ed25519.key"), "rb") as f:
        assert f.read() == before
    keygen(instance, "example.test", "t1", "--force")
    with open(os.path.join(d, "t1.ed25519.key"), "rb") as f:
        assert f.read() != before
    assert sorted(os.listdir(d)) == ["t1.ed25519.key", "t1.rsa.key"]


def test_keygen_default_selector(instance):
    r = instance.cli("dkim", "keygen", "example.test")
    assert r.returncode == 0, r.stderr
    sel = time.strftime("lb%Y%m", time.gmtime())
    assert "%s-ed._domainkey.example.test. IN TXT" % sel in r.stdout
    r = instance.cli("dkim", "list")
    assert r.stdout == "example.test %s ed25519 rsa\n" % sel


def test_dkim_usage_and_errors(instance):
    def bad(args, msg):
        r = instance.cli("dkim", *args)
        assert (r.returncode, r.stdout, r.stderr) == (64, "", usage_err(msg))

    bad([], "dkim: missing action")
    bad(["frob"], 'dkim: unknown action "frob"')
    bad(["keygen"], "dkim keygen: missing DOMAIN")
    bad(["list", "x"], "dkim list takes no arguments")
    bad(["show", "example.test", "--force"], "dkim show has no --force")
    bad(["keygen", "example.test", "--time", "5"],
        "--time: only for dkim sign, in seconds since 1970")
    bad(["keygen", "example.test", "--selector", "a;b"],
        "invalid selector \"a;b\" (letters, digits, '-', '_', "
        "dot-separated, at most 59)")
    bad(["keygen", "example.test", "--colour"], 'unknown option "--colour"')
    r = instance.cli("dkim", "keygen", "ex_ample..test")
    assert (r.returncode, r.stderr) == (
        1, 'letterbox: invalid domain "ex_ample..test"\n')
    r = instance.cli("dkim", "show", "example.test")
    assert (r.returncode, r.stderr) == (
        1, "letterbox: no DKIM keys for example.test: run letterbox dkim "
        "keygen example.test\n")
    r = sign(instance, b"From: a@example.test\r\n\r\nx\r\n")
    assert r.returncode == 1 and r.stdout == b""
    r = instance.cli("dkim", "list")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = instance.cli("dns")
    assert (r.returncode, r.stderr) == (
        64, usage_err("dns: missing DOMAIN", ["dns DOMAIN"]))
    # both in the full usage
    r = instance.cli("help")
    for line in DKIM_USAGE + ["dns DOMAIN"]:
        assert U + line + "\n" in r.stdout


def test_sign_errors(keyed):
    r = sign(keyed, b"To: a@example.net\r\nSubject: x\r\n\r\nbody\r\n")
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == (b"letterbox: cannot sign: message has no From field "
                        b"(RFC 6376 5.4: it must be signed)\n")
    r = sign(keyed, b"From: a@example.test\r\n\r\nx\r\n", "example.test",
             "--selector", "nope")
    assert r.returncode == 1
    assert r.stderr == (b"letterbox: no DKIM keys for example.test with "
                        b"selector nope\n")
    keygen(keyed, "example.test", "t2")
    r = sign(keyed, b"From: a@example.test\r\n\r\nx\r\n")
    assert r.returncode == 1
    assert r.stderr == (b"letterbox: example.test has 2 DKIM selectors; "
                        b"give --selector\n")
    r = sign(keyed, b"From: a@example.test\r\n\r\nx\r\n", "example.test",
             "--selector", "t2")
    assert r.returncode == 0 and b"s=t2-ed;" in r.stdout


def test_key_readable_by_others_refused(keyed):
    p = os.path.join(keyed.inst, "state", "dkim", "example.test",
                     "t1.rsa.key")
    os.chmod(p, 0o640)
    r = keyed.cli("dkim", "show", "example.test")
    assert r.returncode == 1
    assert "t1.rsa.key: readable by group or others" in r.stderr


# ---- signatures, checked by dkimpy ----

MESSAGES = {
    "plain": b"From: Alice <alice@example.test>\r\nTo: bob@example.net\r\n"
             b"Subject: hello\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
             b"Message-ID: <1@example.test>\r\n\r\nHello Bob.\r\n",
    "folded": b"From: Alice\r\n <alice@example.test>\r\nTo: a@example.net,\r\n"
              b"\tb@example.net,\r\n    c@example.net\r\n"
              b"Subject: a very long subject that goes on\r\n and on\r\n"
              b"\r\nbody\r\n",
    "whitespace": b"From:   alice@example.test   \r\nSUBJECT:\t  odd \t "
                  b"spacing\t\r\nX-Empty:\r\n\r\n  lead\r\n"
                  b"trail  \t \r\n mid \t\t  spaces \r\n\r\n \r\n\t\r\n",
    "no_date": b"From: alice@example.test\r\nTo: b@example.net\r\n"
               b"Subject: no date here\r\n\r\nx\r\n",
    "from_like": b"From: alice@example.test\r\nSender: sec@example.test\r\n"
                 b"Resent-From: r@example.test\r\nResent-Sender: "
                 b"rs@example.test\r\nReply-To: rt@example.test\r\n"
                 b"To: b@example.net\r\n\r\nbody\r\n",
    "eight_bit": "From: Zoë <zoe@example.test>\r\nSubject: =?utf-8?q?"
                 "caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\nMIME-Version: 1.0\r\n"
                 "\r\nKäse, Brötchen, 日本語\r\n".encode() + b"\xfe\xff\r\n",
    "no_trailing_crlf": b"From: alice@example.test\r\nSubject: x\r\n\r\n"
                        b"last line without CRLF",
    "empty_body": b"From: alice@example.test\r\nSubject: empty\r\n\r\n",
    "trailing_empty_lines": b"From: alice@example.test\r\n\r\nx\r\n\r\n\r\n"
                            b"\r\n",
    "lists": b"From: list@example.test\r\nList-Id: <l.example.test>\r\n"
             b"List-Unsubscribe: <mailto:u@example.test>\r\n"
             b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
             b"In-Reply-To: <0@x>\r\nReferences: <0@x>\r\n\r\nbody\r\n",
    # h= folded over several lines; every To signed, bottom up
    "many_fields": b"From: a@example.test\r\n" + b"".join(
        b"To: user%d@example.net\r\nCc: cc%d@example.net\r\n" % (i, i)
        for i in range(30)) + b"\r\nbody\r\n",
    # beyond the signer's staging buffer, long lines, WSP at every line end
    "big": b"From: a@example.test\r\nSubject: big\r\n\r\n" + b"".join(
        b"%06d %s \t\r\n" % (i, b"x" * (i % 900)) for i in range(700)),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_sign_verifies(keyed, name):
    msg = MESSAGES[name]
    r = sign(keyed, msg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(msg)
    head = r.stdout[:len(r.stdout) - len(msg)]
    assert head.count(b"DKIM-Signature:") == 2
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert verify_all(r.stdout, keyed.recs) == [True, True]
    d = dkim.DKIM(r.stdout)
    for i, (alg, sel) in enumerate(((b"ed25519-sha256", b"t1-ed"),
                                    (b"rsa-sha256", b"t1-rsa"))):
        d.verify(idx=i, dnsfunc=dnsfunc(keyed.recs))
        f = d.signature_fields
        assert (f[b"a"], f[b"s"], f[b"d"], f[b"c"]) == (
            alg, sel, b"example.test", b"relaxed/relaxed")
        assert b"l" not in f
        assert abs(int(f[b"t"]) - time.time()) < 300
        h = re.split(rb"\s*:\s*", f[b"h"])
        # From oversigned: once more than present
        assert h.count(b"from") == len(re.findall(
            rb"(?im)^from\s*:", msg.split(b"\r\n\r\n")[0])) + 1


def test_sign_fixed_time_is_deterministic(keyed):
    msg = MESSAGES["plain"]
    a = sign(keyed, msg, "example.test", "--time", "1700000000")
    b = sign(keyed, msg, "example.test", "--time", "1700000000")
    assert a.returncode == 0 and a.stdout == b.stdout
    assert b"t=1700000000;" in a.stdout


def test_sign_bare_lf_input(keyed):
    """A hand-edited file with LF line ends is signed as CRLF text."""
    r = sign(keyed, b"From: a@example.test\nSubject: lf\n\nline\r\nmixed\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"From: a@example.test\r\nSubject: lf\r\n\r\n"
                             b"line\r\nmixed\r\n")
    assert b"\n" not in r.stdout.replace(b"\r\n", b"")
    assert verify_all(r.stdout, keyed.recs) == [True, True]


def test_two_from_fields_oversigned(keyed):
    msg = (b"From: a@example.test\r\nFrom: b@example.test\r\n"
           b"Subject: two\r\n\r\nx\r\n")
    r = sign(keyed, msg)
    assert r.returncode == 0, r.stderr
    assert b"h=from:from:from:subject;" in r.stdout
    assert verify_all(r.stdout, keyed.recs) == [True, True]
    # oversigning: a third From added anywhere breaks both
    bad = r.stdout.replace(b"Subject: two", b"From: c@example.evil\r\n"
                           b"Subject: two")
    assert verify_all(bad, keyed.recs) == [False, False]


TAMPER = [
    ("body", lambda m: m.replace(b"Hello Bob.", b"Hello Eve.")),
    ("body_added_line", lambda m: m + b"P.S. send money\r\n"),
    ("subject", lambda m: m.replace(b"Subject: hello", b"Subject: hellO")),
    ("from", lambda m: m.replace(b"alice@example.test",
                                 b"alice@example.evil")),
    ("from_added", lambda m: m.replace(b"\r\n\r\nHello",
                                       b"\r\nFrom: eve@example.evil"
                                       b"\r\n\r\nHello")),
    ("date_removed", lambda m: re.sub(rb"Date: [^\r]*\r\n", b"", m)),
    ("signature", lambda m: m.replace(b"d=example.test", b"d=example.tesT")),
]


@pytest.mark.parametrize("name", [t[0] for t in TAMPER])
def test_tampered_fails(keyed, name):
    r = sign(keyed, MESSAGES["plain"])
    assert r.returncode == 0, r.stderr
    assert verify_all(r.stdout, keyed.recs) == [True, True]
    bad = dict(TAMPER)[name](r.stdout)
    assert bad != r.stdout
    assert verify_all(bad, keyed.recs) == [False, False]


def test_relaxed_survives_rewhitespacing(keyed):
    """What relaxed canonicalization forgives: header case, WSP runs,
    refolding, trailing WSP and empty lines at the end."""
    r = sign(keyed, MESSAGES["plain"])
    # (not "Subject :": legal, RFC 5322 4.5, and covered by test_dkim.c,
    # but dkimpy cannot parse it)
    m = r.stdout.replace(b"Subject: hello", b"SUBJECT:  hello  ")
    m = m.replace(b"To: bob@example.net", b"To:\r\n\tbob@example.net")
    m = m.replace(b"Hello Bob.\r\n", b"Hello   Bob.  \r\n\r\n\r\n")
    assert verify_all(m, keyed.recs) == [True, True]


# ---- letterbox dns ----

def test_dns(instance):
    def srv_lines():
        out = []
        for srv, kind, prio in (("_submissions", "submissions", 0),
                                ("_submission", "submission", 10),
                                ("_imaps", "imaps", 0), ("_imap", "imap", 10),
                                ("_pop3s", "pop3s", 0), ("_pop3", "pop3", 10)):
            with open(instance.conf) as f:
                has = "listen %s {" % kind in f.read()
            if has:
                out.append("%s._tcp.example.test. IN SRV %d 1 %d "
                           "mail.example.test." % (srv, prio,
                                                   instance.port(kind)))
            else:
                out.append("%s._tcp.example.test. IN SRV 0 0 0 ." % srv)
        return out

    head = [
        "; DNS records for example.test (letterbox dns), zone-file syntax.",
        "; mail.example.test also needs A and/or AAAA records for this "
        "server.",
        "example.test. IN MX 10 mail.example.test.",
        'example.test. IN TXT "v=spf1 mx -all"',
        '_dmarc.example.test. IN TXT "v=DMARC1; p=quarantine; '
        'rua=mailto:postmaster@example.test"',
    ]
    r = instance.cli("dns", "Example.Test")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == head + [
        "; no DKIM keys for example.test yet: run letterbox dkim keygen "
        "example.test"] + srv_lines()
    # submission is always there in a built tree
    assert any("_submission._tcp" in x and " 1 %d " %
               instance.port("submission") in x for x in srv_lines())
    keygen(instance)
    show = instance.cli("dkim", "show", "example.test").stdout
    r = instance.cli("dns", "example.test")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines() == head + show.splitlines() + srv_lines()
    r = instance.cli("dns", "bad_domain")
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "", 'letterbox: invalid domain "bad_domain"\n')
