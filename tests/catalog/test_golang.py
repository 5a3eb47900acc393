"""Go binary cataloger on real binaries: Debian's (Go 1.19, GOPATH build: no module list) and
esbuild from npm, built in module mode with Go 1.20 (inline build info) and Go 1.17 (the older
pointer layout). Expected values were read from the binaries with `strings` (no Go toolchain
here to run `go version -m`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from _realdata import BytesInput, analyze_bytes, npm_project

from yamori.catalog.golang import GoBinaryCataloger, packages_from_buildinfo
from yamori.catalog.interface import FileResult
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

ESBUILD = {
    "name": "go-binaries",
    "version": "1.0.0",
    "private": True,
    "dependencies": {"@esbuild/linux-x64": "0.19.12", "esbuild-linux-64": "0.14.0"},
}


@pytest.fixture(scope="session")
def esbuild_project() -> Path:
    return npm_project(ESBUILD)


def _analyze_path(real: Path, rel: str) -> FileResult | None:
    cataloger = GoBinaryCataloger()
    mode = os.stat(real).st_mode
    assert cataloger.wants(rel, mode)
    return cataloger.analyze(BytesInput(rel, real.read_bytes(), mode))


def _strings(path: Path) -> str:
    if shutil.which("strings") is None:
        pytest.skip("binutils strings missing")
    return subprocess.run(
        ["strings", "-n", "6", str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    ("package", "toolchain", "xsys"),
    [
        ("@esbuild/linux-x64", "go1.20.12", "v0.0.0-20220715151400-c0bba94af5f8"),  # 1.18+ inline
        ("esbuild-linux-64", "go1.17.2", "v0.0.0-20210908233432-aa78b53d3365"),  # pre-1.18 pointers
    ],
)
def test_esbuild_binaries(esbuild_project: Path, package: str, toolchain: str, xsys: str) -> None:
    binary = esbuild_project / "node_modules" / package / "bin" / "esbuild"
    text = _strings(binary)
    assert f"dep\tgolang.org/x/sys\t{xsys}" in text and toolchain in text  # the facts, independently
    rel = f"node_modules/{package}/bin/esbuild"
    result = _analyze_path(binary, rel)
    assert result is not None
    got = {(p.name, p.version) for p in result.packages}
    # The main module is "(devel)" and skipped, as Trivy does.
    assert got == {("golang.org/x/sys", xsys), ("stdlib", toolchain.removeprefix("go"))}
    assert all(p.location == rel for p in result.packages)
    assert all(p.metadata["go_toolchain"] == toolchain for p in result.packages)


@pytest.mark.parametrize("name", ["skopeo", "podman", "umoci"])
def test_debian_go_binaries(name: str) -> None:
    real = Path("/usr/bin") / name
    if not real.exists():
        pytest.skip(f"/usr/bin/{name} not installed")
    text = _strings(real)
    assert "path\tgithub.com/" in text
    result = _analyze_path(real, f"usr/bin/{name}")
    assert result is not None
    # Debian builds in GOPATH mode: no module list, only the toolchain.
    [stdlib] = result.packages
    assert stdlib.name == "stdlib"
    assert f"go{stdlib.version}" in text
    assert stdlib.version.startswith("1.")


def test_scan_reports_stdlib_purl(esbuild_project: Path) -> None:
    cataloger = GoBinaryCataloger()
    analysis = analyze_tree(esbuild_project / "node_modules" / "@esbuild", [cataloger], where="t")
    _, packages = finalize(apply_layers([analysis]), [cataloger])
    purls = sorted(p.purl for p in packages)
    assert purls == [
        "pkg:golang/golang.org/x/sys@v0.0.0-20220715151400-c0bba94af5f8",
        "pkg:golang/stdlib@1.20.12",
    ]


def test_replacements_and_main_module() -> None:
    modinfo = "\n".join(
        [
            "path\texample.com/app/cmd/app",
            "mod\texample.com/app\tv1.4.0\th1:abc=",
            "dep\tgithub.com/a/b\tv1.0.0\th1:x=",
            "=>\tgithub.com/fork/b\tv1.0.1\th1:y=",
            "dep\tgithub.com/c/d\tv0.3.0\th1:z=",
            "=>\t../local/d\t",
            "dep\tgolang.org/x/net\tv0.17.0\th1:w=",
            "build\tGOOS=linux",
        ]
    )
    packages = {p.name: p for p in packages_from_buildinfo("go1.21.5 X:boringcrypto", modinfo, "app")}
    assert {n: p.version for n, p in packages.items()} == {
        "example.com/app": "v1.4.0",
        "github.com/fork/b": "v1.0.1",
        "github.com/c/d": "v0.3.0",
        "golang.org/x/net": "v0.17.0",
        "stdlib": "1.21.5",
    }
    assert packages["example.com/app"].metadata["main"] is True
    assert packages["github.com/fork/b"].metadata["replaces"] == "github.com/a/b@v1.0.0"
    assert packages["github.com/c/d"].metadata["replaced_by"] == "../local/d"
    assert packages["stdlib"].metadata["go_toolchain"] == "go1.21.5 X:boringcrypto"
    devel = packages_from_buildinfo("devel go1.22-abcdef", "mod\tx\t(devel)\t\n", "app")
    assert devel == []


def test_non_go_and_garbage() -> None:
    cataloger = GoBinaryCataloger()
    assert not cataloger.wants("usr/bin/ls", 0o100644)  # not executable
    assert not cataloger.wants("usr/bin/run.sh", 0o100755)
    assert analyze_bytes(cataloger, "usr/bin/script", b"#!/bin/sh\necho hi\n", 0o100755) is None
    ls = Path("/bin/ls")
    if ls.exists():
        assert analyze_bytes(cataloger, "bin/ls", ls.read_bytes(), 0o100755) is None  # C, not Go
    with pytest.raises(ValueError):
        analyze_bytes(cataloger, "usr/bin/bad", b"\x7fELF\x02\x01\x01" + b"\xff" * 60, 0o100755)
    with pytest.raises(ValueError):
        analyze_bytes(cataloger, "usr/bin/short", b"\x7fELF\x02", 0o100755)
