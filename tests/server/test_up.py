"""``yamori up`` as a user runs it: a real process on a free loopback port, read through its output.

The host scan is pointed at a small fixture root (``--scan-root``) so the test does not inventory
the machine it runs on; the sensor is off (it needs root and bpftrace, tested in tests/sensor).
The second start on the same data directory must not mint another admin token, and SIGTERM
must stop it as cleanly as Ctrl-C.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "dpkg" / "root"
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Up:
    """A running ``yamori up`` child with its stdout lines in a queue (stderr kept for failures)."""

    def __init__(self, tmp: Path, *args: str) -> None:
        env = {
            **os.environ,
            "YAMORI_DATA_DIR": str(tmp / "data"),
            "YAMORI_DB_DIR": str(tmp / "no-vulndb"),
            "YAMORI_CONFIG_DIR": str(tmp / "config"),
            "YAMORI_CACHE_DIR": str(tmp / "cache"),
        }
        env.pop("YAMORI_SERVER_DB", None)
        self.port = _free_port()
        self.stderr_path = tmp / f"up-{self.port}.err"
        self._stderr = self.stderr_path.open("wb")
        command = [sys.executable, "-c", "from yamori.cli.main import main; main()", "up"]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), *args], stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, needle: str) -> str:
        """The first stdout line containing ``needle`` (fails with stderr if it never comes)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, f"yamori up exited early:\n{self.stderr()}"
                continue
            if needle in line:
                return line
        pytest.fail(f"no {needle!r} on stdout within {START_TIMEOUT}s:\n{self.stderr()}")

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            self._stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.kill()


def test_up_serves_scans_and_stops(tmp_path: Path, running: list[Up]) -> None:
    first = Up(tmp_path, "--no-sensor", "--no-images", "--no-workloads", "--scan-root", str(FIXTURE_ROOT))
    running.append(first)
    token = first.wait_for("admin token").rsplit(" ", 1)[1]
    url = first.wait_for("console at").rsplit(" ", 1)[1]
    assert token.startswith("ymr_")
    assert url == f"http://127.0.0.1:{first.port}/console/"
    base = f"http://127.0.0.1:{first.port}"
    auth = {"Authorization": f"Bearer {token}"}

    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/api/v1/assets").status_code == 401  # nothing without a token
        deadline = time.monotonic() + START_TIMEOUT
        hosts: list[dict[str, object]] = []
        while time.monotonic() < deadline and not hosts:
            answer = client.get("/api/v1/assets", params={"kind": "host"}, headers=auth)
            assert answer.status_code == 200, answer.text
            hosts = answer.json()["items"]
            time.sleep(0.2)
        assert hosts, f"the host scan never arrived:\n{first.stderr()}"
        assert str(hosts[0]["name"]).endswith(str(FIXTURE_ROOT))
        packages = client.get(f"/api/v1/assets/{hosts[0]['id']}/packages", headers=auth).json()
        assert packages["total"] > 0  # the fixture's dpkg status file was inventoried

        client.cookies.set("yamori_console", token, domain="127.0.0.1", path="/console")
        page = client.get("/console/")
        assert page.status_code == 200 and "<h1>Log in</h1>" not in page.text
        inventory = client.get("/console/inventory", params={"kind": "host"})
        assert inventory.status_code == 200 and str(FIXTURE_ROOT) in inventory.text

    assert first.stop(signal.SIGINT) == 0, first.stderr()
    err = first.stderr()
    assert "run `yamori db update` to see vulnerabilities" in err
    assert "stopped" in err and "Traceback" not in err

    # A second start on the same store: no new token, a way to make one, and SIGTERM stops it.
    second = Up(tmp_path, "--no-sensor", "--no-scan", "--no-workloads")
    running.append(second)
    assert "yamori server token create" in second.wait_for("admin token")
    second.wait_for("console at")
    with httpx.Client(base_url=f"http://127.0.0.1:{second.port}", timeout=10) as client:
        assert client.get("/api/v1/assets", headers=auth).json()["total"] == 1  # same store, same token
    assert second.stop(signal.SIGTERM) == 0, second.stderr()
    assert "Traceback" not in second.stderr()
