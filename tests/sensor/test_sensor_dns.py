"""``fd.sip.name``, ``fd.cip.name``, ``fd.lip.name``, ``fd.rip.name``: names of addresses the way
Falco's DNS manager gives them (the rules' names resolved forward, in the background), and
``yamori sensor --dns-hosts``.

Unit tests run anywhere (no kernel, no network: names come from a hosts file or from the
system resolver's ``localhost``). The end-to-end test runs one sensor with a hosts file mapping
``kubernetes.default.svc.cluster.local`` to 127.0.0.1 and, in a podman container with no
network, connects to a listener on 127.0.0.1:443: Falco's stable "Contact K8S API Server From
Container" fires, exactly as on a pod whose API server service resolves to that address.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.podman import Podman
from support.sensor import STABLE, Sensor
from support.sensor_context import FakeContext
from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.engine import Engine
from yamori.detect.fields.syscall import UNFILLED, SyscallEvent
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.dnsnames import DnsNames, canonical_ip, parse_hosts, rule_names
from yamori.sensor.interface import ContainerInfo, FdInfo, ProcessInfo, RawRecord, RecordKind

K8S = "kubernetes.default.svc.cluster.local"
RULE = "Contact K8S API Server From Container"
NAME = "yamori-dns"
CID = "d1" * 32


@pytest.fixture(scope="module")
def stable() -> CompiledRules:
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    return compile_ruleset(load_rules_files([str(STABLE)]), field_classes(["syscall"]))


# --------------------------------------------------------------------------- names and resolution


def test_rule_names_from_falco_rules(stable: CompiledRules) -> None:
    assert K8S in rule_names(stable)
    assert not {"fd.sip.name", "fd.cip.name", "fd.lip.name", "fd.rip.name"} & set(UNFILLED)


def test_rule_names_equal_in_and_lists(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        """
- list: miner_domains
  items: [pool.example.org, "xmr.example.net"]
- rule: names
  desc: d
  condition: >
    evt.type = connect and (fd.sip.name in (miner_domains, literal.example.com)
    or fd.cip.name = "client.example" or not fd.rip.name != remote.example
    or fd.lip.name in (local.example) or fd.name = not.a.name.example)
  output: o
  priority: INFO
"""
    )
    compiled = compile_ruleset(load_rules_files([str(tmp_path / "r.yaml")]), field_classes(["syscall"]))
    assert not compiled.errors, compiled.errors
    assert rule_names(compiled) == {
        "pool.example.org", "xmr.example.net", "literal.example.com", "client.example",
        "remote.example", "local.example",
    }  # fmt: skip


def test_parse_hosts_and_canonical_ips() -> None:
    hosts = parse_hosts(
        f"""# comment
