"""`yamori db update | import | status`: the local vulnerability database.

Imports of httpx, sqlite3 and zstandard happen inside the commands, so registering this group
costs `yamori version` nothing. Exit codes: 0 done (warnings such as a 404 for an ecosystem or
an old database go to stderr), 2 when some input could not be used — the rest was still
ingested and whatever could not be refreshed kept its previous data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from yamori.config import ConfigError, command_defaults
from yamori.vulndb.intel import EPSS_URL, KEV_URL

if TYPE_CHECKING:
    from yamori.vulndb.store import Outcome

EXIT_INPUT_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 3600.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> timedelta:
    """`24h`, `90m`, `7d`, `1w`, `3600s`; a bare number means hours."""
    match = _DURATION.match(str(text))
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 24h, 90m or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _age(stamp: str | None) -> timedelta | None:
    if not stamp:
        return None
    try:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return datetime.now(UTC) - when


class _DbGroup(click.Group):
    """Feeds the config file's defaults to the subcommands (`db: {status: {max-age: 12h}}`,
    `db: {max-age: 12h}` or a top-level `max-age`), which the top-level group cannot reach."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            values = command_defaults([info_name or "db"]).get(info_name or "db", {})
        except ConfigError as exc:
            click.echo(f"yamori: error: {exc}", err=True)
            raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
        default_map: dict[str, dict[str, object]] = {}
        for name, command in self.commands.items():
            params = {
                opt.lstrip("-").replace("-", "_"): param.name
                for param in command.params
                for opt in param.opts
                if opt.startswith("--") and param.name
            }
            own = values.get(name)
            nested = {str(k).replace("-", "_"): v for k, v in own.items()} if isinstance(own, dict) else {}
            merged = {**{k: v for k, v in values.items() if not isinstance(v, dict)}, **nested}
            default_map[name] = {params[k]: v for k, v in merged.items() if k in params}
        extra["default_map"] = {**default_map, **(extra.get("default_map") or {})}
        return super().make_context(info_name, args, parent, **extra)


def _db_dir_option(function: F) -> F:
    return click.option(
        "--db-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="YAMORI_DB_DIR",
        help="Database directory [default: <data dir>/vulndb].",
    )(function)


def _intel_options(function: F) -> F:
    function = click.option(
        "--epss",
        metavar="URL|FILE",
        help=f"FIRST EPSS daily CSV (.gz), from a URL or a file (public: {EPSS_URL}).",
    )(function)
    return click.option(
        "--kev",
        metavar="URL|FILE",
        help=f"CISA Known Exploited Vulnerabilities JSON, URL or file (public: {KEV_URL}).",
    )(function)


def _resolve_dir(db_dir: Path | None) -> Path:
    from yamori.vulndb.store import default_db_dir

    return db_dir or default_db_dir()


def _report(outcome: Outcome, quiet: bool) -> None:
    """Summary on stdout, problems on stderr, and exit 2 if any input could not be used."""
    if not quiet:
        for ecosystem, count in outcome.loaded.items():
            click.echo(f"{ecosystem}: {count} records")
        for ecosystem in outcome.unchanged:
            click.echo(f"{ecosystem}: unchanged (not modified since last update)")
    for warning in outcome.warnings:
        click.echo(f"yamori: warning: {warning}", err=True)
    for error in outcome.errors:
        click.echo(f"yamori: error: {error}", err=True)
    if outcome.errors:
        raise click.exceptions.Exit(EXIT_INPUT_ERROR)


@click.group(cls=_DbGroup)
def db() -> None:
    """The local vulnerability database (OSV records, CISA KEV, FIRST EPSS)."""


