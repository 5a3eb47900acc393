"""Match a scan's packages against OSV advisories and turn the hits into ranked findings.

Why each rule (see /work/shared/notes/vuln-matching.md):

* Distro advisories are keyed by the distro's own package and release. Debian and Ubuntu key
  by SOURCE package and compare the source version (a CVE in glibc is one record for libc6,
  libc-bin…); Alpine by origin; RPM distros by binary name (their OSV records list each
  binary RPM). Distro fixed versions include backports, so a distro package is only ever
  compared with its distro's records, never with upstream ranges.
* RPM versions compare with their epoch: OSV writes "1:3.0.7-27.el9", the rpm database keeps
  the epoch apart (`metadata["epoch"]`), and dropping it would make every package look older.
* Go: `stdlib` records match the toolchain version a binary was built with (the cataloger
  reports it as package "stdlib"); `toolchain` records concern the `go` command, so they are
  never queried. A binary owned by an OS package keeps that owner in the finding's evidence.
* OSV ranges are evaluated as the schema's reference algorithm does: events sorted in the
  scheme's order, `introduced` opens, `fixed` closes (exclusive), `last_affected` closes
  (inclusive), `limit` bounds the range from above. GIT ranges need commit graphs: ignored.
* A version either side cannot parse skips that range with a warning in the result; nothing
  in one advisory can stop the scan.

Fix states supported (documented here because OSV has no standard field for them):
  - FIXED: any `fixed` event above the installed version in a matching range.
  - END_OF_LIFE: Debian `ecosystem_specific.urgency == "end-of-life"`.
  - WONT_FIX / FIX_DEFERRED: an `ecosystem_specific` or `database_specific` `status` /
    `fix_state` field reading "will not fix", "wont-fix", "ignored" / "deferred",
    "postponed" (Ubuntu's and the security trackers' vocabulary, where a feed carries it).
  - NOT_FIXED: affected and none of the above.
Distro severity supported: Debian `urgency` (unimportant/low → LOW, medium, high), Ubuntu's
`severity[]` entry of type "Ubuntu" (negligible/low → LOW … critical), an `ecosystem_specific`
/ `database_specific` `severity` label on a distro record, and the Red Hat family's summary
prefix ("Important: openssl security update" → HIGH).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from yamori.model.artifact import OSInfo, ScanResult
from yamori.model.finding import Finding, FindingKind, Severity, Status
from yamori.model.package import Package, PackageType
from yamori.model.vulnerability import FixState, VulnerabilityDetails
from yamori.vulndb.cvss import base_score, severity_from_score
from yamori.vulndb.interface import EpssScore, KevEntry, VulnerabilitySource, normalize_name
from yamori.vulndb.risk import risk_score
from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import scheme, scheme_for_ecosystem

_LANGUAGE_ECOSYSTEM = {
    PackageType.PYPI: "PyPI",
    PackageType.NPM: "npm",
    PackageType.GOLANG: "Go",
    PackageType.MAVEN: "Maven",
    PackageType.GEM: "RubyGems",
    PackageType.CARGO: "crates.io",
}
# Record id prefixes in order of preference when two records describe the same flaw for the
# same package: the distro's own, then the ecosystem's first-party database, then GitHub.
_PREFERENCE = (
    (
        "DSA-",
        "DLA-",
        "DTSA-",
        "DEBIAN-",
        "UBUNTU-",
        "USN-",
        "ALPINE-",
        "RHSA-",
        "RHBA-",
        "RLSA-",
        "ALSA-",
        "SUSE-",
        "OPENSUSE-",
        "ALBA-",
    ),
    ("PYSEC-", "GO-", "RUSTSEC-", "RSEC-", "MAL-"),
    ("GHSA-",),
)
_DISTRO_LABEL = {
    "unimportant": Severity.LOW,
    "negligible": Severity.LOW,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
_GHSA_LABEL = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
_WONT_FIX = {"will not fix", "wont-fix", "won't fix", "wontfix", "ignored", "not-fixed-will-not-fix"}
_DEFERRED = {"deferred", "postponed", "fix deferred", "fix-deferred"}
_RH_SUMMARY = re.compile(r"^(Critical|Important|Moderate|Low):")


@dataclass(slots=True)
class _Query:
    """One way to look a package up: ecosystem, index name, version compared, how (for audit)."""

    ecosystem: str
    name: str
    version: str
    label: str
    distro: bool


@dataclass(slots=True)
class _Hit:
    """One record that affects one package, before deduplication and enrichment."""

    record: dict[str, Any]
    affected: dict[str, Any]
    package: Package
    query: _Query
    range_types: list[str]
    fixed: list[str]
    fix_state: FixState
    ids: set[str] = field(default_factory=set)  # id + aliases: what makes two records "the same"
    cves: set[str] = field(default_factory=set)
    merged_ids: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# ecosystems


def os_ecosystems(os_info: OSInfo | None) -> list[str]:
    """OSV ecosystems (with release) for a distro; empty when OSV has none for it."""
    if os_info is None or not os_info.version:
        return []
    family, version = os_info.family, os_info.version
    parts = re.split(r"[.\-]", version)
    major = parts[0]
    major_minor = ".".join(parts[:2]) if len(parts) > 1 else major
    if family == "debian":
        return [f"Debian:{major}"]
    if family == "ubuntu":
        # OSV spells LTS releases "Ubuntu:22.04:LTS", interim ones "Ubuntu:23.10".
        lts = major_minor.endswith(".04") and major.isdigit() and int(major) % 2 == 0
        return [f"Ubuntu:{major_minor}:LTS" if lts else f"Ubuntu:{major_minor}"]
    if family == "alpine":
        return [f"Alpine:v{major_minor}"]
    if family == "redhat":
        return [f"Red Hat:enterprise_linux:{major}::{repo}" for repo in ("baseos", "appstream", "crb")]
    if family == "rocky":
        return [f"Rocky Linux:{major}"]
    if family == "alma":
        return [f"AlmaLinux:{major}"]
    if family == "suse":
        sp = version.replace("-", " ").replace("SP", "SP").split()
        release = f"{sp[0]} {sp[1]}" if len(sp) > 1 else sp[0]
        if "." in release and len(sp) == 1:  # VERSION_ID "15.5" → "15 SP5"
            base, _, service_pack = release.partition(".")
            release = f"{base} SP{service_pack}" if service_pack != "0" else base
        return [
            f"SUSE:Linux Enterprise Server {release}",
            f"SUSE:Linux Enterprise Module for Basesystem {release}",
        ]
    if family == "opensuse-leap":
        return [f"openSUSE:Leap {major_minor}"]
    if family in ("wolfi", "chainguard"):
        return [family.capitalize()]
    return []


def _queries(pkg: Package, os_ecos: Sequence[str]) -> list[_Query]:
    """How to look up one package: by source for deb/apk, by binary (with epoch) for rpm."""
    if pkg.type in (PackageType.DEB, PackageType.APK):
        name = pkg.source_name or pkg.name
        version = pkg.source_version or pkg.version
        how = "source" if pkg.source_name else "binary"
        if pkg.type is PackageType.APK:
            how = "origin" if pkg.source_name else "binary"
        return [
            _Query(eco, normalize_name(eco, name), version, f"{eco} {how}={name}", True) for eco in os_ecos
        ]
    if pkg.type is PackageType.RPM:
        epoch = pkg.metadata.get("epoch")
        version = pkg.version
        if epoch not in (None, "", 0, "0") and ":" not in version:
            version = f"{epoch}:{version}"
        return [
            _Query(eco, normalize_name(eco, pkg.name), version, f"{eco} binary={pkg.name}", True)
            for eco in os_ecos
        ]
    eco = _LANGUAGE_ECOSYSTEM.get(pkg.type)
    if eco is None or (pkg.type is PackageType.GOLANG and pkg.name == "toolchain"):
        return []
    return [_Query(eco, normalize_name(eco, pkg.name), pkg.version, f"{eco} name={pkg.name}", False)]


def _os_ecosystems_for(pkg: Package, os_info: OSInfo | None) -> list[str]:
    """The distro's ecosystems, but only for the package type that distro actually uses."""
    family = os_info.family if os_info else ""
    wanted = {
        PackageType.DEB: ("debian", "ubuntu"),
        PackageType.APK: ("alpine", "wolfi", "chainguard"),
        PackageType.RPM: ("redhat", "rocky", "alma", "suse", "opensuse-leap"),
    }.get(pkg.type, ())
    return os_ecosystems(os_info) if family in wanted else []


