"""Analyse one layer (a tar stream) or one directory tree with every cataloger, in one pass.

Nothing is ever extracted: wanted files are read into memory (or a spooled temporary file in
the cache directory when large) and handed to the catalogers. That is what makes hostile
archives harmless here: `..` paths, absolute paths, links that leave the root and device files
are reported and skipped, never written anywhere. Decompressed size is bounded, and the blob's
digest is checked after the last byte, before any result is trusted or cached.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zstandard

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.scan.errors import ScanError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_MAX_LAYER_BYTES = 32 * 1024**3  # decompression bound: no real layer is larger
SPOOL_IN_MEMORY = 8 * 1024 * 1024
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass(slots=True)
class LayerAnalysis:
    """Per-path results of every cataloger for one layer, and the layer's deletions."""

    results: dict[str, dict[str, FileResult]] = field(default_factory=dict)  # cataloger → path → result
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    diff_id: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": {
                name: {path: r.to_dict() for path, r in by_path.items()}
                for name, by_path in self.results.items()
            },
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "diff_id": self.diff_id,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerAnalysis:
        return cls(
            results={
                name: {path: FileResult.from_dict(r) for path, r in by_path.items()}
                for name, by_path in data["results"].items()
            },
            whiteouts=list(data["whiteouts"]),
            opaque_dirs=list(data["opaque_dirs"]),
            diff_id=data.get("diff_id", ""),
            warnings=list(data.get("warnings", [])),
        )


class _BytesInput(FileInput):
    def __init__(self, path: str, size: int, mode: int, data: bytes) -> None:
        self.path, self.size, self.mode, self._data = path, size, mode, data

    def read(self) -> bytes:
        return self._data

    def open(self) -> IO[bytes]:
        return io.BytesIO(self._data)


class _SpooledInput(FileInput):
    """A large file copied once from the stream into a spooled temporary file."""

    def __init__(self, path: str, size: int, mode: int, spool: IO[bytes]) -> None:
        self.path, self.size, self.mode, self._spool = path, size, mode, spool

    def read(self) -> bytes:
        self._spool.seek(0)
        return self._spool.read()

    def open(self) -> IO[bytes]:
        self._spool.seek(0)
        return _SharedView(self._spool)  # type: ignore[return-value]


class _SharedView(io.RawIOBase):
    """A stream over the layer's spool that a cataloger may close without closing the spool:
    every cataloger that wants the file gets its own `open()` and its own `with` block."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._spool.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._spool.seek(offset, whence)

    def tell(self) -> int:
        return self._spool.tell()


class _PathInput(FileInput):
    """A file of a directory tree; read lazily from disk."""

    def __init__(self, path: str, size: int, mode: int, real: str) -> None:
        self.path, self.size, self.mode, self._real = path, size, mode, real

    def read(self) -> bytes:
        with open(self._real, "rb") as handle:
            return handle.read()

    def open(self) -> IO[bytes]:
        return open(self._real, "rb")


class _CountingReader(io.RawIOBase):
    """Hashes and counts the raw blob as it streams, so the digest check costs no second read."""

    def __init__(self, raw: IO[bytes], algorithm: str) -> None:
        self._raw = raw
        self.hash = hashlib.new(algorithm)
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.hash.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


class _BoundedDecompressor(io.RawIOBase):
    """Decompresses gzip/zstd (or passes plain tar through), hashing the output for the diff_id and
    refusing to produce more than `limit` bytes (decompression bombs)."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        self._source = source
        self._limit = limit
        self.produced = 0
        self.diff_hash = hashlib.sha256()
        head = source.read(4)
        self._pending = b""
        self._eof = False
        if head.startswith(GZIP_MAGIC):
            self._gzip: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._zstd: Any = None
            self._pending = self._feed_gzip(head)
        elif head.startswith(ZSTD_MAGIC):
            self._gzip = None
            self._zstd = zstandard.ZstdDecompressor().decompressobj()
            self._pending = self._feed_zstd(head)
        else:
            self._gzip = None
            self._zstd = None
            self._pending = head

    def _feed_gzip(self, data: bytes) -> bytes:
        out: bytes = self._gzip.decompress(data)
        # Concatenated gzip members are valid gzip: start a new decompressor on leftovers.
        while self._gzip.eof and self._gzip.unused_data:
            rest = self._gzip.unused_data
            self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += self._gzip.decompress(rest)
        return out

    def _feed_zstd(self, data: bytes) -> bytes:
        # A layer may hold several zstd frames (zstd:chunked writes one per file group, plus
        # skippable frames): a decompressobj stops after one, so start a new one on leftovers.
        out = b""
        while data:
            if self._zstd.eof:
                self._zstd = zstandard.ZstdDecompressor().decompressobj()
            out += self._zstd.decompress(data)
            data = self._zstd.unused_data if self._zstd.eof else b""
        return out

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._eof:
            chunk = self._source.read(1024 * 1024)
            if not chunk:
                self._eof = True
                if self._gzip is not None and not self._gzip.eof:
                    raise ScanError("layer is truncated: the gzip stream ends early")
                if self._zstd is not None and not self._zstd.eof:
                    raise ScanError("layer is truncated: the zstd stream ends early")
                break
            try:
                if self._gzip is not None:
                    self._pending = self._feed_gzip(chunk)
                elif self._zstd is not None:
                    self._pending = self._feed_zstd(chunk)
                else:
                    self._pending = chunk
            except zlib.error as exc:
                raise ScanError(f"layer is not valid gzip: {exc}") from None
            except zstandard.ZstdError as exc:
                raise ScanError(f"layer is not valid zstd: {exc}") from None
        n = min(len(buffer), len(self._pending))
        if n == 0:
            return 0
        buffer[:n] = self._pending[:n]
        self.diff_hash.update(self._pending[:n])
        self._pending = self._pending[n:]
        self.produced += n
        if self.produced > self._limit:
            raise ScanError(f"layer expands beyond {self._limit} bytes; refusing it as a decompression bomb")
        return n