@db.command()
@click.option(
    "--source",
    envvar="YAMORI_DB_SOURCE",
    help="Base URL holding <Ecosystem>/all.zip [default: the public OSV bucket].",
)
@click.option(
    "--ecosystem",
    "ecosystems",
    multiple=True,
    help="Ecosystem to refresh (repeatable) [default: every supported one].",
)
@_intel_options
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per request.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")
@_db_dir_option
def update(
    source: str | None,
    ecosystems: tuple[str, ...],
    kev: str | None,
    epss: str | None,
    timeout: float,
    quiet: bool,
    db_dir: Path | None,
) -> None:
    """Download OSV dumps (conditionally) and swap the new index in atomically.

    Ecosystems not downloaded this time, and any that fail, keep their previous data.
    """
    from yamori.vulndb.osv import DEFAULT_ECOSYSTEMS
    from yamori.vulndb.store import DEFAULT_SOURCE, DatabaseError
    from yamori.vulndb.store import update as run_update

    if isinstance(ecosystems, str):  # from the config file as one string
        ecosystems = (ecosystems,)
    progress = None if quiet else (lambda text: click.echo(text, err=True))
    try:
        outcome = run_update(
            _resolve_dir(db_dir),
            source=source or DEFAULT_SOURCE,
            ecosystems=list(ecosystems) or list(DEFAULT_ECOSYSTEMS),
            kev=kev,
            epss=epss,
            timeout=timeout,
            progress=progress,
        )
    except DatabaseError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    except KeyboardInterrupt:
        click.echo("yamori: error: interrupted; the previous database is unchanged", err=True)
        raise click.exceptions.Exit(130) from None
    _report(outcome, quiet)


@db.command(name="import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_intel_options
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")
@_db_dir_option
def import_(
    paths: tuple[Path, ...], kev: str | None, epss: str | None, quiet: bool, db_dir: Path | None
) -> None:
    """Load local OSV dumps (all.zip files or directories of JSON), for air-gapped sites.

    A path named after its ecosystem (PyPI/all.zip, PyPI/) replaces that ecosystem's data;
    other ecosystems in the database are kept.
    """
    from yamori.vulndb.store import DatabaseError, import_paths

    if not paths and not kev and not epss:
        raise click.UsageError("give at least one PATH, --kev or --epss")
    try:
        outcome = import_paths(_resolve_dir(db_dir), list(paths), kev=kev, epss=epss)
    except DatabaseError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    _report(outcome, quiet)


@db.command()
@click.option(
    "--max-age",
    default="24h",
    show_default=True,
    help="Warn when any ecosystem was last refreshed longer ago than this (24h, 90m, 7d).",
)
@_db_dir_option
def status(max_age: str, db_dir: Path | None) -> None:
    """Age and record counts per ecosystem, KEV and EPSS dates; warns when stale."""
    from yamori.vulndb.store import DB_FILENAME, DatabaseError, VulnerabilityDatabase

    limit = parse_duration(max_age)
    path = _resolve_dir(db_dir) / DB_FILENAME
    try:
        with VulnerabilityDatabase(path) as database:
            sources, meta = database.sources(), database.meta()
    except DatabaseError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    click.echo(f"database: {path}")
    click.echo(f"built: {meta.get('built_at', '?')}")
    stale: list[str] = []
    width = max((len(s.ecosystem) for s in sources), default=9)
    click.echo(f"{'ECOSYSTEM':<{width}}  {'RECORDS':>8}  {'WITHDRAWN':>9}  {'AGE':>5}  UPDATED")
    for source in sources:
        age = _age(source.checked_at)
        if age is None or age > limit:
            stale.append(source.ecosystem)
        shown = _human(age) if age is not None else "?"
        click.echo(
            f"{source.ecosystem:<{width}}  {source.records:>8}  {source.withdrawn:>9}  {shown:>5}"
            f"  {source.updated_at}"
        )
    if "kev_count" in meta:
        click.echo(
            f"KEV: {meta['kev_count']} entries, catalog {meta.get('kev_version', '?')}"
            f" ({meta.get('kev_released', '?')}), loaded {meta.get('kev_loaded_at', '?')}"
        )
    else:
        click.echo("KEV: not loaded")
    if "epss_count" in meta:
        click.echo(
            f"EPSS: {meta['epss_count']} scores, score date {meta.get('epss_score_date', '?')},"
            f" loaded {meta.get('epss_loaded_at', '?')}"
        )
    else:
        click.echo("EPSS: not loaded")
    if not sources:
        click.echo("yamori: warning: the database holds no OSV records", err=True)
    elif stale:
        click.echo(
            f"yamori: warning: older than {max_age}: {', '.join(stale)}; run 'yamori db update'",
            err=True,
        )
