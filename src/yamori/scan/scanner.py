"""Turn an image or a directory tree into a `ScanResult`: analyse, cache, replay, finalise.

This is the one place where catalogers, layer streaming, the cache and the applier meet; the
CLI and later the server call `scan_image` / `scan_tree` and never touch the parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yamori.catalog.interface import Cataloger
from yamori.catalog.osrelease import choose_os
from yamori.catalog.purl import purl_for
from yamori.catalog.registry import all_catalogers, cache_key
from yamori.model import ArtifactInfo, LayerInfo, OSInfo, Package, ScanResult
from yamori.scan.applier import FinalView, apply_layers, attribute_layers
from yamori.scan.cache import LayerCache
from yamori.scan.errors import ScanError
from yamori.scan.layer import (
    DEFAULT_MAX_LAYER_BYTES,
    HOST_SKIP_DIRS,
    LayerAnalysis,
    analyze_tar_stream,
    analyze_tree,
)
from yamori.sources.interface import Image, LayerBlob

ProgressCallback = Callable[[str], None]  # called once per finished unit of work


@dataclass(slots=True)
class ScanSettings:
    """Knobs shared by every scan."""

    cache_dir: Path
    use_cache: bool = True
    parallel_layers: int = 2
    max_layer_bytes: int = DEFAULT_MAX_LAYER_BYTES
    scope: str = "image"  # image | rootfs | fs — catalogers declare which scopes they serve


def catalogers_for(scope: str) -> list[Cataloger]:
    return [c for c in all_catalogers() if scope in c.scopes]


def _history_lines(config: dict[str, object]) -> list[str]:
    """`created_by` for each non-empty layer, in order (empty_layer history entries are skipped)."""
    history = config.get("history")
    lines: list[str] = []
    if isinstance(history, list):
        for entry in history:
            if isinstance(entry, dict) and not entry.get("empty_layer"):
                lines.append(str(entry.get("created_by", "")))
    return lines


def _diff_ids(config: dict[str, object]) -> list[str]:
    rootfs = config.get("rootfs")
    if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
        return [str(d) for d in rootfs["diff_ids"]]
    return []


def scan_image(image: Image, settings: ScanSettings, progress: ProgressCallback | None = None) -> ScanResult:
    """Scan every layer of an image (cached layers are not read at all)."""
    catalogers = catalogers_for("image")
    cache = LayerCache(settings.cache_dir, cache_key()) if settings.use_cache else None
    temp_dir = settings.cache_dir / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    history = _history_lines(image.config)
    diff_ids = _diff_ids(image.config)
    layers = [
        LayerInfo(
            index=i,
            digest=blob.digest,
            diff_id=blob.diff_id or (diff_ids[i] if i < len(diff_ids) else ""),
            media_type=blob.media_type,
            size=blob.size,
            created_by=history[i] if i < len(history) and len(history) == len(image.layers) else "",
        )
        for i, blob in enumerate(image.layers)
    ]
    errors: list[str] = []
    warnings: list[str] = []

    def from_cache(index: int) -> LayerAnalysis | None:
        if cache is None:
            return None
        cached = cache.get(image.layers[index].digest)
        if cached is not None:
            layers[index].from_cache = True
            if progress:
                progress(f"layer {index} (cached)")
        return cached

    def analyse(index: int) -> LayerAnalysis:
        blob: LayerBlob = image.layers[index]
        where = f"{image.name} layer {index} ({blob.digest[:19]})"
        with blob.open() as raw:
            analysis = analyze_tar_stream(
                raw,
                catalogers,
                where=where,
                expected_digest=blob.digest if image.verify_digests else None,
                max_bytes=settings.max_layer_bytes,
                temp_dir=temp_dir,
            )
        declared = layers[index].diff_id
        if image.verify_digests and declared and analysis.diff_id != declared:
            # The blob matched its digest but is not the layer the config describes: a
            # manifest and config that disagree are not to be trusted (nor cached).
            raise ScanError(
                f"{where}: uncompressed digest {analysis.diff_id} does not match the config's "
                f"diff_id {declared}"
            )
        if cache is not None:
            cache.put(blob.digest, analysis)
        if progress:
            progress(f"layer {index}")
        return analysis

    # Cached layers first, in this thread: reading an entry takes milliseconds, and a fully
    # cached image then needs no thread pool at all (nor the import of concurrent.futures).
    analyses: list[LayerAnalysis | None] = [from_cache(i) for i in range(len(image.layers))]
    missing = [i for i, analysis in enumerate(analyses) if analysis is None]
    if missing:
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, min(settings.parallel_layers, len(missing)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(analyse, i): i for i in missing}
            for future, index in futures.items():
                try:
                    analyses[index] = future.result()
                except ScanError as exc:
                    errors.append(str(exc))
                except OSError as exc:
                    errors.append(f"{image.name} layer {index}: could not read the blob: {exc}")
    if any(a is None for a in analyses):
        # A missing layer makes the final view wrong (its whiteouts are unknown); report what
        # the readable layers hold, and say so.
        errors.append(
            f"{image.name}: {sum(a is None for a in analyses)} layer(s) could not be read; "
            "the package list below comes from the readable layers only"
        )
    readable = [a for a in analyses if a is not None]
    readable_layers = [layers[i] for i, a in enumerate(analyses) if a is not None]
    for i, analysis in enumerate(analyses):
        if analysis is not None and not layers[i].diff_id:
            layers[i].diff_id = analysis.diff_id
        if analysis is not None:
            warnings.extend(analysis.warnings)
    view = apply_layers(readable)
    os_info, packages = finalize(view, catalogers)
    attribute_layers(packages, readable, readable_layers)
    config = image.config.get("config") if isinstance(image.config.get("config"), dict) else {}
    artifact = ArtifactInfo(
        name=image.name,
        type="container_image",
        digest=image.manifest_digest,
        image_id=image.config_digest,
        repo_tags=list(image.repo_tags),
        repo_digests=list(image.repo_digests),
        architecture=str(image.config.get("architecture", "")),
        os_type=str(image.config.get("os", "")),
        layers=layers,
        config=dict(config or {}),
    )
    return ScanResult(artifact=artifact, os=os_info, packages=packages, errors=errors, warnings=warnings)


def scan_tree(
    root: Path,
    settings: ScanSettings,
    *,
    name: str | None = None,
    artifact_type: str = "filesystem",
    progress: ProgressCallback | None = None,
) -> ScanResult:
    """Scan a directory (a root filesystem, a project checkout, or the running host at `/`)."""
    if not root.is_dir():
        raise ScanError(f"{root}: not a directory")
    catalogers = catalogers_for(settings.scope)
    skip: frozenset[str] = frozenset()
    if artifact_type == "host":
        skip = HOST_SKIP_DIRS | _relative_skip(root, settings.cache_dir)
    analysis = analyze_tree(root, catalogers, where=name or str(root), skip=skip, progress=progress)
    view = apply_layers([analysis])
    os_info, packages = finalize(view, catalogers)
    return ScanResult(
        artifact=ArtifactInfo(name=name or str(root), type=artifact_type),
        os=os_info,
        packages=packages,
        warnings=list(analysis.warnings),
    )


def _relative_skip(root: Path, directory: Path) -> frozenset[str]:
    try:
        return frozenset({str(directory.resolve().relative_to(root.resolve()))})
    except ValueError:
        return frozenset()


def finalize(view: FinalView, catalogers: list[Cataloger]) -> tuple[OSInfo | None, list[Package]]:
    """Packages of the final view: each cataloger joins its files, then duplicates are removed
    and purls assigned."""
    os_info = choose_os(view.get("os-release", {}))
    packages: list[Package] = []
    for cataloger in catalogers:
        packages.extend(cataloger.finalize(view.get(cataloger.name, {})))
    packages = drop_os_owned_language_packages(packages)
    for pkg in packages:
        if not pkg.purl:
            pkg.purl = purl_for(pkg, os_info)
    packages.sort(key=lambda p: (not p.type.is_os, p.type.value, p.name, p.version, p.location))
    return os_info, packages


def drop_os_owned_language_packages(packages: list[Package]) -> list[Package]:
    """Language packages whose manifest an OS package installed are the OS package's business
    (Debian's python3-* and node-* packages): reporting both double-counts. Go binaries are the
    exception — distros track toolchain CVEs against a source package the image rarely has, so
    the binary must stay visible; it records which OS package owns it instead."""
    owner_of: dict[str, str] = {}
    for pkg in packages:
        if pkg.type.is_os:
            for path in pkg.files:
                owner_of[path] = pkg.name
    if not owner_of:
        return packages
    kept: list[Package] = []
    for pkg in packages:
        owner = None if pkg.type.is_os else owner_of.get("/" + pkg.location)
        if owner is None:
            kept.append(pkg)
        elif pkg.type.value == "golang":
            pkg.metadata["os_package"] = owner
            kept.append(pkg)
    return kept
