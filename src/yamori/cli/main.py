"""`yamori` command line: `sbom`, `image`, `fs`, `rootfs`, `host`.

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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yamori import __version__
from yamori.cli.quickparams import QuickCommand, QuickGroup
from yamori.config import ConfigError, command_defaults
from yamori.config import cache_dir as default_cache_dir
from yamori.report.registry import formats, writer
from yamori.scan.errors import ScanError

if TYPE_CHECKING:
    from yamori.model import ScanResult
    from yamori.scan.scanner import ProgressCallback, ScanSettings
    from yamori.sources.interface import SourceOptions

app = typer.Typer(
    name="yamori",
    help="Cloud and container security: inventory, SBOMs, and more to come.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=QuickGroup,
)

EXIT_OK = 0
EXIT_INPUT_ERROR = 2

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", "-f", help=f"Output format: {'|'.join(['table', 'json', 'cyclonedx', 'spdx'])}."
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to FILE instead of stdout.")
]
PlatformOpt = Annotated[
    str | None, typer.Option("--platform", help="Image platform os/arch[/variant] from a multi-arch index.")
]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="Allow plain HTTP and unverified TLS to the registry.")
]
UserOpt = Annotated[str | None, typer.Option("--username", envvar="YAMORI_USERNAME", help="Registry user.")]
PasswordOpt = Annotated[
    str | None, typer.Option("--password", envvar="YAMORI_PASSWORD", help="Registry password or token.")
]
CacheDirOpt = Annotated[
    Path | None, typer.Option("--cache-dir", envvar="YAMORI_CACHE_DIR", help="Cache directory.")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the layer cache.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
ParallelOpt = Annotated[int, typer.Option("--parallel", help="Layers analysed at once.", min=1, max=16)]
StorageRootOpt = Annotated[
    Path | None,
    typer.Option("--storage-root", envvar="YAMORI_STORAGE_ROOT", help="containers-storage graph root."),
]


def fail(message: str, code: int = EXIT_INPUT_ERROR) -> typer.Exit:
    """Print a one-line error (no traceback) and give the exit to raise."""
    typer.echo(f"yamori: error: {message}", err=True)
    return typer.Exit(code)


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


def _emit(result: ScanResult, fmt: str, output: Path | None) -> None:
    try:
        report = writer(fmt)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
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
    _emit(result, fmt, output)
    for error in result.errors:
        typer.echo(f"yamori: error: {error}", err=True)
    if result.errors:
        raise typer.Exit(EXIT_INPUT_ERROR)


def _options(
    platform: str | None,
    insecure: bool,
    username: str | None,
    password: str | None,
    storage_root: Path | None,
) -> SourceOptions:
    from yamori.sources.interface import SourceOptions

    return SourceOptions(
        platform=platform,
        insecure=insecure,
        username=username,
        password=password,
        storage_root=storage_root,
    )


@app.command(cls=QuickCommand)
def sbom(
    target: Annotated[
        str,
        typer.Argument(
            help="Image reference, oci:DIR[:tag], docker-archive:FILE, containers-storage:NAME, "
            "a directory, / for the host, or a CycloneDX/SPDX document."
        ),
    ],
    fmt: FormatOpt = "cyclonedx",
    output: OutputOpt = None,
    platform: PlatformOpt = None,
    insecure: InsecureOpt = False,
    username: UserOpt = None,
    password: PasswordOpt = None,
    storage_root: StorageRootOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    parallel: ParallelOpt = 2,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Software bill of materials of any target (CycloneDX by default)."""
    from yamori.scan.target import scan_any

    options = _options(platform, insecure, username, password, storage_root)
    _run(
        target,
        lambda s, adv, tot: scan_any(target, s, options, adv, tot),
        fmt=fmt,
        output=output,
        cache_dir=cache_dir,
        no_cache=no_cache,
        quiet=quiet,
        debug=debug,
        parallel=parallel,
    )


