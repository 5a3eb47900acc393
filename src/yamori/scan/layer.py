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
import queue
import stat
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import zstandard
from isal import isal_zlib  # ISA-L inflate: same API as zlib, 2-3x faster on layers

from yamori.catalog.interface import Cataloger, FileInput, FileResult
from yamori.scan.errors import ScanError
from yamori.scan.tarstream import (
    HARDLINK,
    SYMLINK,
    TarEntry,
    TarFormatError,
    TarStreamReader,
    TarTruncatedError,
)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_MAX_LAYER_BYTES = 32 * 1024**3  # decompression bound: no real layer is larger
SPOOL_IN_MEMORY = 8 * 1024 * 1024
_ISAL_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]  # stubs call it an instance
CHUNK = 1024 * 1024  # bytes read from a blob, and produced by decompression, per step
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


class _HashingSource:
    """The raw blob, hashed as it is read so the digest check costs no second pass."""

    def __init__(self, raw: IO[bytes], algorithm: str) -> None:
        self._raw = raw
        self.hash = hashlib.new(algorithm)

    def read(self, size: int = CHUNK) -> bytes:
        data = self._raw.read(size)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _LayerChunks:
    """Decompressed layer bytes in chunks of bounded size: gzip, zstd or plain tar by magic.

    Hashes the output for the diff_id (for a plain tar the blob digest already is the diff_id,
    so it is not hashed twice) and refuses to produce more than `limit` bytes: output is
    bounded per call, so a bomb is stopped before it is ever held in memory.
    """

    def __init__(self, source: _HashingSource, limit: int, digest_algorithm: str) -> None:
        self._source = source
        self._limit = limit
        self.produced = 0
        head = source.read(4)
        self._gzip: Any = None
        self._zstd: Any = None
        self._tail = b""  # compressed input not yet consumed (gzip)
        self._head = b""
        self.diff_hash: Any = None
        if head.startswith(GZIP_MAGIC):
            self._gzip = isal_zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._tail = head
            self.diff_hash = hashlib.sha256()
        elif head.startswith(ZSTD_MAGIC):
            replay = io.BytesIO(head)

            def read_source(size: int = CHUNK) -> bytes:
                return replay.read(size) or source.read(size)

            self._zstd = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], _Readable(read_source)), read_size=CHUNK, read_across_frames=True
            )
            self.diff_hash = hashlib.sha256()
        else:
            self._head = head
            if digest_algorithm != "sha256":
                self.diff_hash = hashlib.sha256()

    def diff_id(self) -> str:
        hasher = self.diff_hash if self.diff_hash is not None else self._source.hash
        return f"sha256:{hasher.hexdigest()}"

    def __call__(self) -> bytes:
        try:
            data = self._next()
        except (zlib.error, _ISAL_ERROR) as exc:
            raise ScanError(f"layer is not valid gzip: {exc}") from None
        except zstandard.ZstdError as exc:
            raise ScanError(f"layer is not valid zstd: {exc}") from None
        if data:
            if self.diff_hash is not None:
                self.diff_hash.update(data)
            self.produced += len(data)
            if self.produced > self._limit:
                raise ScanError(
                    f"layer expands beyond {self._limit} bytes; refusing it as a decompression bomb"
                )
        return data

    def _next(self) -> bytes:
        if self._gzip is not None:
            return self._next_gzip()
        if self._zstd is not None:
            data: bytes = self._zstd.read(CHUNK)
            return data
        if self._head:
            head, self._head = self._head, b""
            return head + self._source.read(CHUNK)
        return self._source.read(CHUNK)

    def _next_gzip(self) -> bytes:
        while True:
            if not self._tail:
                self._tail = self._source.read(CHUNK)
                if not self._tail:
                    if not self._gzip.eof:
                        raise ScanError("layer is truncated: the gzip stream ends early")
                    return b""
            if self._gzip.eof:
                # Concatenated gzip members are valid gzip: a new member starts here.
                self._gzip = isal_zlib.decompressobj(16 + zlib.MAX_WBITS)
            out: bytes = self._gzip.decompress(self._tail, CHUNK)
            self._tail = self._gzip.unconsumed_tail or self._gzip.unused_data
            if self._gzip.eof and not self._gzip.unused_data and not self._gzip.unconsumed_tail:
                self._tail = b""
            if out:
                return out


