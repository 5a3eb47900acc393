"""Event inputs: Kubernetes audit JSON lines (files, stdin), the audit webhook over HTTP, and
CloudTrail log files.

Every reader yields parsed events and counts what it had to skip (not JSON, not an object, a
line over ``MAX_LINE`` bytes, an unreadable file) in an ``InputStats``; nothing a peer sends can
stop the stream.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import orjson

from yamori.detect.fields._time import parse_rfc3339_ns
from yamori.detect.fields.cloudtrail import CloudTrailEvent
from yamori.detect.fields.k8s_audit import K8sAuditEvent

__all__ = [
    "MAX_BODY",
    "MAX_CLOUDTRAIL_LOG",
    "MAX_LINE",
    "AuditWebhookServer",
    "CloudTrailLogError",
    "InputStats",
    "cloudtrail_files",
    "cloudtrail_log_events",
    "k8s_audit_docs",
    "k8s_audit_lines",
    "k8s_audit_stream",
]

MAX_LINE = 16 * 1024 * 1024  # bytes; a longer line is skipped and counted
MAX_BODY = 64 * 1024 * 1024  # bytes; a larger webhook body is refused (413) and counted
MAX_CLOUDTRAIL_LOG = 512 * 1024 * 1024  # bytes of JSON in one CloudTrail log object, decompressed
WEBHOOK_PATH = "/k8s-audit"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InputStats:
    """Counters shared by the readers (thread-safe: the HTTP server updates them from its threads)."""

    events: int = 0
    skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, events: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self.events += events
            self.skipped += skipped


def _stage_time(item: Any) -> int | None:
    """The event's ``stageTimestamp`` in ns, or None when it has none that parses.

    Falco's k8saudit plugin drops such events before any rule sees them; doing the same keeps
    rules like "All K8s Audit Events" from firing here alone.
    """
    if not isinstance(item, dict):
        return None
    stamp = item.get("stageTimestamp")
    return parse_rfc3339_ns(stamp) if isinstance(stamp, str) else None


def _audit_event(item: Any) -> K8sAuditEvent | None:
    """The event, its time already parsed (the stage time is the event time), or None to skip."""
    ns = _stage_time(item)
    if ns is None:
        return None
    event = K8sAuditEvent(item)
    event.set_time_ns(ns)
    return event


def k8s_audit_docs(doc: Any, stats: InputStats) -> list[K8sAuditEvent]:
    """Events of one parsed document: an ``EventList`` (its ``items``) or a single ``Event``.

    Items that are not objects, or carry no parseable ``stageTimestamp``, are skipped and counted.
    """
    if not isinstance(doc, dict):
        stats.add(skipped=1)
        return []
    if doc.get("kind") == "EventList" or ("items" in doc and "kind" not in doc):
        items = doc.get("items")
        if not isinstance(items, list):
            stats.add(skipped=1)
            return []
        events = [e for e in map(_audit_event, items) if e is not None]
        stats.add(events=len(events), skipped=len(items) - len(events))
        return events
    event = _audit_event(doc)
    if event is None:
        stats.add(skipped=1)
        return []
    stats.add(events=1)
    return [event]


def loads_json(data: bytes | str) -> Any:
    """Parse JSON with orjson (4x faster on audit events), falling back to the standard parser
    for what orjson refuses but Python's parser takes (lone surrogate escapes, NaN). Raises
    ValueError or RecursionError for text that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _lines(stream: IO[bytes], stats: InputStats) -> Iterator[bytes]:
    """Lines of at most ``MAX_LINE`` bytes; longer lines are drained, skipped and counted."""
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while True:  # drain the rest of the oversized line without holding it
                rest = stream.readline(1024 * 1024)
                if not rest or rest.endswith(b"\n"):
                    break
            stats.add(skipped=1)
            continue
        yield line


def k8s_audit_stream(stream: IO[bytes], stats: InputStats) -> Iterator[K8sAuditEvent]:
    """Audit events from JSON lines (each an ``Event`` or an ``EventList``); blank lines ignored."""
    for line in _lines(stream, stats):
        if not line.strip():
            continue
        try:
            doc = loads_json(line)
        except (ValueError, RecursionError):
            stats.add(skipped=1)
            continue
        yield from k8s_audit_docs(doc, stats)


def k8s_audit_lines(
    paths: Iterable[str], stats: InputStats, stdin: IO[bytes] | None = None
) -> Iterator[K8sAuditEvent]:
    """Audit events from files in order; ``-`` reads ``stdin`` (binary)."""
    for path in paths:
        if path == "-":
            if stdin is not None:
                yield from k8s_audit_stream(stdin, stats)
            continue
        with open(path, "rb") as fh:
            yield from k8s_audit_stream(fh, stats)


