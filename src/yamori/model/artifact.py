"""What a scan looked at (`ArtifactInfo`, `LayerInfo`, `OSInfo`) and what it found (`ScanResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from yamori.model.finding import Finding
from yamori.model.package import Package


@dataclass(slots=True)
class OSInfo:
    """The operating system of a root filesystem: `family` is a lowercase id (debian, alpine…)."""

    family: str
    version: str = ""
    name: str = ""
    codename: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class LayerInfo:
    """One image layer: blob digest, uncompressed digest and the history line that made it."""

    index: int
    digest: str
    diff_id: str = ""
    media_type: str = ""
    size: int = 0
    created_by: str = ""
    from_cache: bool = False


@dataclass(slots=True)
class ArtifactInfo:
    """Identity of the scanned thing: an image, a directory, the host, an SBOM document."""

    name: str
    type: str  # container_image | filesystem | host | sbom
    digest: str = ""  # manifest digest for images
    image_id: str = ""  # config digest for images
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    architecture: str = ""
    os_type: str = ""
    layers: list[LayerInfo] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScanResult:
    """Everything one scan of one target produced.

    `errors` are one-line messages about parts that could not be read at all (the result is
    incomplete); `warnings` about entries that were skipped on purpose (a hostile path, a file a
    cataloger could not parse). The rest of the result is valid either way, so writers always
    print it.
    """

    artifact: ArtifactInfo
    os: OSInfo | None = None
    packages: list[Package] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
