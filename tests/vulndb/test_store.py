"""The SQLite index: ingestion, lookup, carry-over, atomic swap and bad input.

Uses the small fixture under tests/fixtures/osv/ (real records, CC-BY-4.0, see its README) so it
runs without ../shared; the real PyPI dump is used for the speed check when present.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from _osv_server import CORPORA, FIXTURES

from yamori.vulndb import store
from yamori.vulndb.interface import normalize_name
from yamori.vulndb.store import DatabaseError, VulnerabilityDatabase, import_paths


def make_zip(source: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    """An OSV-style all.zip from a directory of JSON files (plus raw extra members)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(source.glob("*.json")):
            archive.write(file, file.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def ids(records: list[dict[str, object]]) -> set[str]:
    return {str(r["id"]) for r in records}


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "vulndb"
    outcome = import_paths(
        directory,
        [FIXTURES / "osv" / "PyPI", make_zip(FIXTURES / "osv" / "Go", tmp_path / "Go" / "all.zip")],
        kev=str(FIXTURES / "threat-intel" / "kev.json"),
        epss=str(FIXTURES / "threat-intel" / "epss.csv"),
    )
    assert outcome.errors == []
    assert outcome.loaded == {"PyPI": 2, "Go": 1}  # one withdrawn record in each
    return directory


def test_lookup_by_normalised_name(db_dir: Path) -> None:
    with VulnerabilityDatabase.open(db_dir) as db:
        assert ids(db.records("PyPI", normalize_name("PyPI", "Requests"))) == {"PYSEC-2018-28"}
        assert ids(db.records("PyPI", "urllib3")) == {"PYSEC-2019-132"}
        assert ids(db.records("Go", "github.com/gin-gonic/gin")) == {"GO-2020-0001"}
        assert db.records("Go", "GitHub.com/gin-gonic/gin") == []  # Go keeps case
        assert db.records("PyPI", "ansible") == []  # withdrawn
        assert db.records("npm", "requests") == []
        record = db.records("PyPI", "requests")[0]
        assert "CVE-2018-18074" in record["aliases"]
        assert db.ecosystems() == ["Go", "PyPI"]


def test_kev_and_epss(db_dir: Path) -> None:
    with VulnerabilityDatabase.open(db_dir) as db:
        kev = db.kev(["CVE-2025-49704", "CVE-2025-48384", "CVE-2018-18074"])
        assert set(kev) == {"CVE-2025-49704", "CVE-2025-48384"}
        assert kev["CVE-2025-49704"].known_ransomware
        assert not kev["CVE-2025-48384"].known_ransomware
        assert kev["CVE-2025-49704"].date_added == "2025-07-22"
        epss = db.epss(["CVE-2018-18074", "CVE-0000-0000"])
        assert set(epss) == {"CVE-2018-18074"}
        assert epss["CVE-2018-18074"].score == pytest.approx(0.07443)
        assert epss["CVE-2018-18074"].percentile == pytest.approx(0.93918)
        meta = db.meta()
        assert meta["epss_score_date"].startswith("2026-08-16")
        assert meta["kev_version"] == "2025.08.25"


def test_epss_gzip_is_detected_by_content(tmp_path: Path, db_dir: Path) -> None:
    gz = tmp_path / "scores.csv"  # no .gz suffix on purpose
    gz.write_bytes(gzip.compress((FIXTURES / "threat-intel" / "epss.csv").read_bytes()))
    assert import_paths(db_dir, [], epss=str(gz)).errors == []
    with VulnerabilityDatabase.open(db_dir) as db:
        assert db.meta()["epss_count"] == "5"
        assert db.records("PyPI", "requests")  # OSV data carried over


def test_other_ecosystems_are_carried_over(tmp_path: Path, db_dir: Path) -> None:
    only_request = tmp_path / "PyPI"
    only_request.mkdir()
    shutil.copy(FIXTURES / "osv" / "PyPI" / "PYSEC-2018-28.json", only_request)
    outcome = import_paths(db_dir, [only_request])
    assert outcome.loaded == {"PyPI": 1}
    with VulnerabilityDatabase.open(db_dir) as db:
        assert db.records("PyPI", "urllib3") == []  # PyPI replaced as a whole
        assert ids(db.records("Go", "github.com/gin-gonic/gin")) == {"GO-2020-0001"}
        assert db.kev(["CVE-2025-49704"])  # intel kept too
        assert {s.ecosystem: s.records for s in db.sources()} == {"Go": 1, "PyPI": 1}


def test_bad_records_are_reported_and_the_rest_loaded(tmp_path: Path, db_dir: Path) -> None:
    good = json.loads((FIXTURES / "osv" / "PyPI" / "PYSEC-2019-132.json").read_text())
    unknown = dict(good, id="X-1", affected=[{"package": {"ecosystem": "Nope", "name": "x"}}])
    archive = make_zip(
        FIXTURES / "osv" / "PyPI",
        tmp_path / "PyPI" / "all.zip",
        {
            "no-id.json": json.dumps({"modified": "2024-01-01T00:00:00Z"}).encode(),
            "bad-affected.json": json.dumps(dict(good, id="X-2", affected={"a": 1})).encode(),
            "broken.json": b'{"id": "X-3", ',
            "unknown.json": json.dumps(unknown).encode(),
            "../../etc/evil.json": json.dumps(dict(good, id="X-4")).encode(),
        },
    )
    outcome = import_paths(db_dir, [archive])
    assert len(outcome.errors) == 3
    assert all("\n" not in e for e in outcome.errors + outcome.warnings)
    assert any("no-id.json" in e and "no 'id'" in e for e in outcome.errors)
    assert any("X-2" in e and "'affected' must be a list" in e for e in outcome.errors)
    assert any("broken.json" in e and "not valid JSON" in e for e in outcome.errors)
    assert any("unknown ecosystem 'Nope'" in w for w in outcome.warnings)
    assert outcome.loaded == {"PyPI": 4}  # 2 fixture + X-1 (indexed nowhere) + X-4
    assert not (tmp_path / "etc").exists()  # members are never extracted
    with VulnerabilityDatabase.open(db_dir) as db:
        assert ids(db.records("PyPI", "urllib3")) == {"PYSEC-2019-132", "X-4"}


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_zip_keeps_previous_data(tmp_path: Path, db_dir: Path, damage: str) -> None:
    archive = make_zip(FIXTURES / "osv" / "PyPI", tmp_path / "src" / "all.zip")
    bad = tmp_path / "PyPI" / "all.zip"
    bad.parent.mkdir()
    data = archive.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PK\x03\x04" + b"\0" * 100)
    outcome = import_paths(db_dir, [bad])
    assert len(outcome.errors) == 1 and "not a readable zip archive" in outcome.errors[0]
    with VulnerabilityDatabase.open(db_dir) as db:
        assert ids(db.records("PyPI", "requests")) == {"PYSEC-2018-28"}


def test_damaged_member_costs_only_that_member(tmp_path: Path) -> None:
    archive = make_zip(FIXTURES / "osv" / "PyPI", tmp_path / "PyPI" / "all.zip")
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("PYSEC-2018-28.json")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(archive.read_bytes())
    data[start + 5] ^= 0xFF  # corrupt the compressed bytes: CRC or inflate error
    archive.write_bytes(bytes(data))
    outcome = import_paths(tmp_path / "db", [archive])
    assert len(outcome.errors) == 1 and "PYSEC-2018-28.json" in outcome.errors[0]
    assert outcome.loaded == {"PyPI": 1}


def test_interrupted_build_leaves_old_database(
    tmp_path: Path, db_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (db_dir / store.DB_FILENAME).read_bytes()

    def explode(self: store.IndexBuilder, confirmed: object = ()) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(store.IndexBuilder, "commit", explode)
    with pytest.raises(KeyboardInterrupt):
        import_paths(db_dir, [FIXTURES / "osv" / "Go"])
    assert (db_dir / store.DB_FILENAME).read_bytes() == before
    assert [p.name for p in db_dir.iterdir()] == [store.DB_FILENAME]  # temp file removed
    with VulnerabilityDatabase.open(db_dir) as db:
        assert db.records("PyPI", "requests")


def test_missing_or_foreign_database_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="run 'yamori db update'"):
        VulnerabilityDatabase.open(tmp_path)
    (tmp_path / store.DB_FILENAME).write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="not a yamori vulnerability database"):
        VulnerabilityDatabase.open(tmp_path)


