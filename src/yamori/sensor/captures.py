"""Captures for forensics: recent events per container, written out when a rule asks for it.

Why: a container lives minutes and is gone when someone reads the alert. The sensor keeps, per
container, a ring buffer of its recent events (at most ``per_container`` events and
``window_ns`` of history, for at most ``max_containers`` containers: memory is bounded whatever
the load). When a rule with Falco's ``capture: true`` fires, or any rule at or above the chosen
priority, the buffer and the container's next ``seconds`` of events go to a capture file under
``data_dir()/captures/``: zstd-compressed JSON lines, a header first (container, image, rule,
alert), then ``event`` and further ``alert`` lines, then an ``end`` line. The file outlives the
container; ``yamori capture list|show`` reads it back.

Writing never blocks the event loop: lines go through a bounded queue to a writer thread; when
the queue is full, lines are dropped and counted (``dropped_lines``), and the file's end line
says how many.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from yamori.sensor.interface import ContainerInfo, ProcessInfo, RawRecord, RecordKind

__all__ = [
    "CaptureFile",
    "CaptureRecorder",
    "capture_dir",
    "event_doc",
    "find_capture",
    "list_captures",
    "read_capture",
]

SUFFIX = ".jsonl.zst"


def capture_dir() -> Path:
    from yamori.config import data_dir

    return data_dir() / "captures"


# Event tuples in the ring buffer: (wall ns, doc). The doc is built once, when the event is
# handled (the process table entry changes later: exec replaces the name and cmdline).
_Entry = tuple[int, dict[str, Any]]


def event_doc(rec: RawRecord, proc: ProcessInfo | None, wall_ns: int, path: str | None) -> dict[str, Any]:
    """A compact, self-contained description of one event (what a capture line holds)."""
    doc: dict[str, Any] = {"ts": wall_ns, "type": rec.evt_type, "pid": rec.pid}
    if rec.tid != rec.pid:
        doc["tid"] = rec.tid
    if proc is not None:
        doc["ppid"] = proc.ppid
        doc["comm"] = proc.comm
    if rec.kind == RecordKind.EXEC:
        doc["ppid"] = rec.ppid
        doc["exe"] = rec.exepath
        doc["cmdline"] = " ".join(rec.argv or [rec.comm])
        doc["uid"] = rec.uid
        if rec.drift or (proc is not None and proc.exe_upper_layer):
            doc["drift"] = True
        if rec.killed:
            doc["killed"] = True
    elif rec.kind == RecordKind.FORK:
        doc["child"] = rec.child_tid
    elif rec.kind == RecordKind.SYSCALL:
        doc["res"] = rec.res
        if rec.args:
            doc["args"] = dict(rec.args)
        if path is not None:
            doc["path"] = path
    return doc


@dataclass(slots=True)
class _Session:
    """One capture file being written: open until ``until_ns`` (monotonic)."""

    id: str
    container_id: str
    until_ns: int
    events: int = 0
    alerts: int = 0


@dataclass(slots=True)
class RecorderStats:
    buffered: int = 0  # events currently held in ring buffers
    captures: int = 0  # capture files started
    dropped_lines: int = 0  # lines the writer queue could not take
    write_errors: int = 0
    evicted_containers: int = 0  # ring buffers dropped to stay within max_containers
    pruned: int = 0  # finished capture files removed by retention (age or total size)


_CLOSE = "close"
_LINE = "line"
_OPEN = "open"


class CaptureRecorder:
    """Ring buffers per container and capture sessions (see the module docstring)."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        per_container: int = 2000,
        window_ns: int = 60_000_000_000,
        max_containers: int = 64,
        seconds: float = 10.0,
        queue_size: int = 50_000,
        level: int = 3,
        retention_days: float | None = 7.0,
        max_bytes: int | None = 1 << 30,
    ) -> None:
        self.directory = directory if directory is not None else capture_dir()
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self.per_container = per_container
        self.window_ns = window_ns
        self.max_containers = max_containers
        self.seconds = seconds
        self.level = level
        self.stats = RecorderStats()
        self._buffers: OrderedDict[str, deque[_Entry]] = OrderedDict()
        self._sessions: dict[str, _Session] = {}
        self._queue: queue.Queue[tuple[str, str, bytes]] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._seq = 0

    # ------------------------------------------------------------------ events (main thread)

    def add(self, container_id: str, wall_ns: int, doc: dict[str, Any]) -> None:
        """Buffer one event of a container; copy it to the container's open capture, if any."""
        buf = self._buffers.get(container_id)
        if buf is None:
            buf = self._buffers[container_id] = deque(maxlen=self.per_container)
            while len(self._buffers) > self.max_containers:
                _, old = self._buffers.popitem(last=False)
                self.stats.buffered -= len(old)
                self.stats.evicted_containers += 1
        else:
            self._buffers.move_to_end(container_id)
        if len(buf) == buf.maxlen:
            self.stats.buffered -= 1
        buf.append((wall_ns, doc))
        self.stats.buffered += 1
        horizon = wall_ns - self.window_ns
        while buf and buf[0][0] < horizon:
            buf.popleft()
            self.stats.buffered -= 1
        session = self._sessions.get(container_id)
        if session is not None:
            session.events += 1
            self._put(_LINE, session.id, {"kind": "event", **doc})

    def trigger(
        self,
        container_id: str,
        info: ContainerInfo | None,
        alert_doc: dict[str, Any],
        seconds: float | None = None,
    ) -> str:
        """Start (or extend) the container's capture for this alert; returns the capture id."""
        now = time.monotonic_ns()
        span = int((self.seconds if seconds is None else seconds) * 1e9)
        session = self._sessions.get(container_id)
        if session is not None:
            session.until_ns = max(session.until_ns, now + span)
            session.alerts += 1
            self._put(_LINE, session.id, {"kind": "alert", "alert": alert_doc})
            return session.id
        self._seq += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        short = container_id[:12] if container_id != "host" else "host"
        cid = f"{stamp}-{short}-{os.getpid()}-{self._seq}"
        session = _Session(cid, container_id, now + span, alerts=1)
        self._sessions[container_id] = session
        self.stats.captures += 1
        buf = list(self._buffers.get(container_id, ()))
        header = {
            "kind": "header",
            "id": cid,
            "created": time.time_ns(),
            "container": {
                "id": container_id,
                "name": info.name if info else None,
                "image": info.image if info else None,
                "image_id": info.image_id if info else None,
                "image_digest": info.image_digest if info else None,
            },
            "rule": alert_doc.get("rule"),
            "priority": alert_doc.get("priority"),
            "alert": alert_doc,
            "buffered_events": len(buf),
            "seconds_after": span / 1e9,
        }
        self._ensure_thread()
        self._put(_OPEN, cid, header)
        for _, doc in buf:
            session.events += 1
            self._put(_LINE, cid, {"kind": "event", **doc})
        return cid

    def tick(self) -> None:
        """Close captures whose time is up (called from the event loop, also when idle)."""
        if not self._sessions:
            return
        now = time.monotonic_ns()
        for key, session in list(self._sessions.items()):
            if now >= session.until_ns:
                self._finish(key, session)

    def _finish(self, key: str, session: _Session) -> None:
        del self._sessions[key]
        end = {"kind": "end", "events": session.events, "alerts": session.alerts}
        end["dropped_lines"] = self.stats.dropped_lines
        self._put(_CLOSE, session.id, end)

    def close(self, timeout: float = 10.0) -> None:
        """End every open capture and wait for the writer to flush (sensor exit)."""
        for key, session in list(self._sessions.items()):
            self._finish(key, session)
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(("stop", "", b""), timeout=timeout)
            self._thread.join(timeout)

    def active(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------ the writer

    def _put(self, op: str, cid: str, doc: dict[str, Any]) -> None:
        line = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")
        try:
            self._queue.put_nowait((op, cid, line + b"\n"))
        except queue.Full:
            self.stats.dropped_lines += 1

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_loop, name="capture-writer", daemon=True)
            self._thread.start()

    def _write_loop(self) -> None:
        files: dict[str, tuple[IO[bytes], Any]] = {}
        cctx = zstandard.ZstdCompressor(level=self.level)
        while True:
            op, cid, line = self._queue.get()
            if op == "stop":
                break
            try:
                if op == _OPEN:
                    self.directory.mkdir(parents=True, exist_ok=True)
                    raw: IO[bytes] = open(self.directory / f"{cid}{SUFFIX}.part", "wb")  # noqa: SIM115
                    files[cid] = (raw, cctx.stream_writer(raw, closefd=False))
                entry = files.get(cid)
                if entry is None:
                    continue
                entry[1].write(line)
                if op == _CLOSE:
                    entry[1].close()
                    entry[0].close()
                    del files[cid]
                    part = self.directory / f"{cid}{SUFFIX}.part"
                    part.rename(self.directory / f"{cid}{SUFFIX}")
                    self.stats.pruned += prune_captures(self.directory, self.retention_days, self.max_bytes)
            except (OSError, zstandard.ZstdError):
                self.stats.write_errors += 1
        for raw, writer in files.values():  # sensor stopping with captures still open
            with contextlib.suppress(OSError, zstandard.ZstdError):
                writer.close()
                raw.close()


