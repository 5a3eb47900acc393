"""Fixtures of the sensor tests: kernel capture preconditions and the private podman."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.podman import podman  # noqa: F401  (a fixture, registered by the import)


def capture_skip_reason() -> str | None:
    """Why bpftrace capture cannot run here, or None (mounts tracefs when root and missing)."""
    if os.geteuid() != 0:
        return "kernel capture needs root"
    if shutil.which("bpftrace") is None:
        return "bpftrace is not installed (apt-get install bpftrace; scripts/install-system-deps.sh test)"
    if not Path("/sys/kernel/btf/vmlinux").exists():
        return "the kernel exposes no BTF"
    tracing = Path("/sys/kernel/tracing")
    if not (tracing / "events").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(tracing)], capture_output=True, check=False)
    if not (tracing / "events" / "sched").is_dir():
        return "tracefs cannot be mounted here"
    return None


@pytest.fixture(scope="session")
def capture_ready() -> None:
    reason = capture_skip_reason()
    if reason:
        pytest.skip(reason)
