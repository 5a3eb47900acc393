"""CycloneDX 1.6 JSON, built with `cyclonedx-python-lib` so the output follows the schema exactly.

The metadata component is the scanned artifact; the OS is a component of type operating-system
that owns the OS packages in the dependency graph, and language packages hang off the artifact,
the shape Trivy writes and consumers (Dependency-Track, grype) expect. What CycloneDX has no field
for — source package, introducing layer, location — goes into `yamori:` properties, which
`yamori.sources.sbom` reads back.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSet, Sequence
from typing import TextIO

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import is_supported_id
from packageurl import PackageURL

from yamori import __version__
from yamori.model import Package, PackageType, ScanResult
from yamori.report import sbomvocab as vocab
from yamori.report.interface import ReportWriter
from yamori.report.registry import register

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
    for pkg, ref, purl_text in zip(result.packages, package_refs(result, purls), purls, strict=True):
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
    return bom


@register
class CycloneDXWriter(ReportWriter):
    name = "cyclonedx"
    description = "CycloneDX 1.6 JSON SBOM (packages, OS, layers as yamori: properties)"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(JsonV1Dot6(build_bom(result)).output_as_string(indent=2))
        out.write("\n")
