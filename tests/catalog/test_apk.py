"""apk cataloger on an installed database in apk's format (tests/fixtures/apk/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yamori.catalog.apk import ApkCataloger, parse_installed
from yamori.catalog.osrelease import OSReleaseCataloger
from yamori.model import PackageType
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

FIXTURE = Path(__file__).parent.parent / "fixtures" / "apk"
INSTALLED = (FIXTURE / "lib/apk/db/installed").read_text()


def test_parse_installed() -> None:
    pkgs = {p.name: p for p in parse_installed(INSTALLED)}
    assert sorted(pkgs) == ["busybox", "ca-certificates-bundle", "libcrypto3", "musl", "ssl_client"]
    musl = pkgs["musl"]
    assert (musl.version, musl.type, musl.arch) == ("1.2.5-r0", PackageType.APK, "x86_64")
    assert musl.files == ["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]
    assert musl.licenses == ["MIT"]
    assert musl.metadata == {
        "maintainer": "Natanael Copa <ncopa@alpinelinux.org>",
        "build_time": 1712670553,
        "commit": "2f8e0ed0f5e65e0a07bae1aa1b0c6e4a0e3fd7a2",
    }
    assert musl.location == "lib/apk/db/installed"
    # origin is the source package Alpine's advisories are keyed by
    libcrypto = pkgs["libcrypto3"]
    assert (libcrypto.source_name, libcrypto.source_version) == ("openssl", "3.3.1-r0")
    assert len(libcrypto.files) == 8
    assert "/usr/lib/engines-3/padlock.so" in libcrypto.files
    assert (pkgs["ssl_client"].source_name, pkgs["ssl_client"].files) == ("busybox", ["/usr/bin/ssl_client"])
    busybox = pkgs["busybox"]
    assert len(busybox.files) == 7
    assert "/etc/network/if-up.d/dad" in busybox.files
    # directories without R lines contribute no files
    assert not any(f.startswith("/var/") for f in busybox.files)
    assert pkgs["ca-certificates-bundle"].licenses == ["MPL-2.0 AND MIT"]


def test_missing_origin_uses_name() -> None:
    (pkg,) = parse_installed("P:foo\nV:1.0-r0\nA:aarch64\n")
    assert (pkg.source_name, pkg.source_version, pkg.files, pkg.licenses) == ("foo", "1.0-r0", [], [])


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_installed("this is\nnot apk\n")
    assert parse_installed("") == []


def test_tree_and_finalize(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/os-release").write_text('ID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME="Alpine Linux v3.20"\n')
    (root / "lib/apk/db/scripts.tar").write_bytes(b"not wanted")
    catalogers = [ApkCataloger(), OSReleaseCataloger()]
    analysis = analyze_tree(root, catalogers, where="test")
    assert analysis.warnings == []
    assert list(analysis.results["apk"]) == ["lib/apk/db/installed"]
    os_info, packages = finalize(apply_layers([analysis]), catalogers)
    assert os_info is not None and os_info.version == "3.20.1"
    pkgs = {p.name: p for p in packages}
    assert len(pkgs) == 5
    assert pkgs["busybox"].purl == "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.1"


def test_garbage_through_the_walker(tmp_path: Path) -> None:
    db = tmp_path / "lib/apk/db"
    db.mkdir(parents=True)
    (db / "installed").write_bytes(b"\x00\x01\x02 binary")
    analysis = analyze_tree(tmp_path, [ApkCataloger()], where="test")
    assert len(analysis.warnings) == 1 and "could not parse lib/apk/db/installed" in analysis.warnings[0]
