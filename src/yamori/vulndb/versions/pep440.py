"""PyPI version order: PEP 440 through `packaging`, with a fallback for legacy versions.

`packaging.version.Version` is the reference implementation of PEP 440, so valid versions
are ordered by it. PyPI still hosts releases whose versions are not PEP 440 ("0.9-doduo",
"2013-02-02T20:23:17+0100", "trunk"), and OSV records for them exist. `packaging` dropped
`LegacyVersion` in 22.0, so the legacy order is re-implemented here: legacy versions sort
before every PEP 440 version (they had epoch -1), and among themselves by setuptools' old
`parse_version` rules (numbers zero-padded, "pre"/"preview"/"rc" read as "c", "dev" as "@",
"-" as "final-", trailing zeros dropped).
"""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.version import InvalidVersion as _PackagingInvalidVersion
from packaging.version import Version

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# A PEP 440 version keys as (1, Version); a legacy one as (0, parts). The leading int keeps a
# Version from ever being compared with a tuple of strings.
Pep440Key = tuple[int, Version] | tuple[int, tuple[str, ...]]

_LEGACY_PART = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_REPLACE = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


def _legacy_parts(version: str) -> tuple[str, ...]:
    """setuptools' pre-PEP 440 ordering: strings that sort like the old `LegacyVersion`."""
    parts: list[str] = []
    raw: list[str] = []
    for piece in _LEGACY_PART.split(version.lower()):
        piece = _LEGACY_REPLACE.get(piece, piece)
        if not piece or piece == ".":
            continue
        # digits are zero-padded so that string order is numeric order; anything else is
        # marked with "*" so that it sorts before digits
        raw.append(piece.zfill(8) if piece[0].isdigit() else "*" + piece)
    raw.append("*final")
    for piece in raw:
        if piece.startswith("*"):
            # a pre-release marker removes the "final-" a preceding dash introduced
            if piece < "*final":
                while parts and parts[-1] == "*final-":
                    parts.pop()
            # 1.0 == 1.0.0: trailing zeros before a marker carry no weight
            while parts and parts[-1] == "00000000":
                parts.pop()
        parts.append(piece)
    return tuple(parts)


@lru_cache(maxsize=65536)
def _key(version: str) -> Pep440Key:
    text = version.strip()
    if not text:
        raise InvalidVersion("empty PyPI version")
    try:
        return (1, Version(text))
    except _PackagingInvalidVersion:
        return (0, _legacy_parts(text))


@register
class Pep440Scheme(VersionScheme):
    """PEP 440 (PyPI). Local versions (`+local`) sort after their public version, as PEP 440
    says; legacy (non-PEP 440) versions sort before all PEP 440 ones."""

    name = "pep440"
    ecosystems = ("PyPI",)

    def key(self, version: str) -> Pep440Key:
        return _key(version)
