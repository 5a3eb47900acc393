"""The OS package version schemes (dpkg, rpm, apk) against third-party ordering vectors.

Vectors (see ../shared/corpora/README.md): osv-scalibr `semantic/testdata/` (Apache-2.0),
apk-tools `test/version.data` via knqyf263/go-apk-version (MIT / GPL-2.0), and rpmvercmp
triples from knqyf263/go-rpm-version (MIT). The hand-written cases below run without them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from yamori.vulndb.versions.apk import apk_key, is_valid
from yamori.vulndb.versions.dpkg import dpkg_key
from yamori.vulndb.versions.interface import InvalidVersion
from yamori.vulndb.versions.registry import scheme, scheme_for_ecosystem
from yamori.vulndb.versions.rpm import rpm_key, rpmvercmp_key

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "versions"

_SIGN = {"<": -1, "=": 0, ">": 1}

# file, key function, lines skipped as invalid upstream (none: every vector must hold)
# go-rpm-version's table exercises rpmvercmp on whole strings (so "1.2.3.4 = 1-2-3-4"), not
# epoch:version-release parsing; it is checked against that function.
CASES: list[tuple[str, Callable[[str], Any], int]] = [
    ("debian-versions.txt", dpkg_key, 0),
    ("debian-versions-generated.txt", dpkg_key, 0),
    ("redhat-versions.txt", rpm_key, 0),
    ("rpm-versions-go-rpm-version.txt", rpmvercmp_key, 0),
    ("alpine-versions.txt", apk_key, 0),
    ("alpine-versions-generated.txt", apk_key, 0),
    ("apk-tools-version.data", apk_key, 0),
]
# lower bounds on vectors per file, so a parsing slip cannot silently test nothing
MIN_VECTORS = {
    "debian-versions.txt": 30,
    "debian-versions-generated.txt": 14442,
    "redhat-versions.txt": 165,
    "rpm-versions-go-rpm-version.txt": 4356,
    "alpine-versions.txt": 778,
    "alpine-versions-generated.txt": 13979,
    "apk-tools-version.data": 728,
}


def _cmp(key: Callable[[str], Any], a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return int(ka > kb) - int(ka < kb)


@pytest.mark.parametrize(("filename", "key", "expected_skips"), CASES, ids=[c[0] for c in CASES])
def test_corpus(filename: str, key: Callable[[str], Any], expected_skips: int) -> None:
    path = CORPUS / filename
    if not path.is_file():
        pytest.skip(f"version corpus not present at {path} (only ../shared has it; CI does)")
    failures: list[str] = []
    skipped = 0
    checked = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()  # whole-line and trailing comments
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] not in _SIGN:
            skipped += 1
            continue
        a, op, b = parts
        checked += 1
        want = _SIGN[op]
        try:
            got, back = _cmp(key, a, b), _cmp(key, b, a)
        except InvalidVersion as exc:
            failures.append(f"{filename}:{number}: {raw.strip()!r} raised {exc}")
            continue
        if got != want or back != -want:
            failures.append(f"{filename}:{number}: {raw.strip()!r} gave {got} (reverse {back})")
    assert skipped == expected_skips, f"{filename}: {skipped} lines skipped, expected {expected_skips}"
    assert checked >= MIN_VECTORS[filename], f"{filename}: only {checked} vectors read"
    assert not failures, f"{len(failures)} of {checked} failed:\n" + "\n".join(failures[:50])


def _ordered(key: Callable[[str], Any], versions: list[str]) -> None:
    keys = [key(v) for v in versions]
    for i in range(len(keys) - 1):
        assert keys[i] < keys[i + 1], f"{versions[i]!r} should sort before {versions[i + 1]!r}"


# --- dpkg -----------------------------------------------------------------------------------


def test_dpkg_order() -> None:
    _ordered(
        dpkg_key,
        [
            "1.0~~",
            "1.0~~a",
            "1.0~",
            "1.0",
            "1.0-1~bpo1",
            "1.0-1",
            "1.0-1+deb12u1",
            "1.0a",
            "1.0+dfsg",
            "1.0.1",
            "1.10",
            "0:2.0",
            "1:0.1",
            "2:0.0.1",
        ],
    )


def test_dpkg_equalities() -> None:
    assert dpkg_key("1.0") == dpkg_key("0:1.0") == dpkg_key("1.0-0") == dpkg_key("1.0-00")
    assert dpkg_key("1.01") == dpkg_key("1.1")
    # the revision starts after the LAST hyphen
    assert dpkg_key("1.2-3-4")[2] == dpkg_key("9-4")[2]
    assert dpkg_key("1.2-3-4") < dpkg_key("1.2-4-1")


@pytest.mark.parametrize("bad", ["", "a:1.0", "1:", "1.0 beta", "-1"])
def test_dpkg_invalid(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        dpkg_key(bad)


# --- rpm ------------------------------------------------------------------------------------


def test_rpm_order() -> None:
    _ordered(rpm_key, ["1.0~rc1", "1.0", "1.0^git1", "1.0^git2", "1.0a", "1.0.1"])
    assert rpm_key("1.0a") < rpm_key("1.0.1")  # a letter segment loses to a number segment
    assert rpm_key("1.0") < rpm_key("1.0a")  # any segment beats the end
    assert rpm_key("1.0~rc1~git1") < rpm_key("1.0~rc1")
    assert rpm_key("1.0~rc1") < rpm_key("1.0~rc1^git1") < rpm_key("1.0")
    assert rpm_key("2.4-1.el7") < rpm_key("2.4-1.el7_9") < rpm_key("2.4-10.el7")
    assert rpm_key("9:1.0") > rpm_key("1:2.0") > rpm_key("3.0")


def test_rpm_equalities() -> None:
    assert rpm_key("10.0001") == rpm_key("10.1")
    assert rpm_key("0:1.0-1") == rpm_key("1.0-1")
    assert rpm_key("1.0_1") == rpm_key("1.0.1")
    assert rpm_key("1") < rpm_key("1-")  # an absent release is older than any release


def test_rpm_rejects_empty() -> None:
    with pytest.raises(InvalidVersion):
        rpm_key("  ")


# --- apk ------------------------------------------------------------------------------------


def test_apk_suffix_order() -> None:
    _ordered(
        apk_key,
        [
            "1.2_alpha",
            "1.2_alpha2",
            "1.2_beta",
            "1.2_pre1",
            "1.2_rc1",
            "1.2",
            "1.2-r1",
            "1.2_cvs1",
            "1.2_svn1",
            "1.2_git1",
            "1.2_hg1",
            "1.2_p1",
            "1.2_p2",
            "1.2a",
            "1.2b",
            "1.2.1",
            "1.10",
        ],
    )


def test_apk_revisions_and_zeros() -> None:
    assert apk_key("1.0-r1") == apk_key("1.0-r01")
    assert apk_key("1.0-r") == apk_key("1.0-r0")
    assert apk_key("1.0-r9") < apk_key("1.0-r10")
    assert apk_key("1.05") < apk_key("1.1")  # leading zero: compared as a string (Gentoo rule)
    assert apk_key("6.6.2p1-r0") < apk_key("6.6.2p1-r1") < apk_key("6.6.2p2-r0")


def test_apk_invalid_versions_still_order() -> None:
    assert not is_valid("1.0bc")
    assert is_valid("1.2.3b_rc1_p2~abc1-r3")
    assert apk_key("1.0") < apk_key("1.0bc")
    assert apk_key("1-ruff1") == apk_key("1-ruff2")  # apk ignores everything after the flaw
    assert apk_key("1-ruff") < apk_key("1")


# --- registry -------------------------------------------------------------------------------


def test_registry() -> None:
    assert scheme("dpkg").compare("1.0-1", "1.0-1~bpo") == 1
    assert scheme("rpm").compare("1.0^1", "1.0") == 1
    assert scheme("apk").compare("1.0_rc1", "1.0") == -1
    assert scheme_for_ecosystem("Debian:12").name == "dpkg"
    assert scheme_for_ecosystem("Ubuntu:22.04:LTS").name == "dpkg"
    assert scheme_for_ecosystem("Alpine:v3.20").name == "apk"
    assert scheme_for_ecosystem("Red Hat").name == "rpm"
    assert scheme_for_ecosystem("Rocky Linux:9").name == "rpm"
