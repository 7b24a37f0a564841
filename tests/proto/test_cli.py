"""letterbox, the admin CLI, held to docs/cli.md: exact output, errors and
exit codes of every subcommand, and that authd sees its changes at once."""
# SPDX-License-Identifier: ISC

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

import lbtest

U = "usage: letterbox [-c FILE] "
# The synopsis lines of docs/cli.md, per subcommand.
USAGE = {
    "init": ["init DIR [--domain D] [--hostname H] [--port-offset N]"],
    "config": ["config check"],
    "domain": ["domain add DOMAIN", "domain del DOMAIN [--force]",
               "domain list"],
    "user": ["user add ADDRESS [--password-stdin] [--quota SIZE] "
             "[--quota-messages N]",
             "user del ADDRESS",
             "user list [DOMAIN]",
             "user passwd ADDRESS [--password-stdin]",
             "user apop ADDRESS [--password-stdin | --clear]"],
    "alias": ["alias add ALIAS TARGET [TARGET...]", "alias del ALIAS [TARGET]",
              "alias list [DOMAIN]"],
    "quota": ["quota set ADDRESS SIZE [MESSAGES]", "quota show ADDRESS"],
}
SIZE_WHY = "(a number with an optional unit B, K, M, G or T, or unlimited)"
LOOKALIKES = set("0Oo1lI")


def usage(cmd):
    return "".join(U + line + "\n" for line in USAGE[cmd])


def usage_err(cmd, msg):
    """stderr of an exit-64 error: the message, then the usage lines."""
    return "letterbox: %s\n%s" % (msg, usage(cmd))


def expect(r, rc, out="", err=""):
    assert (r.returncode, r.stdout, r.stderr) == (rc, out, err)


def ok(r, out):
    expect(r, 0, out, "")


def fail(r, msg):
    expect(r, 1, "", "letterbox: %s\n" % msg)


def bad_usage(r, cmd, msg):
    expect(r, 64, "", usage_err(cmd, msg))


def run(*args, input=None, env=None, cwd=None, new_session=False):
    """The CLI with exactly these arguments (no -c added)."""
    e = dict(os.environ)
    e.update(lbtest.SAN_ENV)
    e.pop("LETTERBOX_CONF", None)
    if env:
        e.update(env)
    return subprocess.run([lbtest.prog("letterbox")] + list(args),
                          input=input, capture_output=True, text=True,
                          timeout=60, env=e, cwd=cwd,
                          start_new_session=new_session)


def add_user(inst, address, password="pw", *opts):
    return inst.cli("user", "add", address, "--password-stdin", *opts,
                    input=password + "\n")


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="lbcli-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def conf_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


# ---- init ----

def test_init_files_modes_and_output(tmpdir_):
    d = os.path.join(tmpdir_, "inst")
    r = run("init", d)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    with open(os.path.join(d, "demo-password")) as f:
        pw = f.read()
    assert pw.endswith("\n")
    pw = pw[:-1]
    assert len(pw) == 16 and pw.isalnum() and not set(pw) & LOOKALIKES, pw
    assert r.stdout == ("wrote %s/letterbox.conf\n"
                        "added alias postmaster@example.test -> "
                        "demo@example.test (RFC 5321 4.5.1: every domain "
                        "needs a postmaster)\n"
                        "demo login: demo@example.test password: %s\n"
                        % (d, pw))
    assert mode(os.path.join(d, "letterbox.conf")) == 0o644
    assert mode(os.path.join(d, "tls", "key.pem")) == 0o600
    assert mode(os.path.join(d, "demo-password")) == 0o600
    assert os.path.isfile(os.path.join(d, "tls", "cert.pem"))
    assert os.path.isfile(os.path.join(d, "state", "db", "users.lmdb"))
    assert mode(os.path.join(d, "state", "db")) == 0o700
    lines = conf_lines(os.path.join(d, "letterbox.conf"))
    assert "hostname = mail.example.test" in lines
    assert 'state_dir = "%s/state"' % d in lines
    assert "log = stderr" in lines
    assert '\tcert = "%s/tls/cert.pem"' % d in lines
    assert '\tkey = "%s/tls/key.pem"' % d in lines
    if os.geteuid() == 0:
        import pwd
        st = os.stat(os.path.join(d, "state", "db"))
        assert st.st_uid == pwd.getpwnam("lb-auth").pw_uid
    # The demo user and domain are in the database.
    conf = os.path.join(d, "letterbox.conf")
    ok(run("-c", conf, "domain", "list"), "example.test\n")
    ok(run("-c", conf, "user", "list"),
       "demo@example.test\t1G\tunlimited\tactive\n")
    ok(run("-c", conf, "config", "check"), "%s: OK\n" % conf)


