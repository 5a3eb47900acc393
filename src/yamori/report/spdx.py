"""SPDX 2.3 JSON, written by hand to the official schema.

No SPDX library is needed for a format this small, and writing the dict directly keeps the
output stable and fast for images with thousands of packages. The document DESCRIBES the
artifact; the artifact CONTAINS every package and the OS; the OS CONTAINS its own packages.
Facts SPDX has no field for (source package, layer, location) travel twice: in `sourceInfo` for
people and as `yamori:` annotations for `yamori.sources.sbom` to read back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote

import orjson

from yamori import __version__
from yamori.model import Package, ScanResult
from yamori.report import sbomvocab as vocab
from yamori.report.interface import ReportWriter
from yamori.report.registry import register

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
NOASSERTION = "NOASSERTION"
TOOL = f"Tool: yamori-{__version__}"
# uuid5 namespace for document namespaces: fixed so the same input always gets the same URI.
_NAMESPACE_UUID = uuid.UUID("8f0e4bd2-5c1a-4f43-9a57-2a8d6f0c7d11")

_PURPOSES = {"container_image": "CONTAINER", "sbom": "OTHER"}


@dataclass
class _Licenses:
    """Turns free-text licences into `LicenseRef-` ids, each declared once for the document."""

    refs: dict[str, str] = field(default_factory=dict)

    def expression(self, texts: list[str]) -> str:
        """A valid SPDX expression for a package's licences, or NOASSERTION when it has none."""
        if not texts:
            return NOASSERTION
        parts = []
        for text in texts:
            if vocab.is_spdx_expression(text):
                needs_parens = len(texts) > 1 and vocab.is_compound(text)
                parts.append(f"({text})" if needs_parens else text)
            else:
                parts.append(self._ref(text))
        return " AND ".join(parts)

    def _ref(self, text: str) -> str:
        if text not in self.refs:
            ref = f"LicenseRef-{vocab.spdx_id(text)}"
            if ref in self.refs.values():
                ref = f"{ref}-{vocab.short_hash(text)}"
            self.refs[text] = ref
        return self.refs[text]

    def extracted(self) -> list[dict[str, str]]:
        return [{"licenseId": ref, "name": text, "extractedText": text} for text, ref in self.refs.items()]


def _annotation(comment: str, date: str) -> dict[str, str]:
    return {"annotator": TOOL, "annotationDate": date, "annotationType": "OTHER", "comment": comment}


def document_namespace(result: ScanResult) -> str:
    """A URI unique to this artifact and content, and the same for the same input.

    The artifact's identity (type, name, digest) and the package purls feed a uuid5, so two
    scans of one image name but different content get different namespaces.
    """
    artifact = result.artifact
    contents = sorted(f"{p.purl}|{p.location}" for p in result.packages)
    seed = "\n".join([artifact.type, artifact.name, artifact.digest, artifact.image_id, *contents])
    ident = uuid.uuid5(_NAMESPACE_UUID, seed)
    name = quote(vocab.spdx_id(artifact.name), safe="")
    return f"https://yamori.invalid/spdx/{quote(artifact.type, safe='')}/{name}-{ident}"


def _source_info(pkg: Package) -> str | None:
    """Where the package came from, in words (SPDX's field for provenance)."""
    parts = []
    if pkg.source_name and (pkg.source_name, pkg.source_version) != (pkg.name, pkg.version):
        parts.append(f"built package from: {pkg.source_name} {pkg.source_version or ''}".rstrip())
    if pkg.layer_digest or pkg.layer_diff_id:
        layer = f"layer {pkg.layer_index}" if pkg.layer_index is not None else "layer"
        ids = ", ".join(
            f"{label} {value}"
            for label, value in (("digest", pkg.layer_digest), ("diff_id", pkg.layer_diff_id))
            if value
        )
        parts.append(f"introduced by {layer} ({ids})")
    if pkg.location:
        parts.append(f"found in {pkg.location}")
    return "; ".join(parts) or None


