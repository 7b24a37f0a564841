"""Bad configs: letterboxd and `letterbox config check` name file, line and problem."""
# SPDX-License-Identifier: ISC

import glob
import os
import re
import subprocess

import pytest

import lbtest

BAD = sorted(glob.glob(os.path.join(lbtest.REPO, "tests", "data", "conf",
                                    "bad", "*.conf")))


def expectation(path):
    with open(path, errors="replace") as f:
        first = f.readline()
    m = re.match(r"#\s*expect:\s*(\d+):(\d+):\s*(.*\S)", first)
    assert m, "%s: first line must be '# expect: LINE:COL: text'" % path
    return int(m.group(1)), int(m.group(2)), m.group(3)


def test_there_are_bad_configs():
    assert len(BAD) >= 10


@pytest.mark.parametrize("path", BAD, ids=os.path.basename)
def test_letterboxd_refuses_bad_config(path):
    line, col, text = expectation(path)
    for args in (["-c", path], ["-c", path, "-t"]):
        r = subprocess.run([lbtest.prog("letterboxd")] + args,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        want = "%s:%d:%d: " % (path, line, col)
        lines = [l for l in r.stderr.splitlines() if l.startswith(want)]
        assert lines, (want, r.stderr)
        assert text in lines[0], (text, r.stderr)


@pytest.mark.parametrize("path", BAD, ids=os.path.basename)
def test_config_check_refuses_bad_config(path):
    line, col, text = expectation(path)
    r = subprocess.run([lbtest.prog("letterbox"), "-c", path, "config",
                        "check"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "%s:%d:%d: " % (path, line, col) in r.stderr, r.stderr
    assert text in r.stderr


def test_daemon_check_mode(instance):
    r = subprocess.run([lbtest.prog("letterbox-authd"), "-c", instance.conf,
                        "-n"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: config OK\n" % instance.conf
