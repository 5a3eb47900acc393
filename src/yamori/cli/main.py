"""`yamori` command line: `sbom`, `image`, `fs`, `rootfs`, `host`, `version`.

Built on click directly: typer's current release validates every option through pydantic,
whose import alone costs more than a cached image scan. Options shared by several commands are
declared once (`output_options`, `image_options`) and applied as decorators.

Exit codes follow the convention of the whole tool: 0 ok, 1 findings at or above `--fail-on`
(later commands), 2 usage or input error — including a scan that could only be done in part,
whose partial result is still written.

Only what every command needs is imported at module level; the scanner (catalogers, layer
reader, cache) is imported by the commands that scan, so `yamori version` and `--help` start
without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from yamori import __version__
from yamori.config import ConfigError, command_defaults
from yamori.config import cache_dir as default_cache_dir
from yamori.model.finding import Severity
from yamori.report.registry import formats, writer
from yamori.scan.errors import ScanError
from yamori.server_client import server_options, submit_if_requested

if TYPE_CHECKING:
    from yamori.model import ScanResult
    from yamori.scan.scanner import ProgressCallback, ScanSettings
    from yamori.sources.interface import SourceOptions

EXIT_FINDINGS = 1
EXIT_INPUT_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])
PathType = click.Path(path_type=Path)


def fail(message: str, code: int = EXIT_INPUT_ERROR) -> click.exceptions.Exit:
    """Print a one-line error (no traceback) and give the exit to raise."""
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(code)


def _apply(options: list[Callable[[F], F]], function: F) -> F:
    for option in reversed(options):
        function = option(function)
    return function


def output_options(default_format: str) -> Callable[[F], F]:
    """Options of every scanning command: format, output, cache, progress, debug."""

    def decorate(function: F) -> F:
        return _apply(
            [
                click.option(
                    "--format",
                    "-f",
                    "fmt",
                    default=default_format,
                    show_default=True,
                    help=f"Output format: {'|'.join(formats())}.",
                ),
                click.option(
                    "--output", "-o", type=PathType, help="Write the report to FILE instead of stdout."
                ),
                click.option(
                    "--cache-dir", type=PathType, envvar="YAMORI_CACHE_DIR", help="Cache directory."
                ),
                click.option("--quiet", "-q", is_flag=True, help="No progress display."),
                click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
                server_options,
            ],
            function,
        )

    return decorate


def image_options(function: F) -> F:
    """Options of the commands that may open an image."""
    return _apply(
        [
            click.option("--platform", help="Image platform os/arch[/variant] from a multi-arch index."),
            click.option(
                "--insecure", is_flag=True, help="Allow plain HTTP and unverified TLS to the registry."
            ),
            click.option("--username", envvar="YAMORI_USERNAME", help="Registry user."),
            click.option("--password", envvar="YAMORI_PASSWORD", help="Registry password or token."),
            click.option(
                "--storage-root",
                type=PathType,
                envvar="YAMORI_STORAGE_ROOT",
                help="containers-storage graph root.",
            ),
            click.option("--no-cache", is_flag=True, help="Do not read or write the layer cache."),
            click.option(
                "--parallel",
                type=click.IntRange(1, 16),
                default=2,
                show_default=True,
                help="Layers analysed at once.",
            ),
        ],
        function,
    )


SEVERITY_NAMES = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


def vuln_options(function: F) -> F:
    """Options of the commands that report vulnerabilities (when a database is present)."""
    return _apply(
        [
            click.option(
                "--vuln/--no-vuln",
                "vuln",
                default=True,
                show_default=True,
                help="Match packages against the vulnerability database (yamori db update).",
            ),
            click.option(
                "--db-dir", type=PathType, envvar="YAMORI_DB_DIR", help="Vulnerability database directory."
            ),
            click.option(
                "--severity", help="Report only these severities, comma-separated (e.g. HIGH,CRITICAL)."
            ),
            click.option("--ignore-unfixed", is_flag=True, help="Hide vulnerabilities that have no fix."),
            click.option(
                "--fail-on",
                type=click.Choice(SEVERITY_NAMES, case_sensitive=False),
                help="Exit 1 when a reported vulnerability is at or above this severity.",
            ),
            click.option(
                "--ignorefile",
                type=PathType,
                default=Path(".yamoriignore"),
                show_default=True,
                help="Ignore rules (ids, packages, paths, expiry, reason); used when it exists.",
            ),
            click.option("--vex", type=PathType, multiple=True, help="OpenVEX document (repeatable)."),
        ],
        function,
    )


@dataclass(slots=True)
class VulnSettings:
    """What the user asked of vulnerability reporting (None: the command has no such step)."""

    enabled: bool = True
    db_dir: Path | None = None
    severity: str | None = None
    ignore_unfixed: bool = False
    fail_on: str | None = None
    ignorefile: Path = Path(".yamoriignore")
    vex: tuple[Path, ...] = ()

    @classmethod
    def pop_from(cls, opts: dict[str, Any]) -> VulnSettings:
        return cls(
            enabled=opts.pop("vuln"),
            db_dir=opts.pop("db_dir"),
            severity=opts.pop("severity"),
            ignore_unfixed=opts.pop("ignore_unfixed"),
            fail_on=opts.pop("fail_on"),
            ignorefile=opts.pop("ignorefile"),
            vex=opts.pop("vex"),
        )


def _severities(text: str | None) -> set[Severity] | None:
    if not text:
        return None
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in SEVERITY_NAMES]
    if unknown:
        raise fail(f"unknown severity {unknown[0]!r}; choose from {','.join(SEVERITY_NAMES)}")
    return {Severity(n) for n in names}


def _add_vulnerabilities(result: ScanResult, vuln: VulnSettings) -> None:
    """Match, then filter by ignore file, VEX, --ignore-unfixed and --severity.

    Without a database the scan still reports its packages, with one note on stderr (an
    inventory is useful on its own) — unless --fail-on asks for a gate, which then fails.
    """
    from yamori.config import vulndb_file

    severities = _severities(vuln.severity)
    db_file = vulndb_file(vuln.db_dir)
    if not db_file.is_file():
        if vuln.fail_on:
            # A gate with nothing to gate on would pass every image: refuse instead.
            raise fail(
                f"--fail-on needs a vulnerability database; none in {db_file.parent} (run `yamori db update`)"
            )
        click.echo(
            f"yamori: note: no vulnerability database in {db_file.parent}; run `yamori db update` "
            "(packages are listed without vulnerabilities)",
            err=True,
        )
        return
    # Imported only now: a scan without a database should not pay for the database code.
    from yamori.vulndb.gate import GateInputError, filter_findings, load_ignore, load_openvex
    from yamori.vulndb.store import VulnerabilityDatabase

    try:
        ignore = load_ignore(vuln.ignorefile) if vuln.ignorefile.is_file() else None
        vex = load_openvex(vuln.vex) if vuln.vex else None
    except GateInputError as exc:
        raise fail(str(exc)) from None
    from yamori.vulndb.matcher import match

    with VulnerabilityDatabase.open(db_file.parent) as database:
        findings = match(result, database, ignore_unfixed=vuln.ignore_unfixed)
    kept, suppressed = filter_findings(
        findings, severities=severities, ignore_unfixed=vuln.ignore_unfixed, ignore=ignore, vex=vex
    )
    result.findings = [*kept, *(finding for finding, _reason in suppressed)]
    if ignore is not None:
        result.warnings.extend(ignore.warnings)


class _ConfiguredGroup(click.Group):
    """Reads option defaults from ~/.config/yamori/config.yaml (see `command_defaults`)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            defaults = command_defaults(list(self.commands))
        except ConfigError as exc:
            raise fail(str(exc)) from None
        default_map: dict[str, dict[str, object]] = {}
        for name, values in defaults.items():
            # The file speaks in flag names (format, cache-dir); click wants parameter names (fmt).
            by_flag = {
                opt.lstrip("-").replace("-", "_"): param.name
                for param in self.commands[name].params
                for opt in param.opts
                if opt.startswith("--") and param.name
            }
            default_map[name] = {by_flag[key]: value for key, value in values.items() if key in by_flag}
        if default_map:
            extra["default_map"] = {**default_map, **(extra.get("default_map") or {})}
        return super().make_context(info_name, args, parent, **extra)


