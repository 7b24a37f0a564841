"""queued.deliver = no: mail is accepted and held; SIGHUP with yes delivers it."""
# SPDX-License-Identifier: ISC

import glob
import os
import signal
import smtplib
import time


def test_hold_then_release(instance):
    instance.edit_conf("queued.deliver = no")
    instance.start()
    s = smtplib.SMTP("127.0.0.1", instance.port("smtp"), timeout=20)
    s.ehlo("hold.example")
    code, text = s.sendmail("a@elsewhere.example", [instance.demo_user],
                            b"Subject: held\r\n\r\nheld\r\n") or (250, b"")
    s.quit()
    qdir = os.path.join(instance.inst, "state", "spool", "queue")
    mdir = os.path.join(instance.inst, "state", "mail", "example.test",
                        "demo", "new")
    time.sleep(1.0)
    [qfile] = os.listdir(qdir)
    assert "id=%s event=held" % qfile in instance.log()
    assert not glob.glob(os.path.join(mdir, "*"))
    # Turn delivery on: the held message goes out.
    mark = instance.log_size()
    instance.edit_conf("queued.deliver = yes")
    instance.proc.send_signal(signal.SIGHUP)
    instance.wait_log(r"event=delivery-on scheduled=1", since=mark)
    instance.wait_log(r"id=%s event=removed" % qfile, since=mark)
    assert os.listdir(qdir) == []
    [msg] = glob.glob(os.path.join(mdir, "*"))
    with open(msg, "rb") as f:
        data = f.read()
    assert data.startswith(b"Return-Path: <a@elsewhere.example>\r\n"
                           b"Delivered-To: demo@example.test\r\n")
    assert data.endswith(b"Subject: held\r\n\r\nheld\r\n")