def test_init_cert_is_for_the_hostname(tmpdir_):
    d = os.path.join(tmpdir_, "inst")
    assert run("init", d, "--hostname", "mx.corp.example").returncode == 0
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-enddate",
                        "-in", os.path.join(d, "tls", "cert.pem")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("no openssl tool")
    assert "mx.corp.example" in r.stdout


def test_init_domain_hostname_offset_land_in_config(tmpdir_):
    d = os.path.join(tmpdir_, "inst")
    r = run("init", d, "--domain", "Corp.Example", "--port-offset", "10000")
    assert r.returncode == 0, r.stderr
    assert "demo login: demo@corp.example password: " in r.stdout
    assert "hostname = mail.corp.example" in conf_lines(
        os.path.join(d, "letterbox.conf"))
    d2 = os.path.join(tmpdir_, "inst2")
    r = run("init", d2, "--domain=corp.example", "--hostname=mx.corp.example")
    assert r.returncode == 0, r.stderr
    assert "hostname = mx.corp.example" in conf_lines(
        os.path.join(d2, "letterbox.conf"))


def test_init_listen_blocks_for_daemons_next_to_the_binary(tmpdir_):
    """With a letterbox-smtpd beside the binary, smtp listeners appear at
    the standard ports plus the offset; with none, a comment says so."""
    bindir = os.path.join(tmpdir_, "bin")
    os.mkdir(bindir)
    shutil.copy(lbtest.prog("letterbox"), bindir)
    fake = os.path.join(bindir, "letterbox-smtpd")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(fake, 0o755)
    d = os.path.join(tmpdir_, "inst")
    e = dict(os.environ)
    e.update(lbtest.SAN_ENV)
    r = subprocess.run([os.path.join(bindir, "letterbox"), "init", d,
                        "--port-offset", "10000"], capture_output=True,
                       text=True, env=e)
    assert r.returncode == 0, r.stderr
    text = open(os.path.join(d, "letterbox.conf")).read()
    for kind, port in (("smtp", 10025), ("submission", 10587),
                       ("submissions", 10465)):
        assert ("listen %s {\n\taddress = 127.0.0.1:%d\n"
                "\taddress = [::1]:%d\n}\n" % (kind, port, port)) in text
    assert "listen imap" not in text and "listen pop3" not in text
    assert "# No listen blocks" not in text
    # The build tree has no protocol daemon yet: no listen block at all.
    d2 = os.path.join(tmpdir_, "inst2")
    assert run("init", d2).returncode == 0
    text = open(os.path.join(d2, "letterbox.conf")).read()
    if not any(os.path.exists(lbtest.prog(p)) for p in
               ("letterbox-smtpd", "letterbox-imapd", "letterbox-pop3d")):
        assert "listen" not in text.replace("# No listen blocks", "")
        assert "# No listen blocks" in text


def test_init_relative_dir_made_absolute(tmpdir_):
    r = run("init", "rel/inst", cwd=tmpdir_)
    fail(r, "cannot create %s/rel/inst: No such file or directory"
         % os.path.realpath(tmpdir_))
    os.mkdir(os.path.join(tmpdir_, "rel"))
    r = run("init", "rel/inst/", cwd=tmpdir_)
    assert r.returncode == 0, r.stderr
    absdir = os.path.join(os.path.realpath(tmpdir_), "rel", "inst")
    assert r.stdout.startswith("wrote %s/letterbox.conf\n" % absdir)
    lines = conf_lines(os.path.join(absdir, "letterbox.conf"))
    assert 'state_dir = "%s/state"' % absdir in lines
    assert '\tkey = "%s/tls/key.pem"' % absdir in lines


def test_init_empty_dir_ok_nonempty_refused(tmpdir_):
    d = os.path.join(tmpdir_, "empty")
    os.mkdir(d)
    assert run("init", d).returncode == 0
    # now it is not empty
    fail(run("init", d), "%s is not empty" % d)
    d2 = os.path.join(tmpdir_, "one")
    os.mkdir(d2)
    open(os.path.join(d2, ".hidden"), "w").close()
    fail(run("init", d2), "%s is not empty" % d2)
    assert os.listdir(d2) == [".hidden"]


def test_init_ignores_c(tmpdir_):
    d = os.path.join(tmpdir_, "inst")
    r = run("-c", "/nonexistent/letterbox.conf", "init", d)
    assert r.returncode == 0, r.stderr


def test_init_errors(tmpdir_):
    d = os.path.join(tmpdir_, "inst")
    bad_usage(run("init"), "init", "init: missing DIR")
    for off in ("64541", "-1", "x", "unlimited", ""):
        bad_usage(run("init", d, "--port-offset", off), "init",
                  "--port-offset: must be a number from 0 to 64540")
    bad_usage(run("init", d, "--port-offset"), "init",
              "option --port-offset needs a value")
    bad_usage(run("init", d, "e"), "init", 'unexpected argument "e"')
    bad_usage(run("init", d, "--domian", "x"), "init",
              'unknown option "--domian"')
    fail(run("init", d, "--domain", "x_y"),
         'invalid domain "x_y": invalid character in domain')
    fail(run("init", d, "--hostname", "-mx.example"),
         'invalid hostname "-mx.example": domain label starts or ends '
         'with a hyphen')
    assert not os.path.exists(d)        # nothing made on a bad command
    r = run("init", d, "--port-offset", "64540")
    assert r.returncode == 0, r.stderr


