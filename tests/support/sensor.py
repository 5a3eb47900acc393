"""A running `yamori sensor` in a separate process, for end-to-end tests: its JSON alerts
(stdout) and status lines (stderr) are pumped into queues; ``wait_rule`` waits for one rule's alert
for one container."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

STABLE = Path("/work/shared/corpora/falco-rules/falco_rules.yaml")
YAMORI = Path(sys.executable).parent / "yamori"


def _pump(stream: IO[str], out: queue.Queue[tuple[float, str]]) -> None:
    for line in stream:
        out.put((time.monotonic(), line.rstrip("\n")))


class Sensor:
    """A running `yamori sensor` process with its stdout (alerts) and stderr (status) collected."""

    def __init__(self, env: dict[str, str], *extra: str) -> None:
        self.proc = subprocess.Popen(
            [str(YAMORI), "sensor", "--rules", str(STABLE), "--format", "json", "--duration", "120", *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="surrogateescape",
        )
        self.alerts: queue.Queue[tuple[float, str]] = queue.Queue()
        self.status: queue.Queue[tuple[float, str]] = queue.Queue()
        self.status_lines: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=_pump, args=(self.proc.stdout, self.alerts), daemon=True).start()
        threading.Thread(target=_pump, args=(self.proc.stderr, self.status), daemon=True).start()
        self.seen: list[tuple[float, dict[str, Any]]] = []

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _, line = self.status.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.status_lines.append(line)
            if "yamori sensor: ready" in line:
                return
        raise AssertionError("the sensor never became ready:\n" + "\n".join(self.status_lines))

    def wait_rule(
        self, rule: str, container_name: str, timeout: float = 15.0
    ) -> tuple[float, dict[str, Any]]:
        """The first alert of ``rule`` for ``container_name`` (already seen or arriving)."""
        deadline = time.monotonic() + timeout
        while True:
            for at, alert in self.seen:
                if alert["rule"] == rule and alert["output_fields"].get("container.name") == container_name:
                    return at, alert
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no '{rule}' alert for {container_name}; got {[a['rule'] for _, a in self.seen]}"
                )
            try:
                at, line = self.alerts.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.seen.append((at, json.loads(line)))

    def drain(self) -> list[dict[str, Any]]:
        """Every alert so far: those already seen and those still queued (call after ``stop``)."""
        while not self.alerts.empty():
            at, line = self.alerts.get()
            self.seen.append((at, json.loads(line)))
        return [a for _, a in self.seen]

    def stop(self) -> list[str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        time.sleep(0.1)
        while not self.status.empty():
            self.status_lines.append(self.status.get()[1])
        return self.status_lines
