"""`oci:DIR[:tag]` end to end, plus the hostile-layer cases every source shares (the layer
pipeline is the same whatever the source, so they are exercised once, here)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import zstandard

from support.oci import (
    Device,
    Dir,
    File,
    Hardlink,
    ImageSpec,
    Layer,
    Opaque,
    Raw,
    Symlink,
    Whiteout,
    debian_files,
    layer_tar,
    os_release,
    write_oci_layout,
)
from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ScanSettings
from yamori.scan.target import scan_image_reference
from yamori.sources.image.oci_layout import split_layout_reference
from yamori.sources.interface import SourceOptions


def scan(ref: str, cache: Path, platform: str | None = None, **settings: int) -> ScanResult:
    return scan_image_reference(
        ref, ScanSettings(cache_dir=cache, **settings), SourceOptions(platform=platform)
    )


def snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def assert_only_cache_written(root: Path, before: set[Path], cache: Path) -> None:
    new = {p for p in snapshot(root) - before if cache not in p.parents and p != cache}
    assert new == set(), f"files written outside the cache dir: {sorted(new)}"


def test_single_image_with_tag(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(
        layers=[Layer(debian_files("12")), Layer([File("app/run", b"#!/bin/sh\n", 0o755)], "zstd")],
        history=["ADD rootfs", "COPY app"],
    )
    built = write_oci_layout(tmp_path / "lay", {"v1": spec})["v1"]
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert result.errors == []
    assert result.os is not None and (result.os.family, result.os.version) == ("debian", "12")
    assert [layer.digest for layer in result.artifact.layers] == [layer.digest for layer in built.layers]  # type: ignore[union-attr]
    assert [layer.diff_id for layer in result.artifact.layers] == [layer.diff_id for layer in built.layers]  # type: ignore[union-attr]
    assert result.artifact.layers[1].created_by == "COPY app"
    assert result.artifact.digest == built.manifest_digest  # type: ignore[union-attr]
    assert result.artifact.image_id == built.config_digest  # type: ignore[union-attr]
    assert result.artifact.repo_tags == ["v1"]
    # The second scan comes from the layer cache.
    again = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert all(layer.from_cache for layer in again.artifact.layers)
    assert again.os == result.os


def test_untagged_single_image_and_uncompressed_layers(tmp_path: Path, yamori_cache: Path) -> None:
    write_oci_layout(tmp_path / "lay", {"only": ImageSpec(layers=[Layer(debian_files("11"), "none")])})
    result = scan(f"oci:{tmp_path / 'lay'}", yamori_cache)
    assert result.os is not None and result.os.version == "11"
    assert result.artifact.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar"


def test_docker_media_types_in_layout(tmp_path: Path, yamori_cache: Path) -> None:
    write_oci_layout(
        tmp_path / "lay", {"d": ImageSpec(layers=[Layer(debian_files("12"))])}, docker_media_types=True
    )
    result = scan(f"oci:{tmp_path / 'lay'}:d", yamori_cache)
    assert result.os is not None and result.os.family == "debian"
    assert result.artifact.layers[0].media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_whiteouts_and_opaque_dirs_apply(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(
        layers=[
            Layer(debian_files("12")),
            Layer([Whiteout("etc/os-release")]),
        ]
    )
    opaque = ImageSpec(layers=[Layer(debian_files("12")), Layer([Opaque("etc"), File("etc/hostname", b"x")])])
    write_oci_layout(tmp_path / "lay", {"wh": spec, "opq": opaque})
    assert scan(f"oci:{tmp_path / 'lay'}:wh", yamori_cache).os is None
    assert scan(f"oci:{tmp_path / 'lay'}:opq", yamori_cache).os is None


def test_nested_index_platform_selection(tmp_path: Path, yamori_cache: Path) -> None:
    amd = ImageSpec(layers=[Layer(debian_files("12"))], architecture="amd64")
    arm = ImageSpec(layers=[Layer(debian_files("11"))], architecture="arm64", variant="v8")
    write_oci_layout(tmp_path / "lay", {"multi": [amd, arm]})
    ref = f"oci:{tmp_path / 'lay'}:multi"
    assert scan(ref, yamori_cache, platform="linux/amd64").os.version == "12"  # type: ignore[union-attr]
    arm_result = scan(ref, yamori_cache, platform="linux/arm64")
    assert arm_result.os.version == "11"  # type: ignore[union-attr]
    assert arm_result.artifact.architecture == "arm64"
    with pytest.raises(
        ScanError, match=r"no image for platform linux/s390x \(available: linux/amd64, linux/arm64/v8\)"
    ):
        scan(ref, yamori_cache, platform="linux/s390x")


def test_reference_parsing(tmp_path: Path) -> None:
    assert split_layout_reference("/x/y:tag") == (Path("/x/y"), "tag")
    assert split_layout_reference("/x/y") == (Path("/x/y"), "")
    odd = tmp_path / "dir:with:colons"
    odd.mkdir()
    assert split_layout_reference(str(odd)) == (odd, "")


def test_unknown_tag_and_missing_layout(tmp_path: Path, yamori_cache: Path) -> None:
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(debian_files())])})
    with pytest.raises(ScanError, match=r"no image tagged 'v2' in the layout \(tags: v1\)"):
        scan(f"oci:{tmp_path / 'lay'}:v2", yamori_cache)
    with pytest.raises(ScanError, match=r"is not a directory"):
        scan(f"oci:{tmp_path / 'nope'}", yamori_cache)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanError, match=r"no index.json"):
        scan(f"oci:{tmp_path / 'empty'}", yamori_cache)


def test_unknown_manifest_media_type(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(layers=[Layer(debian_files())], manifest_media_type="application/vnd.example.thing+json")
    write_oci_layout(tmp_path / "lay", {"v1": spec})
    with pytest.raises(ScanError) as info:
        scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert "unsupported manifest media type 'application/vnd.example.thing+json'" in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_layer_media_type(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(layers=[Layer(debian_files(), media_type="application/vnd.example.blob")])
    write_oci_layout(tmp_path / "lay", {"v1": spec})
    with pytest.raises(ScanError, match=r"layer 0 has unsupported media type 'application/vnd.example.blob'"):
        scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)


def test_manifest_pointing_to_missing_blob(tmp_path: Path, yamori_cache: Path) -> None:
    built = write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(debian_files())])})["v1"]
    digest = built.layers[0].digest  # type: ignore[union-attr]
    (tmp_path / "lay" / "blobs" / "sha256" / digest.split(":")[1]).unlink()
    with pytest.raises(ScanError, match=f"layer blob {digest} is missing from the layout"):
        scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)


def test_blob_digest_mismatch(tmp_path: Path, yamori_cache: Path) -> None:
    built = write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(debian_files())])})["v1"]
    digest = built.layers[0].digest  # type: ignore[union-attr]
    blob = tmp_path / "lay" / "blobs" / "sha256" / digest.split(":")[1]
    blob.write_bytes(gzip.compress(layer_tar([os_release("alpine", "3.19")]), mtime=0))
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert any(f"blob digest mismatch: expected {digest}" in e for e in result.errors)
    assert result.os is None  # nothing from the tampered blob is used
    assert not (yamori_cache / "layers" / "sha256" / (digest.split(":")[1] + ".json.zst")).exists()


def test_tampered_config_is_refused(tmp_path: Path, yamori_cache: Path) -> None:
    built = write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(debian_files())])})["v1"]
    config = tmp_path / "lay" / "blobs" / "sha256" / built.config_digest.split(":")[1]  # type: ignore[union-attr]
    config.write_bytes(config.read_bytes().replace(b"amd64", b"arm64"))
    with pytest.raises(ScanError, match=r"config: digest mismatch"):
        scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)


@pytest.mark.parametrize(
    ("compression", "message"),
    [("gzip", "layer is truncated"), ("zstd", "layer is truncated|not valid zstd")],
)
def test_truncated_layers(tmp_path: Path, yamori_cache: Path, compression: str, message: str) -> None:
    tar = layer_tar([*debian_files(), File("big", os.urandom(200_000))])
    full = gzip.compress(tar) if compression == "gzip" else zstandard.ZstdCompressor().compress(tar)
    spec = ImageSpec(layers=[Layer([], compression, blob=full[: len(full) // 2])])  # type: ignore[arg-type]
    write_oci_layout(tmp_path / "lay", {"v1": spec})
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert len(result.errors) == 2
    assert any(__import__("re").search(message, e) for e in result.errors), result.errors
    assert all("\n" not in e for e in result.errors)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_corrupt_layers(tmp_path: Path, yamori_cache: Path, compression: str) -> None:
    tar = layer_tar(debian_files())
    good = gzip.compress(tar) if compression == "gzip" else zstandard.ZstdCompressor().compress(tar)
    corrupt = good[:12] + bytes(b ^ 0x5A for b in good[12:-8]) + good[-8:]
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer([], compression, blob=corrupt)])})  # type: ignore[arg-type]
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert result.errors, "a corrupt layer must be reported"
    assert any(
        f"not valid {compression}" in e or "not a valid tar" in e or "truncated" in e for e in result.errors
    )


def test_decompression_bomb(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(layers=[Layer([File("zeros", bytes(8 * 1024 * 1024))])])
    write_oci_layout(tmp_path / "lay", {"v1": spec})
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache, max_layer_bytes=1024 * 1024)
    assert any("refusing it as a decompression bomb" in e for e in result.errors), result.errors


def test_hostile_entries_are_skipped_and_nothing_is_written(tmp_path: Path, yamori_cache: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = Layer(
        [
            *debian_files("12"),
            Raw("../../escape.txt", b"x"),
            Raw(str(outside / "abs.txt"), b"x"),
            Raw("etc/../../up.txt", b"x"),
            Symlink("etc/evil-link", "../../../../etc/shadow"),
            Hardlink("etc/hard", "../../etc/shadow"),
            Device("dev/kmsg", 1, 11),
            Device("dev/sda", 8, 0, block=True),
            Raw("usr/lib/os-release", os_release("alpine", "3.19").data),
            Dir("etc/empty"),
        ]
    )
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[hostile])})
    before = snapshot(tmp_path)
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert result.errors == []
    assert result.os is not None and result.os.family == "debian"
    text = "\n".join(result.warnings)
    assert "'../../escape.txt': its path leaves the root" in text
    assert f"{str(outside / 'abs.txt')!r}: its path leaves the root" in text
    assert "'etc/../../up.txt': its path leaves the root" in text
    assert "skipped symlink 'etc/evil-link'" in text
    assert "skipped hardlink 'etc/hard'" in text
    assert "skipped device file 'dev/kmsg'" in text
    assert "skipped device file 'dev/sda'" in text
    assert not (outside / "abs.txt").exists()
    assert not (tmp_path.parent / "escape.txt").exists()
    assert_only_cache_written(tmp_path, before, yamori_cache)


def test_index_json_pointing_outside_blobs(tmp_path: Path, yamori_cache: Path) -> None:
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(debian_files())])})
    index = json.loads((tmp_path / "lay" / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    (tmp_path / "lay" / "index.json").write_text(json.dumps(index))
    with pytest.raises(ScanError, match=r"malformed digest"):
        scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)


def test_multi_frame_zstd_layer(tmp_path: Path, yamori_cache: Path) -> None:
    """zstd:chunked layers are several zstd frames plus skippable metadata frames."""
    entries = [*debian_files("12"), File("big", os.urandom(100_000))]
    tar = layer_tar(entries)
    third = len(tar) // 3
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"meta"
    frames = b"".join(
        zstandard.ZstdCompressor().compress(tar[i : i + third]) for i in range(0, len(tar), third)
    )
    layer = Layer(entries, "zstd", blob=frames + skippable)  # the config's diff_id is the real one
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[layer])})
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert result.errors == []
    assert result.os is not None and result.os.version == "12"


def test_cli_reports_one_line_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from yamori.cli.main import app

    outcome = CliRunner().invoke(
        app, ["image", f"oci:{tmp_path / 'missing'}", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    )
    assert outcome.exit_code == 2
    lines = [line for line in outcome.output.splitlines() if line]
    assert len(lines) == 1
    assert lines[0].startswith("yamori: error: ")
    assert lines[0].endswith(f"{tmp_path / 'missing'} is not a directory")


def test_layer_that_is_not_the_one_the_config_describes(tmp_path: Path, yamori_cache: Path) -> None:
    """The blob matches its digest, but its content is another layer than the config's diff_id."""
    declared = [*debian_files(packages={"bash": "5.2.15-2+b2"})]
    swapped = gzip.compress(layer_tar(debian_files(packages={"bash": "5.2.15-2+b7"})))
    write_oci_layout(tmp_path / "lay", {"v1": ImageSpec(layers=[Layer(declared, "gzip", blob=swapped)])})
    result = scan(f"oci:{tmp_path / 'lay'}:v1", yamori_cache)
    assert any("does not match the config's diff_id" in e for e in result.errors), result.errors
    assert result.packages == []
    assert not list((yamori_cache / "layers").rglob("*.json.zst"))  # nothing cached from it
