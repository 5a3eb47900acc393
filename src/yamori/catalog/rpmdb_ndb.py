"""Read the header blobs of rpm's NDB backend (`Packages.db`, openSUSE/SLES since 15 SP3).

Layout facts (rpm's lib/backend/ndb/rpmpkg.c; integers little-endian since rpm 4.16):

- a 32-byte file header: magic "RpmP"@0, version@4, generation@8, slot page count@12;
- then slot pages of 4096 bytes holding 16-byte slots (the first two slots of page 0 are the
  file header): magic "Slot", package index, block offset, block count — an empty slot has
  block offset 0;
- blocks are 16 bytes; a blob at `block offset * 16` starts with a 16-byte head (magic "BlbS",
  package index, timestamp, length), then the header blob, zero padding, and a 12-byte tail
  (adler32 of head + blob + padding, length, magic "BlbE").

We check the head, the tail and the checksum, so a torn write shows as an error, not garbage.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

FILE_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_HEAD_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"
PAGE_SIZE = 4096
SLOT_SIZE = 16
BLOCK_SIZE = 16
FILE_HEADER_SIZE = 32
BLOB_HEAD_SIZE = 16
BLOB_TAIL_SIZE = 12


def iter_blobs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(package index, header blob) for every occupied slot, in slot order."""
    if len(data) < FILE_HEADER_SIZE or data[:4] != FILE_MAGIC:
        raise ValueError("not an rpm NDB Packages.db (bad magic)")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0:
        raise ValueError(f"unsupported NDB version {version}")
    if slot_pages == 0 or slot_pages * PAGE_SIZE > len(data):
        raise ValueError("NDB slot pages run past the end of the file")
    for offset in range(FILE_HEADER_SIZE, slot_pages * PAGE_SIZE, SLOT_SIZE):
        magic = data[offset : offset + 4]
        if magic != SLOT_MAGIC:
            raise ValueError(f"NDB slot at {offset} has a bad magic")
        pkg_index, block_offset, block_count = struct.unpack_from("<III", data, offset + 4)
        if block_offset == 0:
            continue  # free slot
        yield pkg_index, _read_blob(data, pkg_index, block_offset, block_count)


def _read_blob(data: bytes, pkg_index: int, block_offset: int, block_count: int) -> bytes:
    start = block_offset * BLOCK_SIZE
    end = start + block_count * BLOCK_SIZE
    if end > len(data) or block_count * BLOCK_SIZE < BLOB_HEAD_SIZE + BLOB_TAIL_SIZE:
        raise ValueError(f"NDB blob of package {pkg_index} lies outside the file")
    if data[start : start + 4] != BLOB_HEAD_MAGIC:
        raise ValueError(f"NDB blob of package {pkg_index} has a bad head")
    head_index, _timestamp, length = struct.unpack_from("<III", data, start + 4)
    if head_index != pkg_index:
        raise ValueError(f"NDB blob at block {block_offset} belongs to another package")
    if BLOB_HEAD_SIZE + length + BLOB_TAIL_SIZE > block_count * BLOCK_SIZE:
        raise ValueError(f"NDB blob of package {pkg_index} is longer than its blocks")
    tail = end - BLOB_TAIL_SIZE
    checksum, tail_length = struct.unpack_from("<II", data, tail)
    if data[tail + 8 : tail + 12] != BLOB_TAIL_MAGIC or tail_length != length:
        raise ValueError(f"NDB blob of package {pkg_index} has a bad tail")
    if zlib.adler32(data[start:tail]) != checksum:
        raise ValueError(f"NDB blob of package {pkg_index} fails its checksum")
    return data[start + BLOB_HEAD_SIZE : start + BLOB_HEAD_SIZE + length]