# ---- config check, config discovery ----

def test_config_check_good_and_bad(instance, tmpdir_):
    ok(instance.cli("config", "check"), "%s: OK\n" % instance.conf)
    bad = os.path.join(tmpdir_, "bad.conf")
    text = open(instance.conf).read()
    n = text.count("\n")
    with open(bad, "w") as f:
        f.write(text + "lisen = 1\nlog_level = loud\n")
    r = run("-c", bad, "config", "check")
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    # (the exact text of this message is pinned by the test below)
    assert lines[0].startswith('%s:%d:1: unknown key "lisen"' % (bad, n + 1)), \
        r.stderr
    # every error, each on its own line FILE:LINE:COL: message
    assert len(lines) == 2, r.stderr
    assert lines[1].startswith("%s:%d:" % (bad, n + 2)), r.stderr
    # the other subcommands refuse to run on it, same messages, exit 1
    r2 = run("-c", bad, "domain", "list")
    expect(r2, 1, "", r.stderr)


def test_config_check_unknown_key_text_as_documented(instance, tmpdir_):
    bad = os.path.join(tmpdir_, "bad.conf")
    with open(bad, "w") as f:
        f.write("hostname = mail.example.test\n\nlisen = 1\n")
    expect(run("-c", bad, "config", "check"), 1, "",
           '%s:3:1: unknown key "lisen" in section "global"\n' % bad)


def test_config_usage_errors(instance):
    bad_usage(instance.cli("config"), "config", "config: missing action")
    bad_usage(instance.cli("config", "frob"), "config",
              'config: unknown action "frob"')
    bad_usage(instance.cli("config", "check", "x"), "config",
              'unexpected argument "x"')


def test_missing_config_file():
    for args in (("config", "check"), ("user", "list"), ("domain", "list")):
        r = run("-c", "/nonexistent", *args)
        expect(r, 1, "", "/nonexistent: cannot read: No such file or "
               "directory\n")


def test_letterbox_conf_env(instance):
    env = {"LETTERBOX_CONF": instance.conf}
    ok(run("config", "check", env=env), "%s: OK\n" % instance.conf)
    ok(run("domain", "add", "env.example", env=env),
       "added domain env.example\n")
    ok(instance.cli("domain", "list"), "env.example\nexample.test\n")
    # -c wins over the environment
    r = run("-c", instance.conf, "config", "check",
            env={"LETTERBOX_CONF": "/nonexistent"})
    ok(r, "%s: OK\n" % instance.conf)
    # set but empty: ignored, the default path is used
    r = run("config", "check", env={"LETTERBOX_CONF": ""})
    if not os.path.exists("/usr/local/etc/letterbox/letterbox.conf"):
        expect(r, 1, "", "/usr/local/etc/letterbox/letterbox.conf: cannot "
               "read: No such file or directory\n")


# ---- top level ----

def all_usage_lines(text):
    lines = text.splitlines()
    assert all(line.startswith(U) for line in lines), text
    for cmd in USAGE:
        for line in USAGE[cmd]:
            assert U + line in lines, (line, text)


def test_no_subcommand_and_unknown_subcommand(instance):
    r = run()
    assert (r.returncode, r.stdout) == (64, "")
    first, rest = r.stderr.split("\n", 1)
    assert first == "letterbox: no subcommand given"
    all_usage_lines(rest)
    r = instance.cli("frob")
    assert (r.returncode, r.stdout) == (64, "")
    first, rest = r.stderr.split("\n", 1)
    assert first == 'letterbox: unknown subcommand "frob"'
    all_usage_lines(rest)


def test_help():
    for args in (("-h",), ("help",)):
        r = run(*args)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
        all_usage_lines(r.stdout)


def test_unknown_actions(instance):
    for cmd in ("domain", "user", "alias", "quota"):
        bad_usage(instance.cli(cmd, "frob"), cmd,
                  '%s: unknown action "frob"' % cmd)
        bad_usage(instance.cli(cmd), cmd, "%s: missing action" % cmd)


# ---- domain ----

