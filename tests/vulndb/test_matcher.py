"""Matcher tests on records in the exact OSV layouts of each ecosystem (tests/fixtures/osv-records)
and, when ../shared is present, on the real PyPI and Go OSV exports."""

from __future__ import annotations

import pytest
from _osv_memsource import SHARED_CORPORA, MemorySource

from yamori.model import ArtifactInfo, FixState, OSInfo, Package, PackageType, ScanResult, Severity
from yamori.model.finding import Finding, FindingKind, Status
from yamori.vulndb.interface import EpssScore, KevEntry
from yamori.vulndb.matcher import match, os_ecosystems


def _result(os_info: OSInfo | None, *packages: Package) -> ScanResult:
    return ScanResult(
        artifact=ArtifactInfo(name="example:1", type="container_image"), os=os_info, packages=list(packages)
    )


def _by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.rule_id: f for f in findings}


LIBC6 = Package(
    name="libc6",
    version="2.36-9+deb12u4",
    type=PackageType.DEB,
    purl="pkg:deb/debian/libc6@2.36-9+deb12u4",
    source_name="glibc",
    source_version="2.36-9+deb12u4",
    layer_digest="sha256:aa",
    layer_index=0,
    location="var/lib/dpkg/status",
)


def test_debian_by_source_package_with_urgency_and_fix_states() -> None:
    source = MemorySource().add_fixtures()
    findings = _by_id(match(_result(OSInfo("debian", "12.5"), LIBC6), source))
    # the DSA bundles two CVEs that each have their own DEBIAN-CVE record: it is folded in
    assert set(findings) == {
        "DEBIAN-CVE-2024-2961",
        "DEBIAN-CVE-2024-33599",
        "DEBIAN-CVE-2010-4756",
        "DEBIAN-CVE-2019-1010022",
    }
    iconv = findings["DEBIAN-CVE-2024-2961"]
    assert iconv.kind is FindingKind.VULNERABILITY and iconv.status is Status.OPEN
    assert iconv.severity is Severity.HIGH  # Debian's urgency, not the CVSS 8.1
    details = iconv.vulnerability
    assert details is not None
    assert details.severity_source == "distro" and details.cvss_v3_score == 8.1
    assert details.fixed_versions == ["2.36-9+deb12u7"] and details.fix_state is FixState.FIXED
    assert details.matched_by == "Debian:12 source=glibc ECOSYSTEM"
    assert "DSA-5678-1" in details.aliases and "CVE-2024-2961" in details.aliases
    assert details.layer_digest == "sha256:aa" and details.layer_index == 0
    assert iconv.sub_key == LIBC6.purl and iconv.resource == "example:1"
    unfixed = findings["DEBIAN-CVE-2010-4756"].vulnerability
    assert unfixed is not None and unfixed.fix_state is FixState.NOT_FIXED
    assert findings["DEBIAN-CVE-2010-4756"].severity is Severity.LOW  # "unimportant"
    eol = findings["DEBIAN-CVE-2019-1010022"].vulnerability
    assert eol is not None and eol.fix_state is FixState.END_OF_LIFE
    # "not yet assigned" urgency and no CVSS: unknown severity
    assert findings["DEBIAN-CVE-2024-33599"].severity is Severity.UNKNOWN


def test_ignore_unfixed_and_fixed_version_not_affected() -> None:
    source = MemorySource().add_fixtures()
    kept = match(_result(OSInfo("debian", "12"), LIBC6), source, ignore_unfixed=True)
    assert {f.rule_id for f in kept} == {"DEBIAN-CVE-2024-2961", "DEBIAN-CVE-2024-33599"}
    patched = Package(
        name="libc6",
        version="2.36-9+deb12u7",
        type=PackageType.DEB,
        source_name="glibc",
        source_version="2.36-9+deb12u7",
    )
    assert {
        f.rule_id for f in match(_result(OSInfo("debian", "12"), patched), source, ignore_unfixed=True)
    } == set()
    # another release's records never apply
    assert match(_result(OSInfo("debian", "11"), LIBC6), source) == []


