"""SPDX 2.x JSON into a `ScanResult`.

SPDX has no property bag, so each producer hides its extras somewhere else: yamori and Trivy in
package annotations (`name: value` comments), Trivy also in `sourceInfo` and in files the
package CONTAINS, syft in the purl's `upstream` qualifier and in `sourceInfo`. This reader
looks in each of those places, yamori's first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yamori.model import OSInfo, ScanResult
from yamori.report import sbomvocab as vocab
from yamori.sources.sbom.interface import (
    Facts,
    PackageCollector,
    SBOMReader,
    add_prop,
    build_artifact,
)

_NO_LICENSE = {"", "NOASSERTION", "NONE"}
_OS_PURPOSES = {"OPERATING_SYSTEM", "OPERATING-SYSTEM"}  # Trivy writes the latter
_BUILT_FROM = re.compile(r"built package from:\s*(\S+)(?:\s+(\S+))?")
_ACQUIRED = re.compile(r"acquired package info from [^:]*:\s*(\S[^,]*)")


def _annotations(item: Mapping[str, Any]) -> dict[str, list[str]]:
    """`name: value` annotation comments as properties (yamori's and Trivy's convention)."""
    props: dict[str, list[str]] = {}
    for note in item.get("annotations") or []:
        if not isinstance(note, Mapping):
            continue
        comment = note.get("comment")
        if isinstance(comment, str) and ": " in comment:
            name, _, value = comment.partition(": ")
            add_prop(props, name.strip(), value)
    return props


def _purl(package: Mapping[str, Any]) -> str:
    for ref in package.get("externalRefs") or []:
        if isinstance(ref, Mapping) and ref.get("referenceType") == "purl":
            locator = ref.get("referenceLocator")
            if isinstance(locator, str):
                return locator
    return ""


class SPDXReader(SBOMReader):
    name = "spdx"

    def accepts(self, document: Mapping[str, Any]) -> bool:
        version = document.get("spdxVersion")
        return isinstance(version, str) and version.startswith("SPDX-2.")

    def read(self, document: Mapping[str, Any], path: Path) -> ScanResult:
        packages_raw = [p for p in document.get("packages") or [] if isinstance(p, Mapping)]
        relationships = [r for r in document.get("relationships") or [] if isinstance(r, Mapping)]
        files = {
            f.get("SPDXID"): f.get("fileName")
            for f in document.get("files") or []
            if isinstance(f, Mapping) and isinstance(f.get("fileName"), str)
        }
        described = {
            r.get("relatedSpdxElement")
            for r in relationships
            if r.get("spdxElementId") == "SPDXRef-DOCUMENT" and r.get("relationshipType") == "DESCRIBES"
        }
        described.update(document.get("documentDescribes") or [])
        contained_files: dict[str, list[str]] = {}
        for rel in relationships:
            if rel.get("relationshipType") == "CONTAINS" and rel.get("relatedSpdxElement") in files:
                contained_files.setdefault(str(rel.get("spdxElementId")), []).append(
                    str(files[rel.get("relatedSpdxElement")])
                )
        extracted = {
            str(info.get("licenseId")): str(info.get("name") or info.get("extractedText") or "")
            for info in document.get("hasExtractedLicensingInfos") or []
            if isinstance(info, Mapping) and info.get("licenseId")
        }

        doc_props = _annotations(document)
        os_info: OSInfo | None = None
        collected = PackageCollector()
        artifact_name = str(document.get("name") or path.name)
        for raw in packages_raw:
            spdx_id = str(raw.get("SPDXID", ""))
            props = _annotations(raw)
            if spdx_id in described:
                for name, values in props.items():
                    doc_props.setdefault(name, []).extend(values)
                continue
            if raw.get("primaryPackagePurpose") in _OS_PURPOSES or spdx_id.startswith(
                "SPDXRef-OperatingSystem"
            ):
                if os_info is None and raw.get("name"):
                    os_info = OSInfo(
                        family=str(raw["name"]).lower(),
                        version=str(raw.get("versionInfo") or ""),
                        name=(props.get(vocab.OS_NAME) or [""])[0],
                        codename=(props.get(vocab.OS_CODENAME) or [""])[0],
                    )
                continue
            purl = _purl(raw)
            if not purl:
                collected.skip("packages without a purl")
                continue
            self._source_info(raw, props)
            owned = contained_files.get(spdx_id, [])
            facts = Facts(
                purl=purl,
                name=str(raw.get("name") or ""),
                version=str(raw.get("versionInfo") or ""),
                licenses=self._licenses(raw, props, extracted),
                props=props,
                location=owned[0] if len(owned) == 1 else self._acquired_from(raw),
            )
            collected.add(facts)
        return collected.result(build_artifact(artifact_name, doc_props), os_info, doc_props, path)

    @staticmethod
    def _licenses(
        raw: Mapping[str, Any], props: dict[str, list[str]], extracted: dict[str, str]
    ) -> list[str]:
        """yamori's exact licence list when present, else the declared (or concluded) expression.

        An expression joined with AND is split back into the licences a tool joined; LicenseRefs
        become the text they were extracted from.
        """
        if vocab.PKG_LICENSE in props:
            return list(props[vocab.PKG_LICENSE])
        for key in ("licenseDeclared", "licenseConcluded"):
            value = raw.get(key)
            if isinstance(value, str) and value.strip() not in _NO_LICENSE:
                return [extracted.get(part, part) for part in vocab.split_top_level_and(value.strip())]
        return []

    @staticmethod
    def _source_info(raw: Mapping[str, Any], props: dict[str, list[str]]) -> None:
        """Trivy's `built package from: NAME VERSION` as source-package properties."""
        info = raw.get("sourceInfo")
        if not isinstance(info, str) or vocab.PKG_SRC_NAME in props or "SrcName" in props:
            return
        match = _BUILT_FROM.search(info)
        if match:
            props["SrcName"] = [match.group(1).rstrip(";")]
            if match.group(2):
                props["SrcVersion"] = [match.group(2).rstrip(";")]

    @staticmethod
    def _acquired_from(raw: Mapping[str, Any]) -> str:
        """syft's `acquired package info from …: /path, /path` gives the declaring file."""
        info = raw.get("sourceInfo")
        if isinstance(info, str):
            match = _ACQUIRED.search(info)
            if match:
                return match.group(1).strip().lstrip("/")
        return ""
