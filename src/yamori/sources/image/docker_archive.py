"""`docker-archive:FILE[:repo:tag|@N]` — a `docker save` tarball (or `podman save`, `skopeo`).

`manifest.json` lists images as {Config, RepoTags, Layers}; layer paths are the legacy
`<id>/layer.tar` or, since Docker 25, OCI-style `blobs/sha256/<hex>` (the archive is then also an
OCI layout). A layer's blob digest is the sha256 of the layer as stored: docker save stores
uncompressed tars, so it equals the config's diff_id; some tools store gzip, and then the digest
comes from the blob's path or is computed.

Nothing is extracted. For a plain tar, each layer is a window into the archive file (tar members
are contiguous), read with its own file handle. A gzip-compressed archive cannot be seeked, so
it is streamed: one pass indexes members, hashes them and keeps the small JSON documents; then
each layer is read by decompressing the archive again from the start up to that member. That
costs O(layers * archive) decompression in the worst case (CPU, not disk); `gunzip` the archive
first when scanning big compressed archives repeatedly.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from yamori.scan.errors import ScanError
from yamori.scan.layer import GZIP_MAGIC, ZSTD_MAGIC
from yamori.sources.image.common import FileBlob, digest_of, load_json
from yamori.sources.interface import Image, ImageSource, LayerBlob, SourceOptions
from yamori.sources.registry import register

MAX_JSON_MEMBER = 4 * 1024 * 1024
MAX_LINK_HOPS = 8
_TYPE_BY_MAGIC = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def split_archive_reference(reference: str) -> tuple[Path, str]:
    """`FILE[:selector]` → (FILE, selector): the longest prefix that is an existing file wins,
    so paths containing ':' work."""
    if Path(reference).is_file():
        return Path(reference), ""
    for i in range(len(reference) - 1, 0, -1):
        if reference[i] == ":" and Path(reference[:i]).is_file():
            return Path(reference[:i]), reference[i + 1 :]
    return Path(reference), ""


def _kind(magic: bytes) -> str:
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    if magic.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


@dataclass(slots=True)
class _Member:
    name: str
    size: int
    offset: int  # offset of the data in the (uncompressed) archive; -1 when streaming
    link: str  # resolved-by-name target for symlinks/hardlinks, "" for regular files
    magic: bytes = b""
    sha256: str = ""
    data: bytes | None = None  # small JSON documents kept from the streaming pass


def _norm(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


class _Archive:
    """The member index of one archive, with link resolution confined to the archive."""

    def __init__(self, path: Path, name: str, compressed: bool) -> None:
        self.path = path
        self.name = name
        self.compressed = compressed
        self.members: dict[str, _Member] = {}

    def resolve(self, member_path: str) -> _Member:
        """The regular member behind `member_path`, following links inside the archive only."""
        current = _norm(member_path)
        for _ in range(MAX_LINK_HOPS):
            member = self.members.get(current)
            if member is None:
                raise ScanError(f"{self.name}: {member_path!r} is not in the archive")
            if not member.link:
                return member
            current = member.link
        raise ScanError(f"{self.name}: too many links resolving {member_path!r}")

    def read_small(self, member_path: str) -> bytes:
        member = self.resolve(member_path)
        if member.size > MAX_JSON_MEMBER:
            raise ScanError(f"{self.name}: {member_path!r} is too large for a JSON document")
        if member.data is not None:
            return member.data
        if self.compressed:
            raise ScanError(f"{self.name}: {member_path!r} is not a JSON document")
        with self.path.open("rb") as handle:
            handle.seek(member.offset)
            return handle.read(member.size)


def _link_target(info: tarfile.TarInfo) -> str:
    if info.issym():
        return _norm(posixpath.join(posixpath.dirname(_norm(info.name)), info.linkname))
    return _norm(info.linkname)


def _index_plain(path: Path, name: str) -> _Archive:
    archive = _Archive(path, name, compressed=False)
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if info.isreg() or info.issym() or info.islnk():
                    member = _Member(
                        name=_norm(info.name),
                        size=info.size,
                        offset=info.offset_data,
                        link="" if info.isreg() else _link_target(info),
                    )
                    archive.members[member.name] = member
    except (tarfile.TarError, EOFError) as exc:
        raise ScanError(f"{name}: not a valid tar archive ({exc})") from None
    return archive


def _index_streaming(path: Path, name: str) -> _Archive:
    """One pass over a gzip-compressed archive: sizes, magics, sha256 of every member, and the
    bytes of small JSON members (manifest.json and configs)."""
    archive = _Archive(path, name, compressed=True)
    kept = 0
    try:
        with gzip.open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for info in tar:
                if not (info.isreg() or info.issym() or info.islnk()):
                    continue
                member = _Member(
                    name=_norm(info.name),
                    size=info.size,
                    offset=-1,
                    link="" if info.isreg() else _link_target(info),
                )
                if info.isreg():
                    handle = tar.extractfile(info)
                    assert handle is not None
                    digest = hashlib.sha256()
                    head = handle.read(64 * 1024)
                    member.magic = head[:4]
                    digest.update(head)
                    small = (
                        info.size <= MAX_JSON_MEMBER
                        and head.lstrip()[:1] in (b"{", b"[")
                        and kept + info.size <= 4 * MAX_JSON_MEMBER
                    )
                    body = [head] if small else []
                    while chunk := handle.read(1024 * 1024):
                        digest.update(chunk)
                        if small:
                            body.append(chunk)
                    member.sha256 = f"sha256:{digest.hexdigest()}"
                    if small:
                        member.data = b"".join(body)
                        kept += info.size
                archive.members[member.name] = member
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ScanError(f"{name}: not a valid gzip-compressed tar archive ({exc})") from None
    return archive


class _StreamedMember(io.RawIOBase):
    """One member of a gzip-compressed archive, reached by decompressing from the start."""

    def __init__(self, path: Path, member: str, where: str) -> None:
        self._gzip = gzip.open(path, "rb")  # noqa: SIM115 - closed in close()
        self._tar = tarfile.open(fileobj=self._gzip, mode="r|")  # noqa: SIM115 - closed in close()
        self._handle: IO[bytes] | None = None
        try:
            for info in self._tar:
                if _norm(info.name) == member and info.isreg():
                    self._handle = self._tar.extractfile(info)
                    break
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            self.close()
            raise ScanError(f"{where}: cannot read the archive ({exc})") from None
        if self._handle is None:
            self.close()
            raise ScanError(f"{where}: {member!r} vanished from the archive")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        assert self._handle is not None
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._tar.close()
            self._gzip.close()
        super().close()


class _StreamedBlob(LayerBlob):
    def __init__(self, path: Path, member: str, where: str, **fields: Any) -> None:
        self._path, self._member, self._where = path, member, where
        self.digest = fields["digest"]
        self.media_type = fields["media_type"]
        self.size = fields["size"]
        self.diff_id = fields["diff_id"]

    def open(self) -> IO[bytes]:
        return io.BufferedReader(_StreamedMember(self._path, self._member, self._where), 1024 * 1024)


def _select(entries: list[dict[str, Any]], selector: str, name: str) -> dict[str, Any]:
    if selector.startswith("@"):
        try:
            return entries[int(selector[1:])]
        except (ValueError, IndexError):
            raise ScanError(f"{name}: no image {selector} in the archive ({len(entries)} images)") from None
    if selector:
        wanted = {selector, f"{selector}:latest"}
        for entry in entries:
            if wanted & set(entry.get("RepoTags") or []):
                return entry
        tags = sorted({t for e in entries for t in (e.get("RepoTags") or [])})
        raise ScanError(f"{name}: no image {selector!r} in the archive (tags: {', '.join(tags) or 'none'})")
    if len(entries) > 1:
        tags = sorted({t for e in entries for t in (e.get("RepoTags") or [])})
        raise ScanError(
            f"{name}: the archive holds {len(entries)} images; choose one as "
            f"docker-archive:FILE:REPO:TAG or docker-archive:FILE:@N (tags: {', '.join(tags)})"
        )
    return entries[0]


@register
class DockerArchiveSource(ImageSource):
    prefix = "docker-archive"
    description = "docker save tarball: docker-archive:FILE[:repo:tag|@N]"

    def open(self, reference: str, options: SourceOptions) -> Image:
        path, selector = split_archive_reference(reference)
        name = f"docker-archive:{reference}"
        try:
            with path.open("rb") as handle:
                magic = handle.read(4)
        except FileNotFoundError:
            raise ScanError(f"{name}: no such file {path}") from None
        except OSError as exc:
            raise ScanError(f"{name}: cannot read {path}: {exc.strerror}") from None
        archive = _index_streaming(path, name) if magic.startswith(GZIP_MAGIC) else _index_plain(path, name)
        if "manifest.json" not in archive.members:
            raise ScanError(f"{name}: no manifest.json; not a docker save archive")
        try:
            entries = orjson.loads(archive.read_small("manifest.json"))
        except orjson.JSONDecodeError as exc:
            raise ScanError(f"{name}: manifest.json is not valid JSON ({exc})") from None
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise ScanError(f"{name}: manifest.json lists no images")
        entry = _select(entries, selector, name)
        config_path = str(entry.get("Config", ""))
        config_bytes = archive.read_small(config_path)
        config = load_json(config_bytes, f"{name}: config {config_path}")
        config_digest = digest_of(config_bytes)
        _check_named_digest(config_path, config_digest, f"{name}: config")
        rootfs = config.get("rootfs")
        diff_ids = [str(d) for d in rootfs.get("diff_ids", [])] if isinstance(rootfs, dict) else []
        layer_paths = entry.get("Layers")
        if not isinstance(layer_paths, list):
            raise ScanError(f"{name}: manifest.json entry has no Layers list")
        layers = [
            _layer(archive, str(p), diff_ids[i] if i < len(diff_ids) else "", f"{name} layer {i}")
            for i, p in enumerate(layer_paths)
        ]
        return Image(
            name=name,
            config=config,
            layers=layers,
            config_digest=config_digest,
            repo_tags=[str(t) for t in entry.get("RepoTags") or []],
        )


def _named_digest(member_path: str) -> str:
    """`blobs/sha256/<hex>` or `<hex>.json` → `sha256:<hex>`; "" when the path names no digest."""
    parts = member_path.split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] in ("sha256", "sha512"):
        return f"{parts[1]}:{parts[2]}"
    base = posixpath.basename(member_path).removesuffix(".json")
    if len(base) == 64 and all(c in "0123456789abcdef" for c in base) and member_path.endswith(".json"):
        return f"sha256:{base}"
    return ""


def _check_named_digest(member_path: str, actual: str, where: str) -> None:
    expected = _named_digest(_norm(member_path))
    if expected.startswith("sha256:") and expected != actual:
        raise ScanError(f"{where}: digest mismatch: expected {expected}, got {actual}")


def _layer(archive: _Archive, member_path: str, diff_id: str, where: str) -> LayerBlob:
    member = archive.resolve(member_path)
    if not member.magic and not archive.compressed:
        with archive.path.open("rb") as handle:
            handle.seek(member.offset)
            member.magic = handle.read(4)
    kind = _kind(member.magic)
    named = _named_digest(member.name) or _named_digest(_norm(member_path))
    if archive.compressed:
        digest = named or member.sha256
    elif named:
        digest = named
    elif kind == "none" and diff_id:
        digest = diff_id  # an uncompressed layer's stored bytes are its diff_id; verified on read
    else:
        digest = _hash_section(archive.path, member.offset, member.size)
    fields: dict[str, Any] = {
        "digest": digest,
        "media_type": _TYPE_BY_MAGIC[kind],
        "size": member.size,
        "diff_id": diff_id,
    }
    if archive.compressed:
        return _StreamedBlob(archive.path, member.name, where, **fields)
    return FileBlob(archive.path, offset=member.offset, length=member.size, **fields)


def _hash_section(path: Path, offset: int, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(offset)
        left = size
        while left > 0:
            chunk = handle.read(min(left, 1024 * 1024))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return f"sha256:{digest.hexdigest()}"
