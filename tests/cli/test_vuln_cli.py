"""The scanning commands report vulnerabilities from the database, gate CI and honour ignores.

The database is built with `yamori db import` from the real OSV records shipped in
tests/fixtures/osv (PYSEC-2018-28 on requests < 2.20.0, PYSEC-2019-132 on urllib3 < 1.24.3).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from yamori.cli.main import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SARIF_SCHEMA = FIXTURES / "sarif" / "sarif-schema-2.1.0.json"


def _dist_info(root: Path, name: str, version: str) -> None:
    info = root / "usr/lib/python3/dist-packages" / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    db_dir = tmp_path / "db"
    result = CliRunner().invoke(
        app, ["db", "import", "--db-dir", str(db_dir), str(FIXTURES / "osv" / "PyPI"), "-q"]
    )
    assert result.exit_code == 0, result.output
    return db_dir


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    _dist_info(root, "requests", "2.19.0")
    _dist_info(root, "urllib3", "1.24.1")
    _dist_info(root, "six", "1.16.0")
    return root


def _scan(rootfs: Path, database: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["rootfs", str(rootfs), "--db-dir", str(database), "-q", *args])
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_the_real_advisories(rootfs: Path, database: Path) -> None:
    code, out, _ = _scan(rootfs, database, "-f", "json")
    assert code == 0
    found = {(f["rule_id"], f["vulnerability"]["package_name"]) for f in json.loads(out)["findings"]}
    assert ("PYSEC-2018-28", "requests") in found
    assert ("PYSEC-2019-132", "urllib3") in found
    assert not any(name == "six" for _, name in found)
    fixed = {f["rule_id"]: f["vulnerability"]["fixed_versions"] for f in json.loads(out)["findings"]}
    assert fixed["PYSEC-2018-28"] == ["2.20.0"]


def test_fail_on_gates_with_exit_1_and_ignore_file_waives(
    rootfs: Path, database: Path, tmp_path: Path
) -> None:
    code, out, _ = _scan(rootfs, database, "--fail-on", "UNKNOWN", "-f", "json")
    assert code == 1
    ignore = tmp_path / "ignore.yaml"
    ids = sorted({f["rule_id"] for f in json.loads(out)["findings"]})
    ignore.write_text(
        "\n".join(f"- id: {i}\n  reason: accepted for the test\n  expires: 2999-01-01" for i in ids) + "\n"
    )
    code, out, _ = _scan(rootfs, database, "--fail-on", "UNKNOWN", "--ignorefile", str(ignore), "-f", "json")
    assert code == 0
    statuses = {f["status"] for f in json.loads(out)["findings"]}
    assert statuses == {"SUPPRESSED"}


def test_sarif_output_validates(rootfs: Path, database: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    code, out, _ = _scan(rootfs, database, "-f", "sarif")
    assert code == 0
    log = json.loads(out)
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text()))
    rules = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"PYSEC-2018-28", "PYSEC-2019-132"} <= rules


def test_missing_database_is_a_note_but_a_gate_fails(rootfs: Path, tmp_path: Path) -> None:
    code, out, err = _scan(rootfs, tmp_path / "nothing-here", "-f", "json")
    assert code == 0
    assert json.loads(out)["findings"] == []
    assert "no vulnerability database" in err and "yamori db update" in err
    code, _, err = _scan(rootfs, tmp_path / "nothing-here", "-f", "json", "--fail-on", "LOW")
    assert code == 2
    assert err.strip().startswith("yamori: error: --fail-on needs a vulnerability database")


def test_unknown_severity_is_a_usage_error(rootfs: Path, database: Path) -> None:
    code, _, err = _scan(rootfs, database, "--severity", "SEVERE")
    assert code == 2
    assert (
        err.strip()
        == "yamori: error: unknown severity 'SEVERE'; choose from UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    )
