"""`containers-storage:` — podman's storage read from disk, in a private graph root.

Images get there with `skopeo copy oci:… containers-storage:[DRIVER@ROOT+RUNROOT]NAME`, the same
code path as `podman pull`. overlay works on this machine as root; vfs is tested too, since
rootless or overlay-less hosts use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.oci import (
    Dir,
    File,
    Hardlink,
    ImageSpec,
    Layer,
    Opaque,
    Symlink,
    Whiteout,
    debian_files,
    os_release,
    write_oci_layout,
)
from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ScanSettings
from yamori.scan.target import scan_image_reference
from yamori.sources.image.containers_storage import _candidate_names, chain_id
from yamori.sources.interface import SourceOptions

IMAGES = {
    "base": ImageSpec(
        layers=[
            Layer(debian_files("12")),
            Layer([File("app/x", b"1"), Symlink("app/l", "x"), Hardlink("app/h", "app/x")], "zstd"),
        ]
    ),
    "deleted": ImageSpec(layers=[Layer(debian_files("12")), Layer([Whiteout("etc/os-release")])]),
    "opaque": ImageSpec(
        layers=[Layer(debian_files("12")), Layer([Opaque("etc"), Dir("etc"), File("etc/hostname", b"h")])]
    ),
    "readded": ImageSpec(
        layers=[
            Layer(debian_files("12")),
            Layer([Whiteout("etc/os-release")]),
            Layer([os_release("debian", "12.9")], "none"),
        ]
    ),
}


def _unmount_below(root: Path) -> None:
    """skopeo leaves the overlay driver's home bind-mounted; unmount it so the tmp dir can go."""
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(str(root))), reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


def _storage(tmp: Path, driver: str) -> Iterator[Path]:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed")
    if os.geteuid() != 0 and driver == "overlay":
        pytest.skip("overlay storage in a private root needs root here")
    layout = tmp / "layout"
    write_oci_layout(layout, IMAGES)
    root, runroot = tmp / "root", tmp / "runroot"
    try:
        for tag in IMAGES:
            result = subprocess.run(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    "--insecure-policy",
                    f"oci:{layout}:{tag}",
                    f"containers-storage:[{driver}@{root}+{runroot}]localhost/yamori-test/{tag}:v1",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if result.returncode != 0:
                pytest.skip(f"skopeo cannot write {driver} storage here: {result.stderr.strip()[:300]}")
        yield root
    finally:
        _unmount_below(tmp)


@pytest.fixture(scope="module")
def overlay_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _storage(tmp_path_factory.mktemp("cs-overlay"), "overlay")


@pytest.fixture(scope="module")
def vfs_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _storage(tmp_path_factory.mktemp("cs-vfs"), "vfs")


def scan(ref: str, cache: Path, root: Path) -> ScanResult:
    return scan_image_reference(ref, ScanSettings(cache_dir=cache), SourceOptions(storage_root=root))


def test_overlay_image_by_names(overlay_root: Path, yamori_cache: Path) -> None:
    for name in ("yamori-test/base:v1", "localhost/yamori-test/base:v1"):
        result = scan(f"containers-storage:{name}", yamori_cache, overlay_root)
        assert result.errors == []
        assert result.os is not None and result.os.version == "12"
        assert len(result.artifact.layers) == 2
        assert result.artifact.repo_tags == ["localhost/yamori-test/base:v1"]
    built_diff_ids = [
        layer["diff-digest"]
        for layer in __import__("json").loads((overlay_root / "overlay-layers" / "layers.json").read_text())
    ]
    assert all(layer.digest in built_diff_ids for layer in result.artifact.layers)


def test_overlay_image_by_id_prefix(overlay_root: Path, yamori_cache: Path) -> None:
    images = __import__("json").loads((overlay_root / "overlay-images" / "images.json").read_text())
    image = next(i for i in images if "localhost/yamori-test/base:v1" in i["names"])
    result = scan(f"containers-storage:{image['id'][:12]}", yamori_cache, overlay_root)
    assert result.os is not None
    assert result.artifact.image_id == f"sha256:{image['id']}"
    assert result.artifact.digest == image["digest"]


def test_overlay_whiteouts_become_oci_whiteouts(overlay_root: Path, yamori_cache: Path) -> None:
    # overlay stores the deletion as a 0:0 character device; it must hide the lower file.
    assert scan("containers-storage:yamori-test/deleted:v1", yamori_cache, overlay_root).os is None
    readded = scan("containers-storage:yamori-test/readded:v1", yamori_cache, overlay_root)
    assert readded.os is not None and readded.os.version == "12.9"


def test_overlay_opaque_directory(overlay_root: Path, yamori_cache: Path) -> None:
    assert scan("containers-storage:yamori-test/opaque:v1", yamori_cache, overlay_root).os is None


def test_layers_are_cached_by_diff_digest(overlay_root: Path, yamori_cache: Path) -> None:
    first = scan("containers-storage:yamori-test/base:v1", yamori_cache, overlay_root)
    second = scan("containers-storage:yamori-test/deleted:v1", yamori_cache, overlay_root)
    assert first.artifact.layers[0].digest == second.artifact.layers[0].digest
    assert second.artifact.layers[0].from_cache


def test_skopeo_style_reference(overlay_root: Path, yamori_cache: Path, tmp_path: Path) -> None:
    ref = f"containers-storage:[overlay@{overlay_root}+{tmp_path}]yamori-test/base:v1"
    result = scan_image_reference(ref, ScanSettings(cache_dir=yamori_cache), SourceOptions())
    assert result.os is not None


def test_unknown_image_and_missing_storage(overlay_root: Path, yamori_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ScanError, match=r"no image named 'nope' in the storage \(images: localhost/yamori-test/base:v1"
    ):
        scan("containers-storage:nope", yamori_cache, overlay_root)
    with pytest.raises(ScanError, match=r"no images in containers-storage at .*; pass --storage-root"):
        scan("containers-storage:nope", yamori_cache, tmp_path)


def test_missing_layer_directory(overlay_root: Path, yamori_cache: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(overlay_root), str(copy)], check=True)  # keeps device nodes
    layers = __import__("json").loads((copy / "overlay-layers" / "layers.json").read_text())
    top = layers[-1]["id"]
    shutil.rmtree(copy / "overlay" / top)
    results = [scan(f"containers-storage:yamori-test/{t}:v1", yamori_cache, copy) for t in IMAGES]
    errors = [e for r in results for e in r.errors]
    assert any("layer directory" in e and "is missing" in e for e in errors), errors


def test_vfs_storage_is_scanned_flattened(vfs_root: Path, yamori_cache: Path) -> None:
    result = scan("containers-storage:yamori-test/readded:v1", yamori_cache, vfs_root)
    assert result.errors == []
    assert result.os is not None and result.os.version == "12.9"
    assert len(result.artifact.layers) == 1  # vfs keeps full copies; see the module docstring
    assert scan("containers-storage:yamori-test/deleted:v1", yamori_cache, vfs_root).os is None


def test_candidate_names_and_chain_id() -> None:
    assert _candidate_names("alpine") == [
        "alpine:latest",
        "localhost/alpine:latest",
        "docker.io/alpine:latest",
        "docker.io/library/alpine:latest",
    ]
    assert _candidate_names("quay.io/x/y:1") == ["quay.io/x/y:1"]
    assert chain_id(["sha256:a"]) == "sha256:a"
    assert chain_id(["sha256:a", "sha256:b"]).startswith("sha256:")
