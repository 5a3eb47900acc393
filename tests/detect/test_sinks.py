"""Alert sinks over real loopback sockets, and the per-rule rate limiter with a fake clock."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from yamori.detect.output import Alert
from yamori.detect.sinks import (
    SINKS,
    AlertDispatcher,
    FileSink,
    QueuedSink,
    RateLimiter,
    StreamSink,
    SyslogSink,
    WebhookSink,
    create_sink,
    parse_rate,
    syslog_message,
)

TIME_NS = 1_704_164_645_123_456_789  # 2024-01-02T03:04:05.123456789Z


def make_alert(rule: str = "Attach/Exec Pod", priority: str = "Notice") -> Alert:
    return Alert(
        rule=rule,
        priority=priority,
        source="k8s_audit",
        output="Attach/Exec to pod (user=dev pod=priv-pod)",
        output_fields={"ka.user.name": "dev", "ka.target.name": "priv-pod", "ka.req.pod.host": None},
        tags=("k8s", "attach"),
        time=TIME_NS,
    )


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(status: int) -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/falco", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def http_ok() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    yield from _serve(200)


@pytest.fixture
def http_500() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    yield from _serve(500)


@pytest.fixture
def udp_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def test_registry_names() -> None:
    assert {"stdout", "file", "webhook", "syslog"} <= set(SINKS)
    with pytest.raises(ValueError, match="unknown alert sink"):
        create_sink("carrier-pigeon")


def test_webhook_posts_falco_json(http_ok: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, received = http_ok
    sink = create_sink("webhook", url, "node-1")
    assert isinstance(sink, WebhookSink)
    sink.send(make_alert())
    sink.close()
    assert sink.sent == 1 and sink.failures == 0
    assert len(received) == 1
    path, content_type, body = received[0]
    assert path == "/falco"
    assert content_type == "application/json"
    doc = json.loads(body)
    assert doc["rule"] == "Attach/Exec Pod"
    assert doc["priority"] == "Notice"
    assert doc["source"] == "k8s_audit"
    assert doc["hostname"] == "node-1"
    assert doc["output"] == "Attach/Exec to pod (user=dev pod=priv-pod)"
    assert doc["output_fields"] == {
        "ka.user.name": "dev",
        "ka.target.name": "priv-pod",
        "ka.req.pod.host": None,
    }
    assert doc["tags"] == ["attach", "k8s"]
    assert doc["time"] == "2024-01-02T03:04:05.123456789Z"


def test_webhook_to_closed_port_is_counted_not_raised() -> None:
    err = io.StringIO()
    sink = WebhookSink(f"http://127.0.0.1:{_closed_port()}/", "h", timeout=2, retries=1, backoff=0, err=err)
    for _ in range(3):
        sink.send(make_alert())
    sink.close()
    assert sink.failures == 3 and sink.sent == 0
    lines = err.getvalue().splitlines()
    # one line for the burst, one summary on close
    assert len(lines) == 2
    assert "delivery failed" in lines[0]
    assert "3 alert(s) not delivered" in lines[1]


def test_webhook_5xx_retried_then_counted(http_500: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, received = http_500
    err = io.StringIO()
    sink = WebhookSink(url, "h", retries=2, backoff=0, err=err)
    sink.send(make_alert())
    sink.close()
    assert len(received) == 3  # first try + 2 retries
    assert sink.failures == 1
    assert "HTTP 500" in err.getvalue()


def test_webhook_rejects_bad_url() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://example.com/", "h")


def test_syslog_udp_pri_and_message(udp_socket: socket.socket) -> None:
    port = udp_socket.getsockname()[1]
    sink = create_sink("syslog", f"udp://127.0.0.1:{port}", "node-1")
    sink.send(make_alert(priority="Warning"))
    sink.send(make_alert(priority="Critical"))
    sink.close()
    first = udp_socket.recv(65535).decode()
    second = udp_socket.recv(65535).decode()
    # local0 (16) * 8 + warning (4) = 132; critical (2) = 130
    assert first.startswith("<132>1 2024-01-02T03:04:05.123456Z node-1 yamori - alert - ")
    assert first.endswith("Warning Attach/Exec to pod (user=dev pod=priv-pod)")
    assert second.startswith("<130>1 ")


def test_syslog_facility_and_priorities() -> None:
    assert syslog_message(make_alert(priority="Emergency"), "h", facility=1).startswith("<8>1 ")
    assert syslog_message(make_alert(priority="Debug"), "h").startswith("<135>1 ")
    assert syslog_message(make_alert(priority="Informational"), "h").startswith("<134>1 ")
    assert "Z - yamori - alert - " in syslog_message(make_alert(), "")  # empty hostname is NILVALUE


def test_syslog_tcp_octet_counting() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    try:
        sink = SyslogSink(f"tcp://127.0.0.1:{server.getsockname()[1]}", "node-1", facility="local7")
        sink.send(make_alert(priority="Error"))
        conn, _ = server.accept()
        conn.settimeout(5)
        data = b""
        while b" " not in data or len(data) < int(data.split(b" ", 1)[0]) + len(data.split(b" ", 1)[0]) + 1:
            chunk = conn.recv(65535)
            assert chunk
            data += chunk
        sink.close()
        conn.close()
    finally:
        server.close()
    length, message = data.split(b" ", 1)
    assert int(length) == len(message)
    assert message.startswith(b"<187>1 ")  # local7 (23) * 8 + error (3)


def test_syslog_tcp_closed_port_counted() -> None:
    err = io.StringIO()
    sink = SyslogSink(f"tcp://127.0.0.1:{_closed_port()}", "h", timeout=2, err=err)
    sink.send(make_alert())
    sink.send(make_alert())
    sink.close()
    assert sink.failures == 2
    assert err.getvalue().count("delivery failed") == 1


@pytest.mark.parametrize("bad", ["http://x:1", "udp://x", "udp://:514", "tcp://h:99999"])
def test_syslog_rejects_bad_target(bad: str) -> None:
    with pytest.raises(ValueError, match="syslog target"):
        SyslogSink(bad, "h")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_drops_deterministically() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock)
    allowed = sum(limiter.allow("noisy") for _ in range(50))
    assert allowed == 20
    assert limiter.dropped == {"noisy": 30}
    clock.now += 0.5  # 5 tokens back
    allowed = sum(limiter.allow("noisy") for _ in range(10))
    assert allowed == 5
    assert limiter.dropped == {"noisy": 35}
    assert limiter.allow("quiet")  # other rules have their own bucket
    clock.now += 100  # refill is capped at the burst
    assert sum(limiter.allow("noisy") for _ in range(30)) == 20
    assert limiter.dropped == {"noisy": 45}
    assert limiter.total_dropped == 45


def test_rate_limiter_zero_is_unlimited() -> None:
    limiter = RateLimiter(rate=0, burst=0, clock=FakeClock())
    assert all(limiter.allow("r") for _ in range(10_000))
    assert limiter.dropped == {}


@pytest.mark.parametrize(("text", "rate"), [("100/s", 100.0), ("60/m", 1.0), ("7", 7.0), ("0", 0.0)])
def test_parse_rate(text: str, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("bad", ["fast", "-1/s", "10/day", "nan", "inf"])
def test_parse_rate_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


def test_dispatcher_rate_limits_before_sinks(tmp_path: Path) -> None:
    stream = io.StringIO()
    target = tmp_path / "alerts.log"
    limiter = RateLimiter(rate=1, burst=2, clock=FakeClock())
    dispatcher = AlertDispatcher(
        [StreamSink(lambda a: a.rule, stream), FileSink(str(target), lambda a: a.priority)], limiter
    )
    results = [dispatcher.send(make_alert(rule="A")) for _ in range(5)] + [
        dispatcher.send(make_alert(rule="B"))
    ]
    dispatcher.close()
    assert results == [True, True, False, False, False, True]
    assert stream.getvalue().splitlines() == ["A", "A", "B"]
    assert target.read_text().splitlines() == ["Notice"] * 3
    assert dispatcher.dropped_summary() == "dropped=3 (A=3)"


RULES = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "falco-rules" / "k8s_audit_rules.yaml"


def test_cli_options_validated() -> None:
    from yamori.cli.main import app

    if not RULES.is_file():
        pytest.skip("Falco rules corpus not present")
    runner = CliRunner()
    base = ["detect", "--source", "k8s_audit", "--rules", str(RULES), "--input", "-"]
    result = runner.invoke(app, [*base, "--rate-limit", "lots"], input="")
    assert result.exit_code == 2 and "--rate-limit" in result.output
    result = runner.invoke(app, [*base, "--syslog", "udp://nohost"], input="")
    assert result.exit_code == 2 and "--syslog" in result.output
    result = runner.invoke(app, [*base, "--webhook", "nope"], input="")
    assert result.exit_code == 2 and "--webhook" in result.output
    result = runner.invoke(app, base, input="")
    assert result.exit_code == 0
    assert "events=0 alerts=0 skipped=0 dropped=0" in result.stderr


def test_cli_end_to_end_webhook_syslog_rate_limit(
    tmp_path: Path, http_ok: tuple[str, list[tuple[str, str, bytes]]], udp_socket: socket.socket
) -> None:
    from yamori.cli.main import app

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "k8s-audit"
    if not RULES.is_file() or not fixtures.is_dir():
        pytest.skip("Falco rules corpus or fixtures not present")
    docs = [json.loads(p.read_text()) for p in sorted(fixtures.glob("*.json"))]
    src = tmp_path / "audit.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs) * 3)  # each rule fires 3 times
    url, received = http_ok
    port = udp_socket.getsockname()[1]
    args = ["detect", "--source", "k8s_audit", "--rules", str(RULES), "--input", str(src)]
    args += ["--rule-matching", "all", "--format", "json", "--webhook", url, "--webhook", url]
    args += ["--syslog", f"udp://127.0.0.1:{port}", "--rate-limit", "1/m", "--rate-burst", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rules = [json.loads(line)["rule"] for line in lines]
    assert len(rules) == 16 and all(rules.count(r) == 2 for r in set(rules))
    assert "alerts=24 skipped=0 dropped=8 (" in result.stderr
    assert "Attach/Exec Pod=1" in result.stderr
    assert len(received) == 32  # two webhooks, 16 alerts each
    assert sorted(json.loads(body)["rule"] for _, _, body in received) == sorted(rules * 2)
    datagrams = [udp_socket.recv(65535).decode() for _ in range(16)]
    assert all(d.startswith("<13") and " yamori - alert - " in d for d in datagrams)


class _GatedCollector(BaseHTTPRequestHandler):
    """Holds every request until ``gate`` is set: a webhook endpoint that hangs."""

    received: list[bytes]
    gate: threading.Event
    arrived: threading.Semaphore

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.arrived.release()
        self.gate.wait(30)
        self.received.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hanging_webhook() -> Iterator[tuple[str, list[bytes], threading.Event, threading.Semaphore]]:
    received: list[bytes] = []
    gate = threading.Event()
    arrived = threading.Semaphore(0)
    handler = type("Handler", (_GatedCollector,), {"received": received, "gate": gate, "arrived": arrived})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/falco", received, gate, arrived
    finally:
        gate.set()
        server.shutdown()
        server.server_close()


def test_queued_webhook_never_blocks_the_engine(
    hanging_webhook: tuple[str, list[bytes], threading.Event, threading.Semaphore],
) -> None:
    url, received, gate, arrived = hanging_webhook
    err = io.StringIO()
    sink = QueuedSink(WebhookSink(url, "node-1", timeout=30), "webhook", maxsize=100, err=err)
    for i in range(5):
        sink.send(make_alert(rule=f"R{i}"))  # returns although the endpoint holds the first request
    assert arrived.acquire(timeout=10)  # the worker is stuck inside the first POST...
    assert received == []  # ...and nothing has completed, yet all five sends returned
    gate.set()
    sink.close()
    assert [json.loads(b)["rule"] for b in received] == ["R0", "R1", "R2", "R3", "R4"]  # in order
    assert sink.dropped == 0
    assert err.getvalue() == ""


def test_queued_sink_full_queue_drops_and_counts(
    hanging_webhook: tuple[str, list[bytes], threading.Event, threading.Semaphore],
) -> None:
    url, received, gate, arrived = hanging_webhook
    err = io.StringIO()
    sink = QueuedSink(WebhookSink(url, "node-1", timeout=30), "webhook", maxsize=2, err=err)
    sink.send(make_alert(rule="R0"))
    assert arrived.acquire(timeout=10)  # R0 is in flight: the queue is empty again
    for i in range(1, 6):
        sink.send(make_alert(rule=f"R{i}"))  # R1, R2 fit; R3..R5 are dropped
    assert sink.dropped == 3
    gate.set()
    sink.close()
    assert [json.loads(b)["rule"] for b in received] == ["R0", "R1", "R2"]
    assert "queue full" in err.getvalue()
    assert "3 alert(s) not delivered" in err.getvalue()


def test_queued_sink_close_gives_up_after_drain_timeout(
    hanging_webhook: tuple[str, list[bytes], threading.Event, threading.Semaphore],
) -> None:
    url, _received, _gate, arrived = hanging_webhook
    err = io.StringIO()
    sink = QueuedSink(WebhookSink(url, "node-1", timeout=30), "webhook", drain_timeout=0.2, err=err)
    for i in range(3):
        sink.send(make_alert(rule=f"R{i}"))
    assert arrived.acquire(timeout=10)
    sink.close()  # the endpoint never answers: close returns, and says what was lost
    assert sink.dropped == 2  # the two still queued (the one in flight is the worker's)
    assert "not delivered" in err.getvalue()


class _BatchRecorder:
    """A sink that takes batches; its first batch waits until released, so the rest queue up."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def send(self, alert: Alert) -> None:  # pragma: no cover - QueuedSink prefers send_many
        self.send_many([alert])

    def send_many(self, alerts: list[Alert]) -> None:
        self.started.set()
        self.release.wait(10)
        self.batches.append([a.rule for a in alerts])

    def close(self) -> None:
        pass


def test_queued_sink_sends_bursts_as_batches() -> None:
    inner = _BatchRecorder()
    sink = QueuedSink(inner, "batch")
    sink.send(make_alert(rule="R0"))
    assert inner.started.wait(10)  # the worker holds R0's batch...
    for i in range(1, 100):
        sink.send(make_alert(rule=f"R{i}"))  # ...while 99 more queue
    inner.release.set()
    sink.close()
    assert inner.batches == [["R0"], [f"R{i}" for i in range(1, 100)]]  # one request for the burst