# ---------------------------------------------------------------------------------------------
# range evaluation


class _Unparsable(Exception):
    """A version in a range (or the installed one) is not a version of the scheme."""


def _key(sch: VersionScheme, version: str) -> Any:
    try:
        return sch.key(version)
    except (InvalidVersion, ValueError, TypeError) as exc:
        raise _Unparsable(version) from exc


def _range_affects(
    sch: VersionScheme, installed: Any, events: list[dict[str, str]]
) -> tuple[bool, list[str]]:
    """(affected?, fixed versions above the installed one) for one range's events.

    Events are sorted by version ("0" first) and replayed up to the installed version, as the
    OSV schema's reference evaluation does; `limit` events cap the range from above.
    """
    points: list[tuple[int, Any, str, str]] = []  # (is_not_zero, key, kind, raw)
    limits: list[Any] = []
    for event in events:
        for kind, raw in event.items():
            if kind not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(raw, str):
                continue
            if kind == "limit":
                if raw != "*":
                    limits.append(_key(sch, raw))
                continue
            if kind == "introduced" and raw == "0":
                points.append((0, None, kind, raw))
            else:
                points.append((1, _key(sch, raw), kind, raw))
    points.sort(key=lambda p: (p[0], p[1]) if p[0] else (0,))
    affected = False
    for is_versioned, key, kind, _raw in points:
        if kind == "introduced" and (not is_versioned or installed >= key):
            affected = True
        elif (kind == "fixed" and installed >= key) or (kind == "last_affected" and installed > key):
            affected = False
    if affected and limits and not any(installed < limit for limit in limits):
        affected = False
    fixed = [raw for is_v, key, kind, raw in points if kind == "fixed" and is_v and key > installed]
    return affected, fixed


