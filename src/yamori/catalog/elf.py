"""A minimal ELF reader: section and segment lookup, for catalogers that read build metadata.

Go binaries keep their build info in `.go.buildinfo` and cargo-auditable binaries their
dependency list in `.dep-v0`; both catalogers only need "give me the bytes of section X" and
"read N bytes at virtual address A". pyelftools would do, but it parses far more than needed and
a scan offers every executable of an image, so this reads just the headers, bounded and
defensive: every offset and size is checked against the file size, and garbage raises
`ValueError` rather than anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

ELF_MAGIC = b"\x7fELF"
SHT_NOBITS = 8
PT_LOAD = 1
MAX_SECTIONS = 4096
MAX_SEGMENTS = 1024


def is_elf(head: bytes) -> bool:
    """Cheap test on the first bytes of a file."""
    return head[:4] == ELF_MAGIC


@dataclass(slots=True, frozen=True)
class Section:
    name: str
    type: int
    addr: int
    offset: int
    size: int


@dataclass(slots=True, frozen=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int


class ElfFile:
    """Headers of one ELF file read from a seekable stream; section data is read on demand."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        stream.seek(0, 2)
        self.file_size = stream.tell()
        ident = self._read(0, 16)
        if not is_elf(ident):
            raise ValueError("not an ELF file")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError("unknown ELF class or byte order")
        self.is_64 = ident[4] == 2
        self.endian = "<" if ident[5] == 1 else ">"
        self.ptr_size = 8 if self.is_64 else 4
        if self.is_64:
            fmt = self.endian + "HHIQQQIHHHHHH"
            header = struct.unpack(fmt, self._read(16, struct.calcsize(fmt)))
        else:
            fmt = self.endian + "HHIIIIIHHHHHH"
            header = struct.unpack(fmt, self._read(16, struct.calcsize(fmt)))
        (_, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, shstrndx) = header
        self.segments = self._read_segments(phoff, phentsize, phnum)
        self.sections = self._read_sections(shoff, shentsize, shnum, shstrndx)

    def _read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.file_size:
            raise ValueError("ELF structure points outside the file")
        self._stream.seek(offset)
        data = self._stream.read(size)
        if len(data) != size:
            raise ValueError("ELF file is truncated")
        return data

    def _read_segments(self, phoff: int, entsize: int, count: int) -> list[Segment]:
        if count == 0 or phoff == 0:
            return []
        if count > MAX_SEGMENTS:
            raise ValueError("implausible number of ELF program headers")
        if self.is_64:
            fmt, minimum = self.endian + "IIQQQQQQ", 56
        else:
            fmt, minimum = self.endian + "IIIIIIII", 32
        if entsize < minimum:
            raise ValueError("bad ELF program header size")
        table = self._read(phoff, entsize * count)
        segments: list[Segment] = []
        for i in range(count):
            raw = struct.unpack_from(fmt, table, i * entsize)
            if self.is_64:
                p_type, p_flags, p_offset, p_vaddr, _, p_filesz = raw[:6]
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, p_flags = raw[:7]
            segments.append(Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz))
        return segments

    def _read_sections(self, shoff: int, entsize: int, count: int, strndx: int) -> list[Section]:
        if count == 0 or shoff == 0:
            return []
        if count > MAX_SECTIONS:
            raise ValueError("implausible number of ELF sections")
        if self.is_64:
            fmt, minimum = self.endian + "IIQQQQ", 40
        else:
            fmt, minimum = self.endian + "IIIIII", 24
        if entsize < minimum:
            raise ValueError("bad ELF section header size")
        table = self._read(shoff, entsize * count)
        raw = [struct.unpack_from(fmt, table, i * entsize) for i in range(count)]
        names = b""
        if 0 < strndx < count:
            _, str_type, _, _, str_offset, str_size = raw[strndx]
            if str_type != SHT_NOBITS and str_size <= 16 * 1024 * 1024:
                names = self._read(str_offset, str_size)
        sections: list[Section] = []
        for name_off, sh_type, _, addr, offset, size in raw:
            end = names.find(b"\0", name_off) if name_off < len(names) else -1
            name = names[name_off:end].decode("latin-1") if end >= 0 else ""
            sections.append(Section(name, sh_type, addr, offset, size))
        return sections

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_data(self, name: str, limit: int) -> bytes | None:
        """The bytes of a section, or None if absent; refuses sections larger than `limit`."""
        section = self.section(name)
        if section is None or section.type == SHT_NOBITS:
            return None
        if section.size > limit:
            raise ValueError(f"section {name} is larger than {limit} bytes")
        return self._read(section.offset, section.size)

    def read_vaddr(self, addr: int, size: int) -> bytes:
        """Up to `size` bytes at a virtual address, as mapped by the loadable segments.

        Short reads happen at the end of a segment's file image; callers check the length.
        """
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= addr < seg.vaddr + seg.filesz:
                start = seg.offset + (addr - seg.vaddr)
                available = min(size, seg.vaddr + seg.filesz - addr, self.file_size - start)
                return self._read(start, max(0, available))
        for sec in self.sections:
            if sec.type != SHT_NOBITS and sec.addr and sec.addr <= addr < sec.addr + sec.size:
                start = sec.offset + (addr - sec.addr)
                available = min(size, sec.addr + sec.size - addr, self.file_size - start)
                return self._read(start, max(0, available))
        raise ValueError(f"address {addr:#x} is not mapped by the file")

    def read_uint(self, data: bytes, offset: int) -> int:
        """A pointer-sized unsigned integer in the file's byte order."""
        fmt = self.endian + ("Q" if self.ptr_size == 8 else "I")
        if offset + self.ptr_size > len(data):
            raise ValueError("truncated pointer")
        value: int = struct.unpack_from(fmt, data, offset)[0]
        return value
