"""A realistic image scan with vulnerability findings, for the report and gating tests.

Debian bookworm with an old glibc (Looney Tunables, DEBIAN-CVE-2023-4911: distro severity, in
CISA KEV) and an unfixed glibc issue Debian will not fix; `requests` 2.30.0 from PyPI
(PYSEC-2023-74, fixed in 2.31.0, with EPSS); a Go binary built with go1.21.0 (GO-2023-2102, the
HTTP/2 rapid reset in net/http). Ids, aliases, ranges and vectors are those of the real records
(the PyPI and Go ones are in ../shared/corpora/osv/); EPSS and risk values are plausible, fixed.
"""

from __future__ import annotations

from yamori.model import (
    ArtifactInfo,
    Finding,
    FindingKind,
    FixState,
    LayerInfo,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    Severity,
    Status,
    VulnerabilityDetails,
)

IMAGE = "registry.example.com/team/app:1.2"
LAYERS = [
    LayerInfo(index=0, digest="sha256:" + "a1" * 32, diff_id="sha256:" + "b1" * 32),
    LayerInfo(index=1, digest="sha256:" + "a2" * 32, diff_id="sha256:" + "b2" * 32),
    LayerInfo(index=2, digest="sha256:" + "a3" * 32, diff_id="sha256:" + "b3" * 32),
]
DPKG = "var/lib/dpkg/status"
REQUESTS_META = "usr/lib/python3/dist-packages/requests-2.30.0.dist-info/METADATA"
GO_BINARY = "usr/local/bin/app"

LIBC6_PURL = "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12.5"
REQUESTS_PURL = "pkg:pypi/requests@2.30.0"
STDLIB_PURL = "pkg:golang/stdlib@v1.21.0"


def _pkg(name: str, version: str, type_: PackageType, location: str, purl: str, layer: int) -> Package:
    return Package(
        name=name,
        version=version,
        type=type_,
        location=location,
        purl=purl,
        layer_index=layer,
        layer_digest=LAYERS[layer].digest,
        layer_diff_id=LAYERS[layer].diff_id,
        source_name="glibc" if name == "libc6" else None,
        source_version=version if name == "libc6" else None,
    )


def packages() -> list[Package]:
    return [
        _pkg("libc6", "2.36-9+deb12u2", PackageType.DEB, DPKG, LIBC6_PURL, 0),
        _pkg(
            "tzdata", "2024a-0+deb12u1", PackageType.DEB, DPKG, "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1", 0
        ),
        _pkg("requests", "2.30.0", PackageType.PYPI, REQUESTS_META, REQUESTS_PURL, 2),
        _pkg(
            "urllib3",
            "2.0.7",
            PackageType.PYPI,
            "usr/lib/python3/dist-packages/urllib3-2.0.7.dist-info/METADATA",
            "pkg:pypi/urllib3@2.0.7",
            2,
        ),
        _pkg("stdlib", "v1.21.0", PackageType.GOLANG, GO_BINARY, STDLIB_PURL, 2),
    ]


def _finding(details: VulnerabilityDetails, severity: Severity) -> Finding:
    return Finding(
        kind=FindingKind.VULNERABILITY,
        rule_id=details.id,
        title=f"{details.id}: {details.summary}",
        severity=severity,
        status=Status.OPEN,
        resource=IMAGE,
        sub_key=f"{details.purl}|{details.package_location}",
        description=details.summary,
        references=details.references,
        vulnerability=details,
    )


def findings() -> list[Finding]:
    looney = VulnerabilityDetails(
        id="DEBIAN-CVE-2023-4911",
        aliases=["CVE-2023-4911"],
        package_name="libc6",
        package_type="deb",
        installed_version="2.36-9+deb12u2",
        purl=LIBC6_PURL,
        fixed_versions=["2.36-9+deb12u3"],
        fix_state=FixState.FIXED,
        summary="Buffer overflow in the dynamic loader's GLIBC_TUNABLES handling",
        cvss_v3_vector="CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        cvss_v3_score=7.8,
        severity_source="distro",
        kev=True,
        epss_score=0.71902,
        epss_percentile=0.98512,
        layer_digest=LAYERS[0].digest,
        layer_index=0,
        package_location=DPKG,
        risk=92.5,
        matched_by="Debian:12 source=glibc ECOSYSTEM",
        references=["https://security-tracker.debian.org/tracker/CVE-2023-4911"],
        published="2023-10-03T18:15:00Z",
    )
    unfixed = VulnerabilityDetails(
        id="DEBIAN-CVE-2019-1010022",
        aliases=["CVE-2019-1010022"],
        package_name="libc6",
        package_type="deb",
        installed_version="2.36-9+deb12u2",
        purl=LIBC6_PURL,
        fix_state=FixState.NOT_FIXED,
        summary="Stack guard protection bypass in glibc",
        cvss_v3_vector="CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        cvss_v3_score=9.8,
        severity_source="distro",
        layer_digest=LAYERS[0].digest,
        layer_index=0,
        package_location=DPKG,
        risk=8.0,
        matched_by="Debian:12 source=glibc ECOSYSTEM",
    )
    pysec = VulnerabilityDetails(
        id="PYSEC-2023-74",
        aliases=["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
        package_name="requests",
        package_type="pypi",
        installed_version="2.30.0",
        purl=REQUESTS_PURL,
        fixed_versions=["2.31.0"],
        fix_state=FixState.FIXED,
        summary="Requests leaks Proxy-Authorization headers to destination servers on redirect",
        cvss_v3_vector="CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N",
        cvss_v3_score=6.1,
        severity_source="cvss_v3",
        epss_score=0.06278,
        epss_percentile=0.93512,
        layer_digest=LAYERS[2].digest,
        layer_index=2,
        package_location=REQUESTS_META,
        risk=41.3,
        matched_by="PyPI requests ECOSYSTEM",
        published="2023-05-26T18:15:00Z",
    )
    go = VulnerabilityDetails(
        id="GO-2023-2102",
        aliases=["CVE-2023-39325", "GHSA-4374-p667-p6c8"],
        package_name="stdlib",
        package_type="golang",
        installed_version="v1.21.0",
        purl=STDLIB_PURL,
        fixed_versions=["1.21.3"],
        fix_state=FixState.FIXED,
        summary="HTTP/2 rapid reset can cause excessive work in net/http",
        cvss_v3_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        cvss_v3_score=7.5,
        severity_source="cvss_v3",
        epss_score=0.02106,
        epss_percentile=0.88903,
        layer_digest=LAYERS[2].digest,
        layer_index=2,
        package_location=GO_BINARY,
        risk=55.0,
        matched_by="Go stdlib SEMVER (go1.21.0 toolchain)",
    )
    return [
        _finding(unfixed, Severity.LOW),  # Debian rates it unimportant
        _finding(pysec, Severity.MEDIUM),
        _finding(looney, Severity.HIGH),
        _finding(go, Severity.HIGH),
    ]


def vuln_result() -> ScanResult:
    return ScanResult(
        artifact=ArtifactInfo(
            name=IMAGE,
            type="container_image",
            digest="sha256:" + "c0" * 32,
            repo_tags=[IMAGE],
            layers=list(LAYERS),
        ),
        os=OSInfo(family="debian", version="12.5", name="Debian GNU/Linux", codename="bookworm"),
        packages=packages(),
        findings=findings(),
    )
