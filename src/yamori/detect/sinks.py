"""Alert outputs (sinks) and per-rule rate limiting.

A sink receives every alert that survives rate limiting: ``send(alert)`` then, at the end,
``close()``. Sinks are registered by name (``stdout``, ``file``, ``webhook``, ``syslog``) and
built with ``create_sink``. Network sinks never raise into the engine: a failed delivery is
counted, and reported on stderr once per burst of failures (the first failure after a success),
with a total on ``close()``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import httpx

from yamori.detect.output import Alert, alert_to_json

__all__ = [
    "SINKS",
    "AlertDispatcher",
    "AlertSink",
    "FileSink",
    "QueuedSink",
    "RateLimiter",
    "ServerSink",
    "StreamSink",
    "SyslogSink",
    "WebhookSink",
    "create_sink",
    "parse_rate",
    "register_sink",
    "syslog_message",
]


class AlertSink(Protocol):
    """Where alerts go. ``send`` must not raise for delivery failures."""

    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


SINKS: dict[str, Callable[..., AlertSink]] = {}


def register_sink(name: str) -> Callable[[Callable[..., AlertSink]], Callable[..., AlertSink]]:
    """Register a sink factory under ``name`` (a class whose constructor takes the target)."""

    def decorate(factory: Callable[..., AlertSink]) -> Callable[..., AlertSink]:
        SINKS[name] = factory
        return factory

    return decorate


def create_sink(name: str, *args: Any, **kwargs: Any) -> AlertSink:
    """Build the sink registered as ``name``; ValueError for an unknown name."""
    try:
        factory = SINKS[name]
    except KeyError:
        raise ValueError(f"unknown alert sink {name!r} (known: {', '.join(sorted(SINKS))})") from None
    return factory(*args, **kwargs)


class _FailureReporter:
    """Counts failures; writes one stderr line per burst (first failure after a success)."""

    def __init__(self, label: str, err: IO[str] | None) -> None:
        self.label = label
        self.err = err
        self.failures = 0
        self._in_burst = False

    def ok(self) -> None:
        self._in_burst = False

    def failed(self, reason: str) -> None:
        self.failures += 1
        if not self._in_burst:
            self._in_burst = True
            self._write(f"yamori: warning: {self.label}: delivery failed ({reason}); more counted")

    def summary(self) -> None:
        if self.failures:
            self._write(f"yamori: warning: {self.label}: {self.failures} alert(s) not delivered")

    def _write(self, line: str) -> None:
        stream = self.err if self.err is not None else sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass


@register_sink("stdout")
class StreamSink:
    """One line per alert to a text stream (stdout by default); the stream is not closed."""

    def __init__(self, render: Callable[[Alert], str], stream: IO[str] | None = None) -> None:
        self.render = render
        self.stream = stream if stream is not None else sys.stdout

    def send(self, alert: Alert) -> None:
        self.stream.write(self.render(alert) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


@register_sink("file")
class FileSink:
    """One line per alert appended to a file."""

    def __init__(self, path: str, render: Callable[[Alert], str]) -> None:
        self.render = render
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def send(self, alert: Alert) -> None:
        self._file.write(self.render(alert) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@register_sink("webhook")
class WebhookSink:
    """HTTP POST of Falco's JSON alert (the Falcosidekick payload), with a bounded retry.

    Transport errors, 5xx and 429 are retried up to ``retries`` more times; other non-2xx
    answers are failures at once. Nothing raises out of ``send``.
    """

    def __init__(
        self,
        url: str,
        hostname: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        err: IO[str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook URL must be http(s)://HOST[:PORT]/PATH, not {url!r}")
        self.url = url
        self.hostname = hostname
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sent = 0
        self._report = _FailureReporter(f"webhook {url}", err)
        self._client = client if client is not None else httpx.Client(timeout=timeout)

    @property
    def failures(self) -> int:
        return self._report.failures

    def send(self, alert: Alert) -> None:
        body = alert_to_json(alert, self.hostname).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "yamori"}
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt and self.backoff > 0:
                time.sleep(self.backoff * attempt)
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except Exception as exc:  # any transport problem is a failed delivery, never a crash
                reason = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                self.sent += 1
                self._report.ok()
                return
            reason = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break
        self._report.failed(reason)

    def close(self) -> None:
        self._client.close()
        self._report.summary()


_MAX_BATCH = 500  # alerts per request for sinks that take several at once


class QueuedSink:
    """Runs a slow sink (network) on its own thread behind a bounded queue.

    Why: the engine must never wait on an output. A webhook that hangs would otherwise stall
    detection for every event behind it (Falco's outputs queue for the same reason). When the
    queue is full the alert is dropped for this sink only and counted; ``close()`` gives the
    worker ``drain_timeout`` seconds to deliver what is queued, then reports what was lost.
    """

    _STOP: Any = object()

    def __init__(
        self,
        inner: AlertSink,
        label: str,
        *,
        maxsize: int = 10_000,
        drain_timeout: float = 10.0,
        err: IO[str] | None = None,
    ) -> None:
        self.inner = inner
        self.drain_timeout = drain_timeout
        self.dropped = 0
        self._report = _FailureReporter(f"{label} queue", err)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._thread = threading.Thread(target=self._run, name=f"sink-{label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        send_many = getattr(self.inner, "send_many", None)
        while True:
            batch = [self._queue.get()]
            if send_many is not None:  # take what else is waiting: one request for a burst
                while len(batch) < _MAX_BATCH and batch[-1] is not self._STOP:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
            stop = batch[-1] is self._STOP
            alerts = [a for a in batch if a is not self._STOP]
            try:
                if send_many is not None and alerts:
                    send_many(alerts)
                else:
                    for alert in alerts:
                        self.inner.send(alert)
            except Exception as exc:  # a sink bug must not kill the worker
                self._report.failed(f"{type(exc).__name__}: {exc}")
            if stop:
                return

    def send(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            self._report.failed("queue full: the output is slower than the alert rate")

    def close(self) -> None:
        deadline = time.monotonic() + self.drain_timeout
        stop_queued = False
        while not stop_queued:  # the stop marker goes in after the queued alerts: they go first
            try:
                self._queue.put(self._STOP, timeout=0.1)
                stop_queued = True
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            left = max(0, self._queue.qsize() - stop_queued)
            self.dropped += left
            self._report.failures += left
        self._report.summary()
        self.inner.close()


SPOOL_CHUNK = 4 * 1024 * 1024  # bytes of spooled JSON lines replayed per request


@register_sink("server")
class ServerSink:
    """Alerts to a yamori server (``POST /api/v1/alerts``), never lost while it is away.

    Each alert is sent as one JSON line; when the server cannot take it (down, 5xx after the
    client's retries) the line is appended to a spool file, and the spool is replayed, oldest
    first, before the next alert goes out. Run it behind ``QueuedSink`` so retries never stall
    detection. A 4xx answer (bad token, rejected payload) is final: counted, not spooled.
    """

    def __init__(
        self, url: str, token: str, hostname: str, *, spool: Path | None = None, err: IO[str] | None = None
    ) -> None:
        from yamori.config import data_dir

        self.url = url
        self.token = token
        self.hostname = hostname
        self.spool = spool if spool is not None else data_dir() / "spool" / "alerts.jsonl"
        self.sent = 0
        self._report = _FailureReporter(f"server {url}", err)

    @property
    def failures(self) -> int:
        return self._report.failures

    def _post(self, body: bytes) -> str | None:
        """None when the server took it; else why (and whether to spool: "retry:" prefix)."""
        from yamori.server_client import SubmitError, submit_scan

        try:
            submit_scan(self.url, self.token, body, kind="alerts", attempts=2, backoff=0.2)
        except SubmitError as exc:
            text = str(exc)
            final = ": HTTP 4" in text and ": HTTP 429" not in text
            return text if final else f"retry:{text}"
        return None

    def _flush_spool(self) -> bool:
        """Replay spooled alerts, oldest first, in requests of at most ``SPOOL_CHUNK`` bytes (the
        server refuses bodies over its limit, and a refused body must not cost the whole spool);
        False, with what is left kept in the spool, when the server is still away."""
        if not self.spool.exists() or self.spool.stat().st_size == 0:
            return True
        with self.spool.open("rb") as fh:
            while chunk := fh.readlines(SPOOL_CHUNK):
                problem = self._post(b"".join(chunk))
                if problem is not None and problem.startswith("retry:"):
                    rest = self.spool.with_name(self.spool.name + ".rest")
                    with rest.open("wb") as out:
                        out.writelines(chunk)
                        shutil.copyfileobj(fh, out)
                    os.replace(rest, self.spool)
                    return False
                if problem is not None:
                    self._report.failed(problem)
        self.spool.unlink(missing_ok=True)
        return True

    def send(self, alert: Alert) -> None:
        self.send_many([alert])

    def send_many(self, alerts: list[Alert]) -> None:
        """One request for a batch (JSON lines): a busy sensor is limited by requests, not alerts."""
        body = b"".join((alert_to_json(a, self.hostname) + "\n").encode("utf-8") for a in alerts)
        problem = self._post(body) if self._flush_spool() else "retry:server away; spooled"
        if problem is None:
            self.sent += len(alerts)
            self._report.ok()
            return
        if problem.startswith("retry:"):
            self.spool.parent.mkdir(parents=True, exist_ok=True)
            with self.spool.open("ab") as fh:
                fh.write(body)
            return
        self._report.failed(problem)

    def close(self) -> None:
        self._flush_spool()
        self._report.summary()


# Falco priority -> syslog severity (RFC 5424 section 6.2.1).
SEVERITY = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "informational": 6,
    "info": 6,
    "debug": 7,
}
FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10}
FACILITIES.update({f"local{i}": 16 + i for i in range(8)})


def syslog_message(alert: Alert, hostname: str, facility: int = 16, app_name: str = "yamori") -> str:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID - Priority Output``."""
    severity = SEVERITY.get(alert.priority.lower(), 5)
    secs, nanos = divmod(alert.time, 1_000_000_000)
    stamp = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    host = _header_token(hostname, 255)
    app = _header_token(app_name, 48)
    return f"<{facility * 8 + severity}>1 {stamp} {host} {app} - alert - {alert.priority} {alert.output}"


def _header_token(text: str, limit: int) -> str:
    """RFC 5424 header fields are printable US-ASCII without spaces; empty is ``-``."""
    token = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


@register_sink("syslog")
class SyslogSink:
    """RFC 5424 syslog over UDP (one datagram each) or TCP (octet-counted, RFC 6587)."""

    def __init__(
        self,
        url: str,
        hostname: str,
        *,
        facility: str | int = "local0",
        timeout: float = 5.0,
        err: IO[str] | None = None,
    ) -> None:
        self.transport, self.host, self.port = parse_syslog_url(url)
        if isinstance(facility, str):
            if facility not in FACILITIES:
                raise ValueError(f"unknown syslog facility {facility!r}")
            facility = FACILITIES[facility]
        self.facility = facility
        self.hostname = hostname
        self.timeout = timeout
        self.sent = 0
        self._report = _FailureReporter(f"syslog {url}", err)
        self._sock: socket.socket | None = None

    @property
    def failures(self) -> int:
        return self._report.failures

    def _connect(self) -> socket.socket:
        if self._sock is None:
            if self.transport == "udp":
                info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(info[0], socket.SOCK_DGRAM)
                sock.connect(info[4])
            else:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.settimeout(self.timeout)
            self._sock = sock
        return self._sock

    def send(self, alert: Alert) -> None:
        data = syslog_message(alert, self.hostname, self.facility).encode("utf-8")
        if self.transport == "tcp":
            data = str(len(data)).encode("ascii") + b" " + data
        for attempt in range(2):  # one reconnect for a TCP peer that went away
            try:
                self._connect().sendall(data)
            except OSError as exc:
                self._drop()
                if attempt == 0 and self.transport == "tcp":
                    continue
                self._report.failed(f"{type(exc).__name__}: {exc}")
                return
            self.sent += 1
            self._report.ok()
            return

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._drop()
        self._report.summary()


def parse_syslog_url(url: str) -> tuple[str, str, int]:
    """``udp://HOST:PORT`` or ``tcp://HOST:PORT`` -> (transport, host, port)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or port is None:
        raise ValueError(f"syslog target must be udp://HOST:PORT or tcp://HOST:PORT, not {url!r}")
    return parts.scheme, parts.hostname, port


def parse_rate(text: str) -> float:
    """``100/s``, ``600/m``, ``5/h`` or a bare ``100`` (per second) -> alerts per second; 0 = off."""
    number, _, unit = text.strip().partition("/")
    seconds = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip().lower())
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if seconds is None or not value >= 0 or value == float("inf"):
        raise ValueError(f"rate must look like 100/s, 600/m or 0, not {text!r}")
    return value / seconds


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """A token bucket per rule: ``rate`` tokens a second up to ``burst``; ``rate <= 0`` = unlimited."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    dropped: dict[str, int] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict, repr=False)

    def allow(self, rule: str) -> bool:
        """Take a token for ``rule``; False (and counted in ``dropped``) when none is left."""
        if self.rate <= 0:
            return True
        now = self.clock()
        bucket = self._buckets.get(rule)
        capacity = max(self.burst, 1.0)
        if bucket is None:
            bucket = self._buckets[rule] = _Bucket(capacity, now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(capacity, bucket.tokens + elapsed * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        self.dropped[rule] = self.dropped.get(rule, 0) + 1
        return False

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())


class AlertDispatcher:
    """Rate-limits alerts per rule, then hands each one to every sink."""

    def __init__(self, sinks: Iterable[AlertSink], limiter: RateLimiter | None = None) -> None:
        self.sinks = list(sinks)
        self.limiter = limiter
        self.delivered = 0

    def send(self, alert: Alert) -> bool:
        """True when the alert went to the sinks, False when the rate limit dropped it."""
        if self.limiter is not None and not self.limiter.allow(alert.rule):
            return False
        self.delivered += 1
        for sink in self.sinks:
            sink.send(alert)
        return True

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def dropped_summary(self) -> str:
        """``dropped=N`` plus the per-rule counts, e.g. ``dropped=3 (Rule A=2, Rule B=1)``."""
        if self.limiter is None or not self.limiter.dropped:
            return "dropped=0"
        per_rule = ", ".join(f"{rule}={n}" for rule, n in sorted(self.limiter.dropped.items()))
        return f"dropped={self.limiter.total_dropped} ({per_rule})"
