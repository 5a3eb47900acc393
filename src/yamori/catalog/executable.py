"""The shared shape of catalogers that read metadata embedded in ELF executables (Go build
info, cargo-auditable's crate list): every file with an exec bit is a candidate, and only ELF
files are parsed."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

from yamori.catalog.interface import Cataloger, FileInput, FileResult

if TYPE_CHECKING:
    from yamori.catalog.elf import ElfFile

# Executable files that are never ELF binaries worth opening (scripts, archives, libraries).
SCRIPT_SUFFIXES = (".sh", ".py", ".pl", ".rb", ".js", ".txt", ".bash", ".so", ".a", ".jar")


class ElfCataloger(Cataloger):
    max_size = 1024 * 1024 * 1024

    def wants(self, path: str, mode: int) -> bool:
        return bool(mode & 0o111) and not path.endswith(SCRIPT_SUFFIXES)

    def analyze(self, file: FileInput) -> FileResult | None:
        # Imported here, not at module level: a cached scan never reads a binary.
        from yamori.catalog.elf import ElfFile, is_elf

        with file.open() as stream:
            if not is_elf(stream.read(4)):
                return None
            return self.analyze_elf(ElfFile(stream), file.path)

    @abstractmethod
    def analyze_elf(self, elf: ElfFile, path: str) -> FileResult | None:
        """Read what this cataloger wants from an ELF file (the stream stays open meanwhile)."""
