"""The table of ``yamori iac``: what to fix, at which line, then what could not be told.

Failing rows first (FAIL and ERROR, worst severity first) with the file:line of the declaring
block and of each value the policy read, and the fix. UNKNOWN results — a value the code does not
fix, such as an unset variable — are a separate section (listed with ``--show-unknown``, else
counted): they say "could not tell", never "wrong", and never fail the gate. Accepted findings
(inline skips, suppressions, baseline) and PASS rows appear with ``--show-pass``; all are counted
in the last line.

Not registered in the posture registry: ``yamori cloud aws`` has its own table (by control, by
account); ``yamori iac`` picks this one for ``--format table``.
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
from yamori.report.codeview import code_location, show_unknown
from yamori.report.interface import PostureWriter
from yamori.report.postureview import finding_message, sorted_findings

__all__ = ["CodeTableWriter", "summary_line"]

_SEVERITY_STYLES: Final = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.UNKNOWN: "dim",
}
_MAX_RELATED: Final = 4


def _where(result: PostureResult, finding: Finding, with_related: bool) -> str:
    where = code_location(result, finding)
    if where is None:
        return ""
    text = escape(str(where))
    if with_related and where.related:
        shown = [f"{path} @ {file}:{line}" for path, file, line in where.related[:_MAX_RELATED]]
        more = len(where.related) - _MAX_RELATED
        text += "\n[dim]" + escape("\n".join(shown) + (f"\n(+{more} more)" if more > 0 else "")) + "[/]"
    return text


def _table(title: str, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _failing(result: PostureResult, findings: list[Finding]) -> Table:
    table = _table("Failing", ("Severity", "Policy", "Resource", "Location", "Details"))
    for f in findings:
        style = _SEVERITY_STYLES.get(f.severity, "")
        detail = escape(finding_message(f))
        if f.status is Status.ERROR:
            detail = f"[magenta]ERROR[/] {detail}"
        if f.evidence.get("baseline") == "new":
            detail += "\n[bold]new (not in baseline)[/]"
        if f.remediation:
            detail += f"\n[dim]fix: {escape(f.remediation)}[/]"
        table.add_row(
            f"[{style}]{f.severity.value}[/]",
            escape(f.rule_id),
            escape(f.resource),
            _where(result, f, True),
            detail,
        )
    return table


def _unknown(result: PostureResult, findings: list[Finding]) -> Table:
    table = _table(
        "Unknown (values the code leaves open; never fail the gate)",
        ("Policy", "Resource", "Location", "Why"),
    )
    for f in findings:
        table.add_row(
            escape(f.rule_id), escape(f.resource), _where(result, f, True), escape(finding_message(f))
        )
    return table


def _accepted(result: PostureResult, findings: list[Finding]) -> Table:
    table = _table("Accepted and passing", ("Status", "Policy", "Resource", "Location", "Reason"))
    for f in findings:
        info = f.evidence.get("suppression", {})
        if f.status is Status.SUPPRESSED:
            label = "baselined" if info.get("baselined") else "skipped"
            reason = f"{info.get('reason', '')} ({info.get('source', '')})"
        else:
            label, reason = f.status.value, ""
        table.add_row(label, escape(f.rule_id), escape(f.resource), _where(result, f, False), escape(reason))
    return table


def summary_line(result: PostureResult, show_unknown_rows: bool = False) -> str:
    """``FAIL 3 (2 new) · ERROR 0 · UNKNOWN 4 · baselined 5 · skipped 2 · PASS 30``."""
    counts = Counter(f.status for f in result.findings)
    baselined = sum(
        1
        for f in result.findings
        if f.status is Status.SUPPRESSED and f.evidence.get("suppression", {}).get("baselined")
    )
    new = sum(1 for f in result.findings if f.status is Status.FAIL and f.evidence.get("baseline") == "new")
    fail = f"FAIL {counts[Status.FAIL]}" + (
        f" ({new} new)" if any("baseline" in f.evidence for f in result.findings) else ""
    )
    unknown = f"UNKNOWN {counts[Status.UNKNOWN]}"
    if counts[Status.UNKNOWN] and not show_unknown_rows:
        unknown += " (--show-unknown to list)"
    parts = [
        fail,
        f"ERROR {counts[Status.ERROR]}",
        unknown,
        f"baselined {baselined}",
        f"skipped {counts[Status.SUPPRESSED] - baselined}",
        f"PASS {counts[Status.PASS]}",
    ]
    return " · ".join(parts)


class CodeTableWriter(PostureWriter):
    name = "table"
    description = "failing resources with file:line and the fix; unknown results apart; a count line"

    def write(self, result: PostureResult, out: TextIO, options: ReportOptions) -> None:
        is_terminal = out.isatty()
        console = Console(file=out, width=None if is_terminal else 160, force_terminal=is_terminal)
        ordered = sorted_findings(result.findings)
        files = {r.location.rpartition(":")[0] or r.location for r in result.snapshot.resources}
        console.print(
            f"[bold]IaC scan[/] · {len(result.snapshot.resources)} resources in {len(files)} files · "
            f"{len(result.policies)} policies"
        )
        failing = [f for f in ordered if f.status in (Status.FAIL, Status.ERROR)]
        if failing:
            console.print(_failing(result, failing))
        else:
            console.print("[green]no failing checks[/]")
        unknown = [f for f in ordered if f.status is Status.UNKNOWN]
        if unknown and show_unknown(options):
            console.print(_unknown(result, unknown))
        if options.show_pass:
            accepted = [f for f in ordered if f.status in (Status.SUPPRESSED, Status.PASS)]
            if accepted:
                console.print(_accepted(result, accepted))
        if result.snapshot.errors:
            console.print(
                f"[magenta]{len(result.snapshot.errors)} file(s) could not be read (see warnings)[/]"
            )
        console.print(escape(summary_line(result, show_unknown(options))), highlight=False)
