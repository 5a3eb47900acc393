"""`yamori iac PATH...`: scan infrastructure code with the policies that judge the live cloud.

Every adapter in ``yamori.sources.iac``'s registry reads what it recognises under the paths
(Terraform, CloudFormation, and any dialect registered later); the run itself is
``yamori.iac.scan.run_scan``. This module parses options, prints warnings and writes the report.

Exit codes as for every command: 0 ok, 1 a FAIL finding (not skipped, suppressed or baselined)
at or above ``--fail-on``, 2 usage or input error — including "nothing could be scanned" (every
input failed to parse, or a path does not exist). One unparseable file among good ones is a
warning: the others' findings are still reported and gated. UNKNOWN results never fail.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from yamori.server_client import server_options, submit_if_requested

if TYPE_CHECKING:
    from yamori.iac.scan import IacScan
    from yamori.report.interface import PostureWriter

EXIT_FINDINGS: Final = 1
EXIT_INPUT_ERROR: Final = 2
SEVERITY_NAMES: Final = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
PathType = click.Path(path_type=Path)


def _code_table() -> PostureWriter:
    from yamori.report.code_table import CodeTableWriter

    return CodeTableWriter()


def _sarif() -> PostureWriter:
    from yamori.report.posture_sarif import PostureSARIFWriter

    return PostureSARIFWriter()


def _junit() -> PostureWriter:
    from yamori.report.posture_junit import PostureJUnitWriter

    return PostureJUnitWriter()


def _posture(name: str) -> Callable[[], PostureWriter]:
    def make() -> PostureWriter:
        from yamori.report.registry import posture_writer

        return posture_writer(name)

    return make


# --format → writer. JSON and CSV are the posture writers `yamori cloud aws` uses (one parser
# reads both); the table, SARIF and JUnit are the code-oriented ones (file:line first).
WRITERS: Final[dict[str, Callable[[], PostureWriter]]] = {
    "table": _code_table,
    "json": _posture("json"),
    "sarif": _sarif,
    "junit": _junit,
    "csv": _posture("csv"),
}


def _fail(message: str, code: int = EXIT_INPUT_ERROR) -> click.exceptions.Exit:
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(code)


def _warn(message: str) -> None:
    click.echo(f"yamori: warning: {message}", err=True)


def _emit(scan: IacScan, fmt: str, output: Path | None, show_pass: bool, show_unknown: bool) -> None:
    from yamori.report.codeview import CodeReportOptions

    writer = WRITERS[fmt]()
    options = CodeReportOptions(show_pass=show_pass, show_unknown=show_unknown, root=str(scan.base))
    if output is None:
        writer.write(scan.result, sys.stdout, options)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer.write(scan.result, handle, options)
    os.replace(tmp, output)


def _gate(scan: IacScan, fail_on: str | None) -> None:
    """Exit 1 when a FAIL finding still failing is at or above ``--fail-on``."""
    if not fail_on:
        return
    from yamori.iac.scan import failing
    from yamori.model.finding import Severity

    threshold = Severity(fail_on.upper()).rank
    if any(f.severity.rank >= threshold for f in failing(scan.result.findings)):
        raise click.exceptions.Exit(EXIT_FINDINGS)


class _ScanOrSubcommand(click.Group):
    """``yamori iac PATH...`` scans; ``yamori iac drift ...`` (and any other subcommand) runs it.

    Scanning is what users type most, so it needs no subcommand name, the way ``checkov -d`` or
    ``trivy config`` work; a first argument naming a subcommand routes there instead.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, ["scan", *args])


@click.group("iac", cls=_ScanOrSubcommand)
def iac() -> None:
    """Infrastructure as code: `yamori iac PATH...` scans, `yamori iac drift` compares with the cloud."""


@iac.command("scan")
@click.argument("paths", nargs=-1, required=True, type=PathType)
@click.option(
    "--var-file", type=PathType, multiple=True, help="Terraform -var-file (repeatable, applied in order)."
)
@click.option("--framework", help="Evaluate only the policies of this framework (e.g. cis-aws-3.0).")
@click.option("--policies", type=PathType, multiple=True, help="Extra policy FILE or DIR (repeatable).")
@click.option("--suppressions", type=PathType, help="Suppressions file (accepted risks).")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(list(WRITERS)),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--output", "-o", type=PathType, help="Write the report to FILE instead of stdout.")
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITY_NAMES, case_sensitive=False),
    help="Exit 1 when a FAIL finding (not skipped, suppressed or baselined) is at or above this severity.",
)
@click.option(
    "--baseline", type=PathType, help="Only FAILs not in this baseline fail (see --create-baseline)."
)
@click.option(
    "--create-baseline", type=PathType, help="Write the current FAIL findings to FILE as a baseline."
)
@click.option(
    "--no-inline-skips", is_flag=True, help="Ignore yamori:ignore skips in the code (and list them)."
)
@click.option("--show-pass", is_flag=True, help="Table/SARIF: also show PASS and accepted findings.")
@click.option("--show-unknown", is_flag=True, help="Table/SARIF: list UNKNOWN results (unresolved values).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--debug", is_flag=True, help="Show tracebacks and adapter logs.")
@server_options
def scan_command(**opts: Any) -> None:  # fmt: skip
    """Scan infrastructure code (Terraform, CloudFormation, ...) against posture policies.

    Every file or directory in PATHS is read by every registered IaC adapter; nothing is
    executed. Findings name the file:line that declares them; UNKNOWN results (values the code
    leaves open) are reported apart and never fail --fail-on. `yamori iac drift` compares
    Terraform state with a stored cloud scan.
    """
    from yamori.cli.main import progress_display
    from yamori.iac.scan import IacScanError, IacScanOptions, run_scan

    logger = logging.getLogger("yamori")
    if opts["debug"]:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    elif not logger.handlers:
        logger.addHandler(logging.NullHandler())  # adapter problems are printed once, below
    paths: list[Path] = list(opts["paths"])
    options = IacScanOptions(
        var_files=list(opts["var_file"]),
        framework=opts["framework"],
        policies=list(opts["policies"]),
        suppressions=opts["suppressions"],
        inline_skips=not opts["no_inline_skips"],
        baseline=opts["baseline"],
        create_baseline=opts["create_baseline"],
    )
    try:
        with progress_display(opts["quiet"], "scanning") as (advance, _total):
            options.on_unit = advance
            scan = run_scan(paths, options)
    except IacScanError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    for line in scan.errors:
        _warn(line)
    for line in scan.warnings:
        _warn(line)
    if scan.nothing_scanned:
        raise _fail(
            f"nothing could be scanned in {', '.join(str(p) for p in paths)} (see the warnings above)"
        )
    if scan.units == 0:
        _warn(f"no infrastructure code found in {', '.join(str(p) for p in paths)}")
    if scan.baseline_written is not None:
        click.echo(
            f"yamori: wrote {scan.baseline_written} findings to baseline {opts['create_baseline']}", err=True
        )
    _emit(scan, opts["fmt"], opts["output"], opts["show_pass"], opts["show_unknown"])
    if opts["server_url"]:
        from yamori.report.posture_json import result_to_json

        submit_if_requested(opts["server_url"], opts["token"], result_to_json(scan.result), "posture")
    _gate(scan, opts["fail_on"])
