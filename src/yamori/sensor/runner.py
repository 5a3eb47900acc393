"""The sensor loop: capture records -> process table -> ``SyscallEvent`` -> engine -> alerts.

Two threads: a reader drains the capture backend as fast as it can into a bounded queue (so a
slow rule or sink never stalls the pipe from bpftrace, which would make the kernel drop events
silently); the main loop takes records from the queue, restores their time order and runs the
rules. When the queue is full the reader DROPS the record and counts it (by event type): a
security sensor must say what it missed rather than block the kernel side.

Ordering: bpftrace reads one perf buffer per CPU, so a process's exec (CPU 0) can arrive after
its first open (CPU 1). Records wait in a small reorder buffer (``reorder_ns`` of record time,
flushed when the stream goes idle) and leave it sorted by kernel timestamp, which keeps the
process table ahead of the events that need it.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import pwd
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from yamori.detect.compiler import CompiledRules
from yamori.detect.condition import referenced_names
from yamori.detect.engine import Engine
from yamori.detect.fields.syscall import UNFILLED, SyscallEvent
from yamori.detect.output import Alert, OutputField, OutputTemplate, alert_to_json
from yamori.detect.rules.model import Priority
from yamori.sensor.captures import CaptureRecorder, event_doc
from yamori.sensor.containers import ContainerResolver, container_id_from_cgroup_name, runtime_of_cgroup_name
from yamori.sensor.dnsnames import DnsNames
from yamori.sensor.drift import DriftGuard, is_written_event
from yamori.sensor.fdtable import FdTable
from yamori.sensor.interface import (
    OPEN_SYSCALLS,
    CaptureBackend,
    ContainerInfo,
    FdInfo,
    HostInfo,
    ProcessInfo,
    RawRecord,
    RecordKind,
)
from yamori.sensor.inuse import OPEN_TYPES, InUseRecorder
from yamori.sensor.metrics import EvalHistogram
from yamori.sensor.proctable import ProcessTable, absolute_path, read_environ

__all__ = [
    "CONTAINER_OUTPUT",
    "SensorContext",
    "SensorCounters",
    "SensorRunner",
    "append_container_output",
    "rule_evttypes",
    "unfilled_fields",
]

log = logging.getLogger(__name__)


def rule_evttypes(compiled: CompiledRules) -> tuple[set[str], list[str]]:
    """The syscalls the rules can match, and the rules that match every type (not narrowed).

    Falco derives the syscall set the same way; a rule with no ``evt.type`` restriction would
    need every syscall, which this sensor does not capture (such rules see only the types the
    others asked for, as Falco warns with LOAD_NO_EVTTYPE).
    """
    types: set[str] = set()
    unbounded: list[str] = []
    for rule in compiled.rules:
        if rule.source != "syscall":
            continue
        if rule.evttypes.negated:
            unbounded.append(rule.name)
        else:
            types |= rule.evttypes.names
    return types, unbounded


def _used_fields(compiled: CompiledRules) -> set[str]:
    """Fields the syscall rules' conditions and outputs name."""
    used: set[str] = set()
    for rule in compiled.rules:
        if rule.source == "syscall":
            used |= referenced_names(rule.condition)[2]
            used |= {p.name for p in rule.output.parts if isinstance(p, OutputField)}
    return used


def unfilled_fields(compiled: CompiledRules) -> list[str]:
    """Fields the loaded rules (conditions and outputs) name that the sensor never fills."""
    return sorted(_used_fields(compiled) & set(UNFILLED))


CONTAINER_OUTPUT = (
    " container_id=%container.id container_name=%container.name"
    " container_image_repository=%container.image.repository"
    " container_image_tag=%container.image.tag k8s_pod_name=%k8s.pod.name k8s_ns_name=%k8s.ns.name"
)
"""What Falco's container plugin appends to every syscall rule's output (its suggested fields)."""


def append_container_output(compiled: CompiledRules, suffix: str = CONTAINER_OUTPUT) -> None:
    """Append the container fields to each syscall rule's output, as Falco does with the
    container plugin loaded: the stable rules' own outputs name no container field."""
    for rule in compiled.rules:
        if rule.source == "syscall":
            rule.output = OutputTemplate.parse(rule.output.text + suffix)


# Syscalls the fd table follows (see fdtable); AT_FDCWD as the kernel side prints it (u32).
_FD_TYPES = OPEN_SYSCALLS | {
    "memfd_create", "socket", "connect", "accept", "accept4", "bind", "listen", "sendto", "dup", "dup2",
    "dup3", "close",
}  # fmt: skip
_AT_FDCWD_U32 = (1 << 32) - 100