def test_alpine_by_origin_and_ubuntu_lts_ecosystem() -> None:
    source = MemorySource().add_fixtures()
    libssl = Package(
        name="libssl3",
        version="3.3.1-r0",
        type=PackageType.APK,
        source_name="openssl",
        purl="pkg:apk/alpine/libssl3@3.3.1-r0",
    )
    findings = match(_result(OSInfo("alpine", "3.20.2"), libssl), source)
    assert [f.rule_id for f in findings] == ["ALPINE-CVE-2024-6119"]
    assert findings[0].vulnerability is not None
    assert findings[0].vulnerability.matched_by == "Alpine:v3.20 origin=openssl ECOSYSTEM"

    assert os_ecosystems(OSInfo("ubuntu", "22.04")) == ["Ubuntu:22.04:LTS"]
    assert os_ecosystems(OSInfo("ubuntu", "23.10")) == ["Ubuntu:23.10"]
    ssh = Package(
        name="openssh-client",
        version="1:8.9p1-3ubuntu0.6",
        type=PackageType.DEB,
        source_name="openssh",
        source_version="1:8.9p1-3ubuntu0.6",
    )
    found = match(_result(OSInfo("ubuntu", "22.04"), ssh), source)
    assert [f.rule_id for f in found] == ["UBUNTU-CVE-2024-6387"]
    assert found[0].severity is Severity.HIGH and found[0].vulnerability is not None
    assert found[0].vulnerability.severity_source == "distro"


def test_rpm_distros_by_binary_name_with_epoch() -> None:
    source = MemorySource().add_fixtures()
    libs = Package(
        name="openssl-libs",
        version="3.0.7-25.el9",
        type=PackageType.RPM,
        source_name="openssl",
        metadata={"epoch": 1},
    )
    rhel = match(_result(OSInfo("redhat", "9.3"), libs), source)
    assert [f.rule_id for f in rhel] == ["RHSA-2024:2447"]
    assert rhel[0].severity is Severity.MEDIUM  # "Moderate:" from Red Hat, not the CVSS 5.3
    assert rhel[0].vulnerability is not None
    assert (
        rhel[0].vulnerability.matched_by == "Red Hat:enterprise_linux:9::baseos binary=openssl-libs ECOSYSTEM"
    )
    rocky = match(_result(OSInfo("rocky", "9.3"), libs), source)
    assert [f.rule_id for f in rocky] == ["RLSA-2024:2447"]
    newer = Package(name="openssl-libs", version="3.0.7-27.el9", type=PackageType.RPM, metadata={"epoch": 1})
    assert match(_result(OSInfo("rocky", "9.3"), newer), source) == []


def test_pypi_aliases_deduplicated_versions_list_and_bad_versions() -> None:
    source = MemorySource(
        kev={"CVE-2018-18074": KevEntry("CVE-2018-18074", known_ransomware=False)},
        epss={"CVE-2018-18074": EpssScore("CVE-2018-18074", 0.02, 0.7)},
    ).add_fixtures()
    requests = Package(
        name="requests", version="2.19.0", type=PackageType.PYPI, purl="pkg:pypi/requests@2.19.0"
    )
    some = Package(name="some-lib", version="1.4.2", type=PackageType.PYPI, purl="pkg:pypi/some-lib@1.4.2")
    result = _result(None, requests, some)
    findings = _by_id(match(result, source))
    # PYSEC and GHSA alias each other: one finding, the first-party PYSEC record kept
    assert set(findings) == {"PYSEC-2018-28", "GHSA-pq67-2wwv-3xjx"}
    pysec = findings["PYSEC-2018-28"].vulnerability
    assert pysec is not None
    assert "GHSA-x84v-xcm2-53pg" in pysec.aliases
    assert pysec.matched_by == "PyPI name=requests VERSIONS+ECOSYSTEM"
    assert pysec.kev and pysec.epss_score == 0.02 and pysec.epss_percentile == 0.7
    assert source.kev_calls == 1 and source.epss_calls == 1  # batched once per scan
    label = findings["GHSA-pq67-2wwv-3xjx"]
    assert label.severity is Severity.MEDIUM and label.vulnerability is not None
    assert label.vulnerability.severity_source == "database_specific"  # last_affected is inclusive
    assert label.vulnerability.fix_state is FixState.NOT_FIXED
    assert "PYSEC-2000-1" not in findings  # withdrawn
    assert (
        match(_result(None, Package(name="some_lib", version="1.4.3", type=PackageType.PYPI)), source) == []
    )


