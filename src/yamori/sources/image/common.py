"""What every image source shares: media types, platform choice, manifest reading, file blobs.

Registries, OCI layouts and docker archives all end up holding the same documents (an index or
manifest list, a manifest, a config); the rules for reading them live here once so the sources
only differ in where bytes come from.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform as _platform
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from yamori.scan.errors import ScanError
from yamori.sources.interface import LayerBlob

# Manifest-level media types.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})

# Config media types (anything else is not a container image: a Helm chart, a signature…).
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})

# Layer media types the pipeline can read: it sniffs gzip/zstd magic itself, so all that matters
# here is refusing layers that are not tarballs at all.
LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)

# Python's machine names mapped to the Go names image platforms use.
_GO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024  # manifests and configs are kilobytes; refuse absurd ones


def host_platform() -> str:
    """`linux/<arch>` for this machine: images are Linux images even when scanned from a Mac."""
    machine = _platform.machine().lower()
    arch = _GO_ARCH.get(machine, machine)
    if machine == "armv7l":
        return "linux/arm/v7"
    if machine == "armv6l":
        return "linux/arm/v6"
    return f"linux/{arch}"


def parse_platform(text: str) -> tuple[str, str, str]:
    """`os/arch[/variant]` → (os, arch, variant); arm64's implicit variant is `v8`."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ScanError(f"bad platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    os_name, arch = parts[0], _GO_ARCH.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    return os_name, arch, variant


def _platform_text(desc: dict[str, Any]) -> str:
    plat = desc.get("platform") or {}
    text = f"{plat.get('os', '?')}/{plat.get('architecture', '?')}"
    return text + (f"/{plat['variant']}" if plat.get("variant") else "")


def select_platform(index: dict[str, Any], wanted: str | None, where: str) -> dict[str, Any]:
    """The descriptor of `index` whose platform matches `wanted` (default: the host's).

    A missing variant in the request matches any variant (Docker does the same); attestation
    manifests (`unknown/unknown`) never match.
    """
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ScanError(f"{where}: the image index lists no manifests")
    os_name, arch, variant = parse_platform(wanted or host_platform())
    candidates: list[dict[str, Any]] = []
    for desc in manifests:
        if not isinstance(desc, dict):
            continue
        plat = desc.get("platform")
        if not isinstance(plat, dict):
            continue
        if plat.get("os") != os_name or plat.get("architecture") != arch:
            continue
        have = str(plat.get("variant", ""))
        if variant and have and have != variant:
            continue
        if variant and not have and not (arch == "arm64" and variant == "v8"):
            continue
        candidates.append(desc)
    if not candidates:
        # An index without platform fields but a single image is common in OCI layouts.
        plain = [d for d in manifests if isinstance(d, dict) and "platform" not in d]
        if len(plain) == 1 and len(manifests) == 1:
            return plain[0]
        available = ", ".join(sorted({_platform_text(d) for d in manifests if isinstance(d, dict)}))
        raise ScanError(
            f"{where}: no image for platform {wanted or host_platform()} (available: {available}); "
            "choose one with --platform"
        )
    # Prefer an exact variant match, then the first listed (the index's own preference).
    exact = [d for d in candidates if str((d.get("platform") or {}).get("variant", "")) == variant]
    return (exact or candidates)[0]


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def check_digest_syntax(digest: str, where: str) -> str:
    """Refuse digests that are not `sha256:<64 hex>` / `sha512:<128 hex>`: they become file names."""
    algorithm, _, hexdigest = digest.partition(":")
    lengths = {"sha256": 64, "sha512": 128}
    if algorithm not in lengths:
        raise ScanError(f"{where}: unsupported digest {digest!r}")
    if len(hexdigest) != lengths[algorithm] or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ScanError(f"{where}: malformed digest {digest!r}")
    return digest


def verify_bytes(data: bytes, digest: str, where: str) -> None:
    """Compare a small blob (manifest, config) with its digest; the pipeline does the layers."""
    check_digest_syntax(digest, where)
    algorithm = digest.split(":", 1)[0]
    actual = digest_of(data, algorithm)
    if actual != digest:
        raise ScanError(f"{where}: digest mismatch: expected {digest}, got {actual}")


