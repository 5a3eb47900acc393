"""Baselines: adopt a scanner on an existing code base without fixing everything first.

``--create-baseline FILE`` records today's FAIL findings; ``--baseline FILE`` then fails the gate
only on FAILs not in it. Entries are keyed by policy id and resource *address* (Terraform address,
CloudFormation logical id, Kubernetes kind/namespace/name, each qualified by its module directory
or file relative to the scanned root) — never by line: adding a line above a resource, or
reformatting the file, must not turn an accepted finding into a new one. Moving a resource to
another module or template, or renaming it, does make it new: it is a different address.

A baselined finding keeps what it was in the engine's suppression representation
(``Status.SUPPRESSED``, ``evidence["suppression"]`` with ``baselined: true``), so writers and the
gate treat it as accepted; ``evidence["baseline"]`` says ``new`` or ``unchanged`` on every FAIL,
which SARIF carries as ``baselineState``.

File format (JSON, sorted, diff-friendly)::

    {"version": 1, "tool": "yamori", "created": "2026-01-01T00:00:00Z",
     "findings": [{"policy": "aws-s3-...", "resource": "infra#aws_s3_bucket.logs",
                   "location": "infra/main.tf:3"}]}

``location`` is informational (for the person reading the file); matching ignores it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from yamori.model.finding import Finding, Status

__all__ = [
    "BASELINE_VERSION",
    "Baseline",
    "BaselineError",
    "apply_baseline",
    "load_baseline",
    "write_baseline",
]

BASELINE_VERSION: Final = 1

Key = tuple[str, str]


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line."""


@dataclass(slots=True)
class Baseline:
    keys: set[Key] = field(default_factory=set)
    source: str = ""


def _location(finding: Finding) -> str:
    location = finding.evidence.get("location")
    return location if isinstance(location, str) else ""


def write_baseline(path: Path, findings: list[Finding]) -> int:
    """Write the FAIL findings as a baseline (atomically); return how many entries."""
    entries = sorted(
        {
            (f.rule_id, f.resource): {"policy": f.rule_id, "resource": f.resource, "location": _location(f)}
            for f in findings
            if f.status is Status.FAIL
        }.values(),
        key=lambda e: (e["policy"], e["resource"]),
    )
    doc: dict[str, Any] = {
        "version": BASELINE_VERSION,
        "tool": "yamori",
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "findings": entries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return len(entries)


def load_baseline(path: Path) -> Baseline:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not a baseline (invalid JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"{path}: not a yamori baseline version {BASELINE_VERSION} (create one with --create-baseline)"
        )
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: 'findings' must be a list")
    keys: set[Key] = set()
    for i, entry in enumerate(entries):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("policy"), str)
            and isinstance(entry.get("resource"), str)
        ):
            raise BaselineError(f"{path}: findings[{i}] needs string 'policy' and 'resource'")
        keys.add((entry["policy"], entry["resource"]))
    return Baseline(keys, str(path))


def apply_baseline(findings: list[Finding], baseline: Baseline) -> tuple[int, int]:
    """Mark FAILs in the baseline as accepted and the others as new.

    Returns (baselined, fixed): how many FAILs the baseline accepted, and how many baseline
    entries no longer fail (fixed or removed — time to regenerate the baseline).
    """
    seen: set[Key] = set()
    baselined = 0
    for finding in findings:
        key = (finding.rule_id, finding.resource)
        if (
            finding.status is Status.SUPPRESSED
            and finding.evidence.get("suppression", {}).get("status") == "FAIL"
        ):
            # Still failing, accepted otherwise (inline skip, suppressions file): not "fixed".
            seen.add(key)
            finding.evidence["baseline"] = "unchanged" if key in baseline.keys else "new"
            continue
        if finding.status is not Status.FAIL:
            continue
        if key in baseline.keys:
            seen.add(key)
            baselined += 1
            finding.evidence["baseline"] = "unchanged"
            finding.evidence["suppression"] = {
                "status": str(finding.status),
                "reason": "in baseline",
                "source": baseline.source,
                "baselined": True,
            }
            finding.status = Status.SUPPRESSED
        else:
            finding.evidence["baseline"] = "new"
    return baselined, len(baseline.keys - seen)
