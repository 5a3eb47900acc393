"""End to end: `yamori sensor` with Falco's unmodified stable rules, actions in podman containers.

The sensor runs as a separate process (as in production: root, bpftrace, its own pid filtered
in the kernel); the test waits for its ``ready`` line (bpftrace attaches in ~0.6 s), acts in
containers of a private podman, and reads the JSON alerts. Latencies from the end of each
action to its alert are printed (``-s``), not asserted: timed assertions do not belong in tests.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from support.podman import Podman

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


@pytest.fixture
def sensor(capture_ready: None, podman: Podman) -> Any:
    if not STABLE.exists():
        pytest.skip(f"{STABLE} is not present")
    s = Sensor(podman.env)
    try:
        s.wait_ready()
        yield s
    finally:
        status = s.stop()
        print("\n".join(status))


def _check_container(alert: dict[str, Any], podman: Podman, name: str) -> None:
    fields = alert["output_fields"]
    full_id = podman.run("inspect", "--format", "{{.Id}}", name, check=False).stdout.strip()
    cid = fields["container.id"]
    assert isinstance(cid, str) and len(cid) == 12 and cid != "host"
    if full_id:  # the container may already be gone (--rm); then only the shape is checked
        assert full_id.startswith(cid)
    assert fields["container.name"] == name
    assert fields["container.image.repository"] == podman.image.rsplit(":", 1)[0]
    assert fields["container.image.tag"] == podman.image.rsplit(":", 1)[1]
    assert alert["source"] == "syscall"


def test_stable_rules_fire_for_container_actions(sensor: Sensor, podman: Podman) -> None:
    latencies: dict[str, float] = {}

    # 1. a non-trusted program reads /etc/shadow in a container
    podman.run(
        "run", "--rm", "--network", "none", "--name", "yamori-shadow", podman.image, "cat", "/etc/shadow"
    )
    done = time.monotonic()
    at, alert = sensor.wait_rule("Read sensitive file untrusted", "yamori-shadow")
    latencies["Read sensitive file untrusted"] = at - done
    _check_container(alert, podman, "yamori-shadow")
    fields = alert["output_fields"]
    assert fields["fd.name"] == "/etc/shadow" and fields["proc.name"] == "cat"
    assert fields["proc.cmdline"] == "cat /etc/shadow" and fields["user.name"] == "root"
    assert fields["proc.exepath"] == "/usr/bin/cat" and fields["proc.pname"] == "conmon"
    assert alert["priority"] == "Warning"

    # 2. a shell with a terminal as the container's entry point; it links over /etc/shadow
    #    and truncates a log file (two more stable rules, tried in the same container)
    podman.run(
        "run", "--rm", "-t", "--network", "none", "--name", "yamori-tty", podman.image,
        "sh", "-c", "ln -s /etc/shadow /tmp/shadow-link; : > /var/log/dpkg.log; true",
    )  # fmt: skip
    done = time.monotonic()
    at, alert = sensor.wait_rule("Terminal shell in container", "yamori-tty")
    latencies["Terminal shell in container"] = at - done
    _check_container(alert, podman, "yamori-tty")
    assert alert["output_fields"]["proc.name"] == "sh" and alert["output_fields"]["proc.tty"] > 0
    at, alert = sensor.wait_rule("Create Symlink Over Sensitive Files", "yamori-tty")
    latencies["Create Symlink Over Sensitive Files"] = at - done
    assert alert["output_fields"]["evt.arg.target"] == "/etc/shadow"
    assert alert["output_fields"]["evt.arg.linkpath"] == "/tmp/shadow-link"
    at, alert = sensor.wait_rule("Clear Log Activities", "yamori-tty")
    latencies["Clear Log Activities"] = at - done
    assert alert["output_fields"]["fd.name"] == "/var/log/dpkg.log"

    # no alert for the host's own activity in this window came from a container it is not in
    for _, a in sensor.seen:
        assert a["output_fields"].get("container.id") not in (None, "")
    print("alert latency after the action returned:", {k: f"{v:.3f}s" for k, v in latencies.items()})


def test_sensor_preconditions_need_root_or_say_so(tmp_path: Path) -> None:
    """Not root: one line naming the fix, exit 2 (run as an unprivileged user when we are root)."""
    cmd = [str(YAMORI), "sensor", "--rules", str(STABLE if STABLE.exists() else tmp_path / "x.yaml")]
    if not STABLE.exists():
        (tmp_path / "x.yaml").write_text("[]\n")
    if subprocess.run(["id", "-u", "nobody"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no 'nobody' user to run as")
    env = dict(os.environ, HOME="/nonexistent", XDG_CONFIG_HOME="/nonexistent")
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60, env=env)
    assert proc.returncode == 2
    assert "needs root" in proc.stderr and proc.stderr.count("\n") == 1
