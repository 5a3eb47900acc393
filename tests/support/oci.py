"""Build small synthetic images in Python: OCI layouts and `docker save` archives.

Tests describe layers as lists of entries (files, directories, links, whiteouts, hostile raw tar
entries) and get real image formats on disk, byte-exact and digest-correct, in milliseconds —
no container engine involved. Typical use::

    from support.oci import File, Layer, ImageSpec, debian_files, write_oci_layout

    image = ImageSpec(layers=[Layer(debian_files("12")), Layer([File("app/x", b"hi")], "zstd")])
    info = write_oci_layout(tmp_path / "layout", {"v1": image})
    # scan "oci:" + str(tmp_path / "layout") + ":v1"

The layouts can be pushed to a registry with `skopeo copy oci:DIR:TAG docker://…`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zstandard

Compression = Literal["gzip", "zstd", "none"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
MTIME = 1_700_000_000  # fixed, so the same spec always gives the same digests

_OCI_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
_DOCKER_LAYER = {
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "none": "application/vnd.docker.image.rootfs.diff.tar",
}


# ----------------------------------------------------------------------------- layer entries


@dataclass
class File:
    """A regular file."""

    path: str
    data: bytes = b""
    mode: int = 0o644


@dataclass
class Dir:
    """A directory (parents of files need not be listed: tar does not require them)."""

    path: str
    mode: int = 0o755


@dataclass
class Symlink:
    path: str
    target: str


@dataclass
class Hardlink:
    path: str
    target: str


@dataclass
class Whiteout:
    """Deletes `path` from lower layers (written as `.wh.<name>`)."""

    path: str


@dataclass
class Opaque:
    """Hides everything lower layers put in directory `path` (written as `.wh..wh..opq`)."""

    path: str


@dataclass
class Device:
    """A character (or block) device node."""

    path: str
    major: int = 1
    minor: int = 3
    block: bool = False


@dataclass
class Raw:
    """A tar entry exactly as given — for hostile names (`../x`, `/etc/passwd`) and link targets."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


Entry = File | Dir | Symlink | Hardlink | Whiteout | Opaque | Device | Raw


@dataclass
class Layer:
    """One layer: its entries and how the blob is compressed."""

    entries: list[Entry]
    compression: Compression = "gzip"
    blob: bytes | None = None  # stored bytes to use instead (corrupt/truncated-layer tests)
    media_type: str | None = None  # media type to declare instead of the matching one


@dataclass
class BuiltLayer:
    """A layer as stored: the blob bytes, its digest, the uncompressed digest and media type."""

    blob: bytes
    digest: str
    diff_id: str
    media_type: str
    tar: bytes

    @property
    def size(self) -> int:
        return len(self.blob)


@dataclass
class ImageSpec:
    """An image: layers (base first) plus the config fields that matter to tests."""

    layers: list[Layer]
    architecture: str = "amd64"
    os: str = "linux"
    variant: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the config's "config" object
    history: list[str] | None = None  # created_by lines, one per layer
    manifest_media_type: str | None = None  # declare another manifest type (error tests)


@dataclass
class BuiltImage:
    """What was written for one image: digests and documents, for assertions."""

    manifest_digest: str
    manifest: bytes
    config_digest: str
    config: bytes
    layers: list[BuiltLayer]
    media_type: str


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _info(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = MTIME
    info.uname = info.gname = "root"
    return info


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed tar of `entries` (PAX format, fixed timestamps)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, File):
                tar.addfile(
                    _info(entry.path, tarfile.REGTYPE, len(entry.data), entry.mode), io.BytesIO(entry.data)
                )
            elif isinstance(entry, Dir):
                tar.addfile(_info(entry.path, tarfile.DIRTYPE, mode=entry.mode))
            elif isinstance(entry, Symlink | Hardlink):
                kind = tarfile.SYMTYPE if isinstance(entry, Symlink) else tarfile.LNKTYPE
                info = _info(entry.path, kind, mode=0o777)
                info.linkname = entry.target
                tar.addfile(info)
            elif isinstance(entry, Whiteout):
                parent, _, base = entry.path.rstrip("/").rpartition("/")
                name = f"{parent}/.wh.{base}" if parent else f".wh.{base}"
                tar.addfile(_info(name, tarfile.REGTYPE))
            elif isinstance(entry, Opaque):
                tar.addfile(_info(f"{entry.path.rstrip('/')}/.wh..wh..opq", tarfile.REGTYPE))
            elif isinstance(entry, Device):
                info = _info(entry.path, tarfile.BLKTYPE if entry.block else tarfile.CHRTYPE)
                info.devmajor, info.devminor = entry.major, entry.minor
                tar.addfile(info)
            else:
                info = _info(entry.name, entry.type, len(entry.data))
                info.linkname = entry.linkname
                tar.addfile(info, io.BytesIO(entry.data) if entry.data else None)
    return out.getvalue()


