"""Packagist (Composer) version order: PHP's `version_compare` on the version without its "v".

Composer compares normalised versions with `version_compare`; OSV's Packagist ranges use the
versions as published, so the same comparison is applied to them. Hand-written (no Python
library does PHP's canonicalisation). The rules:

* A leading "v"/"V" is dropped; "-", "_" and "+" become "."; a "." is inserted at every
  transition between a digit and a non-digit ("1.0rc1" -> "1.0.rc.1"); empty parts vanish.
* Parts compare pairwise: numbers numerically; a number against a word as the special form
  "#"; words by special form, matched as prefixes: dev < alpha = a < beta = b < RC = rc < "#"
  < pl = p. Other words sort before "dev" (PHP's -1), so "1.0-foo" < "1.0-dev".
* When one version runs out, a further number makes the longer one greater (1.0 < 1.0.0); a
  further word is weighed against "#" (1.0rc1 < 1.0 < 1.0pl1).

That last rule is a fixed pad which never equals a real part, so every key ends with a
terminator that compares against a part exactly as the pad does, and keys are plain tuples.

PHP's special form "#" also equals any number, which is not transitive (1 = # = 2); Composer
rejects such versions, so any character outside [0-9A-Za-z._+-] (including "#") is invalid.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# (weight, number): numbers weigh 4 ("#") and carry their value; words carry only their weight
Part = tuple[int, int]
PackagistKey = tuple[Part, ...]

_NUMBER = 4
# what a missing part weighs: below any number (so 1.0 < 1.0.0), above rc, below pl
_END: Part = (_NUMBER, -1)
_FORMS = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("pl", 5),
    ("p", 5),
)
_VALID = re.compile(r"[0-9A-Za-z._+-]+")
_PARTS = re.compile(r"\d+|[^\d.]+")


def _weight(word: str) -> int:
    for prefix, weight in _FORMS:
        if word.startswith(prefix):
            return weight
    return -1


@lru_cache(maxsize=65536)
def _key(version: str) -> PackagistKey:
    text = version.strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    if not _VALID.fullmatch(text):
        raise InvalidVersion(f"not a Packagist version: {version!r}")
    text = re.sub(r"[-_+]", ".", text)
    parts = [(_NUMBER, int(p)) if p.isdigit() else (_weight(p), 0) for p in _PARTS.findall(text)]
    if not parts:
        raise InvalidVersion(f"not a Packagist version: {version!r}")
    parts.append(_END)
    return tuple(parts)


@register
class PackagistScheme(VersionScheme):
    """Packagist (PHP `version_compare`, as Composer uses it)."""

    name = "packagist"
    ecosystems = ("Packagist",)

    def key(self, version: str) -> PackagistKey:
        return _key(version)
