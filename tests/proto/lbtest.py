"""Letterbox integration harness: make an instance with `letterbox init`,
run letterboxd in the foreground, talk to it, and always stop it by PID."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

BUILD = os.environ.get("LB_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "san")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# ipc_msg.h
IPC_AUTH_CHECK, IPC_AUTH_RESOLVE, IPC_AUTH_USERINFO = 100, 101, 102
IPC_AUTH_OK, IPC_AUTH_FAIL, IPC_AUTH_TEMPFAIL = 150, 151, 152
IPC_AUTH_RESOLVED, IPC_AUTH_USER, IPC_AUTH_ERROR = 153, 154, 155
IPC_AUTH_SASL_MECHS, IPC_AUTH_SASL_START = 103, 104
IPC_AUTH_SASL_STEP, IPC_AUTH_SASL_ABORT = 105, 106
IPC_AUTH_SASL_MECHLIST, IPC_AUTH_SASL_CHALLENGE = 156, 157
STD_PORTS = {"smtp": 25, "submission": 587, "submissions": 465,
             "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}

# Sanitizer builds: leaks are reported at exit; make them fail loudly.
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def prog(name):
    return os.path.join(BUILD, name)


def port_free(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError as e:
            if fam == socket.AF_INET6 and e.errno == 99:  # no ::1 here
                continue
            return False
        finally:
            s.close()
    return True


_OFFSETS_LIVE = set()		# offsets of Instances not yet cleaned up


def free_offset():
    """A port offset at which every standard port plus it is free.  The
    ports stay below the kernel's ephemeral range (32768 and up): an
    outgoing connection or a test's bind(0) can never take one between
    this check and the instance's bind.  Offsets of live Instances are
    skipped, so two made before either starts (a sender and its MX)
    never share one."""
    import random
    for _ in range(200):
        off = random.randrange(2000, 32000, 1000)
        if off in _OFFSETS_LIVE:
            continue
        if all(port_free(p + off) for p in STD_PORTS.values()):
            return off
    raise RuntimeError("no free port offset found")


def ipc_str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<I", len(b)) + b


def ipc_frame(mtype, reqid, payload):
    return struct.pack("<IIQ", mtype, len(payload), reqid) + payload


class IpcReader:
    def __init__(self, payload):
        self.p, self.o = payload, 0

    def u32(self):
        v = struct.unpack_from("<I", self.p, self.o)[0]
        self.o += 4
        return v

    def u64(self):
        v = struct.unpack_from("<Q", self.p, self.o)[0]
        self.o += 8
        return v

    def str(self):
        n = self.u32()
        v = self.p[self.o:self.o + n]
        assert len(v) == n
        self.o += n
        return v.decode()

    def bytes(self):
        n = self.u32()
        v = self.p[self.o:self.o + n]
        assert len(v) == n
        self.o += n
        return v

    def end(self):
        assert self.o == len(self.p), "trailing bytes in payload"


class AuthClient:
    """Speaks the framed IPC protocol to authd like smtpd or imapd would."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.reqid = 0

    def close(self):
        self.s.close()

    def send(self, mtype, payload):
        self.reqid += 1
        self.s.sendall(ipc_frame(mtype, self.reqid, payload))
        return self.reqid

    def recv(self):
        hdr = self._read(16)
        mtype, length, reqid = struct.unpack("<IIQ", hdr)
        return mtype, reqid, IpcReader(self._read(length))

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise EOFError("authd closed the connection")
            out += chunk
        return out

    def check(self, user, password, service="imap", ip="127.0.0.1"):
        """Returns (reply type, text, seconds taken)."""
        t0 = time.monotonic()
        rid = self.send(IPC_AUTH_CHECK, ipc_str(user) + ipc_str(password) +
                        ipc_str(service) + ipc_str(ip))
        mtype, reqid, r = self.recv()
        took = time.monotonic() - t0
        assert reqid == rid
        if mtype == IPC_AUTH_OK:
            text = r.str()
        elif mtype == IPC_AUTH_FAIL:
            r.u32()
            text = r.str()
        else:
            text = r.str()
        r.end()
        return mtype, text, took

    # SASL (ipc_msg.h IPC_AUTH_SASL_*): raw SASL bytes, no base64.

    def sasl_mechs(self):
        rid = self.send(IPC_AUTH_SASL_MECHS, b"")
        mtype, reqid, r = self.recv()
        assert reqid == rid and mtype == IPC_AUTH_SASL_MECHLIST, mtype
        text = r.str()
        r.end()
        return text

    def sasl_start_send(self, sid, mech, initial=None, service="smtp",
                        ip="127.0.0.1"):
        """Send a START; initial None means no initial response."""
        if isinstance(initial, str):
            initial = initial.encode()
        return self.send(IPC_AUTH_SASL_START,
                         struct.pack("<Q", sid) + ipc_str(mech) +
                         ipc_str(service) + ipc_str(ip) +
                         struct.pack("<I", 0 if initial is None else 1) +
                         ipc_str(initial or b""))

    def sasl_step_send(self, sid, response):
        if isinstance(response, str):
            response = response.encode()
        return self.send(IPC_AUTH_SASL_STEP,
                         struct.pack("<Q", sid) + ipc_str(response))

    def sasl_abort(self, sid):
        """ABORT has no reply."""
        return self.send(IPC_AUTH_SASL_ABORT, struct.pack("<Q", sid))

    def sasl_reply(self, rid, sid=None):
        """Read the answer to request rid: ("challenge", bytes), ("ok",
        address), ("fail", reason, text) or ("tempfail", text)."""
        mtype, reqid, r = self.recv()
        assert reqid == rid, (reqid, rid, mtype)
        if mtype == IPC_AUTH_SASL_CHALLENGE:
            got_sid = r.u64()
            assert sid is None or got_sid == sid, (got_sid, sid)
            out = ("challenge", r.bytes())
        elif mtype == IPC_AUTH_OK:
            out = ("ok", r.str())
        elif mtype == IPC_AUTH_FAIL:
            out = ("fail", r.u32(), r.str())
        elif mtype == IPC_AUTH_TEMPFAIL:
            out = ("tempfail", r.str())
        else:
            raise AssertionError("unexpected reply type %d" % mtype)
        r.end()
        return out

    def sasl_start(self, sid, mech, initial=None, service="smtp",
                   ip="127.0.0.1"):
        """START and wait: (answer as sasl_reply, seconds taken)."""
        t0 = time.monotonic()
        rid = self.sasl_start_send(sid, mech, initial, service, ip)
        out = self.sasl_reply(rid, sid)
        return out, time.monotonic() - t0

    def sasl_step(self, sid, response):
        t0 = time.monotonic()
        rid = self.sasl_step_send(sid, response)
        out = self.sasl_reply(rid, sid)
        return out, time.monotonic() - t0

    def resolve(self, address):
        rid = self.send(IPC_AUTH_RESOLVE, ipc_str(address))
        mtype, reqid, r = self.recv()
        assert reqid == rid and mtype == IPC_AUTH_RESOLVED, mtype
        kind, n = r.u32(), r.u32()
        targets = []
        for _ in range(n):
            flags = r.u32()
            targets.append((r.str(), "mailbox" if flags == 1 else "forward"))
        r.end()
        return {1: "local", 2: "unknown", 3: "remote"}[kind], targets


