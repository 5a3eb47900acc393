"""CSV of posture findings: one row per finding, every status, for spreadsheets and tickets.

Fields that hold several values (controls, references) are joined with ``;`` so each finding stays
one row. Cells starting with ``=``, ``+``, ``-`` or ``@`` are prefixed with ``'`` — resource names
and tags come from the scanned account, and a spreadsheet would run them as formulas.
"""

from __future__ import annotations

import csv as _csv
from typing import Final, TextIO

from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.interface import PostureWriter
from yamori.report.postureview import finding_message, resource_kind, sorted_findings
from yamori.report.registry import register_posture

COLUMNS: Final = (
    "finding_id",
    "status",
    "severity",
    "policy_id",
    "title",
    "account",
    "region",
    "resource_kind",
    "resource",
    "compliance",
    "message",
    "remediation",
)


def _safe(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@register_posture
class PostureCSVWriter(PostureWriter):
    name = "csv"
    description = "CSV, one row per finding (header row first)"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        rows = _csv.writer(out, lineterminator="\n")
        rows.writerow(COLUMNS)
        for f in sorted_findings(result.findings):
            rows.writerow(
                [
                    _safe(cell)
                    for cell in (
                        f.id,
                        str(f.status),
                        str(f.severity),
                        f.rule_id,
                        f.title,
                        f.account,
                        f.region,
                        resource_kind(result, f),
                        f.resource,
                        ";".join(f.compliance),
                        finding_message(f),
                        f.remediation,
                    )
                ]
            )