_PATH_ARGS = ("name", "path", "filename", "pathname", "linkpath", "newpath", "dir")


def _record_path(rec: RawRecord, proc: ProcessInfo) -> str | None:
    """The main path of a syscall record, absolute when the cwd is known (captures)."""
    if rec.kind != RecordKind.SYSCALL:
        return None
    for name in _PATH_ARGS:
        value = rec.args.get(name)
        if isinstance(value, str) and value:
            return value if value.startswith("/") or proc.cwd is None else absolute_path(value, proc.cwd)
    return None


def _passwd_names(path: Path, id_field: int) -> dict[int, str]:
    """uid/gid -> name from a passwd/group file (id_field: 2 for both formats)."""
    names: dict[int, str] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return names
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > id_field and parts[id_field].isdigit():
            names.setdefault(int(parts[id_field]), parts[0])
    return names


class SensorContext:
    """The lookups ``SyscallEvent`` needs: processes, containers, user and group names, time."""

    def __init__(
        self, table: ProcessTable, containers: ContainerResolver, proc: Path = Path("/proc")
    ) -> None:
        self.table = table
        self.containers = containers
        self.proc = proc
        self.host: HostInfo | None = None  # the evt.hostname and cloud.* fields (set by the CLI)
        self._offset = time.time_ns() - time.monotonic_ns()
        self._users: dict[str, dict[int, str]] = {}
        self._groups: dict[str, dict[int, str]] = {}
        self.fds = FdTable(proc=proc)
        self.dns: DnsNames | None = None  # names of addresses, fd.*ip.name (set by the CLI)

    def fd(self, pid: int, fd: int) -> FdInfo | None:
        return self.fds.get(pid, fd)

    def ip_names(self, ip: str) -> frozenset[str] | None:
        return self.dns.names_of(ip) if self.dns is not None else None

    def process(self, pid: int) -> ProcessInfo | None:
        return self.table.lookup(pid)

    def container(self, container_id: str) -> ContainerInfo | None:
        return self.containers.get(container_id)

    def cwd(self, proc: ProcessInfo) -> str | None:
        return self.table.cwd(proc)

    def _names(self, cache: dict[str, dict[int, str]], proc: ProcessInfo, file: str) -> dict[int, str]:
        key = proc.container_id
        names = cache.get(key)
        if names is None:
            # a container's users live in its own /etc/passwd, read through the process's root
            root = Path("/") if key == "host" else self.proc / str(proc.pid) / "root"
            names = _passwd_names(root / "etc" / file, 2)
            if names or key == "host":
                cache[key] = names
        return names

    def user_name(self, proc: ProcessInfo, uid: int) -> str | None:
        name = self._names(self._users, proc, "passwd").get(uid)
        if name is None and proc.container_id == "host":
            try:
                name = pwd.getpwuid(uid).pw_name
            except (KeyError, OverflowError):
                name = None
        return name if name is not None else ("root" if uid == 0 else None)

    def group_name(self, proc: ProcessInfo, gid: int) -> str | None:
        name = self._names(self._groups, proc, "group").get(gid)
        return name if name is not None else ("root" if gid == 0 else None)

    def wall_ns(self, monotonic_ns: int) -> int:
        return monotonic_ns + self._offset

    def monotonic_now(self) -> int:
        return time.monotonic_ns()


@dataclass(slots=True)
class SensorCounters:
    """What went through the sensor; printed at the end and served as metrics."""

    events: Counter[str] = field(default_factory=Counter)  # events run through the rules, by type
    dropped: Counter[str] = field(default_factory=Counter)  # records dropped on a full queue
    skipped: Counter[str] = field(default_factory=Counter)  # records no rule wants (table only)
    alerts: int = 0
    alerts_by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, priority)
    unprocessed: int = 0  # records still queued at stop (--duration, signal)
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        secs = max(1e-9, time.monotonic() - self.started)
        total = sum(self.events.values())
        return (
            f"events={total} ({total / secs:.0f}/s) alerts={self.alerts} "
            f"dropped={sum(self.dropped.values())} skipped={sum(self.skipped.values())} "
            f"unprocessed={self.unprocessed}"
        )


_STOP = object()


