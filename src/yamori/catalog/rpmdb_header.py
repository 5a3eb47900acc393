"""Decode an rpm header blob as the rpm database stores it, and turn it into a `Package`.

Every rpm database backend (SQLite, BerkeleyDB hash, NDB) stores the same thing per installed
package: the package's *immutable header*, without the lead and the 8-byte header magic that a
`.rpm` file carries. The blob is:

    int32 il        number of index entries            (all integers big-endian)
    int32 dl        size of the data store
    il * 16 bytes   index entries: tag, type, offset (into the data store), count
    dl bytes        data store

Region tags (61-63) describe signatures over parts of the header; we only read values, so we
skip them. Everything is bounds-checked: a database taken from an image is untrusted input.
"""

from __future__ import annotations

import stat
import struct
from dataclasses import dataclass

from yamori.model import Package, PackageType

# Header value types (rpmtag.h, rpmTagType).
TYPE_NULL = 0
TYPE_CHAR = 1
TYPE_INT8 = 2
TYPE_INT16 = 3
TYPE_INT32 = 4
TYPE_INT64 = 5
TYPE_STRING = 6
TYPE_BIN = 7
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

# The tags we read (rpmtag.h).
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_BUILDTIME = 1006
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_FILEMODES = 1030
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_MODULARITYLABEL = 5096

# rpm itself refuses headers beyond these (hdrchkTags / hdrchkData); so do we.
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_BYTES = 256 * 1024 * 1024
_INT_FORMATS = {TYPE_INT8: "b", TYPE_INT16: "h", TYPE_INT32: "i", TYPE_INT64: "q", TYPE_CHAR: "B"}
_INT_SIZES = {TYPE_INT8: 1, TYPE_INT16: 2, TYPE_INT32: 4, TYPE_INT64: 8, TYPE_CHAR: 1}


@dataclass(frozen=True, slots=True)
class _Entry:
    type: int
    offset: int
    count: int


class RpmHeader:
    """Typed, lazy access to the values of one header blob."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < 8:
            raise ValueError("rpm header blob is shorter than its 8-byte preamble")
        il, dl = struct.unpack_from(">ii", blob, 0)
        if not 0 < il <= MAX_INDEX_ENTRIES or not 0 <= dl <= MAX_DATA_BYTES:
            raise ValueError(f"rpm header has implausible sizes (entries={il}, data={dl})")
        store_start = 8 + 16 * il
        if store_start + dl > len(blob):
            raise ValueError("rpm header blob is truncated")
        self._blob = blob
        self._start = store_start
        self._end = store_start + dl
        self._entries: dict[int, _Entry] = {}
        for i in range(il):
            tag, typ, offset, count = struct.unpack_from(">iiii", blob, 8 + 16 * i)
            if not 0 <= offset <= dl or count < 0 or not TYPE_NULL <= typ <= TYPE_I18NSTRING:
                raise ValueError(f"rpm header entry for tag {tag} is out of bounds")
            self._entries.setdefault(tag, _Entry(typ, offset, count))

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    def strings(self, tag: int) -> list[str]:
        """A STRING, STRING_ARRAY or I18NSTRING value as a list (empty when the tag is absent)."""
        entry = self._entries.get(tag)
        if entry is None:
            return []
        if entry.type not in (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING):
            raise ValueError(f"rpm header tag {tag} is not a string")
        count = 1 if entry.type == TYPE_STRING else entry.count
        values: list[str] = []
        pos = self._start + entry.offset
        blob = self._blob
        for _ in range(count):
            end = blob.find(b"\0", pos, self._end)
            if end < 0:
                raise ValueError(f"rpm header string for tag {tag} is not terminated")
            values.append(blob[pos:end].decode("utf-8", "replace"))
            pos = end + 1
        return values

    def string(self, tag: int) -> str | None:
        """The first string of a tag (I18NSTRING: the default locale), or None."""
        values = self.strings(tag)
        return values[0] if values else None

    def ints(self, tag: int) -> list[int]:
        """An integer array value (INT8..INT64, CHAR); empty when the tag is absent."""
        entry = self._entries.get(tag)
        if entry is None:
            return []
        fmt = _INT_FORMATS.get(entry.type)
        if fmt is None:
            raise ValueError(f"rpm header tag {tag} is not an integer")
        size = _INT_SIZES[entry.type] * entry.count
        if self._start + entry.offset + size > self._end:
            raise ValueError(f"rpm header integers for tag {tag} run past the data store")
        return list(struct.unpack_from(f">{entry.count}{fmt}", self._blob, self._start + entry.offset))


def parse_source_rpm(source_rpm: str) -> tuple[str, str] | None:
    """(name, "version-release") from "name-version-release.src.rpm", or None if malformed.

    Names may contain dashes, versions and releases may not, so split from the right.
    """
    stem = source_rpm
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], f"{parts[1]}-{parts[2]}"


def _file_paths(header: RpmHeader) -> list[str]:
    """Absolute paths of the files the package owns, directories left out.

    Modern headers store files compressed as (DIRNAMES, DIRINDEXES, BASENAMES); very old ones
    (rpm < 4.0) as OLDFILENAMES. FILEMODES tells directories apart at no cost.
    """
    basenames = header.strings(TAG_BASENAMES)
    if basenames:
        dirnames = header.strings(TAG_DIRNAMES)
        indexes = header.ints(TAG_DIRINDEXES)
        if len(indexes) != len(basenames):
            raise ValueError("rpm header file lists disagree in length")
        paths = []
        for base, index in zip(basenames, indexes, strict=True):
            if not 0 <= index < len(dirnames):
                raise ValueError("rpm header directory index is out of range")
            paths.append(dirnames[index] + base)
    else:
        paths = header.strings(TAG_OLDFILENAMES)
    modes = header.ints(TAG_FILEMODES)
    if len(modes) == len(paths):
        return [p for p, m in zip(paths, modes, strict=True) if not stat.S_ISDIR(m & 0xFFFF)]
    return paths


def package_from_header(blob: bytes, location: str) -> Package | None:
    """The package a header describes; None for rpm's pseudo-packages (imported GPG keys)."""
    header = RpmHeader(blob)
    name = header.string(TAG_NAME)
    version = header.string(TAG_VERSION)
    if not name or version is None:
        raise ValueError("rpm header lacks a name or version")
    if name == "gpg-pubkey":
        return None
    release = header.string(TAG_RELEASE)
    epochs = header.ints(TAG_EPOCH)
    source_rpm = header.string(TAG_SOURCERPM)
    source = parse_source_rpm(source_rpm) if source_rpm else None
    license_ = header.string(TAG_LICENSE)
    metadata: dict[str, object] = {"epoch": epochs[0] if epochs else None}
    vendor = header.string(TAG_VENDOR)
    if vendor:
        metadata["vendor"] = vendor
    if source_rpm:
        metadata["source_rpm"] = source_rpm
    modularity = header.string(TAG_MODULARITYLABEL)
    if modularity:
        metadata["modularity_label"] = modularity
    build_times = header.ints(TAG_BUILDTIME)
    if build_times:
        metadata["build_time"] = build_times[0]
    return Package(
        name=name,
        version=f"{version}-{release}" if release else version,
        type=PackageType.RPM,
        location=location,
        source_name=source[0] if source else None,
        source_version=source[1] if source else None,
        arch=header.string(TAG_ARCH),
        licenses=[license_] if license_ else [],
        files=_file_paths(header),
        metadata=metadata,
    )
