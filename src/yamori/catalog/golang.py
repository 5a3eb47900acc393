"""Go binaries: the module list and toolchain version the linker embeds in `.go.buildinfo`.

Every Go binary built in module mode carries the main module, each dependency (`dep`, with an
optional `=>` replacement) and the toolchain version. The toolchain matters as much as the
modules: the standard library is compiled in, so `stdlib` vulnerabilities follow the toolchain
version (reported as package "stdlib"). The layout, as the Go runtime writes it:

* a 32-byte header: the magic `\\xff Go buildinf:`, the pointer size, a flags byte;
* Go 1.18 and later (flag 2): the version and module strings follow inline, each prefixed by
  an unsigned varint length;
* before 1.18: two pointers at offset 16 to Go string headers (data pointer, length) that must
  be resolved through the ELF segments; flag 1 means big-endian pointers.

The module string is framed by 16 sentinel bytes on each side. Nothing is executed: the
binary is only read.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from yamori.catalog.executable import ElfCataloger
from yamori.catalog.interface import FileResult
from yamori.catalog.registry import register
from yamori.model import Package, PackageType

if TYPE_CHECKING:
    from yamori.catalog.elf import ElfFile

BUILDINFO_MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
READ_SIZE = 64 * 1024
MAX_STRING = 4 * 1024 * 1024
PF_W = 2
PT_LOAD = 1


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint in Go build info")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _locate(elf: ElfFile) -> tuple[int, bytes]:
    """The virtual address of the build-info header and the bytes from there on."""
    section = elf.section(".go.buildinfo")
    if section is not None:
        addr = section.addr
        data = elf.read_vaddr(addr, READ_SIZE) if addr else b""
        if not data:  # unmapped (object files): fall back to the section's file bytes
            data = elf.section_data(".go.buildinfo", READ_SIZE) or b""
        return addr, data
    # No section headers (stripped hard): Go then looks at the first writable segment, where
    # the header sits on a 16-byte boundary.
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.flags & PF_W:
            data = elf.read_vaddr(seg.vaddr, READ_SIZE)
            pos = data.find(BUILDINFO_MAGIC)
            while pos >= 0 and pos % 16:
                pos = data.find(BUILDINFO_MAGIC, pos + 1)
            if pos >= 0:
                return seg.vaddr + pos, elf.read_vaddr(seg.vaddr + pos, READ_SIZE)
            break
    return 0, b""


def read_buildinfo(elf: ElfFile) -> tuple[str, str] | None:
    """(toolchain version, module info text) of a Go binary, or None if it is not one."""
    try:
        return _read_buildinfo(elf)
    except struct.error as exc:
        raise ValueError(f"truncated Go build info: {exc}") from None


def _read_buildinfo(elf: ElfFile) -> tuple[str, str] | None:
    addr, data = _locate(elf)
    if not data.startswith(BUILDINFO_MAGIC):
        return None
    if len(data) < HEADER_SIZE:
        raise ValueError("truncated Go build info header")
    ptr_size, flags = data[14], data[15]
    if flags & 2:
        pos = HEADER_SIZE
        strings: list[bytes] = []
        for _ in range(2):
            length, pos = _uvarint(data, pos)
            if length > MAX_STRING:
                raise ValueError("implausible Go build info string length")
            if pos + length > len(data):
                data = elf.read_vaddr(addr, pos + length) if addr else data
                if pos + length > len(data):
                    raise ValueError("truncated Go build info string")
            strings.append(data[pos : pos + length])
            pos += length
        version, mod = strings
    else:
        if ptr_size not in (4, 8):
            raise ValueError(f"bad pointer size {ptr_size} in Go build info")
        endian = ">" if flags & 1 else "<"
        fmt = endian + ("Q" if ptr_size == 8 else "I")
        version = _read_go_string(elf, fmt, ptr_size, struct.unpack_from(fmt, data, 16)[0])
        mod = _read_go_string(elf, fmt, ptr_size, struct.unpack_from(fmt, data, 16 + ptr_size)[0])
    if len(mod) >= 33 and mod[-17] == ord("\n"):
        mod = mod[16:-16]
    return version.decode("utf-8", "replace"), mod.decode("utf-8", "replace")


def _read_go_string(elf: ElfFile, fmt: str, ptr_size: int, header_addr: int) -> bytes:
    """Dereference a Go string header (data pointer, length) in the pre-1.18 layout."""
    if header_addr == 0:
        return b""
    header = elf.read_vaddr(header_addr, 2 * ptr_size)
    if len(header) < 2 * ptr_size:
        raise ValueError("truncated Go string header")
    data_addr, length = struct.unpack(fmt[0] + fmt[1] * 2, header)
    if length == 0:
        return b""
    if length > MAX_STRING:
        raise ValueError("implausible Go build info string length")
    value = elf.read_vaddr(data_addr, length)
    if len(value) != length:
        raise ValueError("truncated Go build info string")
    return value


def packages_from_buildinfo(toolchain: str, modinfo: str, location: str) -> list[Package]:
    """Main module, dependencies (replacements applied) and stdlib, as Trivy reports them."""
    packages: list[Package] = []
    meta = {"go_toolchain": toolchain}
    build: dict[str, str] = {}
    # (kind, path, version) per mod/dep line; an `=>` line rewrites the line before it.
    modules: list[dict[str, str]] = []
    for line in modinfo.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 2:
            modules.append(
                {"kind": fields[0], "path": fields[1], "version": fields[2] if len(fields) > 2 else ""}
            )
        elif fields[0] == "=>" and len(fields) >= 2 and modules:
            modules[-1]["replace_path"] = fields[1]
            modules[-1]["replace_version"] = fields[2] if len(fields) > 2 else ""
        elif fields[0] == "build" and len(fields) >= 2 and "=" in fields[1]:
            key, _, value = fields[1].partition("=")
            if key in ("GOOS", "GOARCH", "CGO_ENABLED", "vcs.revision"):
                build[key] = value
    for module in modules:
        name, version = module["path"], module["version"]
        metadata: dict[str, object] = dict(meta)
        if "replace_path" in module:
            if module["replace_version"]:
                metadata["replaces"] = f"{name}@{version}" if version else name
                name, version = module["replace_path"], module["replace_version"]
            else:
                # Replaced by a local directory: the code is local, the declared version is
                # the best identity there is.
                metadata["replaced_by"] = module["replace_path"]
        if module["kind"] == "mod":
            if version in ("", "(devel)"):
                continue
            metadata["main"] = True
            metadata.update(build)
        if not version:
            continue
        packages.append(
            Package(name=name, version=version, type=PackageType.GOLANG, location=location, metadata=metadata)
        )
    std_version = _stdlib_version(toolchain)
    if std_version:
        packages.append(
            Package(
                name="stdlib",
                version=std_version,
                type=PackageType.GOLANG,
                location=location,
                metadata=dict(meta),
            )
        )
    return packages


def _stdlib_version(toolchain: str) -> str:
    """ "go1.21.5" → "1.21.5"; "go1.22.1 X:boringcrypto" → "1.22.1"; devel builds have none."""
    first = toolchain.split(" ", 1)[0] if toolchain else ""
    if not first.startswith("go") or not first[2:3].isdigit():
        return ""
    return first[2:]


@register
class GoBinaryCataloger(ElfCataloger):
    """Go modules and toolchain of executables built by Go."""

    name = "go-binary"
    version = 1

    def analyze_elf(self, elf: ElfFile, path: str) -> FileResult | None:
        info = read_buildinfo(elf)
        if info is None:
            return None
        toolchain, modinfo = info
        return FileResult(packages=packages_from_buildinfo(toolchain, modinfo, path))
