"""`docker-archive:` — legacy and OCI-style `docker save` tarballs, plain and gzip-compressed."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from support.oci import File, ImageSpec, Layer, debian_files, os_release, write_docker_archive
from yamori.model import ScanResult
from yamori.scan.errors import ScanError
from yamori.scan.scanner import ScanSettings
from yamori.scan.target import scan_any, scan_image_reference
from yamori.sources.interface import SourceOptions

SPEC = ImageSpec(
    layers=[
        Layer(debian_files("12"), "none"),
        Layer([File("app/x", b"1")], "none"),
        Layer([os_release("debian", "12.7")], "none"),
    ]
)


def scan(ref: str, cache: Path) -> ScanResult:
    return scan_image_reference(ref, ScanSettings(cache_dir=cache), SourceOptions())


@pytest.mark.parametrize("layout", ["legacy", "oci"])
@pytest.mark.parametrize("gzip_archive", [False, True])
def test_archive_formats(tmp_path: Path, yamori_cache: Path, layout: str, gzip_archive: bool) -> None:
    path = tmp_path / "img.tar"
    built = write_docker_archive(
        path, SPEC, repo_tags=["example/app:1"], layout=layout, gzip_archive=gzip_archive
    )  # type: ignore[arg-type]
    result = scan(f"docker-archive:{path}", yamori_cache)
    assert result.errors == []
    assert result.os is not None and result.os.version == "12.7"
    assert result.artifact.repo_tags == ["example/app:1"]
    assert result.artifact.image_id == built.config_digest
    # docker save stores layers uncompressed: digest == diff_id == sha256 of the stored tar.
    assert [layer.digest for layer in result.artifact.layers] == [layer.diff_id for layer in built.layers]
    assert [layer.diff_id for layer in result.artifact.layers] == [layer.diff_id for layer in built.layers]


def test_gzip_layers_inside_archive(tmp_path: Path, yamori_cache: Path) -> None:
    spec = ImageSpec(layers=[Layer(debian_files("12"), "gzip"), Layer([File("a", b"b")], "zstd")])
    path = tmp_path / "img.tar"
    built = write_docker_archive(path, spec, repo_tags=["x:1"])
    result = scan(f"docker-archive:{path}", yamori_cache)
    assert result.errors == []
    assert [layer.digest for layer in result.artifact.layers] == [layer.digest for layer in built.layers]
    assert result.artifact.layers[0].media_type.endswith("+gzip")
    assert result.artifact.layers[1].media_type.endswith("+zstd")


def test_selectors_and_multi_image_archives(tmp_path: Path, yamori_cache: Path) -> None:
    path = tmp_path / "two.tar"
    write_docker_archive(path, SPEC, repo_tags=["one:1"])
    other = tmp_path / "other.tar"
    write_docker_archive(other, ImageSpec(layers=[Layer(debian_files("11"), "none")]), repo_tags=["two:2"])
    # Merge the two manifests into one archive, as `docker save a b` does.
    with (
        tarfile.open(path) as first,
        tarfile.open(other) as second,
        tarfile.open(tmp_path / "both.tar", "w") as out,
    ):
        entries = json.loads(first.extractfile("manifest.json").read()) + json.loads(
            second.extractfile("manifest.json").read()
        )  # type: ignore[union-attr]
        for index, src in enumerate((first, second)):
            for member in src.getmembers():
                if member.name == "manifest.json":
                    continue
                data = src.extractfile(member).read()  # type: ignore[union-attr]
                member.name = member.name.replace("layer", f"img{index}-layer", 1)
                out.addfile(member, io.BytesIO(data))
        for index, entry in enumerate(entries):
            entry["Layers"] = [p.replace("layer", f"img{index}-layer", 1) for p in entry["Layers"]]
        blob = json.dumps(entries).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(blob)
        out.addfile(info, io.BytesIO(blob))
    both = tmp_path / "both.tar"
    with pytest.raises(ScanError, match=r"holds 2 images; choose one .* \(tags: one:1, two:2\)"):
        scan(f"docker-archive:{both}", yamori_cache)
    assert scan(f"docker-archive:{both}:two:2", yamori_cache).os.version == "11"  # type: ignore[union-attr]
    assert scan(f"docker-archive:{both}:@0", yamori_cache).os.version == "12.7"  # type: ignore[union-attr]
    with pytest.raises(ScanError, match=r"no image 'three:3' in the archive"):
        scan(f"docker-archive:{both}:three:3", yamori_cache)


def test_plain_path_is_detected_as_archive(tmp_path: Path, yamori_cache: Path) -> None:
    path = tmp_path / "img.tar"
    write_docker_archive(path, SPEC, repo_tags=["example/app:1"])
    result = scan_any(str(path), ScanSettings(cache_dir=yamori_cache), SourceOptions())
    assert result.os is not None and result.artifact.type == "container_image"


def test_tampered_layer_is_refused(tmp_path: Path, yamori_cache: Path) -> None:
    path = tmp_path / "img.tar"
    built = write_docker_archive(path, SPEC, repo_tags=["x:1"])
    data = bytearray(path.read_bytes())
    offset = data.find(b"ID=debian")
    data[offset : offset + 9] = b"ID=alpine"
    path.write_bytes(bytes(data))
    result = scan(f"docker-archive:{path}", yamori_cache)
    assert any(f"blob digest mismatch: expected {built.layers[0].diff_id}" in e for e in result.errors), (
        result.errors
    )


def test_broken_archives(tmp_path: Path, yamori_cache: Path) -> None:
    with pytest.raises(ScanError, match=r"no such file"):
        scan(f"docker-archive:{tmp_path / 'missing.tar'}", yamori_cache)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ScanError, match=r"not a valid tar archive|no manifest.json"):
        scan(f"docker-archive:{junk}", yamori_cache)
    # A manifest naming a layer the archive lacks (or a path that tries to leave it).
    path = tmp_path / "img.tar"
    write_docker_archive(path, SPEC, repo_tags=["x:1"])
    with tarfile.open(path) as src, tarfile.open(tmp_path / "bad.tar", "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                entries = json.loads(data)
                entries[0]["Layers"][1] = "../../etc/passwd"
                data = json.dumps(entries).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(ScanError, match=r"'../../etc/passwd' is not in the archive"):
        scan(f"docker-archive:{tmp_path / 'bad.tar'}", yamori_cache)


def test_truncated_archive(tmp_path: Path, yamori_cache: Path) -> None:
    path = tmp_path / "img.tar"
    write_docker_archive(path, SPEC, repo_tags=["x:1"], gzip_archive=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ScanError, match=r"not a valid gzip-compressed tar archive"):
        scan(f"docker-archive:{path}", yamori_cache)