class Instance:
    """One Letterbox instance in its own directory."""

    def __init__(self, domain="example.test", extra_conf=""):
        # mkdtemp makes 0700 directories; daemons running as their own
        # users (when the tests run as root) must be able to traverse.
        self.dir = tempfile.mkdtemp(prefix="lbtest-")
        os.chmod(self.dir, 0o755)
        self.domain = domain
        self.offset = free_offset()
        _OFFSETS_LIVE.add(self.offset)
        self.proc = None
        self.log_path = os.path.join(self.dir, "letterboxd.log")
        self.logf = None
        self.inst = os.path.join(self.dir, "inst")
        r = self.cli("init", self.inst, "--domain", domain,
                     "--port-offset", str(self.offset), conf=False)
        assert r.returncode == 0, r.stderr
        self.init_out = r.stdout
        self.conf = os.path.join(self.inst, "letterbox.conf")
        with open(os.path.join(self.inst, "demo-password")) as f:
            self.demo_password = f.read().strip()
        self.demo_user = "demo@" + domain
        # Tests use loopback only: no DNS query may leave the machine.
        # Nothing answers on the discard port, so MX lookups fail at once
        # (temporary: remote recipients stay deferred in the queue);
        # tests of MX delivery point queued.resolver at tests/proto/dnsd.py.
        self.edit_conf("queued.resolver = 127.0.0.1:9")
        if extra_conf:
            self.edit_conf(extra_conf)

    def port(self, name):
        return STD_PORTS[name] + self.offset

    def edit_conf(self, extra):
        """Set keys: extra is 'section.key = value' lines (or 'key = value'
        for global keys); each replaces the key in its block or adds it."""
        with open(self.conf) as f:
            text = f.read()
        for line in extra.strip().splitlines():
            k, v = [x.strip() for x in line.split("=", 1)]
            section, _, key = k.rpartition(".")
            text = set_key(text, section, key, v)
        with open(self.conf, "w") as f:
            f.write(text)

    def env(self):
        e = dict(os.environ)
        e.update(SAN_ENV)
        return e

    def cli(self, *args, input=None, conf=True, timeout=60):
        cmd = [prog("letterbox")]
        if conf:
            cmd += ["-c", self.conf]
        cmd += list(args)
        return subprocess.run(cmd, input=input, capture_output=True,
                              text=True, timeout=timeout, env=self.env())

    def start(self, wait=True):
        # a restart appends to the same log: wait for a new "ready"
        since = len(self.log()) if os.path.exists(self.log_path) else 0
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [prog("letterboxd"), "-c", self.conf], stdin=subprocess.DEVNULL,
            stdout=self.logf, stderr=self.logf, env=self.env(),
            start_new_session=True)
        if wait:
            self.wait_log(r"event=ready", timeout=30, since=since)
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=20, count=1, since=0):
        """Wait until pattern occurs count times in the log after byte
        offset since; returns the matches."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            text = self.log()[since:]
            found = rx.findall(text)
            if len(found) >= count:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("letterboxd exited (%s) waiting for %r:\n%s"
                                     % (self.proc.returncode, pattern, text))
            if time.monotonic() > deadline:
                raise AssertionError("timeout waiting for %r:\n%s"
                                     % (pattern, text))
            time.sleep(0.05)

    def log_size(self):
        return os.path.getsize(self.log_path)

    def daemon_pids(self, name):
        """PIDs of running children called name, from the log."""
        pids = [int(p) for p in re.findall(
            r"event=daemon-start daemon=%s pid=(\d+)" % name, self.log())]
        return [p for p in pids if pid_alive(p)]

    @property
    def auth_sock(self):
        return os.path.join(self.inst, "state", "run", "authd.sock")

    def auth(self):
        return AuthClient(self.auth_sock)

    def stop(self, sig=signal.SIGTERM, timeout=20, check=True):
        """Stop letterboxd by PID; returns its exit code.  Any child left
        over (there should be none) is killed by its process group, which
        is letterboxd's PID, and reported."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait(10)
        leftovers = pgroup_pids(self.proc.pid)
        if leftovers:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        if check:
            assert not leftovers, "processes left after stop: %r" % leftovers
        return rc

    def cleanup(self):
        try:
            self.stop(check=False)
        finally:
            _OFFSETS_LIVE.discard(self.offset)
            subprocess.run(["rm", "-rf", self.dir])


