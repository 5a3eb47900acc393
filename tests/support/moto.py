"""moto's server as the AWS APIs over real HTTP on loopback (see ../shared/DESIGN.md).

``start_moto()`` runs ``moto_server`` on a free port; ``MotoServer.reset()`` clears its state
between tests (``POST /moto-api/reset``). Credentials are fake and set by ``aws_test_env``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.registry import free_port

__all__ = ["MotoServer", "aws_test_env", "moto_fixture", "start_moto"]


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def reset(self) -> None:
        httpx.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_moto(log_dir: Path) -> MotoServer:
    """Start ``moto_server`` (from the venv) on a free loopback port; skip if it is not installed."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists() and shutil.which("moto_server") is None:
        pytest.skip("moto_server not installed (pip install 'moto[server]')")
    port = free_port()
    env = {
        **os.environ,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
    log = (log_dir / "moto.log").open("wb")
    process = subprocess.Popen(
        [str(binary if binary.exists() else "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return MotoServer(url, process)
        except httpx.HTTPError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.terminate()
    pytest.fail(f"moto_server did not start (log: {log_dir / 'moto.log'})")


def aws_test_env(monkeypatch: pytest.MonkeyPatch, region: str = "us-east-1") -> None:
    """Fake credentials and a region; no profile or endpoint from the developer's environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "YAMORI_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def moto_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """Body for a module- or session-scoped fixture: ``yield from moto_fixture(tmp_path_factory)``."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the session; tests that need a clean account call ``moto.reset()``."""
    yield from moto_fixture(tmp_path_factory)
