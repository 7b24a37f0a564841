"""queued's resolver (smtpd/queue_dns.c) end to end against dnsd.py, through
`letterbox-queued -c FILE --route DOMAIN`."""
import os
import subprocess
import tempfile
import time

import pytest

import lbtest
from dnsd import DnsServer

TIMEOUT_MS = 300


@pytest.fixture
def dns():
    d = DnsServer().start()
    yield d
    d.stop()


def route(d, domain):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("queued {\n  resolver = %s\n  resolver_timeout = %dms\n}\n"
                % (d.address, TIMEOUT_MS))
        path = f.name
    try:
        t0 = time.monotonic()
        p = subprocess.run([lbtest.prog("letterbox-queued"), "-c", path,
                            "--route", domain], capture_output=True,
                           text=True, timeout=60)
        took = time.monotonic() - t0
    finally:
        os.unlink(path)
    assert p.stderr == "" or "ERROR: " not in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    status = lines[0].split()[1]
    hosts = [(int(l.split()[1]), l.split()[2], l.split()[3:])
             for l in lines if l.startswith("host ")]
    return status, hosts, p.returncode, took


def test_mx_preference_order(dns):
    dns.records["pref.test"] = {"MX": [(30, "c.pref.test"), (10, "a.pref.test"),
                                       (20, "b.pref.test")]}
    for h, ip in (("a", "127.0.0.11"), ("b", "127.0.0.12"), ("c", "127.0.0.13")):
        dns.records[h + ".pref.test"] = {"A": [ip]}
    dns.records["a.pref.test"]["AAAA"] = ["2001:db8::11"]
    st, hosts, rc, _ = route(dns, "pref.test")
    assert (st, rc) == ("OK", 0)
    assert [(p, n) for p, n, _ in hosts] == [
        (10, "a.pref.test"), (20, "b.pref.test"), (30, "c.pref.test")]
    assert sorted(hosts[0][2]) == ["127.0.0.11", "2001:db8::11"]
    assert hosts[1][2] == ["127.0.0.12"]


def test_equal_preferences_random(dns):
    dns.records["eq.test"] = {"MX": [(10, "x.eq.test"), (10, "y.eq.test")]}
    dns.records["x.eq.test"] = {"A": ["127.0.0.21"]}
    dns.records["y.eq.test"] = {"A": ["127.0.0.22"]}
    seen = set()
    for _ in range(20):
        st, hosts, _, _ = route(dns, "eq.test")
        assert st == "OK"
        seen.add(tuple(n for _, n, _ in hosts))
        if len(seen) == 2:
            break
    assert seen == {("x.eq.test", "y.eq.test"), ("y.eq.test", "x.eq.test")}


def test_no_mx_falls_back_to_a_aaaa(dns):
    dns.records["nomx.test"] = {"A": ["127.0.0.31"], "AAAA": ["::1"]}
    st, hosts, rc, _ = route(dns, "nomx.test")
    assert (st, rc) == ("OK", 0)
    assert len(hosts) == 1 and hosts[0][:2] == (0, "nomx.test")
    assert sorted(hosts[0][2]) == ["127.0.0.31", "::1"]


def test_no_mx_no_address_is_permanent(dns):
    dns.records["empty.test"] = {}
    st, _, rc, _ = route(dns, "empty.test")
    assert (st, rc) == ("PERM", 69)


def test_null_mx(dns):
    dns.records["null.test"] = {"MX": [(0, ".")]}
    st, hosts, rc, _ = route(dns, "null.test")
    assert (st, rc, hosts) == ("NULLMX", 69, [])
    # nothing asked past the MX
    assert ("null.test", "A") not in dns.queries


def test_nxdomain_permanent(dns):
    st, _, rc, _ = route(dns, "nosuch.test")
    assert (st, rc) == ("PERM", 69)


def test_servfail_temporary(dns):
    dns.records["sf.test"] = "SERVFAIL"
    st, _, rc, _ = route(dns, "sf.test")
    assert (st, rc) == ("TEMP", 75)


def test_refused_temporary(dns):
    dns.records["ref.test"] = "REFUSED"
    st, _, rc, _ = route(dns, "ref.test")
    assert (st, rc) == ("TEMP", 75)


def test_timeout_temporary_bounded(dns):
    dns.records["slow.test"] = "DROP"
    st, _, rc, took = route(dns, "slow.test")
    assert (st, rc) == ("TEMP", 75)
    # 2 tries, c-ares doubles the timeout: 300 + 600 ms, plus start-up
    assert took < 10 * TIMEOUT_MS / 1000 + 2


