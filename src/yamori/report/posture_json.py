"""yamori's JSON for posture scans: snapshot metadata, summary and every finding, PASS included.

Machine readers get everything (``--show-pass`` only affects the table): a dashboard computes its
own views, and a finding that passes is evidence for an auditor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import orjson

from yamori import __version__
from yamori.posture.result import PostureResult, ReportOptions, finding_to_json
from yamori.report.interface import PostureWriter
from yamori.report.registry import register_posture

if TYPE_CHECKING:
    from yamori.policy.summary import FrameworkSummary

SCHEMA_VERSION = 1


def summary_to_json(result: PostureResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"findings": len(result.findings), "by_status": result.status_counts()}
    summary = result.summary()
    if summary is not None and result.framework is not None:
        titles = {c.id: c for c in result.framework.controls}
        doc["framework"] = {
            "id": summary.framework,
            "score": summary.score,
            "coverage": summary.coverage,
            "passed": summary.passed,
            "failed": summary.failed,
            "error": summary.error,
            "unknown": summary.unknown,
            "manual": summary.manual,
            "not_applicable": summary.not_applicable,
            "suppressed": summary.suppressed,
            "controls": [
                {
                    "id": c.control,
                    "title": titles[c.control].title if c.control in titles else "",
                    "status": str(c.status),
                    "counts": c.counts,
                    "policies": c.policies,
                }
                for c in summary.controls
            ],
            "unchecked_controls": [c.id for c in result.framework.controls if not _checked(summary, c.id)],
        }
    return doc


def _checked(summary: FrameworkSummary, control: str) -> bool:
    return any(c.control == control for c in summary.controls)


def result_to_json(result: PostureResult) -> dict[str, Any]:
    framework = result.framework
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "yamori", "version": __version__},
        "scan": result.snapshot_metadata(),
        "framework": (
            {"id": framework.id, "title": framework.title, "version": framework.version}
            if framework
            else None
        ),
        "summary": summary_to_json(result),
        "findings": [finding_to_json(f) for f in result.findings],
        "warnings": result.warnings,
    }


@register_posture
class PostureJSONWriter(PostureWriter):
    name = "json"
    description = "yamori JSON: scan metadata, framework summary and score, every finding"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        out.write(orjson.dumps(result_to_json(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
