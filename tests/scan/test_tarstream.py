"""The layer tar reader against archives written by Python's tarfile and GNU tar in every format."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from yamori.scan.tarstream import TarFormatError, TarStreamReader, TarTruncatedError

LONG = "usr/lib/python3/dist-packages/" + "a-very-long-directory-name/" * 6 + "METADATA"


def _chunks(data: bytes, size: int = 700) -> object:
    """Deliberately awkward chunk sizes so headers straddle chunk boundaries."""
    stream = io.BytesIO(data)
    return lambda: stream.read(size)


def _read_all(data: bytes, size: int = 700) -> list[tuple[str, bytes, str, bytes]]:
    reader = TarStreamReader(_chunks(data, size))  # type: ignore[arg-type]
    out = []
    for entry in reader:
        body = reader.read_data() if entry.is_regular and entry.name.endswith("METADATA") else b""
        out.append((entry.name, entry.type, entry.linkname, body))
    return out


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_names_links_and_data_match_tarfile(fmt: int) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data in [("etc/os-release", b"ID=debian\n"), (LONG, b"Name: six\nVersion: 1.16.0\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("usr/bin/python3")
        link.type = tarfile.SYMTYPE
        link.linkname = "python3.11"
        tar.addfile(link)
        skipped = tarfile.TarInfo("var/big.bin")
        skipped.size = 100_000
        tar.addfile(skipped, io.BytesIO(b"x" * 100_000))
    entries = _read_all(buffer.getvalue())
    assert [e[0] for e in entries] == ["etc/os-release", LONG, "usr/bin/python3", "var/big.bin"]
    assert entries[1][3] == b"Name: six\nVersion: 1.16.0\n"
    assert entries[2][1:3] == (b"2", "python3.11")


def test_gnu_tar_archive_with_long_names_and_pax_utf8(tmp_path: Path) -> None:
    root = tmp_path / "root"
    target = root / LONG
    target.parent.mkdir(parents=True)
    target.write_bytes(b"Name: x\n")
    (root / "etc").mkdir()
    (root / "etc" / "naïve-ünïcode").write_bytes(b"")
    for fmt in ("gnu", "posix"):
        archive = subprocess.run(
            ["tar", f"--format={fmt}", "-C", str(root), "-cf", "-", "."], check=True, capture_output=True
        ).stdout
        names = [e[0] for e in _read_all(archive, 4096)]
        assert f"./{LONG}" in names
        assert "./etc/naïve-ünïcode" in names


def test_garbage_and_truncation_are_told_apart() -> None:
    with pytest.raises(TarFormatError, match="checksum"):
        list(TarStreamReader(_chunks(b"not a tar at all " * 100)))  # type: ignore[arg-type]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.size = 5000
        tar.addfile(info, io.BytesIO(b"y" * 5000))
    data = buffer.getvalue()
    with pytest.raises(TarTruncatedError, match="inside an entry"):
        list(TarStreamReader(_chunks(data[:3000])))  # type: ignore[arg-type]
    # Cut exactly after the entry's data: the end-of-archive marker is missing.
    with pytest.raises(TarTruncatedError, match="end-of-archive"):
        list(TarStreamReader(_chunks(data[: 512 + 5120])))  # type: ignore[arg-type]