def compress(data: bytes, compression: Compression) -> bytes:
    """gzip (mtime 0, deterministic), zstd, or the bytes unchanged."""
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def build_layer(layer: Layer, *, docker_media_types: bool = False) -> BuiltLayer:
    """Tar, compress and digest one layer."""
    tar = layer_tar(layer.entries)
    blob = compress(tar, layer.compression) if layer.blob is None else layer.blob
    table = _DOCKER_LAYER if docker_media_types else _OCI_LAYER
    media_type = layer.media_type or table[layer.compression]
    return BuiltLayer(blob=blob, digest=sha256(blob), diff_id=sha256(tar), media_type=media_type, tar=tar)


def config_document(spec: ImageSpec, layers: list[BuiltLayer]) -> bytes:
    """The image config JSON (rootfs.diff_ids in layer order, history when given)."""
    doc: dict[str, Any] = {
        "architecture": spec.architecture,
        "os": spec.os,
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if spec.variant:
        doc["variant"] = spec.variant
    if spec.history is not None:
        doc["history"] = [{"created_by": line} for line in spec.history]
    return json.dumps(doc, sort_keys=True).encode()


def _write_blob(root: Path, data: bytes) -> str:
    digest = sha256(data)
    path = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _platform(spec: ImageSpec) -> dict[str, str]:
    plat = {"architecture": spec.architecture, "os": spec.os}
    if spec.variant:
        plat["variant"] = spec.variant
    return plat


def write_image_blobs(root: Path, spec: ImageSpec, *, docker_media_types: bool = False) -> BuiltImage:
    """Write one image's layers, config and manifest as blobs under `root/blobs/sha256/`."""
    layers = [build_layer(layer, docker_media_types=docker_media_types) for layer in spec.layers]
    for layer in layers:
        _write_blob(root, layer.blob)
    config = config_document(spec, layers)
    config_digest = _write_blob(root, config)
    manifest_type = spec.manifest_media_type or (DOCKER_MANIFEST if docker_media_types else OCI_MANIFEST)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": DOCKER_CONFIG if docker_media_types else OCI_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
                for layer in layers
            ],
        }
    ).encode()
    return BuiltImage(
        manifest_digest=_write_blob(root, manifest),
        manifest=manifest,
        config_digest=config_digest,
        config=config,
        layers=layers,
        media_type=manifest_type,
    )