def test_cname_mx_host(dns):
    dns.records["cn.test"] = {"MX": [(10, "alias.cn.test")]}
    dns.records["alias.cn.test"] = {"CNAME": "real.cn.test"}
    dns.records["real.cn.test"] = {"A": ["127.0.0.41"]}
    st, hosts, _, _ = route(dns, "cn.test")
    assert st == "OK"
    assert hosts == [(10, "alias.cn.test", ["127.0.0.41"])]


def test_mx_host_without_address_skipped(dns):
    dns.records["skip.test"] = {"MX": [(10, "gone.skip.test"),
                                       (20, "ok.skip.test")]}
    dns.records["ok.skip.test"] = {"A": ["127.0.0.51"]}
    st, hosts, _, _ = route(dns, "skip.test")
    assert st == "OK"
    assert hosts == [(10, "gone.skip.test", ["-"]),
                     (20, "ok.skip.test", ["127.0.0.51"])]


def test_no_mx_host_resolves_temp_or_perm(dns):
    dns.records["bad.test"] = {"MX": [(10, "sf.bad.test")]}
    dns.records["sf.bad.test"] = "SERVFAIL"
    assert route(dns, "bad.test")[0] == "TEMP"
    dns.records["bad.test"] = {"MX": [(10, "none.bad.test")]}
    assert route(dns, "bad.test")[0] == "PERM"


def test_domain_literal_no_query(dns):
    st, hosts, _, _ = route(dns, "[192.0.2.7]")
    assert (st, hosts) == ("OK", [(0, "[192.0.2.7]", ["192.0.2.7"])])
    st, hosts, _, _ = route(dns, "[IPv6:2001:db8::7]")
    assert hosts[0][2] == ["2001:db8::7"]
    assert dns.queries == []


def test_no_server_reachable_temp():
    d = DnsServer()
    d.stop()  # a port nobody answers on
    st, _, rc, took = route(d, "example.test")
    assert (st, rc) == ("TEMP", 75)
    assert took < 10 * TIMEOUT_MS / 1000 + 2


def test_cname_domain(dns):
    # RFC 5321 5.1: a CNAME is processed as if its target were the name.
    dns.records["alias.test"] = {"CNAME": "target.test"}
    dns.records["target.test"] = {"MX": [(5, "mx.target.test")]}
    dns.records["mx.target.test"] = {"A": ["127.0.0.61"]}
    st, hosts, _, _ = route(dns, "alias.test")
    assert st == "OK"
    assert hosts == [(5, "mx.target.test", ["127.0.0.61"])]


def test_bounds_and_tcp(dns):
    # 20 MX records do not fit in 512 bytes: the answer is truncated and
    # c-ares asks again over TCP.  16 hosts kept, the most preferred;
    # 8 addresses kept per host.
    dns.records["many.test"] = {"MX": [(100 - i, "mx%02d.many.test" % i)
                                       for i in range(20)]}
    for i in range(20):
        dns.records["mx%02d.many.test" % i] = {
            "A": ["127.0.1.%d" % k for k in range(1, 13)]}
    st, hosts, _, _ = route(dns, "many.test")
    assert st == "OK"
    assert len(hosts) == 16
    assert [p for p, _, _ in hosts] == list(range(81, 97))
    assert all(len(a) == 8 for _, _, a in hosts)


def test_tcp_several_queries(dns):
    # Every answer is too big for UDP: c-ares sends the A and AAAA queries
    # of both hosts over TCP, possibly on one connection.
    dns.records["big.test"] = {"MX": [(i, "h%02d.big.test" % i)
                                      for i in range(2)] +
                               [(50, "x" * 60 + ".%02d.big.test" % i)
                                for i in range(10)]}
    for i in range(2):
        dns.records["h%02d.big.test" % i] = {
            "A": ["127.0.2.%d" % k for k in range(1, 40)],
            "AAAA": ["2001:db8::%x" % k for k in range(1, 40)]}
    st, hosts, _, _ = route(dns, "big.test")
    assert st == "OK"
    assert [n for _, n, _ in hosts[:2]] == ["h00.big.test", "h01.big.test"]
    assert all(len(a) == 8 for _, _, a in hosts[:2])
    assert all(a == ["-"] for _, _, a in hosts[2:])