def set_key(text, section, key, value):
    """Replace or add `key = value` in block `section` ('' for global)."""
    lines = text.splitlines()
    depth, cur, insert_at, start = 0, "", None, None
    for i, line in enumerate(lines):
        s = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z_]+(?:\s+[A-Za-z_]+)?)\s*\{$", s)
        if m and depth == 0:
            cur, depth, start = m.group(1), 1, i
            continue
        if s == "}" and depth == 1:
            if cur == section:
                insert_at = i
            depth, cur = 0, ""
            continue
        km = re.match(r"^([A-Za-z_]+)\s*=", s)
        if km and km.group(1) == key and cur == section:
            indent = "\t" if section else ""
            lines[i] = "%s%s = %s" % (indent, key, value)
            return "\n".join(lines) + "\n"
    if section == "":
        lines.insert(0, "%s = %s" % (key, value))
    elif insert_at is not None:
        lines.insert(insert_at, "\t%s = %s" % (key, value))
    else:
        lines += ["", "%s {" % section, "\t%s = %s" % (key, value), "}"]
    return "\n".join(lines) + "\n"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def pgroup_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().split(")")[-1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


# ---------------------------------------------------------------------------
# SMTP: a raw line client and the dialog player (tests/proto/smtp/*.dlg).

class RawConn:
    """A plain (or TLS) socket that sends bytes as given and reads reply
    lines; nothing is normalised, so tests can send broken protocol."""

    def __init__(self, port, host="127.0.0.1", timeout=10, tls=False):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.rbuf = b""
        self.timeout = timeout
        if tls:
            self.starttls()

    def starttls(self):
        """Wrap the socket in TLS (after a 220 to STARTTLS, or at once on
        an implicit-TLS port).  Bytes already read are kept."""
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s)
        return self.s

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def cmd(self, line):
        """Send one command line with CRLF."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")

    def line(self, timeout=None):
        """One reply line without its CRLF (str), or None at EOF."""
        self.s.settimeout(timeout or self.timeout)
        while b"\n" not in self.rbuf:
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self.rbuf:
                    out, self.rbuf = self.rbuf, b""
                    return out.decode(errors="replace")
                return None
            self.rbuf += chunk
        out, self.rbuf = self.rbuf.split(b"\n", 1)
        return out.rstrip(b"\r").decode(errors="replace")

    def reply(self, timeout=None):
        """One complete (possibly multi-line) reply: (code, [texts]);
        (None, []) at EOF."""
        texts = []
        while True:
            ln = self.line(timeout)
            if ln is None:
                return None, texts
            texts.append(ln[4:])
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), texts

    def reply_line(self, timeout=None):
        """A one-line reply as "CODE TEXT" (continuations joined by |)."""
        code, texts = self.reply(timeout)
        if code is None:
            return None
        return "%d %s" % (code, "|".join(texts))

    def at_eof(self, timeout=5):
        """True if the server closes the connection (within timeout)
        without sending anything more."""
        return self.line(timeout) is None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


DLG_ESC = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)|\$\((.)\*(\d+)\)")


def dlg_bytes(text):
    """Unescape a dialog C:/R: argument: \\r \\n \\0 \\t \\xHH \\\\, and
    $(c*N) for N copies of the character c."""
    def sub(m):
        if m.group(2) is not None:
            return m.group(2) * int(m.group(3))
        e = m.group(1)
        if e[:1] == b"x":
            return bytes([int(e[1:], 16)])
        return {b"r": b"\r", b"n": b"\n", b"0": b"\0", b"t": b"\t",
                b"\\": b"\\", b"$": b"$"}.get(e, b"\\" + e)
    return DLG_ESC.sub(sub, text.encode())


def dlg_load(path):
    """The directives of a dialog file: ([conf lines], port name, steps)."""
    conf, port, steps = [], "smtp", []
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            tag, _, arg = line.partition(":")
            arg = arg[1:] if arg.startswith(" ") else arg
            if tag == "@conf":
                conf.append(arg)
            elif tag == "@port":
                port = arg.strip()
            elif tag in ("C", "R", "S", "S*", "W"):
                steps.append((n, tag, arg))
            else:
                raise ValueError("%s:%d: unknown directive %r"
                                 % (path, n, tag))
    return conf, port, steps


def dlg_match(pattern, line):
    """Simple wildcards: * any run of characters, ? one character."""
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
                 for ch in pattern)
    return re.fullmatch(rx, line, re.S) is not None


def play_dialog(path, port, host="127.0.0.1", timeout=10):
    """Play a dialog file against a running server on port.

      # comment             ignored, as are blank lines
      @conf: smtpd.x = y    config the instance needs (read by the caller)
      @port: smtp           the listener to talk to (read by the caller)
      C: text               send text + CRLF (escapes: see dlg_bytes)
      R: text               send text as is, no CRLF added
      S: pattern            the next reply line must match the pattern;
                            "S: <EOF>" means the server closes now
      S*: pattern           skip "NNN-" continuation lines, then match
      W: 0.5                sleep this many seconds

    Returns the transcript; raises AssertionError (with the transcript) at
    the first mismatch."""
    _, _, steps = dlg_load(path)
    c = RawConn(port, host=host, timeout=timeout)
    log = []
    try:
        for n, tag, arg in steps:
            if tag == "C":
                data = dlg_bytes(arg) + b"\r\n"
                log.append("C: %r" % data[:120])
                c.send(data)
            elif tag == "R":
                data = dlg_bytes(arg)
                log.append("R: %r" % data[:120])
                c.send(data)
            elif tag == "W":
                time.sleep(float(arg))
            else:
                got = c.line()
                while (tag == "S*" and got is not None and len(got) > 3
                       and got[3] == "-"):
                    log.append("S: %s" % got)
                    got = c.line()
                log.append("S: %s" % ("<EOF>" if got is None else got))
                want_eof = arg.strip() == "<EOF>"
                ok = (got is None) if want_eof else (
                    got is not None and dlg_match(arg, got))
                if not ok:
                    raise AssertionError(
                        "%s:%d: expected %r, got %r\ntranscript:\n%s"
                        % (path, n, arg, got, "\n".join(log)))
    finally:
        c.close()
    return log


# SMTP test fixtures: the users and aliases, and reading the spool.

SMTP_BOB_PASSWORD = "bob-password-1"


def smtp_users(inst):
    """bob (password SMTP_BOB_PASSWORD), team -> bob, bobby -> bob,
    jürgen -> demo (UTF-8 local part), zoë (a UTF-8 user), and the
    catch-all @catch.test -> demo."""
    d = inst.domain
    for args in (("user", "add", "bob@" + d, "--password-stdin"),
                 ("user", "add", "zoë@" + d, "--password-stdin"),
                 ("alias", "add", "team@" + d, "bob@" + d),
                 ("alias", "add", "bobby@" + d, "bob@" + d),
                 ("alias", "add", "jürgen@" + d, inst.demo_user),
                 ("domain", "add", "catch.test"),
                 ("alias", "add", "@catch.test", inst.demo_user)):
        r = inst.cli(*args, input=SMTP_BOB_PASSWORD + "\n")
        assert r.returncode == 0, (args, r.stderr)


def hold_delivery(inst):
    """Keep every message in spool/queue/: remove RUN_DIR/lmtp.sock (the
    MDA keeps its listening descriptor but nobody can reach it), so
    queued finds no MDA and defers local mail instead of delivering and
    removing it.  For tests that look at spool files after the 250."""
    try:
        os.unlink(os.path.join(inst.inst, "state", "run", "lmtp.sock"))
    except FileNotFoundError:
        pass
    return inst


def spool_dir(inst, sub="queue"):
    return os.path.join(inst.inst, "state", "spool", sub)


def spool_ids(inst, sub="queue"):
    try:
        return sorted(os.listdir(spool_dir(inst, sub)))
    except FileNotFoundError:
        return []


def spool_read(inst, qid):
    """(envelope text, message bytes) of spool/queue/qid."""
    with open(os.path.join(spool_dir(inst), qid), "rb") as f:
        data = f.read()
    env, _, msg = data.partition(b"\n\n")
    return env.decode(), msg


def received_split(msg):
    """(our Received: header with its folded lines, the rest)."""
    assert msg.startswith(b"Received: "), msg[:80]
    end = 0
    while True:
        nl = msg.index(b"\r\n", end) + 2
        end = nl
        if msg[end:end + 1] not in (b"\t", b" "):
            return msg[:end], msg[end:]


def queued_id(reply):
    """The queue id in "250 2.0.0 Ok: queued as ID", or None."""
    m = re.search(r"queued as ([0-9a-f]{16})\b", reply or "")
    return m.group(1) if m else None
