"""`oci:DIR[:tag]` — an OCI image layout directory (what `skopeo copy … oci:DIR:tag` writes).

The layout's `index.json` names images by the `org.opencontainers.image.ref.name` annotation;
descriptors may point at nested indexes (multi-arch images), resolved by platform. Blobs live at
`blobs/<alg>/<hex>` and are read in place: digests are verified as they stream, and blob paths
are built only from validated digests, so a hostile index cannot make us read outside DIR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yamori.scan.errors import ScanError
from yamori.sources.image.common import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    FileBlob,
    check_config_type,
    check_digest_syntax,
    document_media_type,
    load_json,
    manifest_layers,
    read_limited,
    select_platform,
    unknown_media_type,
    verify_bytes,
)
from yamori.sources.interface import Image, ImageSource, LayerBlob, SourceOptions
from yamori.sources.registry import register

REF_NAME = "org.opencontainers.image.ref.name"
MAX_NESTING = 4  # index → index → manifest is the deepest real layouts go


def split_layout_reference(reference: str) -> tuple[Path, str]:
    """`DIR[:tag]` → (DIR, tag). A directory whose name contains ':' still works when it exists."""
    path = Path(reference)
    if path.is_dir():
        return path, ""
    directory, sep, tag = reference.rpartition(":")
    if sep and "/" not in tag and directory:
        return Path(directory), tag
    return path, ""


class _Layout:
    """One opened layout directory."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name

    def blob_path(self, digest: str) -> Path:
        check_digest_syntax(digest, self.name)
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / "blobs" / algorithm / hexdigest

    def read_blob(self, digest: str, what: str) -> bytes:
        path = self.blob_path(digest)
        try:
            with path.open("rb") as handle:
                data = read_limited(handle, f"{self.name}: {what}")
        except FileNotFoundError:
            raise ScanError(f"{self.name}: {what} blob {digest} is missing from the layout") from None
        except OSError as exc:
            raise ScanError(f"{self.name}: cannot read {what} blob {digest}: {exc.strerror}") from None
        verify_bytes(data, digest, f"{self.name}: {what}")
        return data


@register
class OCILayoutSource(ImageSource):
    prefix = "oci"
    description = "OCI image layout directory: oci:DIR[:tag]"

    def open(self, reference: str, options: SourceOptions) -> Image:
        root, tag = split_layout_reference(reference)
        name = f"oci:{reference}"
        index_path = root / "index.json"
        if not root.is_dir():
            raise ScanError(f"{name}: {root} is not a directory")
        try:
            with index_path.open("rb") as handle:
                index = load_json(read_limited(handle, name), f"{name}: index.json")
        except FileNotFoundError:
            raise ScanError(f"{name}: no index.json in {root}; not an OCI image layout") from None
        except OSError as exc:
            raise ScanError(f"{name}: cannot read index.json: {exc.strerror}") from None
        layout = _Layout(root, name)
        desc = _pick_top(index, tag, name, options)
        manifest_digest, manifest = _resolve(layout, desc, options, name, 0)
        config_desc = check_config_type(manifest, name)
        config_digest = str(config_desc["digest"])
        config = load_json(layout.read_blob(config_digest, "config"), f"{name}: config")

        def make_blob(digest: str, media_type: str, size: int, diff_id: str) -> LayerBlob:
            path = layout.blob_path(digest)
            if not path.is_file():
                raise ScanError(f"{name}: layer blob {digest} is missing from the layout")
            return FileBlob(path, digest=digest, media_type=media_type, size=size, diff_id=diff_id)

        layers = manifest_layers(manifest, name, make_blob, config)
        ref_name = str((desc.get("annotations") or {}).get(REF_NAME, "")) or tag
        return Image(
            name=name,
            config=config,
            layers=layers,
            manifest_digest=manifest_digest,
            config_digest=config_digest,
            repo_tags=[ref_name] if ref_name else [],
        )


def _pick_top(index: dict[str, Any], tag: str, name: str, options: SourceOptions) -> dict[str, Any]:
    """The index.json entry for `tag`; without a tag, the only entry (or a platform match)."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ScanError(f"{name}: index.json lists no images")
    entries = [d for d in manifests if isinstance(d, dict)]
    if tag:
        matches = [d for d in entries if (d.get("annotations") or {}).get(REF_NAME) == tag]
        if not matches:
            tags = sorted({str((d.get("annotations") or {}).get(REF_NAME)) for d in entries} - {"None"})
            raise ScanError(
                f"{name}: no image tagged {tag!r} in the layout (tags: {', '.join(tags) or 'none'})"
            )
        if len(matches) == 1:
            return matches[0]
        return select_platform({"manifests": matches}, options.platform, name)
    if len(entries) == 1:
        return entries[0]
    if any("platform" in d for d in entries):
        return select_platform(index, options.platform, name)
    tags = sorted({str((d.get("annotations") or {}).get(REF_NAME)) for d in entries} - {"None"})
    raise ScanError(
        f"{name}: the layout holds {len(entries)} images; name one as oci:DIR:TAG "
        f"(tags: {', '.join(tags) or 'none'})"
    )


def _resolve(
    layout: _Layout, desc: dict[str, Any], options: SourceOptions, name: str, depth: int
) -> tuple[str, dict[str, Any]]:
    """Follow a descriptor through nested indexes to an image manifest: (digest, manifest)."""
    if depth > MAX_NESTING:
        raise ScanError(f"{name}: indexes nested deeper than {MAX_NESTING} levels")
    digest = str(desc.get("digest", ""))
    doc = load_json(layout.read_blob(digest, "manifest"), f"{name}: manifest {digest}")
    media_type = document_media_type(doc, str(desc.get("mediaType", "")))
    if media_type in INDEX_TYPES:
        child = select_platform(doc, options.platform, name)
        return _resolve(layout, child, options, name, depth + 1)
    if media_type in MANIFEST_TYPES:
        return digest, doc
    raise unknown_media_type(media_type, name)
