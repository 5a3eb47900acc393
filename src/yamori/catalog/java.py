"""Java archives (.jar/.war/.ear/.par): Maven coordinates from inside the archive.

Identity, best source first:
1. `META-INF/maven/<group>/<artifact>/pom.properties` — exact coordinates, one per bundled
   artifact (a shaded jar carries several, each a real package);
2. `META-INF/MANIFEST.MF` — `Implementation-*` / `Bundle-*` fields, when no pom.properties;
3. the file name `artifact-1.2.3.jar`, with the group taken from the manifest if it names one.

Archives nested in archives (`WEB-INF/lib/*.jar` of a war, jars in an ear, fat jars) are
opened recursively in memory, bounded in depth and size; nothing is extracted to disk. Their
packages keep the outer file as `location` (the file that is in the image) and record the
path inside it in `metadata["archive_path"]`.
"""

from __future__ import annotations

import io
import posixpath
import re
import zlib
from typing import IO, TYPE_CHECKING, Any

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

if TYPE_CHECKING:
    import zipfile

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par")
MAX_DEPTH = 4
MAX_NESTED_SIZE = 128 * 1024 * 1024  # one nested archive held in memory
MAX_TOTAL_NESTED = 512 * 1024 * 1024  # all nested archives of one outer file
MAX_SMALL_ENTRY = 1024 * 1024  # a manifest or pom.properties
MAX_ENTRIES = 200_000

_FILENAME = re.compile(r"^(?P<artifact>[A-Za-z0-9_.\-]+?)-(?P<version>\d[\w.\-+]*?)$")


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties (the subset pom.properties uses: `key=value`, `#` comments)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a MANIFEST.MF (continuation lines start with one space)."""
    values: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            break  # the main section ends at the first blank line
        if line.startswith(" ") and key:
            values[key] += line[1:]
            continue
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip()
            values[key] = value.strip()
    return values


class _Budget:
    """Bytes of nested archives still allowed for one outer file."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_NESTED


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """An entry's bytes, refusing entries that declare or turn out to be larger than `limit`."""
    import zipfile  # already loaded by `_archive_packages`: a dictionary look-up

    if info.file_size > limit:
        raise ValueError(f"{info.filename} is larger than {limit} bytes")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # Corrupt data, unsupported compression or an encrypted entry.
        raise ValueError(f"cannot read {info.filename}: {exc}") from None
    if len(data) > limit:
        raise ValueError(f"{info.filename} expands beyond {limit} bytes")
    return data


def _archive_packages(
    stream: IO[bytes], file_name: str, location: str, inner_path: str, depth: int, budget: _Budget
) -> list[Package]:
    import zipfile  # here, not at module level: only archives need it, most scans have none

    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"not a zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError("archive has too many entries")
        poms: list[dict[str, str]] = []
        manifest: dict[str, str] = {}
        nested: list[zipfile.ZipInfo] = []
        for info in infos:
            name = info.filename
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                props = parse_properties(
                    _read_entry(archive, info, MAX_SMALL_ENTRY).decode("utf-8", "replace")
                )
                if props.get("groupId") and props.get("artifactId") and props.get("version"):
                    poms.append(props)
            elif name.upper() == "META-INF/MANIFEST.MF":
                manifest = parse_manifest(
                    _read_entry(archive, info, MAX_SMALL_ENTRY).decode("utf-8", "replace")
                )
            elif name.lower().endswith(ARCHIVE_SUFFIXES) and not info.is_dir():
                nested.append(info)
        packages = _own_packages(poms, manifest, file_name, location, inner_path)
        if depth < MAX_DEPTH:
            for info in nested:
                if info.file_size > MAX_NESTED_SIZE or info.file_size > budget.left:
                    continue
                budget.left -= info.file_size
                try:
                    data = _read_entry(archive, info, MAX_NESTED_SIZE)
                    child_path = f"{inner_path}!/{info.filename}" if inner_path else info.filename
                    packages.extend(
                        _archive_packages(
                            io.BytesIO(data),
                            posixpath.basename(info.filename),
                            location,
                            child_path,
                            depth + 1,
                            budget,
                        )
                    )
                except ValueError:
                    continue  # one broken nested jar must not hide the rest of the archive
    return packages


def _own_packages(
    poms: list[dict[str, str]], manifest: dict[str, str], file_name: str, location: str, inner_path: str
) -> list[Package]:
    licenses = _manifest_licenses(manifest)
    base_meta: dict[str, Any] = {"archive_path": inner_path} if inner_path else {}
    if poms:
        return [
            Package(
                name=f"{p['groupId']}:{p['artifactId']}",
                version=p["version"],
                type=PackageType.MAVEN,
                location=location,
                licenses=list(licenses) if len(poms) == 1 else [],  # shaded: whose licence?
                metadata={**base_meta, "source": "pom.properties"},
            )
            for p in poms
        ]
    group, artifact, version = _from_manifest(manifest, file_name)
    if not artifact or not version:
        return []
    name = f"{group}:{artifact}" if group else artifact
    metadata = {**base_meta, "source": "manifest" if group else "filename"}
    return [
        Package(
            name=name,
            version=version,
            type=PackageType.MAVEN,
            location=location,
            licenses=licenses,
            metadata=metadata,
        )
    ]


def _from_manifest(manifest: dict[str, str], file_name: str) -> tuple[str, str, str]:
    """(group, artifact, version) from the manifest, with the file name filling the gaps."""
    stem = file_name.rsplit(".", 1)[0]
    match = _FILENAME.match(stem)
    file_artifact = match.group("artifact") if match else ""
    file_version = match.group("version") if match else ""
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";", 1)[0].strip()
    group = manifest.get("Implementation-Vendor-Id", "").strip()
    artifact = file_artifact
    if not artifact:
        title = manifest.get("Implementation-Title", "").strip()
        if title and " " not in title:
            artifact = title
        elif symbolic:
            artifact = symbolic.rsplit(".", 1)[-1]
    if not group and symbolic and "." in symbolic:
        # OSGi names are usually `group.artifact` or just the group (com.google.guava).
        prefix, _, last = symbolic.rpartition(".")
        group = prefix if last == artifact else symbolic
    version = (
        manifest.get("Implementation-Version", "").strip()
        or manifest.get("Bundle-Version", "").strip()
        or file_version
    )
    if file_version and version != file_version and not version.startswith(file_version):
        version = file_version  # the file name is what the build tool resolved
    return group, artifact, version


def _manifest_licenses(manifest: dict[str, str]) -> list[str]:
    value = manifest.get("Bundle-License", "").strip()
    if not value:
        return []
    first = value.split(",", 1)[0].split(";", 1)[0].strip()
    return [first] if first else []


@register
class JavaArchiveCataloger(Cataloger):
    """Maven artifacts in Java archives, nested ones included."""

    name = "java-archive"
    version = 1
    max_size = 1024 * 1024 * 1024

    def wants(self, path: str, mode: int) -> bool:
        return path.endswith(ARCHIVE_SUFFIXES)

    def analyze(self, file: FileInput) -> FileResult | None:
        with file.open() as stream:
            packages = _archive_packages(stream, posixpath.basename(file.path), file.path, "", 0, _Budget())
        return FileResult(packages=packages)
