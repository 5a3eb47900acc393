"""dpkg cataloger on real Debian 12 data (see tests/fixtures/dpkg/README.md)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import IO

import pytest

from yamori.catalog.dpkg import DpkgCataloger, parse_dep5_licenses, parse_file_list, parse_status
from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.osrelease import OSReleaseCataloger
from yamori.model import PackageType
from yamori.scan.applier import apply_layers
from yamori.scan.layer import LayerAnalysis, analyze_tree
from yamori.scan.scanner import finalize

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dpkg"
ROOT = FIXTURES / "root"
STATUS = (ROOT / "var/lib/dpkg/status").read_text()


class _Bytes(FileInput):
    def __init__(self, path: str, data: bytes) -> None:
        self.path, self.size, self.mode, self._data = path, len(data), 0o100644, data

    def read(self) -> bytes:
        return self._data

    def open(self) -> IO[bytes]:
        return io.BytesIO(self._data)


def _analyze(path: str, data: bytes) -> FileResult | None:
    return DpkgCataloger().analyze(_Bytes(path, data))


def test_real_status_stanzas() -> None:
    pkgs = {p.name: p for p in parse_status(STATUS, "var/lib/dpkg/status")}
    assert sorted(pkgs) == ["base-files", "hostname", "libacl1", "libatm1"]
    hostname = pkgs["hostname"]
    assert (hostname.version, hostname.type, hostname.arch) == ("3.23+nmu1", PackageType.DEB, "amd64")
    # No Source field: the source package is the binary package.
    assert (hostname.source_name, hostname.source_version) == ("hostname", "3.23+nmu1")
    assert hostname.metadata["maintainer"] == "Michael Meskes <meskes@debian.org>"
    assert hostname.location == "var/lib/dpkg/status"
    # `Source: acl` without a version: the binary version is the source version.
    assert (pkgs["libacl1"].source_name, pkgs["libacl1"].source_version) == ("acl", "2.3.1-3")
    # A binNMU: `Source: linux-atm (1:2.5.1-4)` differs from the binary version.
    libatm = pkgs["libatm1"]
    assert libatm.version == "1:2.5.1-4+b2"
    assert (libatm.source_name, libatm.source_version) == ("linux-atm", "1:2.5.1-4")
    assert pkgs["base-files"].version == "12.4+deb12u11"
    assert pkgs["base-files"].metadata["multi_arch"] == "foreign"


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        ("install ok installed", True),
        ("hold ok installed", True),
        ("deinstall ok config-files", False),
        ("purge ok not-installed", False),
        ("install ok half-installed", False),
        ("install reinstreq half-installed", False),
        # Selected for removal, files still on disk; Debian's and Trivy's rule drops it too.
        ("deinstall ok installed", False),
    ],
)
def test_status_states(status: str, kept: bool) -> None:
    text = STATUS.replace("Status: install ok installed", f"Status: {status}")
    names = [p.name for p in parse_status(text, "var/lib/dpkg/status")]
    assert names == (["hostname", "libacl1", "libatm1", "base-files"] if kept else [])


def test_file_list_drops_directories() -> None:
    text = (ROOT / "var/lib/dpkg/info/libacl1:amd64.list").read_text()
    assert parse_file_list(text) == [
        "/usr/lib/x86_64-linux-gnu/libacl.so.1.1.2301",
        "/usr/share/doc/libacl1/changelog.Debian.gz",
        "/usr/share/doc/libacl1/changelog.gz",
        "/usr/share/doc/libacl1/copyright",
        "/usr/share/lintian/overrides/libacl1",
        "/usr/lib/x86_64-linux-gnu/libacl.so.1",
    ]
    # A sibling whose name extends a directory's name must not hide that directory's files.
    assert parse_file_list("/.\n/usr\n/usr/bin\n/usr/bin-extra\n/usr/bin/x\n") == [
        "/usr/bin-extra",
        "/usr/bin/x",
    ]


def test_dep5_licences() -> None:
    acl = (ROOT / "usr/share/doc/libacl1/copyright").read_text()
    hostname = (ROOT / "usr/share/doc/hostname/copyright").read_text()
    free_form = (ROOT / "usr/share/doc/base-files/copyright").read_text()
    assert parse_dep5_licenses(acl) == ["GPL-2+", "LGPL-2+"]
    assert parse_dep5_licenses(hostname) == ["GPL-2"]
    assert parse_dep5_licenses(free_form) is None


def test_wants() -> None:
    cataloger = DpkgCataloger()
    wanted = [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/tzdata",
        "var/lib/dpkg/info/libc6:amd64.list",
        "var/lib/dpkg/info/bash.list",
        "usr/share/doc/bash/copyright",
    ]
    unwanted = [
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/status.d/tzdata.md5sums",
        "var/lib/dpkg/info/bash.md5sums",
        "var/lib/dpkg/info/sub/x.list",
        "usr/share/doc/bash/examples/copyright",
        "usr/share/doc/copyright",
    ]
    assert all(cataloger.wants(p, 0o100644) for p in wanted)
    assert not any(cataloger.wants(p, 0o100644) for p in unwanted)


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        _analyze("var/lib/dpkg/status", b"\x7fELF\x02\x01\x01\x00\x00\x00garbage")
    with pytest.raises(ValueError):
        _analyze("var/lib/dpkg/status", b"this is not\na control file\n")
    assert _analyze("var/lib/dpkg/status", b"") == FileResult()


def test_tree_and_finalize(tmp_path: Path) -> None:
    """The whole path: walk a tree, replay it, join lists and licences, assign purls."""
    root = tmp_path / "root"
    shutil.copytree(ROOT, root)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    catalogers = [DpkgCataloger(), OSReleaseCataloger()]
    analysis = analyze_tree(root, catalogers, where="test")
    assert analysis.warnings == []
    os_info, packages = finalize(apply_layers([analysis]), catalogers)
    assert os_info is not None and os_info.family == "debian"
    pkgs = {p.name: p for p in packages}
    assert sorted(pkgs) == ["base-files", "hostname", "libacl1", "libatm1"]
    hostname = pkgs["hostname"]
    assert hostname.licenses == ["GPL-2"]
    assert "/bin/hostname" in hostname.files and "/bin" not in hostname.files
    assert len(hostname.files) == 12
    # libacl1 is Multi-Arch: same, its list is `libacl1:amd64.list`.
    assert len(pkgs["libacl1"].files) == 6
    assert pkgs["libacl1"].licenses == ["GPL-2+", "LGPL-2+"]
    assert pkgs["libatm1"].licenses == []  # no copyright file in the fixture
    assert pkgs["base-files"].files == [] and pkgs["base-files"].licenses == []
    assert hostname.purl == "pkg:deb/debian/hostname@3.23%2Bnmu1?arch=amd64&distro=debian-12"
    assert pkgs["libatm1"].purl == "pkg:deb/debian/libatm1@2.5.1-4%2Bb2?arch=amd64&distro=debian-12&epoch=1"


def test_distroless_status_d(tmp_path: Path) -> None:
    catalogers: list[Cataloger] = [DpkgCataloger()]
    analysis = analyze_tree(FIXTURES / "distroless", catalogers, where="test")
    assert sorted(analysis.results["dpkg"]) == [
        "var/lib/dpkg/status.d/libgcc-s1",
        "var/lib/dpkg/status.d/tzdata",
    ]
    _os, packages = finalize(apply_layers([analysis]), catalogers)
    pkgs = {p.name: p for p in packages}
    assert sorted(pkgs) == ["libgcc-s1", "tzdata"]
    assert pkgs["tzdata"].location == "var/lib/dpkg/status.d/tzdata"
    assert (pkgs["tzdata"].version, pkgs["tzdata"].arch) == ("2025b-0+deb12u2", "all")
    assert (pkgs["libgcc-s1"].source_name, pkgs["libgcc-s1"].source_version) == (
        "gcc-12",
        "12.2.0-14+deb12u1",
    )


def test_finalize_sees_only_surviving_files() -> None:
    """A later layer deleting a file list or a copyright file takes it off the package."""
    cataloger = DpkgCataloger()
    base = LayerAnalysis()
    for rel in (
        "var/lib/dpkg/status",
        "var/lib/dpkg/info/hostname.list",
        "usr/share/doc/hostname/copyright",
    ):
        result = _analyze(rel, (ROOT / rel).read_bytes())
        base.results.setdefault("dpkg", {})[rel] = result or FileResult()
    upper = LayerAnalysis(whiteouts=["var/lib/dpkg/info/hostname.list", "usr/share/doc/hostname"])
    before = {p.name: p for p in cataloger.finalize(apply_layers([base])["dpkg"])}
    after = {p.name: p for p in cataloger.finalize(apply_layers([base, upper])["dpkg"])}
    assert len(before["hostname"].files) == 12 and before["hostname"].licenses == ["GPL-2"]
    assert after["hostname"].files == [] and after["hostname"].licenses == []
    # finalize must not have changed the cached per-path results
    assert base.results["dpkg"]["var/lib/dpkg/status"].packages[0].files == []


def test_dep5_expressions_split_into_short_names() -> None:
    # Field values as they appear in Debian 12's perl-base and autoconf copyright files.
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nLicense: GPL-1+ or Artistic, and Unicode\n\n"
        "Files: m4/*\nLicense: GPL-3+ with Autoconf exception\n\n"
        "License: GPL-1+\n On Debian systems, the complete text is in /usr/share/common-licenses/GPL-1.\n"
    )
    assert parse_dep5_licenses(text) == ["GPL-1+", "Artistic", "Unicode", "GPL-3+ with Autoconf exception"]
