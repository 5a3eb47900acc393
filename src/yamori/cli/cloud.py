"""`yamori cloud aws | diff | snapshots`: cloud posture scans, stored and compared over time.

A scan is collect → evaluate → report: collectors turn the AWS APIs into a ``Snapshot``, the
policy engine evaluates the builtin policies (or those of ``--framework``, plus ``--policies``)
over it, and a posture writer renders the findings. Every live scan is stored (snapshot and
findings, zstd JSON) under the data dir, which makes three things cheap: re-evaluating without
calling AWS (``--from-snapshot latest``), diffing two scans, and listing history.

Exit codes as for ``yamori image``: 0 ok, 1 a FAIL finding at or above ``--fail-on``, 2 usage or
input error (no credentials, unknown framework, a bad policy or suppressions file). Failed AWS
calls are not input errors: they are warnings on stderr and ERROR findings in every output,
never a reason to lose the rest of the scan.

Heavy imports (boto3, the policy engine, rich) happen inside the commands, so ``yamori --help``
stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from yamori.cli.db import _DbGroup  # feeds config-file defaults to subcommands (`cloud: {aws: …}`)
from yamori.iac.links import code_option, link_findings  # --code: findings name the declaring file:line
from yamori.report.registry import posture_formats
from yamori.server_client import server_options, submit_if_requested

if TYPE_CHECKING:
    from yamori.compliance.frameworks import Framework
    from yamori.model.resource import Snapshot
    from yamori.policy.interface import Policy
    from yamori.policy.suppress import Suppressions
    from yamori.posture.result import PostureResult, ReportOptions

EXIT_FINDINGS = 1
EXIT_INPUT_ERROR = 2
SEVERITY_NAMES = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
PathType = click.Path(path_type=Path)


def _fail(message: str, code: int = EXIT_INPUT_ERROR) -> click.exceptions.Exit:
    """A one-line error (no traceback) and the exit to raise."""
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(code)


def _warn(message: str) -> None:
    click.echo(f"yamori: warning: {message}", err=True)


def _csv(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()] or None


class _CloudGroup(_DbGroup):
    """Config defaults for ``cloud aws`` etc.: ``cloud: {aws: {regions: …}}``, ``cloud: {keep: 10}``."""


@click.group(cls=_CloudGroup)
def cloud() -> None:
    """Cloud posture: scan AWS accounts against CIS and other policies; diff stored scans."""


# --- policies, framework, suppressions -------------------------------------------------------


def _policies(framework: Framework | None, extra: tuple[Path, ...]) -> list[Policy]:
    """Builtin AWS policies plus ``--policies``; with a framework, those that cite it."""
    from yamori.policy import PolicyLoadError, builtin_policies, load_policies

    try:
        policies = [p for p in builtin_policies() if all(k.startswith("aws.") for k in p.kinds)]
        if extra:
            known = {p.id for p in policies}
            custom = load_policies(list(extra))
            clash = next((p for p in custom if p.id in known), None)
            if clash is not None:
                raise _fail(f"{clash.source}: policy id {clash.id!r} is already a builtin policy")
            policies.extend(custom)
    except PolicyLoadError as exc:
        raise _fail(str(exc).splitlines()[0] + _more(str(exc))) from None
    if framework is not None:
        policies = [p for p in policies if framework.id in p.compliance]
        if not policies:
            raise _fail(f"no policy maps to framework {framework.id!r} (add some with --policies)")
    if not policies:
        raise _fail("no policies to evaluate (none builtin; pass --policies FILE|DIR)")
    return policies


def _more(text: str) -> str:
    lines = text.splitlines()
    return f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""


def _framework(framework_id: str | None) -> Framework | None:
    if not framework_id:
        return None
    from yamori.compliance.frameworks import FrameworkError, load_framework

    try:
        framework = load_framework(framework_id)
    except FrameworkError as exc:
        raise _fail(str(exc)) from None
    if framework.provider != "aws":
        raise _fail(f"framework {framework_id!r} is for {framework.provider}, not aws")
    return framework


def _suppressions(path: Path | None) -> Suppressions | None:
    if path is None:
        return None
    from yamori.policy import PolicyLoadError, load_suppressions

    try:
        return load_suppressions(path)
    except PolicyLoadError as exc:
        raise _fail(str(exc).splitlines()[0] + _more(str(exc))) from None


# --- collection ------------------------------------------------------------------------------


def _collect(opts: dict[str, Any], quiet: bool) -> Snapshot:
    from yamori.cli.main import progress_display
    from yamori.posture.aws import AccessError, collect, plan_collection, settings_for
    from yamori.sources.aws.registry import all_collectors
    from yamori.sources.aws.runner import DEFAULT_RATES, RateLimits

    try:
        collectors = all_collectors(_csv(opts["services"]))
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    rate = opts["rate_limit"]
    limits = (
        RateLimits()
        if rate is None
        else RateLimits(rates={} if rate == 0 else dict(DEFAULT_RATES), default=rate)
    )
    settings = settings_for(
        profile=opts["profile"],
        endpoint_url=opts["endpoint_url"],
        external_id=opts["external_id"],
        max_attempts=opts["max_attempts"],
    )
    try:
        plan = plan_collection(
            settings,
            role_arns=opts["role_arn"],
            org_role_name=opts["org_role_name"],
            regions=_csv(opts["regions"]),
            collectors=collectors,
            limits=limits,
        )
    except AccessError as exc:
        raise _fail(str(exc)) from None
    with progress_display(quiet, "collecting") as (advance, set_total):
        set_total(str(plan.units))
        return collect(
            plan,
            workers=opts["workers"],
            limits=limits,
            on_done=lambda _account, region, service: advance(f"{service} {region or 'global'}"),
        )


def _report_collection_errors(snapshot: Snapshot) -> None:
    """One line per failed listing; failed per-resource reads grouped by kind, attribute and
    message (a missing permission fails the same way on every bucket)."""
    for error in snapshot.errors:
        place = f"{error.account}/{error.region}" if error.region else error.account
        _warn(f"{error.call} failed in {place} ({error.kind}): {error.message}")
    grouped: Counter[tuple[str, str, str]] = Counter()
    for resource in snapshot.resources:
        for attribute, message in resource.errors.items():
            grouped[(resource.kind, attribute, message.splitlines()[0][:160])] += 1
    for (kind, attribute, message), count in sorted(grouped.items()):
        plural = "resource" if count == 1 else "resources"
        _warn(f"{kind} {attribute} not collected ({count} {plural}): {message}")


# --- output ----------------------------------------------------------------------------------


def _emit(result: PostureResult, fmt: str, output: Path | None, options: ReportOptions) -> None:
    from yamori.report.registry import posture_writer

    writer = posture_writer(fmt)
    if output is None:
        writer.write(result, sys.stdout, options)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer.write(result, handle, options)
    os.replace(tmp, output)


def _gate(result: PostureResult, fail_on: str | None) -> None:
    """Exit 1 when a FAIL finding (not suppressed) is at or above ``--fail-on``."""
    if not fail_on:
        return
    from yamori.model.finding import Severity, Status

    threshold = Severity(fail_on.upper()).rank
    if any(f.status is Status.FAIL and f.severity.rank >= threshold for f in result.findings):
        raise click.exceptions.Exit(EXIT_FINDINGS)


@cloud.command()
@click.option("--regions", help="Comma-separated regions (default: every region enabled for the account).")
@click.option("--services", help="Comma-separated collectors, e.g. iam,s3,ec2 (default: all).")
@click.option("--profile", envvar="AWS_PROFILE", help="AWS profile from ~/.aws/config.")
@click.option("--role-arn", multiple=True, help="Assume this role; repeat for one account each.")
@click.option("--org-role-name", help="Scan every Organizations account by assuming this role name.")
@click.option("--external-id", help="ExternalId for the assumed roles.")
@click.option(
    "--endpoint-url", envvar="YAMORI_AWS_ENDPOINT_URL", help="AWS endpoint override (moto, VPC endpoint)."
)
@click.option(
    "--framework", help="Evaluate only the policies of this framework and score it (e.g. cis-aws-3.0)."
)
@click.option("--policies", type=PathType, multiple=True, help="Extra policy FILE or DIR (repeatable).")
@click.option("--suppressions", type=PathType, help="Suppressions file (accepted risks).")
@click.option(
    "--format",
    "-f",
    "fmt",
    default="table",
    show_default=True,
    help=f"Output format: {'|'.join(posture_formats())}.",
)
@click.option(
    "--group-by",
    type=click.Choice(["control", "resource"]),
    default="control",
    show_default=True,
    help="Table grouping.",
)
@click.option("--output", "-o", type=PathType, help="Write the report to FILE instead of stdout.")
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITY_NAMES, case_sensitive=False),
    help="Exit 1 when a FAIL finding is at or above this severity.",
)
@click.option(
    "--from-snapshot",
    help="Re-evaluate a stored scan or snapshot FILE (or 'latest'/'previous') without calling AWS.",
)
@click.option(
    "--save-snapshot",
    type=PathType,
    help="Also write the scan (snapshot + findings) to FILE (.zst: compressed).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Collector units run at once."
)
@click.option(
    "--show-pass", is_flag=True, help="Table: also show PASS, NOT_APPLICABLE and suppressed findings."
)
@click.option(
    "--keep",
    type=click.IntRange(1, None),
    default=30,
    show_default=True,
    envvar="YAMORI_CLOUD_KEEP",
    help="Stored scans kept per account (older ones are deleted).",
)
@click.option("--no-store", is_flag=True, help="Do not store this scan in the data dir.")
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 20),
    default=8,
    show_default=True,
    help="Attempts per AWS call (adaptive retries).",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(0, None),
    help="AWS calls per second per service and account (0: unlimited; default 20, IAM 10).",
)
@code_option
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--debug", is_flag=True, help="Show tracebacks and collector logs.")
@server_options
def aws(**opts: Any) -> None:  # fmt: skip
    """Scan AWS accounts: collect a snapshot, evaluate posture policies, report and store.

    Default: the caller's account, every enabled region, every collector, every builtin policy.
    """
    from yamori.posture.result import ReportOptions

    fmt, debug = opts["fmt"], opts["debug"]
    if fmt not in posture_formats():
        raise _fail(f"unknown format {fmt!r}; choose one of: {', '.join(posture_formats())}")
    if opts["from_snapshot"] and (opts["role_arn"] or opts["org_role_name"] or opts["regions"]):
        raise _fail(
            "--from-snapshot re-evaluates a stored scan: it takes no --regions/--role-arn/--org-role-name"
        )
    logger = logging.getLogger("yamori")
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    elif not logger.handlers:
        logger.addHandler(logging.NullHandler())  # warnings are printed once, by this command
    framework = _framework(opts["framework"])
    policies = _policies(framework, opts["policies"])
    suppressions = _suppressions(opts["suppressions"])
    try:
        if opts["from_snapshot"]:
            from yamori.posture.store import StoreError, read_scan, resolve_scan

            try:
                snapshot = read_scan(resolve_scan(opts["from_snapshot"])).snapshot
            except StoreError as exc:
                raise _fail(str(exc)) from None
        else:
            snapshot = _collect(opts, opts["quiet"])
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    _report_collection_errors(snapshot)
    result = _evaluate(snapshot, policies, framework, suppressions)
    link_findings(result, opts["code"])
    for warning in result.warnings:
        _warn(warning)
    _store(result, opts)
    _emit(result, fmt, opts["output"], ReportOptions(show_pass=opts["show_pass"], group_by=opts["group_by"]))
    if opts["server_url"]:
        from yamori.report.posture_json import result_to_json

        submit_if_requested(opts["server_url"], opts["token"], result_to_json(result), "posture")
    _gate(result, opts["fail_on"])


def _evaluate(
    snapshot: Snapshot, policies: list[Policy], framework: Framework | None, suppressions: Suppressions | None
) -> PostureResult:
    """Evaluate at the snapshot's time: age checks (key rotation, unused credentials) and
    suppression expiry are judged as of the moment the account looked like this, so a stored
    scan re-evaluates to the same findings tomorrow."""
    from datetime import datetime

    from yamori.policy import evaluate_full
    from yamori.posture.result import PostureResult

    try:
        moment: datetime | None = datetime.fromisoformat(snapshot.taken_at.replace("Z", "+00:00"))
    except ValueError:  # a hand-made snapshot without a usable time: judge as of now
        moment = None
    evaluated = evaluate_full(
        policies,
        snapshot.resources,
        errors=snapshot.errors,
        now=moment,
        suppressions=suppressions,
        accounts=snapshot.accounts,
    )
    return PostureResult(snapshot, evaluated.findings, framework, policies, list(evaluated.warnings))


def _store(result: PostureResult, opts: dict[str, Any]) -> None:
    from yamori.posture.store import save_scan, scan_document, write_document

    try:
        if not opts["from_snapshot"] and not opts["no_store"]:
            save_scan(result, keep=opts["keep"])
        if opts["save_snapshot"]:
            write_document(opts["save_snapshot"], scan_document(result))
    except OSError as exc:
        # The report is still written: losing history is worse than losing the whole scan.
        _warn(f"could not store the scan: {exc}")


# --- diff and history ------------------------------------------------------------------------


@cloud.command()
@click.argument("a")
@click.argument("b")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--output", "-o", type=PathType, help="Write the diff to FILE instead of stdout.")
def diff(a: str, b: str, fmt: str, output: Path | None) -> None:
    """What changed from stored scan A to B (paths, or 'latest' / 'previous').

    Findings: new, resolved, and changed (status or severity) by stable finding id. Resources:
    added, removed, and changed (top-level attributes that differ).
    """
    from yamori.posture.diff import diff_scans
    from yamori.posture.store import StoreError, read_scan, resolve_scan

    try:
        result = diff_scans(read_scan(resolve_scan(a)), read_scan(resolve_scan(b)))
    except StoreError as exc:
        raise _fail(str(exc)) from None
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        if fmt == "json":
            import orjson

            out.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            from yamori.posture.difftable import print_diff

            print_diff(result, out)
    finally:
        if output:
            out.close()


@cloud.command()
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def snapshots(fmt: str) -> None:
    """List stored scans, oldest first: time, accounts, regions, resources, findings, path."""
    from yamori.posture.store import StoreError, list_scans, read_scan, scans_root

    rows: list[dict[str, Any]] = []
    for path in list_scans():
        try:
            scan = read_scan(path)
        except StoreError as exc:
            _warn(str(exc))
            continue
        snap = scan.snapshot
        rows.append(
            {
                "taken_at": snap.taken_at,
                "accounts": snap.accounts,
                "regions": snap.regions,
                "resources": len(snap.resources),
                "findings": None if scan.findings is None else len(scan.findings),
                "framework": scan.framework,
                "path": str(path),
            }
        )
    if fmt == "json":
        import orjson

        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo(f"no stored scans in {scans_root()}")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for column in ("Time", "Accounts", "Regions", "Resources", "Findings", "Path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["taken_at"],
            escape(", ".join(row["accounts"])),
            str(len(row["regions"])) if len(row["regions"]) > 3 else escape(", ".join(row["regions"])),
            str(row["resources"]),
            "-" if row["findings"] is None else str(row["findings"]),
            escape(row["path"]),
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
