"""From what the user typed to a `ScanResult`: pick the source, open it, scan it.

`yamori sbom TARGET` accepts anything: `/` (the host), a directory (a root filesystem), an SBOM
document (CycloneDX or SPDX JSON), a `docker save` archive, a prefixed reference
(`oci:`, `docker-archive:`, `containers-storage:`) or a registry reference.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ProgressCallback, ScanSettings, scan_image, scan_tree
from yamori.sources.interface import SourceOptions
from yamori.sources.registry import image_source, split_reference


def scan_image_reference(
    reference: str,
    settings: ScanSettings,
    options: SourceOptions,
    progress: ProgressCallback | None = None,
    on_layers: ProgressCallback | None = None,
) -> ScanResult:
    """Open an image by reference and scan it. `on_layers` learns the layer count first."""
    prefix, rest = split_reference(reference)
    image = image_source(prefix).open(rest, options)
    if on_layers:
        on_layers(str(len(image.layers)))
    return scan_image(image, settings, progress)


def scan_directory(
    path: Path,
    settings: ScanSettings,
    *,
    artifact_type: str,
    progress: ProgressCallback | None = None,
) -> ScanResult:
    return scan_tree(path, settings, name=str(path), artifact_type=artifact_type, progress=progress)


def _looks_like_sbom(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{")


def scan_any(
    target: str,
    settings: ScanSettings,
    options: SourceOptions,
    progress: ProgressCallback | None = None,
    on_layers: ProgressCallback | None = None,
) -> ScanResult:
    """Scan whatever `target` names (see module docstring)."""
    path = Path(target)
    if target == "/":
        settings.scope = "rootfs"
        return scan_tree(path, settings, name="host", artifact_type="host", progress=progress)
    if ":" not in target or path.exists():
        if path.is_dir():
            settings.scope = "rootfs"
            return scan_directory(path, settings, artifact_type="filesystem", progress=progress)
        if path.is_file():
            if _looks_like_sbom(path):
                from yamori.sources.sbom import read_sbom

                return read_sbom(path)
            if tarfile.is_tarfile(path):
                return scan_image_reference(f"docker-archive:{path}", settings, options, progress, on_layers)
            raise ScanError(f"{path}: neither a directory, an SBOM document nor an image archive")
    return scan_image_reference(target, settings, options, progress, on_layers)