def normalize_member_path(name: str) -> str | None:
    """The path of a tar entry relative to the root, or None if it would leave the root.

    Absolute names are refused too: an archive that asks to write `/etc/passwd` is hostile even
    though we never write.
    """
    if name.startswith("/"):
        return None
    norm = posixpath.normpath(name)
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        return None
    return norm.removeprefix("./")


def _wanted_by(catalogers: Iterable[Cataloger], path: str, mode: int, size: int) -> list[Cataloger]:
    return [c for c in catalogers if size <= c.max_size and c.wants(path, mode)]


def _analyze_file(catalogers: list[Cataloger], file: FileInput, analysis: LayerAnalysis, where: str) -> None:
    for cataloger in catalogers:
        try:
            result = cataloger.analyze(file)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError, EOFError) as exc:
            analysis.warnings.append(f"{where}: {cataloger.name} could not parse {file.path}: {exc}")
            result = None
        # An empty result is still recorded: it must hide an older layer's file at this path.
        analysis.results.setdefault(cataloger.name, {})[file.path] = result or FileResult()


def analyze_tar_stream(
    raw: IO[bytes],
    catalogers: list[Cataloger],
    *,
    where: str,
    expected_digest: str | None = None,
    max_bytes: int = DEFAULT_MAX_LAYER_BYTES,
    temp_dir: Path | None = None,
) -> LayerAnalysis:
    """Stream one (possibly compressed) layer tarball through the catalogers.

    `where` names the layer in messages. If `expected_digest` is given, the raw bytes are hashed
    and a mismatch raises `ScanError` after the stream ends, so nothing from a tampered blob
    is used.
    """
    algorithm = "sha256"
    if expected_digest:
        algorithm = expected_digest.split(":", 1)[0]
        if algorithm not in ("sha256", "sha512"):
            raise ScanError(f"{where}: unsupported digest algorithm {algorithm!r}")
    counting = _CountingReader(raw, algorithm)
    decompressed = _BoundedDecompressor(io.BufferedReader(counting, 1024 * 1024), max_bytes)
    analysis = LayerAnalysis()
    kept_small: dict[str, tuple[int, bytes]] = {}  # for hardlinks that point at a wanted file
    try:
        with tarfile.open(fileobj=io.BufferedReader(decompressed, 1024 * 1024), mode="r|") as tar:
            for member in tar:
                _handle_member(tar, member, catalogers, analysis, where, kept_small, temp_dir)
        # Read past the tar end-of-archive blocks so both digests cover every byte.
        while decompressed.read(1024 * 1024):
            pass
        counting.drain()
    except tarfile.ReadError as exc:
        raise ScanError(f"{where}: not a valid tar archive ({exc})") from None
    except (EOFError, tarfile.StreamError) as exc:
        raise ScanError(f"{where}: layer is truncated ({exc or 'unexpected end of data'})") from None
    if expected_digest:
        actual = f"{algorithm}:{counting.hash.hexdigest()}"
        if actual != expected_digest:
            raise ScanError(f"{where}: blob digest mismatch: expected {expected_digest}, got {actual}")
    analysis.diff_id = f"sha256:{decompressed.diff_hash.hexdigest()}"
    return analysis


