"""Go module and toolchain versions, ordered as `golang.org/x/mod/semver.Compare` does.

Go module versions are strict SemVer with a "v" prefix. The Go vulnerability database (and
so OSV's `Go` ecosystem) writes them without the "v"; both spellings are accepted. What
matters for matching:

* `+incompatible` (a v2+ module without a go.mod) is build metadata and is ignored, so
  v2.0.0+incompatible == v2.0.0, exactly as the go command compares them.
* Pseudo-versions need no special case: their three forms are ordinary pre-releases that
  SemVer already orders the way Go intends.
  - v0.0.0-20191109021931-daa7c04131f5: no tag before the commit; the whole
    "yyyymmddhhmmss-hash" is one alphanumeric identifier, ordered by its timestamp prefix.
  - vX.Y.(Z+1)-0.yyyymmddhhmmss-hash: after release vX.Y.Z; "0" is numeric, so it sorts
    before any named pre-release of vX.Y.(Z+1) and after vX.Y.Z.
  - vX.Y.Z-pre.0.yyyymmddhhmmss-hash: after pre-release vX.Y.Z-pre, before vX.Y.Z-pre.1.
* "v1" and "v1.2" are shorthands for v1.0.0 and v1.2.0 (only without pre-release or build).
* Leading zeros in numbers ("v01.2.3", "v1.2.3-01") are invalid, as in Go.

Standard library (`stdlib`/`toolchain`) versions: a binary's build info reports the Go tag
("go1.21.5", "go1.21rc2", "go1.9beta2", "go1.20", possibly followed by " X:boringcrypto").
They are normalised the way the Go vulnerability database converts tags to SemVer:
"go1.21.5" -> 1.21.5, "go1.21rc2" -> 1.21.0-rc.2, "go1.9beta2" -> 1.9.0-beta.2,
"go1.20" -> 1.20.0 (the 1.20.0 release was tagged go1.20), "go1" -> 1.0.0; anything after the
first space is dropped. The same tag forms are accepted without the "go" prefix ("1.21rc2").
Development builds ("devel go1.22-abcdef") have no release to compare and are invalid.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register
from yamori.vulndb.versions.semver import SemverKey, prerelease_key

_NUM = r"(?:0|[1-9]\d*)"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_GO_SEMVER = re.compile(
    rf"""
    (?P<major>{_NUM})
    (?:
        \.(?P<minor>{_NUM})\.(?P<patch>{_NUM})
        (?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?
        (?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
      | (?:\.(?P<short_minor>{_NUM}))?   # shorthand v1 / v1.2
    )
    """,
    re.VERBOSE,
)
# a Go toolchain tag without its "go": 1.21, 1.21.5, 1.21rc2, 1.9beta2
_GO_TAG = re.compile(r"(?P<mm>\d+\.\d+)(?P<patch>\.\d+)?(?:(?P<kind>beta|rc)(?P<n>\d+))")


def _from_tag(tag: str) -> str:
    """A Go toolchain tag (without "go") as SemVer without "v"; unchanged if not a tag."""
    if tag == "1":
        return "1.0.0"
    m = _GO_TAG.fullmatch(tag)
    if m is not None:
        return f"{m['mm']}{m['patch'] or '.0'}-{m['kind']}.{m['n']}"
    if re.fullmatch(r"\d+\.\d+", tag):
        return tag + ".0"
    return tag


@lru_cache(maxsize=65536)
def _key(version: str) -> SemverKey:
    text = version.strip()
    if text.startswith("go"):
        # toolchain tag as reported by build info; drop experiments such as X:boringcrypto
        text = _from_tag(text[2:].split(None, 1)[0] if text[2:].strip() else "")
    elif text.startswith("v"):
        text = text[1:]
    else:
        text = _from_tag(text)
    m = _GO_SEMVER.fullmatch(text)
    if m is None:
        raise InvalidVersion(f"not a Go version: {version!r}")
    if m["patch"] is None:
        return (int(m["major"]), int(m["short_minor"] or 0), 0, 1, ())
    release, idents = prerelease_key(m["pre"])
    return (int(m["major"]), int(m["minor"]), int(m["patch"]), release, idents)


@register
class GoScheme(VersionScheme):
    """Go modules (SemVer, `+incompatible` ignored, pseudo-versions) and Go toolchain tags."""

    name = "go"
    ecosystems = ("Go",)

    def key(self, version: str) -> SemverKey:
        return _key(version)
