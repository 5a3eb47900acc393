"""Terraform loading internals that keep scans fast without changing results: long-lived
tfparse workers (crash and timeout isolation per module) and staging only what a module uses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from yamori.model.resource import UNKNOWN
from yamori.sources.iac import IacOptions, adapter, scan
from yamori.sources.iac import terraform as tf

TF = adapter("terraform")
PANIC = (
    'resource "aws_s3_bucket" "a" {\n  bucket = "a"\n'
    '  dynamic "grant" {\n    for_each = 5\n    content {\n      id = grant.value\n    }\n  }\n}\n'
)
EVALUATED = 'resource "aws_kms_key" "k" {\n  description = upper("x")\n  enable_key_rotation = true\n}\n'


def _module(path: Path, text: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.tf").write_text(text)
    return path


def test_worker_is_reused_and_replaced_after_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tf._TfparseWorker] = []
    original = tf._TfparseWorker.__init__

    def counting(self: tf._TfparseWorker) -> None:
        original(self)
        started.append(self)

    monkeypatch.setattr(tf._TfparseWorker, "__init__", counting)
    TF.close()
    good = _module(tmp_path / "good", EVALUATED)
    crash = _module(tmp_path / "crash", PANIC)
    for _ in range(2):
        key = TF.load(good).resources[0]
        assert key.attributes["Description"] == "X"  # evaluated by tfparse, not the fallback
    assert len(started) == 1  # one worker served both modules
    crashed = TF.load(crash)
    assert [r.id for r in crashed.resources] == ["aws_s3_bucket.a"]  # python-hcl2 fallback
    assert len(crashed.errors) == 1 and "python-hcl2" in str(crashed.errors[0])
    assert TF.load(good).resources[0].attributes["Description"] == "X"
    assert len(started) == 2  # the crashed worker was replaced
    TF.close()
    assert all(w.process.returncode is not None for w in started)


def test_timeout_falls_back_and_next_module_still_evaluates(tmp_path: Path) -> None:
    good = _module(tmp_path / "good", EVALUATED)
    slow = TF.load(good, IacOptions(tfparse_timeout=0.0))
    assert any("did not finish" in str(e) for e in slow.errors)
    assert slow.resources[0].attributes["Description"] is UNKNOWN
    assert TF.load(good).resources[0].attributes["Description"] == "X"
    TF.close()


def test_local_modules_are_staged_transitively_hcl_and_json(tmp_path: Path) -> None:
    _module(tmp_path / "live", 'module "app" { source = "../modules/app" }\n')
    _module(tmp_path / "modules" / "app", 'module "db" {\n  source = "../db"\n}\n')
    db = tmp_path / "modules" / "db"
    db.mkdir(parents=True)
    (db / "main.tf.json").write_text(json.dumps({"module": {"kms": {"source": "./kms"}}}))
    _module(db / "kms", EVALUATED)
    result = scan(tmp_path)
    assert result.errors == []
    key = next(r for r in result.resources if r.kind == "aws.kms.key")
    assert key.id.endswith("module.app.module.db.module.kms.aws_kms_key.k")
    assert key.attributes["Description"] == "X"
    # tfparse names files relative to the root module ("live/../modules/..."), as before
    assert os.path.normpath(key.location) == os.path.normpath("modules/db/kms/main.tf:1")


def test_unrelated_escaping_symlink_does_not_taint_other_modules(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _module(outside, 'resource "aws_s3_bucket" "secret" {\n  bucket = "secret"\n}\n')
    repo = tmp_path / "repo"
    _module(repo / "a", EVALUATED)
    (repo / "b").mkdir()
    os.symlink(outside / "main.tf", repo / "b" / "main.tf")
    a = TF.load(repo / "a", root=repo)
    assert a.errors == []
    assert a.resources[0].attributes["Description"] == "X"
    b = TF.load(repo / "b", root=repo)
    assert b.resources == [] and any(e.file == "b/main.tf" and "outside" in e.message for e in b.errors)
    TF.close()
