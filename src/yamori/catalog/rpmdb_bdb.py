"""Read the values of a BerkeleyDB *hash* database: rpm's legacy `Packages` file (rpm < 4.16,
RHEL/CentOS ≤ 8, Amazon Linux 2, older SUSE).

No libdb binding is needed, or wanted: we only have to list the stored values, and the hash
access method keeps each key/value pair on a hash page (or, for values larger than a page,
in a chain of overflow pages it points to). So we walk every page, take the pairs from hash
pages and follow overflow chains. Layout facts (db_page.h):

- page 0 is the metadata page: magic 0x061561 at offset 12 (its byte order gives the file's),
  page size at 20, last page number at 32;
- every page starts with a 26-byte header: pgno@8, prev@12, next@16, entries(u16)@20,
  hf_offset(u16)@22, level@24, type(u8)@25, followed on hash pages by `entries` u16 item
  offsets; items alternate key, value;
- an item starts with its type: H_KEYDATA (1) holds the bytes inline up to the previous item's
  offset; H_OFFPAGE (3) holds pgno@4 and total length@8 of an overflow chain;
- an overflow page (type 7) holds `hf_offset` bytes of data after its header, then `next`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

HASH_MAGIC = 0x061561
PAGE_HEADER = 26
P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASH = 13
H_KEYDATA = 1
H_DUPLICATE = 2
H_OFFPAGE = 3
VALID_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))  # 512 B … 64 KiB


def _byte_order(data: bytes) -> str:
    if len(data) < 512:
        raise ValueError("BerkeleyDB file is shorter than one page")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, 12)[0] == HASH_MAGIC:
            return order
    raise ValueError("not a BerkeleyDB hash database (bad magic)")


def iter_values(data: bytes) -> Iterator[bytes]:
    """Every value stored in the hash database, in page order."""
    order = _byte_order(data)
    (page_size,) = struct.unpack_from(order + "I", data, 20)
    if page_size not in VALID_PAGE_SIZES:
        raise ValueError(f"BerkeleyDB page size {page_size} is invalid")
    page_count = len(data) // page_size
    for pgno in range(1, page_count):
        base = pgno * page_size
        page_type = data[base + 25]
        if page_type not in (P_HASH, P_HASH_UNSORTED):
            continue
        (entries,) = struct.unpack_from(order + "H", data, base + 20)
        if PAGE_HEADER + 2 * entries > page_size:
            raise ValueError(f"BerkeleyDB page {pgno} claims too many entries")
        offsets = struct.unpack_from(f"{order}{entries}H", data, base + PAGE_HEADER)
        for i in range(1, entries, 2):  # odd items are values
            offset = offsets[i]
            item_end = offsets[i - 1]
            if not PAGE_HEADER <= offset < item_end <= page_size:
                raise ValueError(f"BerkeleyDB page {pgno} has a bad item offset")
            item_type = data[base + offset]
            if item_type == H_KEYDATA:
                yield data[base + offset + 1 : base + item_end]
            elif item_type == H_OFFPAGE:
                if offset + 12 > page_size:
                    raise ValueError(f"BerkeleyDB page {pgno} has a truncated overflow item")
                start, length = struct.unpack_from(order + "II", data, base + offset + 4)
                yield _overflow(data, order, page_size, start, length)
            # H_DUPLICATE / H_OFFDUP: rpm never stores duplicate keys in Packages.


def _overflow(data: bytes, order: str, page_size: int, pgno: int, length: int) -> bytes:
    """Concatenate an overflow chain; guards against loops and chains that end early."""
    chunks: list[bytes] = []
    collected = 0
    seen: set[int] = set()
    page_count = len(data) // page_size
    while collected < length:
        if pgno == 0 or pgno >= page_count or pgno in seen:
            raise ValueError("BerkeleyDB overflow chain is broken")
        seen.add(pgno)
        base = pgno * page_size
        if data[base + 25] != P_OVERFLOW:
            raise ValueError(f"BerkeleyDB page {pgno} is not an overflow page")
        (next_pgno,) = struct.unpack_from(order + "I", data, base + 16)
        (used,) = struct.unpack_from(order + "H", data, base + 22)
        if used > page_size - PAGE_HEADER:
            raise ValueError(f"BerkeleyDB overflow page {pgno} claims too much data")
        chunks.append(data[base + PAGE_HEADER : base + PAGE_HEADER + used])
        collected += used
        pgno = next_pgno
    return b"".join(chunks)[:length]
