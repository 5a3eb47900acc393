"""The vocabulary yamori's SBOM writers and readers share.

CycloneDX properties and SPDX annotations carry the same `yamori:` names, and the readers in
`yamori.sources.sbom` look for exactly these names; keeping them in one module is what makes a
written document read back into the same packages.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import cyclonedx.spdx
from cyclonedx.spdx import fixup_id as fixup_spdx_id
from license_expression import Licensing, get_spdx_licensing

from yamori.catalog.purl import purl_for
from yamori.model import OSInfo, Package, ScanResult

PREFIX = "yamori:"

# Per package.
PKG_TYPE = "yamori:package:type"
PKG_SRC_NAME = "yamori:package:src:name"
PKG_SRC_VERSION = "yamori:package:src:version"
PKG_ARCH = "yamori:package:arch"
PKG_FILES = "yamori:package:files"
PKG_LICENSE = "yamori:license"  # SPDX only: the licences exactly as the cataloger read them
LAYER_DIGEST = "yamori:layer:digest"
LAYER_DIFF_ID = "yamori:layer:diff_id"
LAYER_INDEX = "yamori:layer:index"
LOCATION = "yamori:location"

# Per document (CycloneDX metadata properties, SPDX document annotations).
ERROR = "yamori:error"
WARNING = "yamori:warning"
ARTIFACT_TYPE = "yamori:artifact:type"
IMAGE_ID = "yamori:image:id"
IMAGE_DIGEST = "yamori:image:digest"
IMAGE_REPO_DIGEST = "yamori:image:repo_digest"
IMAGE_REPO_TAG = "yamori:image:repo_tag"
IMAGE_ARCH = "yamori:image:architecture"
IMAGE_OS = "yamori:image:os"
IMAGE_LAYER = "yamori:image:layer"  # "INDEX DIGEST DIFF_ID"
OS_NAME = "yamori:os:name"
OS_CODENAME = "yamori:os:codename"

_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_SYMBOL = re.compile(r"[^\s()]+")


def now_utc() -> datetime:
    """Creation time; `SOURCE_DATE_EPOCH` pins it so that builds can produce identical SBOMs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC).replace(microsecond=0)


def package_purl(pkg: Package, os_info: OSInfo | None) -> str:
    """The package's own purl when the cataloger set one, else the one yamori derives."""
    return pkg.purl or purl_for(pkg, os_info)


def package_properties(pkg: Package) -> Iterator[tuple[str, str]]:
    """(name, value) pairs for everything the model knows and neither format has a field for."""
    yield PKG_TYPE, pkg.type.value
    if pkg.source_name:
        yield PKG_SRC_NAME, pkg.source_name
    if pkg.source_version:
        yield PKG_SRC_VERSION, pkg.source_version
    if pkg.arch:
        yield PKG_ARCH, pkg.arch
    if pkg.layer_digest:
        yield LAYER_DIGEST, pkg.layer_digest
    if pkg.layer_diff_id:
        yield LAYER_DIFF_ID, pkg.layer_diff_id
    if pkg.layer_index is not None:
        yield LAYER_INDEX, str(pkg.layer_index)
    if pkg.location:
        yield LOCATION, pkg.location
    if pkg.files:
        yield PKG_FILES, str(len(pkg.files))


def artifact_properties(result: ScanResult) -> Iterator[tuple[str, str]]:
    """Document-level facts: what was scanned, and the errors that make the SBOM incomplete."""
    artifact = result.artifact
    yield ARTIFACT_TYPE, artifact.type
    if artifact.image_id:
        yield IMAGE_ID, artifact.image_id
    if artifact.digest:
        yield IMAGE_DIGEST, artifact.digest
    for digest in artifact.repo_digests:
        yield IMAGE_REPO_DIGEST, digest
    for tag in artifact.repo_tags:
        yield IMAGE_REPO_TAG, tag
    if artifact.architecture:
        yield IMAGE_ARCH, artifact.architecture
    if artifact.os_type:
        yield IMAGE_OS, artifact.os_type
    for layer in artifact.layers:
        yield IMAGE_LAYER, f"{layer.index} {layer.digest} {layer.diff_id}".rstrip()
    for error in result.errors:
        yield ERROR, error
    for warning in result.warnings:
        yield WARNING, warning


def os_properties(os_info: OSInfo) -> Iterator[tuple[str, str]]:
    if os_info.name:
        yield OS_NAME, os_info.name
    if os_info.codename:
        yield OS_CODENAME, os_info.codename


@functools.cache
def _licensing() -> Licensing:
    """The SPDX `Licensing`, built on first use: building one takes tens of milliseconds.

    `cyclonedx.spdx` (imported for `fixup_id`) has already built exactly this object — the
    default `get_spdx_licensing()` — so it is reused when the library still exposes it, rather
    than paying for a second copy; any other library version gets its own.
    """
    shared = getattr(cyclonedx.spdx, "__SPDX_EXPRESSION_LICENSING", None)
    return shared if isinstance(shared, Licensing) else get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def is_spdx_expression(text: str) -> bool:
    """True when `text` is a valid SPDX licence id or expression, written with real SPDX ids.

    `license-expression` also accepts its own aliases ("GPL" for GPL-1.0-or-later); an SBOM
    must not silently turn those into a licence the package never named, so every symbol must
    also be an id from the SPDX list (case-insensitively, as SPDX allows).

    Cached: an image repeats the same few licence strings hundreds of times, and validating one
    means tokenising and parsing it.
    """
    if not text or text.strip() != text:
        return False
    try:
        info = _licensing().validate(text, strict=True)
    except Exception:  # license-expression raises on some malformed input instead of reporting
        return False
    if info.errors or info.invalid_symbols:
        return False
    symbols = [t for t in _SYMBOL.findall(text) if t.upper() not in ("AND", "OR", "WITH")]
    return all(fixup_spdx_id(t.removesuffix("+")) is not None for t in symbols)


def is_compound(expression: str) -> bool:
    """An expression with an operator needs parentheses when joined to others with AND."""
    return any(f" {op} " in f" {expression.upper()} " for op in ("AND", "OR", "WITH"))


def spdx_id(text: str) -> str:
    """Reduce any text to the characters an SPDXRef / LicenseRef id may hold."""
    return _ID_CHARS.sub("-", text).strip("-") or "x"


def short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def unique_refs(keys: Iterable[str]) -> list[str]:
    """Make a list of candidate ids unique while keeping the first one of each unchanged.

    Later duplicates get `-2`, `-3`…: deterministic, so the same input gives the same ids.
    """
    used: set[str] = set()
    out: list[str] = []
    for key in keys:
        candidate, count = key, 1
        while candidate in used:
            count += 1
            candidate = f"{key}-{count}"
        used.add(candidate)
        out.append(candidate)
    return out


def split_top_level_and(expression: str) -> list[str]:
    """Split `A AND (B OR C)` into `["A", "B OR C"]`; anything else is one element.

    Tools join a package's several licences with AND; splitting at the top level only gives the
    list back without breaking a licence that is itself an expression.
    """
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    tokens = re.findall(r"\(|\)|[^\s()]+", expression)
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        if depth == 0 and token.upper() == "AND":
            parts.append(" ".join(current))
            current = []
            continue
        current.append(token)
    parts.append(" ".join(current))
    cleaned = []
    for part in parts:
        text = part.replace("( ", "(").replace(" )", ")").strip()
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            text = text[1:-1].strip()
        if text:
            cleaned.append(text)
    return cleaned


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
