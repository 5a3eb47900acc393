"""NuGet version order (`NuGet.Versioning.NuGetVersion`, SemVer 2.0 with a fourth part).

Hand-written: NuGet differs from SemVer in ways that change range results. Versions have one
to four numeric parts (missing ones are 0, so 1.0 = 1.0.0.0), leading zeros are allowed
(1.0.01 = 1.0.1), pre-release labels compare case-insensitively (1.0.0-BETA = 1.0.0-beta;
NuGet uses ordinal-ignore-case, i.e. upper-cased ordinal order), and build metadata after "+"
is ignored. Labels: numeric ones compare as numbers and sort before alphanumeric ones; a
release sorts after its pre-releases; more labels win when the shorter list is a prefix.
A leading "v" is tolerated, as NuGet's own parser is not but advisories sometimes are.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# one label: (0, n, "") numeric, (1, 0, UPPER) alphanumeric
Label = tuple[int, int, str]
NuGetKey = tuple[int, int, int, int, int, tuple[Label, ...]]

_NUGET = re.compile(
    r"""
    [vV]?(?P<nums>\d+(?:\.\d+){0,3})
    (?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    (?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    """,
    re.VERBOSE,
)


@lru_cache(maxsize=65536)
def _key(version: str) -> NuGetKey:
    m = _NUGET.fullmatch(version.strip())
    if m is None:
        raise InvalidVersion(f"not a NuGet version: {version!r}")
    nums = [int(n) for n in m["nums"].split(".")]
    nums += [0] * (4 - len(nums))
    pre = m["pre"]
    if pre is None:
        return (nums[0], nums[1], nums[2], nums[3], 1, ())
    labels = tuple((0, int(x), "") if x.isdigit() else (1, 0, x.upper()) for x in pre.split("."))
    return (nums[0], nums[1], nums[2], nums[3], 0, labels)


@register
class NuGetScheme(VersionScheme):
    """NuGet (four-part SemVer 2.0, case-insensitive labels, build metadata ignored)."""

    name = "nuget"
    ecosystems = ("NuGet",)

    def key(self, version: str) -> NuGetKey:
        return _key(version)
