"""End to end: SMTP -> spool -> queued -> LMTP -> MDA -> Maildir + index,
with letterbox-mda killed with SIGKILL several times during a delivery
burst.  Every message that got 250 at SMTP ends up in the user's Maildir
at least once, whole; copies beyond the first come only from the LMTP
transactions in flight at each kill (docs/queue.md "After a crash",
docs/mda.md "Failures"), so there are at most kills x
queued.lmtp_sessions of them; the index agrees with the Maildir."""
# SPDX-License-Identifier: ISC

import os
import queue
import random
import re
import signal
import smtplib
import subprocess
import threading
import time

import lbtest
from lbtest import queued_id, spool_ids

N_MSGS = 300
N_THREADS = 8          # concurrent SMTP sessions
N_KILLS = 5            # SIGKILLs of the MDA during delivery
MAX_ATTEMPTS = 20      # per message (smtpd is not killed: expect 1)
SEND_LIMIT = 45        # seconds for the sending phase
DRAIN_LIMIT = 60       # seconds for the queue to empty afterwards

RCPT = "demo@example.test"
SEQ_RX = re.compile(rb"\r\nX-Seq: (\d+)\r\n")


def make_message(i, run):
    return (b"From: load@remote.example\r\n"
            b"To: " + RCPT.encode() + b"\r\n"
            b"Subject: e2e crash %d\r\n"
            b"Message-ID: <e2e-%s-%d@client.test>\r\n"
            b"X-Seq: %d\r\n"
            b"\r\n"
            b"message %d of the e2e crash test\r\n"
            b"second line %d\r\n") % (i, run, i, i, i, i)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}            # i -> queue id of its 250
        self.failed = {}        # i -> last error
        self.retries = 0


def sender(port, msgs, work, st, stop):
    s = None
    while not stop.is_set():
        try:
            i = work.get_nowait()
        except queue.Empty:
            break
        last = None
        for _ in range(MAX_ATTEMPTS):
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, "e2e.test",
                                     timeout=15)
                    s.ehlo()
                code, text = s.mail("load@remote.example")
                if code == 250:
                    code, text = s.rcpt(RCPT)
                if code == 250:
                    code, text = s.data(msgs[i])
                    if code == 250:
                        qid = queued_id(text.decode())
                        assert qid, text
                        with st.lock:
                            st.ok[i] = qid
                        break
                last = "%d %s" % (code, text.decode(errors="replace"))
                try:
                    s.rset()
                except smtplib.SMTPException:
                    raise smtplib.SMTPServerDisconnected(last)
                if code >= 500:
                    break
                time.sleep(0.05)
            except (OSError, smtplib.SMTPException) as e:
                last = repr(e)
                with st.lock:
                    st.retries += 1
                if s is not None:
                    try:
                        s.close()
                    except Exception:   # noqa: BLE001
                        pass
                s = None
                time.sleep(0.05 + random.random() * 0.1)
        if i not in st.ok:
            with st.lock:
                st.failed[i] = last
    if s is not None:
        try:
            s.quit()
        except Exception:   # noqa: BLE001
            pass


def maildir(inst):
    return os.path.join(inst.inst, "state", "mail", "example.test", "demo")


def listdir(path):
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def delivered_count(inst):
    root = maildir(inst)
    return len(listdir(os.path.join(root, "new"))) + \
        len(listdir(os.path.join(root, "cur")))


def killer(inst, kills, stop, errors):
    """SIGKILL the MDA each time the number of files in the Maildir
    passes one of N_KILLS points spread over the burst, at a random
    moment shortly after; wait until letterboxd has a new one ready
    before the next."""
    rng = random.Random()
    points = sorted(int(N_MSGS * (0.08 + 0.7 * k / N_KILLS) +
                        rng.randrange(0, N_MSGS // 20))
                    for k in range(N_KILLS))
    try:
        for p in points:
            while delivered_count(inst) < p:
                if stop.is_set():
                    return
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.02))
            pids = inst.daemon_pids("mda")
            assert len(pids) == 1, pids
            since = inst.log_size()
            os.kill(pids[0], signal.SIGKILL)
            kills.append((pids[0], delivered_count(inst)))
            inst.wait_log(r"event=daemon-ready daemon=mda", since=since,
                          timeout=15)
    except Exception as e:     # noqa: BLE001
        errors.append(repr(e))