10.96.0.1   {K8S} kubernetes   # alias too
::ffff:10.0.0.9  mapped.example
2001:0db8:0000::0001 six.example
not-an-ip   ignored.example
10.96.0.1   again.example
lonely
"""
    )
    assert hosts == {
        "10.96.0.1": frozenset({K8S, "kubernetes", "again.example"}),
        "10.0.0.9": frozenset({"mapped.example"}),
        "2001:db8::1": frozenset({"six.example"}),
    }
    assert canonical_ip("fe80::1%eth0") == "fe80::1" and canonical_ip("1.2.3") is None


def test_hosts_file_takes_precedence_and_localhost_resolves(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"10.96.0.1 {K8S}\n")
    asked: list[str] = []

    def resolve(name: str, *args: Any) -> list[tuple[Any, ...]]:
        asked.append(name)
        return socket.getaddrinfo(name, *args)

    dns = DnsNames([K8S, "localhost"], hosts, resolve=resolve)
    dns.start()
    try:
        assert dns.names_of("10.96.0.1") == {K8S}  # applied before start() returns
        deadline = time.monotonic() + 10
        while dns.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert asked == ["localhost"]  # the hosts file's name is never sent to the resolver
        assert dns.names_of("127.0.0.1") == {"localhost"}
        assert dns.names_of("10.96.0.1") == {K8S} and dns.names_of("10.0.0.1") is None
    finally:
        dns.stop()


def test_slow_resolver_is_bounded_and_keeps_old_addresses() -> None:
    release = threading.Event()
    answers = {"a.example": "10.0.0.1", "b.example": "10.0.0.2"}
    slow = {"b.example"}

    def resolve(name: str, *_: Any) -> list[tuple[Any, ...]]:
        if name in slow:
            release.wait(5)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[name], 0))]

    dns = DnsNames(answers, round_timeout=0.3, workers=2, resolve=resolve)
    slow.clear()
    dns.refresh()
    assert dns.mapping == {"10.0.0.1": {"a.example"}, "10.0.0.2": {"b.example"}}
    slow.add("b.example")
    answers["a.example"] = "10.0.0.3"
    started = time.monotonic()
    dns.refresh()  # b misses the deadline: its old address stays
    assert time.monotonic() - started < 2
    assert dns.mapping == {"10.0.0.3": {"a.example"}, "10.0.0.2": {"b.example"}}
    release.set()


# --------------------------------------------------------------------------- fields and the rule


def _connect(server: str, dns: DnsNames | None) -> SyscallEvent:
    """One container process whose fd 3 is a TCP socket connected to ``server``."""
    proc = ProcessInfo(pid=40, ppid=1, comm="curl", exe="curl", container_id=CID)
    sock = FdInfo(
        "ipv4", f"172.17.0.5:40000->{server}:443", "tcp", "172.17.0.5", 40000, server, 443,
        role="client", connected=True,
    )  # fmt: skip
    ctx = FakeContext(
        proc,
        ContainerInfo(id=CID, name="web", image="docker.io/library/alpine:3.20"),
        fds=lambda pid, fd: sock if (pid, fd) == (40, 3) else None,
        names=dns.names_of if dns is not None else None,
    )
    rec = RawRecord(RecordKind.SYSCALL, 5_000, 40, 40, "connect", res=0, args={"fd": 3})
    return SyscallEvent(rec, proc, ctx)


def _dns(tmp_path: Path, text: str) -> DnsNames:
    (tmp_path / "hosts").write_text(text)
    dns = DnsNames([], tmp_path / "hosts")
    dns.start()
    return dns


def test_name_fields_and_the_k8s_rule(tmp_path: Path, stable: CompiledRules) -> None:
    dns = _dns(tmp_path, f"10.96.0.1 {K8S} api.example\n172.17.0.5 me.example\n")
    e = _connect("10.96.0.1", dns)
    assert e.value("fd.sip.name") == ["api.example", K8S]  # every name is a candidate (sorted)
    assert e.value("fd.rip.name") == e.value("fd.sip.name")
    assert e.value("fd.cip.name") == e.value("fd.lip.name") == ["me.example"]
    # Falco's k8s_api_server macro: fd.sip.name="kubernetes.default.svc.cluster.local" holds
    # although that is the address's second name (any name may match)
    (alert,) = [a for a in Engine(stable, rule_matching="all").process(e) if a.rule == RULE]
    assert alert.output_fields["proc.name"] == "curl" and alert.output_fields["fd.rport"] == 443
    # an output prints one name (the first), in text and in output_fields
    engine = Engine(_compiled(tmp_path, f"fd.sip.name in (x, {K8S}) and fd.rip.name = api.example"))
    (one,) = engine.process(_connect("10.96.0.1", dns))
    assert one.output == "name=api.example cip=me.example"
    assert one.output_fields["fd.sip.name"] == "api.example"


def test_no_name_is_na_and_no_match(tmp_path: Path, stable: CompiledRules) -> None:
    dns = _dns(tmp_path, f"10.96.0.1 {K8S}\n")
    for e in (_connect("10.96.0.2", dns), _connect("10.96.0.1", None)):
        assert e.value("fd.sip.name") is None
        assert RULE not in {a.rule for a in Engine(stable, rule_matching="all").process(e)}
    assert not Engine(_compiled(tmp_path, "fd.sip.name != x or fd.sip.name exists")).process(
        _connect("10.96.0.2", dns)
    )
    (alert,) = Engine(_compiled(tmp_path, "fd.num = 3")).process(_connect("10.96.0.2", dns))
    assert alert.output == "name=<NA> cip=<NA>" and alert.output_fields["fd.sip.name"] is None


def _compiled(tmp_path: Path, condition: str) -> CompiledRules:
    (tmp_path / "r.yaml").write_text(
        f"""
