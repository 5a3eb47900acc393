"""`containers-storage:NAME[:tag]` — images in podman/buildah/CRI-O storage, read from disk.

No daemon and no podman process: the storage's own JSON files say everything.

* `<driver>-images/images.json`: each image's id, names and manifest digest; per-image "big
  data" (the manifest, the config under its digest) sits in `<driver>-images/<id>/`, in files
  named after the key — plain, or `=` + base64(key) when the key has unsafe characters.
* `<driver>-layers/layers.json`: each layer's id, parent and `diff-digest` (uncompressed
  digest). The image's `layer` is its top layer; parents lead down to the base.
* overlay keeps each layer's *diff* unpacked in `overlay/<id>/diff`, with overlayfs' own
  whiteouts: a 0:0 character device for a deleted file and an `overlay.opaque` xattr on a
  directory whose lower contents are hidden. Each layer is turned back into a tar stream on the
  fly (a thread writes `tarfile` `w|` into a pipe) with those converted to OCI whiteouts, so
  the normal layer pipeline, cache and applier do the rest.
* vfs keeps full copies (`vfs/dir/<id>` is the whole filesystem at that layer), so layer diffs
  are not on disk; the image is scanned as one flattened layer (its top layer directory), keyed
  by the chain id of the stack. Packages are then all attributed to that one layer.

`Image.verify_digests` is False: the regenerated tar cannot be byte-identical to the original
layer (entry order, headers, timestamps), so the stored digest cannot be checked against it;
containers-storage verified the layer when it was pulled, and our cache key is the layer's
diff-digest, which names that verified content.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import os
import re
import stat
import tarfile
import threading
from pathlib import Path
from typing import IO, Any

import orjson

from yamori.scan.errors import ScanError
from yamori.sources.image.common import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    document_media_type,
    load_json,
    unknown_media_type,
)
from yamori.sources.interface import Image, ImageSource, LayerBlob, SourceOptions
from yamori.sources.registry import register

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque")
_WHITEOUT_XATTRS = ("trusted.overlay.whiteout", "user.overlay.whiteout")
SUPPORTED_DRIVERS = ("overlay", "vfs")


def default_storage_root() -> Path:
    """Where podman keeps images for this user (root: /var/lib; rootless: XDG data home)."""
    if os.geteuid() == 0:
        return Path("/var/lib/containers/storage")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "containers" / "storage"


def big_data_file(directory: Path, key: str) -> Path:
    """The file holding an image's big-data item `key` (containers/storage's naming rule)."""
    if _SAFE_KEY.match(key) and not key.startswith("="):
        plain = directory / key
        if plain.exists():
            return plain
    return directory / ("=" + base64.standard_b64encode(key.encode()).decode())


def _read_json_file(path: Path, where: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ScanError(f"{where}: {path} does not exist") from None
    except OSError as exc:
        raise ScanError(f"{where}: cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ScanError(f"{where}: {path} is not valid JSON ({exc})") from None


def _candidate_names(name: str) -> list[str]:
    """The names `podman` would accept for NAME: with `:latest` when untagged, and under
    `localhost/` and `docker.io/[library/]` when unqualified."""
    base = name
    if "@" not in base and ":" not in base.rsplit("/", 1)[-1]:
        base += ":latest"
    names = [base]
    first = base.split("/", 1)[0]
    qualified = "/" in base and ("." in first or ":" in first or first == "localhost")
    if not qualified:
        names += [f"localhost/{base}", f"docker.io/{base}"]
        if "/" not in base:
            names.append(f"docker.io/library/{base}")
    return names


def find_image(images: list[dict[str, Any]], name: str, where: str) -> dict[str, Any]:
    """Look an image up by name[:tag], name@digest, or (a prefix of) its id."""
    if "@" in name:
        digest = name.rsplit("@", 1)[1]
        for image in images:
            if image.get("digest") == digest or digest in (image.get("digests") or []):
                return image
    wanted = set(_candidate_names(name))
    for image in images:
        if wanted & set(image.get("names") or []):
            return image
    hex_id = name.removeprefix("sha256:")
    if len(hex_id) >= 3 and all(c in "0123456789abcdef" for c in hex_id):
        matches = [i for i in images if str(i.get("id", "")).startswith(hex_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ScanError(f"{where}: image id prefix {hex_id!r} is ambiguous")
    known = sorted({n for i in images for n in (i.get("names") or [])})
    shown = ", ".join(known[:10]) + (", …" if len(known) > 10 else "")
    raise ScanError(f"{where}: no image named {name!r} in the storage (images: {shown or 'none'})")


# ------------------------------------------------------------------- tar from a diff directory


def _xattr(path: str, names: tuple[str, ...]) -> bytes | None:
    for attr in names:
        try:
            return os.getxattr(path, attr, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
                raise
    return None


def _whiteout_info(arcname: str) -> tarfile.TarInfo:
    parent, _, base = arcname.rpartition("/")
    info = tarfile.TarInfo(f"{parent}/.wh.{base}" if parent else f".wh.{base}")
    info.type = tarfile.REGTYPE
    info.mode = 0o600
    return info


def write_diff_tar(tar: tarfile.TarFile, root: Path) -> None:
    """Write the overlay diff directory `root` into `tar`, converting overlay whiteouts."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        real_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
        with os.scandir(real_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                tar.addfile(_whiteout_info(rel))
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size == 0 and _xattr(entry.path, _WHITEOUT_XATTRS):
                tar.addfile(_whiteout_info(rel))
                continue
            info = tar.gettarinfo(entry.path, arcname=rel)
            if info is None:  # sockets: nothing an image can carry
                continue
            if info.isreg():
                with open(entry.path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
            if stat.S_ISDIR(st.st_mode):
                if (_xattr(entry.path, _OPAQUE_XATTRS) or b"") == b"y":
                    opaque = tarfile.TarInfo(f"{rel}/.wh..wh..opq")
                    opaque.mode = 0o600
                    tar.addfile(opaque)
                stack.append(rel)


class _TarPipe(io.RawIOBase):
    """The read end of a pipe that a thread fills with a tar of a directory.

    Streaming through a pipe keeps memory flat and writes nothing to disk; closing early (the
    pipeline gave up on the layer) makes the writer hit a broken pipe and stop.
    """

    def __init__(self, root: Path, where: str) -> None:
        read_fd, write_fd = os.pipe()
        self._read = os.fdopen(read_fd, "rb", buffering=0)
        self._write = os.fdopen(write_fd, "wb", buffering=1024 * 1024)
        self._root, self._where = root, where
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._produce, name=f"tar {root}", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            with tarfile.open(fileobj=self._write, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                write_diff_tar(tar, self._root)
        except BrokenPipeError:
            pass
        except Exception as exc:  # reported to the reader, which is where the scan is
            self._error = exc
        finally:
            with contextlib.suppress(OSError):
                self._write.close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._read.readinto(buffer)
        if not n:
            self._thread.join()
            if self._error is not None:
                exc = self._error
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                name = getattr(exc, "filename", "") or ""
                raise ScanError(f"{self._where}: cannot read layer directory {name or self._root}: {detail}")
        return n or 0

    def close(self) -> None:
        if not self.closed:
            self._read.close()
            self._thread.join()
        super().close()


class DirectoryLayer(LayerBlob):
    """A layer generated from a directory of the storage each time it is opened."""

    def __init__(self, root: Path, digest: str, size: int, diff_id: str, where: str) -> None:
        self.root = root
        self.digest = digest
        self.media_type = LAYER_TAR
        self.size = size
        self.diff_id = diff_id
        self._where = where

    def open(self) -> IO[bytes]:
        if not self.root.is_dir():
            raise ScanError(f"{self._where}: layer directory {self.root} is missing")
        return io.BufferedReader(_TarPipe(self.root, self._where), 1024 * 1024)


# ------------------------------------------------------------------------------ the source


def _driver(root: Path, wanted: str, where: str) -> str:
    """The storage driver: as asked (`extra["storage_driver"]` or skopeo's `[driver@root]`),
    else whichever supported driver has an images.json under the root."""
    if wanted:
        if wanted not in SUPPORTED_DRIVERS:
            raise ScanError(f"{where}: storage driver {wanted!r} is not supported (overlay, vfs)")
        return wanted
    for driver in SUPPORTED_DRIVERS:
        if (root / f"{driver}-images" / "images.json").is_file():
            return driver
    others = sorted(p.name.removesuffix("-images") for p in root.glob("*-images"))
    if others:
        raise ScanError(f"{where}: storage driver {others[0]!r} in {root} is not supported (overlay, vfs)")
    raise ScanError(
        f"{where}: no images in containers-storage at {root}; pass --storage-root if podman keeps "
        "them elsewhere"
    )


def _layer_chain(layers: list[dict[str, Any]], top: str, where: str) -> list[dict[str, Any]]:
    by_id = {str(layer.get("id")): layer for layer in layers}
    chain: list[dict[str, Any]] = []
    current: str | None = top
    while current:
        layer = by_id.get(current)
        if layer is None:
            raise ScanError(f"{where}: layer {current[:12]} is missing from layers.json")
        chain.append(layer)
        if len(chain) > len(by_id):
            raise ScanError(f"{where}: layers.json has a parent cycle")
        parent = layer.get("parent")
        current = str(parent) if parent else None
    chain.reverse()
    return chain


def chain_id(diff_ids: list[str]) -> str:
    """OCI ChainID of a layer stack: the identity of the filesystem the stack produces."""
    current = diff_ids[0]
    for diff_id in diff_ids[1:]:
        current = "sha256:" + hashlib.sha256(f"{current} {diff_id}".encode()).hexdigest()
    return current


@register
class ContainersStorageSource(ImageSource):
    prefix = "containers-storage"
    description = "podman/buildah/CRI-O storage: containers-storage:NAME[:tag] or an image id"

    def open(self, reference: str, options: SourceOptions) -> Image:
        where = f"containers-storage:{reference}"
        name = reference
        root = options.storage_root
        wanted = options.extra.get("storage_driver")
        driver_choice = wanted if isinstance(wanted, str) else ""
        if name.startswith("[") and "]" in name:  # skopeo's [driver@root+runroot]name form
            spec, name = name[1:].split("]", 1)
            driver_root = spec.split("@", 1)[1] if "@" in spec else spec
            root = Path(driver_root.split("+", 1)[0])
            if "@" in spec and not driver_choice:
                driver_choice = spec.split("@", 1)[0]
        root = root or default_storage_root()
        driver = _driver(root, driver_choice, where)
        images = _read_json_file(root / f"{driver}-images" / "images.json", where)
        if not isinstance(images, list):
            raise ScanError(f"{where}: images.json is not a list")
        image = find_image([i for i in images if isinstance(i, dict)], name, where)
        image_id = str(image.get("id", ""))
        if not re.fullmatch(r"[0-9a-f]{64}", image_id):
            raise ScanError(f"{where}: images.json has a malformed image id {image_id!r}")
        image_dir = root / f"{driver}-images" / image_id
        manifest_bytes = _read_big_data(image_dir, "manifest", where)
        manifest = load_json(manifest_bytes, f"{where}: manifest")
        media_type = document_media_type(manifest)
        if media_type in INDEX_TYPES:
            raise ScanError(f"{where}: the stored manifest is an index; name a single-platform image")
        if media_type not in MANIFEST_TYPES:
            raise unknown_media_type(media_type, where)
        config_digest = str((manifest.get("config") or {}).get("digest") or f"sha256:{image_id}")
        config = load_json(_read_big_data(image_dir, config_digest, where), f"{where}: config")
        layer_list = _read_json_file(root / f"{driver}-layers" / "layers.json", where)
        if not isinstance(layer_list, list):
            raise ScanError(f"{where}: layers.json is not a list")
        top = str(image.get("layer") or "")
        chain = _layer_chain([x for x in layer_list if isinstance(x, dict)], top, where) if top else []
        blobs = _blobs(root, driver, chain, where)
        manifest_digest = str(image.get("digest", ""))
        names = [str(n) for n in image.get("names") or []]
        return Image(
            name=where,
            config=config,
            layers=blobs,
            manifest_digest=manifest_digest,
            config_digest=config_digest,
            repo_tags=names,
            repo_digests=[f"{n.rsplit(':', 1)[0]}@{manifest_digest}" for n in names if manifest_digest],
            # See the module docstring: regenerated tars cannot match the stored digests.
            verify_digests=False,
        )


def _read_big_data(image_dir: Path, key: str, where: str) -> bytes:
    path = big_data_file(image_dir, key)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ScanError(f"{where}: the image's {key} is missing from the storage ({path})") from None
    except OSError as exc:
        raise ScanError(f"{where}: cannot read {path}: {exc.strerror}") from None


def _blobs(root: Path, driver: str, chain: list[dict[str, Any]], where: str) -> list[LayerBlob]:
    for layer in chain:
        if not re.fullmatch(r"[0-9a-f]{64}", str(layer.get("id", ""))):
            raise ScanError(f"{where}: layers.json has a malformed layer id {layer.get('id')!r}")
    if driver == "vfs":
        if not chain:
            return []
        diff_ids = [str(layer.get("diff-digest", "")) for layer in chain]
        if not all(diff_ids):
            raise ScanError(f"{where}: a layer in layers.json has no diff-digest")
        top = chain[-1]
        flat = chain_id(diff_ids)
        # The flattened layer has no diff_id of its own; its chain id names its content.
        return [DirectoryLayer(root / "vfs" / "dir" / str(top["id"]), flat, 0, flat, where)]
    blobs: list[LayerBlob] = []
    for i, layer in enumerate(chain):
        diff_digest = str(layer.get("diff-digest", ""))
        if not diff_digest:
            raise ScanError(f"{where}: layer {i} ({str(layer['id'])[:12]}) has no diff-digest")
        directory = root / "overlay" / str(layer["id"]) / "diff"
        blobs.append(
            DirectoryLayer(
                directory, diff_digest, int(layer.get("diff-size") or 0), diff_digest, f"{where} layer {i}"
            )
        )
    return blobs