def test_go_stdlib_by_toolchain_and_pseudo_versions_and_sorted_by_risk() -> None:
    source = MemorySource(epss={"CVE-2023-29406": EpssScore("CVE-2023-29406", 0.9, 0.99)}).add_fixtures()
    owner = {"os_package": "skopeo", "go_toolchain": "go1.19.8"}
    stdlib = Package(
        name="stdlib",
        version="1.19.8",
        type=PackageType.GOLANG,
        location="usr/bin/skopeo",
        purl="pkg:golang/stdlib@1.19.8",
        metadata=owner,
    )
    stdlib2 = Package(
        name="stdlib",
        version="1.19.8",
        type=PackageType.GOLANG,
        location="usr/bin/podman",
        purl="pkg:golang/stdlib@1.19.8",
        metadata={"os_package": "podman"},
    )
    xnet = Package(
        name="golang.org/x/net",
        version="v0.0.0-20220722155237-a158d28d115b",
        type=PackageType.GOLANG,
        location="usr/bin/skopeo",
        purl="pkg:golang/golang.org/x/net@v0.0.0-20220722155237-a158d28d115b",
    )
    result = _result(OSInfo("debian", "12"), stdlib, stdlib2, xnet)
    findings = match(result, source)
    ids = [(f.rule_id, f.vulnerability.package_location if f.vulnerability else "") for f in findings]
    # 1.19.8 is the fix of GO-2023-1704 and before the fix of GO-2023-1878; toolchain never matches
    assert ("GO-2023-1704", "usr/bin/skopeo") not in ids
    assert ("GO-2023-1878", "usr/bin/skopeo") in ids and ("GO-2023-1878", "usr/bin/podman") in ids
    assert ("GO-2022-0969", "usr/bin/skopeo") in ids
    assert all(f.rule_id != "GO-2024-2963" for f in findings)
    assert findings[0].rule_id == "GO-2023-1878"  # EPSS 0.9 ranks it first
    assert [f.vulnerability.risk for f in findings if f.vulnerability] == sorted(
        (f.vulnerability.risk for f in findings if f.vulnerability), reverse=True
    )
    first = findings[0]
    assert first.evidence["os_package"] in ("skopeo", "podman")
    assert len({f.id for f in findings}) == len(findings)  # same purl, two binaries: distinct ids
    assert all(f.rule_id != "GHSA-bad0-vers-ions" for f in findings)
    assert any("GHSA-bad0-vers-ions" in w and "unparsable" in w for w in result.warnings)


real = pytest.mark.skipif(
    not (SHARED_CORPORA / "osv").is_dir(),
    reason="../shared/corpora/osv (real PyPI and Go OSV exports) is not present",
)


@real
def test_real_pypi_records() -> None:
    source = MemorySource().add_zip(SHARED_CORPORA / "osv" / "PyPI" / "all.zip")
    packages = [
        Package(name="requests", version="2.19.0", type=PackageType.PYPI, purl="pkg:pypi/requests@2.19.0"),
        Package(name="urllib3", version="1.24.1", type=PackageType.PYPI, purl="pkg:pypi/urllib3@1.24.1"),
    ]
    findings = match(_result(None, *packages), source)
    by_pkg: dict[str, set[str]] = {}
    for f in findings:
        assert f.vulnerability is not None
        by_pkg.setdefault(f.vulnerability.package_name, set()).add(f.rule_id)
    assert {"PYSEC-2018-28", "PYSEC-2023-74"} <= by_pkg["requests"]
    assert {
        "PYSEC-2019-132",
        "PYSEC-2019-133",
        "PYSEC-2020-148",
        "PYSEC-2021-108",
        "PYSEC-2023-192",
        "PYSEC-2023-212",
    } <= by_pkg["urllib3"]
    assert "PYSEC-2021-59" not in by_pkg["urllib3"]  # introduced in 1.26.0


@real
def test_real_go_stdlib_records() -> None:
    source = MemorySource().add_zip(SHARED_CORPORA / "osv" / "Go" / "all.zip")
    stdlib = Package(
        name="stdlib",
        version="1.19.8",
        type=PackageType.GOLANG,
        location="usr/bin/skopeo",
        purl="pkg:golang/stdlib@1.19.8",
        metadata={"os_package": "skopeo"},
    )
    result = _result(OSInfo("debian", "12"), stdlib)
    ids = {f.rule_id for f in match(result, source)}
    assert "GO-2023-1878" in ids  # net/http Host header, fixed in 1.19.11
    assert "GO-2023-1704" not in ids  # fixed in 1.19.8 itself
    assert len(ids) > 10


def test_unparsable_installed_version_is_a_warning_not_a_crash() -> None:
    """The other side of a bad version: what the package reports, not what the record says."""
    source = MemorySource()
    source.add(
        {
            "id": "GO-2099-0001",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "Go", "name": "example.com/mod"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}],
                }
            ],
        }
    )
    broken = Package(
        name="example.com/mod", version="not a version!", type=PackageType.GOLANG, location="usr/bin/app"
    )
    fine = Package(
        name="example.com/mod", version="v1.1.0", type=PackageType.GOLANG, location="usr/bin/other"
    )
    result = _result(None, broken, fine)
    findings = match(result, source)
    assert [(f.rule_id, f.vulnerability.package_location) for f in findings if f.vulnerability] == [
        ("GO-2099-0001", "usr/bin/other")
    ]
    assert any("GO-2099-0001" in w and "not a version!" in w for w in result.warnings), result.warnings
