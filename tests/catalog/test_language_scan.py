"""All language catalogers together, through the real walker (`analyze_tree`) and the real
`finalize`: one tree holding a site-packages, node_modules with a lockfile, Go and Rust
binaries, a jar, gemspecs and a Gemfile.lock, scanned as an image tree and as a project."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from _realdata import auditable_binary, npm_project, pip_target
from test_golang import ESBUILD
from test_node import MANIFEST
from test_python import SPECS

from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import catalogers_for, finalize

FIXTURES = Path(__file__).parent / "fixtures"
GUAVA = Path("/usr/share/java/guava.jar")
RAKE = Path("/usr/share/rubygems-integration/all/specifications/rake-13.0.6.gemspec")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("langroot")
    shutil.copytree(pip_target(SPECS), root / "usr/lib/python3.11/site-packages")
    app = root / "srv/app"
    shutil.copytree(npm_project(MANIFEST), app)
    esbuild = npm_project(ESBUILD) / "node_modules/@esbuild/linux-x64/bin/esbuild"
    (root / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(esbuild, root / "usr/local/bin/esbuild")
    shutil.copy2(auditable_binary() / "audited", root / "usr/local/bin/auditdemo")
    shutil.copy(FIXTURES / "rust/Cargo.lock", app / "Cargo.lock")
    shutil.copy(FIXTURES / "ruby/Gemfile.lock", app / "Gemfile.lock")
    if GUAVA.exists():
        (root / "opt/lib").mkdir(parents=True)
        shutil.copy(GUAVA, root / "opt/lib/guava-31.1-jre.jar")
    if RAKE.exists():
        spec_dir = root / "var/lib/gems/3.1.0/specifications"
        spec_dir.mkdir(parents=True)
        shutil.copy(RAKE, spec_dir / RAKE.name)
    return root


def _scan(root: Path, scope: str) -> Counter[str]:
    catalogers = catalogers_for(scope)
    analysis = analyze_tree(root, catalogers, where="t")
    assert not analysis.warnings, analysis.warnings
    _, packages = finalize(apply_layers([analysis]), catalogers)
    assert all(p.purl.startswith(f"pkg:{p.type.value}/") for p in packages)
    assert all(p.location and not p.location.startswith("/") for p in packages)
    return Counter(p.type.value for p in packages)


def test_image_scope_ignores_lockfiles(tree: Path) -> None:
    counts = _scan(tree, "image")
    assert counts["pypi"] == 6
    assert counts["npm"] == 4  # the app's node_modules
    assert counts["golang"] == 2
    assert counts["cargo"] == 3
    assert counts["maven"] == (1 if GUAVA.exists() else 0)
    assert counts["gem"] == (1 if RAKE.exists() else 0)


def test_project_scope_adds_lockfiles(tree: Path) -> None:
    counts = _scan(tree, "fs")
    assert counts["npm"] == 4 + 4  # installed packages plus the package-lock.json entries
    assert counts["cargo"] == 3 + 4  # the binary plus Cargo.lock
    assert counts["gem"] == (1 if RAKE.exists() else 0) + 7  # plus Gemfile.lock


def test_large_binaries_through_a_layer_tarball(tree: Path, tmp_path: Path) -> None:
    """Members above 8 MiB reach catalogers as one shared spool: the Go and Rust catalogers
    both open it, so neither may close it under the other."""
    import tarfile

    from yamori.scan.layer import SPOOL_IN_MEMORY, analyze_tar_stream

    esbuild = tree / "usr/local/bin/esbuild"
    assert esbuild.stat().st_size > SPOOL_IN_MEMORY
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(esbuild, arcname="usr/local/bin/esbuild")
        tar.add(tree / "usr/local/bin/auditdemo", arcname="usr/local/bin/auditdemo")
    catalogers = catalogers_for("image")
    with layer.open("rb") as raw:
        analysis = analyze_tar_stream(raw, catalogers, where="layer", temp_dir=tmp_path)
    assert not analysis.warnings
    _, packages = finalize(apply_layers([analysis]), catalogers)
    assert {(p.type.value, p.name) for p in packages} == {
        ("golang", "golang.org/x/sys"),
        ("golang", "stdlib"),
        ("cargo", "auditdemo"),
        ("cargo", "itoa"),
        ("cargo", "serde"),
    }
