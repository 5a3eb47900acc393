"""`yamori db update | import | status` against OSV dumps served over HTTP on loopback.

The real dumps in ../shared/corpora/osv (PyPI from pypa/advisory-database @ 3ccb6125 and Go from
golang/vulndb @ a752ea54, both CC-BY-4.0) and the real KEV (cisagov/kev-data, CC0-1.0) and EPSS
(FIRST.org via EMBA-support-repos/EPSS-data) files are used when present; the small fixture in
tests/fixtures/ keeps the default suite meaningful without them.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from _osv_server import CORPORA, FIXTURES, DroppingHandler, EtagHandler, serve
from click.testing import CliRunner

from yamori.cli.main import app
from yamori.vulndb.store import DB_FILENAME, VulnerabilityDatabase

real_corpora = pytest.mark.skipif(
    not (CORPORA / "osv" / "PyPI" / "all.zip").is_file(),
    reason="../shared/corpora absent (fresh clone): real OSV/KEV/EPSS data not available",
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """The fixture records laid out as the OSV bucket: <Ecosystem>/all.zip."""
    root = tmp_path / "bucket"
    for ecosystem in ("PyPI", "Go"):
        (root / ecosystem).mkdir(parents=True)
        with zipfile.ZipFile(root / ecosystem / "all.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for file in sorted((FIXTURES / "osv" / ecosystem).glob("*.json")):
                z.write(file, file.name)
    return root


def live_count(archive: Path) -> int:
    with zipfile.ZipFile(archive) as z:
        return sum(1 for m in z.namelist() if not json.loads(z.read(m)).get("withdrawn"))


def test_update_from_fixture_bucket(tmp_path: Path, bucket: Path) -> None:
    db = tmp_path / "db"
    with serve(bucket) as (url, _seen):
        code, out, err = run(
            "db", "update", "--source", url, "--ecosystem", "PyPI", "--ecosystem", "Go",
            "--ecosystem", "npm", "--db-dir", str(db),
        )  # fmt: skip
    assert code == 0, err
    assert "PyPI: 2 records" in out and "Go: 1 records" in out
    assert "warning: npm: no dump" in err and "404" in err
    with VulnerabilityDatabase.open(db) as vdb:
        assert [r["id"] for r in vdb.records("PyPI", "requests")] == ["PYSEC-2018-28"]


def test_unknown_ecosystem_is_one_line_and_others_load(tmp_path: Path, bucket: Path) -> None:
    db = tmp_path / "db"
    with serve(bucket) as (url, _seen):
        code, out, err = run(
            "db", "update", "--source", url, "--ecosystem", "Pypi", "--ecosystem", "Go", "--db-dir", str(db)
        )
    assert code == 2
    assert err.count("error:") == 1 and "Pypi: unknown OSV ecosystem" in err
    assert "Go: 1 records" in out


def test_db_dir_from_environment_and_status(tmp_path: Path, bucket: Path) -> None:
    db = tmp_path / "envdb"
    env = {"YAMORI_DB_DIR": str(db)}
    with serve(bucket) as (url, _seen):
        result = CliRunner(env=env).invoke(app, ["db", "update", "--source", url, "--ecosystem", "Go"])
    assert result.exit_code == 0, result.stderr
    assert (db / DB_FILENAME).is_file()
    result = CliRunner(env=env).invoke(app, ["db", "status"])
    assert result.exit_code == 0
    assert "Go" in result.stdout and "KEV: not loaded" in result.stdout
    assert "warning" not in result.stderr


def test_status_warns_when_old_and_config_sets_max_age(tmp_path: Path, bucket: Path) -> None:
    db = tmp_path / "db"
    code, _out, _err = run("db", "import", str(bucket / "Go" / "all.zip"), "--db-dir", str(db))
    assert code == 0
    time.sleep(1.1)
    code, out, err = run("db", "status", "--db-dir", str(db), "--max-age", "1s")
    assert code == 0
    assert "older than 1s: Go" in err and "Go" in out
    config = tmp_path / "config.yaml"
    config.write_text("db:\n  status:\n    max-age: 1s\n")
    result = CliRunner(env={"YAMORI_CONFIG": str(config)}).invoke(app, ["db", "status", "--db-dir", str(db)])
    assert result.exit_code == 0 and "older than 1s" in result.stderr
    config.write_text("max-age: 30d\n")
    result = CliRunner(env={"YAMORI_CONFIG": str(config)}).invoke(app, ["db", "status", "--db-dir", str(db)])
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_status_without_database(tmp_path: Path) -> None:
    code, _out, err = run("db", "status", "--db-dir", str(tmp_path))
    assert code == 2 and err.strip().count("\n") == 0 and "run 'yamori db update'" in err


def test_import_directory_with_intel(tmp_path: Path) -> None:
    db = tmp_path / "db"
    code, out, err = run(
        "db", "import", str(FIXTURES / "osv" / "PyPI"), str(tmp_path / "missing"),
        "--kev", str(FIXTURES / "threat-intel" / "kev.json"),
        "--epss", str(FIXTURES / "threat-intel" / "epss.csv"), "--db-dir", str(db),
    )  # fmt: skip
    assert code == 2 and "missing: no such file or directory" in err
    assert "PyPI: 2 records" in out
    code, out, _err = run("db", "status", "--db-dir", str(db))
    assert "KEV: 3 entries, catalog 2025.08.25" in out and "EPSS: 5 scores" in out


def test_bad_kev_file_is_one_line_and_keeps_previous(tmp_path: Path) -> None:
    db = tmp_path / "db"
    run("db", "import", "--kev", str(FIXTURES / "threat-intel" / "kev.json"), "--db-dir", str(db))
    bad = tmp_path / "kev.json"
    bad.write_text('{"vulnerabilities": ')
    code, _out, err = run("db", "import", "--kev", str(bad), "--db-dir", str(db))
    assert code == 2 and "KEV:" in err and "not valid JSON" in err and "previous data kept" in err
    with VulnerabilityDatabase.open(db) as vdb:
        assert vdb.kev(["CVE-2025-49704"])


@real_corpora
def test_update_from_real_osv_dumps(tmp_path: Path) -> None:
    db = tmp_path / "db"
    intel = CORPORA / "threat-intel"
    with serve(CORPORA / "osv") as (url, _seen):
        code, out, err = run(
            "db", "update", "--source", url, "--ecosystem", "PyPI", "--ecosystem", "Go", "--db-dir", str(db),
            "--kev", str(intel / "known_exploited_vulnerabilities.json"),
            "--epss", str(intel / "epss_scores-2026-08-16.csv.gz"),
        )  # fmt: skip
    assert code == 0, err
    pypi, go = live_count(CORPORA / "osv/PyPI/all.zip"), live_count(CORPORA / "osv/Go/all.zip")
    assert f"PyPI: {pypi} records" in out and f"Go: {go} records" in out
    with VulnerabilityDatabase.open(db) as vdb:
        assert {s.ecosystem: s.records for s in vdb.sources()} == {"PyPI": pypi, "Go": go}
        requests = {r["id"] for r in vdb.records("PyPI", "requests")}
        assert {"PYSEC-2014-13", "PYSEC-2018-28", "PYSEC-2023-74"} <= requests
        assert "PYSEC-2019-132" in {r["id"] for r in vdb.records("PyPI", "urllib3")}
        stdlib = {r["id"] for r in vdb.records("Go", "stdlib")}
        assert len(stdlib) > 100
        assert vdb.records("Go", "k8s.io/kubernetes") is not None
        assert "GO-2022-0617" not in {r["id"] for r in vdb.records("Go", "k8s.io/kubernetes")}  # withdrawn
        log4shell = vdb.kev(["CVE-2021-44228"])["CVE-2021-44228"]
        assert log4shell.known_ransomware and log4shell.date_added == "2021-12-10"
        assert vdb.meta()["kev_count"] == "1404" and vdb.meta()["epss_count"] == "360142"
        assert vdb.epss(["CVE-2021-44228"])["CVE-2021-44228"].score > 0.9


@real_corpora
def test_etag_not_modified_keeps_database(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with serve(CORPORA / "osv", EtagHandler) as (url, seen):
        assert run("db", "update", "--source", url, "--ecosystem", "PyPI", "--db-dir", str(db))[0] == 0
        first = os.stat(db / DB_FILENAME).st_ino
        with VulnerabilityDatabase.open(db) as vdb:
            checked_before = vdb.sources()[0].checked_at
        time.sleep(1.1)  # checked_at has one-second resolution
        code, out, err = run("db", "update", "--source", url, "--ecosystem", "PyPI", "--db-dir", str(db))
    assert code == 0, err
    assert "PyPI: unchanged" in out
    assert seen[1][1].get("If-None-Match", "").startswith('"')
    assert os.stat(db / DB_FILENAME).st_ino == first  # not rebuilt: nothing new arrived
    with VulnerabilityDatabase.open(db) as vdb:
        assert vdb.sources()[0].checked_at > checked_before  # but the check is recorded
    with VulnerabilityDatabase.open(db) as vdb:
        assert vdb.sources()[0].records == live_count(CORPORA / "osv/PyPI/all.zip")
        assert vdb.sources()[0].etag == seen[1][1]["If-None-Match"]


@real_corpora
def test_dropped_connection_leaves_old_database(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with serve(CORPORA / "osv") as (url, _seen):
        assert run("db", "update", "--source", url, "--ecosystem", "PyPI", "--db-dir", str(db))[0] == 0
    with serve(CORPORA / "osv", DroppingHandler) as (url, _seen):
        code, _out, err = run(
            "db", "update", "--source", url, "--ecosystem", "PyPI", "--ecosystem", "Go", "--db-dir", str(db)
        )
    assert code == 2
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 2, err
    assert any(
        "PyPI" in line and "download failed" in line and "previous data kept" in line for line in lines
    )
    assert [p.name for p in db.iterdir()] == [DB_FILENAME]  # no partial downloads left behind
    with VulnerabilityDatabase.open(db) as vdb:
        assert "PYSEC-2018-28" in {r["id"] for r in vdb.records("PyPI", "requests")}
        assert [s.ecosystem for s in vdb.sources()] == ["PyPI"]