- rule: r
  desc: d
  condition: evt.type = connect and ({condition})
  output: name=%fd.sip.name cip=%fd.cip.name
  priority: INFO
"""
    )
    compiled = compile_ruleset(load_rules_files([str(tmp_path / "r.yaml")]), field_classes(["syscall"]))
    assert not compiled.errors, compiled.errors
    return compiled


# --------------------------------------------------------------------------- end to end

SCRIPT = r"""
set -e
python3 - <<'EOF'
import socket
l = socket.socket()
l.bind(("127.0.0.1", 443))
l.listen(1)
s = socket.socket()
s.connect(("127.0.0.1", 443))
c, _ = l.accept()
print("connected", s.getpeername())
EOF
"""


NAMED = "yamori test - connect to a named server"
NAMED_RULE = f"""
- rule: {NAMED}
  desc: the stable rule's output names no fd.sip.name; this one prints it
  condition: evt.type = connect and container and fd.sip.name in (x.example, {K8S})
  output: server=%fd.sip.name remote=%fd.rip.name client=%fd.cip.name
  priority: NOTICE
"""


@pytest.fixture(scope="module")
def dns_alerts(
    capture_ready: None, podman: Podman, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sensor]:
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    hosts = tmp_path_factory.mktemp("dns") / "hosts"
    hosts.write_text(f"127.0.0.1 {K8S}\n")
    named = hosts.with_name("named.yaml")  # a rule whose output prints the name
    named.write_text(NAMED_RULE)
    sensor = Sensor(podman.env, "--rules", str(named), "--dns-hosts", str(hosts), "--rule-matching", "all")
    try:
        sensor.wait_ready()
        assert any("hosts file:" in line and "(1 address(es))" in line for line in sensor.status_lines)
        run = podman.run(
            "run", "--rm", "--network", "none", "--name", NAME, podman.image, "bash", "-c", SCRIPT,
            check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "connected ('127.0.0.1', 443)" in run.stdout
        yield sensor
    finally:
        print("\n".join(sensor.stop()))


def test_contact_k8s_api_server_from_container(dns_alerts: Sensor, podman: Podman) -> None:
    _, alert = dns_alerts.wait_rule(RULE, NAME)
    fields = alert["output_fields"]
    assert fields["container.name"] == NAME and alert["source"] == "syscall"
    assert fields["evt.type"] == "connect" and fields["fd.type"] == "ipv4"
    assert fields["fd.rport"] == 443 and str(fields["fd.name"]).endswith("->127.0.0.1:443")
    assert fields["proc.name"] == "python3"
    # the rule's own output names no fd.sip.name; one that does prints the name
    assert "fd.sip.name" not in fields
    _, named = dns_alerts.wait_rule(NAMED, NAME)
    assert named["output_fields"]["fd.sip.name"] == named["output_fields"]["fd.rip.name"] == K8S
    assert named["output_fields"]["fd.cip.name"] == K8S  # the client is on 127.0.0.1 as well
    assert f"server={K8S} remote={K8S} client={K8S}" in named["output"]
    # the test image is none of the k8s_containers images the rule excludes
    assert not str(fields["container.image.repository"]).startswith(("registry.k8s.io", "gcr.io"))
