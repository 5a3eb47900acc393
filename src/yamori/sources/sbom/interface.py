"""The SBOM-reader contract, and what every reader shares: packages rebuilt from purls.

A reader recognises one document format from its parsed JSON and turns it into a `ScanResult`
whose artifact has type "sbom". The package identity always comes from the purl (type, name,
version), because every SBOM producer writes one and it is the only field whose meaning is fixed
by a spec; everything else (source package, layer, location) is taken from yamori's own
properties or, for documents other tools wrote, from the ones Trivy and syft use.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from packageurl import PackageURL

from yamori.model import ArtifactInfo, LayerInfo, OSInfo, Package, PackageType, ScanResult
from yamori.report import sbomvocab as vocab

# Trivy's property names (CycloneDX `aquasecurity:trivy:X`, SPDX annotation `X: value`).
TRIVY_PREFIX = "aquasecurity:trivy:"


class SBOMReader(ABC):
    """One SBOM format. `accepts` looks only at top-level keys, so detection is cheap and sure."""

    name: ClassVar[str]

    @abstractmethod
    def accepts(self, document: Mapping[str, Any]) -> bool:
        """True when `document` is in this reader's format."""

    @abstractmethod
    def read(self, document: Mapping[str, Any], path: Path) -> ScanResult:
        """The packages, OS and artifact the document describes; `path` names it in messages."""


@dataclass(slots=True)
class Facts:
    """What a document says about one package besides its purl, in one neutral shape.

    `props` holds yamori property names and Trivy's names (without their prefix), each with all
    values given, so a reader only gathers and the shared code below decides.
    """

    purl: str
    name: str = ""
    version: str = ""
    licenses: list[str] = field(default_factory=list)
    props: dict[str, list[str]] = field(default_factory=dict)
    location: str = ""  # from a format-specific place (an SPDX file, a syft sourceInfo)

    def first(self, *names: str) -> str:
        for name in names:
            values = self.props.get(name)
            if values and values[0]:
                return values[0]
        return ""


def add_prop(props: dict[str, list[str]], name: str, value: str) -> None:
    """Collect one property; Trivy names lose their prefix so both formats look alike."""
    if name.startswith(TRIVY_PREFIX):
        name = name[len(TRIVY_PREFIX) :]
    props.setdefault(name, []).append(value)


def _pypi_normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _model_name(purl: PackageURL, kind: PackageType, hint: str) -> str:
    """The package name as yamori's catalogers spell it, rebuilt from the purl.

    The purl splits npm scopes, Go module paths and Maven groupIds into a namespace, and PyPI
    names are normalised in it; the document's own name is kept when it is the same package
    under its original spelling (PyYAML for pkg:pypi/pyyaml).
    """
    namespace = purl.namespace or ""
    if kind is PackageType.NPM and namespace:
        return f"{namespace}/{purl.name}"
    if kind is PackageType.GOLANG and namespace:
        return f"{namespace}/{purl.name}"
    if kind is PackageType.MAVEN and namespace:
        return f"{namespace}:{purl.name}"
    if kind is PackageType.PYPI and hint and _pypi_normal(hint) == _pypi_normal(purl.name):
        return hint
    return purl.name


def _source(facts: Facts, purl: PackageURL, kind: PackageType, version: str) -> tuple[str | None, str | None]:
    """Source package from yamori's properties, Trivy's (version-release, epoch) or a syft purl."""
    name = facts.first(vocab.PKG_SRC_NAME)
    if name:
        return name, facts.first(vocab.PKG_SRC_VERSION) or None
    name = facts.first("SrcName")
    if name:
        src_version = facts.first("SrcVersion")
        release = facts.first("SrcRelease")
        epoch = facts.first("SrcEpoch")
        if src_version and release:
            src_version = f"{src_version}-{release}"
        if src_version and epoch and epoch != "0":
            src_version = f"{epoch}:{src_version}"
        return name, src_version or None
    upstream = (purl.qualifiers or {}).get("upstream") if isinstance(purl.qualifiers, dict) else None
    if upstream:
        up_name, _, up_version = str(upstream).partition("@")
        if not up_version and kind.is_os:
            up_version = version  # dpkg's "Source: glibc" without a version: the same version
        return up_name, up_version or None
    return None, None


