"""RubyGems version order, as `Gem::Version#<=>` defines it.

Hand-written (no Python library implements it). The rules:

* A version is digits followed by alphanumerics, "." and "-"; "-" reads as ".pre."
  ("1.0-rc1" is "1.0.pre.rc1"); an empty version is "0". RubyGems itself insists on a "."
  before a letter run ("1beta" is malformed to `Gem::Version.new`), but advisories and
  osv-scalibr's vectors contain such strings, and the segment rules order them unambiguously,
  so they are accepted rather than rejected.
* Segments are the runs of digits (compared as numbers) and of letters (compared as
  case-sensitive strings): "1.0.a10" -> 1, 0, "a", 10, so "1.0.a10" = "1.0.a.10".
* A letter makes the version a pre-release: strings sort before numbers ("1.0.b1" < "1.0").
* Canonical segments drop trailing zeros of the numeric part and of the part from the first
  string on ("1.0.0" = "1", "1.0.a.0" = "1.a").
* The shorter list is padded with 0.

Padding with 0 where zeros can still occur inside the list ("1.a" vs "1.a.0.1") is made
tuple-comparable by tagging each segment with the sign of the first non-zero segment after it:
when one key runs out, its terminator (0, "rest is all zeros") compares against the other's
segment exactly as the padded 0 would, including "0 then something".
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# (kind, number, text, sign of the first non-zero segment after this one vs 0)
# kind: 0 string, 1 number; strings sort before numbers.
Segment = tuple[int, int, str, int]
RubyGemsKey = tuple[Segment, ...]

_VALID = re.compile(r"\s*([0-9][0-9A-Za-z.-]*)?\s*")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")
_ZERO = (1, 0, "")
_TERMINATOR: Segment = (1, 0, "", 0)


def _canonical(version: str) -> list[tuple[int, int, str]]:
    segments = [
        (1, int(s), "") if s.isdigit() else (0, 0, s) for s in _SEGMENT.findall(version.replace("-", ".pre."))
    ]
    first_string = next((i for i, s in enumerate(segments) if s[0] == 0), len(segments))
    numeric, strings = segments[:first_string], segments[first_string:]
    while numeric and numeric[-1] == _ZERO:
        numeric.pop()
    while strings and strings[-1] == _ZERO:
        strings.pop()
    return numeric + strings


@lru_cache(maxsize=65536)
def _key(version: str) -> RubyGemsKey:
    m = _VALID.fullmatch(version)
    if m is None:
        raise InvalidVersion(f"not a RubyGems version: {version!r}")
    segments = _canonical(m[1] or "0")
    out: list[Segment] = []
    sign = 0  # sign of the first non-zero segment after the current one
    for seg in reversed(segments):
        out.append((*seg, sign))
        if seg != _ZERO:
            sign = -1 if seg[0] == 0 else 1
    out.reverse()
    out.append(_TERMINATOR)
    return tuple(out)


@register
class RubyGemsScheme(VersionScheme):
    """RubyGems (`Gem::Version`)."""

    name = "rubygems"
    ecosystems = ("RubyGems",)

    def key(self, version: str) -> RubyGemsKey:
        return _key(version)