def test_domain_add_list_del(instance):
    ok(instance.cli("domain", "add", "Example.ORG"),
       "added domain example.org\n")
    ok(instance.cli("domain", "add", "a.example"), "added domain a.example\n")
    ok(instance.cli("domain", "list"),
       "a.example\nexample.org\nexample.test\n")
    fail(instance.cli("domain", "add", "example.ORG"),
         "domain example.org already exists")
    fail(instance.cli("domain", "add", "x_y"),
         'invalid domain "x_y": invalid character in domain')
    fail(instance.cli("domain", "del", "nope.example"),
         "domain nope.example is not a local domain")
    fail(instance.cli("domain", "del", "x_y"),
         'invalid domain "x_y": invalid character in domain')
    ok(instance.cli("domain", "del", "A.Example"), "deleted domain a.example\n")
    ok(instance.cli("domain", "list"), "example.org\nexample.test\n")


def test_domain_del_with_users_needs_force(instance):
    ok(instance.cli("domain", "add", "example.org"),
       "added domain example.org\n")
    assert add_user(instance, "bob@example.org").returncode == 0
    r = instance.cli("alias", "add", "team@example.org", "bob@example.org")
    assert r.returncode == 0, r.stderr
    r = instance.cli("alias", "add", "@example.org", "bob@example.org")
    assert r.returncode == 0, r.stderr
    # the first user of a domain also became its postmaster
    fail(instance.cli("domain", "del", "example.org"),
         "domain example.org still has 1 user and 3 aliases "
         "(use --force to delete them too)")
    # nothing was deleted
    ok(instance.cli("user", "list", "example.org"),
       "bob@example.org\t1G\tunlimited\tactive\n")
    ok(instance.cli("domain", "del", "--force", "example.org"),
       "deleted domain example.org\n")
    ok(instance.cli("domain", "list"), "example.test\n")
    # users and aliases went with it
    ok(instance.cli("user", "list"),
       "demo@example.test\t1G\tunlimited\tactive\n")
    ok(instance.cli("alias", "list"), "postmaster@example.test\tdemo@example.test\n")
    # re-adding the domain does not bring them back
    ok(instance.cli("domain", "add", "example.org"),
       "added domain example.org\n")
    ok(instance.cli("user", "list", "example.org"), "")


def test_domain_del_plural_counts(instance):
    instance.cli("domain", "add", "example.org")
    for u in ("a", "b"):
        assert add_user(instance, u + "@example.org").returncode == 0
    instance.cli("alias", "add", "x@example.org", "a@example.org")
    fail(instance.cli("domain", "del", "example.org"),
         "domain example.org still has 2 users and 2 aliases "
         "(use --force to delete them too)")


def test_domain_usage_errors(instance):
    bad_usage(instance.cli("domain", "add"), "domain",
              "domain add: missing DOMAIN")
    bad_usage(instance.cli("domain", "del"), "domain",
              "domain del: missing DOMAIN")
    bad_usage(instance.cli("domain", "del", "example.test", "--forc"),
              "domain", 'unknown option "--forc"')
    bad_usage(instance.cli("domain", "del", "example.test", "--force=yes"),
              "domain", "option --force takes no value")
    bad_usage(instance.cli("domain", "add", "a.example", "b"), "domain",
              'unexpected argument "b"')
    # the domain is still there
    ok(instance.cli("domain", "list"), "example.test\n")


def test_double_dash_ends_options(instance):
    # "--force" after "--" is the DOMAIN argument, not the flag
    fail(instance.cli("domain", "del", "--", "--force"),
         'invalid domain "--force": domain label starts or ends with a '
         'hyphen')
    ok(instance.cli("user", "list", "--", "example.test"), DEMO)


# ---- user ----

DEMO = "demo@example.test\t1G\tunlimited\tactive\n"


def test_user_add_list_passwd_del(instance):
    r = add_user(instance, "Bob@Example.TEST", "s3cret", "--quota", "2G")
    ok(r, "added user bob@example.test\n")
    ok(instance.cli("user", "list", "example.test"),
       "bob@example.test\t2G\tunlimited\tactive\n" + DEMO)
    ok(instance.cli("user", "passwd", "BOB@example.test", "--password-stdin",
                    input="n3w\n"),
       "changed password of bob@example.test\n")
    ok(instance.cli("user", "del", "bob@EXAMPLE.test"),
       "deleted user bob@example.test\n")
    ok(instance.cli("user", "list"), DEMO)
    fail(instance.cli("user", "del", "bob@example.test"),
         "user bob@example.test does not exist")
    fail(instance.cli("user", "passwd", "Bob@example.test",
                      "--password-stdin", input="x\n"),
         "user bob@example.test does not exist")