def test_database_is_read_only_for_matching(db_dir: Path) -> None:
    import sqlite3

    with VulnerabilityDatabase.open(db_dir) as db, pytest.raises(sqlite3.OperationalError):
        db._conn.execute("DELETE FROM records")


@pytest.mark.skipif(not (CORPORA / "osv").is_dir(), reason="../shared/corpora/osv absent (fresh clone)")
def test_thousand_lookups_use_the_index(tmp_path: Path) -> None:
    """Real PyPI dump (pypa/advisory-database, CC-BY-4.0): 1,000 package lookups, half absent.

    Speed is the benchmark's business; here we check the answers and that the lookup query is
    served by an index rather than a table scan (what keeps 1,000 lookups well under a second).
    """
    archive = CORPORA / "osv" / "PyPI" / "all.zip"
    import_paths(tmp_path, [archive])
    with zipfile.ZipFile(archive) as z:
        names = sorted(
            {
                normalize_name("PyPI", a["package"]["name"])
                for m in z.namelist()[:1500]
                for a in json.loads(z.read(m)).get("affected", [])
            }
        )
    queries = (names * 2)[:500] + [f"absent-{i}" for i in range(500)]
    with VulnerabilityDatabase.open(tmp_path) as db:
        found = [len(db.records("PyPI", name)) for name in queries]
        plan = db._conn.execute(
            "EXPLAIN QUERY PLAN SELECT r.id FROM affected a JOIN records r ON r.rowid = a.rec"
            " WHERE a.ecosystem = ? AND a.name = ?",
            ("PyPI", "requests"),
        ).fetchall()
    assert sum(found[:500]) > 500  # (a few names only have withdrawn records)
    assert not any(found[500:])
    detail = " ".join(str(row[-1]) for row in plan)
    assert "USING" in detail and "INDEX" in detail and "SCAN a" not in detail, detail
