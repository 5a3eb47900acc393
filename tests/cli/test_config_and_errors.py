"""The CLI's config file, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from yamori.cli.main import app

OS_RELEASE = 'ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(OS_RELEASE)
    return root


def test_config_file_sets_defaults_and_flags_win(
    rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("format: json\nrootfs:\n  quiet: true\n")
    monkeypatch.setenv("YAMORI_CONFIG", str(config))
    runner = CliRunner()
    result = runner.invoke(app, ["rootfs", str(rootfs)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["os"]["family"] == "alpine"
    result = runner.invoke(app, ["rootfs", str(rootfs), "--format", "table"])
    assert result.exit_code == 0
    assert "Alpine Linux v3.20" in result.stdout


def test_bad_config_is_a_one_line_error(
    rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("rootfs: [1, 2]\n")
    monkeypatch.setenv("YAMORI_CONFIG", str(config))
    result = CliRunner().invoke(app, ["rootfs", str(rootfs)])
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"yamori: error: {config}: 'rootfs' must be a mapping of option names to values"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rootfs", "/nonexistent/dir"], "yamori: error: /nonexistent/dir: not a directory"),
        (["sbom", "oci:/nonexistent/layout"], "yamori: error: oci:/nonexistent/layout"),
        (["rootfs", ".", "--format", "xml"], "yamori: error: unknown format 'xml'"),
    ],
)
def test_input_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output