def _handle_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    catalogers: list[Cataloger],
    analysis: LayerAnalysis,
    where: str,
    kept_small: dict[str, tuple[int, bytes]],
    temp_dir: Path | None,
) -> None:
    path = normalize_member_path(member.name)
    if path is None:
        analysis.warnings.append(f"{where}: skipped entry {member.name!r}: its path leaves the root")
        return
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT_PREFIX):
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            analysis.opaque_dirs.append(parent)
        else:
            analysis.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
        return
    if member.isdev():
        analysis.warnings.append(f"{where}: skipped device file {path!r}")
        return
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
        if member.linkname.startswith("/"):
            return  # absolute symlinks resolve inside the image root; we never follow them
        if target == ".." or target.startswith("../"):
            analysis.warnings.append(
                f"{where}: skipped symlink {path!r} -> {member.linkname!r}: it leaves the root"
            )
        return
    if member.islnk():
        target_path = normalize_member_path(member.linkname)
        if target_path is None:
            analysis.warnings.append(
                f"{where}: skipped hardlink {path!r} -> {member.linkname!r}: it leaves the root"
            )
            return
        wanted = _wanted_by(catalogers, path, member.mode | stat.S_IFREG, member.size)
        if wanted and target_path in kept_small:
            mode, data = kept_small[target_path]
            _analyze_file(wanted, _BytesInput(path, len(data), mode, data), analysis, where)
        return
    if not member.isreg():
        return
    mode = member.mode | stat.S_IFREG
    wanted = _wanted_by(catalogers, path, mode, member.size)
    if not wanted:
        return
    handle = tar.extractfile(member)
    if handle is None:
        return
    file: FileInput
    if member.size <= SPOOL_IN_MEMORY:
        data = handle.read()
        if len(data) != member.size:
            raise EOFError(f"entry {path!r} is truncated")
        file = _BytesInput(path, member.size, mode, data)
        if member.size <= 256 * 1024:
            kept_small[path] = (mode, data)
    else:
        spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed below
            max_size=SPOOL_IN_MEMORY, dir=str(temp_dir) if temp_dir else None
        )
        try:
            while chunk := handle.read(1024 * 1024):
                spool.write(chunk)
            file = _SpooledInput(path, member.size, mode, spool)
            _analyze_file(wanted, file, analysis, where)
        finally:
            spool.close()
        return
    _analyze_file(wanted, file, analysis, where)


# Directories never worth walking on a live host: kernel and runtime pseudo-filesystems.
HOST_SKIP_DIRS = frozenset({"proc", "sys", "dev", "run", "var/run", "var/lib/containers/storage"})


def walk_tree(root: Path, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files below `root` as (relative path, stat), without following symlinks.

    Directories on other filesystems than the root are still walked (a host often mounts /usr
    or /var separately); `skip` names relative directories to leave out.
    """
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        real_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
        try:
            entries = list(os.scandir(real_dir))
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if rel not in skip:
                        stack.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    yield rel, entry.stat(follow_symlinks=False)
            except OSError:
                continue


def analyze_tree(
    root: Path,
    catalogers: list[Cataloger],
    *,
    where: str,
    skip: frozenset[str] = frozenset(),
    progress: Callable[[str], None] | None = None,
) -> LayerAnalysis:
    """Analyse a directory tree as if it were a single layer."""
    analysis = LayerAnalysis()
    for count, (rel, st) in enumerate(walk_tree(root, skip), 1):
        if progress and count % 5000 == 0:
            progress(f"{count} files")
        wanted = _wanted_by(catalogers, rel, st.st_mode, st.st_size)
        if not wanted:
            continue
        file = _PathInput(rel, st.st_size, st.st_mode, os.path.join(root, rel))
        try:
            _analyze_file(wanted, file, analysis, where)
        except OSError as exc:
            analysis.warnings.append(f"{where}: could not read {rel}: {exc.strerror}")
    return analysis
