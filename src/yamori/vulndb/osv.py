"""Reading OSV dumps (`<ecosystem>/all.zip` or a directory of JSON) without trusting them.

A dump comes from the network or from a USB stick on an air-gapped site, so every record is
checked against the parts of the OSV schema the index and the matcher rely on, and a bad record
costs one message, never the rest of the dump. Zip members are read into memory with a size cap
and never extracted: a member name is only a label, so path tricks in it cannot touch the disk.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from yamori.vulndb.interface import normalize_name

#: The ecosystems `db update` fetches when none is named (issue 3).
DEFAULT_ECOSYSTEMS: tuple[str, ...] = (
    "Debian",
    "Ubuntu",
    "Alpine",
    "Red Hat",
    "Rocky Linux",
    "AlmaLinux",
    "SUSE",
    "Wolfi",
    "Chainguard",
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "crates.io",
    "RubyGems",
    "NuGet",
    "Packagist",
)

#: Every ecosystem stem OSV defines (the part before `:`), so a typo is caught instead of
#: silently producing an empty index. Releases (`Debian:12`) are not listed: they vary.
KNOWN_ECOSYSTEMS: frozenset[str] = frozenset(
    {
        *DEFAULT_ECOSYSTEMS,
        "AlmaLinux",
        "Alpaquita",
        "Android",
        "BellSoft Hardened Containers",
        "Bioconductor",
        "Bitnami",
        "CRAN",
        "GHC",
        "GIT",
        "GSD",
        "GitHub Actions",
        "Hackage",
        "Hex",
        "Linux",
        "Mageia",
        "MinimOS",
        "OSS-Fuzz",
        "Photon OS",
        "Pub",
        "SUSE",
        "SwiftURL",
        "UVI",
        "VSCode",
        "openEuler",
        "openSUSE",
        "ConanCenter",
        "Echo",
        "Julia",
    }
)

#: One OSV record is a few kB; the largest real ones (kernel CVEs) stay far below this. The cap
#: protects the process from a zip bomb posing as a record.
MAX_RECORD_BYTES = 16 * 1024 * 1024


class OsvError(ValueError):
    """A dump or record cannot be used; the message is one line and names where."""


def ecosystem_stem(ecosystem: str) -> str:
    """`Debian:12` → `Debian`: the part that says which version scheme and naming applies."""
    return ecosystem.split(":", 1)[0]


def is_known_ecosystem(ecosystem: str) -> bool:
    return ecosystem_stem(ecosystem) in KNOWN_ECOSYSTEMS


@dataclass(slots=True)
class Record:
    """A validated OSV record plus what the index needs from it."""

    id: str
    modified: str
    withdrawn: str | None
    raw: bytes  # the JSON exactly as received, re-serialised compactly
    packages: list[tuple[str, str]]  # (ecosystem with release, normalised name)


def _fail(where: str, reason: str) -> OsvError:
    return OsvError(f"{where}: {reason}")


def parse_record(data: bytes, where: str, on_warning: Callable[[str], None]) -> Record:
    """Parse and check one record; raise OsvError (one line) when it breaks the schema.

    Only the fields the index and the matcher depend on are checked strictly; everything else is
    kept as is so a newer schema minor version still loads.
    """
    try:
        doc: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _fail(where, f"not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise _fail(where, "an OSV record must be a JSON object")
    rid = doc.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise _fail(where, "record has no 'id'")
    where = f"{where} ({rid})"
    modified = doc.get("modified")
    if not isinstance(modified, str) or not modified:
        raise _fail(where, "record has no 'modified' timestamp")
    withdrawn = doc.get("withdrawn")
    if withdrawn is not None and not isinstance(withdrawn, str):
        raise _fail(where, "'withdrawn' must be a timestamp string")
    aliases = doc.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise _fail(where, "'aliases' must be a list of strings")
    affected = doc.get("affected", [])
    if not isinstance(affected, list):
        raise _fail(where, "'affected' must be a list")
    packages: list[tuple[str, str]] = []
    for index, entry in enumerate(affected):
        if not isinstance(entry, dict):
            raise _fail(where, f"affected[{index}] must be an object")
        for key in ("ranges", "versions"):
            if key in entry and not isinstance(entry[key], list):
                raise _fail(where, f"affected[{index}].{key} must be a list")
        package = entry.get("package")
        if package is None:
            continue  # schema allows affected entries without a package (GIT-only ranges)
        if not isinstance(package, dict):
            raise _fail(where, f"affected[{index}].package must be an object")
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str) or not ecosystem or not name:
            raise _fail(where, f"affected[{index}].package needs 'ecosystem' and 'name' strings")
        if not is_known_ecosystem(ecosystem):
            on_warning(f"{where}: affected[{index}]: unknown ecosystem {ecosystem!r}, entry not indexed")
            continue
        key_pair = (ecosystem, normalize_name(ecosystem, name))
        if key_pair not in packages:
            packages.append(key_pair)
    return Record(
        id=rid,
        modified=modified,
        withdrawn=withdrawn or None,
        raw=orjson.dumps(doc),
        packages=packages,
    )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member in memory, refusing anything larger than a record can reasonably be."""
    if info.file_size > MAX_RECORD_BYTES:
        raise OsvError(f"{info.filename}: {info.file_size} bytes, larger than any OSV record")
    with archive.open(info) as handle:
        data = handle.read(MAX_RECORD_BYTES + 1)  # the header's size may lie
    if len(data) > MAX_RECORD_BYTES:
        raise OsvError(f"{info.filename}: larger than any OSV record")
    return data


def iter_zip(path: Path, label: str) -> Iterator[tuple[str, bytes | OsvError]]:
    """(member, bytes or the error reading it) for each `*.json` member of an OSV dump.

    Opening the archive fails as a whole (truncated download, not a zip): that raises OsvError.
    A damaged member (CRC mismatch, bad compression) is yielded as an error so the others load.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise OsvError(f"{label}: not a readable zip archive ({exc})") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            where = f"{label}: {info.filename}"
            try:
                yield where, _read_member(archive, info)
            except OsvError as exc:
                yield where, OsvError(f"{label}: {exc}")
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
                # RuntimeError: encrypted member; NotImplementedError (a RuntimeError): odd compression
                yield where, OsvError(f"{where}: damaged zip member ({exc})")


def iter_directory(path: Path, label: str) -> Iterator[tuple[str, bytes | OsvError]]:
    """(file, bytes or error) for each `*.json` under a directory, in a stable order."""
    for file in sorted(path.rglob("*.json")):
        if not file.is_file():
            continue
        where = f"{label}: {file.relative_to(path)}"
        try:
            if file.stat().st_size > MAX_RECORD_BYTES:
                yield where, OsvError(f"{where}: larger than any OSV record")
                continue
            yield where, file.read_bytes()
        except OSError as exc:
            yield where, OsvError(f"{where}: cannot read ({exc.strerror or exc})")


def iter_dump(path: Path, label: str) -> Iterator[tuple[str, bytes | OsvError]]:
    """A zip or a directory, whichever `path` is."""
    if path.is_dir():
        return iter_directory(path, label)
    return iter_zip(path, label)


def source_label(path: Path) -> str | None:
    """The ecosystem a local dump holds, from its path (`…/PyPI/all.zip`, `…/PyPI/`, `PyPI.zip`)."""
    candidates = [path.name, path.stem, path.parent.name] if path.is_file() else [path.name]
    for candidate in candidates:
        if candidate in KNOWN_ECOSYSTEMS:
            return candidate
    return None