@app.command(cls=QuickCommand)
def image(
    reference: Annotated[
        str,
        typer.Argument(
            help="registry/repo:tag, @sha256:…, oci:DIR[:tag], docker-archive:FILE, containers-storage:NAME"
        ),
    ],
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    platform: PlatformOpt = None,
    insecure: InsecureOpt = False,
    username: UserOpt = None,
    password: PasswordOpt = None,
    storage_root: StorageRootOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    parallel: ParallelOpt = 2,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Inventory of a container image, each package with the layer that introduced it."""
    from yamori.scan.target import scan_image_reference

    options = _options(platform, insecure, username, password, storage_root)
    _run(
        reference,
        lambda s, adv, tot: scan_image_reference(reference, s, options, adv, tot),
        fmt=fmt,
        output=output,
        cache_dir=cache_dir,
        no_cache=no_cache,
        quiet=quiet,
        debug=debug,
        parallel=parallel,
    )


def _directory_command(
    path: Path, scope: str, artifact_type: str, label: str
) -> Callable[[ScanSettings, ProgressCallback, ProgressCallback], ScanResult]:
    def scan(settings: ScanSettings, advance: ProgressCallback, _total: ProgressCallback) -> ScanResult:
        settings.scope = scope
        if not path.is_dir():
            raise ScanError(f"{path}: not a directory")
        from yamori.scan.target import scan_directory

        return scan_directory(path, settings, artifact_type=artifact_type, progress=advance)

    return scan


@app.command(cls=QuickCommand)
def fs(
    path: Annotated[Path, typer.Argument(help="A project directory (lockfiles count).")],
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Inventory of a project directory, lockfiles included."""
    _run(
        str(path),
        _directory_command(path, "fs", "filesystem", str(path)),
        fmt=fmt,
        output=output,
        cache_dir=cache_dir,
        no_cache=True,
        quiet=quiet,
        debug=debug,
        parallel=1,
    )


@app.command(cls=QuickCommand)
def rootfs(
    path: Annotated[Path, typer.Argument(help="An unpacked root filesystem.")],
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Inventory of an unpacked root filesystem (installed packages only, no lockfiles)."""
    _run(
        str(path),
        _directory_command(path, "rootfs", "filesystem", str(path)),
        fmt=fmt,
        output=output,
        cache_dir=cache_dir,
        no_cache=True,
        quiet=quiet,
        debug=debug,
        parallel=1,
    )


@app.command(cls=QuickCommand)
def host(
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    root: Annotated[Path, typer.Option("--root", help="Root of the host filesystem.")] = Path("/"),
    cache_dir: CacheDirOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Inventory of the running host (skips /proc, /sys, /dev, /run and container storage)."""
    _run(
        "host",
        _directory_command(root, "rootfs", "host", "host"),
        fmt=fmt,
        output=output,
        cache_dir=cache_dir,
        no_cache=True,
        quiet=quiet,
        debug=debug,
        parallel=1,
    )


@app.command(cls=QuickCommand)
def version() -> None:
    """Print yamori's version."""
    typer.echo(f"yamori {__version__}")


@app.callback()
def _load_config(ctx: typer.Context) -> None:
    """Option defaults from ~/.config/yamori/config.yaml (see yamori.config.command_defaults)."""
    commands = getattr(ctx.command, "commands", {}) or {}
    try:
        defaults = command_defaults(list(commands))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    default_map: dict[str, dict[str, object]] = {}
    for name, values in defaults.items():
        # The file speaks in flag names (format, cache-dir); click wants parameter names (fmt).
        by_flag = {
            opt.lstrip("-").replace("-", "_"): param.name
            for param in commands[name].params
            for opt in getattr(param, "opts", [])
            if opt.startswith("--") and param.name
        }
        default_map[name] = {by_flag[key]: value for key, value in values.items() if key in by_flag}
    if default_map:
        ctx.default_map = {**default_map, **(ctx.default_map or {})}


def main() -> None:
    app()
