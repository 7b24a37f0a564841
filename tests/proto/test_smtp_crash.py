"""letterbox-smtpd killed with SIGKILL under load: every message that got
250 is in spool/queue/ with exactly the bytes sent; a message can be there
twice only if its 250 was lost in the kill (RFC 5321 6.1; docs/queue.md,
"After a crash")."""
# SPDX-License-Identifier: ISC

import os
import queue
import random
import re
import signal
import smtplib
import socket
import threading
import time

import lbtest
from lbtest import queued_id, received_split, spool_ids, spool_read

N_MSGS = 2000
N_THREADS = 10
N_KILLS = 5            # at least 4 are required
MAX_ATTEMPTS = 40      # per message
TIME_LIMIT = 80        # seconds for the sending phase


def make_message(i, rng):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
             "hotel", "india", "juliet", "kilo", "lima", "mike"]
    lines = [b"From: load@remote.example", b"To: demo@example.test",
             b"Subject: crash test %d" % i,
             b"Message-ID: <crash-%d@client.test>" % i, b""]
    size = rng.randrange(2048, 6144)
    n = 0
    while n < size:
        ln = " ".join(rng.choice(words) for _ in range(rng.randrange(3, 14)))
        ln = ("%d %s" % (i, ln)).encode()
        lines.append(ln)
        n += len(ln) + 2
    return b"\r\n".join(lines) + b"\r\n"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}            # i -> queue id of its 250
        self.uncertain = {}     # i -> attempts whose end of data got no reply
        self.failed = {}        # i -> last error, no 250 after MAX_ATTEMPTS
        self.retries = 0
        self.done = 0


def sender(port, msgs, work, st, stop):
    s = None
    while not stop.is_set():
        try:
            i = work.get_nowait()
        except queue.Empty:
            break
        last = None
        for attempt in range(MAX_ATTEMPTS):
            dot_sent = False
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, "crash.test",
                                     timeout=10)
                    s.ehlo()
                code, text = s.mail("load@remote.example")
                if code == 250:
                    code, text = s.rcpt("demo@example.test")
                if code == 250:
                    s.putcmd("data")
                    code, text = s.getreply()
                if code == 354:
                    s.send(msgs[i] + b".\r\n")
                    dot_sent = True
                    code, text = s.getreply()
                    if code == 250:
                        qid = queued_id(text.decode())
                        assert qid, text
                        with st.lock:
                            st.ok[i] = qid
                        break
                last = "%d %s" % (code, text.decode(errors="replace"))
                if code >= 500:     # never expected: give up on it
                    break
                raise smtplib.SMTPServerDisconnected(last)
            except (OSError, smtplib.SMTPException) as e:
                last = repr(e)
                with st.lock:
                    st.retries += 1
                    if dot_sent:
                        st.uncertain[i] = st.uncertain.get(i, 0) + 1
                if s is not None:
                    try:
                        s.close()
                    except Exception:
                        pass
                s = None
                time.sleep(0.05 + random.random() * 0.1)
        if i not in st.ok:
            with st.lock:
                st.failed[i] = last
        with st.lock:
            st.done += 1
    if s is not None:
        try:
            s.quit()
        except Exception:
            pass


def killer(inst, st, kills, stop):
    """SIGKILL smtpd when the count of finished messages passes each of
    N_KILLS random points, at a random moment shortly after; wait for the
    master to start a new one before the next kill."""
    rng = random.Random()
    points = sorted(rng.uniform(0.05, 0.85) * N_MSGS for _ in range(N_KILLS))
    for p in points:
        while st.done < p and not stop.is_set():
            time.sleep(0.01)
        if stop.is_set():
            return
        time.sleep(rng.uniform(0, 0.3))
        pids = [x for x in inst.daemon_pids("smtpd") if x not in kills]
        if not pids:
            continue
        pid = rng.choice(pids)
        os.kill(pid, signal.SIGKILL)
        kills.append(pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not stop.is_set():
            if [x for x in inst.daemon_pids("smtpd") if x not in kills]:
                break
            time.sleep(0.02)


def test_sigkill_under_load(instance):
    # restart quickly; 1s is the smallest restart_max (docs/config.md)
    instance.edit_conf("master.restart_min = 100ms\n"
                       "master.restart_max = 1s")
    instance.start()
    lbtest.hold_delivery(instance)
    port = instance.port("smtp")
    rng = random.Random(5321)
    msgs = [make_message(i, rng) for i in range(N_MSGS)]
    work = queue.Queue()
    for i in range(N_MSGS):
        work.put(i)
    st, kills, stop = Stats(), [], threading.Event()
    t0 = time.monotonic()
    threads = [threading.Thread(target=sender,
                                args=(port, msgs, work, st, stop))
               for _ in range(N_THREADS)]
    kt = threading.Thread(target=killer, args=(instance, st, kills, stop))
    for t in threads + [kt]:
        t.start()
    for t in threads:
        t.join(max(1, TIME_LIMIT - (time.monotonic() - t0)))
    timed_out = any(t.is_alive() for t in threads)
    stop.set()
    for t in threads + [kt]:
        t.join(30)
    elapsed = time.monotonic() - t0

    # uncommitted files go with the smtpd connection that made them
    deadline = time.monotonic() + 5
    while spool_ids(instance, "tmp") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_ids(instance, "tmp") == []

    # read the whole queue: Message-ID -> queue ids
    by_msgid = {}
    for qid in spool_ids(instance):
        env, msg = spool_read(instance, qid)
        m = re.search(rb"\r\nMessage-ID: <crash-(\d+)@client.test>\r\n", msg)
        assert m, (qid, msg[:300])
        by_msgid.setdefault(int(m.group(1)), []).append(qid)

    for i, qid in st.ok.items():
        assert qid in by_msgid.get(i, []), (i, qid)
        env, msg = spool_read(instance, qid)
        assert "id " + qid in env.splitlines()
        assert "rcpt demo@example.test" in env.splitlines()
        assert received_split(msg)[1] == msgs[i], "message %d differs" % i
    duplicates = 0
    for i, qids in by_msgid.items():
        extra = len(qids) - 1
        duplicates += extra
        # a second copy only where an end of data went unanswered
        assert extra <= st.uncertain.get(i, 0), (i, qids, st.uncertain)
        for qid in qids:      # every copy, acknowledged or not, is whole
            assert received_split(spool_read(instance, qid)[1])[1] == msgs[i]

    print("\ncrash test: %d messages, %d acknowledged, %d kills, %d retries, "
          "%d end-of-data replies lost, %d duplicates, %d failed, %.1fs"
          % (N_MSGS, len(st.ok), len(kills), st.retries,
             sum(st.uncertain.values()), duplicates, len(st.failed), elapsed))
    assert not timed_out, "senders still running after %ds" % TIME_LIMIT
    assert len(kills) >= 4
    assert st.failed == {}
    assert len(st.ok) == N_MSGS
    assert len(instance.wait_log(r"event=daemon-start daemon=smtpd pid=",
                                 count=len(kills) + 1)) >= len(kills) + 1
    # smtpd still serves
    s = smtplib.SMTP("127.0.0.1", port, "after.test", timeout=10)
    assert s.noop()[0] == 250
    s.quit()
