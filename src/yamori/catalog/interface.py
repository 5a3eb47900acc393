"""The cataloger contract.

Following Trivy's analyzers: each cataloger names the paths it wants, is handed only those files
while a layer (or a directory tree) streams past once, and returns what it found *for that path*.
Results are keyed by path so that layers can be replayed (a later layer's file replaces an
earlier one, a whiteout deletes it) and so that a layer's results can be cached by digest.

`finalize` then sees the surviving per-path results of the final filesystem view and turns them
into packages; that is where a cataloger joins files that belong together (dpkg's status file
with its `info/*.list` file lists, for instance).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from yamori.model import OSInfo, Package


class FileInput(ABC):
    """A file offered to a cataloger. `path` is relative to the root, '/'-separated, no leading '/'."""

    path: str
    size: int
    mode: int

    @abstractmethod
    def read(self) -> bytes:
        """The whole content (files larger than the cataloger's `max_size` are never offered)."""

    @abstractmethod
    def open(self) -> IO[bytes]:
        """A seekable binary stream over the content, for parsers that jump around (ELF, zip)."""


@dataclass(slots=True)
class FileResult:
    """What one cataloger learnt from one file.

    `packages` are declared by this file; `os` is set by OS-release files; `extra` holds facts
    that only mean something once joined with other files in `finalize` (file lists, licences).
    """

    packages: list[Package] = field(default_factory=list)
    os: OSInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [p.to_dict() for p in self.packages],
            "os": self.os.to_dict() if self.os else None,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileResult:
        os_data = data.get("os")
        return cls(
            packages=[Package.from_dict(p) for p in data.get("packages", [])],
            os=OSInfo(**os_data) if os_data else None,
            extra=data.get("extra", {}),
        )


class Cataloger(ABC):
    """Finds packages (or the OS) in the files whose paths it asks for.

    `analyze` may run on several layers at once from different threads: keep it free of state.

    Subclasses set `name` (unique, used in the cache), `version` (bump when output changes, so
    cached layer results are recomputed) and `max_size` (files above it are not offered).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    max_size: ClassVar[int] = 64 * 1024 * 1024
    # Which scans use this cataloger: "image" (layers), "rootfs" (a root filesystem or the host),
    # "fs" (a project directory, where lockfiles count). Lockfile catalogers serve "fs" only.
    scopes: ClassVar[frozenset[str]] = frozenset({"image", "rootfs", "fs"})

    @abstractmethod
    def wants(self, path: str, mode: int) -> bool:
        """Cheap test on the path (and mode) alone; called for every file, so keep it fast."""

    @abstractmethod
    def analyze(self, file: FileInput) -> FileResult | None:
        """Parse one wanted file. Raise `ValueError` for content that is not what it claims."""

    def finalize(self, results: Mapping[str, FileResult]) -> list[Package]:
        """Join the surviving per-path results into packages; default: concatenate them."""
        packages: list[Package] = []
        for result in results.values():
            packages.extend(result.packages)
        return packages
