"""Rust catalogers: a real cargo-built binary with a `.dep-v0` section (objcopy), a real
Cargo.lock from `cargo new`, and a committed Cargo.lock in the documented format."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from _realdata import AUDIT_JSON, analyze_bytes, auditable_binary

from yamori.catalog.rust import CargoLockCataloger, RustBinaryCataloger, parse_audit_data

FIXTURES = Path(__file__).parent / "fixtures" / "rust"


@pytest.fixture(scope="session")
def built() -> Path:
    return auditable_binary()


def test_auditable_binary(built: Path) -> None:
    result = analyze_bytes(
        RustBinaryCataloger(), "usr/local/bin/auditdemo", (built / "audited").read_bytes(), 0o100755
    )
    assert result is not None
    got = {p.name: p for p in result.packages}
    # serde_derive is a build-time (proc-macro) crate, not in the binary.
    assert {n: p.version for n, p in got.items()} == {
        "auditdemo": "0.1.0",
        "itoa": "1.0.9",
        "serde": "1.0.188",
    }
    assert got["auditdemo"].metadata == {"source": "local", "root": True}
    assert got["itoa"].metadata == {"source": "crates.io"}
    assert all(p.location == "usr/local/bin/auditdemo" for p in result.packages)


def test_plain_rust_binary_has_nothing(built: Path) -> None:
    assert analyze_bytes(RustBinaryCataloger(), "bin/plain", (built / "plain").read_bytes(), 0o100755) is None


def test_real_cargo_lock(built: Path) -> None:
    result = analyze_bytes(CargoLockCataloger(), "Cargo.lock", (built / "Cargo.lock").read_bytes())
    assert result is not None
    [pkg] = result.packages
    assert (pkg.name, pkg.version, pkg.metadata) == ("auditdemo", "0.1.0", {"local": True})


def test_cargo_lock_with_dependencies() -> None:
    result = analyze_bytes(CargoLockCataloger(), "proj/Cargo.lock", (FIXTURES / "Cargo.lock").read_bytes())
    assert result is not None
    got = {p.name: p for p in result.packages}
    assert {n: p.version for n, p in got.items()} == {
        "demo": "0.2.0",
        "itoa": "1.0.9",
        "serde": "1.0.188",
        "tokio": "1.32.0",
    }
    assert got["serde"].metadata["source"] == "registry+https://github.com/rust-lang/crates.io-index"
    assert got["tokio"].metadata["source"].startswith("git+https://github.com/tokio-rs/tokio")
    assert CargoLockCataloger.scopes == frozenset({"fs"})


def test_garbage() -> None:
    with pytest.raises(ValueError):
        parse_audit_data(b"not zlib", "x")
    with pytest.raises(ValueError):
        parse_audit_data(zlib.compress(b"[1, 2]"), "x")
    with pytest.raises(ValueError):
        parse_audit_data(zlib.compress(b"\x00" * 100_000_000, 9), "x")  # beyond the bound
    assert parse_audit_data(zlib.compress(json.dumps({"packages": [{"name": 1}]}).encode()), "x") == []
    with pytest.raises(ValueError):
        analyze_bytes(CargoLockCataloger(), "Cargo.lock", b"[[package]\nname=")
    with pytest.raises(ValueError):
        analyze_bytes(CargoLockCataloger(), "Cargo.lock", b"a = " + b"[" * 200_000)
    with pytest.raises(ValueError):
        parse_audit_data(zlib.compress(b"[" * 200_000), "x")
    assert AUDIT_JSON["packages"]
