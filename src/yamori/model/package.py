"""`Package`: one installed piece of software, wherever a cataloger found it.

A dataclass rather than a pydantic model: an image holds thousands of packages and each is
created, cached and compared many times during a scan, so construction must be cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class PackageType(StrEnum):
    """The packaging system a package belongs to; values are PURL types."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"
    GEM = "gem"
    CARGO = "cargo"

    @property
    def is_os(self) -> bool:
        """OS packages are matched by distro release; language packages by ecosystem."""
        return self in (PackageType.DEB, PackageType.APK, PackageType.RPM)


@dataclass(slots=True)
class Package:
    """An installed package.

    `location` is the file that declared the package (a dpkg status file, a METADATA file, a
    binary); together with type, name and version it identifies the package across layers.
    `layer_digest`/`layer_diff_id` name the image layer that first carried this exact version.
    """

    name: str
    version: str
    type: PackageType
    location: str = ""
    purl: str = ""
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    layer_digest: str | None = None
    layer_diff_id: str | None = None
    layer_index: int | None = None
    # Free-form facts a cataloger knows (maintainer, go toolchain, owning OS package, …).
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity used to attribute a package to the first layer that carried it."""
        return (self.type.value, self.name, self.version, self.location)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        values = dict(data)
        values["type"] = PackageType(values["type"])
        return cls(**values)
