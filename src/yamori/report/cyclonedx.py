"""CycloneDX 1.6 JSON, built with `cyclonedx-python-lib` so the output follows the schema exactly.

The metadata component is the scanned artifact; the OS is a component of type operating-system
that owns the OS packages in the dependency graph, and language packages hang off the artifact,
the shape Trivy writes and consumers (Dependency-Track, grype) expect. What CycloneDX has no field
for — source package, introducing layer, location — goes into `yamori:` properties, which
`yamori.sources.sbom` reads back.

Vulnerability findings become the BOM's `vulnerabilities[]` (one entry per advisory, `affects`
pointing at every component it hits), so one document answers both "what is in it" and "what is
wrong with it" — what Dependency-Track imports as a VEX-bearing BOM.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSet, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import is_supported_id
from packageurl import PackageURL

from yamori import __version__
from yamori.model import Package, PackageType, ScanResult, Severity
from yamori.report import sbomvocab as vocab
from yamori.report.interface import ReportWriter
from yamori.report.registry import register
from yamori.report.vulnview import VulnFinding, advisory_url, vulnerabilities

_ARTIFACT_TYPES = {
    "container_image": ComponentType.CONTAINER,
    "filesystem": ComponentType.OPERATING_SYSTEM,
    "host": ComponentType.OPERATING_SYSTEM,
}


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=name, value=value) for name, value in pairs]


def cyclonedx_licenses(texts: list[str]) -> list[License]:
    """Licences as CycloneDX wants them: SPDX ids as ids, free text as names.

    CycloneDX 1.6 allows either a list of licences or one expression, never both, so an
    expression becomes an `expression` only when it is the package's sole licence; next to other
    licences it is kept verbatim as a name rather than dropped.
    """
    if len(texts) == 1 and vocab.is_compound(texts[0]) and vocab.is_spdx_expression(texts[0]):
        return [LicenseExpression(texts[0])]
    licenses: list[License] = []
    for text in texts:
        if is_supported_id(text):
            licenses.append(DisjunctiveLicense(id=text))
        else:
            licenses.append(DisjunctiveLicense(name=text))
    return licenses


def _group_and_name(pkg: Package, purl: PackageURL | None) -> tuple[str | None, str]:
    """Language packages split their purl namespace into `group` (npm scope, Maven groupId)."""
    if pkg.type.is_os or pkg.type is PackageType.GOLANG or purl is None or not purl.namespace:
        return None, pkg.name
    return purl.namespace, purl.name


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def package_refs(result: ScanResult, purls: Sequence[str] | None = None) -> list[str]:
    """Unique, stable bom-refs: the purl, made unique for copies found at several locations.

    `purls` are the packages' purls when the caller has them already (deriving one is not free).
    """
    if purls is None:
        purls = [vocab.package_purl(pkg, result.os) for pkg in result.packages]
    keys = [
        purl or f"yamori:{pkg.type.value}/{pkg.name}@{pkg.version}"
        for pkg, purl in zip(result.packages, purls, strict=True)
    ]
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    keyed = [
        key if counts[key] == 1 else f"{key}#{vocab.short_hash(pkg.location)}"
        for key, pkg in zip(keys, result.packages, strict=True)
    ]
    return vocab.unique_refs(keyed)


def _insertion_order(component: Component) -> tuple[str, bool, str, str, bool, str, str]:
    """The order cyclonedx-python-lib keeps components in, for the fields that decide it here.

    The library compares components by a long tuple (type, group, name, version, bom-ref, …),
    with `None` after any value; bom-refs are unique, so nothing past them is ever reached.
    Adding components in this order costs one comparison each instead of a binary search over
    expensive tuples. Were the order ever off, the library still sorts correctly, only slower.
    """
    return (
        component.type.value,
        component.group is None,
        component.group or "",
        component.name,
        component.version is None,
        component.version or "",
        component.bom_ref.value or "",
    )


def _add_sorted(target: MutableSet[Dependency], dependencies: Iterable[Dependency]) -> None:
    """Add dependencies in bom-ref order (how the library sorts refs that are all distinct).

    A `SortedSet` built from a list sorts a hash-ordered copy of it; adding values already in
    order appends each after a single comparison.
    """
    for dependency in sorted(dependencies, key=lambda d: d.ref.value or ""):
        target.add(dependency)


def build_bom(result: ScanResult) -> Bom:
    """The whole result as a `Bom`; separate from `write` so callers can add to it."""
    artifact = result.artifact
    root = Component(
        name=artifact.name,
        type=_ARTIFACT_TYPES.get(artifact.type, ComponentType.APPLICATION),
        bom_ref=f"yamori:artifact:{vocab.short_hash(artifact.type, artifact.name, artifact.digest)}",
    )
    tool = Component(name="yamori", version=__version__, type=ComponentType.APPLICATION)
    metadata = BomMetaData(
        tools=ToolRepository(components=[tool]),
        component=root,
        properties=_properties(vocab.artifact_properties(result)),
        timestamp=vocab.now_utc(),
    )
    bom = Bom(metadata=metadata)

    components: list[Component] = []
    os_component: Component | None = None
    if result.os:
        os_component = Component(
            name=result.os.family,
            version=result.os.version or None,
            type=ComponentType.OPERATING_SYSTEM,
            bom_ref=f"yamori:os:{result.os.family}-{result.os.version}",
            properties=_properties(vocab.os_properties(result.os)),
        )
        components.append(os_component)

    # Images repeat the same few licence lists hundreds of times; the License objects are
    # immutable in practice, so one set per distinct list serves every component that has it.
    licences_by_texts: dict[tuple[str, ...], list[License]] = {}
    os_children: list[Dependency] = []
    root_children: list[Dependency] = []
    leaves: list[Dependency] = []
    purls = [vocab.package_purl(pkg, result.os) for pkg in result.packages]
    ref_by_key: dict[tuple[str, str, str, str], str] = {}
    for pkg, ref, purl_text in zip(result.packages, package_refs(result, purls), purls, strict=True):
        ref_by_key.setdefault(pkg.key, ref)
        purl = _parse_purl(purl_text)
        group, name = _group_and_name(pkg, purl)
        texts = tuple(pkg.licenses)
        licences = licences_by_texts.get(texts)
        if licences is None:
            licences = licences_by_texts[texts] = cyclonedx_licenses(pkg.licenses)
        component = Component(
            name=name,
            group=group,
            version=pkg.version or None,
            type=ComponentType.LIBRARY,
            bom_ref=ref,
            purl=purl,
            licenses=licences,
            properties=_properties(vocab.package_properties(pkg)),
        )
        components.append(component)
        dependency = Dependency(ref=component.bom_ref)
        if pkg.type.is_os and os_component is not None:
            os_children.append(dependency)
        else:
            root_children.append(dependency)
        leaves.append(Dependency(ref=component.bom_ref))

    for component in sorted(components, key=_insertion_order):
        bom.components.add(component)

    graph: list[Dependency] = leaves
    if os_component is not None:
        root_children.append(Dependency(ref=os_component.bom_ref))
        os_dependency = Dependency(ref=os_component.bom_ref)
        _add_sorted(os_dependency.dependencies, os_children)
        graph.append(os_dependency)
    root_dependency = Dependency(ref=root.bom_ref)
    _add_sorted(root_dependency.dependencies, root_children)
    graph.append(root_dependency)
    _add_sorted(bom.dependencies, graph)
    for vulnerability in build_vulnerabilities(result, ref_by_key):
        bom.vulnerabilities.add(vulnerability)
    return bom


_CDX_SEVERITY = {
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN,
}


def _source(vuln_id: str) -> VulnerabilitySource:
    name = "NVD" if vuln_id.upper().startswith("CVE-") else "OSV"
    return VulnerabilitySource(name=name, url=XsUri(advisory_url(vuln_id)))


def _datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _ratings(vuln: VulnFinding, os_family: str) -> list[VulnerabilityRating]:
    """CVSS ratings with vector and method, and the distro's own rating when that decided."""
    d = vuln.details
    ratings: list[VulnerabilityRating] = []
    if d.cvss_v3_score is not None:
        method = (
            VulnerabilityScoreSource.CVSS_V3_1
            if d.cvss_v3_vector.startswith("CVSS:3.1/")
            else VulnerabilityScoreSource.CVSS_V3
        )
        ratings.append(
            VulnerabilityRating(
                source=_source(d.id),
                score=Decimal(str(d.cvss_v3_score)),
                severity=_cdx_severity_for_score(d.cvss_v3_score),
                method=method,
                vector=d.cvss_v3_vector or None,
            )
        )
    if d.cvss_v4_score is not None:
        ratings.append(
            VulnerabilityRating(
                source=_source(d.id),
                score=Decimal(str(d.cvss_v4_score)),
                severity=_cdx_severity_for_score(d.cvss_v4_score),
                method=VulnerabilityScoreSource.CVSS_V4,
                vector=d.cvss_v4_vector or None,
            )
        )
    if d.severity_source == "distro" or not ratings:
        name = os_family if d.severity_source == "distro" and os_family else "yamori"
        ratings.append(
            VulnerabilityRating(
                source=VulnerabilitySource(name=name),
                severity=_CDX_SEVERITY[vuln.finding.severity],
                method=VulnerabilityScoreSource.OTHER,
            )
        )
    return ratings


