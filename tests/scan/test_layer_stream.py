"""The layer stream: whiteouts, hostile entries, compression, digests and bounds.

Tarballs are built here with the standard library: each test needs one exact hostile entry that
no real tool would produce on purpose.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
import zstandard

from yamori.catalog.osrelease import OSReleaseCataloger
from yamori.scan.errors import ScanError
from yamori.scan.layer import analyze_tar_stream, analyze_tree, normalize_member_path

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _analyze(blob: bytes, **kwargs: object) -> object:
    return analyze_tar_stream(io.BytesIO(blob), [OSReleaseCataloger()], where="test layer", **kwargs)  # type: ignore[arg-type]


def test_plain_gzip_and_zstd_layers_give_the_same_result_and_diff_id() -> None:
    raw = _tar([("etc/os-release", OS_RELEASE)])
    results = [
        analyze_tar_stream(io.BytesIO(blob), [OSReleaseCataloger()], where="t")
        for blob in (raw, gzip.compress(raw), zstandard.ZstdCompressor().compress(raw))
    ]
    expected_diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    for analysis in results:
        assert analysis.diff_id == expected_diff_id
        os_info = analysis.results["os-release"]["etc/os-release"].os
        assert os_info is not None and (os_info.family, os_info.version) == ("debian", "12")


def test_whiteouts_and_opaque_directories_are_recorded_not_analysed() -> None:
    raw = _tar(
        [("usr/lib/.wh.os-release", b""), ("opt/app/.wh..wh..opq", b""), ("./etc/os-release", OS_RELEASE)]
    )
    analysis = analyze_tar_stream(io.BytesIO(raw), [OSReleaseCataloger()], where="t")
    assert analysis.whiteouts == ["usr/lib/os-release"]
    assert analysis.opaque_dirs == ["opt/app"]
    assert list(analysis.results["os-release"]) == ["etc/os-release"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            ("../../etc/os-release", OS_RELEASE),
            "skipped entry '../../etc/os-release': its path leaves the root",
        ),
        (("/etc/os-release", OS_RELEASE), "skipped entry '/etc/os-release': its path leaves the root"),
        (_special("etc/evil", tarfile.SYMTYPE, "../../../../root"), "skipped symlink 'etc/evil'"),
        (_special("etc/os-release", tarfile.LNKTYPE, "../outside"), "skipped hardlink 'etc/os-release'"),
        (_special("dev/sda", tarfile.BLKTYPE), "skipped device file 'dev/sda'"),
        (_special("dev/null", tarfile.CHRTYPE), "skipped device file 'dev/null'"),
    ],
)
def test_hostile_entries_are_skipped_with_a_warning(
    entry: tarfile.TarInfo | tuple[str, bytes], message: str, tmp_path: Path
) -> None:
    raw = _tar([entry, ("usr/lib/os-release", OS_RELEASE)])
    analysis = analyze_tar_stream(
        io.BytesIO(raw), [OSReleaseCataloger()], where="img layer 0", temp_dir=tmp_path
    )
    assert any(message in w and w.startswith("img layer 0:") for w in analysis.warnings), analysis.warnings
    # The rest of the layer is still analysed, and the hostile entry produced no result.
    assert list(analysis.results["os-release"]) == ["usr/lib/os-release"]
    assert list(tmp_path.iterdir()) == []


def test_hardlink_to_a_wanted_file_is_analysed_under_its_own_path() -> None:
    raw = _tar(
        [
            ("usr/lib/os-release", OS_RELEASE),
            _special("etc/os-release", tarfile.LNKTYPE, "usr/lib/os-release"),
        ]
    )
    analysis = analyze_tar_stream(io.BytesIO(raw), [OSReleaseCataloger()], where="t")
    assert sorted(analysis.results["os-release"]) == ["etc/os-release", "usr/lib/os-release"]


def test_digest_mismatch_is_an_error() -> None:
    blob = gzip.compress(_tar([("etc/os-release", OS_RELEASE)]))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ScanError, match=r"^test layer: blob digest mismatch: expected sha256:0000"):
        _analyze(blob, expected_digest=wrong)
    right = "sha256:" + hashlib.sha256(blob).hexdigest()
    assert _analyze(blob, expected_digest=right)


def test_truncated_gzip_is_an_error() -> None:
    blob = gzip.compress(_tar([("etc/os-release", OS_RELEASE), ("x", b"y" * 50000)]))
    with pytest.raises(ScanError, match="truncated"):
        _analyze(blob[: len(blob) // 2])


def test_corrupt_gzip_is_an_error() -> None:
    blob = bytearray(gzip.compress(_tar([("etc/os-release", OS_RELEASE)])))
    blob[20:40] = b"\xff" * 20
    with pytest.raises(ScanError, match=r"gzip|truncated|tar"):
        _analyze(bytes(blob))


def test_truncated_zstd_is_an_error() -> None:
    blob = zstandard.ZstdCompressor().compress(_tar([("etc/os-release", OS_RELEASE), ("x", b"y" * 50000)]))
    with pytest.raises(ScanError, match=r"truncated|zstd|tar"):
        _analyze(blob[: len(blob) // 2])


def test_garbage_is_not_a_tar() -> None:
    with pytest.raises(ScanError, match=r"not a valid tar archive|truncated"):
        _analyze(b"this is not a layer at all" * 100)


def test_decompression_bomb_is_refused() -> None:
    # 64 MiB of zeros compress to ~64 KiB: refused with a 1 MiB bound long before it is expanded.
    raw = _tar([("zeros", b"\0" * (64 * 1024 * 1024))])
    blob = gzip.compress(raw, compresslevel=9)
    with pytest.raises(ScanError, match="decompression bomb"):
        _analyze(blob, max_bytes=1024 * 1024)


def test_normalize_member_path() -> None:
    assert normalize_member_path("./etc/passwd") == "etc/passwd"
    assert normalize_member_path("usr/../etc/passwd") == "etc/passwd"
    assert normalize_member_path("usr/../../etc/passwd") is None
    assert normalize_member_path("/etc/passwd") is None
    assert normalize_member_path("./") == ""


def test_tree_walk_does_not_follow_symlinks_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc" / "os-release").write_bytes(b"ID=alpine\nVERSION_ID=3.20.0\n")
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_bytes(OS_RELEASE)
    (root / "etc").symlink_to(outside / "etc")
    analysis = analyze_tree(root, [OSReleaseCataloger()], where="t")
    assert list(analysis.results["os-release"]) == ["usr/lib/os-release"]
