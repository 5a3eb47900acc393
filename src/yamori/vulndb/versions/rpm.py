"""RPM package versions (`[epoch:]version[-release]`), ordered as rpm's `rpmvercmp` orders them.

Written by hand: the Python bindings of rpm are not installable from PyPI, and the pure-Python
ports disagree with rpm on `^` and `~`, which Fedora and RHEL use for snapshots and pre-releases.

`rpmvercmp` walks both strings segment by segment, skipping separators (anything that is not
an ASCII letter or digit, `~` or `^`):
- `~` sorts before anything, even the end of the string (pre-release);
- `^` sorts after the end of the string but before any other segment (post-release snapshot);
- a digit run beats a letter run; digit runs compare as numbers (leading zeros ignored), letter
  runs as bytes;
- when one string runs out, the one with segments left is newer.
Each segment becomes a (rank, number, text) triple whose rank encodes that order
(`~` 0 < end 1 < `^` 2 < letters 3 < digits 4) and the key ends with the "end" triple, so plain
tuple comparison reproduces `rpmvercmp` without a comparator.

Epoch, version and release compare in that order. The epoch is the leading digit run when a
colon follows it (as rpm parses EVRs), else 0; the release follows the last hyphen. An absent
release sorts before any present one, even an empty one ("1" < "1-"), as OSV's reference
implementation does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_EPOCH = re.compile(r"([0-9]*):")

Segment = tuple[int, int, str]
PartKey = tuple[int, tuple[Segment, ...]]
RpmKey = tuple[PartKey, PartKey, PartKey]

_TILDE: Segment = (0, 0, "")
_END: Segment = (1, 0, "")
_CARET: Segment = (2, 0, "")
_ABSENT: PartKey = (0, ())


@lru_cache(maxsize=65536)
def rpmvercmp_key(text: str) -> tuple[Segment, ...]:
    """A key that compares like `rpmvercmp` on one version or release string."""
    out: list[Segment] = []
    for segment in _SEGMENT.findall(text):
        first = segment[0]
        if first == "~":
            out.append(_TILDE)
        elif first == "^":
            out.append(_CARET)
        elif first.isdigit():
            out.append((4, int(segment), ""))
        else:
            out.append((3, 0, segment))
    out.append(_END)
    return tuple(out)


def _part(text: str) -> PartKey:
    """An empty epoch or version sorts before any non-empty one, as in OSV's implementation."""
    return (1, rpmvercmp_key(text)) if text else _ABSENT


@lru_cache(maxsize=65536)
def rpm_key(version: str) -> RpmKey:
    """Parse `version` into (epoch, version, release) keys."""
    text = version.strip()
    if not text:
        raise InvalidVersion("empty rpm version")
    epoch = "0"
    match = _EPOCH.match(text)
    if match:
        epoch = match.group(1) or "0"
        text = text[match.end() :]
    ver, hyphen, release = text.rpartition("-")
    if not hyphen:
        return (_part(epoch), _part(text), _ABSENT)
    # a release that is present but empty ("1-") still sorts after an absent one
    return (_part(epoch), _part(ver), (1, rpmvercmp_key(release)))


@register
class RpmScheme(VersionScheme):
    """RPM-based distributions: the order of `rpmdev-vercmp` / `rpm.labelCompare`."""

    name = "rpm"
    ecosystems = (
        "Red Hat",
        "Rocky Linux",
        "AlmaLinux",
        "SUSE",
        "openSUSE",
        "Mageia",
        "openEuler",
        "Azure Linux",
    )

    def key(self, version: str) -> RpmKey:
        return rpm_key(version)