@click.group(cls=_ConfiguredGroup, context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Cloud and container security: inventory and SBOMs of images, filesystems and hosts."""


@contextmanager
def progress_display(quiet: bool, label: str) -> Iterator[tuple[ProgressCallback, ProgressCallback]]:
    """A progress bar on a terminal; nothing in a pipe. Yields (advance, set_total) callbacks."""
    if quiet or not sys.stderr.isatty():
        yield (lambda _desc: None), (lambda _total: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(desc: str) -> None:
            bar.update(task, advance=1, description=f"{label}: {desc}")

        def set_total(total: str) -> None:
            bar.update(task, total=int(total))

        yield advance, set_total


def _emit(result: ScanResult, fmt: str, output: Path | None, fail_on: str | None = None) -> None:
    report = writer(fmt)
    if fail_on and hasattr(report, "threshold"):
        report.threshold = Severity(fail_on.upper())  # JUnit: which vulnerabilities fail a test
    if output is None:
        report.write(result, sys.stdout)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        report.write(result, handle)
    os.replace(tmp, output)


def _run(
    label: str,
    scan: Callable[[ScanSettings, ProgressCallback, ProgressCallback], ScanResult],
    *,
    fmt: str,
    output: Path | None,
    cache_dir: Path | None,
    no_cache: bool,
    quiet: bool,
    debug: bool,
    parallel: int,
    vuln: VulnSettings | None = None,
    server_url: str | None = None,
    token: str | None = None,
    annotate: Callable[[ScanResult], None] | None = None,
) -> None:
    if fmt not in formats():
        raise fail(f"unknown format {fmt!r}; choose one of: {', '.join(formats())}")
    from yamori.scan.scanner import ScanSettings

    settings = ScanSettings(
        cache_dir=cache_dir or default_cache_dir(), use_cache=not no_cache, parallel_layers=parallel
    )
    try:
        with progress_display(quiet, label) as (advance, set_total):
            result = scan(settings, advance, set_total)
    except ScanError as exc:
        if debug:
            raise
        message = str(exc)
        raise fail(message if message.startswith(label) else f"{label}: {message}") from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if vuln is not None and vuln.enabled:
        _add_vulnerabilities(result, vuln)
    if annotate is not None:
        annotate(result)
    _emit(result, fmt, output, vuln.fail_on if vuln else None)
    if server_url:
        from yamori.report.json import result_to_dict

        submit_if_requested(server_url, token, result_to_dict(result), "image")
    for error in result.errors:
        click.echo(f"yamori: error: {error}", err=True)
    if result.errors:
        raise click.exceptions.Exit(EXIT_INPUT_ERROR)
    if vuln is not None and vuln.fail_on:
        from yamori.vulndb.gate import fails

        if fails(result.findings, Severity(vuln.fail_on.upper())):
            raise click.exceptions.Exit(EXIT_FINDINGS)


def _source_options(
    platform: str | None,
    insecure: bool,
    username: str | None,
    password: str | None,
    storage_root: Path | None,
) -> SourceOptions:
    from yamori.sources.interface import SourceOptions

    return SourceOptions(
        platform=platform, insecure=insecure, username=username, password=password, storage_root=storage_root
    )


@app.command()
@click.argument("target")
@output_options("cyclonedx")
@image_options
@vuln_options
def sbom(target: str, **opts: Any) -> None:
    """Software bill of materials of any TARGET (CycloneDX by default).

    TARGET is an image reference, oci:DIR[:tag], docker-archive:FILE, containers-storage:NAME,
    a directory, / for the host, or a CycloneDX/SPDX document.
    """
    from yamori.scan.target import scan_any

    options = _source_options(
        opts.pop("platform"),
        opts.pop("insecure"),
        opts.pop("username"),
        opts.pop("password"),
        opts.pop("storage_root"),
    )
    vuln = VulnSettings.pop_from(opts)
    _run(target, lambda s, adv, tot: scan_any(target, s, options, adv, tot), vuln=vuln, **opts)


def _mark_in_use(result: ScanResult) -> None:
    """`--in-use`: mark packages and findings with what `yamori sensor` saw loaded (warn if nothing)."""
    from yamori.vulndb.inuse import apply_in_use

    warning = apply_in_use(result)
    if warning:
        click.echo(f"yamori: warning: {warning}", err=True)


@app.command()
@click.argument("reference")
@output_options("table")
@image_options
@vuln_options
@click.option("--in-use", is_flag=True, help="Rank packages `yamori sensor` saw loaded first.")
def image(reference: str, **opts: Any) -> None:
    """Inventory of a container image, each package with the layer that introduced it.

    REFERENCE is registry/repo:tag, …@sha256:…, oci:DIR[:tag], docker-archive:FILE or
    containers-storage:NAME.
    """
    from yamori.scan.target import scan_image_reference

    options = _source_options(
        opts.pop("platform"),
        opts.pop("insecure"),
        opts.pop("username"),
        opts.pop("password"),
        opts.pop("storage_root"),
    )
    vuln = VulnSettings.pop_from(opts)
    _run(
        reference,
        lambda s, adv, tot: scan_image_reference(reference, s, options, adv, tot),
        vuln=vuln,
        annotate=_mark_in_use if opts.pop("in_use") else None,
        **opts,
    )


def _scan_directory(
    path: Path, scope: str, artifact_type: str
) -> Callable[[ScanSettings, ProgressCallback, ProgressCallback], ScanResult]:
    def scan(settings: ScanSettings, advance: ProgressCallback, _total: ProgressCallback) -> ScanResult:
        settings.scope = scope
        if not path.is_dir():
            raise ScanError(f"{path}: not a directory")
        from yamori.scan.target import scan_directory

        return scan_directory(path, settings, artifact_type=artifact_type, progress=advance)

    return scan


@app.command()
@click.argument("path", type=PathType)
@output_options("table")
@vuln_options
def fs(path: Path, **opts: Any) -> None:
    """Inventory of a project directory, lockfiles included."""
    _run(
        str(path),
        _scan_directory(path, "fs", "filesystem"),
        no_cache=True,
        parallel=1,
        vuln=VulnSettings.pop_from(opts),
        **opts,
    )


@app.command()
@click.argument("path", type=PathType)
@output_options("table")
@vuln_options
def rootfs(path: Path, **opts: Any) -> None:
    """Inventory of an unpacked root filesystem (installed packages only, no lockfiles)."""
    _run(
        str(path),
        _scan_directory(path, "rootfs", "filesystem"),
        no_cache=True,
        parallel=1,
        vuln=VulnSettings.pop_from(opts),
        **opts,
    )


@app.command()
@click.option(
    "--root", type=PathType, default=Path("/"), show_default=True, help="Root of the host filesystem."
)
@output_options("table")
@vuln_options
def host(root: Path, **opts: Any) -> None:
    """Inventory of the running host (skips /proc, /sys, /dev, /run and container storage)."""
    _run(
        "host",
        _scan_directory(root, "rootfs", "host"),
        no_cache=True,
        parallel=1,
        vuln=VulnSettings.pop_from(opts),
        **opts,
    )


@app.command()
def version() -> None:
    """Print yamori's version."""
    click.echo(f"yamori {__version__}")


from yamori.cli.db import db as _db_group  # noqa: E402  (the group module imports nothing heavy)

app.add_command(_db_group)

from yamori.cli.detect import detect as _detect_command  # noqa: E402  (detection imports are inside)
from yamori.cli.detect import rules as _rules_group  # noqa: E402

app.add_command(_detect_command)
app.add_command(_rules_group)

from yamori.cli.cloud import cloud as _cloud_group  # noqa: E402  (boto3 and policies load inside)

app.add_command(_cloud_group)

from yamori.cli.iac import iac as _iac_command  # noqa: E402  (adapters and policies load inside)

app.add_command(_iac_command)

from yamori.cli.iac_drift import iac_drift as _iac_drift_command  # noqa: E402  (drift loads inside)

_iac_command.add_command(_iac_drift_command)  # `yamori iac drift`

from yamori.cli.sensor import sensor as _sensor_command  # noqa: E402  (capture imports are inside)

app.add_command(_sensor_command)

from yamori.cli.capture import capture as _capture_group  # noqa: E402  (readers load inside)

app.add_command(_capture_group)

from yamori.cli.server import server as _server_group  # noqa: E402  (FastAPI/SQLAlchemy load inside)

app.add_command(_server_group)

from yamori.cli.up import up as _up_command  # noqa: E402  (server, scans and sensor load inside)

app.add_command(_up_command)

from yamori.cli.workloads import workloads as _workloads_command  # noqa: E402  (podman is read inside)

app.add_command(_workloads_command)


def main() -> None:
    app(prog_name="yamori")
