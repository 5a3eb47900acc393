"""rpm packages, from whichever database backend an image uses.

- `rpmdb.sqlite` (rpm ≥ 4.16 default: Fedora 33+, RHEL/Rocky/Alma 9, Amazon Linux 2023):
  table `Packages(hnum, blob)`, read with the stdlib `sqlite3` from memory;
- `Packages` BerkeleyDB hash (RHEL/CentOS ≤ 8, Amazon Linux 2): see `rpmdb_bdb`;
- `Packages.db` NDB (openSUSE / SLES 15 SP3+): see `rpmdb_ndb`.

Each lives in `var/lib/rpm/` or, on newer distros, `usr/lib/sysimage/rpm/` (with
`var/lib/rpm` a symlink there, which the walkers never follow, so nothing is counted twice).
All three store the same header blobs, decoded by `rpmdb_header`.

SQLite and its write-ahead log: rpm opens the database in WAL mode. When rpm exits cleanly the
last connection checkpoints the log into `rpmdb.sqlite` and truncates `rpmdb.sqlite-wal` to
zero bytes, which is what images contain. A non-empty log means a transaction was cut short
(a snapshot taken while rpm ran, or rpm killed). Each cataloger call sees one file, and applying
a log needs both files at once, so we do not merge it: we read `rpmdb.sqlite` alone and report
a warning (by raising `ValueError` for the `-wal` file) that names how many committed
transactions the log still holds, so the gap is visible rather than silent.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Mapping

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package

DB_DIRS = ("usr/lib/sysimage/rpm", "var/lib/rpm")
SQLITE_NAME = "rpmdb.sqlite"
WAL_NAME = "rpmdb.sqlite-wal"
NDB_NAME = "Packages.db"
BDB_NAME = "Packages"
# Preference when several databases survive in the final view (a migration can leave the old
# one behind): the newer backend first, the newer location first.
_PREFERENCE = [f"{d}/{n}" for n in (SQLITE_NAME, NDB_NAME, BDB_NAME) for d in DB_DIRS]
WANTED = frozenset([*_PREFERENCE, *(f"{d}/{WAL_NAME}" for d in DB_DIRS)])

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)


def read_sqlite_blobs(data: bytes) -> list[bytes]:
    """Header blobs from an rpmdb.sqlite image, in install order (hnum).

    The file is deserialised into an in-memory connection: nothing is written to disk. An
    in-memory database cannot be in WAL mode, and SQLite refuses to open one whose header says
    it is (bytes 18-19 = 2), so the copy is switched to rollback-journal mode first; the pages
    themselves are unchanged.
    """
    import sqlite3  # here, not at module level: loading the extension is wasted on non-rpm scans

    if not data.startswith(SQLITE_MAGIC) or len(data) < 100:
        raise ValueError("not an SQLite database")
    image = bytearray(data)
    if image[18] == 2 or image[19] == 2:
        image[18] = image[19] = 1
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(image)
        del image
        conn.execute("PRAGMA query_only = ON")
        rows = conn.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.Error as exc:
        raise ValueError(f"unreadable rpm SQLite database: {exc}") from None
    finally:
        conn.close()
    return [bytes(row[0]) for row in rows if isinstance(row[0], bytes | bytearray | memoryview)]


def count_wal_commits(data: bytes) -> int:
    """Committed transactions in an SQLite WAL that are still waiting for a checkpoint.

    Frames count while their salts match the log header (older frames, left from before the
    log was restarted, carry other salts); a frame whose 'database size' field is non-zero
    ends a transaction.
    """
    if not data:
        return 0
    if len(data) < 32:
        raise ValueError("SQLite WAL header is truncated")
    magic, _version, page_size, _seq, salt1, salt2 = struct.unpack_from(">IIIIII", data, 0)
    if magic not in WAL_MAGICS or page_size < 512 or page_size & (page_size - 1):
        raise ValueError("not an SQLite write-ahead log")
    commits = 0
    offset = 32
    while offset + 24 + page_size <= len(data):
        _pgno, db_size, frame_salt1, frame_salt2 = struct.unpack_from(">IIII", data, offset)
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break
        if db_size:
            commits += 1
        offset += 24 + page_size
    return commits


def packages_from_blobs(blobs: list[bytes], location: str) -> list[Package]:
    from yamori.catalog.rpmdb_header import package_from_header

    packages = []
    for blob in blobs:
        pkg = package_from_header(blob, location)
        if pkg is not None:
            packages.append(pkg)
    return packages


@register
class RpmCataloger(Cataloger):
    """rpm databases: SQLite, BerkeleyDB hash and NDB."""

    name = "rpm"
    version = 1
    # A host with thousands of packages has a 100-300 MB database; stay well above that but
    # bounded, since the whole file is read into memory (SQLite needs it contiguous).
    max_size = 1024 * 1024 * 1024
    scopes = frozenset({"image", "rootfs"})

    def wants(self, path: str, mode: int) -> bool:
        return path in WANTED

    def analyze(self, file: FileInput) -> FileResult | None:
        base = posixpath.basename(file.path)
        data = file.read()
        if base == WAL_NAME:
            commits = count_wal_commits(data)
            if commits:
                raise ValueError(
                    f"{commits} committed transaction(s) are still only in the write-ahead log; "
                    "packages they installed or removed are not reflected"
                )
            return None
        # The database readers are imported here, not at module level: most images have no
        # rpm database, and a cached scan reads none.
        from yamori.catalog import rpmdb_bdb, rpmdb_ndb

        try:
            if base == SQLITE_NAME:
                blobs = read_sqlite_blobs(data)
            elif base == NDB_NAME:
                blobs = [blob for _index, blob in rpmdb_ndb.iter_blobs(data)]
            else:
                # Key 0 of a BDB Packages file holds a 4-byte counter, not a header.
                blobs = [blob for blob in rpmdb_bdb.iter_values(data) if len(blob) > 16]
            return FileResult(packages=packages_from_blobs(blobs, file.path))
        except (struct.error, IndexError) as exc:
            # Offsets in a damaged file can point past its end; say so as bad content.
            raise ValueError(f"damaged rpm database: {exc}") from None

    def finalize(self, results: Mapping[str, FileResult]) -> list[Package]:
        """Packages of one database: the preferred one that lists any.

        Two databases in one image are a leftover of a backend migration (`rpmdb
        --rebuilddb` converting BDB to SQLite keeps nothing else in sync); reporting both would
        double every package, so the newest backend wins.
        """
        for path in _PREFERENCE:
            result = results.get(path)
            if result is not None and result.packages:
                return list(result.packages)
        return []
