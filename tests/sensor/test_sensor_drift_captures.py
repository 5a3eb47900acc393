"""Drift, captures and metrics without a kernel: the pieces, and the runner driving them."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from yamori.cli.sensor import default_rules_files
from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.output import Alert
from yamori.detect.rules import load_rules_files
from yamori.detect.rules.model import Priority
from yamori.detect.sources import field_classes
from yamori.sensor.captures import (
    SUFFIX,
    CaptureRecorder,
    find_capture,
    list_captures,
    prune_captures,
    read_capture,
)
from yamori.sensor.containers import ContainerResolver, container_info_from_inspect
from yamori.sensor.drift import DriftGuard, DriftPolicy, exists_in_upper, is_written_event
from yamori.sensor.interface import CaptureBackend, CaptureStats, ContainerInfo, RawRecord, RecordKind
from yamori.sensor.metrics import SensorCollector, serve_metrics
from yamori.sensor.proctable import ProcessTable
from yamori.sensor.runner import SensorRunner


class FakeBackend(CaptureBackend):
    def __init__(self, records: list[RawRecord]) -> None:
        self.stats = CaptureStats()
        self._records = records

    def start(self) -> None:
        pass

    def records(self) -> Iterator[RawRecord]:
        yield from self._records

    def stop(self) -> None:
        pass


CID = "ab" * 32
CGROUP = f"libpod-{CID}"


def test_upper_layer_lookup_is_confined_to_the_upper_dir(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "tmp").mkdir(parents=True)
    (upper / "tmp" / "myls").write_bytes(b"\x7fELF")
    (upper / "escape").symlink_to("/")  # a container-planted symlink must not reach the host
    os.mkfifo(upper / "tmp" / "fifo")
    assert exists_in_upper(str(upper), "/tmp/myls")
    assert not exists_in_upper(str(upper), "/tmp/other")
    assert not exists_in_upper(str(upper), "/escape/bin/sh")  # /bin/sh exists on the host
    assert not exists_in_upper(str(upper), "/tmp/fifo")  # not a regular file
    assert not exists_in_upper(str(upper), "/tmp/../tmp/myls")
    assert not exists_in_upper(str(tmp_path / "missing"), "/tmp/myls")


def test_written_events_and_policy() -> None:
    def rec(t: str, res: int = 0, **args: int | str) -> RawRecord:
        return RawRecord(RecordKind.SYSCALL, 1, 1, 1, t, res=res, args=dict(args))

    assert is_written_event(rec("openat", 3, name="/tmp/x", flags=0o101)) == "/tmp/x"
    assert is_written_event(rec("openat", 3, name="/tmp/x", flags=0)) is None
    assert is_written_event(rec("openat", -2, name="/tmp/x", flags=0o101)) is None
    assert is_written_event(rec("fchmodat", 0, filename="x", mode=0o755)) == "x"
    assert is_written_event(rec("chmod", 0, filename="x", mode=0o644)) is None
    assert is_written_event(rec("renameat2", 0, oldpath="a", newpath="/b")) == "/b"
    assert not DriftPolicy().applies(None)
    assert DriftPolicy(True).applies(None)
    scoped = DriftPolicy(True, images=("docker.io/acme/*",), namespaces=("prod",))
    assert not scoped.applies(None)
    assert scoped.applies(ContainerInfo(CID, image="docker.io/acme/web:1"))
    assert not scoped.applies(ContainerInfo(CID, image="docker.io/other/web:1"))
    assert scoped.applies(ContainerInfo(CID, labels={"io.kubernetes.pod.namespace": "prod"}))


def test_upper_dir_from_inspect() -> None:
    doc = {"Id": CID, "ImageName": "x:1", "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": "/u"}}}
    assert container_info_from_inspect(doc).upper_dir == "/u"
    assert container_info_from_inspect({"Id": CID}).upper_dir is None


class _Resolver(ContainerResolver):
    def __init__(self, info: ContainerInfo) -> None:
        super().__init__(sockets=[], podman=None)
        self.info = info

    def get(self, container_id: str) -> ContainerInfo:
        return self.info


def _compiled() -> CompiledRules:
    compiled = compile_ruleset(load_rules_files(default_rules_files()), field_classes(["syscall"]))
    assert not compiled.errors and compiled.rules[0].name == "Drift: executable not in the image"
    return compiled


def _records() -> list[RawRecord]:
    """sh in a container creates /tmp/tool (O_CREAT), chmods it, runs it; then runs /bin/ls."""
    return [
        RawRecord(
            RecordKind.EXEC,
            10,
            100,
            100,
            "execve",
            ppid=1,
            comm="sh",
            exepath="/bin/sh",
            argv=["sh"],
            cgroup=CGROUP,
        ),
        RawRecord(
            RecordKind.SYSCALL,
            20,
            100,
            100,
            "openat",
            res=3,
            args={"dirfd": -100, "name": "/tmp/tool", "flags": 0o101},
        ),
        RawRecord(
            RecordKind.SYSCALL,
            25,
            100,
            100,
            "fchmodat",
            res=0,
            args={"dirfd": -100, "filename": "/tmp/tool", "mode": 0o755},
        ),
        RawRecord(RecordKind.FORK, 30, 100, 100, "clone", child_tid=101),
        RawRecord(
            RecordKind.EXEC,
            40,
            101,
            101,
            "execve",
            ppid=100,
            comm="tool",
            exepath="/tmp/tool",
            argv=["/tmp/tool", "-x"],
            cgroup=CGROUP,
        ),
        RawRecord(
            RecordKind.EXEC,
            50,
            102,
            102,
            "execve",
            ppid=100,
            comm="ls",
            exepath="/bin/ls",
            argv=["ls"],
            cgroup=CGROUP,
        ),
    ]


def _runner(
    tmp_path: Path,
    alerts: list[Alert],
    info: ContainerInfo,
    policy: DriftPolicy | None = None,
    recorder: CaptureRecorder | None = None,
    capture_priority: Priority | None = None,
) -> SensorRunner:
    resolver = _Resolver(info)
    return SensorRunner(
        _compiled(),
        FakeBackend(_records()),
        alerts.append,
        table=ProcessTable(proc=tmp_path),
        containers=resolver,
        drift=DriftGuard(resolver, policy, proc=tmp_path),
        recorder=recorder,
        capture_priority=capture_priority,
    )


def test_drift_from_the_containers_own_writes(tmp_path: Path) -> None:
    """No upper dir known (container gone): the tracked O_CREAT + chmod make /tmp/tool drift."""
    alerts: list[Alert] = []
    runner = _runner(tmp_path, alerts, ContainerInfo(CID, name="c1", image="img:1"))
    runner.process_records(_records())
    assert [a.rule for a in alerts] == ["Drift: executable not in the image"]
    fields = alerts[0].output_fields
    assert fields["proc.exepath"] == "/tmp/tool" and fields["yamori.drift.action"] == "alerted"
    assert "action=alerted" in alerts[0].output and alerts[0].priority == "Critical"
    assert runner.table.get(101).exe_upper_layer is True  # type: ignore[union-attr]
    assert runner.table.get(102).exe_upper_layer is False  # type: ignore[union-attr]


def test_drift_from_the_upper_dir_and_kill(tmp_path: Path) -> None:
    """The reader's verdict (upper dir) and the kill; the pid is a child we own, so SIGKILL lands."""
    import subprocess

    upper = tmp_path / "upper"
    (upper / "tmp").mkdir(parents=True)
    (upper / "tmp" / "tool").write_bytes(b"x")
    victim = subprocess.Popen(["sleep", "30"])
    try:
        records = _records()
        records[4].pid = records[4].tid = victim.pid
        alerts: list[Alert] = []
        info = ContainerInfo(CID, name="c1", image="img:1", upper_dir=str(upper))
        runner = _runner(tmp_path, alerts, info, policy=DriftPolicy(True, images=("img:*",)))
        runner.backend = FakeBackend(records[4:5])
        runner.start_reader()
        runner.run(duration=1.0)
        assert victim.wait(timeout=5) == -9
        assert runner.drift is not None and runner.drift.killed == 1
        assert [a.output_fields["yamori.drift.action"] for a in alerts] == ["killed"]
    finally:
        victim.kill()
        victim.wait()