def _evaluate(
    affected: dict[str, Any], query: _Query, warnings: list[str], record_id: str
) -> tuple[bool, list[str], list[str]]:
    """(affected?, range types that matched, fixed versions) of one `affected[]` entry."""
    hit_types: list[str] = []
    fixed: list[str] = []
    try:
        eco_scheme = scheme_for_ecosystem(query.ecosystem)
    except KeyError:
        warnings.append(f"{record_id}: no version scheme for ecosystem {query.ecosystem}")
        return False, [], []
    versions = affected.get("versions") or []
    if query.version in versions:
        hit_types.append("VERSIONS")
    for rng in affected.get("ranges") or []:
        rtype = rng.get("type", "ECOSYSTEM")
        if rtype == "GIT":
            continue
        sch = eco_scheme
        if rtype == "SEMVER" and query.ecosystem != "Go":
            sch = scheme("semver")
        try:
            installed = _key(sch, query.version)
            hit, range_fixed = _range_affects(sch, installed, list(rng.get("events") or []))
        except _Unparsable as exc:
            warnings.append(
                f"{record_id}: skipped a {rtype} range for {query.name} {query.version}: "
                f"unparsable version {exc.args[0]!r}"
            )
            continue
        if hit:
            hit_types.append(rtype)
            fixed.extend(v for v in range_fixed if v not in fixed)
    return bool(hit_types), hit_types, fixed