def write_oci_layout(
    root: Path,
    images: dict[str, ImageSpec | list[ImageSpec]],
    *,
    docker_media_types: bool = False,
) -> dict[str, BuiltImage | tuple[str, list[BuiltImage]]]:
    """Write an OCI image layout at `root` with one index.json entry per tag.

    A tag mapped to a list of specs becomes a multi-platform image: index.json points at a
    nested image index (its digest is returned with the per-platform images). Returns, per tag,
    the `BuiltImage` or `(index_digest, [BuiltImage…])`.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries: list[dict[str, Any]] = []
    built: dict[str, BuiltImage | tuple[str, list[BuiltImage]]] = {}
    for tag, spec in images.items():
        if isinstance(spec, list):
            images_built = [write_image_blobs(root, s, docker_media_types=docker_media_types) for s in spec]
            nested = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {
                            "mediaType": b.media_type,
                            "digest": b.manifest_digest,
                            "size": len(b.manifest),
                            "platform": _platform(s),
                        }
                        for b, s in zip(images_built, spec, strict=True)
                    ],
                }
            ).encode()
            index_digest = _write_blob(root, nested)
            entries.append(
                {
                    "mediaType": OCI_INDEX,
                    "digest": index_digest,
                    "size": len(nested),
                    "annotations": {REF_NAME: tag},
                }
            )
            built[tag] = (index_digest, images_built)
        else:
            image = write_image_blobs(root, spec, docker_media_types=docker_media_types)
            entries.append(
                {
                    "mediaType": image.media_type,
                    "digest": image.manifest_digest,
                    "size": len(image.manifest),
                    "annotations": {REF_NAME: tag},
                }
            )
            built[tag] = image
    (root / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    )
    return built


def write_docker_archive(
    path: Path,
    spec: ImageSpec,
    *,
    repo_tags: list[str] | None = None,
    layout: Literal["legacy", "oci"] = "legacy",
    gzip_archive: bool = False,
) -> BuiltImage:
    """Write a `docker save`-style tarball.

    `legacy`: `<n>/layer.tar` directories and `<config-hex>.json`, manifest.json last (as Docker
    before 25 wrote it). `oci`: blobs under `blobs/sha256/` plus index.json (Docker 25+). Layers
    are stored with the spec's compression (docker save itself stores them uncompressed).
    `gzip_archive` gzips the whole tarball, like `docker save | gzip`.
    """
    layers = [build_layer(layer, docker_media_types=True) for layer in spec.layers]
    config = config_document(spec, layers)
    config_hex = sha256(config).split(":", 1)[1]
    members: list[tuple[str, bytes]] = []
    if layout == "legacy":
        layer_paths = []
        for i, layer in enumerate(layers):
            layer_paths.append(f"layer{i}/layer.tar")
            members.append((f"layer{i}/layer.tar", layer.blob))
        config_path = f"{config_hex}.json"
        members.append((config_path, config))
    else:
        layer_paths = [f"blobs/sha256/{layer.digest.split(':', 1)[1]}" for layer in layers]
        members.extend((p, layer.blob) for p, layer in zip(layer_paths, layers, strict=True))
        config_path = f"blobs/sha256/{config_hex}"
        members.append((config_path, config))
        members.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'))
    manifest = json.dumps(
        [{"Config": config_path, "RepoTags": repo_tags or [], "Layers": layer_paths}]
    ).encode()
    members.append(("manifest.json", manifest))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))
    data = out.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if gzip_archive else data)
    return BuiltImage(
        manifest_digest="",
        manifest=manifest,
        config_digest=sha256(config),
        config=config,
        layers=layers,
        media_type="",
    )


def os_release(os_id: str = "debian", version_id: str = "12", pretty: str = "") -> File:
    """An `etc/os-release` file, which the os-release cataloger turns into the image's OS."""
    pretty = pretty or f"{os_id.capitalize()} GNU/Linux {version_id}"
    text = f'PRETTY_NAME="{pretty}"\nNAME="{os_id.capitalize()}"\nID={os_id}\nVERSION_ID="{version_id}"\n'
    return File("etc/os-release", text.encode())


def dpkg_status(packages: dict[str, str]) -> File:
    """A `var/lib/dpkg/status` listing `packages` (name → version) as installed."""
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
        f"Maintainer: Test <test@example.org>\nArchitecture: amd64\nVersion: {version}\n"
        f"Description: test package {name}\n"
        for name, version in packages.items()
    ]
    return File("var/lib/dpkg/status", "\n".join(stanzas).encode())


def debian_files(version_id: str = "12", packages: dict[str, str] | None = None) -> list[Entry]:
    """A minimal Debian-looking root: os-release plus a dpkg status file."""
    return [
        Dir("etc"),
        os_release("debian", version_id),
        Dir("var/lib/dpkg"),
        dpkg_status(packages or {"base-files": "12.4+deb12u5", "libc6": "2.36-9+deb12u4"}),
    ]
