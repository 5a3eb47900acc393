"""The diff of two scans as tables: regressions first, then fixes, then inventory changes."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yamori.model.finding import Finding
from yamori.posture.diff import ScanDiff

__all__ = ["print_diff"]


def _findings_table(title: str, findings: list[Finding]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("Status", "Severity", "Policy", "Resource", "Account/region"):
        table.add_column(column, overflow="fold")
    for f in findings:
        place = "/".join(p for p in (f.account, f.region) if p)
        table.add_row(str(f.status), str(f.severity), escape(f.rule_id), escape(f.resource), escape(place))
    return table


def print_diff(diff: ScanDiff, out: TextIO) -> None:
    console = Console(file=out, width=None if out.isatty() else 160, force_terminal=out.isatty())
    console.print(f"A: {escape(diff.a)}\nB: {escape(diff.b)}")
    for note in diff.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if diff.changed:
        table = Table(title=f"Changed findings ({len(diff.changed)})", title_justify="left")
        for column in ("Status", "Severity", "Policy", "Resource"):
            table.add_column(column, overflow="fold")
        for change in diff.changed:
            before, after = change.before, change.after
            table.add_row(
                f"{before.status} → {after.status}",
                f"{before.severity} → {after.severity}",
                escape(after.rule_id),
                escape(after.resource),
            )
        console.print(table)
    if diff.new:
        console.print(_findings_table(f"New findings ({len(diff.new)})", diff.new))
    if diff.resolved:
        console.print(_findings_table(f"Resolved findings ({len(diff.resolved)})", diff.resolved))
    resources = Table(title="Resources", title_justify="left")
    for column in ("Change", "Kind", "Resource", "Attributes"):
        resources.add_column(column, overflow="fold")
    for r in diff.resources_added:
        resources.add_row("added", r.kind, escape(r.id), "")
    for r in diff.resources_removed:
        resources.add_row("removed", r.kind, escape(r.id), "")
    for c in diff.resources_changed:
        resources.add_row("changed", c.kind, escape(c.id), escape(", ".join(c.keys)))
    if resources.row_count:
        console.print(resources)
    console.print(
        f"findings: {len(diff.new)} new, {len(diff.resolved)} resolved, {len(diff.changed)} changed · "
        f"resources: {len(diff.resources_added)} added, {len(diff.resources_removed)} removed, "
        f"{len(diff.resources_changed)} changed"
    )