def test_capture_ring_buffers_are_bounded(tmp_path: Path) -> None:
    rec = CaptureRecorder(tmp_path, per_container=5, max_containers=2, window_ns=1000)
    for n in range(10):
        rec.add("a", 10_000 + n, {"ts": 10_000 + n, "type": "openat", "pid": 1})
    assert rec.stats.buffered == 5
    rec.add("a", 20_000, {"ts": 20_000, "type": "openat", "pid": 1})  # older than the window go
    assert rec.stats.buffered == 1
    rec.add("b", 1, {"ts": 1})
    rec.add("c", 1, {"ts": 1})  # evicts "a", the least recently used
    assert rec.stats.evicted_containers == 1 and rec.stats.buffered == 2


def test_capture_written_and_read_back(tmp_path: Path) -> None:
    rec = CaptureRecorder(tmp_path, seconds=0.0)
    rec.add(CID, 1, {"ts": 1, "type": "execve", "pid": 5, "ppid": 1, "exe": "/bin/sh", "cmdline": "sh"})
    info = ContainerInfo(CID, name="web", image="img:1")
    cap_id = rec.trigger(CID, info, {"rule": "R", "priority": "Warning", "output": "o", "time": "t"})
    rec.add(CID, 2, {"ts": 2, "type": "openat", "pid": 5, "comm": "sh", "path": "/etc/x", "res": 3})
    rec.tick()
    rec.close()
    (path, header), = list_captures(tmp_path)  # fmt: skip
    assert header["id"] == cap_id and header["container"]["name"] == "web" and header["rule"] == "R"
    assert find_capture(cap_id[:20], tmp_path) == path
    cap = read_capture(path)
    assert [e["type"] for e in cap.events] == ["execve", "openat"]
    assert cap.end is not None and cap.end["events"] == 2 and cap.alerts[0]["rule"] == "R"


