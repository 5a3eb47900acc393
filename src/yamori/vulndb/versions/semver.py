"""SemVer 2.0.0 precedence, used by npm, crates.io, Hex and SwiftURL, and by OSV's `SEMVER` ranges.

Hand-written because the rule that matters for vulnerability ranges is small and exact
(SemVer §11): numeric identifiers compare as numbers, alphanumeric ones in ASCII order,
numeric before alphanumeric, a longer pre-release wins when the shorter is its prefix, a
pre-release sorts before its release, and build metadata is ignored. Python ints are
unbounded, so huge components (seen in real advisories) compare correctly.

The parser is lenient where advisories are: a leading "v" is tolerated, missing minor/patch
read as 0 ("1.2" is 1.2.0), and further dot-numeric components after the patch ("1.1.3.4.5")
are ignored like build metadata, as osv-scalibr does.

Pub is not served here: pub_semver orders build metadata (it is not ignored), so it needs its
own scheme.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# One pre-release identifier: (0, n, "") when numeric, (1, 0, text) otherwise, so numeric
# sorts first and an int is never compared with a str.
Ident = tuple[int, int, str]
# (major, minor, patch, is_release, identifiers); is_release is 0 for pre-releases so that
# 1.0.0-x < 1.0.0.
SemverKey = tuple[int, int, int, int, tuple[Ident, ...]]

_SEMVER = re.compile(
    r"""
    (?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?
    (?P<extra>(?:\.\d+)*)
    (?:-(?P<pre>[0-9A-Za-z.-]+))?
    (?:\+(?P<build>[0-9A-Za-z.-]+))?
    """,
    re.VERBOSE,
)


def prerelease_key(pre: str | None) -> tuple[int, tuple[Ident, ...]]:
    """(is_release, identifiers) for a pre-release string; shared with the Go scheme.

    Raises `InvalidVersion` on an empty identifier ("1.0.0-a..b")."""
    if pre is None:
        return (1, ())
    idents: list[Ident] = []
    for ident in pre.split("."):
        if not ident:
            raise InvalidVersion(f"empty pre-release identifier in {pre!r}")
        if ident.isdigit():
            idents.append((0, int(ident), ""))
        else:
            idents.append((1, 0, ident))
    return (0, tuple(idents))


@lru_cache(maxsize=65536)
def _key(version: str) -> SemverKey:
    text = version.strip()
    if text[:1] == "v":
        text = text[1:]
    m = _SEMVER.fullmatch(text)
    if m is None:
        raise InvalidVersion(f"not a SemVer version: {version!r}")
    release, idents = prerelease_key(m["pre"])
    return (int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), release, idents)


@register
class SemverScheme(VersionScheme):
    """SemVer 2.0.0 precedence (build metadata ignored: 1.2.3+a == 1.2.3+b)."""

    name = "semver"
    ecosystems = ("npm", "crates.io", "Hex", "SwiftURL")

    def key(self, version: str) -> SemverKey:
        return _key(version)
