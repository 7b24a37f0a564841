"""queued over its real socket: create, commit, abort, checks, crashes."""
# SPDX-License-Identifier: ISC

import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

import lbtest
from lbtest import ipc_frame, ipc_str, IpcReader

# ipc_msg.h
IPC_QUEUE_CREATE, IPC_QUEUE_COMMIT, IPC_QUEUE_ABORT = 200, 201, 202
IPC_QUEUE_CREATED, IPC_QUEUE_COMMITTED = 250, 251
IPC_QUEUE_TEMPFAIL, IPC_QUEUE_ERROR = 252, 253


class QueueClient:
    """Speaks the queue protocol like smtpd does (docs/queue.md)."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.reqid = 0
        self.rbuf = b""
        self.fds = []

    def close(self):
        self.s.close()
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def send(self, mtype, payload=b""):
        self.reqid += 1
        self.s.sendall(ipc_frame(mtype, self.reqid, payload))
        return self.reqid

    def _fill(self, n):
        while len(self.rbuf) < n:
            data, fds, _, _ = socket.recv_fds(self.s, 65536, 4)
            self.fds += fds
            if not data:
                raise EOFError("queued closed the connection")
            self.rbuf += data

    def recv(self):
        """(type, reqid, reader, fd or None)."""
        self._fill(16)
        mtype, length, reqid = struct.unpack("<IIQ", self.rbuf[:16])
        self._fill(16 + length)
        payload = self.rbuf[16:16 + length]
        self.rbuf = self.rbuf[16 + length:]
        fd = self.fds.pop(0) if self.fds else None
        return mtype, reqid, IpcReader(payload), fd

    def create(self):
        """Returns (id, write fd)."""
        rid = self.send(IPC_QUEUE_CREATE)
        mtype, reqid, r, fd = self.recv()
        assert (mtype, reqid) == (IPC_QUEUE_CREATED, rid), mtype
        qid = r.str()
        r.end()
        assert fd is not None
        return qid, fd

    def commit(self, qid, size):
        """Returns (reply type, text)."""
        rid = self.send(IPC_QUEUE_COMMIT, ipc_str(qid) +
                        struct.pack("<Q", size))
        mtype, reqid, r, fd = self.recv()
        assert reqid == rid and fd is None
        text = r.str()
        r.end()
        return mtype, text

    def abort(self, qid):
        self.send(IPC_QUEUE_ABORT, ipc_str(qid))


# A remote recipient: queued now delivers, and a remote message stays in
# queue/ (the tests' resolver answers nothing: deferred), so these tests can look at
# the files they committed (a local one would be bounced or delivered).
def envelope(qid, rcpts=("bob@remote.example",), sender="alice@example.org"):
    lines = ["LBENV 1", "id " + qid, "arrival %d" % int(time.time()),
             "from " + sender, "body 8bitmime",
             "client 127.0.0.1 client.example"]
    lines += ["rcpt " + r for r in rcpts]
    return ("\n".join(lines) + "\n\n").encode()


def message(qid, n=0):
    return envelope(qid) + (
        "Received: from client.example by test\r\n"
        "Subject: test %d\r\n\r\nbody of %s\r\n" % (n, qid)).encode()




def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def spool(inst, sub=""):
    return os.path.join(inst.inst, "state", "spool", sub)


def qsock(inst):
    return os.path.join(inst.inst, "state", "run", "queued.sock")


def listdir(inst, sub):
    return sorted(os.listdir(spool(inst, sub)))


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def submit(c, n=0):
    qid, fd = c.create()
    data = message(qid, n)
    write_all(fd, data)
    os.close(fd)
    return qid, data, c.commit(qid, len(data))


def test_create_write_commit(running):
    c = QueueClient(qsock(running))
    qid, fd = c.create()
    assert re.fullmatch(r"[0-9a-f]{16}", qid)
    # the id starts with the arrival time
    assert abs(int(qid[:8], 16) - int(time.time())) < 60
    assert listdir(running, "tmp") == [qid]
    # write-only: smtpd cannot read, not even its own file
    with pytest.raises(OSError):
        os.read(fd, 1)
    data = message(qid)
    write_all(fd, data)
    os.close(fd)
    assert c.commit(qid, len(data)) == (IPC_QUEUE_COMMITTED, qid)
    with open(os.path.join(spool(running, "queue"), qid), "rb") as f:
        assert f.read() == data
    assert listdir(running, "tmp") == []
    running.wait_log(r"event=queued id=%s from=<alice@example.org> rcpts=1 "
                     r"size=%d" % (qid, len(data)))
    c.close()


def test_abort_removes_file(running):
    c = QueueClient(qsock(running))
    qid, fd = c.create()
    write_all(fd, b"LBENV 1\npartial")
    os.close(fd)
    c.abort(qid)
    assert wait_for(lambda: qid not in listdir(running, "tmp"))
    running.wait_log(r"event=aborted id=%s" % qid)
    # aborting again, or a made-up id, is harmless
    c.abort(qid)
    c.abort("../../etc/passwd")
    qid2, data2, rep = submit(c)
    assert rep == (IPC_QUEUE_COMMITTED, qid2)
    assert listdir(running, "queue") == [qid2]
    c.close()


def test_disconnect_removes_uncommitted(running):
    c = QueueClient(qsock(running))
    ids = [c.create() for _ in range(3)]
    for qid, fd in ids:
        write_all(fd, b"LBENV 1\n")
        os.close(fd)
    assert len(listdir(running, "tmp")) == 3
    c.close()
    assert wait_for(lambda: listdir(running, "tmp") == [])
    assert listdir(running, "queue") == []


def test_size_mismatch_and_bad_envelopes(running):
    c = QueueClient(qsock(running))
    # size mismatch
    qid, fd = c.create()
    data = message(qid)
    write_all(fd, data)
    os.close(fd)
    t, text = c.commit(qid, len(data) + 1)
    assert (t, text) == (IPC_QUEUE_TEMPFAIL, "size mismatch")
    # the file is gone: a second commit knows nothing of it
    assert c.commit(qid, len(data)) == (IPC_QUEUE_TEMPFAIL, "unknown id")
    running.wait_log(r"event=commit-failed id=%s reason=\"size mismatch\""
                     % qid)
    cases = [
        lambda q: b"not an envelope\n\nbody\r\n",
        lambda q: envelope("0123456789abcdef") + b"body\r\n",   # wrong id
        lambda q: envelope(q, rcpts=()) + b"body\r\n",          # no rcpt
        lambda q: b"LBENV 1\nid " + q.encode() + b"\n",         # no end
        lambda q: b"",
    ]
    for make in cases:
        qid, fd = c.create()
        data = make(qid)
        write_all(fd, data)
        os.close(fd)
        t, text = c.commit(qid, len(data))
        assert t == IPC_QUEUE_TEMPFAIL, (data, text)
    assert listdir(running, "queue") == []
    assert listdir(running, "tmp") == []
    c.close()


def test_only_own_files(running):
    a = QueueClient(qsock(running))
    b = QueueClient(qsock(running))
    qid, fd = a.create()
    data = message(qid)
    write_all(fd, data)
    os.close(fd)
    # b cannot commit or abort a's file
    assert b.commit(qid, len(data)) == (IPC_QUEUE_TEMPFAIL, "unknown id")
    b.abort(qid)
    assert b.commit("../tmp/" + qid, 1)[0] == IPC_QUEUE_TEMPFAIL
    assert a.commit(qid, len(data)) == (IPC_QUEUE_COMMITTED, qid)
    a.close()
    b.close()


def test_open_file_limit(running):
    c = QueueClient(qsock(running))
    ids = [c.create() for _ in range(64)]
    rid = c.send(IPC_QUEUE_CREATE)
    mtype, reqid, r, fd = c.recv()
    assert (mtype, reqid, fd) == (IPC_QUEUE_TEMPFAIL, rid, None)
    for qid, fd in ids:
        os.close(fd)
    # after an abort there is room again
    c.abort(ids[0][0])
    qid, fd = c.create()
    os.close(fd)
    c.close()
    assert wait_for(lambda: listdir(running, "tmp") == [])


def test_malformed_request_closes_connection(running):
    c = QueueClient(qsock(running))
    qid, fd = c.create()
    os.close(fd)
    # a COMMIT whose string runs past the payload
    c.s.sendall(ipc_frame(IPC_QUEUE_COMMIT, 9, struct.pack("<I", 100) + b"x"))
    mtype, reqid, r, fd = c.recv()
    assert (mtype, reqid) == (IPC_QUEUE_ERROR, 9)
    with pytest.raises((EOFError, ConnectionResetError)):
        c.recv()
    c.close()
    # its uncommitted file went with it; queued still serves
    assert wait_for(lambda: listdir(running, "tmp") == [])
    c = QueueClient(qsock(running))
    qid, data, rep = submit(c)
    assert rep == (IPC_QUEUE_COMMITTED, qid)
    c.close()


def test_concurrent_clients(running):
    results, errors = {}, []

    def client(k):
        try:
            c = QueueClient(qsock(running))
            for i in range(20):
                qid, data, rep = submit(c, i)
                assert rep == (IPC_QUEUE_COMMITTED, qid), rep
                results[qid] = data
            c.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 400
    assert listdir(running, "queue") == sorted(results)
    for qid, data in results.items():
        with open(os.path.join(spool(running, "queue"), qid), "rb") as f:
            assert f.read() == data
    assert listdir(running, "tmp") == []


def test_kill_9_keeps_committed_and_cleans_tmp(running):
    c = QueueClient(qsock(running))
    committed = []
    for i in range(5):
        qid, data, rep = submit(c, i)
        assert rep == (IPC_QUEUE_COMMITTED, qid)
        committed.append((qid, data))
    held, fd = c.create()
    write_all(fd, b"LBENV 1\nid " + held.encode() + b"\n")
    assert held in listdir(running, "tmp")
    [pid] = running.daemon_pids("queued")
    mark = running.log_size()
    os.kill(pid, signal.SIGKILL)
    running.wait_log(r"event=daemon-exit daemon=queued pid=%d signal=9" % pid,
                     since=mark)
    running.wait_log(r"event=daemon-ready daemon=queued", since=mark,
                     timeout=15)
    assert listdir(running, "tmp") == []
    running.wait_log(r"queued\[\d+\] notice: event=started queued=5",
                     since=mark)
    for qid, data in committed:
        with open(os.path.join(spool(running, "queue"), qid), "rb") as f:
            assert f.read() == data
    os.close(fd)
    c.close()
    # the new queued serves on the same socket
    c = QueueClient(qsock(running))
    qid, data, rep = submit(c)
    assert rep == (IPC_QUEUE_COMMITTED, qid)
    c.close()


def test_stale_tmp_file_removed_at_start(instance):
    os.makedirs(spool(instance, "tmp"), exist_ok=True)
    os.makedirs(spool(instance, "queue"), exist_ok=True)
    stale = os.path.join(spool(instance, "tmp"), "0123456789abcdef")
    with open(stale, "w") as f:
        f.write("half a message")
    instance.start()
    assert not os.path.exists(stale)
    assert "event=tmp-cleaned removed=1" in instance.log()
    assert os.stat(spool(instance, "tmp")).st_mode & 0o777 == 0o700
    assert os.stat(spool(instance, "queue")).st_mode & 0o777 == 0o700
    assert os.stat(spool(instance)).st_mode & 0o777 == 0o700


def test_sigterm_exits_cleanly(running):
    [pid] = running.daemon_pids("queued")
    c = QueueClient(qsock(running))
    qid, data, rep = submit(c)
    assert rep[0] == IPC_QUEUE_COMMITTED
    c.close()
    assert running.stop() == 0
    log = running.log()
    assert re.search(r"event=daemon-exit daemon=queued pid=%d status=0 " % pid,
                     log), log
    assert "ERROR: AddressSanitizer" not in log
    assert "runtime error" not in log


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")
def test_foreign_uid_is_refused(running):
    import subprocess

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "s.settimeout(10)\n"
            "s.connect(sys.argv[1])\n"
            "s.sendall(b'\\xc8\\0\\0\\0' + b'\\0'*12)\n"
            "print(repr(s.recv(100)))\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, qsock(running)],
                       preexec_fn=as_nobody, capture_output=True, text=True,
                       timeout=30)
    # refused: EOF, or a reset/EPIPE when the close wins the race
    assert r.stdout.strip() == "b''" or "ConnectionResetError" in r.stderr \
        or "BrokenPipeError" in r.stderr, (r.stdout, r.stderr)
    running.wait_log(r"queued\[\d+\] warn: event=peer-refused uid=65534")
    assert listdir(running, "tmp") == []
