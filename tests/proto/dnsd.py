"""A small authoritative DNS server for tests (RFC 1035), standard library only.

    d = DnsServer()            # loopback, a free port, UDP and TCP
    d.records["example.test"] = {"MX": [(10, "mx1.example.test")]}
    d.records["mx1.example.test"] = {"A": ["127.0.0.2"], "AAAA": ["::1"]}
    d.records["alias.test"] = {"CNAME": "mx1.example.test"}
    d.records["bad.test"] = "SERVFAIL"     # or "NXDOMAIN", "REFUSED", "DROP"
    d.start(); ... d.port ...; d.stop()

Names missing from records get NXDOMAIN; a name present without the asked
type gets NOERROR with no answer (NODATA).  A CNAME is followed within
records and the chain put in the answer.  "MX 0 ." is (0, ".").
"""
import socket
import struct
import threading

QTYPES = {1: "A", 5: "CNAME", 15: "MX", 28: "AAAA"}
RCODE = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}


def _name(n):
    n = n.rstrip(".")
    out = b""
    if n:
        for label in n.split("."):
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _read_qname(msg, off):
    labels = []
    while True:
        ln = msg[off]
        off += 1
        if ln == 0:
            return ".".join(labels).lower(), off
        if ln & 0xC0:
            raise ValueError("compressed question name")
        labels.append(msg[off:off + ln].decode("ascii", "replace"))
        off += ln


class DnsServer:
    def __init__(self, host="127.0.0.1", port=0):
        self.records = {}
        self.host = host
        # one port number for both: the UDP port the kernel picks may be
        # taken for TCP (an ephemeral port of some connection), then
        # another one is tried (bounded)
        for attempt in range(20):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((host, port))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
                if port != 0 or attempt == 19:
                    raise
        self.tcp.listen(16)
        self.queries = []        # (name, type) seen, for tests
        self._stop = False
        self._threads = []

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def _rr(self, name, typ, val):
        if typ == "A":
            data = socket.inet_pton(socket.AF_INET, val)
        elif typ == "AAAA":
            data = socket.inet_pton(socket.AF_INET6, val)
        elif typ == "CNAME":
            data = _name(val)
        else:
            data = struct.pack("!H", val[0]) + _name(val[1])
        code = {v: k for k, v in QTYPES.items()}[typ]
        return _name(name) + struct.pack("!HHIH", code, 1, 300,
                                         len(data)) + data

    def answer(self, query, limit=65535):
        """The reply to one query message, or None to stay silent.  Over
        limit bytes (512 on UDP, RFC 1035 4.2.1): no answer, TC set."""
        if len(query) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        if qd != 1:
            return struct.pack("!HHHHHH", qid, 0x8001 | (flags & 0x0100),
                               0, 0, 0, 0)
        name, off = _read_qname(query, 12)
        qtype, qclass = struct.unpack("!HH", query[off:off + 4])
        question = query[12:off + 4]
        self.queries.append((name, QTYPES.get(qtype, qtype)))
        rcode, answers = 0, []
        cur, seen = name, set()
        while True:
            ent = self.records.get(cur)
            if ent is None:
                rcode = 3 if cur == name else 0
                break
            if isinstance(ent, str):
                if ent == "DROP":
                    return None
                rcode = RCODE[ent]
                break
            want = QTYPES.get(qtype)
            if want in ent:
                vals = ent[want]
                for v in (vals if isinstance(vals, list) else [vals]):
                    answers.append(self._rr(cur, want, v))
                break
            if "CNAME" in ent and cur not in seen:
                seen.add(cur)
                answers.append(self._rr(cur, "CNAME", ent["CNAME"]))
                cur = ent["CNAME"].rstrip(".").lower()
                continue
            break
        flags = 0x8400 | (flags & 0x0100) | rcode
        if 12 + len(question) + sum(map(len, answers)) > limit:
            flags, answers = flags | 0x0200, []
        hdr = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0)
        return hdr + question + b"".join(answers)

    def _serve_udp(self):
        while not self._stop:
            try:
                msg, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            try:
                r = self.answer(msg, 512)
            except (ValueError, IndexError, struct.error):
                continue
            if r is not None and not self._stop:
                self.udp.sendto(r, peer)

    def _serve_tcp(self):
        while not self._stop:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_conn, args=(c,),
                             daemon=True).start()

    def _serve_conn(self, c):
        """Queries on one TCP connection, each with its 2-byte length
        (RFC 1035 4.2.2); a client may send several before reading."""
        def recv_n(n):
            data = b""
            while len(data) < n:
                part = c.recv(n - len(data))
                if not part:
                    raise EOFError
                data += part
            return data
        with c:
            c.settimeout(10)
            try:
                while not self._stop:
                    ln = struct.unpack("!H", recv_n(2))[0]
                    r = self.answer(recv_n(ln))
                    if r is not None:
                        c.sendall(struct.pack("!H", len(r)) + r)
            except (OSError, EOFError, ValueError, IndexError,
                    struct.error):
                pass

    def start(self):
        for f in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=f, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self._threads:
            t.join(5)
