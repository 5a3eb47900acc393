"""A table for people: one row per package, with the introducing layer, then the vulnerabilities.

Vulnerabilities come as one table per target (the OS, each lock file or binary), highest risk
first, so the first rows are the ones to fix today; a KEV marker flags what is exploited now.
"""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yamori.model import ScanResult, Severity
from yamori.report.interface import ReportWriter
from yamori.report.registry import register
from yamori.report.vulnview import VulnFinding, layer_label, vulnerabilities

_SEVERITY_STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.UNKNOWN: "dim",
}
# Severities listed in the summary line, worst first.
_SUMMARY_ORDER = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN]


def _vuln_row(result: ScanResult, vuln: VulnFinding) -> list[str]:
    d = vuln.details
    severity = vuln.finding.severity
    marker = " KEV" if d.kev else ""
    if vuln.finding.evidence.get("in_use") is True:  # `--in-use`: the sensor saw it loaded
        marker += " IN USE"
    epss = "" if d.epss_score is None else f"{d.epss_score:.3f}"
    # Names and versions are scanned content: escaped, so a "[" in them is not taken as markup.
    return [
        f"{d.risk:.1f}",
        escape(d.id),
        f"[{_SEVERITY_STYLES[severity]}]{severity.value}[/]{marker}",
        escape(d.package_name),
        escape(d.installed_version),
        escape(", ".join(d.fixed_versions) or d.fix_state.value),
        layer_label(result, d),
        epss,
    ]


def severity_summary(vulns: list[VulnFinding]) -> str:
    """`Vulnerabilities: 4 (CRITICAL: 1, HIGH: 2, ...)`, with KEV counted apart: exploited now."""
    counts = Counter(v.finding.severity for v in vulns)
    parts = ", ".join(f"{s.value}: {counts.get(s, 0)}" for s in _SUMMARY_ORDER)
    kev = sum(1 for v in vulns if v.details.kev)
    return f"Vulnerabilities: {len(vulns)} ({parts}; KEV: {kev})"


def print_vulnerabilities(console: Console, result: ScanResult) -> None:
    """One table per target, in the order of each target's riskiest finding."""
    vulns = vulnerabilities(result)
    if not vulns:
        return
    by_target: dict[str, list[VulnFinding]] = {}
    for vuln in vulns:  # already sorted by risk: dict order follows each target's worst
        by_target.setdefault(vuln.target, []).append(vuln)
    for target, rows in by_target.items():
        console.print(f"\n{target}", highlight=False, soft_wrap=True, markup=False)
        table = Table(show_lines=False)
        table.add_column("Risk", justify="right")
        table.add_column("ID", overflow="fold")
        table.add_column("Severity")
        table.add_column("Package", overflow="fold")
        table.add_column("Installed", overflow="fold")
        table.add_column("Fixed", overflow="fold")
        table.add_column("Layer", justify="right")
        table.add_column("EPSS", justify="right")
        for vuln in rows:
            table.add_row(*_vuln_row(result, vuln))
        console.print(table)
    console.print(severity_summary(vulns), highlight=False)


@register
class TableWriter(ReportWriter):
    name = "table"
    description = "a table of packages (default)"

    def write(self, result: ScanResult, out: TextIO) -> None:
        console = Console(file=out, width=None if out.isatty() else 200, soft_wrap=False)
        artifact = result.artifact
        title = f"{artifact.name} ({artifact.type})"
        if result.os:
            title += f" — {result.os.name or result.os.family} {result.os.version}".rstrip()
        show_layers = bool(artifact.layers)
        console.print(title, highlight=False, soft_wrap=True)
        table = Table(show_lines=False)
        table.add_column("Type")
        table.add_column("Name", overflow="fold")
        table.add_column("Version", overflow="fold")
        table.add_column("Source")
        if show_layers:
            table.add_column("Layer", justify="right")
        table.add_column("Location", overflow="fold")
        for pkg in result.packages:
            source = ""
            if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
                source = f"{pkg.source_name} {pkg.source_version or ''}".strip()
            row = [pkg.type.value, pkg.name, pkg.version, source]
            if show_layers:
                row.append("" if pkg.layer_index is None else str(pkg.layer_index))
            row.append(pkg.location)
            table.add_row(*row)
        console.print(table)
        counts = Counter(p.type.value for p in result.packages)
        summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no packages"
        console.print(f"Total: {len(result.packages)} packages ({summary})")
        if show_layers:
            for layer in artifact.layers:
                cached = " (cached)" if layer.from_cache else ""
                created = f"  {layer.created_by[:100]}" if layer.created_by else ""
                console.print(f"  layer {layer.index}: {layer.digest}{cached}{created}")
        print_vulnerabilities(console, result)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
        for error in result.errors:
            console.print(f"[red]error:[/red] {error}", markup=True, highlight=False)
