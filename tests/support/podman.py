"""A real container runtime for tests: podman + runc with a private configuration and storage.

This class of machine cannot raise rlimits, so podman gets a config of the project's own
(``default_ulimits = []``, ``runtime = "runc"``: crun fails with ``setrlimit``) and a storage root
in a temp dir, so tests never touch the host's images or containers. The image is the cached
debian-app test image (``support.images``), loaded with ``podman load`` from its docker archive,
so no registry or network is needed; containers run with ``--network none``.

The fixture skips (with the reason) when not root, when podman/runc are missing, or when a
trivial container cannot run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.images import IMAGE_NAME, IMAGE_TAG

CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


@dataclass(frozen=True)
class Podman:
    """A private podman: run it with ``env`` (or ``run``) to see its storage and config."""

    env: dict[str, str]
    image: str  # the reference podman reports for the loaded test image
    root: Path

    def run(self, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        return proc


def podman_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "podman tests need root (this machine runs rootful podman only)"
    missing = [t for t in ("podman", "runc") if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (scripts/install-system-deps.sh test installs them)"
    return None


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory, debian_app_docker_archive: Path) -> Iterator[Podman]:
    """A private podman with the debian-app image loaded (session-scoped: loading takes ~5 s)."""
    reason = podman_skip_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("podman")
    (root / "containers.conf").write_text(CONTAINERS_CONF)
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/storage"\nrunroot = "{root}/run"\n'
    )
    env = dict(os.environ)
    env.update(
        CONTAINERS_CONF=str(root / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
    )
    pm = Podman(env=env, image=f"docker.io/{IMAGE_NAME}:{IMAGE_TAG}", root=root)
    try:
        pm.run("load", "-q", "-i", str(debian_app_docker_archive), timeout=300)
        probe = pm.run("run", "--rm", "--network", "none", pm.image, "true", check=False)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"podman cannot load the test image here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {probe.stderr.strip()[-500:]}")
    try:
        yield pm
    finally:
        # not `podman system reset`: it would also remove the host's network definitions
        pm.run("rm", "-a", "-f", check=False)
        pm.run("rmi", "-a", "-f", check=False)
        shutil.rmtree(root, ignore_errors=True)