def _cdx_severity_for_score(score: float) -> VulnerabilitySeverity:
    """The CVSS qualitative scale (FIRST CVSS v3.1 specification, section 5)."""
    if score >= 9.0:
        return VulnerabilitySeverity.CRITICAL
    if score >= 7.0:
        return VulnerabilitySeverity.HIGH
    if score >= 4.0:
        return VulnerabilitySeverity.MEDIUM
    if score > 0.0:
        return VulnerabilitySeverity.LOW
    return VulnerabilitySeverity.NONE


def build_vulnerabilities(
    result: ScanResult, ref_by_key: dict[tuple[str, str, str, str], str]
) -> list[Vulnerability]:
    """One `Vulnerability` per advisory; `affects` names each affected component by bom-ref.

    Findings whose package is not among the components (a finding made from another
    inventory) are left out: CycloneDX requires every `affects` ref to resolve.
    """
    by_id: dict[str, list[tuple[VulnFinding, str]]] = {}
    for vuln in vulnerabilities(result):
        d = vuln.details
        ref = ref_by_key.get((d.package_type, d.package_name, d.installed_version, d.package_location))
        if ref is not None:
            by_id.setdefault(d.id, []).append((vuln, ref))
    os_family = result.os.family if result.os else ""
    out: list[Vulnerability] = []
    for vuln_id, hits in by_id.items():
        first = max((v for v, _ in hits), key=lambda v: v.finding.severity.rank)
        d = first.details
        affects: list[BomTarget] = []
        fixes: list[str] = []
        for vuln, ref in hits:
            versions = [
                BomTargetVersionRange(
                    version=vuln.details.installed_version,
                    status=ImpactAnalysisAffectedStatus.AFFECTED,
                )
            ]
            versions += [
                BomTargetVersionRange(version=fixed, status=ImpactAnalysisAffectedStatus.UNAFFECTED)
                for fixed in vuln.details.fixed_versions
            ]
            affects.append(BomTarget(ref=ref, versions=versions))
            fixes += [f"{vuln.details.package_name} {v}" for v in vuln.details.fixed_versions]
        recommendation = "Upgrade to " + ", ".join(dict.fromkeys(fixes)) if fixes else None
        properties = [
            ("yamori:kev", "true" if d.kev else "false"),
            ("yamori:risk", f"{max(v.details.risk for v, _ in hits):.2f}"),
            ("yamori:fix_state", d.fix_state.value),
        ]
        if d.kev_ransomware:
            properties.append(("yamori:kev:ransomware", "true"))
        if d.epss_score is not None:
            properties.append(("yamori:epss", f"{d.epss_score:.5f}"))
        if d.epss_percentile is not None:
            properties.append(("yamori:epss:percentile", f"{d.epss_percentile:.5f}"))
        out.append(
            Vulnerability(
                bom_ref=f"yamori:vuln:{vuln_id}",
                id=vuln_id,
                source=_source(vuln_id),
                references=[
                    VulnerabilityReference(id=alias, source=_source(alias))
                    for alias in dict.fromkeys(d.aliases)
                    if alias != vuln_id
                ],
                ratings=_ratings(first, os_family),
                description=d.summary or None,
                detail=first.finding.description or None,
                recommendation=recommendation,
                published=_datetime(d.published),
                updated=_datetime(d.modified),
                affects=affects,
                properties=_properties(properties),
            )
        )
    return out


@register
class CycloneDXWriter(ReportWriter):
    name = "cyclonedx"
    description = "CycloneDX 1.6 JSON SBOM (packages, OS, layers as yamori: properties)"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(JsonV1Dot6(build_bom(result)).output_as_string(indent=2))
        out.write("\n")