# ---------------------------------------------------------------------------------------------
# fix state and severity


def _specific(record: dict[str, Any], affected: dict[str, Any]) -> list[dict[str, Any]]:
    """The free-form dicts distros put their own fields in, most specific first."""
    found = [
        affected.get("ecosystem_specific"),
        affected.get("database_specific"),
        record.get("database_specific"),
    ]
    return [d for d in found if isinstance(d, dict)]


def _fix_state(fixed: list[str], record: dict[str, Any], affected: dict[str, Any]) -> FixState:
    if fixed:
        return FixState.FIXED
    for specific in _specific(record, affected):
        urgency = str(specific.get("urgency", "")).lower()
        if urgency == "end-of-life":
            return FixState.END_OF_LIFE
        for key in ("status", "fix_state"):
            value = str(specific.get(key, "")).lower()
            if value in _WONT_FIX:
                return FixState.WONT_FIX
            if value in _DEFERRED:
                return FixState.FIX_DEFERRED
            if value in ("end-of-life", "eol"):
                return FixState.END_OF_LIFE
    return FixState.NOT_FIXED


@dataclass(slots=True)
class _Severity:
    severity: Severity = Severity.UNKNOWN
    source: str = ""
    score: float | None = None
    v3_vector: str = ""
    v3_score: float | None = None
    v4_vector: str = ""
    v4_score: float | None = None


def _severity(record: dict[str, Any], affected: dict[str, Any], distro: bool) -> _Severity:
    """Distro rating first (for distro packages), then CVSS v4, v3, then a GHSA-style label."""
    out = _Severity()
    entries = [*(record.get("severity") or []), *(affected.get("severity") or [])]
    distro_label: Severity | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind, value = entry.get("type", ""), str(entry.get("score", ""))
        if kind == "Ubuntu":
            distro_label = distro_label or _DISTRO_LABEL.get(value.lower())
            continue
        parsed = base_score(value) if kind in ("CVSS_V3", "CVSS_V4") else None
        if parsed is None:
            continue
        version, score = parsed
        if version == "4.0" and not out.v4_vector:
            out.v4_vector, out.v4_score = value, score
        elif version != "4.0" and not out.v3_vector:
            out.v3_vector, out.v3_score = value, score
    if distro:
        for specific in _specific(record, affected):
            for key in ("urgency", "severity", "priority"):
                label = _DISTRO_LABEL.get(str(specific.get(key, "")).lower())
                if label and distro_label is None:
                    distro_label = label
        match = _RH_SUMMARY.match(str(record.get("summary", "")))
        if match and distro_label is None:
            distro_label = _DISTRO_LABEL[match.group(1).lower()]
    out.score = out.v4_score if out.v4_score is not None else out.v3_score
    if distro and distro_label is not None:
        out.severity, out.source = distro_label, "distro"
    elif out.v4_score is not None:
        out.severity, out.source = severity_from_score(out.v4_score), "cvss_v4"
    elif out.v3_score is not None:
        out.severity, out.source = severity_from_score(out.v3_score), "cvss_v3"
    else:
        for specific in _specific(record, affected):
            label = _GHSA_LABEL.get(str(specific.get("severity", "")).upper())
            if label:
                out.severity, out.source = label, "database_specific"
                break
    return out


# ---------------------------------------------------------------------------------------------
# matching


def _cves(record: dict[str, Any]) -> set[str]:
    ids = [record.get("id", ""), *(record.get("aliases") or []), *(record.get("upstream") or [])]
    return {i for i in ids if isinstance(i, str) and i.startswith("CVE-")}


def _preference(record_id: str) -> int:
    for rank, prefixes in enumerate(_PREFERENCE):
        if record_id.upper().startswith(prefixes):
            return rank
    return len(_PREFERENCE)