def build_package(facts: Facts) -> Package | None:
    """A `Package` from a purl plus facts; None when the purl is missing or of a type yamori lacks."""
    try:
        purl = PackageURL.from_string(facts.purl)
    except ValueError:
        return None
    try:
        kind = PackageType(purl.type)
    except ValueError:
        return None
    qualifiers: dict[str, str] = dict(purl.qualifiers) if isinstance(purl.qualifiers, dict) else {}
    version = facts.version or purl.version or ""
    metadata: dict[str, Any] = {}
    epoch = qualifiers.get("epoch", "")
    if epoch and epoch != "0":
        if kind is PackageType.RPM:
            metadata["epoch"] = epoch
        elif ":" not in version:
            version = f"{epoch}:{version}"  # dpkg and apk keep the epoch in the version string
    source_name, source_version = _source(facts, purl, kind, version)
    index_text = facts.first(vocab.LAYER_INDEX)
    location = facts.first(vocab.LOCATION, "FilePath") or facts.location
    return Package(
        name=_model_name(purl, kind, facts.name),
        version=version,
        type=kind,
        location=location,
        purl=facts.purl,
        source_name=source_name,
        source_version=source_version,
        arch=facts.first(vocab.PKG_ARCH) or qualifiers.get("arch") or None,
        licenses=list(facts.licenses),
        layer_digest=facts.first(vocab.LAYER_DIGEST, "LayerDigest") or None,
        layer_diff_id=facts.first(vocab.LAYER_DIFF_ID, "LayerDiffID") or None,
        layer_index=int(index_text) if index_text.isdigit() else None,
        metadata=metadata,
    )


def build_artifact(name: str, props: dict[str, list[str]]) -> ArtifactInfo:
    """The artifact an SBOM stands for: type "sbom", with the image identity when it names one."""
    layers: list[LayerInfo] = []
    for value in props.get(vocab.IMAGE_LAYER, []):
        fields = value.split()
        if len(fields) >= 2 and fields[0].isdigit():
            layers.append(LayerInfo(index=int(fields[0]), digest=fields[1], diff_id=" ".join(fields[2:3])))
    # Trivy lists the image's diff ids too (`DiffID`), but sorted, not in layer order: they
    # cannot give layer indexes, so they are not turned into layers here.

    def one(*names: str) -> str:
        for key in names:
            if props.get(key):
                return props[key][0]
        return ""

    return ArtifactInfo(
        name=name,
        type="sbom",
        digest=one(vocab.IMAGE_DIGEST),
        image_id=one(vocab.IMAGE_ID, "ImageID"),
        repo_tags=list(props.get(vocab.IMAGE_REPO_TAG) or props.get("RepoTag") or []),
        repo_digests=list(props.get(vocab.IMAGE_REPO_DIGEST) or props.get("RepoDigest") or []),
        architecture=one(vocab.IMAGE_ARCH),
        os_type=one(vocab.IMAGE_OS),
        layers=layers,
    )


def fill_layer_indexes(result: ScanResult) -> None:
    """Give packages that name their layer only by diff id (Trivy) that layer's index."""
    by_diff_id = {layer.diff_id: layer.index for layer in result.artifact.layers if layer.diff_id}
    by_digest = {layer.digest: layer.index for layer in result.artifact.layers if layer.digest}
    for pkg in result.packages:
        if pkg.layer_index is None:
            if pkg.layer_diff_id in by_diff_id:
                pkg.layer_index = by_diff_id[pkg.layer_diff_id]
            elif pkg.layer_digest in by_digest:
                pkg.layer_index = by_digest[pkg.layer_digest]


class PackageCollector:
    """Packages rebuilt from an SBOM's entries, and a count of what was skipped and why.

    Both readers (CycloneDX, SPDX) walk their own document shape and hand each entry's facts
    here, so turning facts into packages and explaining a short result happen once.
    """

    def __init__(self) -> None:
        self.packages: list[Package] = []
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def add(self, facts: Facts) -> None:
        pkg = build_package(facts)
        if pkg is None:
            self.skip(f"purls of type {facts.purl.partition(':')[2].partition('/')[0] or '?'}")
        else:
            self.packages.append(pkg)

    def result(
        self, artifact: ArtifactInfo, os_info: OSInfo | None, doc_props: dict[str, list[str]], path: Path
    ) -> ScanResult:
        """The scan result of the document: packages, OS, and the producer's errors/warnings."""
        warnings = list(doc_props.get(vocab.WARNING, []))
        if self.skipped:
            detail = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            warnings.append(f"{path}: skipped entries that yamori cannot use: {detail}")
        result = ScanResult(
            artifact=artifact,
            os=os_info,
            packages=self.packages,
            errors=list(doc_props.get(vocab.ERROR, [])),
            warnings=warnings,
        )
        fill_layer_indexes(result)
        return result