def wait_queue_empty(inst, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not spool_ids(inst):
            return True
        time.sleep(0.1)
    return False


def mda_index(inst, address):
    """`letterbox-mda index` (docs/mda.md, Diagnostics): ({mailbox:
    {counters}}, [msg dicts])."""
    r = subprocess.run([lbtest.prog("letterbox-mda"), "-c", inst.conf,
                        "index", address], capture_output=True, timeout=60,
                       env=inst.env())
    assert r.returncode == 0, r.stderr
    boxes, msgs = {}, []
    for line in r.stdout.decode().splitlines():
        kind, _, rest = line.partition(" ")
        kv = dict(x.split("=", 1) for x in rest.split(" ") if "=" in x)
        if kind == "mailbox":
            boxes[kv["name"]] = kv
        elif kind == "msg":
            msgs.append(kv)
    return boxes, msgs


def inbox_files(inst):
    """{"new/NAME" or "cur/NAME": bytes} of every message file."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir(inst), sub)
        for name in listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                out[sub + "/" + name] = f.read()
    return out


def test_e2e_kill9_mda_during_burst(instance):
    instance.edit_conf("master.restart_min = 100ms\n"
                       "master.restart_max = 1s\n"
                       "queued.retry_min = 100ms\n"
                       "queued.retry_max = 1s")
    instance.start()
    # the number of LMTP transactions queued runs at once, as it says
    started = instance.wait_log(
        r"event=started queued=\d+ .*lmtp_sessions=(\d+)", timeout=20)
    sessions = int(started[0])
    assert sessions >= 1

    port = instance.port("smtp")
    run = b"%x" % random.getrandbits(32)
    msgs = [make_message(i, run) for i in range(N_MSGS)]
    work = queue.Queue()
    for i in range(N_MSGS):
        work.put(i)
    st, kills, stop, kerr = Stats(), [], threading.Event(), []
    t0 = time.monotonic()
    threads = [threading.Thread(target=sender,
                                args=(port, msgs, work, st, stop))
               for _ in range(N_THREADS)]
    kt = threading.Thread(target=killer, args=(instance, kills, stop, kerr))
    for t in threads + [kt]:
        t.start()
    for t in threads:
        t.join(max(1, SEND_LIMIT - (time.monotonic() - t0)))
    send_timed_out = any(t.is_alive() for t in threads)
    t_sent = time.monotonic() - t0

    # let the killer finish its points while delivery still runs, then
    # wait for the queue to drain
    kt.join(max(1, SEND_LIMIT + 10 - (time.monotonic() - t0)))
    stop.set()
    for t in threads + [kt]:
        t.join(30)
    drained = wait_queue_empty(instance, DRAIN_LIMIT)
    t_drained = time.monotonic() - t0

    files = inbox_files(instance)
    tmp_left = sorted(listdir(os.path.join(maildir(instance), "tmp")))
    boxes0, msgs0 = mda_index(instance, RCPT)

    # every file is one whole message of ours, its size in its name
    by_seq = {}
    for name, data in files.items():
        m = SEQ_RX.search(data)
        assert m, (name, data[:300])
        i = int(m.group(1))
        assert 0 <= i < N_MSGS, name
        assert data.startswith(b"Return-Path: <load@remote.example>\r\n"
                               b"Delivered-To: " + RCPT.encode() + b"\r\n"
                               b"Received: "), (name, data[:300])
        assert data.endswith(b"\r\n" + msgs[i]), (name, data)
        sm = re.search(r",S=(\d+)", name)
        assert sm and int(sm.group(1)) == len(data), (name, len(data))
        by_seq.setdefault(i, []).append(name)

    lost = sorted(i for i in st.ok if i not in by_seq)
    dups = {i: names for i, names in by_seq.items() if len(names) > 1}
    n_dups = sum(len(v) - 1 for v in dups.values())
    bound = len(kills) * sessions
    deferred = len(re.findall(r"event=deferred rcpt=<%s>" % RCPT,
                              instance.log()))

    print("\ne2e crash test: %d messages, %d got 250, %d failed, %d SMTP "
          "retries; %d MDA kills at Maildir counts %s; lmtp_sessions=%d; "
          "%d deferrals; %d files, %d distinct, %d lost, %d duplicates "
          "(bound %d) %s; tmp/ leftovers %d %s; index before the final "
          "delivery: %s messages, %d records; sent in %.1fs, drained in "
          "%.1fs"
          % (N_MSGS, len(st.ok), len(st.failed), st.retries, len(kills),
             [k[1] for k in kills], sessions, deferred, len(files),
             len(by_seq), len(lost), n_dups, bound,
             sorted(dups)[:20], len(tmp_left), tmp_left[:10],
             boxes0.get("INBOX", {}).get("messages"), len(msgs0),
             t_sent, t_drained))

    assert kerr == [], kerr
    assert not send_timed_out, "senders still running after %ds" % SEND_LIMIT
    assert st.failed == {}, list(st.failed.items())[:5]
    assert len(st.ok) == N_MSGS
    assert drained, "queue not empty after %ds: %d left" % (
        DRAIN_LIMIT, len(spool_ids(instance)))
    assert len(kills) == N_KILLS, kills
    # no loss
    assert lost == [], lost[:20]
    # no duplicates beyond the transactions in flight at each kill
    assert n_dups <= bound, (n_dups, bound, dups)
    # a new MDA after every kill
    assert len(instance.wait_log(r"event=daemon-start daemon=mda pid=",
                                 count=N_KILLS + 1)) >= N_KILLS + 1

    # The index: a file linked by a killed MDA before its index commit is
    # indexed at the next reconcile, i.e. the next delivery to the user
    # (docs/mda.md).  Make one, with the directories' mtimes a second old
    # so that the reconcile cannot skip them.
    time.sleep(1.1)
    s = smtplib.SMTP("127.0.0.1", port, "e2e.test", timeout=15)
    final = make_message(N_MSGS, run)
    code, text = s.sendmail("load@remote.example", [RCPT], final) or \
        (250, b"")
    s.quit()
    assert wait_queue_empty(instance, 20), "final message not delivered"
    files = inbox_files(instance)
    assert len(files) == sum(len(v) for v in by_seq.values()) + 1
    boxes, msgs = mda_index(instance, RCPT)
    indexed = [m["file"] for m in msgs]
    print("index after the final delivery: %s messages, %d records, "
          "%d files" % (boxes["INBOX"]["messages"], len(msgs), len(files)))
    assert len(set(indexed)) == len(indexed), "a file indexed twice"
    assert sorted(indexed) == sorted(files), (
        sorted(set(indexed) ^ set(files))[:10])
    assert int(boxes["INBOX"]["messages"]) == len(files)
    assert sorted(int(m["uid"]) for m in msgs) == sorted(
        set(int(m["uid"]) for m in msgs))
    assert int(boxes["INBOX"]["size"]) == sum(len(d) for d in files.values())

    # a clean stop, and no sanitizer report from anything that ran
    assert instance.stop() == 0
    log = instance.log()
    assert "ERROR: AddressSanitizer" not in log, log[-3000:]
    assert "runtime error" not in log, log[-3000:]