def _package_hits(
    pkg: Package,
    queries: Iterable[_Query],
    source: VulnerabilitySource,
    cache: dict[tuple[str, str], list[dict[str, Any]]],
    warnings: list[str],
) -> list[_Hit]:
    hits: list[_Hit] = []
    seen: set[str] = set()
    for query in queries:
        cache_key = (query.ecosystem, query.name)
        if cache_key not in cache:
            cache[cache_key] = source.records(query.ecosystem, query.name)
        for record in cache[cache_key]:
            record_id = str(record.get("id", ""))
            if record.get("withdrawn") or not record_id or record_id in seen:
                continue
            for affected in record.get("affected") or []:
                package = affected.get("package") or {}
                if package.get("ecosystem") != query.ecosystem:
                    continue
                if normalize_name(query.ecosystem, str(package.get("name", ""))) != query.name:
                    continue
                hit, types, fixed = _evaluate(affected, query, warnings, record_id)
                if not hit:
                    continue
                seen.add(record_id)
                aliases = [a for a in record.get("aliases") or [] if isinstance(a, str)]
                hits.append(
                    _Hit(
                        record=record,
                        affected=affected,
                        package=pkg,
                        query=query,
                        range_types=types,
                        fixed=fixed,
                        fix_state=_fix_state(fixed, record, affected),
                        ids={record_id, *aliases},
                        cves=_cves(record),
                    )
                )
                break
    return _deduplicate(hits)


def _deduplicate(hits: list[_Hit]) -> list[_Hit]:
    """One hit per flaw: records that alias each other merge into the preferred one.

    Then an advisory covering several CVEs (a DSA listing three) is dropped when every one of
    its CVEs already has its own finding, its id kept among their aliases — the per-CVE
    findings carry per-CVE KEV/EPSS, which a bundle cannot.
    """
    ordered = sorted(enumerate(hits), key=lambda ih: (_preference(ih[1].record["id"]), ih[0]))
    kept: list[_Hit] = []
    for _, hit in ordered:
        twin = next((k for k in kept if k.ids & hit.ids), None)
        if twin is None:
            kept.append(hit)
            continue
        twin.ids |= hit.ids
        twin.cves |= hit.cves
        twin.merged_ids.append(hit.record["id"])
    result: list[_Hit] = []
    for hit in kept:
        if len(hit.cves) > 1:
            singles = [o for o in kept if o is not hit and len(o.cves) == 1]
            if hit.cves <= {cve for o in singles for cve in o.cves}:
                for other in singles:
                    if other.cves & hit.cves:
                        other.merged_ids.append(hit.record["id"])
                continue
        result.append(hit)
    return result


def _references(record: dict[str, Any]) -> list[str]:
    refs = [r.get("url", "") for r in record.get("references") or [] if isinstance(r, dict)]
    return [r for r in refs if r]


def _sub_keys(packages: Sequence[Package]) -> dict[int, str]:
    """purl per package; a purl shared by two locations (two Go binaries' stdlib) gets the
    location appended so Finding ids stay distinct."""
    counts: dict[str, int] = {}
    for pkg in packages:
        base = pkg.purl or f"{pkg.type.value}/{pkg.name}@{pkg.version}"
        counts[base] = counts.get(base, 0) + 1
    keys: dict[int, str] = {}
    for pkg in packages:
        base = pkg.purl or f"{pkg.type.value}/{pkg.name}@{pkg.version}"
        keys[id(pkg)] = f"{base} {pkg.location}" if counts[base] > 1 and pkg.location else base
    return keys