def load_json(data: bytes, where: str) -> dict[str, Any]:
    """Parse a JSON document that must be an object, as a one-line error otherwise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ScanError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ScanError(f"{where}: expected a JSON object")
    return value


def document_media_type(doc: dict[str, Any], declared: str = "") -> str:
    """A manifest's type: its own `mediaType`, else the declared one, else guessed from shape.

    OCI made `mediaType` optional in manifests, so layouts written by some tools omit it.
    """
    media_type = str(doc.get("mediaType") or declared or "")
    if media_type:
        return media_type.split(";", 1)[0].strip()
    if "manifests" in doc:
        return OCI_INDEX
    if "layers" in doc and "config" in doc:
        return OCI_MANIFEST
    return ""


def unknown_media_type(media_type: str, where: str) -> ScanError:
    return ScanError(
        f"{where}: unsupported manifest media type {media_type or '(none)'!r}; "
        "expected a Docker v2 or OCI image manifest or index"
    )


def manifest_layers(
    manifest: dict[str, Any],
    where: str,
    make_blob: Callable[[str, str, int, str], LayerBlob],
    config: dict[str, Any],
) -> list[LayerBlob]:
    """LayerBlobs for a manifest's layers, refusing non-tar layer types and bad digests."""
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise ScanError(f"{where}: manifest has no layers list")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids", []) if isinstance(rootfs, dict) else []
    blobs: list[LayerBlob] = []
    for i, desc in enumerate(layers):
        if not isinstance(desc, dict):
            raise ScanError(f"{where}: layer {i} is not a descriptor")
        media_type = str(desc.get("mediaType", ""))
        if media_type not in LAYER_TYPES:
            raise ScanError(f"{where}: layer {i} has unsupported media type {media_type!r}")
        digest = check_digest_syntax(str(desc.get("digest", "")), f"{where} layer {i}")
        size = int(desc.get("size", 0) or 0)
        diff_id = str(diff_ids[i]) if i < len(diff_ids) else ""
        blobs.append(make_blob(digest, media_type, size, diff_id))
    return blobs


def check_config_type(manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's config descriptor, refusing artifacts that are not container images."""
    desc = manifest.get("config")
    if not isinstance(desc, dict):
        raise ScanError(f"{where}: manifest has no config descriptor")
    media_type = str(desc.get("mediaType", ""))
    if media_type and media_type not in CONFIG_TYPES:
        raise ScanError(
            f"{where}: not a container image (config media type {media_type!r}); "
            "artifacts such as Helm charts or signatures cannot be scanned as images"
        )
    check_digest_syntax(str(desc.get("digest", "")), f"{where} config")
    return desc


class SectionReader(io.RawIOBase):
    """A read-only window `[offset, offset+size)` of a file: a layer inside a tar, or a whole blob.

    Each `open()` gets its own file handle, so layers can be read from several threads at once.
    """

    def __init__(self, path: Path, offset: int, size: int | None) -> None:
        self._handle = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._handle.seek(offset)
        if size is None:
            size = os.fstat(self._handle.fileno()).st_size - offset
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer).cast("B")
        n = self._handle.readinto(view[: min(len(view), self._left)]) or 0
        self._left -= n
        return n

    def read(self, size: int = -1) -> bytes:
        """One copy, straight from the file: layers are read in megabyte chunks."""
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(want)
        self._left -= len(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()


class FileBlob(LayerBlob):
    """A layer held in a local file (an OCI layout blob or a member of an uncompressed tar)."""

    def __init__(
        self,
        path: Path,
        *,
        digest: str,
        media_type: str,
        size: int,
        diff_id: str = "",
        offset: int = 0,
        length: int | None = None,
    ) -> None:
        self.path = path
        self.digest = digest
        self.media_type = media_type
        self.size = size
        self.diff_id = diff_id
        self.offset = offset
        self.length = length

    def open(self) -> IO[bytes]:
        # No BufferedReader on top: the scan reads megabyte chunks, and the file object below
        # is buffered already.
        return SectionReader(self.path, self.offset, self.length)  # type: ignore[return-value]


def read_limited(handle: IO[bytes], where: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """Read a JSON document, refusing one so large it can only be hostile."""
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise ScanError(f"{where}: document larger than {limit} bytes; refusing it")
    return data