def prune_captures(
    directory: Path, retention_days: float | None, max_bytes: int | None, *, now: float | None = None
) -> int:
    """Remove finished captures older than ``retention_days``, then the oldest until the rest
    fit in ``max_bytes`` (the newest always stays); returns how many were removed.

    Called when the sensor starts and after every capture it finishes, so a node never fills
    its disk with evidence nobody pruned (the server keeps its own copies under its own
    retention). Files still being written (``.part``) are never touched; None disables a limit."""
    try:
        files = [(f, f.stat()) for f in directory.iterdir() if f.name.endswith(SUFFIX)]
    except OSError:
        return 0
    files.sort(key=lambda fs: fs[1].st_mtime)
    now = time.time() if now is None else now
    removed = 0
    keep: list[tuple[Path, os.stat_result]] = []
    for f, st in files:
        if retention_days is not None and now - st.st_mtime > retention_days * 86400:
            with contextlib.suppress(OSError):
                f.unlink()
                removed += 1
        else:
            keep.append((f, st))
    if max_bytes is not None:
        total = sum(st.st_size for _, st in keep)
        for f, st in keep[:-1]:  # the newest capture stays, whatever its size
            if total <= max_bytes:
                break
            with contextlib.suppress(OSError):
                f.unlink()
                removed += 1
                total -= st.st_size
    return removed


