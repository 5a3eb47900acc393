"""The process table: seeded from /proc, and kept current from real fork/exec/exit records."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from yamori.sensor.bpftrace import BpftraceBackend, generate_program
from yamori.sensor.interface import RawRecord, RecordKind
from yamori.sensor.proctable import ProcessTable, read_proc_entry


def test_seed_and_read_self() -> None:
    table = ProcessTable()
    assert table.seed() > 1
    me = table.get(os.getpid())
    assert me is not None and me.pid == os.getpid() and me.ppid == os.getppid()
    assert me.exepath and me.cwd == os.getcwd() and me.uid == os.geteuid()
    assert read_proc_entry(2**22 + 7) is None  # no such pid


def test_bounded_eviction_prefers_exited(tmp_path: Path) -> None:
    table = ProcessTable(limit=3, proc=tmp_path)  # an empty /proc: only records fill the table
    for pid in (100, 101, 102):
        table.on_fork(RawRecord(RecordKind.FORK, pid, 1, 1, "clone", child_tid=pid))
    table.on_exit(RawRecord(RecordKind.EXIT, 5, 100, 100, "procexit"))
    table.on_fork(RawRecord(RecordKind.FORK, 6, 1, 1, "clone", child_tid=103))
    assert table.get(100) is None and table.get(101) is not None and table.evicted_exited == 1
    table.on_fork(RawRecord(RecordKind.FORK, 7, 1, 1, "clone", child_tid=104))
    assert table.evicted_live == 1 and len(table) == 3


def test_chain_from_real_fork_and_exec(capture_ready: None) -> None:
    """sh -c 'sh -c "sleep 0.5"': the inner shell and sleep come from kernel records.

    The outer shell is the test's child; the kernel filter hides the sensor's own children, so
    it is known from /proc (the table reads it on demand), everything below it from records.
    """
    program, _, _ = generate_program([], os.getpid())
    backend = BpftraceBackend(program)
    backend.start()
    table = ProcessTable()
    table.seed()
    records: list[RawRecord] = []

    def consume() -> None:
        for rec in backend.records():
            records.append(rec)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        outer = subprocess.Popen(["sh", "-c", "sh -c 'sleep 0.5; true'; true"])
        time.sleep(0.1)
        assert table.lookup(outer.pid) is not None  # as the sensor does on the first event naming it
        time.sleep(0.15)
        outer.wait(timeout=10)
        time.sleep(0.3)
    finally:
        backend.stop()
        reader.join(5)
    for rec in sorted(records, key=lambda r: r.ts):
        if rec.kind == RecordKind.FORK:
            table.on_fork(rec)
        elif rec.kind == RecordKind.EXEC:
            table.on_exec(rec)
        elif rec.kind == RecordKind.EXIT:
            table.on_exit(rec)
    sleeps = [r for r in records if r.kind == RecordKind.EXEC and r.argv == ["sleep", "0.5"]]
    assert len(sleeps) == 1, [r.argv for r in records if r.kind == RecordKind.EXEC][:20]
    sleep = table.get(sleeps[0].pid)
    assert sleep is not None and sleep.comm == "sleep" and sleep.exepath.endswith("/sleep")
    assert sleep.exited and sleep.container_id == "host" and sleep.start_ns > 0
    inner = table.get(sleep.ppid)
    assert inner is not None and inner.comm == "sh" and inner.args == ["-c", "sleep 0.5; true"]
    outer_entry = table.lookup(inner.ppid)
    assert outer_entry is not None and outer_entry.pid == outer.pid
    assert outer_entry.ppid == os.getpid()
    chain = [p.pid for p in table.ancestors(sleep)]
    assert chain[:3] == [inner.pid, outer.pid, os.getpid()]
    # the kernel filter kept the test's (the "sensor's") own children out
    assert not any(r.kind == RecordKind.EXEC and r.ppid == os.getpid() for r in records)
    assert backend.stats.malformed == 0


@pytest.mark.parametrize("pid", [0, -1])
def test_lookup_of_impossible_pids(pid: int) -> None:
    assert ProcessTable().lookup(pid) is None
