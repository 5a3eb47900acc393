"""A table for people reading a posture scan: by control (with the benchmark's titles) or by
resource, worst first, with the fix under each failing row and a score line at the end.

PASS, NOT_APPLICABLE and suppressed rows are hidden unless ``--show-pass`` (they are still
counted): the table answers "what do I fix", the machine formats carry everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yamori.model.finding import Finding, Severity, Status
from yamori.posture.result import PostureResult, ReportOptions
from yamori.report.interface import PostureWriter
from yamori.report.postureview import (
    control_ids,
    finding_message,
    natural_key,
    resource_kind,
    sorted_findings,
)
from yamori.report.registry import register_posture

_STATUS_STYLES: Final = {
    Status.FAIL: "bold red",
    Status.ERROR: "magenta",
    Status.UNKNOWN: "magenta",
    Status.MANUAL: "yellow",
    Status.PASS: "green",
    Status.SUPPRESSED: "dim",
    Status.NOT_APPLICABLE: "dim",
}
_SEVERITY_STYLES: Final = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.UNKNOWN: "dim",
}
_ALWAYS_SHOWN: Final = frozenset({Status.FAIL, Status.ERROR, Status.UNKNOWN, Status.MANUAL})
_COUNTED: Final = (Status.PASS, Status.FAIL, Status.MANUAL, Status.ERROR)
_WITH_FIX: Final = frozenset({Status.FAIL, Status.ERROR})


def _status(status: Status | str) -> str:
    value = Status(status)
    return f"[{_STATUS_STYLES.get(value, '')}]{value.value}[/]"


def _counts(findings: Iterable[Finding]) -> str:
    tally = Counter(f.status for f in findings)
    return " ".join(f"{s.value} {tally.get(s, 0)}" for s in _COUNTED)


def _where(finding: Finding) -> str:
    place = "/".join(p for p in (finding.account, finding.region) if p)
    return escape(f"{finding.resource}" + (f"  ({place})" if place else ""))


def _one_line(text: str, limit: int = 300) -> str:
    """An API error can carry a whole HTML page: the table shows its first line."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _detail(finding: Finding) -> str:
    text = escape(_one_line(finding_message(finding)))
    if finding.status is Status.SUPPRESSED:
        reason = finding.evidence.get("suppression", {}).get("reason", "")
        text += f"\n[dim]suppressed: {escape(str(reason))}[/]"
    if finding.status in _WITH_FIX and finding.remediation:
        text += f"\n[dim]fix: {escape(finding.remediation)}[/]"
    return text


def _shown(findings: Iterable[Finding], options: ReportOptions) -> list[Finding]:
    return sorted_findings([f for f in findings if options.show_pass or f.status in _ALWAYS_SHOWN])


def _by_control(result: PostureResult, options: ReportOptions) -> Table:
    table = Table(show_lines=False, expand=False)
    for column in ("Control", "Status", "Severity", "Counts / resource", "Title / finding"):
        table.add_column(column, overflow="fold")
    groups: dict[str, list[Finding]] = {}
    titles: dict[str, str] = {}
    framework = result.framework
    if framework is not None:
        for control in framework.controls:
            groups[control.id] = []
            titles[control.id] = control.title
        for finding in result.findings:
            for control_id in control_ids(finding, framework.id):
                groups.setdefault(control_id, []).append(finding)
        order = list(groups)  # the benchmark's own order, then extra ids the policies cite
    else:  # no framework: one group per policy
        for finding in result.findings:
            groups.setdefault(finding.rule_id, []).append(finding)
            titles[finding.rule_id] = finding.title
        order = sorted(groups, key=natural_key)
    summary = result.summary()
    status_of = {c.control: c.status for c in summary.controls} if summary else {}
    manual_ids = {c.id for c in framework.controls if c.assessment == "manual"} if framework else set()
    for key in order:
        findings = groups[key]
        if findings or key in status_of:
            status = status_of.get(key) or sorted_findings(findings)[0].status
            status_cell = _status(status)
        else:
            status_cell = "[yellow]MANUAL[/]" if key in manual_ids else "[dim]no check[/]"
        table.add_row(
            f"[bold]{escape(key)}[/]",
            status_cell,
            "",
            _counts(findings),
            f"[bold]{escape(titles.get(key, ''))}[/]",
        )
        for finding in _shown(findings, options):
            table.add_row(
                "",
                _status(finding.status),
                f"[{_SEVERITY_STYLES[finding.severity]}]{finding.severity.value}[/]",
                _where(finding),
                _detail(finding),
            )
        table.add_section()
    return table


