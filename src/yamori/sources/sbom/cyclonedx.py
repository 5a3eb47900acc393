"""CycloneDX JSON (any 1.x) into a `ScanResult`.

Read as plain JSON rather than through `cyclonedx-python-lib`'s deserialiser: documents from
other tools carry fields, versions and small schema liberties that a strict model rejects, and
an SBOM that loads with one odd field skipped is worth more to the user than an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def _props(item: Mapping[str, Any]) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {}
    for prop in item.get("properties") or []:
        if isinstance(prop, Mapping) and isinstance(prop.get("name"), str):
            add_prop(props, prop["name"], str(prop.get("value", "")))
    return props


def _licenses(component: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    for entry in component.get("licenses") or []:
        if not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("expression"), str):
            texts.append(entry["expression"])
            continue
        lic = entry.get("license")
        if isinstance(lic, Mapping):
            text = lic.get("id") or lic.get("name")
            if isinstance(text, str) and text:
                texts.append(text)
    return texts


def _walk(components: Any) -> Iterator[Mapping[str, Any]]:
    """All components, nested ones included (Trivy and syft nest them in some layouts)."""
    if components is None:
        return
    if not isinstance(components, list):
        raise ValueError("'components' is not a list")
    for component in components:
        if isinstance(component, Mapping):
            yield component
            yield from _walk(component.get("components"))


class CycloneDXReader(SBOMReader):
    name = "cyclonedx"

    def accepts(self, document: Mapping[str, Any]) -> bool:
        return document.get("bomFormat") == "CycloneDX"

    def read(self, document: Mapping[str, Any], path: Path) -> ScanResult:
        metadata = document.get("metadata") or {}
        root = metadata.get("component") or {}
        doc_props = _props(metadata)
        for name, values in _props(root).items():
            doc_props.setdefault(name, []).extend(values)
        artifact = build_artifact(str(root.get("name") or path.name), doc_props)

        os_info: OSInfo | None = None
        collected = PackageCollector()
        for component in _walk(document.get("components")):
            kind = component.get("type")
            if kind == "operating-system":
                if os_info is None and component.get("name"):
                    props = _props(component)
                    os_info = OSInfo(
                        family=str(component["name"]).lower(),
                        version=str(component.get("version") or ""),
                        name=(props.get(vocab.OS_NAME) or [""])[0],
                        codename=(props.get(vocab.OS_CODENAME) or [""])[0],
                    )
                continue
            purl = component.get("purl")
            if not isinstance(purl, str) or not purl:
                if kind == "library":
                    collected.skip("components without a purl")
                continue  # applications without purl are Trivy's lock-file groupings
            facts = Facts(
                purl=purl,
                name=str(component.get("name") or ""),
                version=str(component.get("version") or ""),
                licenses=_licenses(component),
                props=_props(component),
            )
            collected.add(facts)
        return collected.result(artifact, os_info, doc_props, path)
