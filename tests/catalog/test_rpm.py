"""rpm cataloger on databases written by rpm 4.18 and libdb 5.3 (tests/fixtures/rpm/README.md)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from yamori.catalog import rpmdb_bdb, rpmdb_ndb
from yamori.catalog.interface import FileInput, FileResult
from yamori.catalog.osrelease import OSReleaseCataloger
from yamori.catalog.rpm import RpmCataloger, count_wal_commits, read_sqlite_blobs
from yamori.catalog.rpmdb_header import package_from_header, parse_source_rpm
from yamori.model import Package, PackageType
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

SCRIPT = Path(__file__).parent.parent / "fixtures" / "rpm" / "make_rpmdb.py"
DB_FILES = {
    "sqlite": "sqlite/rpmdb.sqlite",
    "bdb": "bdb/Packages",
    "ndb": "ndb/Packages.db",
}
DB_PATHS = {
    "sqlite": "var/lib/rpm/rpmdb.sqlite",
    "bdb": "var/lib/rpm/Packages",
    "ndb": "usr/lib/sysimage/rpm/Packages.db",
}


class _Bytes(FileInput):
    def __init__(self, path: str, data: bytes) -> None:
        self.path, self.size, self.mode, self._data = path, len(data), 0o100644, data

    def read(self) -> bytes:
        return self._data

    def open(self) -> IO[bytes]:
        return io.BytesIO(self._data)


@pytest.fixture(scope="session")
def rpmdbs(test_cache: Path) -> Path:
    """The generated databases, rebuilt only when the generator script changes."""
    missing = [tool for tool in ("rpm", "rpmbuild", "db5.3_load", "gpg") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps.sh installs them)")
    digest = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:16]
    out = test_cache / "rpmdb" / digest
    if not all((out / f).is_file() for f in DB_FILES.values()):
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    return out


def _analyze(path: str, data: bytes) -> FileResult | None:
    return RpmCataloger().analyze(_Bytes(path, data))


def _packages(rpmdbs: Path, backend: str) -> dict[str, Package]:
    result = _analyze(DB_PATHS[backend], (rpmdbs / DB_FILES[backend]).read_bytes())
    assert result is not None
    return {p.name: p for p in result.packages}


@pytest.mark.parametrize("backend", sorted(DB_FILES))
def test_database_contents(rpmdbs: Path, backend: str) -> None:
    pkgs = _packages(rpmdbs, backend)
    # gpg-pubkey is skipped, removed-yamori was erased by rpm
    assert sorted(pkgs) == ["hello-yamori", "libyamori", "libyamori-devel", "python3-yamori-tools"]
    hello = pkgs["hello-yamori"]
    assert (hello.version, hello.type, hello.arch) == ("1.2.3-4.el9", PackageType.RPM, "noarch")
    assert hello.metadata["epoch"] == 2
    assert hello.metadata["vendor"] == "Yamori Test Vendor"
    assert hello.licenses == ["MIT AND Apache-2.0"]
    assert (hello.source_name, hello.source_version) == ("hello-yamori", "1.2.3-4.el9")
    # the %dir is left out, files are absolute
    assert hello.files == ["/usr/bin/hello-yamori", "/usr/share/doc/hello-yamori/README"]
    assert hello.location == DB_PATHS[backend]
    lib = pkgs["libyamori"]
    assert (lib.version, lib.arch, lib.metadata["epoch"]) == ("0.9.1-1.fc40", "x86_64", None)
    assert lib.licenses == ["LGPL-2.1-or-later"]
    assert len(lib.files) == 5 and "/usr/lib64/libyamori-part3.so.0" in lib.files
    # subpackages name their source rpm
    tools = pkgs["python3-yamori-tools"]
    assert (tools.source_name, tools.source_version) == ("libyamori", "0.9.1-1.fc40")
    assert tools.licenses == ["BSD-3-Clause"]
    assert tools.files == ["/usr/lib/python3.12/site-packages/yamori_tools/__init__.py"]
    assert pkgs["libyamori-devel"].files == ["/usr/include/yamori/yamori.h"]
    assert pkgs["libyamori-devel"].metadata["source_rpm"] == "libyamori-0.9.1-1.fc40.src.rpm"


def test_backends_hold_the_same_blobs(rpmdbs: Path) -> None:
    sqlite_blobs = read_sqlite_blobs((rpmdbs / DB_FILES["sqlite"]).read_bytes())
    bdb_blobs = [b for b in rpmdb_bdb.iter_values((rpmdbs / DB_FILES["bdb"]).read_bytes()) if len(b) > 16]
    ndb_blobs = [b for _i, b in rpmdb_ndb.iter_blobs((rpmdbs / DB_FILES["ndb"]).read_bytes())]
    assert len(sqlite_blobs) == 5  # four packages and the imported key
    assert sorted(bdb_blobs) == sorted(sqlite_blobs) == sorted(ndb_blobs)
    names = [p.name if p else None for p in (package_from_header(b, "x") for b in sqlite_blobs)]
    assert names.count(None) == 1  # gpg-pubkey


def test_parse_source_rpm() -> None:
    assert parse_source_rpm("openssl-3.0.7-27.el9.src.rpm") == ("openssl", "3.0.7-27.el9")
    assert parse_source_rpm("python-pip-21.3.1-1.fc36.src.rpm") == ("python-pip", "21.3.1-1.fc36")
    assert parse_source_rpm("kernel-5.14.0-1.nosrc.rpm") == ("kernel", "5.14.0-1")
    assert parse_source_rpm("(none)") is None
    assert parse_source_rpm("broken.src.rpm") is None


def test_wal_with_committed_frames(rpmdbs: Path, tmp_path: Path) -> None:
    """A real SQLite log: commit while checkpoints are off, copy the files mid-session."""
    db = tmp_path / "rpmdb.sqlite"
    shutil.copy(rpmdbs / DB_FILES["sqlite"], db)
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("DELETE FROM Packages WHERE hnum = (SELECT min(hnum) FROM Packages)")
        conn.commit()
        conn.execute("INSERT INTO Packages (blob) SELECT blob FROM Packages WHERE hnum = 2")
        conn.commit()
        wal = (tmp_path / "rpmdb.sqlite-wal").read_bytes()
        main = db.read_bytes()
    finally:
        conn.close()
    assert count_wal_commits(wal) == 2
    with pytest.raises(ValueError, match="2 committed transaction"):
        _analyze("var/lib/rpm/rpmdb.sqlite-wal", wal)
    # The main file alone still holds the state before the log.
    result = _analyze("var/lib/rpm/rpmdb.sqlite", main)
    assert result is not None and len(result.packages) == 4
    assert _analyze("var/lib/rpm/rpmdb.sqlite-wal", b"") is None


def test_wants() -> None:
    cataloger = RpmCataloger()
    for path in (*DB_PATHS.values(), "usr/lib/sysimage/rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite-wal"):
        assert cataloger.wants(path, 0o100644)
    for path in (
        "var/lib/rpm/Name",
        "var/lib/rpm/rpmdb.sqlite-shm",
        "rpmdb.sqlite",
        "var/lib/rpm/x/Packages",
    ):
        assert not cataloger.wants(path, 0o100644)


@pytest.mark.parametrize("backend", sorted(DB_FILES))
def test_garbage_raises_value_error_only(rpmdbs: Path, backend: str) -> None:
    """Truncations and random byte flips of real databases: a ValueError or a result, no crash."""
    data = (rpmdbs / DB_FILES[backend]).read_bytes()
    path = DB_PATHS[backend]
    with pytest.raises(ValueError):
        _analyze(path, b"\x00" * 4096)
    with pytest.raises(ValueError):
        _analyze(path, data[: len(data) // 3])
    rng = random.Random(1234)
    for _ in range(150):
        mutated = bytearray(data)
        for _flip in range(rng.randint(1, 40)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        with contextlib.suppress(ValueError):
            _analyze(path, bytes(mutated))


def test_header_fuzz(rpmdbs: Path) -> None:
    blobs = read_sqlite_blobs((rpmdbs / DB_FILES["sqlite"]).read_bytes())
    rng = random.Random(99)
    for blob in blobs:
        for cut in (0, 7, 8, 20, len(blob) // 2, len(blob) - 1):
            with pytest.raises(ValueError):
                package_from_header(blob[:cut], "x")
        for _ in range(200):
            mutated = bytearray(blob)
            for _flip in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            with contextlib.suppress(ValueError):
                package_from_header(bytes(mutated), "x")


def test_finalize_prefers_sqlite_over_a_leftover_bdb(rpmdbs: Path) -> None:
    sqlite_result = _analyze(DB_PATHS["sqlite"], (rpmdbs / DB_FILES["sqlite"]).read_bytes())
    bdb_result = _analyze(DB_PATHS["bdb"], (rpmdbs / DB_FILES["bdb"]).read_bytes())
    assert sqlite_result is not None and bdb_result is not None
    packages = RpmCataloger().finalize({DB_PATHS["bdb"]: bdb_result, DB_PATHS["sqlite"]: sqlite_result})
    assert len(packages) == 4
    assert {p.location for p in packages} == {DB_PATHS["sqlite"]}


def test_tree_and_finalize(rpmdbs: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib/sysimage/rpm").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy(rpmdbs / DB_FILES["sqlite"], root / "usr/lib/sysimage/rpm/rpmdb.sqlite")
    (root / "usr/lib/sysimage/rpm/rpmdb.sqlite-wal").write_bytes(b"")
    (root / "usr/lib/sysimage/rpm/rpmdb.sqlite-shm").write_bytes(b"\x00" * 32768)
    (root / "etc/os-release").write_text('ID="rocky"\nVERSION_ID="9.3"\n')
    catalogers = [RpmCataloger(), OSReleaseCataloger()]
    analysis = analyze_tree(root, catalogers, where="test")
    assert analysis.warnings == []
    os_info, packages = finalize(apply_layers([analysis]), catalogers)
    assert os_info is not None and os_info.family == "rocky"
    pkgs = {p.name: p for p in packages}
    assert sorted(pkgs) == ["hello-yamori", "libyamori", "libyamori-devel", "python3-yamori-tools"]
    assert pkgs["hello-yamori"].purl == (
        "pkg:rpm/rocky/hello-yamori@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=2"
    )
    assert pkgs["hello-yamori"].location == "usr/lib/sysimage/rpm/rpmdb.sqlite"
