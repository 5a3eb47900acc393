"""Per-framework compliance summary over findings.

Control status, from the findings that cite it (``framework:control`` in ``Finding.compliance``):
FAIL if any finding FAILs; else ERROR if any is ERROR; else UNKNOWN if any is UNKNOWN; else MANUAL
if any is MANUAL (part of the control needs a human); else PASS if any PASSes; else SUPPRESSED if
any is suppressed; else NOT_APPLICABLE (also for mapped controls with no findings at all).

Score = passed controls / (passed + failed controls): the share of automatically *decided*
controls that pass. ERROR and UNKNOWN controls are undecided, so they are left out of the score
and reported separately along with ``coverage`` = decided / (decided + error + unknown) — a
score is only as good as its coverage. ``score`` is None when no control was decided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from yamori.model.finding import Finding, Status
from yamori.policy.interface import Policy

__all__ = ["ControlSummary", "FrameworkSummary", "framework_summary"]

_PRECEDENCE = (
    Status.FAIL,
    Status.ERROR,
    Status.UNKNOWN,
    Status.MANUAL,
    Status.PASS,
    Status.SUPPRESSED,
)


@dataclass(slots=True)
class ControlSummary:
    control: str
    status: Status = Status.NOT_APPLICABLE
    counts: dict[str, int] = field(default_factory=dict)  # status value -> number of findings
    policies: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FrameworkSummary:
    framework: str
    controls: list[ControlSummary]
    passed: int
    failed: int
    error: int
    unknown: int
    manual: int
    not_applicable: int
    suppressed: int
    score: float | None  # 0..1
    coverage: float | None  # 0..1


def _natural(control: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", control) if p]


def framework_summary(
    findings: Iterable[Finding], framework: str, policies: Iterable[Policy] = ()
) -> FrameworkSummary:
    """Summarise ``findings`` for ``framework`` (e.g. ``cis-aws-3.0``).

    ``policies`` adds controls mapped by a policy that produced no finding (NOT_APPLICABLE).
    """
    prefix = framework + ":"
    controls: dict[str, ControlSummary] = {}
    for policy in policies:
        for control in policy.compliance.get(framework, ()):
            summary = controls.setdefault(control, ControlSummary(control))
            if policy.id not in summary.policies:
                summary.policies.append(policy.id)
    for finding in findings:
        for ref in finding.compliance:
            if not ref.startswith(prefix):
                continue
            summary = controls.setdefault(ref[len(prefix) :], ControlSummary(ref[len(prefix) :]))
            summary.counts[str(finding.status)] = summary.counts.get(str(finding.status), 0) + 1
            if finding.rule_id not in summary.policies:
                summary.policies.append(finding.rule_id)
    tally = dict.fromkeys(Status, 0)
    for summary in controls.values():
        summary.status = next((s for s in _PRECEDENCE if summary.counts.get(str(s))), Status.NOT_APPLICABLE)
        tally[summary.status] += 1
    passed, failed = tally[Status.PASS], tally[Status.FAIL]
    undecided = tally[Status.ERROR] + tally[Status.UNKNOWN]
    decided = passed + failed
    return FrameworkSummary(
        framework=framework,
        controls=sorted(controls.values(), key=lambda c: _natural(c.control)),
        passed=passed,
        failed=failed,
        error=tally[Status.ERROR],
        unknown=tally[Status.UNKNOWN],
        manual=tally[Status.MANUAL],
        not_applicable=tally[Status.NOT_APPLICABLE],
        suppressed=tally[Status.SUPPRESSED],
        score=passed / decided if decided else None,
        coverage=decided / (decided + undecided) if decided + undecided else None,
    )