# ---------------------------------------------------------------------- reading back


@dataclass(slots=True)
class CaptureFile:
    """A capture read back: its header, events, alerts and end line (None when cut short)."""

    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    end: dict[str, Any] | None


def _lines(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Decoded lines of a capture; a truncated file (sensor killed) yields what it holds."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as raw, dctx.stream_reader(raw) as reader:
        pending = b""
        count = 0
        while True:
            try:
                chunk = reader.read(65536)
            except zstandard.ZstdError:
                return
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                try:
                    doc = json.loads(line.decode("utf-8", "surrogateescape"))
                except ValueError:
                    continue
                if isinstance(doc, dict):
                    yield doc
                    count += 1
                    if limit is not None and count >= limit:
                        return


def list_captures(directory: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """(path, header) of every capture, newest first (``.part`` files are still being written)."""
    base = directory if directory is not None else capture_dir()
    if not base.is_dir():
        return []
    out: list[tuple[Path, dict[str, Any]]] = []
    for path in base.iterdir():
        if not (path.name.endswith(SUFFIX) or path.name.endswith(SUFFIX + ".part")):
            continue
        header = next(iter(_lines(path, 1)), None)
        if header is not None and header.get("kind") == "header":
            out.append((path, header))
    out.sort(key=lambda item: int(item[1].get("created", 0)), reverse=True)
    return out


def find_capture(capture_id: str, directory: Path | None = None) -> Path | None:
    """The capture with this id (or a unique prefix of it)."""
    matches = [p for p, h in list_captures(directory) if str(h.get("id", "")).startswith(capture_id)]
    exact = [p for p in matches if p.name.startswith(capture_id + SUFFIX)]
    if exact:
        return exact[0]
    return matches[0] if len(matches) == 1 else None


def read_capture(path: Path) -> CaptureFile:
    header: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    end = None
    for doc in _lines(path):
        kind = doc.get("kind")
        if kind == "header":
            header = doc
        elif kind == "event":
            events.append(doc)
        elif kind == "alert":
            alerts.append(doc.get("alert") or {})
        elif kind == "end":
            end = doc
    if header.get("alert"):
        alerts.insert(0, header["alert"])
    events.sort(key=lambda d: int(d.get("ts", 0)))
    return CaptureFile(path, header, events, alerts, end)
