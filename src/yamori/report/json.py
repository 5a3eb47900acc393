"""yamori's own JSON report: the model as it is, for scripts and for `yamori` to read back."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TextIO

import orjson

from yamori import __version__
from yamori.model import ScanResult
from yamori.report.interface import ReportWriter
from yamori.report.registry import register

SCHEMA_VERSION = 1


def result_to_dict(result: ScanResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "yamori", "version": __version__},
        "artifact": asdict(result.artifact),
        "os": result.os.to_dict() if result.os else None,
        "packages": [p.to_dict() for p in result.packages],
        "findings": [{"id": f.id, **asdict(f)} for f in result.findings],
        "errors": result.errors,
        "warnings": result.warnings,
    }


@register
class JSONWriter(ReportWriter):
    name = "json"
    description = "yamori JSON (artifact, OS, packages with layers and files, errors)"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(orjson.dumps(result_to_dict(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
