"""The version-scheme contract: parse a version string into a key that sorts like the ecosystem.

Each ecosystem orders versions its own way (dpkg's `~`, rpm's `rpmvercmp`, PEP 440's
pre-releases, Maven's qualifiers…); OSV ranges are evaluated in that order. A scheme parses
once into a comparable key, so matching compares keys instead of re-parsing strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar


class InvalidVersion(ValueError):
    """The string is not a version of this scheme."""


class VersionScheme(ABC):
    """One ecosystem's version order.

    `name` is the scheme's own name (dpkg, rpm, apk, pep440, semver, go, maven, rubygems,
    nuget); `ecosystems` are the OSV ecosystem names (without `:release` suffixes) it serves.
    """

    name: ClassVar[str]
    ecosystems: ClassVar[tuple[str, ...]]

    @abstractmethod
    def key(self, version: str) -> Any:
        """A key such that `key(a) < key(b)` exactly when a sorts before b in this ecosystem,
        and `key(a) == key(b)` when the ecosystem considers them equal. Raises `InvalidVersion`."""

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1, as `a` sorts before, equal to or after `b`."""
        ka, kb = self.key(a), self.key(b)
        return int(ka > kb) - int(ka < kb)