def package_ids(result: ScanResult) -> list[str]:
    """SPDXRef ids from name and a hash of the package's identity: readable, unique, stable."""
    keys = [
        f"SPDXRef-Package-{pkg.type.value}-{vocab.spdx_id(pkg.name)}-{vocab.short_hash(*pkg.key)}"
        for pkg in result.packages
    ]
    return vocab.unique_refs(keys)


def build_document(result: ScanResult) -> dict[str, Any]:
    created = vocab.now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    artifact = result.artifact
    licenses = _Licenses()
    artifact_id = f"SPDXRef-Artifact-{vocab.spdx_id(artifact.type)}-{vocab.short_hash(artifact.name)}"
    artifact_package: dict[str, Any] = {
        "name": artifact.name,
        "SPDXID": artifact_id,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "primaryPackagePurpose": _PURPOSES.get(artifact.type, "OTHER"),
        "annotations": [
            _annotation(f"{name}: {value}", created) for name, value in vocab.artifact_properties(result)
        ],
    }
    if artifact.digest:
        artifact_package["versionInfo"] = artifact.digest
        algorithm, _, value = artifact.digest.partition(":")
        if algorithm == "sha256" and value:
            artifact_package["checksums"] = [{"algorithm": "SHA256", "checksumValue": value}]
    packages: list[dict[str, Any]] = [artifact_package]
    relationships: list[dict[str, str]] = [
        {"spdxElementId": DOCUMENT_ID, "relatedSpdxElement": artifact_id, "relationshipType": "DESCRIBES"}
    ]

    os_id: str | None = None
    if result.os:
        os_release = f"{result.os.family}-{result.os.version or 'unknown'}"
        os_id = f"SPDXRef-OperatingSystem-{vocab.spdx_id(os_release)}"
        os_package: dict[str, Any] = {
            "name": result.os.family,
            "SPDXID": os_id,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "primaryPackagePurpose": "OPERATING_SYSTEM",
        }
        if result.os.version:
            os_package["versionInfo"] = result.os.version
        os_annotations = [
            _annotation(f"{name}: {value}", created) for name, value in vocab.os_properties(result.os)
        ]
        if os_annotations:
            os_package["annotations"] = os_annotations
        packages.append(os_package)
        relationships.append(
            {"spdxElementId": artifact_id, "relatedSpdxElement": os_id, "relationshipType": "CONTAINS"}
        )

    for pkg, spdx_ref in zip(result.packages, package_ids(result), strict=True):
        entry: dict[str, Any] = {
            "name": pkg.name,
            "SPDXID": spdx_ref,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            # yamori reports what packages declare; it concludes nothing about them.
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": licenses.expression(pkg.licenses),
            "primaryPackagePurpose": "LIBRARY",
        }
        if pkg.version:
            entry["versionInfo"] = pkg.version
        purl = vocab.package_purl(pkg, result.os)
        if purl:
            entry["externalRefs"] = [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}
            ]
        source_info = _source_info(pkg)
        if source_info:
            entry["sourceInfo"] = source_info
        comments = [f"{name}: {value}" for name, value in vocab.package_properties(pkg)]
        comments += [f"{vocab.PKG_LICENSE}: {text}" for text in pkg.licenses]
        entry["annotations"] = [_annotation(comment, created) for comment in comments]
        packages.append(entry)
        relationships.append(
            {"spdxElementId": artifact_id, "relatedSpdxElement": spdx_ref, "relationshipType": "CONTAINS"}
        )
        if pkg.type.is_os and os_id:
            relationships.append(
                {"spdxElementId": os_id, "relatedSpdxElement": spdx_ref, "relationshipType": "CONTAINS"}
            )

    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": DOCUMENT_ID,
        "name": artifact.name,
        "documentNamespace": document_namespace(result),
        "creationInfo": {"creators": [TOOL], "created": created},
        "packages": packages,
        "relationships": relationships,
    }
    extracted = licenses.extracted()
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    return document


@register
class SPDXWriter(ReportWriter):
    name = "spdx"
    description = "SPDX 2.3 JSON SBOM (packages, OS, layers in sourceInfo and annotations)"

    def write(self, result: ScanResult, out: TextIO) -> None:
        out.write(orjson.dumps(build_document(result), option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
