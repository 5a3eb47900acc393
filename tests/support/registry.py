"""Registry fixtures: real `docker-registry` (Debian's distribution 2.8) instances on loopback.

`registry` is anonymous; `auth_registry` requires Basic auth (htpasswd, bcrypt). Both are
session-scoped (starting one costs ~0.2 s, pushes use unique repository names). Images get there
with `skopeo copy`, exactly as users push them; `start_registry` starts more (e.g. one whose
credentials match what moto's ECR hands out).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
AUTH_USER = "yamori"
AUTH_PASSWORD = "s3cret-pass"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RegistryServer:
    """A running registry: `host` is `127.0.0.1:PORT`, credentials are None when anonymous."""

    host: str
    root: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None

    def push(self, source: str, repo_tag: str, *, all_platforms: bool = False) -> None:
        """`skopeo copy SOURCE docker://HOST/REPO_TAG` (SOURCE like `oci:DIR:TAG`)."""
        cmd = [
            "skopeo",
            "copy",
            "--quiet",
            "--insecure-policy",
            "--dest-tls-verify=false",
        ]
        if self.username is not None:
            cmd.append(f"--dest-creds={self.username}:{self.password}")
        if all_platforms:
            cmd.append("--all")
        cmd += [source, f"docker://{self.host}/{repo_tag}"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"skopeo push failed: {result.stderr.strip()}")

    def blob_path(self, repo: str, digest: str) -> Path:
        """Where the registry keeps a blob on disk (tests corrupt it to simulate tampering)."""
        hexdigest = digest.split(":", 1)[1]
        return self.root / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(
    directory: Path, *, username: str | None = None, password: str | None = None
) -> RegistryServer:
    """Start a registry with its storage in `directory`; with credentials, htpasswd auth."""
    if not Path(REGISTRY_BIN).exists():
        pytest.skip(f"{REGISTRY_BIN} not installed (apt-get install docker-registry)")
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed (apt-get install skopeo)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = [
        "version: 0.1",
        "log: {level: error, accesslog: {disabled: true}}",
        "storage:",
        f"  filesystem: {{rootdirectory: {directory / 'data'}}}",
        "  delete: {enabled: true}",
        f"http: {{addr: '127.0.0.1:{port}'}}",
    ]
    if username is not None:
        if shutil.which("htpasswd") is None:
            pytest.skip("htpasswd not installed (apt-get install apache2-utils)")
        line = subprocess.run(
            ["htpasswd", "-Bbn", username, password or ""], capture_output=True, text=True, check=True
        ).stdout.strip()
        (directory / "htpasswd").write_text(line + "\n")
        config += ["auth:", f"  htpasswd: {{realm: yamori-test, path: {directory / 'htpasswd'}}}"]
    (directory / "config.yml").write_text("\n".join(config) + "\n")
    log = (directory / "registry.log").open("wb")
    process = subprocess.Popen(
        [REGISTRY_BIN, "serve", str(directory / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    server = RegistryServer(f"127.0.0.1:{port}", directory / "data", process, username, password)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(directory / 'registry.log').read_text()[-2000:]}")
        try:
            httpx.get(f"http://{server.host}/v2/", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("docker-registry did not start within 15 s")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An anonymous registry for the whole session."""
    server = start_registry(tmp_path_factory.mktemp("registry-anon"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry that requires Basic auth as AUTH_USER / AUTH_PASSWORD."""
    server = start_registry(
        tmp_path_factory.mktemp("registry-auth"), username=AUTH_USER, password=AUTH_PASSWORD
    )
    yield server
    server.stop()
