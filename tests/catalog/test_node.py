"""npm catalogers: a real `npm install` (node_modules and its v3 package-lock.json), and
committed lockfiles in the documented yarn (classic, berry), pnpm (v5, v6, v9) and npm v1 formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _realdata import analyze_bytes, npm_project

from yamori.catalog.node import NpmLockfileCataloger, NpmPackageCataloger, is_installed_manifest
from yamori.model import Package
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

FIXTURES = Path(__file__).parent / "fixtures" / "node"
MANIFEST = {
    "name": "yamori-node-demo",
    "version": "1.0.0",
    "private": True,
    "dependencies": {"debug": "4.3.4", "@sindresorhus/is": "4.6.0"},
    "devDependencies": {"is-number": "7.0.0"},
}


@pytest.fixture(scope="session")
def project() -> Path:
    return npm_project(MANIFEST)


def _lock(name: str) -> dict[tuple[str, str], Package]:
    cataloger = NpmLockfileCataloger()
    real_name = "yarn.lock" if "yarn" in name else "pnpm-lock.yaml" if "pnpm" in name else "package-lock.json"
    result = analyze_bytes(cataloger, f"app/{real_name}", (FIXTURES / name).read_bytes())
    assert result is not None
    return {(p.name, p.version): p for p in result.packages}


def test_installed_node_modules(project: Path) -> None:
    cataloger = NpmPackageCataloger()
    analysis = analyze_tree(project, [cataloger], where="t")
    _, packages = finalize(apply_layers([analysis]), [cataloger])
    found = {p.name: p for p in packages}
    assert {n: p.version for n, p in found.items()} == {
        "debug": "4.3.4",
        "ms": "2.1.2",
        "@sindresorhus/is": "4.6.0",
        "is-number": "7.0.0",
    }
    assert found["debug"].location == "node_modules/debug/package.json"
    assert found["debug"].licenses == ["MIT"]
    assert found["@sindresorhus/is"].purl == "pkg:npm/%40sindresorhus/is@4.6.0"
    assert found["@sindresorhus/is"].location == "node_modules/@sindresorhus/is/package.json"


def test_real_package_lock_v3(project: Path) -> None:
    data = (project / "package-lock.json").read_bytes()
    assert json.loads(data)["lockfileVersion"] == 3
    result = analyze_bytes(NpmLockfileCataloger(), "package-lock.json", data)
    assert result is not None
    found = {p.name: p for p in result.packages}
    assert {n: (p.version, p.metadata["dev"]) for n, p in found.items()} == {
        "debug": ("4.3.4", False),
        "ms": ("2.1.2", False),
        "@sindresorhus/is": ("4.6.0", False),
        "is-number": ("7.0.0", True),
    }


def test_lockfiles_are_for_project_scans_only() -> None:
    assert NpmLockfileCataloger.scopes == frozenset({"fs"})
    assert "image" in NpmPackageCataloger.scopes
    cataloger = NpmLockfileCataloger()
    assert cataloger.wants("srv/app/package-lock.json", 0o644)
    assert not cataloger.wants("srv/app/node_modules/.package-lock.json", 0o644)
    assert not cataloger.wants("srv/app/node_modules/x/yarn.lock", 0o644)


def test_manifest_paths() -> None:
    assert is_installed_manifest("usr/lib/node_modules/npm/package.json")
    assert is_installed_manifest("usr/local/lib/node_modules/@scope/x/package.json")
    assert is_installed_manifest("app/node_modules/a/node_modules/b/package.json")
    assert not is_installed_manifest("app/node_modules/x/test/package.json")
    assert not is_installed_manifest("app/node_modules/@scope/x/lib/package.json")
    assert not is_installed_manifest("app/package.json")
    cataloger = NpmPackageCataloger()
    no_version = analyze_bytes(cataloger, "node_modules/x/package.json", b'{"name": "x"}')
    assert no_version is None
    with pytest.raises(ValueError):
        analyze_bytes(cataloger, "node_modules/x/package.json", b"{not json")
    with pytest.raises(ValueError):
        analyze_bytes(cataloger, "node_modules/x/package.json", b"[" * 200_000)
    legacy = analyze_bytes(
        cataloger,
        "node_modules/old/package.json",
        b'{"name": "old", "version": "0.1.0", "licenses": [{"type": "BSD"}, {"type": "MIT"}]}',
    )
    assert legacy is not None and legacy.packages[0].licenses == ["BSD", "MIT"]


def test_package_lock_v1() -> None:
    found = _lock("package-lock-v1.json")
    assert set(found) == {
        ("debug", "4.3.4"),
        ("is-number", "7.0.0"),
        ("ms", "2.1.2"),
        ("send", "0.18.0"),
        ("ms", "2.1.3"),
    }
    assert found[("is-number", "7.0.0")].metadata["dev"] is True
    assert found[("ms", "2.1.3")].metadata["dev"] is False


def test_yarn_classic() -> None:
    found = _lock("yarn-v1.lock")
    assert set(found) == {
        ("@babel/code-frame", "7.12.13"),
        ("js-tokens", "4.0.0"),
        ("lodash", "4.17.21"),
        ("string-width", "4.2.3"),  # through the alias string-width-cjs
    }


def test_yarn_berry() -> None:
    found = _lock("yarn-berry.lock")
    # The workspace itself and the patched duplicate of resolve are not packages.
    assert set(found) == {("@types/node", "20.10.5"), ("resolve", "1.22.8"), ("undici-types", "5.26.5")}


def test_pnpm_v5() -> None:
    found = _lock("pnpm-v5.yaml")
    assert {k: p.metadata["dev"] for k, p in found.items()} == {
        ("@babel/core", "7.20.12"): True,
        ("lodash", "4.17.21"): False,
        ("react-dom", "18.2.0"): False,
        ("react", "18.2.0"): False,
    }


def test_pnpm_v6() -> None:
    found = _lock("pnpm-v6.yaml")
    assert {k: p.metadata["dev"] for k, p in found.items()} == {
        ("@types/node", "20.10.5"): True,
        ("react-dom", "18.2.0"): False,
        ("react", "18.2.0"): False,
        ("undici-types", "5.26.5"): True,
    }


def test_pnpm_v9_dev_from_the_dependency_graph() -> None:
    found = _lock("pnpm-v9.yaml")
    assert {k: p.metadata["dev"] for k, p in found.items()} == {
        ("@types/node", "20.10.5"): True,
        ("undici-types", "5.26.5"): True,
        ("typescript", "5.3.3"): True,
        ("react-dom", "18.2.0"): False,
        ("react", "18.2.0"): False,
        ("loose-envify", "1.4.0"): False,
        ("js-tokens", "4.0.0"): False,
    }


def test_garbage_lockfiles() -> None:
    cataloger = NpmLockfileCataloger()
    deep = b"[" * 200_000  # hostile nesting must not blow the stack
    for name, data in (
        ("package-lock.json", b"[1"),
        ("package-lock.json", deep),
        ("pnpm-lock.yaml", b"{: ["),
        ("pnpm-lock.yaml", b"- a\n"),
        ("pnpm-lock.yaml", deep),
    ):
        with pytest.raises(ValueError):
            analyze_bytes(cataloger, name, data)
