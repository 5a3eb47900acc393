"""Installed Python distributions: `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` (or a
single-file `*.egg-info`), wherever they sit (site-packages, dist-packages, a --target dir).

The file list lives in a separate file (`RECORD` beside METADATA, `installed-files.txt` in an
egg-info directory). Each file is analysed on its own and keyed by its own path, so a later
layer can replace either without the other; `finalize` joins them on the final view.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
from collections.abc import Mapping

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

MAX_LICENSE_FIELD = 120  # longer "License:" values are whole licence texts, not names


def parse_metadata(text: str) -> dict[str, list[str]]:
    """The header block of a core-metadata file (RFC 822 style, continuation lines joined).

    Hand-written rather than `email.parser`: the body (the long description) is never needed,
    and this stops at the first blank line.
    """
    fields: dict[str, list[str]] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and key:
            fields[key][-1] += "\n" + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        fields.setdefault(key, []).append(value.strip())
    return fields


def licenses_from(fields: Mapping[str, list[str]]) -> list[str]:
    """License-Expression (PEP 639) first, then a short License field, then classifiers."""
    expression = (fields.get("license-expression") or [""])[0].strip()
    if expression:
        return [expression]
    declared = (fields.get("license") or [""])[0].strip()
    if (
        declared
        and "\n" not in declared
        and len(declared) <= MAX_LICENSE_FIELD
        and declared.upper() != "UNKNOWN"
    ):
        return [declared]
    found: list[str] = []
    for classifier in fields.get("classifier", []):
        parts = [p.strip() for p in classifier.split("::")]
        usable = len(parts) >= 2 and parts[0] == "License" and parts[-1] not in ("OSI Approved", "")
        if usable and parts[-1] not in found:
            found.append(parts[-1])
    return found


def _record_files(text: str, base_dir: str) -> list[str]:
    """Absolute paths from a RECORD (CSV, paths relative to the site-packages directory)."""
    import csv  # here, not at module level: a cached scan never reads a RECORD

    files: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        if row and row[0]:
            files.append(_absolute(base_dir, row[0]))
    return files


def _absolute(base_dir: str, relative: str) -> str:
    if relative.startswith("/"):
        return posixpath.normpath(relative)
    return "/" + posixpath.normpath(posixpath.join(base_dir, relative)).lstrip("/")


@register
class PythonCataloger(Cataloger):
    """pip/setuptools-installed distributions."""

    name = "python-package"
    version = 1
    max_size = 16 * 1024 * 1024

    def wants(self, path: str, mode: int) -> bool:
        if path.endswith(".egg-info"):
            return True
        if not path.endswith(("/METADATA", "/RECORD", "/PKG-INFO", "/installed-files.txt")):
            return False
        parent = path[: path.rfind("/")]
        if path.endswith(("/METADATA", "/RECORD")):
            return parent.endswith(".dist-info")
        return parent.endswith(".egg-info")

    def analyze(self, file: FileInput) -> FileResult | None:
        text = file.read().decode("utf-8", "replace")
        base = posixpath.basename(file.path)
        parent = posixpath.dirname(file.path)
        if base == "RECORD":
            return FileResult(
                extra={"files_for": parent, "files": _record_files(text, posixpath.dirname(parent))}
            )
        if base == "installed-files.txt":
            files = [_absolute(parent, line.strip()) for line in text.splitlines() if line.strip()]
            return FileResult(extra={"files_for": parent, "files": files})
        fields = parse_metadata(text)
        name = (fields.get("name") or [""])[0]
        version = (fields.get("version") or [""])[0]
        if not name or not version:
            raise ValueError("metadata lacks Name or Version")
        metadata_dir = file.path if base.endswith(".egg-info") else parent
        package = Package(
            name=name,
            version=version,
            type=PackageType.PYPI,
            location=file.path,
            licenses=licenses_from(fields),
            metadata={"metadata_dir": metadata_dir},
        )
        return FileResult(packages=[package])

    def finalize(self, results: Mapping[str, FileResult]) -> list[Package]:
        files_by_dir: dict[str, list[str]] = {}
        for result in results.values():
            owner = result.extra.get("files_for")
            if isinstance(owner, str):
                files_by_dir[owner] = list(result.extra.get("files", []))
        packages: list[Package] = []
        for result in results.values():
            for pkg in result.packages:
                # A copy: results may be shared with the layer cache and with other scans.
                metadata = dict(pkg.metadata)
                files = files_by_dir.get(str(metadata.pop("metadata_dir", "")), [])
                packages.append(dataclasses.replace(pkg, files=files, metadata=metadata))
        return packages
