"""`yamori iac drift`: what changed in the cloud behind Terraform's back.

Compares Terraform state (``--state``, format 4) with a stored cloud snapshot (``--snapshot``, a
file or ``latest``/``previous`` from ``yamori cloud aws``) without calling AWS: drifted
attributes, unmanaged resources of the kinds the state manages, state entries missing from the
cloud. ``--code DIR`` adds the ``file:line`` to change. The work is ``yamori.iac.drift``; this
module parses options and renders.

Why its own command and not ``yamori iac drift``: ``yamori iac`` is a single command taking
paths, so a subcommand would be read as a path.

Exit codes: 0 (also with drift, unless ``--fail-on-drift``), 1 drift with ``--fail-on-drift``,
2 bad input (a state that is not JSON or not format 4, no such snapshot), one line on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import click

if TYPE_CHECKING:
    from yamori.iac.drift import DriftReport

EXIT_DRIFT: Final = 1
EXIT_INPUT_ERROR: Final = 2
PathType = click.Path(path_type=Path)


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_INPUT_ERROR)


def _where(file: str, line: int | None) -> str:
    if not file:
        return ""
    return f"{file}:{line}" if line else file


def _short(value: Any, limit: int = 120) -> str:
    import json

    from yamori.iac.drift import plain

    text = json.dumps(plain(value), sort_keys=True, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cells(path: str, declared: Any, live: Any) -> tuple[str, str]:
    """Declared and live cells; for lists (rules, aliases) only what differs: ``- x`` is
    declared but gone, ``+ y`` is live but undeclared."""
    from yamori.iac.drift import normalise

    want, have = normalise(path, declared), normalise(path, live)
    if isinstance(want, list) or isinstance(have, list):
        want, have = want or [], have or []
        gone = [_short(item, 80) for item in want if item not in have]
        extra = [_short(item, 80) for item in have if item not in want]
        removed = "\n".join(f"- {g}" for g in gone) or "(none removed)"
        return removed, "\n".join(f"+ {e}" for e in extra) or "(none added)"
    return _short(declared), _short(live)


def write_table(report: DriftReport, out: TextIO) -> None:
    """Three tables (drifted, unmanaged, missing) and a summary line."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, width=None if out.isatty() else 160, force_terminal=out.isatty())
    console.print(
        f"[bold]Drift[/] · state {escape(', '.join(report.states))} · snapshot {escape(report.snapshot)}"
    )
    if report.drifted:
        table = Table(title="Drifted attributes", title_justify="left")
        for column in ("Address", "Attribute", "Declared", "Live", "Fix in"):
            table.add_column(column, overflow="fold")
        for d in report.drifted:
            declared, live = _cells(d.path, d.declared, d.live)
            table.add_row(
                escape(d.address),
                escape(d.path),
                escape(declared),
                escape(live),
                escape(_where(d.file, d.line)),
            )
        console.print(table)
    if report.unmanaged:
        table = Table(title="Unmanaged (in the cloud, not in state)", title_justify="left")
        for column in ("Kind", "Resource", "Name", "Region"):
            table.add_column(column, overflow="fold")
        for u in report.unmanaged:
            table.add_row(escape(u.kind), escape(u.resource), escape(u.name), escape(u.region or "-"))
        console.print(table)
    if report.missing:
        table = Table(title="Missing (in state, not in the cloud)", title_justify="left")
        for column in ("Address", "Kind", "Id", "Declared at"):
            table.add_column(column, overflow="fold")
        for m in report.missing:
            table.add_row(
                escape(m.address), escape(m.kind), escape(m.id), escape(_where(m.file, m.line) or m.state)
            )
        console.print(table)
    summary = report.to_json()["summary"]
    console.print(
        f"matched {summary['matched']} · drifted {summary['drifted_attributes']} attribute(s) on "
        f"{summary['drifted_resources']} resource(s) · unmanaged {summary['unmanaged']} · "
        f"missing {summary['missing']} · not covered by the snapshot {summary['unchecked']}",
        highlight=False,
    )


def _write(report: DriftReport, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        import orjson

        out.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        write_table(report, out)


@click.command("drift")
@click.option(
    "--state",
    "states",
    type=PathType,
    multiple=True,
    required=True,
    help="Terraform state file, format 4 (repeatable; `terraform state pull > FILE`).",
)
@click.option(
    "--code", "codes", type=PathType, multiple=True, help="Terraform code directory: file:line per drift."
)
@click.option(
    "--snapshot",
    required=True,
    help="Stored scan or snapshot FILE of `yamori cloud aws`, or 'latest' / 'previous'.",
)
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--output", "-o", type=PathType, help="Write the report to FILE instead of stdout.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when anything drifted, is unmanaged or missing.")
def iac_drift(
    states: tuple[Path, ...],
    codes: tuple[Path, ...],
    snapshot: str,
    fmt: str,
    output: Path | None,
    fail_on_drift: bool,
) -> None:
    """Compare Terraform state with a stored cloud snapshot: drifted, unmanaged, missing.

    Nothing calls AWS: take the snapshot first with `yamori cloud aws` (stored automatically).
    """
    from yamori.iac.drift import compute_drift
    from yamori.iac.links import LinkError, load_code
    from yamori.posture.store import StoreError, read_scan, resolve_scan

    try:
        scan_path = resolve_scan(snapshot)
        stored = read_scan(scan_path)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    for path in states:
        if not path.is_file():
            raise _fail(f"{path}: no such state file")
    try:
        index = load_code(list(codes), states=list(states), discover_states=False)
    except LinkError as exc:
        raise _fail(str(exc)) from None
    for warning in index.warnings:
        click.echo(f"yamori: warning: {warning}", err=True)
    report = compute_drift(index, stored.snapshot)
    report.snapshot = str(scan_path)
    if output is None:
        _write(report, fmt, sys.stdout)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            _write(report, fmt, handle)
        os.replace(tmp, output)
    if fail_on_drift and report.has_drift:
        raise click.exceptions.Exit(EXIT_DRIFT)