def test_user_list_all_and_by_domain(instance):
    instance.cli("domain", "add", "b.example")
    assert add_user(instance, "zed@b.example").returncode == 0
    assert add_user(instance, "amy@example.test", "pw", "--quota", "1536K",
                    "--quota-messages", "500").returncode == 0
    assert add_user(instance, "q@example.test", "pw", "--quota=1500",
                    "--quota-messages=unlimited").returncode == 0
    assert add_user(instance, "u@example.test", "pw",
                    "--quota", "0").returncode == 0
    ok(instance.cli("user", "list", "example.test"),
       "amy@example.test\t1536K\t500\tactive\n" + DEMO +
       "q@example.test\t1500\tunlimited\tactive\n"
       "u@example.test\tunlimited\tunlimited\tactive\n")
    ok(instance.cli("user", "list", "b.example"),
       "zed@b.example\t1G\tunlimited\tactive\n")
    r = instance.cli("user", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == sorted(r.stdout.splitlines())
    assert len(r.stdout.splitlines()) == 5
    fail(instance.cli("user", "list", "nope.example"),
         "domain nope.example is not a local domain")
    bad_usage(instance.cli("user", "list", "a", "b"), "user",
              "user list: too many arguments")


@pytest.mark.parametrize("cmd", ["user", "alias"])
def test_list_unknown_domain_shows_stored_form(instance, cmd):
    fail(instance.cli(cmd, "list", "NOPE.Example"),
         "domain nope.example is not a local domain")


def test_user_add_errors(instance):
    assert add_user(instance, "bob@example.test").returncode == 0
    # checked before the password is read: no input at all
    fail(instance.cli("user", "add", "BOB@example.test", "--password-stdin",
                      input=""),
         "user bob@example.test already exists")
    fail(instance.cli("user", "add", "bob@x.org", "--password-stdin",
                      input=""),
         "domain x.org is not a local domain")
    cases = [
        ("a b@example.test", "invalid character in local part"),
        ("bob", "no @ in address"),
        ("", "empty address"),
        ("@example.test", "empty local part"),
        (".bob@example.test", "local part has an empty atom "
         "(leading or double dot)"),
        ("bob.@example.test", "local part ends with a dot"),
        ("bob@", "empty domain"),
        ("bob@x_y.test", "invalid character in domain"),
        ("x" * 65 + "@example.test", "local part longer than 64 octets"),
        ('"bob@example.test', "unterminated quoted local part"),
    ]
    for addr, why in cases:
        fail(instance.cli("user", "add", addr, "--password-stdin",
                          input="pw\n"),
             'invalid address "%s": %s' % (addr, why))
    ok(instance.cli("user", "list"),
       "bob@example.test\t1G\tunlimited\tactive\n" + DEMO)


def test_user_add_quoted_local_part_loses_quotes(instance):
    ok(add_user(instance, '"Carol"@example.test'),
       "added user carol@example.test\n")


def test_user_add_exists_as_alias(instance):
    instance.cli("alias", "add", "team@example.test", "demo@example.test")
    fail(add_user(instance, "team@example.test"),
         "team@example.test already exists as an alias")


def test_user_passwords(instance):
    fail(add_user(instance, "e@example.test", ""), "empty password refused")
    fail(instance.cli("user", "add", "e@example.test", "--password-stdin",
                      input=""), "empty password refused")
    fail(instance.cli("user", "add", "e@example.test", "--password-stdin",
                      input="a\0b\n"), "password contains a NUL byte")
    fail(add_user(instance, "e@example.test", "x" * 1025),
         "password longer than 1024 bytes")
    ok(instance.cli("user", "list"), DEMO)
    ok(add_user(instance, "e@example.test", "x" * 1024),
       "added user e@example.test\n")
    fail(instance.cli("user", "passwd", "e@example.test", "--password-stdin",
                      input="\n"), "empty password refused")


def test_user_password_at_limit_with_crlf(instance):
    # "end of line \n or \r\n removed, at most 1024 bytes"
    ok(instance.cli("user", "add", "f@example.test", "--password-stdin",
                    input="x" * 1024 + "\r\n"),
       "added user f@example.test\n")


def test_user_no_terminal(instance):
    r = run("-c", instance.conf, "user", "add", "t@example.test", input="",
            new_session=True)
    fail(r, "no terminal to read the password from (use --password-stdin)")
    r = run("-c", instance.conf, "user", "passwd", "demo@example.test",
            input="", new_session=True)
    fail(r, "no terminal to read the password from (use --password-stdin)")


def test_user_usage_errors(instance):
    bad_usage(instance.cli("user", "add"), "user", "user add: missing ADDRESS")
    bad_usage(instance.cli("user", "del"), "user", "user del: missing ADDRESS")
    bad_usage(instance.cli("user", "passwd"), "user",
              "user passwd: missing ADDRESS")
    bad_usage(instance.cli("user", "add", "a@example.test", "b", "c"),
              "user", 'unexpected argument "c"')
    bad_usage(instance.cli("user", "add", "a@example.test", "--quota", "2X"),
              "user", '--quota: invalid size "2X" %s' % SIZE_WHY)
    bad_usage(instance.cli("user", "add", "a@example.test",
                           "--quota-messages", "-5"),
              "user", '--quota-messages: invalid number "-5" '
              "(digits, or unlimited)")
    bad_usage(instance.cli("user", "add", "a@example.test", "--quota"),
              "user", "option --quota needs a value")
    bad_usage(instance.cli("user", "add", "a@example.test",
                           "--password-stdin=yes"),
              "user", "option --password-stdin takes no value")
    bad_usage(instance.cli("user", "del", "demo@example.test",
                           "--password-stdin"),
              "user", "user del has no --password-stdin")
    bad_usage(instance.cli("user", "passwd", "demo@example.test",
                           "--quota", "1G"),
              "user", "user passwd has no quota options")
    ok(instance.cli("user", "list"), DEMO)


def test_user_apop(instance):
    """user apop: set from stdin, replace, clear, and its errors."""
    ok(instance.cli("user", "apop", "Demo@Example.test", "--password-stdin",
                    input="tanstaaf\n"),
       "set APOP secret of demo@example.test\n")
    ok(instance.cli("user", "apop", "demo@example.test", "--password-stdin",
                    input="other\n"),
       "set APOP secret of demo@example.test\n")
    ok(instance.cli("user", "apop", "demo@example.test", "--clear"),
       "cleared APOP secret of demo@example.test\n")
    ok(instance.cli("user", "apop", "demo@example.test", "--clear"),
       "demo@example.test had no APOP secret\n")
    fail(instance.cli("user", "apop", "nobody@example.test",
                      "--password-stdin", input="x\n"),
         "user nobody@example.test does not exist")
    fail(instance.cli("user", "apop", "nobody@example.test", "--clear"),
         "user nobody@example.test does not exist")
    fail(instance.cli("user", "apop", "demo@example.test",
                      "--password-stdin", input="\n"),
         "empty password refused")
    fail(instance.cli("user", "apop", "demo@example.test",
                      "--password-stdin", input="x" * 256 + "\n"),
         "APOP secret must be 1 to 255 bytes")
    r = run("-c", instance.conf, "user", "apop", "demo@example.test",
            input="", new_session=True)
    fail(r, "no terminal to read the password from (use --password-stdin)")
    bad_usage(instance.cli("user", "apop"), "user",
              "user apop: missing ADDRESS")
    bad_usage(instance.cli("user", "apop", "demo@example.test", "--clear",
                           "--password-stdin"),
              "user", "user apop: --clear takes no secret")
    bad_usage(instance.cli("user", "del", "demo@example.test", "--clear"),
              "user", "user del has no --clear")
    bad_usage(instance.cli("user", "apop", "demo@example.test", "--quota",
                           "1G"),
              "user", "user apop has no quota options")
    # the secret is in the user database, and goes with the user
    ok(instance.cli("user", "apop", "demo@example.test", "--password-stdin",
                    input="tanstaaf\n"),
       "set APOP secret of demo@example.test\n")
    ok(instance.cli("user", "del", "demo@example.test"),
       "deleted user demo@example.test\n")
    assert add_user(instance, "demo@example.test").returncode == 0
    ok(instance.cli("user", "apop", "demo@example.test", "--clear"),
       "demo@example.test had no APOP secret\n")


# ---- alias ----

def test_alias_one_to_many_catch_all_list_del(instance):
    assert add_user(instance, "bob@example.test").returncode == 0
    ok(instance.cli("alias", "add", "Team@Example.test", "bob@example.test",
                    "Ext@Remote.NET"),
       "added alias team@example.test -> bob@example.test\n"
       "added alias team@example.test -> ext@remote.net\n")
    ok(instance.cli("alias", "add", "@Example.TEST", "bob@example.test"),
       "added alias @example.test -> bob@example.test\n")
    listing = ("@example.test\tbob@example.test\n"
               "postmaster@example.test\tdemo@example.test\n"
               "team@example.test\tbob@example.test\n"
               "team@example.test\text@remote.net\n")
    ok(instance.cli("alias", "list", "example.test"), listing)
    ok(instance.cli("alias", "list"), listing)
    ok(instance.cli("alias", "del", "team@example.test", "ext@remote.net"),
       "deleted alias team@example.test -> ext@remote.net\n")
    ok(instance.cli("alias", "list", "example.test"),
       "@example.test\tbob@example.test\n"
       "postmaster@example.test\tdemo@example.test\n"
       "team@example.test\tbob@example.test\n")
    ok(instance.cli("alias", "del", "team@example.test"),
       "deleted alias team@example.test\n")
    ok(instance.cli("alias", "del", "@example.test"),
       "deleted alias @example.test\n")
    ok(instance.cli("alias", "list"), "postmaster@example.test\tdemo@example.test\n")


def test_alias_list_by_domain(instance):
    instance.cli("domain", "add", "b.example")
    instance.cli("alias", "add", "x@b.example", "demo@example.test")
    instance.cli("alias", "add", "y@example.test", "demo@example.test")
    ok(instance.cli("alias", "list", "b.example"),
       "x@b.example\tdemo@example.test\n")
    ok(instance.cli("alias", "list", "example.test"),
       "postmaster@example.test\tdemo@example.test\ny@example.test\tdemo@example.test\n")
    fail(instance.cli("alias", "list", "nope.example"),
         "domain nope.example is not a local domain")


def test_alias_errors(instance):
    ok(instance.cli("alias", "add", "team@example.test", "bob@example.test"),
       "added alias team@example.test -> bob@example.test\n")
    fail(instance.cli("alias", "add", "team@example.test", "BOB@example.test"),
         "alias team@example.test already has target bob@example.test")
    fail(instance.cli("alias", "add", "a@example.test", "A@example.test"),
         "alias a@example.test cannot point to itself")
    fail(instance.cli("alias", "add", "demo@example.test", "x@y.org"),
         "demo@example.test already exists as a user")
    fail(instance.cli("alias", "add", "a@x.org", "demo@example.test"),
         "domain x.org is not a local domain")
    fail(instance.cli("alias", "add", "@x.org", "demo@example.test"),
         "domain x.org is not a local domain")
    fail(instance.cli("alias", "del", "nope@example.test"),
         "alias nope@example.test does not exist")
    fail(instance.cli("alias", "del", "team@example.test", "x@y.org"),
         "alias team@example.test has no target x@y.org")
    fail(instance.cli("alias", "add", "team@example.test", "a b@y.org"),
         'invalid address "a b@y.org": invalid character in local part')
    ok(instance.cli("alias", "list"),
       "postmaster@example.test\tdemo@example.test\nteam@example.test\tbob@example.test\n")


def test_alias_add_stops_at_first_failure(instance):
    instance.cli("alias", "add", "t@example.test", "b@y.org")
    r = instance.cli("alias", "add", "t@example.test", "a@y.org", "b@y.org",
                     "c@y.org")
    expect(r, 1, "added alias t@example.test -> a@y.org\n",
           "letterbox: alias t@example.test already has target b@y.org\n")
    ok(instance.cli("alias", "list"),
       "postmaster@example.test\tdemo@example.test\nt@example.test\ta@y.org\nt@example.test\tb@y.org\n")


def test_alias_64_targets(instance):
    targets = ["t%02d@y.org" % i for i in range(64)]
    r = instance.cli("alias", "add", "big@example.test", *targets)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 64
    fail(instance.cli("alias", "add", "big@example.test", "more@y.org"),
         "alias big@example.test already has 64 targets")


def test_alias_usage_errors(instance):
    bad_usage(instance.cli("alias", "add"), "alias",
              "alias add: missing ALIAS")
    bad_usage(instance.cli("alias", "add", "a@example.test"), "alias",
              "alias add: missing TARGET")
    bad_usage(instance.cli("alias", "del"), "alias",
              "alias del: missing ALIAS")
    bad_usage(instance.cli("alias", "add", "a@example.test", "--force"),
              "alias", 'unknown option "--force"')
    ok(instance.cli("alias", "list"), "postmaster@example.test\tdemo@example.test\n")


# ---- quota ----

def test_quota_set_show(instance):
    assert add_user(instance, "bob@example.test").returncode == 0
    ok(instance.cli("quota", "set", "Bob@example.test", "512M", "1000"),
       "address: bob@example.test\nquota: 512M\nmessages: 1000\n")
    ok(instance.cli("quota", "show", "bob@example.test"),
       "address: bob@example.test\nquota: 512M\nmessages: 1000\n")
    # without MESSAGES the message quota is kept
    ok(instance.cli("quota", "set", "bob@example.test", "5G"),
       "address: bob@example.test\nquota: 5G\nmessages: 1000\n")
    ok(instance.cli("user", "list", "example.test"),
       "bob@example.test\t5G\t1000\tactive\n" + DEMO)
    for given, shown in (("1536K", "1536K"), ("1500", "1500"),
                         ("1024", "1K"), ("2g", "2G"), ("1048576B", "1M"),
                         ("3t", "3T"), ("0", "unlimited"),
                         ("unlimited", "unlimited"), ("1025K", "1025K")):
        ok(instance.cli("quota", "set", "bob@example.test", given),
           "address: bob@example.test\nquota: %s\nmessages: 1000\n" % shown)
        # what is printed can be given back as input
        ok(instance.cli("quota", "set", "bob@example.test", shown),
           "address: bob@example.test\nquota: %s\nmessages: 1000\n" % shown)
    ok(instance.cli("quota", "set", "bob@example.test", "1G", "unlimited"),
       "address: bob@example.test\nquota: 1G\nmessages: unlimited\n")


def test_quota_errors(instance):
    fail(instance.cli("quota", "show", "Nobody@example.test"),
         "user nobody@example.test does not exist")
    fail(instance.cli("quota", "set", "nobody@example.test", "1G"),
         "user nobody@example.test does not exist")
    for size in ("5X", "G", "-1", "1.5G", "17179869184T", ""):
        bad_usage(instance.cli("quota", "set", "demo@example.test", size),
                  "quota", 'quota set: invalid size "%s" %s'
                  % (size, SIZE_WHY))
    bad_usage(instance.cli("quota", "set", "demo@example.test", "1G", "abc"),
              "quota", 'quota set: invalid number "abc" '
              "(digits, or unlimited)")
    bad_usage(instance.cli("quota", "set", "demo@example.test"), "quota",
              "quota set: missing SIZE")
    bad_usage(instance.cli("quota", "set"), "quota",
              "quota set: missing ADDRESS")
    bad_usage(instance.cli("quota", "show"), "quota",
              "quota show: missing ADDRESS")
    bad_usage(instance.cli("quota", "set", "demo@example.test", "1", "2",
                           "3"), "quota", 'unexpected argument "3"')
    ok(instance.cli("quota", "show", "demo@example.test"),
       "address: demo@example.test\nquota: 1G\nmessages: unlimited\n")


# ---- changes seen by a running authd ----

def test_running_authd_sees_cli_changes_at_once(running):
    c = running.auth()
    try:
        assert c.resolve("bob@example.test") == ("unknown", [])
        ok(add_user(running, "Bob@Example.test", "pw one"),
           "added user bob@example.test\n")
        assert c.check("bob@example.test", "pw one")[:2] == \
            (lbtest.IPC_AUTH_OK, "bob@example.test")
        assert c.resolve("bob@example.test") == \
            ("local", [("bob@example.test", "mailbox")])
        ok(running.cli("user", "passwd", "bob@example.test",
                       "--password-stdin", input="pw two\r\n"),
           "changed password of bob@example.test\n")
        assert c.check("bob@example.test", "pw two",
                       ip="192.0.2.30")[0] == lbtest.IPC_AUTH_OK
        assert c.check("bob@example.test", "pw one",
                       ip="192.0.2.31")[0] == lbtest.IPC_AUTH_FAIL

        running.cli("alias", "add", "team@example.test", "bob@example.test",
                    "ext@remote.net")
        assert c.resolve("team@example.test") == \
            ("local", [("bob@example.test", "mailbox"),
                       ("ext@remote.net", "forward")])
        assert c.resolve("who@example.test") == ("unknown", [])
        running.cli("alias", "add", "@example.test", "bob@example.test")
        assert c.resolve("who@example.test") == \
            ("local", [("bob@example.test", "mailbox")])
        running.cli("alias", "del", "@example.test")
        assert c.resolve("who@example.test") == ("unknown", [])

        # a new domain is local at once; deleting it makes it remote
        assert c.resolve("x@new.example")[0] == "remote"
        running.cli("domain", "add", "new.example")
        assert c.resolve("x@new.example") == ("unknown", [])
        assert add_user(running, "x@new.example", "pw x").returncode == 0
        assert c.check("x@new.example", "pw x",
                       ip="192.0.2.32")[0] == lbtest.IPC_AUTH_OK
        ok(running.cli("domain", "del", "new.example", "--force"),
           "deleted domain new.example\n")
        assert c.resolve("x@new.example")[0] == "remote"
        assert c.check("x@new.example", "pw x",
                       ip="192.0.2.33")[0] == lbtest.IPC_AUTH_FAIL

        ok(running.cli("user", "del", "bob@example.test"),
           "deleted user bob@example.test\n")
        assert c.check("bob@example.test", "pw two",
                       ip="192.0.2.34")[0] == lbtest.IPC_AUTH_FAIL
        # the alias is left; its local target now resolves to nothing
        assert c.resolve("team@example.test") == \
            ("local", [("ext@remote.net", "forward")])
    finally:
        c.close()
    assert running.proc.poll() is None


def test_first_user_of_a_domain_becomes_postmaster(instance):
    """RFC 5321 4.5.1: every domain takes mail for postmaster; the CLI
    gives a new domain's first user that alias, and only when nothing
    else answers for postmaster."""
    ok(instance.cli("domain", "add", "example.org"),
       "added domain example.org\n")
    ok(add_user(instance, "ann@example.org"),
       "added user ann@example.org\n"
       "added alias postmaster@example.org -> ann@example.org "
       "(RFC 5321 4.5.1: every domain needs a postmaster)\n")
    ok(add_user(instance, "bo@example.org"), "added user bo@example.org\n")
    ok(instance.cli("alias", "list", "example.org"),
       "postmaster@example.org\tann@example.org\n")
    ok(instance.cli("domain", "add", "example.net"),
       "added domain example.net\n")
    ok(instance.cli("alias", "add", "@example.net", "ann@example.org"),
       "added alias @example.net -> ann@example.org\n")
    # the catch-all already answers for postmaster: no alias
    ok(add_user(instance, "cy@example.net"), "added user cy@example.net\n")