def _by_resource(result: PostureResult, options: ReportOptions) -> Table:
    table = Table(show_lines=False, expand=False)
    for column in ("Resource", "Status", "Severity", "Policy / controls", "Finding"):
        table.add_column(column, overflow="fold")
    groups: dict[str, list[Finding]] = {}
    for finding in result.findings:
        groups.setdefault(finding.resource, []).append(finding)
    framework = result.framework.id if result.framework else None
    for resource_id in sorted(groups):
        shown = _shown(groups[resource_id], options)
        if not shown:
            continue
        first = groups[resource_id][0]
        place = "/".join(p for p in (first.account, first.region) if p)
        table.add_row(
            f"[bold]{escape(resource_id)}[/]",
            "",
            "",
            escape(resource_kind(result, first)),
            escape(f"{place}  {_counts(groups[resource_id])}"),
        )
        for finding in shown:
            controls = control_ids(finding, framework) if framework else list(finding.compliance)
            table.add_row(
                "",
                _status(finding.status),
                f"[{_SEVERITY_STYLES[finding.severity]}]{finding.severity.value}[/]",
                escape(finding.rule_id + (f" [{', '.join(controls)}]" if controls else "")),
                _detail(finding),
            )
        table.add_section()
    return table


def score_line(result: PostureResult) -> str:
    """``Score: 72% (18 of 25 decided controls pass) · coverage 90% · …`` or status counts."""
    summary = result.summary()
    counts = result.status_counts()
    tally = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
    if summary is None or result.framework is None:
        return f"Findings: {len(result.findings)} ({tally})"
    decided = summary.passed + summary.failed
    score = "n/a" if summary.score is None else f"{summary.score:.0%}"
    coverage = "n/a" if summary.coverage is None else f"{summary.coverage:.0%}"
    checked = {c.control for c in summary.controls}
    unchecked = sum(1 for c in result.framework.controls if c.id not in checked)
    return (
        f"{result.framework.label}: score {score} ({summary.passed} of {decided} decided controls pass) · "
        f"coverage {coverage} · FAIL {summary.failed} · ERROR {summary.error} · MANUAL {summary.manual} · "
        f"N/A {summary.not_applicable} · suppressed {summary.suppressed} · no check {unchecked} · "
        f"findings {len(result.findings)} ({tally})"
    )


_LAYOUTS: Final = {"control": _by_control, "resource": _by_resource}


@register_posture
class PostureTableWriter(PostureWriter):
    name = "table"
    description = "a table grouped by control (or by resource) with remediation and a score line"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        is_terminal = out.isatty()
        console = Console(file=out, width=None if is_terminal else 160, force_terminal=is_terminal)
        snap = result.snapshot
        console.print(
            f"[bold]AWS posture[/] · accounts {escape(', '.join(snap.accounts) or '-')} · "
            f"regions {escape(', '.join(snap.regions) or '-')} · {len(snap.resources)} resources · "
            f"{snap.taken_at}"
        )
        console.print(_LAYOUTS[options.group_by](result, options))
        if snap.errors:
            console.print(
                f"[magenta]{len(snap.errors)} listing(s) failed; their checks are ERROR rows above[/]"
            )
        console.print(escape(score_line(result)), highlight=False)
