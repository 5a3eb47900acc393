"""Which vulnerability findings a report shows and whether CI fails: pure functions, no CLI.

Users silence findings in three ways, each for a different reason, and every silenced finding
keeps its reason so an auditor can see what was waived and by whom:

- `--severity` / `--ignore-unfixed`: the user's view of what matters now;
- `.yamoriignore`: an accepted risk, always with a reason and ideally an expiry, so waivers are
  revisited instead of forgotten (an expired entry stops suppressing and says so);
- OpenVEX: the supplier's or the team's statement that the product is not affected (with a
  justification, as the spec requires) or already fixed.

Suppressed findings are copies with `status = SUPPRESSED` and `evidence["suppressed"]` set;
the input findings are never modified, so the caller can still report the full list.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from yamori.model import Finding, FindingKind, Severity, Status
from yamori.model.vulnerability import FixState, VulnerabilityDetails


class GateInputError(ValueError):
    """An ignore file or VEX document that cannot be used: the message is one line for the user."""


# ── ignore file ────────────────────────────────────────────────────────────────────────────────

_IGNORE_KEYS = {"id", "package", "paths", "expires", "reason"}


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    """One waiver: an advisory (by id or alias), optionally narrowed to a package and paths."""

    id: str
    reason: str
    package: str | None = None
    paths: tuple[str, ...] = ()
    expires: date | None = None

    def matches(self, details: VulnerabilityDetails) -> bool:
        ids = {details.id.upper(), *(a.upper() for a in details.aliases)}
        if self.id.upper() not in ids:
            return False
        if self.package is not None:
            if self.package.startswith("pkg:"):
                if not details.purl.startswith(self.package):
                    return False
            elif self.package != details.package_name:
                return False
        if self.paths:
            location = details.package_location.lstrip("/")
            if not any(fnmatch.fnmatchcase(location, p.lstrip("/")) for p in self.paths):
                return False
        return True


@dataclass(slots=True)
class IgnoreRules:
    """The active entries of an ignore file; `warnings` name the entries that have expired."""

    entries: list[IgnoreEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source: str = ".yamoriignore"

    def match(self, details: VulnerabilityDetails) -> IgnoreEntry | None:
        return next((e for e in self.entries if e.matches(details)), None)


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise GateInputError(f"{where}: 'expires' must be a date like 2026-12-31, got {value!r}")


def _parse_entry(raw: Any, where: str) -> IgnoreEntry:
    if not isinstance(raw, Mapping):
        raise GateInputError(f"{where}: each entry must be a mapping with at least 'id' and 'reason'")
    unknown = sorted(set(raw) - _IGNORE_KEYS)
    if unknown:
        raise GateInputError(
            f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_IGNORE_KEYS))}"
        )
    vuln_id = raw.get("id")
    if not isinstance(vuln_id, str) or not vuln_id.strip():
        raise GateInputError(f"{where}: 'id' is required (an advisory id or alias such as a CVE)")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise GateInputError(f"{where} ({vuln_id}): 'reason' is required: say why this is accepted")
    package = raw.get("package")
    if package is not None and (not isinstance(package, str) or not package):
        raise GateInputError(f"{where} ({vuln_id}): 'package' must be a name or a purl prefix")
    paths = raw.get("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise GateInputError(f"{where} ({vuln_id}): 'paths' must be a list of glob patterns")
    expires = raw.get("expires")
    return IgnoreEntry(
        id=vuln_id.strip(),
        reason=reason.strip(),
        package=package,
        paths=tuple(paths),
        expires=None if expires is None else _as_date(expires, f"{where} ({vuln_id})"),
    )


def parse_ignore(text: str, *, source: str = ".yamoriignore", today: date | None = None) -> IgnoreRules:
    """Parse an ignore file: a YAML list of entries, or a mapping with an `ignore:` list.

    Validation is strict — a misspelt key (`expire:`) would otherwise make a waiver silently
    permanent or silently ineffective — and every error is one line naming the entry.
    """
    import yaml  # here: only scans that use an ignore file pay for the YAML loader

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise GateInputError(f"{source}: not valid YAML{where}") from None
    if data is None:
        return IgnoreRules(source=source)
    if isinstance(data, Mapping):
        extra = sorted(set(data) - {"ignore"})
        if extra:
            raise GateInputError(f"{source}: unknown top-level key {extra[0]!r}; expected 'ignore'")
        data = data.get("ignore") or []
    if not isinstance(data, list):
        raise GateInputError(f"{source}: expected a list of entries (or 'ignore:' with a list)")
    today = today or date.today()
    rules = IgnoreRules(source=source)
    for i, raw in enumerate(data, 1):
        entry = _parse_entry(raw, f"{source} entry {i}")
        if entry.expires is not None and entry.expires < today:
            rules.warnings.append(
                f"{source}: the entry for {entry.id} expired on {entry.expires.isoformat()} and "
                "no longer suppresses it; renew or remove it"
            )
            continue
        rules.entries.append(entry)
    return rules


def load_ignore(path: Path, *, today: date | None = None) -> IgnoreRules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateInputError(f"{path}: cannot read the ignore file ({exc.strerror})") from None
    return parse_ignore(text, source=str(path), today=today)


# ── OpenVEX ────────────────────────────────────────────────────────────────────────────────────

_VEX_STATUSES = {"not_affected", "affected", "fixed", "under_investigation"}
_SUPPRESSING = {"not_affected", "fixed"}


@dataclass(frozen=True, slots=True)
class VexStatement:
    """One statement: the names it covers, the purls of its products, and its status."""

    names: frozenset[str]  # upper-cased vulnerability name and aliases
    products: tuple[PackageURL, ...]
    status: str
    justification: str = ""
    impact_statement: str = ""
    document: str = ""

    def matches(self, details: VulnerabilityDetails) -> bool:
        ids = {details.id.upper(), *(a.upper() for a in details.aliases)}
        if not self.names & ids:
            return False
        finding_purl = _parse_purl(details.purl)
        return finding_purl is not None and any(_purl_covers(p, finding_purl) for p in self.products)

    @property
    def reason(self) -> str:
        detail = self.justification or self.impact_statement
        if self.justification and self.impact_statement:
            detail = f"{self.justification}: {self.impact_statement}"
        text = f"VEX {self.status}"
        if detail:
            text += f" ({detail})"
        if self.document:
            text += f" in {self.document}"
        return text


@dataclass(slots=True)
class VexStatements:
    """Statements from one or more OpenVEX documents; later statements override earlier ones."""

    statements: list[VexStatement] = field(default_factory=list)

    def match(self, details: VulnerabilityDetails) -> VexStatement | None:
        found = None
        for statement in self.statements:
            if statement.matches(details):
                found = statement
        return found

    def extend(self, other: VexStatements) -> None:
        self.statements.extend(other.statements)


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text) if text else None
    except ValueError:
        return None


def _norm_name(purl: PackageURL) -> str:
    # PyPI names compare case-insensitively with '-', '_' and '.' alike (PEP 503).
    if purl.type == "pypi":
        return purl.name.lower().replace("_", "-").replace(".", "-")
    return purl.name


def _purl_covers(statement: PackageURL, finding: PackageURL) -> bool:
    """A statement's purl covers a package when every part it states agrees.

    OpenVEX products are often given without version or qualifiers to mean "every version" or
    "every distro build"; parts the statement leaves out are not compared.
    """
    if (statement.type, statement.namespace or "", _norm_name(statement)) != (
        finding.type,
        finding.namespace or "",
        _norm_name(finding),
    ):
        return False
    if statement.version and statement.version != finding.version:
        return False
    wanted = statement.qualifiers if isinstance(statement.qualifiers, dict) else {}
    have = finding.qualifiers if isinstance(finding.qualifiers, dict) else {}
    return all(have.get(k) == v for k, v in wanted.items())


def _product_purls(product: Any, where: str) -> list[PackageURL]:
    """A product's purls: its @id or identifiers.purl, and those of its subcomponents."""
    if not isinstance(product, Mapping):
        raise GateInputError(f"{where}: each product must be an object with '@id'")
    texts: list[str] = []
    if isinstance(product.get("@id"), str):
        texts.append(product["@id"])
    identifiers = product.get("identifiers")
    if isinstance(identifiers, Mapping) and isinstance(identifiers.get("purl"), str):
        texts.append(identifiers["purl"])
    purls = [p for p in (_parse_purl(t) for t in texts if t.startswith("pkg:")) if p is not None]
    for sub in product.get("subcomponents") or []:
        purls += _product_purls(sub, where)
    return purls


