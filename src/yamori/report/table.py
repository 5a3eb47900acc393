"""A table for people: one row per package, grouped OS first, with the introducing layer."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.table import Table

from yamori.model import ScanResult
from yamori.report.interface import ReportWriter
from yamori.report.registry import register


@register
class TableWriter(ReportWriter):
    name = "table"
    description = "a table of packages (default)"
    for_terminal = True

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
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
        for error in result.errors:
            console.print(f"[red]error:[/red] {error}", markup=True, highlight=False)