class SensorRunner:
    """Run the rules over a capture backend until stopped or ``duration`` seconds have passed."""

    def __init__(
        self,
        compiled: CompiledRules,
        backend: CaptureBackend,
        emit: Callable[[Alert], object],
        *,
        rule_matching: str = "first",
        table: ProcessTable | None = None,
        containers: ContainerResolver | None = None,
        queue_size: int = 65536,
        reorder_ns: int = 20_000_000,
        drift: DriftGuard | None = None,
        recorder: CaptureRecorder | None = None,
        capture_rules: frozenset[str] = frozenset(),
        capture_priority: Priority | None = None,
        capture_durations: dict[str, float] | None = None,
        hostname: str = "",
        inuse: InUseRecorder | None = None,
    ) -> None:
        self.engine = Engine(compiled, rule_matching="all" if rule_matching == "all" else "first")
        self.wanted, _ = rule_evttypes(compiled)
        self.backend = backend
        self.emit = emit
        self.table = table if table is not None else ProcessTable()
        self.context = SensorContext(
            self.table, containers if containers is not None else ContainerResolver()
        )
        self.counters = SensorCounters()
        self.queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self.reorder_ns = reorder_ns
        self._heap: list[tuple[int, int, RawRecord]] = []
        self._seq = 0
        self._num = 0
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.drift = drift
        self.recorder = recorder
        self.capture_rules = capture_rules
        self.capture_priority = capture_priority
        self.capture_durations = capture_durations or {}
        self.hostname = hostname
        self.eval_hist = EvalHistogram()
        self.inuse = inuse
        # environments are read from /proc at exec only when a rule reads them (bounded, costly)
        self.want_env = bool(_used_fields(compiled) & {"proc.env", "proc.aenv"})
        self.table.want_env = self.want_env

    def start_reader(self) -> None:
        """Drain the backend into the queue on a thread of its own (drop and count when full)."""

        def read() -> None:
            put = self.queue.put_nowait
            dropped = self.counters.dropped
            try:
                for rec in self.backend.records():
                    if rec.kind == RecordKind.EXEC:
                        self._prefetch_container(rec)
                        if self.want_env:
                            rec.env = read_environ(rec.pid)  # while the process likely lives
                        if self.drift is not None:
                            self.drift.check_exec(rec)  # earliest point: kill before reordering
                    try:
                        put(rec)
                    except queue.Full:
                        dropped[rec.evt_type] += 1
                    if self._stop.is_set():
                        break
            except Exception:  # a decoding bug must end the sensor visibly, not hang it
                log.exception("capture reader failed")
            finally:
                with contextlib.suppress(queue.Full):
                    self.queue.put(_STOP, timeout=1.0)

        self._reader = threading.Thread(target=read, name="sensor-reader", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()

    def _prefetch_container(self, rec: RawRecord) -> None:
        """Name new containers to the resolver as early as the stream allows (see prefetch)."""
        cid = container_id_from_cgroup_name(rec.cgroup) if rec.cgroup else None
        if cid is None and rec.comm == "conmon" and rec.argv:
            # podman's monitor starts before the container's process: `conmon ... -c <id> ...`
            argv = rec.argv
            for i, arg in enumerate(argv[:-1]):
                if arg in ("-c", "--cid") and container_id_from_cgroup_name(argv[i + 1]):
                    cid = argv[i + 1]
                    break
        if cid is not None:
            self.context.containers.prefetch(cid, runtime_of_cgroup_name(rec.cgroup) if rec.cgroup else None)

    def run(self, duration: float | None = None) -> None:
        """The main loop (call ``start_reader`` first, after the backend has started)."""
        deadline = None if duration is None else time.monotonic() + duration
        get = self.queue.get
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if self.recorder is not None:
                self.recorder.tick()
            if self.inuse is not None:
                self.inuse.tick()
            try:
                item = get(timeout=0.02)
            except queue.Empty:
                self._release(None)  # idle: nothing older is coming
                continue
            if item is _STOP:
                break
            assert isinstance(item, RawRecord)
            self._push(item)
            # take whatever else is queued before releasing, so the window sees neighbours
            for _ in range(1024):
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._stop.set()
                    break
                assert isinstance(more, RawRecord)
                self._push(more)
            self._release(self._heap_max - self.reorder_ns)
        self._release(None)
        self.counters.unprocessed = self.queue.qsize()  # still queued when told to stop

    _heap_max = 0

    def _push(self, rec: RawRecord) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (rec.ts, self._seq, rec))
        if rec.ts > self._heap_max:
            self._heap_max = rec.ts

    def _release(self, upto: int | None) -> None:
        heap = self._heap
        while heap and (upto is None or heap[0][0] <= upto):
            _, _, rec = heapq.heappop(heap)
            self.handle(rec)

    def process_records(self, records: Iterable[RawRecord]) -> None:
        """Handle records directly, in the given order (tests and replays)."""
        for rec in records:
            self.handle(rec)

    def handle(self, rec: RawRecord) -> None:
        """Fold one record into the process table and, if a rule may want it, run the rules.

        Drift bookkeeping (paths containers wrote) and the capture ring buffers see every
        record of a container process, also those no rule wants.
        """
        table = self.table
        kind = rec.kind
        wanted = True
        if kind == RecordKind.FORK:
            table.on_fork(rec)
            wanted = "clone" in self.wanted
            proc = table.get(rec.pid)
        elif kind == RecordKind.EXIT:
            table.on_exit(rec)
            if rec.tid == rec.pid:
                self.context.fds.on_exit(rec.pid)
            wanted = "procexit" in self.wanted
            proc = table.get(rec.pid)
        elif kind == RecordKind.EXEC:
            proc = table.on_exec(rec)
            proc.drift_killed = rec.killed
            if rec.drift is not None:
                proc.exe_upper_layer = rec.drift
            elif self.drift is not None:
                proc.exe_upper_layer = self.drift.decide_late(
                    proc.container_id, rec.exepath, rec.pid, proc.cwd
                )
            else:
                proc.exe_upper_layer = None
            if self.inuse is not None:
                self.inuse.on_exec(rec, proc)
        else:
            if rec.res >= 0 and rec.evt_type in ("chdir", "fchdir"):
                path = rec.args.get("path", "")
                table.on_chdir(rec.pid, path if isinstance(path, str) else "")
            wanted = rec.evt_type in self.wanted
            proc = table.lookup(rec.pid) if wanted else table.get(rec.pid)
            if rec.evt_type in _FD_TYPES:
                self._track_fd(rec, proc)
            if self.drift is not None and proc is not None and proc.container_id != "host":
                written = is_written_event(rec)
                if written is not None:
                    self.drift.note_written(proc.container_id, absolute_path(written, proc.cwd))
            if self.inuse is not None and proc is not None and rec.evt_type in OPEN_TYPES:
                self.inuse.on_open(rec, proc)
        recorder = self.recorder
        if recorder is not None and proc is not None and proc.container_id != "host":
            wall = self.context.wall_ns(rec.ts)
            recorder.add(proc.container_id, wall, event_doc(rec, proc, wall, _record_path(rec, proc)))
        if not wanted:
            self.counters.skipped[rec.evt_type] += 1
            return
        self._num += 1
        event = SyscallEvent(rec, proc, self.context, self._num)
        self.counters.events[rec.evt_type] += 1
        t0 = time.perf_counter_ns()
        alerts = self.engine.process(event)
        self.eval_hist.observe_ns(time.perf_counter_ns() - t0)
        for alert in alerts:
            self.counters.alerts += 1
            self.counters.alerts_by_rule[(alert.rule, alert.priority)] += 1
            self.emit(alert)
            if recorder is not None and proc is not None and proc.container_id != "host":
                self._maybe_capture(alert, proc)

    def _track_fd(self, rec: RawRecord, proc: ProcessInfo | None) -> None:
        """Keep the fd table current (opens name files; socket calls name sockets)."""
        path = None
        if rec.evt_type in OPEN_SYSCALLS and rec.res >= 0:
            name = rec.args.get("name")
            if isinstance(name, str) and name:
                dirfd = rec.args.get("dirfd", _AT_FDCWD_U32)
                if name.startswith("/") or dirfd in (_AT_FDCWD_U32, -100):
                    path = absolute_path(name, proc.cwd) if proc is not None else name
        self.context.fds.on_record(rec, path)

    def _maybe_capture(self, alert: Alert, proc: ProcessInfo) -> None:
        """Start a capture when the rule says ``capture: true`` or its priority is high enough."""
        assert self.recorder is not None
        wanted = alert.rule in self.capture_rules
        if not wanted and self.capture_priority is not None:
            prio = Priority.parse(alert.priority)
            wanted = prio is not None and prio <= self.capture_priority
        if not wanted:
            return
        doc = json.loads(alert_to_json(alert, self.hostname))
        info = self.context.container(proc.container_id)
        self.recorder.trigger(proc.container_id, info, doc, self.capture_durations.get(alert.rule))

    def join(self, timeout: float = 5.0) -> None:
        if self._reader is not None:
            self._reader.join(timeout)