def parse_openvex(text: str, *, source: str = "VEX document") -> VexStatements:
    """Read an OpenVEX 0.2.0 JSON document; errors are one line naming the statement."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GateInputError(f"{source}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(doc, Mapping) or not str(doc.get("@context", "")).startswith("https://openvex.dev/ns"):
        raise GateInputError(f"{source}: not an OpenVEX document (no https://openvex.dev/ns @context)")
    raw_statements = doc.get("statements")
    if not isinstance(raw_statements, list):
        raise GateInputError(f"{source}: 'statements' must be a list")
    out = VexStatements()
    timed: list[tuple[str, int, VexStatement]] = []
    doc_time = str(doc.get("timestamp", ""))
    for i, raw in enumerate(raw_statements, 1):
        where = f"{source} statement {i}"
        if not isinstance(raw, Mapping):
            raise GateInputError(f"{where}: must be an object")
        vuln = raw.get("vulnerability")
        if isinstance(vuln, str):  # OpenVEX 0.0.x wrote the name as a plain string
            vuln = {"name": vuln}
        if not isinstance(vuln, Mapping) or not isinstance(vuln.get("name"), str):
            raise GateInputError(f"{where}: 'vulnerability.name' is required")
        names = {vuln["name"].upper(), *(str(a).upper() for a in vuln.get("aliases") or [])}
        status = raw.get("status")
        if status not in _VEX_STATUSES:
            raise GateInputError(
                f"{where}: status {status!r} is not one of {', '.join(sorted(_VEX_STATUSES))}"
            )
        justification = str(raw.get("justification") or "")
        impact = str(raw.get("impact_statement") or "")
        if status == "not_affected" and not (justification or impact):
            raise GateInputError(
                f"{where} ({vuln['name']}): not_affected needs a 'justification' or an 'impact_statement'"
            )
        products = raw.get("products")
        if not isinstance(products, list) or not products:
            raise GateInputError(f"{where} ({vuln['name']}): 'products' must be a non-empty list")
        purls = [p for product in products for p in _product_purls(product, where)]
        statement = VexStatement(
            names=frozenset(names),
            products=tuple(purls),
            status=status,
            justification=justification,
            impact_statement=impact,
            document=str(doc.get("@id", "")) or source,
        )
        timed.append((str(raw.get("timestamp") or doc_time), i, statement))
    # Later statements win (OpenVEX: statements are a timeline); equal times keep file order.
    out.statements = [s for _, _, s in sorted(timed, key=lambda t: (t[0], t[1]))]
    return out


def load_openvex(paths: Iterable[Path]) -> VexStatements:
    merged = VexStatements()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise GateInputError(f"{path}: cannot read the VEX document ({exc.strerror})") from None
        merged.extend(parse_openvex(text, source=str(path)))
    return merged


# ── filtering and gating ───────────────────────────────────────────────────────────────────────


def _suppress(finding: Finding, reason: str) -> tuple[Finding, str]:
    evidence = {**finding.evidence, "suppressed": reason}
    return dataclasses.replace(finding, status=Status.SUPPRESSED, evidence=evidence), reason


def _is_unfixed(details: VulnerabilityDetails) -> bool:
    """No version to upgrade to: not_fixed, wont_fix, deferred, end-of-life, or unknown."""
    return not details.fixed_versions and details.fix_state is not FixState.FIXED


def filter_findings(
    findings: Iterable[Finding],
    *,
    severities: set[Severity] | None = None,
    ignore_unfixed: bool = False,
    ignore: IgnoreRules | None = None,
    vex: VexStatements | None = None,
) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    """Split findings into those to report and those suppressed, each with its reason.

    Order of the checks decides the reason recorded: VEX and the ignore file first (a
    statement about the finding itself), then the user's view (severity, unfixed). Findings
    that are not vulnerabilities only go through the severity filter.
    """
    kept: list[Finding] = []
    suppressed: list[tuple[Finding, str]] = []
    for finding in findings:
        details = finding.vulnerability
        reason = ""
        if finding.kind is FindingKind.VULNERABILITY and details is not None:
            statement = vex.match(details) if vex is not None else None
            entry = ignore.match(details) if ignore is not None else None
            if statement is not None and statement.status in _SUPPRESSING:
                reason = statement.reason
            elif entry is not None:
                until = f" until {entry.expires.isoformat()}" if entry.expires else ""
                reason = f"ignored by {ignore.source if ignore else '.yamoriignore'}{until}: {entry.reason}"
            elif ignore_unfixed and _is_unfixed(details):
                reason = f"no fix available ({details.fix_state.value}) and --ignore-unfixed"
        if not reason and severities is not None and finding.severity not in severities:
            reason = f"severity {finding.severity.value} not selected"
        if reason:
            suppressed.append(_suppress(finding, reason))
        else:
            kept.append(finding)
    return kept, suppressed


_NOT_FAILING = {Status.SUPPRESSED, Status.PASS, Status.NOT_APPLICABLE, Status.RESOLVED}


def fails(findings: Iterable[Finding], fail_on: Severity) -> bool:
    """True when any live finding is at or above `fail_on` (the exit-1 rule for CI)."""
    return any(f.severity.rank >= fail_on.rank and f.status not in _NOT_FAILING for f in findings)
