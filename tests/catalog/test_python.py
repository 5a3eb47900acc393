"""Python cataloger on real wheels installed from PyPI, Debian's egg-info, and layer replay."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _realdata import analyze_bytes, pip_target

from yamori.catalog.python import PythonCataloger, licenses_from, parse_metadata
from yamori.model import Package
from yamori.scan.applier import apply_layers
from yamori.scan.layer import analyze_tree
from yamori.scan.scanner import finalize

SPECS = [
    "requests==2.31.0",
    "urllib3==2.0.7",
    "idna==3.6",
    "certifi==2023.11.17",
    "attrs==25.1.0",
    "PyYAML==6.0.2",
]


@pytest.fixture(scope="session")
def site_packages() -> Path:
    return pip_target(SPECS)


def _scan(root: Path) -> list[Package]:
    cataloger = PythonCataloger()
    analysis = analyze_tree(root, [cataloger], where="test")
    assert not analysis.warnings
    _, packages = finalize(apply_layers([analysis]), [cataloger])
    return packages


def test_installed_wheels(site_packages: Path) -> None:
    packages = {p.name: p for p in _scan(site_packages)}
    assert {n: p.version for n, p in packages.items()} == {
        "requests": "2.31.0",
        "urllib3": "2.0.7",
        "idna": "3.6",
        "certifi": "2023.11.17",
        "attrs": "25.1.0",
        "PyYAML": "6.0.2",
    }
    requests = packages["requests"]
    assert requests.location == "requests-2.31.0.dist-info/METADATA"
    assert requests.purl == "pkg:pypi/requests@2.31.0"
    assert packages["PyYAML"].purl == "pkg:pypi/pyyaml@6.0.2"
    # Files come from RECORD, made absolute from the install directory.
    assert "/requests/api.py" in requests.files
    assert "/requests-2.31.0.dist-info/METADATA" in requests.files
    record_lines = (site_packages / "requests-2.31.0.dist-info" / "RECORD").read_text().splitlines()
    assert len(requests.files) == len([line for line in record_lines if line.strip()])


def test_licences_from_each_source(site_packages: Path) -> None:
    packages = {p.name: p for p in _scan(site_packages)}
    assert packages["attrs"].licenses == ["MIT"]  # License-Expression
    assert packages["requests"].licenses == ["Apache 2.0"]  # License
    assert packages["certifi"].licenses == ["MPL-2.0"]
    assert packages["urllib3"].licenses == ["MIT License"]  # classifier only
    assert packages["idna"].licenses == ["BSD License"]


def test_a_later_layer_replacing_only_record(site_packages: Path, tmp_path: Path) -> None:
    """RECORD and METADATA are joined on the final view, so replacing one keeps the other."""
    lower = tmp_path / "lower"
    shutil.copytree(site_packages / "idna-3.6.dist-info", lower / "idna-3.6.dist-info")
    upper = tmp_path / "upper" / "idna-3.6.dist-info"
    upper.mkdir(parents=True)
    (upper / "RECORD").write_text("idna/core.py,sha256=x,1\nidna/extra.py,,\n")
    cataloger = PythonCataloger()
    layers = [analyze_tree(root, [cataloger], where="t") for root in (lower, tmp_path / "upper")]
    _, packages = finalize(apply_layers(layers), [cataloger])
    assert [(p.name, p.version, p.files) for p in packages] == [
        ("idna", "3.6", ["/idna/core.py", "/idna/extra.py"])
    ]
    # Only the lower layer carried METADATA: without it the upper RECORD declares nothing.
    _, alone = finalize(apply_layers(layers[1:]), [cataloger])
    assert alone == []


DEBIAN_DIST = Path("/usr/lib/python3/dist-packages")


@pytest.mark.skipif(not (DEBIAN_DIST / "PyJWT-2.6.0.egg-info").is_dir(), reason="Debian python3-jwt absent")
def test_debian_egg_info(tmp_path: Path) -> None:
    root = tmp_path / "usr/lib/python3/dist-packages"
    shutil.copytree(DEBIAN_DIST / "PyJWT-2.6.0.egg-info", root / "PyJWT-2.6.0.egg-info")
    single = next(DEBIAN_DIST.glob("crit-*.egg-info"), None)
    if single is not None and single.is_file():
        shutil.copy(single, root / single.name)
    packages = {p.name: p for p in _scan(tmp_path)}
    assert packages["PyJWT"].version == "2.6.0"
    assert packages["PyJWT"].location == "usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO"
    assert packages["PyJWT"].licenses == ["MIT"]
    if single is not None:
        assert packages["crit"].location == f"usr/lib/python3/dist-packages/{single.name}"


def test_installed_files_txt_is_relative_to_the_egg_info_dir() -> None:
    cataloger = PythonCataloger()
    base = "usr/lib/python3.11/site-packages/demo-1.0-py3.11.egg-info"
    meta = analyze_bytes(cataloger, f"{base}/PKG-INFO", b"Metadata-Version: 1.1\nName: demo\nVersion: 1.0\n")
    files = analyze_bytes(cataloger, f"{base}/installed-files.txt", b"../demo/__init__.py\nPKG-INFO\n")
    assert meta is not None and files is not None
    packages = cataloger.finalize({f"{base}/PKG-INFO": meta, f"{base}/installed-files.txt": files})
    assert packages[0].files == [
        "/usr/lib/python3.11/site-packages/demo/__init__.py",
        f"/{base}/PKG-INFO",
    ]


def test_metadata_parsing_edge_cases() -> None:
    fields = parse_metadata(
        "Name: x\nVersion: 1\nLicense: Copyright (c) someone\n"
        "        Permission is hereby granted\n\nBody: no\n"
    )
    assert "body" not in fields
    assert licenses_from(fields) == []  # a licence text, not a name
    assert licenses_from({"license": ["UNKNOWN"], "classifier": ["License :: OSI Approved"]}) == []


def test_wants_and_garbage() -> None:
    cataloger = PythonCataloger()
    assert cataloger.wants("usr/lib/python3/dist-packages/a-1.dist-info/METADATA", 0o644)
    assert cataloger.wants("x/a-1.dist-info/RECORD", 0o644)
    assert not cataloger.wants("x/a-1/METADATA", 0o644)
    assert not cataloger.wants("x/a-1.dist-info/LICENSE", 0o644)
    with pytest.raises(ValueError):
        analyze_bytes(cataloger, "a-1.dist-info/METADATA", b"\x00\xff garbage")
