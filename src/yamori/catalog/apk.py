"""Alpine (and Wolfi/Chainguard) packages from apk's database `lib/apk/db/installed`.

The file is a sequence of blank-line separated records of `X:value` lines, one letter per
field (apk's "installed database" format): P name, V version, A arch, L licence, o origin (the
source package, which Alpine's security database is keyed by), m maintainer, t build time
(Unix seconds), c the aports commit; files come as F (a directory, relative to the root) followed
by R lines (files in that directory), with a/M/Z lines (ACLs, checksums) we do not need.
"""

from __future__ import annotations

from collections.abc import Iterator

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

INSTALLED_PATH = "lib/apk/db/installed"


def _records(text: str) -> Iterator[list[tuple[str, str]]]:
    """Records as ordered (letter, value) lists: order matters for F/R pairs."""
    record: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            if record:
                yield record
            record = []
            continue
        if len(line) < 2 or line[1] != ":":
            raise ValueError(f"not an apk database line: {line[:40]!r}")
        record.append((line[0], line[2:]))
    if record:
        yield record


def _package(record: list[tuple[str, str]], location: str) -> Package | None:
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    for key, value in record:
        if key == "F":
            directory = value.strip("/")
        elif key == "R":
            files.append(f"/{directory}/{value}" if directory else f"/{value}")
        else:
            fields.setdefault(key, value)
    name, version = fields.get("P"), fields.get("V")
    if not name or not version:
        return None
    metadata: dict[str, object] = {}
    if fields.get("m"):
        metadata["maintainer"] = fields["m"]
    if fields.get("t", "").isdigit():
        metadata["build_time"] = int(fields["t"])
    if fields.get("c"):
        metadata["commit"] = fields["c"]
    license_ = fields.get("L", "").strip()
    return Package(
        name=name,
        version=version,
        type=PackageType.APK,
        location=location,
        source_name=fields.get("o") or name,
        source_version=version,
        arch=fields.get("A") or None,
        licenses=[license_] if license_ else [],
        files=files,
        metadata=metadata,
    )


def parse_installed(text: str, location: str = INSTALLED_PATH) -> list[Package]:
    """Every package record of an apk installed database."""
    packages = []
    for record in _records(text):
        pkg = _package(record, location)
        if pkg is not None:
            packages.append(pkg)
    return packages


@register
class ApkCataloger(Cataloger):
    """apk's installed database."""

    name = "apk"
    version = 1
    max_size = 128 * 1024 * 1024
    scopes = frozenset({"image", "rootfs"})

    def wants(self, path: str, mode: int) -> bool:
        return path == INSTALLED_PATH

    def analyze(self, file: FileInput) -> FileResult | None:
        data = file.read()
        if b"\x00" in data:
            raise ValueError("binary content where apk's text database was expected")
        return FileResult(packages=parse_installed(data.decode("utf-8", "replace"), file.path))
