"""Real test data for the language catalogers, installed from the registries once and cached.

Everything lands under ~/.cache/yamori-test/lang/<what>-<hash of the request>/, built in a
temporary directory and renamed into place, so reruns are fast and an interrupted install is
never mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from yamori.catalog.interface import Cataloger, FileInput, FileResult

CACHE = Path(os.environ.get("YAMORI_TEST_CACHE", Path.home() / ".cache" / "yamori-test")) / "lang"


class BytesInput(FileInput):
    """A file handed straight to a cataloger, as the layer walker would."""

    def __init__(self, path: str, data: bytes, mode: int = 0o100644) -> None:
        self.path, self.size, self.mode, self._data = path, len(data), mode, data

    def read(self) -> bytes:
        return self._data

    def open(self) -> IO[bytes]:
        return io.BytesIO(self._data)


def analyze_bytes(cataloger: Cataloger, path: str, data: bytes, mode: int = 0o100644) -> FileResult | None:
    assert cataloger.wants(path, mode), path
    return cataloger.analyze(BytesInput(path, data, mode))


def _cached(kind: str, request: object, build: Callable[[Path], None]) -> Path:
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]
    final = CACHE / f"{kind}-{key}"
    if final.is_dir():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=CACHE))
    try:
        build(work)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run {cmd[0]}: {exc}")
    if proc.returncode != 0:
        pytest.skip(f"{' '.join(cmd[:3])} failed (registry unreachable?): {proc.stderr.strip()[-300:]}")


def pip_target(specs: list[str]) -> Path:
    """`pip install --no-deps --target` of exact versions from PyPI."""

    def build(work: Path) -> None:
        _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work), *specs])

    return _cached("pip", specs, build)


def npm_project(manifest: dict[str, object]) -> Path:
    """A project directory after `npm install` (node_modules plus a v3 package-lock.json)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")

    def build(work: Path) -> None:
        (work / "package.json").write_text(json.dumps(manifest, indent=2))
        _run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(work)],
            cwd=work,
        )

    return _cached("npm", manifest, build)


AUDIT_JSON = {
    "packages": [
        {"name": "auditdemo", "version": "0.1.0", "source": "local", "dependencies": [1, 2], "root": True},
        {"name": "itoa", "version": "1.0.9", "source": "crates.io"},
        {"name": "serde", "version": "1.0.188", "source": "crates.io", "dependencies": [3]},
        {"name": "serde_derive", "version": "1.0.188", "source": "crates.io", "kind": "build"},
    ]
}


def auditable_binary() -> Path:
    """A real Rust binary built by cargo, with a `.dep-v0` section added by objcopy the way
    cargo-auditable lays it out (crates.io is not reachable here to install cargo-auditable)."""
    for tool in ("cargo", "objcopy"):
        if shutil.which(tool) is None and not (Path.home() / ".cargo" / "bin" / tool).exists():
            pytest.skip(f"{tool} is not installed")
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")

    def build(work: Path) -> None:
        _run([cargo, "new", "-q", "--bin", "--vcs", "none", "auditdemo"], cwd=work)
        project = work / "auditdemo"
        _run([cargo, "build", "-q", "--release", "--offline"], cwd=project)
        section = work / "dep-v0.bin"
        section.write_bytes(zlib.compress(json.dumps(AUDIT_JSON).encode()))
        binary = project / "target" / "release" / "auditdemo"
        shutil.copy(binary, work / "plain")
        _run(
            [
                "objcopy",
                "--add-section",
                f".dep-v0={section}",
                "--set-section-flags",
                ".dep-v0=noload,readonly",
                str(binary),
                str(work / "audited"),
            ]
        )
        shutil.copy(project / "Cargo.lock", work / "Cargo.lock")
        shutil.rmtree(project / "target")

    return _cached("cargo", AUDIT_JSON, build)
