"""A forward-only tar reader over a stream of byte chunks, for scanning layers fast.

Python's `tarfile` in stream mode reads 10 KiB at a time through several Python layers and
parses every header field; scanning a layer only needs each entry's name, type, mode, size and
link target, and must skip the data of nearly every entry. This reader keeps one buffer, skips
data by moving an offset, and parses the few fields that matter (ustar, POSIX pax `path` /
`linkpath` / `size`, GNU long names). Nothing is ever written anywhere.

Errors are `TarFormatError` (not a tar, bad header checksum) and `TarTruncatedError` (the stream
ends inside an entry or before the end-of-archive blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)

REGULAR = frozenset({b"0", b"\0", b"7"})
HARDLINK = b"1"
SYMLINK = b"2"
CHARDEV = b"3"
BLOCKDEV = b"4"
DIRECTORY = b"5"
FIFO = b"6"
_PAX_LOCAL = b"x"
_PAX_GLOBAL = b"g"
_GNU_LONGNAME = b"L"
_GNU_LONGLINK = b"K"
_META_MAX = 1024 * 1024  # a pax record or GNU long name larger than this is hostile


class TarFormatError(ValueError):
    """The stream is not a tar archive (or a header is corrupt)."""


class TarTruncatedError(EOFError):
    """The stream ends before the archive does."""


@dataclass(slots=True)
class TarEntry:
    name: str
    type: bytes
    mode: int
    size: int
    linkname: str

    @property
    def is_regular(self) -> bool:
        return self.type in REGULAR

    @property
    def is_device(self) -> bool:
        return self.type in (CHARDEV, BLOCKDEV)


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:
        # GNU base-256 for sizes beyond 8 GiB: big-endian after the marker bit.
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.strip(b"\0 ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"bad numeric field {field!r}") from None


def _text(field: bytes) -> str:
    end = field.find(b"\0")
    if end >= 0:
        field = field[:end]
    return field.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, str]:
    """Records are "LEN key=value\\n", LEN counting the whole record."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("bad pax record length") from None
        if length <= 0 or pos + length > len(data):
            raise TarFormatError("bad pax record length")
        record = data[space + 1 : pos + length - 1]  # without the trailing newline
        key, sep, value = record.partition(b"=")
        if sep:
            records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


class TarStreamReader:
    """Iterate entries of a tar archive given as successive byte chunks (`read_chunk() -> bytes`,
    b"" at the end). Only the current entry's data can be read, before asking for the next."""

    def __init__(self, read_chunk: Callable[[], bytes]) -> None:
        self._read_chunk = read_chunk
        self._buf = b""
        self._pos = 0
        self._data_left = 0  # unread data bytes of the current entry
        self._pad_left = 0  # padding after it
        self._eof = False

    # -- buffer -----------------------------------------------------------------------------
    def _fill(self, need: int) -> bool:
        """Make at least `need` bytes available from the current position; False at end."""
        while len(self._buf) - self._pos < need:
            if self._eof:
                return False
            chunk = self._read_chunk()
            if not chunk:
                self._eof = True
                return False
            self._buf = self._buf[self._pos :] + chunk if self._pos < len(self._buf) else chunk
            self._pos = 0
        return True

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise TarTruncatedError("the stream ends inside an entry")
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def _skip(self, n: int) -> None:
        available = len(self._buf) - self._pos
        if n <= available:
            self._pos += n
            return
        n -= available
        self._buf, self._pos = b"", 0
        while n > 0:
            chunk = self._read_chunk()
            if not chunk:
                self._eof = True
                raise TarTruncatedError("the stream ends inside an entry")
            if len(chunk) > n:
                self._buf, self._pos = chunk, n
                return
            n -= len(chunk)

    # -- entries ----------------------------------------------------------------------------
    def _finish_entry(self) -> None:
        if self._data_left or self._pad_left:
            self._skip(self._data_left + self._pad_left)
            self._data_left = self._pad_left = 0

    def read_data(self, limit: int | None = None) -> bytes:
        """The current entry's remaining data (at most `limit` bytes)."""
        n = self._data_left if limit is None else min(limit, self._data_left)
        data = self._take(n) if n else b""
        self._data_left -= n
        return data

    def copy_data(self, out: IO[bytes], chunk: int = 1024 * 1024) -> None:
        """Copy the current entry's remaining data to `out` without holding it all in memory."""
        while self._data_left:
            out.write(self.read_data(chunk))

    def __iter__(self) -> Iterator[TarEntry]:
        pax_global: dict[str, str] = {}
        pending_pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            self._finish_entry()
            if not self._fill(BLOCK):
                if len(self._buf) == self._pos:
                    raise TarTruncatedError("the stream ends before the end-of-archive marker")
                raise TarTruncatedError("the stream ends inside a header")
            header = self._buf[self._pos : self._pos + BLOCK]
            self._pos += BLOCK
            if header == _ZERO_BLOCK:
                return  # end of archive (the second zero block and padding are drained later)
            self._check(header)
            kind = header[156:157]
            size = _octal(header[124:136])
            if kind in (_PAX_LOCAL, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK):
                if size > _META_MAX:
                    raise TarFormatError(f"a {kind.decode()} header of {size} bytes")
                data = self._take(size)
                self._skip(-size % BLOCK)
                if kind == _PAX_LOCAL:
                    pending_pax.update(_parse_pax(data))
                elif kind == _PAX_GLOBAL:
                    pax_global.update(_parse_pax(data))
                elif kind == _GNU_LONGNAME:
                    long_name = _text(data)
                else:
                    long_link = _text(data)
                continue
            name = _text(header[0:100])
            if header[257:263] == b"ustar\x00":  # POSIX ustar: the prefix field extends the name
                prefix = _text(header[345:500])
                if prefix:
                    name = f"{prefix}/{name}"
            linkname = _text(header[157:257])
            pax = {**pax_global, **pending_pax} if pax_global else pending_pax
            if long_name is not None:
                name = long_name
            if long_link is not None:
                linkname = long_link
            if pax:
                name = pax.get("path", name)
                linkname = pax.get("linkpath", linkname)
                if "size" in pax:
                    try:
                        size = int(pax["size"])
                    except ValueError:
                        raise TarFormatError("bad pax size") from None
            pending_pax, long_name, long_link = {}, None, None
            has_data = kind not in (HARDLINK, SYMLINK, CHARDEV, BLOCKDEV, DIRECTORY, FIFO)
            self._data_left = size if has_data else 0
            self._pad_left = -self._data_left % BLOCK
            yield TarEntry(name=name, type=kind, mode=_octal(header[100:108]), size=size, linkname=linkname)

    @staticmethod
    def _check(header: bytes) -> None:
        stored = header[148:156]
        computed = sum(header[:148]) + 256 + sum(header[156:])  # the checksum field counts as spaces
        try:
            expected = int(stored.strip(b"\0 ") or b"-1", 8)
        except ValueError:
            expected = -1
        if expected != computed:
            raise TarFormatError("bad header checksum")

    def drain(self) -> None:
        """Consume whatever follows the end-of-archive marker, so digests cover every byte."""
        self._buf, self._pos = b"", 0
        while not self._eof:
            if not self._read_chunk():
                self._eof = True