def match(
    result: ScanResult,
    source: VulnerabilitySource,
    *,
    ignore_unfixed: bool = False,
    in_use: dict[str, bool] | None = None,
) -> list[Finding]:
    """Findings for every advisory affecting a package of `result`, sorted by risk (highest first).

    `in_use` maps package purls to whether the runtime sensor saw them loaded (absent: unknown).
    Warnings about skipped ranges are appended to `result.warnings`.
    """
    warnings: list[str] = []
    cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
    all_hits: list[_Hit] = []
    for pkg in result.packages:
        queries = _queries(pkg, _os_ecosystems_for(pkg, result.os))
        if not queries:
            continue
        all_hits.extend(_package_hits(pkg, queries, source, cache, warnings))
    if ignore_unfixed:
        all_hits = [h for h in all_hits if h.fix_state is FixState.FIXED]

    cves = sorted({cve for hit in all_hits for cve in hit.cves})
    kev: dict[str, KevEntry] = source.kev(cves) if cves else {}
    epss: dict[str, EpssScore] = source.epss(cves) if cves else {}
    sub_keys = _sub_keys(result.packages)
    findings = [_finding(hit, result, kev, epss, sub_keys, in_use or {}) for hit in all_hits]
    for warning in dict.fromkeys(warnings):
        result.warnings.append(warning)
    findings.sort(key=lambda f: (-(f.vulnerability.risk if f.vulnerability else 0.0), f.rule_id))
    return findings


def _finding(
    hit: _Hit,
    result: ScanResult,
    kev: dict[str, KevEntry],
    epss: dict[str, EpssScore],
    sub_keys: dict[int, str],
    in_use: dict[str, bool],
) -> Finding:
    record, pkg = hit.record, hit.package
    sev = _severity(record, hit.affected, hit.query.distro)
    kev_hits = [kev[c] for c in sorted(hit.cves) if c in kev]
    epss_hits = [epss[c] for c in sorted(hit.cves) if c in epss]
    best_epss = max(epss_hits, key=lambda e: e.score) if epss_hits else None
    is_kev = bool(kev_hits)
    ransomware = any(k.known_ransomware for k in kev_hits)
    risk = risk_score(
        cvss_score=sev.score,
        severity=sev.severity,
        kev=is_kev,
        ransomware=ransomware,
        epss=best_epss.score if best_epss else None,
        fix_state=hit.fix_state,
        in_use=in_use.get(pkg.purl),
    )
    aliases = sorted((hit.ids | hit.cves | set(hit.merged_ids)) - {record["id"]})
    references = _references(record)
    details = VulnerabilityDetails(
        id=record["id"],
        aliases=aliases,
        package_name=pkg.name,
        package_type=pkg.type.value,
        installed_version=pkg.version,
        purl=pkg.purl,
        fixed_versions=hit.fixed,
        fix_state=hit.fix_state,
        summary=str(record.get("summary", "")),
        cvss_v3_vector=sev.v3_vector,
        cvss_v3_score=sev.v3_score,
        cvss_v4_vector=sev.v4_vector,
        cvss_v4_score=sev.v4_score,
        severity_source=sev.source,
        kev=is_kev,
        kev_ransomware=ransomware,
        epss_score=best_epss.score if best_epss else None,
        epss_percentile=best_epss.percentile if best_epss else None,
        layer_digest=pkg.layer_digest,
        layer_index=pkg.layer_index,
        package_location=pkg.location,
        risk=risk,
        matched_by=f"{hit.query.label} {'+'.join(hit.range_types)}",
        references=references,
        published=str(record.get("published", "")),
        modified=str(record.get("modified", "")),
    )
    evidence: dict[str, Any] = {"installed_version": pkg.version, "location": pkg.location}
    if hit.query.version != pkg.version:
        evidence["compared_version"] = hit.query.version
    if pkg.metadata.get("os_package"):
        evidence["os_package"] = pkg.metadata["os_package"]
    remediation = f"Upgrade {pkg.name} to {', '.join(hit.fixed)}" if hit.fixed else ""
    return Finding(
        kind=FindingKind.VULNERABILITY,
        rule_id=record["id"],
        title=str(record.get("summary", "")) or record["id"],
        severity=sev.severity,
        status=Status.OPEN,
        resource=result.artifact.name,
        sub_key=sub_keys.get(id(pkg), pkg.purl),
        description=str(record.get("details", "")),
        remediation=remediation,
        evidence=evidence,
        references=references,
        vulnerability=details,
    )
