"""`yamori iac`: load code with every registered adapter, evaluate policies, apply skips and
the baseline — the whole run apart from argument parsing and output.

Why the scan qualifies resource ids: an adapter's id is unique within its unit (a Terraform root
module, a template, a manifest), but a repository holds many units and two of them may both
declare ``aws_s3_bucket.logs``. Finding ids, suppressions and the baseline need one id per
declared object, so the scan prefixes the unit's path relative to the scanned root
(``envs/prod#aws_s3_bucket.logs``, ``stacks/app.yaml#Bucket``); a unit that *is* the root keeps
the bare address. Locations and origins are rebased to that same root, so every ``file:line``
in a report opens from where the user stood.

Which policies run: every non-manual builtin (and ``--policies``) policy over a kind the code
declared — the AWS CIS policies unchanged, since adapters produce the live resource shapes.
Account-scoped policies run over the declared resources as one "account", located at the
resources behind them. Code is a partial view of an account, which changes what a FAIL can mean:
"every trail validates its logs" (``match: all``) is refuted by one declared trail, but "some
trail feeds an alarm for root logins" (``match: any``) is not refuted by code that declares no
such alarm — it may live in another repository. Those FAILs become UNKNOWN, which never fails
the gate, and say why.

Order of acceptance, each step only on what is still failing: ``--suppressions`` file and
``yamori:ignore`` tags (the engine), inline skips, then the baseline (new FAILs only fail).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from yamori.model.finding import Finding, Status
from yamori.model.resource import CollectionError, Resource, Snapshot
from yamori.posture.result import PostureResult

if TYPE_CHECKING:
    from yamori.compliance.frameworks import Framework
    from yamori.policy.interface import Policy
    from yamori.sources.iac.interface import IacAdapter, IacOptions, IacResult

__all__ = ["IacScan", "IacScanError", "IacScanOptions", "qualify", "run_scan"]

PROVIDER: Final = "iac"
_MAX_LOCATIONS: Final = 20
# Adapters whose units are evaluated in child processes (tfparse): scheduled first.
_OUT_OF_PROCESS: Final = frozenset({"terraform"})


class IacScanError(Exception):
    """A usage or input error (exit 2): the message is one line."""


@dataclass(slots=True)
class IacScanOptions:
    var_files: list[Path] = field(default_factory=list)
    framework: str | None = None
    policies: list[Path] = field(default_factory=list)
    suppressions: Path | None = None
    inline_skips: bool = True
    baseline: Path | None = None
    create_baseline: Path | None = None
    now: datetime | None = None
    on_unit: Callable[[str], None] | None = None


@dataclass(slots=True)
class IacScan:
    """The posture result plus what only an IaC run knows: the root, units, file errors."""

    result: PostureResult
    base: Path
    units: int = 0
    scanned: int = 0  # units that yielded something (not a total failure)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    baselined: int = 0
    baseline_fixed: int = 0
    baseline_written: int | None = None

    @property
    def nothing_scanned(self) -> bool:
        """Every unit failed (or a named path was missing): the run proves nothing."""
        return self.units > 0 and self.scanned == 0


# --- loading ---------------------------------------------------------------------------------


def _path_base(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def scan_base(paths: Iterable[Path]) -> Path:
    """The directory reports are relative to: the path itself, or what several paths share."""
    bases = [str(_path_base(p).resolve()) for p in paths]
    return Path(os.path.commonpath(bases)) if bases else Path.cwd()


def qualify(unit: str, resource_id: str) -> str:
    """The scan-wide id of a resource declared in ``unit`` (relative path, ``"."`` for the root)."""
    return resource_id if unit in ("", ".") else f"{unit}#{resource_id}"


def _rebase(location: str, prefix: str) -> str:
    return location if not location or prefix in ("", ".") else f"{prefix}/{location}"


@dataclass(slots=True)
class _Loaded:
    resources: list[Resource] = field(default_factory=list)
    units: int = 0
    scanned: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _adapters() -> list[IacAdapter]:
    from yamori.sources.iac import registry

    return [registry.adapter(name) for name in registry.names()]


def _workers() -> int:
    """Units load in parallel: a Terraform module is evaluated in a child process (tfparse), so
    threads overlap those processes; template parsing stays on the GIL and gains little."""
    return max(1, min(8, os.cpu_count() or 1))


def load(paths: list[Path], options: IacOptions, on_unit: Callable[[str], None] | None = None) -> _Loaded:
    """Every adapter's resources under ``paths``, ids qualified and locations rebased to
    :func:`scan_base`. A bad file costs that file: its errors are lines in the result.

    Results are merged in a fixed order (path, adapter, unit), whatever order loads finish in,
    so reports and finding order do not vary between runs.
    """
    from concurrent.futures import ThreadPoolExecutor

    base = scan_base(paths)
    loaded = _Loaded()
    seen: set[tuple[str, Path]] = set()
    adapters = _adapters()
    jobs: list[tuple[str, str, IacAdapter, Path, Path]] = []  # (prefix, rel, adapter, unit, root)
    for path in paths:
        if not path.exists():
            loaded.errors.append(f"{path}: no such file or directory")
            loaded.units += 1
            continue
        root = _path_base(path)
        prefix = os.path.relpath(root.resolve(), base).replace(os.sep, "/")
        for dialect in adapters:
            units = dialect.inputs(path) if path.is_dir() else ([path] if dialect.claims(path) else [])
            for unit in units:
                key = (dialect.name, unit.resolve())
                if key in seen:  # overlapping PATHs: load each unit once
                    continue
                seen.add(key)
                rel = os.path.relpath(unit.resolve(), base).replace(os.sep, "/")
                jobs.append((prefix, rel, dialect, unit, root))

    def one(job: tuple[str, str, IacAdapter, Path, Path]) -> IacResult:
        _, rel, dialect, unit, root = job
        out = dialect.load(unit, options, root=root)
        if on_unit is not None:
            on_unit(rel)
        return out

    # Out-of-process units first: their child processes then run while the threads parse
    # templates in this process, instead of all queueing up at the end. Merge order below is
    # still the job order.
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][2].name not in _OUT_OF_PROCESS, i))
    results: list[IacResult | None] = [None] * len(jobs)
    try:
        with ThreadPoolExecutor(max_workers=_workers()) as pool:
            for index, out in zip(order, pool.map(one, [jobs[i] for i in order]), strict=True):
                results[index] = out
    finally:
        for dialect in adapters:
            close = getattr(dialect, "close", None)  # adapters holding workers between units
            if callable(close):
                close()
    for (prefix, rel, _, _, _), maybe in zip(jobs, results, strict=True):
        assert maybe is not None
        out = maybe
        loaded.units += 1
        if out.resources or not out.errors:
            loaded.scanned += 1
        loaded.errors.extend(_rebase(str(e), prefix) for e in out.errors)
        loaded.warnings.extend(_rebase(str(w), prefix) for w in out.warnings)
        for resource in out.resources:
            resource.id = qualify(rel, resource.id)
            resource.location = _rebase(resource.location, prefix)
            resource.origins = {k: _rebase(v, prefix) for k, v in resource.origins.items()}
            loaded.resources.append(resource)
    return loaded


# --- policies --------------------------------------------------------------------------------


def _framework(framework_id: str | None) -> Framework | None:
    if not framework_id:
        return None
    from yamori.compliance.frameworks import FrameworkError, load_framework

    try:
        return load_framework(framework_id)
    except FrameworkError as exc:
        raise IacScanError(str(exc)) from None


def _first_line(text: str) -> str:
    lines = text.splitlines()
    return lines[0] + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


def select_policies(kinds: set[str], framework: Framework | None, extra: list[Path]) -> list[Policy]:
    """Non-manual builtin and ``--policies`` policies over the declared kinds (of the framework)."""
    from yamori.policy import PolicyLoadError, builtin_policies, load_policies

    try:
        builtin = builtin_policies()
        custom = load_policies(extra) if extra else []
    except PolicyLoadError as exc:
        raise IacScanError(_first_line(str(exc))) from None
    known = {p.id for p in builtin}
    clash = next((p for p in custom if p.id in known), None)
    if clash is not None:
        raise IacScanError(f"{clash.source}: policy id {clash.id!r} is already a builtin policy")
    chosen = [p for p in [*builtin, *custom] if not p.manual and kinds.intersection(p.kinds)]
    if framework is not None:
        chosen = [p for p in chosen if framework.id in p.compliance]
    return chosen


# --- after evaluation ------------------------------------------------------------------------


def _locate_account_findings(findings: list[Finding], resources: list[Resource]) -> None:
    """Give account-scoped findings the locations of the resources behind them: the failing ones
    when listed, else every declared resource of the kinds (a FAIL of "no trail is
    multi-region" is fixed in one of them)."""
    by_id = {r.id: r for r in resources}
    by_kind: dict[str, list[Resource]] = {}
    for r in resources:
        by_kind.setdefault(r.kind, []).append(r)
    for finding in findings:
        if finding.resource in by_id or "location" in finding.evidence:
            continue
        listed = finding.evidence.get("failing") or finding.evidence.get("passing")
        if isinstance(listed, list) and listed:
            subjects = [by_id[i] for i in listed if isinstance(i, str) and i in by_id]
        else:
            kinds = finding.resource.partition("@")[0].split(",")
            subjects = [r for k in kinds for r in by_kind.get(k, [])]
        places = list(dict.fromkeys(r.location for r in subjects if r.location))
        if places:
            finding.evidence["location"] = places[0]
            finding.evidence["locations"] = places[:_MAX_LOCATIONS]


def _partial_view(findings: list[Finding], policies: list[Policy]) -> None:
    """``match: any`` account-scoped FAILs → UNKNOWN: the code need not declare the whole account."""
    from yamori.policy.interface import MatchMode, Scope

    existential = {p.id for p in policies if p.scope is Scope.ACCOUNT and p.match is MatchMode.ANY}
    for finding in findings:
        if finding.status is Status.FAIL and finding.rule_id in existential:
            finding.status = Status.UNKNOWN
            finding.evidence["message"] = (
                f"not declared in the scanned code ({finding.evidence.get('message', '')}); "
                "the account may satisfy it elsewhere"
            )


def _suppressions(path: Path | None) -> Any:
    if path is None:
        return None
    from yamori.policy import PolicyLoadError, load_suppressions

    try:
        return load_suppressions(path)
    except PolicyLoadError as exc:
        raise IacScanError(_first_line(str(exc))) from None


def run_scan(paths: list[Path], options: IacScanOptions) -> IacScan:
    """Load, evaluate, accept (suppressions, inline skips, baseline) and package the result.

    Raises :class:`IacScanError` for usage and input errors (bad policy, framework, suppressions
    or baseline file). Unparseable IaC files are not input errors: they are lines in
    ``IacScan.errors`` and the rest of the code is still reported.
    """
    from yamori.iac.baseline import BaselineError, apply_baseline, load_baseline, write_baseline
    from yamori.iac.skips import apply_skips, collect_skips
    from yamori.policy import evaluate_full
    from yamori.sources.iac.interface import IacOptions

    framework = _framework(options.framework)
    suppressions = _suppressions(options.suppressions)
    baseline = None
    if options.baseline is not None:
        try:
            baseline = load_baseline(options.baseline)
        except BaselineError as exc:
            raise IacScanError(str(exc)) from None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # a mistyped path in CI must not pass as "nothing found"
        raise IacScanError(f"{', '.join(missing)}: no such file or directory")
    for var_file in options.var_files:
        if not var_file.is_file():
            raise IacScanError(f"--var-file {var_file}: no such file")
    moment = options.now or datetime.now(UTC)
    loaded = load(paths, IacOptions(var_files=list(options.var_files)), options.on_unit)
    base = scan_base(paths)
    policies = select_policies({r.kind for r in loaded.resources}, framework, options.policies)
    evaluated = evaluate_full(policies, loaded.resources, now=moment, suppressions=suppressions)
    findings = evaluated.findings
    _locate_account_findings(findings, loaded.resources)
    _partial_view(findings, policies)
    skips = collect_skips(loaded.resources, base)
    warnings = [*loaded.warnings, *evaluated.warnings, *skips.warnings]
    warnings.extend(apply_skips(findings, skips, enabled=options.inline_skips))
    scan = IacScan(
        result=PostureResult(
            Snapshot(
                provider=PROVIDER,
                taken_at=moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                resources=loaded.resources,
                # File errors travel with the result (JSON `collection_errors`), never evaluated.
                errors=[CollectionError("iac.file", "", "", "parse", e) for e in loaded.errors],
            ),
            findings,
            framework,
            policies,
        ),
        base=base,
        units=loaded.units,
        scanned=loaded.scanned,
        errors=list(loaded.errors),
    )
    if options.create_baseline is not None:
        try:
            scan.baseline_written = write_baseline(options.create_baseline, findings)
        except OSError as exc:
            raise IacScanError(
                f"{options.create_baseline}: cannot write baseline: {exc.strerror or exc}"
            ) from None
    if baseline is not None:
        scan.baselined, scan.baseline_fixed = apply_baseline(findings, baseline)
        if scan.baseline_fixed:
            warnings.append(
                f"{scan.baseline_fixed} baseline entries no longer fail (fixed or removed); "
                "regenerate the baseline with --create-baseline"
            )
    scan.warnings = list(dict.fromkeys(warnings))
    scan.result.warnings = list(scan.warnings)  # errors travel as snapshot.errors
    return scan


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """FAIL findings still failing after suppressions, skips and the baseline."""
    return [f for f in findings if f.status is Status.FAIL]
