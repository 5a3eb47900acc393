"""The local vulnerability index: one SQLite file, rebuilt beside the old one and swapped in.

Layout (see `SCHEMA`): `records` keeps each OSV record zstd-compressed with its id, modified and
withdrawn timestamps and the dump (`source`) it came from; `affected` maps (ecosystem with
release, normalised name) to records, indexed, so a lookup is one B-tree probe; `kev`, `epss`
hold threat intelligence; `sources` remembers per ecosystem where the dump came from with its
ETag/Last-Modified (for conditional downloads) and counts; `meta` holds KEV/EPSS dates.

Why a rebuild and not in-place updates: a half-applied update must never be visible. The new
index is written to a temporary file in the same directory, ecosystems not refreshed this time
are copied over from the old file, and `os.replace` makes the switch atomic. A reader that
already had the old file open keeps reading it until it closes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
import zstandard

from yamori.vulndb.interface import EpssScore, KevEntry, VulnerabilitySource
from yamori.vulndb.osv import OsvError, is_known_ecosystem, iter_dump, iter_zip, parse_record, source_label

if TYPE_CHECKING:
    import httpx

    from yamori.vulndb.intel import EpssFile, KevCatalog

SCHEMA_VERSION = "1"
DB_FILENAME = "vulndb.sqlite"  # yamori.config.vulndb_file spells it too
DEFAULT_SOURCE = "https://osv-vulnerabilities.storage.googleapis.com"
MAX_DOWNLOAD_BYTES = 4 * 1024 * 1024 * 1024
#: Per dump, record errors beyond this many are summarised in one line instead of listed.
MAX_LISTED_ERRORS = 10

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    ecosystem TEXT PRIMARY KEY, url TEXT, etag TEXT, last_modified TEXT,
    records INTEGER NOT NULL, withdrawn INTEGER NOT NULL,
    updated_at TEXT NOT NULL, checked_at TEXT NOT NULL
);
CREATE TABLE records (
    source TEXT NOT NULL, id TEXT NOT NULL, modified TEXT NOT NULL, withdrawn TEXT,
    data BLOB NOT NULL, UNIQUE (source, id)
);
CREATE TABLE affected (ecosystem TEXT NOT NULL, name TEXT NOT NULL, rec INTEGER NOT NULL);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY, ransomware INTEGER NOT NULL, date_added TEXT, due_date TEXT
) WITHOUT ROWID;
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL) WITHOUT ROWID;
"""
# Built after the bulk load: inserting into an indexed table is several times slower.
INDEXES = "CREATE INDEX affected_key ON affected (ecosystem, name)"


def default_db_dir() -> Path:
    from yamori.config import vulndb_file

    return vulndb_file().parent


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DatabaseError(RuntimeError):
    """The database cannot be opened or built; one line."""


Message = Callable[[str], None]


@dataclass(slots=True)
class SourceInfo:
    ecosystem: str
    url: str | None
    etag: str | None
    last_modified: str | None
    records: int
    withdrawn: int
    updated_at: str
    checked_at: str


@dataclass(slots=True)
class Outcome:
    """What an update or import did; the CLI turns it into lines and an exit code."""

    loaded: dict[str, int] = field(default_factory=dict)  # ecosystem → records (not withdrawn)
    unchanged: list[str] = field(default_factory=list)  # 304
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise DatabaseError(f"no vulnerability database at {path}; run 'yamori db update'")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: not a yamori vulnerability database ({exc})") from None
    if not version or version[0] != SCHEMA_VERSION:
        conn.close()
        raise DatabaseError(f"{path}: built by another yamori version; run 'yamori db update'")
    return conn