def _cloudtrail_paths(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and (p.name.endswith(".json") or p.name.endswith(".json.gz"))
        )
    return [path]


class CloudTrailLogError(ValueError):
    """One CloudTrail log object cannot be used (corrupt, not JSON, too large); says why in a line."""


def _bounded_json_bytes(data: bytes, limit: int) -> bytes:
    """``data`` itself, or gunzipped when it starts with gzip's magic, never more than ``limit`` bytes.

    The bound is enforced while decompressing (reading at most ``limit + 1`` bytes out of the
    stream), so a small gzip bomb never expands into memory. Gzip is recognised by content, not
    by name: S3 objects and copied files do not always keep their ``.gz``.
    """
    if data[:2] != b"\x1f\x8b":
        if len(data) > limit:
            raise CloudTrailLogError(f"larger than {limit} bytes")
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            out = gz.read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise CloudTrailLogError(f"corrupt gzip: {exc}") from None
    if len(out) > limit:
        raise CloudTrailLogError(f"larger than {limit} bytes once decompressed")
    return out


def cloudtrail_log_events(
    data: bytes, stats: InputStats, limit: int = MAX_CLOUDTRAIL_LOG
) -> list[CloudTrailEvent]:
    """The records of one CloudTrail log object (``.json`` or ``.json.gz`` bytes), counted in ``stats``.

    Shared by the file, S3 and SQS inputs so they accept exactly the same objects: ``Records[]``,
    or one bare record (an object with ``eventName``). Entries that are not objects are skipped
    and counted; an object that cannot be used at all raises ``CloudTrailLogError`` and the
    caller decides how to count and log it (it knows the file name or S3 key).
    """
    text = _bounded_json_bytes(data, limit)
    try:
        doc = loads_json(text)
    except (ValueError, RecursionError) as exc:
        raise CloudTrailLogError(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        records: list[Any] = doc["Records"]
    elif isinstance(doc, dict) and "eventName" in doc:
        records = [doc]
    else:
        raise CloudTrailLogError("not a CloudTrail log (no Records[])")
    events = [CloudTrailEvent(record) for record in records if isinstance(record, dict)]
    stats.add(events=len(events), skipped=len(records) - len(events))
    return events


def cloudtrail_files(paths: Iterable[str], stats: InputStats) -> Iterator[CloudTrailEvent]:
    """CloudTrail records from ``.json`` / ``.json.gz`` log files (``Records[]``) or directories.

    A file holding one bare record (an object with ``eventName``) is accepted too. A file that
    cannot be read or parsed counts as one skipped input.
    """
    for arg in paths:
        for path in _cloudtrail_paths(Path(arg)):
            try:
                if path.stat().st_size > MAX_CLOUDTRAIL_LOG:
                    raise CloudTrailLogError(f"larger than {MAX_CLOUDTRAIL_LOG} bytes")
                events = cloudtrail_log_events(path.read_bytes(), stats)
            except (OSError, CloudTrailLogError) as exc:
                log.debug("skipping %s: %s", path, exc)
                stats.add(skipped=1)
                continue
            yield from events


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook: " + format, *args)

    def _answer(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        stats = self.server.stats
        if self.path.split("?", 1)[0] != WEBHOOK_PATH:
            self._answer(404, "not found\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            stats.add(skipped=1)
            self._answer(411, "Content-Length required\n")
            return
        if length < 0 or length > MAX_BODY:
            stats.add(skipped=1)
            self.close_connection = True
            self._answer(413, "body too large\n")
            return
        body = self.rfile.read(length)
        try:
            doc = loads_json(body)
        except (ValueError, RecursionError):
            stats.add(skipped=1)
            self._answer(400, "body is not JSON\n")
            return
        if not isinstance(doc, dict):
            stats.add(skipped=1)
            self._answer(400, "body is not a JSON object\n")
            return
        for event in k8s_audit_docs(doc, stats):
            self.server.events.put(event)
        self._answer(200, "ok\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stats: InputStats) -> None:
        super().__init__(address, _Handler)
        self.stats = stats
        self.events: queue.Queue[K8sAuditEvent] = queue.Queue(maxsize=100_000)


class AuditWebhookServer:
    """``POST /k8s-audit`` (the API server's webhook backend: an ``EventList``) in a thread.

    Parsed events land on ``events``; consume them with ``get``. 200 on success, 400 for a body
    that is not a JSON object (counted in ``stats.skipped``), 404 for another path.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, stats: InputStats | None = None) -> None:
        self.stats = stats if stats is not None else InputStats()
        self._server = _Server((host, port), self.stats)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="k8s-audit-webhook", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def get(self, timeout: float | None = None) -> K8sAuditEvent | None:
        """The next posted event, or None after ``timeout`` seconds."""
        try:
            return self._server.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
