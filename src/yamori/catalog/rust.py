"""Rust crates: `Cargo.lock` in project trees, and binaries built with cargo-auditable.

A Rust binary normally says nothing about the crates compiled into it; cargo-auditable adds an
ELF section `.dep-v0` holding zlib-compressed JSON
`{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`. Crates of kind
"build" (build scripts, proc-macros) ran at build time but are not in the binary, so they are
left out, as Trivy does. `Cargo.lock` is a lockfile and only counts when scanning a project
("fs" scope); in an image it says nothing about what was installed.
"""

from __future__ import annotations

import json
import posixpath
import zlib
from typing import TYPE_CHECKING, Any

from yamori.catalog.executable import ElfCataloger
from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

if TYPE_CHECKING:
    from yamori.catalog.elf import ElfFile

AUDIT_SECTION = ".dep-v0"
MAX_SECTION = 8 * 1024 * 1024
MAX_JSON = 64 * 1024 * 1024


def parse_audit_data(compressed: bytes, location: str) -> list[Package]:
    """Packages from the content of a `.dep-v0` section; ValueError if it is not audit data."""
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_JSON)
        if inflater.unconsumed_tail:
            raise ValueError("cargo-auditable data expands beyond the size bound")
        data = json.loads(raw)
    except (zlib.error, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"bad cargo-auditable data: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("packages"), list):
        raise ValueError("cargo-auditable data has no package list")
    packages: list[Package] = []
    for entry in data["packages"]:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        if entry.get("kind", "runtime") == "build":
            continue
        metadata: dict[str, Any] = {"source": str(entry.get("source", ""))}
        if entry.get("root"):
            metadata["root"] = True
        packages.append(
            Package(name=name, version=version, type=PackageType.CARGO, location=location, metadata=metadata)
        )
    return packages


@register
class RustBinaryCataloger(ElfCataloger):
    """Crates recorded by cargo-auditable in Rust executables."""

    name = "rust-binary"
    version = 1

    def analyze_elf(self, elf: ElfFile, path: str) -> FileResult | None:
        data = elf.section_data(AUDIT_SECTION, MAX_SECTION)
        if data is None:
            return None
        return FileResult(packages=parse_audit_data(data, path))


def parse_cargo_lock(text: str, location: str) -> list[Package]:
    """Every `[[package]]` of a Cargo.lock (versions 1 to 4 share this table)."""
    import tomllib  # here, not at module level: only project scans with a Cargo.lock need it

    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # hostile nesting too
        raise ValueError(f"bad Cargo.lock: {exc}") from None
    entries = data.get("package", [])
    if not isinstance(entries, list):
        raise ValueError("Cargo.lock 'package' is not an array of tables")
    packages: list[Package] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        if (name, version) in seen:
            continue
        seen.add((name, version))
        source = entry.get("source")
        metadata: dict[str, Any] = {}
        if isinstance(source, str):
            metadata["source"] = source
        else:
            metadata["local"] = True  # a workspace member, not a published crate
        if isinstance(entry.get("checksum"), str):
            metadata["checksum"] = entry["checksum"]
        packages.append(
            Package(name=name, version=version, type=PackageType.CARGO, location=location, metadata=metadata)
        )
    return packages


@register
class CargoLockCataloger(Cataloger):
    """Crates pinned by a project's Cargo.lock."""

    name = "cargo-lock"
    version = 1
    max_size = 32 * 1024 * 1024
    scopes = frozenset({"fs"})

    def wants(self, path: str, mode: int) -> bool:
        return path.endswith("Cargo.lock") and posixpath.basename(path) == "Cargo.lock"

    def analyze(self, file: FileInput) -> FileResult | None:
        text = file.read().decode("utf-8")
        return FileResult(packages=parse_cargo_lock(text, file.path))