class _Prefetcher:
    """Runs a chunk producer in a background thread, a few chunks ahead of the consumer.

    Reading, hashing and decompressing are C code that releases the GIL, while parsing tar
    headers is Python that holds it: overlapping the two uses the second core even for a
    single layer. Errors travel through the queue and are raised in the consumer; `close()`
    stops the producer when the consumer gives up early.
    """

    _DONE = object()

    def __init__(self, produce: Callable[[], bytes], depth: int = 4) -> None:
        self._produce = produce
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="yamori-layer-read", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._produce()
                if not self._put(chunk) or not chunk:
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def __call__(self) -> bytes:
        if self._finished:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        assert isinstance(item, bytes)
        if not item:
            self._finished = True
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _Readable(io.RawIOBase):
    """Adapts a read function to the file-like object zstandard's stream reader wants."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._read(CHUNK if size is None or size < 0 else size)

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


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
    source = _HashingSource(raw, algorithm)
    analysis = LayerAnalysis()
    kept_small: dict[str, tuple[int, bytes]] = {}  # for hardlinks that point at a wanted file
    prefetcher: _Prefetcher | None = None
    try:
        chunks = _LayerChunks(source, max_bytes, algorithm)
        prefetcher = _Prefetcher(chunks)
        reader = TarStreamReader(prefetcher)
        for entry in reader:
            _handle_entry(reader, entry, catalogers, analysis, where, kept_small, temp_dir)
        # Read past the end-of-archive blocks (the producer then reads to the end of the blob)
        # so both digests cover every byte.
        reader.drain()
        prefetcher.close()
        source.drain()
    except TarFormatError as exc:
        raise ScanError(f"{where}: not a valid tar archive ({exc})") from None
    except TarTruncatedError as exc:
        raise ScanError(f"{where}: layer is truncated ({exc})") from None
    except ScanError as exc:
        raise ScanError(f"{where}: {exc}") from None
    finally:
        if prefetcher is not None:
            prefetcher.close()
    if expected_digest:
        actual = f"{algorithm}:{source.hash.hexdigest()}"
        if actual != expected_digest:
            raise ScanError(f"{where}: blob digest mismatch: expected {expected_digest}, got {actual}")
    analysis.diff_id = chunks.diff_id()
    return analysis


def _handle_entry(
    reader: TarStreamReader,
    entry: TarEntry,
    catalogers: list[Cataloger],
    analysis: LayerAnalysis,
    where: str,
    kept_small: dict[str, tuple[int, bytes]],
    temp_dir: Path | None,
) -> None:
    path = normalize_member_path(entry.name)
    if path is None:
        analysis.warnings.append(f"{where}: skipped entry {entry.name!r}: its path leaves the root")
        return
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT_PREFIX):
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            analysis.opaque_dirs.append(parent)
        else:
            analysis.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
        return
    if entry.is_device:
        analysis.warnings.append(f"{where}: skipped device file {path!r}")
        return
    if entry.type == SYMLINK:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry.linkname))
        if entry.linkname.startswith("/"):
            return  # absolute symlinks resolve inside the image root; we never follow them
        if target == ".." or target.startswith("../"):
            analysis.warnings.append(
                f"{where}: skipped symlink {path!r} -> {entry.linkname!r}: it leaves the root"
            )
        return
    if entry.type == HARDLINK:
        target_path = normalize_member_path(entry.linkname)
        if target_path is None:
            analysis.warnings.append(
                f"{where}: skipped hardlink {path!r} -> {entry.linkname!r}: it leaves the root"
            )
            return
        if target_path in kept_small:
            mode, data = kept_small[target_path]
            wanted = _wanted_by(catalogers, path, mode, len(data))
            if wanted:
                _analyze_file(wanted, _BytesInput(path, len(data), mode, data), analysis, where)
        return
    if not entry.is_regular:
        return
    mode = entry.mode | stat.S_IFREG
    wanted = _wanted_by(catalogers, path, mode, entry.size)
    if not wanted:
        return
    if entry.size <= SPOOL_IN_MEMORY:
        data = reader.read_data()
        if entry.size <= 256 * 1024:
            kept_small[path] = (mode, data)
        _analyze_file(wanted, _BytesInput(path, entry.size, mode, data), analysis, where)
        return
    spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed below
        max_size=SPOOL_IN_MEMORY, dir=str(temp_dir) if temp_dir else None
    )
    try:
        reader.copy_data(spool)
        _analyze_file(wanted, _SpooledInput(path, entry.size, mode, spool), analysis, where)
    finally:
        spool.close()


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
