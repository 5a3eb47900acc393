"""The sensor loop without a kernel: ordering, drop-and-count, what reaches the rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.output import Alert
from yamori.detect.rules import load_rules_files
from yamori.detect.sources import field_classes
from yamori.sensor.containers import ContainerResolver
from yamori.sensor.interface import CaptureBackend, CaptureStats, RawRecord, RecordKind
from yamori.sensor.proctable import ProcessTable
from yamori.sensor.runner import SensorRunner

RULES = """
- rule: cat opens
  desc: d
  condition: evt.type = openat and proc.name = cat and proc.pname = sh
  output: "%proc.name opened %fd.name (parent %proc.pname, %container.id)"
  priority: NOTICE
"""


class FakeBackend(CaptureBackend):
    def __init__(self, records: list[RawRecord], gate: threading.Event | None = None) -> None:
        self.stats = CaptureStats()
        self._records = records
        self._gate = gate

    def start(self) -> None:
        pass

    def records(self) -> Iterator[RawRecord]:
        yield from self._records
        if self._gate is not None:
            self._gate.wait(5)

    def stop(self) -> None:
        pass


def _compiled(tmp_path: Path) -> CompiledRules:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    compiled = compile_ruleset(load_rules_files([str(path)]), field_classes(["syscall"]))
    assert not compiled.errors, compiled.errors
    return compiled


def _world(tmp_path: Path) -> list[RawRecord]:
    """sh (100) forks 101, which execs cat and opens a file: records in kernel order."""
    return [
        RawRecord(RecordKind.EXEC, 10, 100, 100, "execve", ppid=1, comm="sh", exepath="/bin/sh", argv=["sh"]),
        RawRecord(RecordKind.FORK, 20, 100, 100, "clone", child_tid=101),
        RawRecord(
            RecordKind.EXEC,
            30,
            101,
            101,
            "execve",
            ppid=100,
            comm="cat",
            exepath="/bin/cat",
            argv=["cat", "x"],
        ),
        RawRecord(
            RecordKind.SYSCALL, 40, 101, 101, "openat", res=3, args={"dirfd": -100, "name": "/x", "flags": 0}
        ),
        RawRecord(RecordKind.EXIT, 50, 101, 101, "procexit"),
    ]


def _runner(tmp_path: Path, records: list[RawRecord], alerts: list[Alert], **kw: int) -> SensorRunner:
    table = ProcessTable(proc=tmp_path)  # no /proc fallback: only the records define processes
    return SensorRunner(
        _compiled(tmp_path), FakeBackend(records), alerts.append, table=table,
        containers=ContainerResolver(sockets=[], podman=None), **kw,
    )  # fmt: skip


def test_out_of_order_records_are_reordered(tmp_path: Path) -> None:
    records = _world(tmp_path)
    shuffled = [records[3], records[0], records[4], records[2], records[1]]  # open before exec
    alerts: list[Alert] = []
    runner = _runner(tmp_path, shuffled, alerts)
    runner.start_reader()
    runner.run(duration=5)
    assert [a.output for a in alerts] == ["cat opened /x (parent sh, host)"]
    c = runner.counters
    assert c.events == {"execve": 2, "openat": 1} and c.skipped == {"clone": 1, "procexit": 1}
    assert sum(c.dropped.values()) == 0 and runner.table.get(101) is not None
    assert runner.table.get(101).exited  # type: ignore[union-attr]


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    records = [
        RawRecord(
            RecordKind.SYSCALL, n, 7, 7, "openat", res=3, args={"dirfd": -100, "name": "/y", "flags": 0}
        )
        for n in range(1, 501)
    ]
    alerts: list[Alert] = []
    gate = threading.Event()
    runner = _runner(tmp_path, records, alerts, queue_size=50)
    runner.backend = FakeBackend(records, gate)
    runner.start_reader()  # nothing consumes yet: the reader must not block, only drop
    while runner.queue.qsize() < 50:
        pass
    gate.set()
    runner.join(5)
    assert runner.counters.dropped["openat"] == 450
    runner.run(duration=0.5)  # the end marker did not fit in the full queue either
    assert runner.counters.events["openat"] == 50 and alerts == []