def test_capture_retention_by_age_and_size(tmp_path: Path) -> None:
    now = time.time() - 60  # the files are older than the capture the recorder writes below
    for n, age_days in enumerate([10, 6, 3, 1, 0]):
        f = tmp_path / f"c{n}{SUFFIX}"
        f.write_bytes(b"x" * 1000)
        os.utime(f, (now - age_days * 86400, now - age_days * 86400))
    (tmp_path / f"open{SUFFIX}.part").write_bytes(b"y" * 5000)  # still being written: untouched
    assert prune_captures(tmp_path, 7.0, None, now=now) == 1  # the 10-day-old one
    assert prune_captures(tmp_path, 7.0, 2500, now=now) == 2  # then the oldest until <= 2500 bytes
    left = sorted(f.name for f in tmp_path.iterdir())
    assert left == [f"c3{SUFFIX}", f"c4{SUFFIX}", f"open{SUFFIX}.part"]
    assert prune_captures(tmp_path / "missing", 1.0, 1, now=now) == 0
    # the recorder prunes after each capture it finishes
    rec = CaptureRecorder(tmp_path, seconds=0.0, retention_days=None, max_bytes=1)
    rec.add(CID, 1, {"ts": 1, "type": "execve", "pid": 5, "ppid": 1, "exe": "/bin/sh", "cmdline": "sh"})
    rec.trigger(CID, ContainerInfo(CID), {"rule": "R", "priority": "Warning", "output": "o", "time": "t"})
    rec.tick()
    rec.close()
    assert rec.stats.pruned == 2
    assert not (tmp_path / f"c3{SUFFIX}").exists() and not (tmp_path / f"c4{SUFFIX}").exists()
    ((path, header),) = list_captures(tmp_path)  # the capture just written stays
    assert header["rule"] == "R" and path.name != f"c4{SUFFIX}"


def test_runner_triggers_captures_by_priority(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    recorder = CaptureRecorder(tmp_path / "caps", seconds=0.0)
    runner = _runner(
        tmp_path, alerts, ContainerInfo(CID, name="c1", image="img:1"),
        recorder=recorder, capture_priority=Priority.WARNING,
    )  # fmt: skip
    runner.process_records(_records())
    recorder.tick()
    recorder.close()
    (path, header), = list_captures(tmp_path / "caps")  # fmt: skip
    assert header["rule"] == "Drift: executable not in the image"
    events = read_capture(path).events
    assert [e["type"] for e in events][:3] == ["execve", "openat", "fchmodat"]
    assert any(e.get("drift") for e in events)


def test_metrics_collector_and_http(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    runner = _runner(tmp_path, alerts, ContainerInfo(CID, name="c1", image="img:1"))
    runner.process_records(_records())
    registry = CollectorRegistry()
    registry.register(SensorCollector(runner))
    text = generate_latest(registry).decode()
    assert 'yamori_sensor_events_total{type="execve"} 3.0' in text
    assert (
        'yamori_sensor_alerts_total{priority="Critical",rule="Drift: executable not in the image"} 1.0'
        in text
    )
    assert "yamori_sensor_rule_eval_seconds_count 3.0" in text  # the 3 execs (the rule wants no open)
    assert 'yamori_sensor_skipped_total{type="fchmodat"} 1.0' in text
    assert "yamori_sensor_processes 3.0" in text and "yamori_sensor_lost_total 0.0" in text
    assert "yamori_sensor_drift_detected_total 1.0" in text
    # and over HTTP on a local port
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve_metrics(runner, port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert 'yamori_sensor_events_total{type="execve"} 3.0' in body