class VulnerabilityDatabase(VulnerabilitySource):
    """Read-only view of the index, for matching. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect_readonly(path)
        self._dctx = zstandard.ZstdDecompressor()

    @classmethod
    def open(cls, db_dir: Path | None = None) -> VulnerabilityDatabase:
        return cls((db_dir or default_db_dir()) / DB_FILENAME)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VulnerabilityDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def records(self, ecosystem: str, name: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT r.id, r.data FROM affected a JOIN records r ON r.rowid = a.rec"
            " WHERE a.ecosystem = ? AND a.name = ? AND r.withdrawn IS NULL",
            (ecosystem, name),
        ).fetchall()
        seen: set[str] = set()
        result: list[dict[str, Any]] = []
        for rid, blob in rows:
            if rid in seen:  # the same record shipped in two ecosystems' dumps
                continue
            seen.add(rid)
            result.append(orjson.loads(self._dctx.decompress(blob)))
        return result

    def ecosystems(self) -> list[str]:
        """Every ecosystem (with release) the index knows, e.g. to tell 'no data' from 'clean'."""
        rows = self._conn.execute("SELECT DISTINCT ecosystem FROM affected ORDER BY 1").fetchall()
        return [row[0] for row in rows]

    def _by_cve(self, sql: str, cves: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        wanted = sorted(set(cves))
        for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            yield from self._conn.execute(sql.format(",".join("?" * len(chunk))), chunk)

    def kev(self, cves: Iterable[str]) -> dict[str, KevEntry]:
        sql = "SELECT cve, ransomware, date_added, due_date FROM kev WHERE cve IN ({})"
        return {
            row[0]: KevEntry(cve=row[0], known_ransomware=bool(row[1]), date_added=row[2], due_date=row[3])
            for row in self._by_cve(sql, cves)
        }

    def epss(self, cves: Iterable[str]) -> dict[str, EpssScore]:
        sql = "SELECT cve, score, percentile FROM epss WHERE cve IN ({})"
        return {
            row[0]: EpssScore(cve=row[0], score=row[1], percentile=row[2]) for row in self._by_cve(sql, cves)
        }

    def sources(self) -> list[SourceInfo]:
        rows = self._conn.execute(
            "SELECT ecosystem, url, etag, last_modified, records, withdrawn, updated_at, checked_at"
            " FROM sources ORDER BY ecosystem"
        ).fetchall()
        return [SourceInfo(*row) for row in rows]

    def meta(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT key, value FROM meta").fetchall())


class IndexBuilder:
    """Writes a new index file next to the live one; `commit` swaps it in, `abort` discards it."""

    def __init__(self, db_dir: Path) -> None:
        self.db_dir = db_dir
        self.final = db_dir / DB_FILENAME
        try:
            db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"{db_dir}: cannot create the database directory ({exc.strerror})") from None
        self.temp = db_dir / f".{DB_FILENAME}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        self.conn = sqlite3.connect(self.temp.resolve().as_uri(), isolation_level=None, uri=True)
        self.conn.executescript("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;" + SCHEMA)
        self.conn.execute("BEGIN")
        self._cctx = zstandard.ZstdCompressor(level=6)
        self._replaced: set[str] = set()
        self._kev_loaded = False
        self._epss_loaded = False
        self._meta: dict[str, str] = {"schema_version": SCHEMA_VERSION}

    def add_dump(
        self,
        ecosystem: str,
        items: Iterable[tuple[str, bytes | OsvError]],
        outcome: Outcome,
        *,
        url: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Load one dump as `ecosystem`'s data. Raises OsvError (nothing kept) if unreadable."""
        self.conn.execute("SAVEPOINT dump")
        try:
            existing = self.conn.execute(
                "SELECT records, withdrawn FROM sources WHERE ecosystem = ?", (ecosystem,)
            ).fetchone()
            live, withdrawn = existing if existing else (0, 0)
            bad = 0
            for where, data in items:
                try:
                    if isinstance(data, OsvError):
                        raise data
                    record = parse_record(data, where, outcome.warnings.append)
                except OsvError as exc:
                    bad += 1
                    if bad <= MAX_LISTED_ERRORS:
                        outcome.errors.append(str(exc))
                    continue
                cursor = self.conn.execute(
                    "INSERT OR IGNORE INTO records (source, id, modified, withdrawn, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        ecosystem,
                        record.id,
                        record.modified,
                        record.withdrawn,
                        self._cctx.compress(record.raw),
                    ),
                )
                if cursor.rowcount == 0:
                    outcome.warnings.append(f"{where}: duplicate record id {record.id}, first copy kept")
                    continue
                if record.withdrawn:
                    withdrawn += 1
                else:
                    live += 1
                rec = cursor.lastrowid
                self.conn.executemany(
                    "INSERT INTO affected (ecosystem, name, rec) VALUES (?, ?, ?)",
                    [(eco, name, rec) for eco, name in record.packages],
                )
            if bad > MAX_LISTED_ERRORS:
                outcome.errors.append(f"{ecosystem}: {bad - MAX_LISTED_ERRORS} more invalid records skipped")
            stamp = now_iso()
            self.conn.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ecosystem, url, etag, last_modified, live, withdrawn, stamp, stamp),
            )
        except BaseException:
            self.conn.execute("ROLLBACK TO dump")
            self.conn.execute("RELEASE dump")
            raise
        self.conn.execute("RELEASE dump")
        self._replaced.add(ecosystem)
        outcome.loaded[ecosystem] = live

    def add_kev(self, catalog: KevCatalog) -> None:
        self.conn.execute("DELETE FROM kev")
        self.conn.executemany(
            "INSERT OR REPLACE INTO kev VALUES (?, ?, ?, ?)",
            [(e.cve, int(e.known_ransomware), e.date_added, e.due_date) for e in catalog.entries],
        )
        self._kev_loaded = True
        self._meta.update(
            kev_version=catalog.version,
            kev_released=catalog.released,
            kev_count=str(len(catalog.entries)),
            kev_loaded_at=now_iso(),
        )

    def add_epss(self, scores: EpssFile) -> None:
        self.conn.execute("DELETE FROM epss")
        self.conn.executemany(
            "INSERT OR REPLACE INTO epss VALUES (?, ?, ?)",
            [(s.cve, s.score, s.percentile) for s in scores.scores],
        )
        self._epss_loaded = True
        self._meta.update(
            epss_model_version=scores.model_version,
            epss_score_date=scores.score_date,
            epss_count=str(len(scores.scores)),
            epss_loaded_at=now_iso(),
        )

    def _carry_over(self, touched: set[str]) -> None:
        """Copy from the live index whatever this run did not replace (ecosystems, KEV, EPSS)."""
        try:
            old = _connect_readonly(self.final)
        except DatabaseError:
            return  # no usable previous database: nothing to keep
        old.close()
        self.conn.execute("COMMIT")  # SQLite refuses ATTACH inside a transaction
        self.conn.execute("ATTACH DATABASE ? AS old", (f"{self.final.resolve().as_uri()}?mode=ro",))
        self.conn.execute("BEGIN")
        try:
            kept = [
                row[0]
                for row in self.conn.execute("SELECT ecosystem FROM old.sources")
                if row[0] not in self._replaced
            ]
            for ecosystem in kept:
                self.conn.execute(
                    "INSERT INTO records (source, id, modified, withdrawn, data)"
                    " SELECT source, id, modified, withdrawn, data FROM old.records WHERE source = ?",
                    (ecosystem,),
                )
                self.conn.execute(
                    "INSERT INTO affected (ecosystem, name, rec)"
                    " SELECT a.ecosystem, a.name, n.rowid FROM old.affected a"
                    " JOIN old.records o ON o.rowid = a.rec"
                    " JOIN main.records n ON n.source = o.source AND n.id = o.id WHERE o.source = ?",
                    (ecosystem,),
                )
                self.conn.execute(
                    "INSERT INTO sources SELECT * FROM old.sources WHERE ecosystem = ?", (ecosystem,)
                )
                if ecosystem in touched:  # confirmed current by a 304
                    self.conn.execute(
                        "UPDATE sources SET checked_at = ? WHERE ecosystem = ?", (now_iso(), ecosystem)
                    )
            old_meta = dict(self.conn.execute("SELECT key, value FROM old.meta").fetchall())
            if not self._kev_loaded:
                self.conn.execute("INSERT INTO kev SELECT * FROM old.kev")
                self._meta.update({k: v for k, v in old_meta.items() if k.startswith("kev_")})
            if not self._epss_loaded:
                self.conn.execute("INSERT INTO epss SELECT * FROM old.epss")
                self._meta.update({k: v for k, v in old_meta.items() if k.startswith("epss_")})
        finally:
            self.conn.execute("COMMIT")
            self.conn.execute("DETACH DATABASE old")
            self.conn.execute("BEGIN")

    def commit(self, confirmed: Iterable[str] = ()) -> None:
        """Finish the index and atomically make it the live database."""
        self._carry_over(set(confirmed))
        self._meta["built_at"] = now_iso()
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", self._meta.items())
        self.conn.execute(INDEXES)
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.close()
        with open(self.temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.temp, self.final)

    def abort(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self.temp.unlink(missing_ok=True)


# --- fetching -------------------------------------------------------------------------------


class DownloadError(RuntimeError):
    """A download failed; one line naming the URL."""


@dataclass(slots=True)
class Download:
    status: int  # 200, 304 or 404
    path: Path | None = None
    etag: str | None = None
    last_modified: str | None = None


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def download(client: httpx.Client, url: str, target: Path, headers: dict[str, str] | None = None) -> Download:
    """Stream `url` into `target`; 304 and 404 are answers, not errors."""
    import httpx

    try:
        with client.stream("GET", url, headers=headers or {}) as response:
            if response.status_code in (304, 404):
                return Download(status=response.status_code)
            if response.status_code != 200:
                raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
            size = 0
            with target.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DownloadError(f"{url}: larger than {MAX_DOWNLOAD_BYTES} bytes, refused")
                    handle.write(chunk)
            return Download(
                status=200,
                path=target,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DownloadError(f"{url}: download failed ({reason})") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _load_intel(
    builder: IndexBuilder,
    client: httpx.Client | None,
    kev: str | None,
    epss: str | None,
    outcome: Outcome,
) -> None:
    from yamori.vulndb.intel import IntelError, parse_epss, parse_kev

    for kind, value in (("kev", kev), ("epss", epss)):
        if not value:
            continue
        path = Path(value)
        temp: Path | None = None
        try:
            if is_url(value):
                if client is None:
                    raise DownloadError(f"{value}: URLs need 'db update', not 'db import'")
                temp = builder.db_dir / f".{kind}.{os.getpid()}.download"
                got = download(client, value, temp)
                if got.status != 200 or got.path is None:
                    raise DownloadError(f"{value}: HTTP {got.status}")
                path = got.path
            if kind == "kev":
                builder.add_kev(parse_kev(path))
            else:
                builder.add_epss(parse_epss(path, outcome.warnings.append))
        except (DownloadError, IntelError) as exc:
            outcome.errors.append(f"{kind.upper()}: {exc}; previous data kept")
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)


def _previous_sources(final: Path) -> dict[str, SourceInfo]:
    try:
        with VulnerabilityDatabase(final) as db:
            return {s.ecosystem: s for s in db.sources()}
    except DatabaseError:
        return {}


def update(
    db_dir: Path,
    *,
    source: str = DEFAULT_SOURCE,
    ecosystems: Iterable[str],
    kev: str | None = None,
    epss: str | None = None,
    timeout: float = 60.0,
    progress: Message | None = None,
) -> Outcome:
    """Refresh the index from `<source>/<ecosystem>/all.zip`, conditionally, then swap it in."""
    import httpx

    outcome = Outcome()
    previous = _previous_sources(db_dir / DB_FILENAME)
    builder = IndexBuilder(db_dir)
    confirmed: list[str] = []
    rebuilt = False
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            for ecosystem in ecosystems:
                if not is_known_ecosystem(ecosystem):
                    outcome.errors.append(f"{ecosystem}: unknown OSV ecosystem, skipped")
                    continue
                url = f"{source.rstrip('/')}/{quote(ecosystem)}/all.zip"
                headers: dict[str, str] = {}
                old = previous.get(ecosystem)
                if old is not None and old.url == url:
                    if old.etag:
                        headers["If-None-Match"] = old.etag
                    if old.last_modified:
                        headers["If-Modified-Since"] = old.last_modified
                if progress:
                    progress(f"{ecosystem}: downloading {url}")
                target = db_dir / f".{ecosystem.replace(' ', '_')}.{os.getpid()}.zip"
                try:
                    got = download(client, url, target, headers)
                except DownloadError as exc:
                    kept = "; previous data kept" if old else ""
                    outcome.errors.append(f"{ecosystem}: {exc}{kept}")
                    continue
                if got.status == 304:
                    outcome.unchanged.append(ecosystem)
                    confirmed.append(ecosystem)
                    continue
                if got.status == 404:
                    outcome.warnings.append(f"{ecosystem}: no dump at {url} (HTTP 404), skipped")
                    continue
                try:
                    rebuilt = True
                    builder.add_dump(
                        ecosystem,
                        iter_zip(target, ecosystem),
                        outcome,
                        url=url,
                        etag=got.etag,
                        last_modified=got.last_modified,
                    )
                except OsvError as exc:
                    kept = "; previous data kept" if old else ""
                    outcome.errors.append(f"{exc}{kept}")
                finally:
                    target.unlink(missing_ok=True)
            if not rebuilt and not kev and not epss and (db_dir / DB_FILENAME).is_file():
                # Nothing new arrived: rebuilding would copy the whole database to change
                # nothing. Record the check in place (one atomic UPDATE) instead.
                builder.abort()
                _mark_checked(db_dir / DB_FILENAME, confirmed)
                return outcome
            _load_intel(builder, client, kev, epss, outcome)
        builder.commit(confirmed)
    except BaseException:
        builder.abort()
        raise
    return outcome


def _mark_checked(final: Path, ecosystems: list[str]) -> None:
    """Move `checked_at` forward for ecosystems the server confirmed unchanged (HTTP 304)."""
    if not ecosystems:
        return
    conn = sqlite3.connect(final)
    try:
        with conn:
            conn.executemany(
                "UPDATE sources SET checked_at = ? WHERE ecosystem = ?",
                [(now_iso(), ecosystem) for ecosystem in ecosystems],
            )
    finally:
        conn.close()


def import_paths(
    db_dir: Path, paths: Iterable[Path], *, kev: str | None = None, epss: str | None = None
) -> Outcome:
    """The air-gapped twin of `update`: local `all.zip` files or directories of OSV JSON."""
    outcome = Outcome()
    builder = IndexBuilder(db_dir)
    try:
        for path in paths:
            if not path.exists():
                outcome.errors.append(f"{path}: no such file or directory")
                continue
            label = source_label(path) or f"local:{path.resolve()}"
            try:
                builder.add_dump(label, iter_dump(path, str(path)), outcome, url=path.resolve().as_uri())
            except OsvError as exc:
                outcome.errors.append(str(exc))
        _load_intel(builder, None, kev, epss, outcome)
        builder.commit()
    except BaseException:
        builder.abort()
        raise
    return outcome
