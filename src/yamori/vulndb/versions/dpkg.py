"""Debian package versions (`[epoch:]upstream[-revision]`), ordered as dpkg orders them.

Written by hand because no maintained Python library implements Debian policy §5.6.12
exactly, and getting `~` wrong turns every `1.2-1~deb12u1` backport fix into a false verdict.

The order (dpkg's `verrevcmp`): the epoch compares as a number; upstream version and revision
each alternate between a non-digit run and a digit run. Non-digit runs compare character by
character, where `~` sorts before everything (even the end of the string), the end before any
other character, letters before non-letters; digit runs compare as numbers (an absent run is 0).

The key is a flat tuple of ints that compares like that:
- each non-digit character becomes its dpkg weight (`~` is -1, a letter its code point, any
  other character its code point + 256), followed by 0 marking the end of the run — so a
  shorter run meets the other's next character with 0, exactly like dpkg's "end" weight;
- each digit run becomes its integer value;
- a final 0 stands for "end of string": what follows in the longer string is always a
  non-digit run, whose first weight decides against this 0, again like dpkg.
A lone leading zero pair (the string is "", "0", "00"…) is dropped, because dpkg treats an
absent revision and "0" as equal.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# non-digit run, then digit run; the scan repeats until the string is used up
_PART = re.compile(r"([^0-9]*)([0-9]*)")
# characters dpkg accepts in upstream versions and revisions (the colon only after an epoch)
_VALID = re.compile(r"[A-Za-z0-9.+~:-]*")

DpkgKey = tuple[int, tuple[int, ...], tuple[int, ...]]


def _weight(char: str) -> int:
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


@lru_cache(maxsize=65536)
def _part_key(text: str) -> tuple[int, ...]:
    """The flat key of an upstream version or a revision (see the module docstring)."""
    out: list[int] = []
    pos = 0
    end = len(text)
    while pos < end:
        match = _PART.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        letters, digits = match.group(1), match.group(2)
        out.extend(_weight(c) for c in letters)
        out.append(0)
        out.append(int(digits) if digits else 0)
        pos = match.end()
    if out == [0, 0]:  # "0", "00": the same as an absent part
        out = []
    out.append(0)
    return tuple(out)


@lru_cache(maxsize=65536)
def dpkg_key(version: str) -> DpkgKey:
    """Parse `version` into (epoch, upstream key, revision key)."""
    text = version.strip()
    if not text:
        raise InvalidVersion("empty Debian version")
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon:
        if not head.isdigit() or not head.isascii():
            raise InvalidVersion(f"Debian version {version!r}: epoch is not a number")
        epoch = int(head)
        text = rest
    upstream, hyphen, revision = text.rpartition("-")
    if not hyphen:
        upstream, revision = text, ""
    if not upstream:
        raise InvalidVersion(f"Debian version {version!r}: empty upstream version")
    if not _VALID.fullmatch(upstream) or not _VALID.fullmatch(revision) or ":" in revision:
        raise InvalidVersion(f"Debian version {version!r}: invalid character")
    return (epoch, _part_key(upstream), _part_key(revision))


@register
class DpkgScheme(VersionScheme):
    """Debian and Ubuntu: the order of `dpkg --compare-versions`."""

    name = "dpkg"
    ecosystems = ("Debian", "Ubuntu")

    def key(self, version: str) -> DpkgKey:
        return dpkg_key(version)
