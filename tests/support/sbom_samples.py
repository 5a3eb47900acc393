"""A realistic `ScanResult` for the SBOM writer and reader tests, and helpers to compare results.

The image looks like a Debian bookworm application image: deb packages whose source package
differs from the binary name, packages in different layers, and language packages of every kind
whose purl needs care (npm scope, Go module path, Maven groupId, a PyPI name that normalises),
with licences that are an SPDX id, an SPDX expression, free text, several, or none.
"""

from __future__ import annotations

from typing import Any

from packageurl import PackageURL

from yamori.catalog.purl import purl_for
from yamori.model import ArtifactInfo, LayerInfo, OSInfo, Package, PackageType, ScanResult

LAYERS = [
    LayerInfo(
        index=0,
        digest="sha256:" + "a1" * 32,
        diff_id="sha256:" + "b1" * 32,
        created_by="# debian.sh --arch 'amd64' out/ 'bookworm' '@1717977600'",
    ),
    LayerInfo(index=1, digest="sha256:" + "a2" * 32, diff_id="sha256:" + "b2" * 32),
    LayerInfo(index=2, digest="sha256:" + "a3" * 32, diff_id="sha256:" + "b3" * 32),
]


def _in_layer(pkg: Package, index: int) -> Package:
    pkg.layer_index = index
    pkg.layer_digest = LAYERS[index].digest
    pkg.layer_diff_id = LAYERS[index].diff_id
    return pkg


def sample_result() -> ScanResult:
    os_info = OSInfo(family="debian", version="12.5", name="Debian GNU/Linux", codename="bookworm")
    status = "var/lib/dpkg/status"
    packages = [
        _in_layer(
            Package(
                name="libssl3",
                version="3.0.11-1~deb12u2",
                type=PackageType.DEB,
                location=status,
                source_name="openssl",
                source_version="3.0.11-1~deb12u2",
                arch="amd64",
                licenses=["Apache-2.0", "Artistic-1.0-Perl", "GPL-1.0-or-later"],
                files=["/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/share/doc/libssl3/copyright"],
            ),
            0,
        ),
        _in_layer(
            Package(
                name="libc6",
                version="2.36-9+deb12u4",
                type=PackageType.DEB,
                location=status,
                source_name="glibc",
                source_version="2.36-9+deb12u4",
                arch="amd64",
                licenses=["LGPL-2.1-or-later", "GPL-2.0-or-later WITH GCC-exception-3.1"],
                files=["/lib/x86_64-linux-gnu/libc.so.6"],
            ),
            0,
        ),
        _in_layer(
            Package(
                name="tzdata",
                version="2024a-0+deb12u1",
                type=PackageType.DEB,
                location=status,
                source_name="tzdata",
                source_version="2024a-0+deb12u1",
                arch="all",
                licenses=[],  # no copyright file: no licence at all
            ),
            0,
        ),
        _in_layer(
            Package(
                name="PyYAML",
                version="6.0.1",
                type=PackageType.PYPI,
                location="usr/lib/python3/dist-packages/PyYAML-6.0.1.dist-info/METADATA",
                licenses=["MIT"],
                files=["usr/lib/python3/dist-packages/yaml/__init__.py"],
            ),
            1,
        ),
        _in_layer(
            Package(
                name="requests",
                version="2.31.0",
                type=PackageType.PYPI,
                location="usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                licenses=["Apache 2.0"],  # free text, as setup.py metadata often has it
            ),
            1,
        ),
        _in_layer(
            Package(
                name="@babel/core",
                version="7.24.0",
                type=PackageType.NPM,
                location="app/node_modules/@babel/core/package.json",
                licenses=["MIT"],
            ),
            2,
        ),
        _in_layer(
            Package(
                name="@babel/core",
                version="7.24.0",
                type=PackageType.NPM,
                location="app/node_modules/other/node_modules/@babel/core/package.json",
                licenses=["MIT"],
            ),
            2,
        ),
        _in_layer(
            Package(
                name="dual-licensed",
                version="1.0.0",
                type=PackageType.NPM,
                location="app/node_modules/dual-licensed/package.json",
                licenses=["MIT OR Apache-2.0"],  # an SPDX expression
            ),
            2,
        ),
        _in_layer(
            Package(
                name="github.com/spf13/cobra",
                version="v1.8.0",
                type=PackageType.GOLANG,
                location="usr/local/bin/app",
                licenses=["Apache-2.0"],
            ),
            2,
        ),
        _in_layer(
            Package(
                name="org.apache.commons:commons-lang3",
                version="3.14.0",
                type=PackageType.MAVEN,
                location="app/lib/commons-lang3-3.14.0.jar",
                licenses=["The Apache Software License, Version 2.0"],
            ),
            2,
        ),
    ]
    for pkg in packages:
        pkg.purl = purl_for(pkg, os_info)
    artifact = ArtifactInfo(
        name="registry.example.com/team/app:1.2",
        type="container_image",
        digest="sha256:" + "c0" * 32,
        image_id="sha256:" + "d0" * 32,
        repo_tags=["registry.example.com/team/app:1.2", "registry.example.com/team/app:latest"],
        repo_digests=["registry.example.com/team/app@sha256:" + "c0" * 32],
        architecture="amd64",
        os_type="linux",
        layers=list(LAYERS),
    )
    return ScanResult(
        artifact=artifact,
        os=os_info,
        packages=packages,
        errors=["layer 3: blob sha256:ee… could not be read: unexpected EOF"],
        warnings=["usr/lib/python3/dist-packages/broken.dist-info/METADATA: no Name field"],
    )


def canonical_purl(text: str) -> str:
    """packageurl-python's spelling: CycloneDX output re-encodes `+` in versions as `%2B`."""
    return PackageURL.from_string(text).to_string() if text else ""


def comparable(pkg: Package) -> dict[str, Any]:
    """The fields an SBOM carries: all but the file list (it travels as a count) and metadata.

    Licences are compared as a sorted list because CycloneDX keeps them in a sorted set.
    """
    data = pkg.to_dict()
    data.pop("files")
    data.pop("metadata")
    data["licenses"] = sorted(data["licenses"])
    data["type"] = pkg.type.value
    data["purl"] = canonical_purl(pkg.purl)
    return data


def by_key(packages: list[Package]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {pkg.key: comparable(pkg) for pkg in packages}
