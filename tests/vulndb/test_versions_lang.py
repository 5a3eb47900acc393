"""Language version schemes (pep440, semver, go, maven, rubygems, nuget, packagist).

Corpus vectors: google/osv-scalibr @ c2094f2d, `semantic/testdata/` (Apache-2.0), copied to
../shared/corpora/versions/ (see its README). Their format: one `a <op> b` per line with op in
`<`, `=`, `>`; blank lines and lines starting with "# " or "// " are comments; no line is
marked invalid upstream. Each vector is checked both ways, and "=" also checks key equality
and hash equality. The hand-written cases below run without the corpora (there is no Go file:
Go pseudo-versions, +incompatible and toolchain tags are covered only here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import scheme, scheme_for_ecosystem

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "versions"

_SIGN = {"<": -1, "=": 0, ">": 1}

# (scheme, file, vectors in the file, vectors skipped because a side is invalid in the scheme)
# Skips, each deliberate:
# - packagist-versions.txt: 6 "1.2.3.#" edge cases. PHP's special form "#" equals every
#   number (1 = # = 2), which no total order can honour; Composer rejects such versions, so
#   the scheme raises InvalidVersion for them.
# - semver-versions.txt under go: "1.1.3.4.5" is not a Go module version (Go is strict).
CASES: list[tuple[str, str, int, int]] = [
    ("pep440", "pypi-versions.txt", 37, 0),
    ("pep440", "pypi-versions-generated.txt", 12375, 0),
    ("semver", "semver-versions.txt", 86, 0),
    ("go", "semver-versions.txt", 86, 1),
    ("maven", "maven-versions.txt", 102, 0),
    ("maven", "maven-versions-generated.txt", 14752, 0),
    ("rubygems", "rubygems-versions.txt", 25, 0),
    ("rubygems", "rubygems-versions-generated.txt", 4098, 0),
    ("nuget", "nuget-versions.txt", 35, 0),
    ("packagist", "packagist-versions.txt", 95, 6),
    ("packagist", "packagist-versions-generated.txt", 10630, 0),
]


def _vectors(path: Path) -> list[tuple[int, str, str, str]]:
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith(("# ", "// ")):
            continue
        a, op, b = line.split(" ")
        out.append((lineno, a, op, b))
    return out


def _check(s: VersionScheme, a: str, op: str, b: str) -> str | None:
    """None when the vector holds, else what went wrong."""
    want = _SIGN[op]
    got, back = s.compare(a, b), s.compare(b, a)
    if got != want or back != -want:
        return f"{a} {op} {b}: compare gave {got}, reversed {back}"
    ka, kb = s.key(a), s.key(b)
    if (ka == kb) != (want == 0):
        return f"{a} {op} {b}: key equality is {ka == kb}"
    if want == 0 and hash(ka) != hash(kb):
        return f"{a} {op} {b}: equal keys hash differently"
    return None


@pytest.mark.parametrize(
    ("name", "filename", "expected_vectors", "expected_skips"),
    CASES,
    ids=[f"{c[0]}:{c[1]}" for c in CASES],
)
def test_corpus(name: str, filename: str, expected_vectors: int, expected_skips: int) -> None:
    path = CORPUS / filename
    if not path.is_file():
        pytest.skip(f"version corpus not present at {path} (only ../shared has it; CI does)")
    s = scheme(name)
    vectors = _vectors(path)
    failures: list[str] = []
    skipped: list[str] = []
    for lineno, a, op, b in vectors:
        try:
            s.key(a)
            s.key(b)
        except InvalidVersion:
            skipped.append(f"{filename}:{lineno}: {a} {op} {b}")
            continue
        problem = _check(s, a, op, b)
        if problem is not None:
            failures.append(f"{filename}:{lineno}: {problem}")
    assert len(vectors) == expected_vectors, f"{filename}: read {len(vectors)} vectors"
    assert not failures, f"{len(failures)} of {len(vectors)} failed:\n" + "\n".join(failures[:50])
    assert len(skipped) == expected_skips, "skipped:\n" + "\n".join(skipped)


# ---- hand-written cases (no corpus needed) ------------------------------------------------

ORDERED: dict[str, list[list[str]]] = {
    # each inner list is strictly increasing; items joined by "=" are equal
    "go": [
        [
            "v0.0.0-20191109021931-daa7c04131f5",  # pseudo-version, no tag before
            "v0.0.0-20200101000000-aaaaaaaaaaaa",
            "v0.1.0",
            "v1.2.3",
            "v1.2.4-0.20191109021931-daa7c04131f5",  # pseudo-version after v1.2.3
            "v1.2.4-0.20200101000000-aaaaaaaaaaaa",
            "v1.2.4-alpha",
            "v1.2.4-beta",
            "v1.2.4-beta.0.20191109021931-daa7c04131f5",  # pseudo-version after v1.2.4-beta
            "v1.2.4-beta.1",
            "v1.2.4-beta.2",
            "v1.2.4-beta.10",
            "v1.2.4",
            "v1.10.0",
            "v2.0.0-0.20170519163204-f913f5f9c7c6+incompatible",
            "v2.0.0+incompatible",
            "v2.1.6+incompatible",
            "v20.10.14+incompatible",
        ],
        # OSV's stdlib ranges vs toolchain tags from build info
        ["1.20.0-0", "go1.20rc1", "go1.20", "go1.20.1", "1.21.0-0", "go1.21rc2", "go1.21.0", "go1.21.5"],
        ["go1.9beta2", "go1.9rc1", "go1.9", "go1.9.1"],
    ],
    "semver": [
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ],
        ["1.2.3-R2", "1.2.3-r100", "1.2.3-r2"],  # ASCII order for alphanumerics
    ],
    "pep440": [
        ["0.9-doduo", "0.9-eevee", "1.0.dev0", "1.0a1", "1.0b1", "1.0rc1", "1.0", "1.0+local", "1.0.post1"],
        ["trunk", "0!0.1"],  # legacy versions sort before all PEP 440 ones
    ],
    "maven": [
        [
            "1-alpha-1",
            "1-beta-1",
            "1-milestone-1",
            "1-rc-1",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-abc",
            "1-1",
            "1.0.1",
        ],
        ["1", "1.sp", "1.0.1"],  # "." pads as 0 against a number, as release against a qualifier
    ],
    "rubygems": [["1.0.a.1", "1.0.a.2", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.1.a", "1.1"]],
    "nuget": [["1.0.0-alpha", "1.0.0-Beta", "1.0.0-beta.2", "1.0.0", "1.0.0.1", "1.0.1"]],
    "packagist": [["1.0-foo", "1.0-dev", "1.0alpha1", "1.0b1", "1.0RC1", "1.0", "1.0.0", "1.0pl1", "1.1"]],
}

EQUAL: dict[str, list[tuple[str, str]]] = {
    "go": [
        ("v2.0.0+incompatible", "2.0.0"),  # build metadata is ignored, like semver.Compare
        ("v1.2.3", "1.2.3"),  # OSV writes Go versions without "v"
        ("v1", "v1.0.0"),
        ("v1.2", "v1.2.0"),
        ("go1.21.5 X:boringcrypto", "1.21.5"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1.20", "1.20.0"),
        ("go1", "1.0.0"),
    ],
    "semver": [("v1.2.3", "1.2.3"), ("1.2.3+a", "1.2.3+b"), ("1.2", "1.2.0")],
    "pep440": [("1.0", "1.0.0"), ("1.0-1", "1.0.post1"), ("1.0RC1", "1.0rc1")],
    "maven": [
        ("1", "1.0.0"),
        ("1-ga-1", "1-1"),
        ("1.0-alpha-1", "1a1"),
        ("1a", "1-a"),
        ("1cr", "1rc"),
        ("1m3", "1-milestone-3"),
    ],
    "rubygems": [("1.0.a2", "1.0.a.2"), ("1.0.0", "1"), ("1.0-rc1", "1.0.pre.rc1")],
    "nuget": [("1.0", "1.0.0.0"), ("1.0.01", "1.0.1"), ("1.0.0-BETA+x", "1.0.0-beta")],
    "packagist": [("v1.0.0", "1.0.0"), ("1.25.0-beta2.1", "1.25.0-b.2.1")],
}

INVALID: dict[str, list[str]] = {
    "go": ["", "v01.2.3", "v1.2.3-01", "v1.2-pre", "1.1.3.4.5", "devel go1.22-abcdef", "go"],
    "semver": ["", "x1.2.3", "1.2.3-a..b"],
    "pep440": ["", "  "],
    "maven": [""],
    "rubygems": ["abc", "1.0 2"],
    "nuget": ["", "1.2.3.4.5", "beta"],
    "packagist": ["", "1.2.3.#"],
}


@pytest.mark.parametrize("name", sorted(ORDERED))
def test_hand_written_order(name: str) -> None:
    s = scheme(name)
    for chain in ORDERED[name]:
        for i, a in enumerate(chain):
            for b in chain[i + 1 :]:
                assert s.compare(a, b) == -1, f"{name}: expected {a} < {b}"
                assert s.compare(b, a) == 1, f"{name}: expected {b} > {a}"
        assert sorted(reversed(chain), key=s.key) == chain


@pytest.mark.parametrize("name", sorted(EQUAL))
def test_hand_written_equal(name: str) -> None:
    s = scheme(name)
    for a, b in EQUAL[name]:
        assert s.compare(a, b) == 0, f"{name}: expected {a} = {b}"
        assert s.key(a) == s.key(b) and hash(s.key(a)) == hash(s.key(b))


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid(name: str) -> None:
    s = scheme(name)
    for version in INVALID[name]:
        with pytest.raises(InvalidVersion):
            s.key(version)


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [
        ("PyPI", "pep440"),
        ("npm", "semver"),
        ("crates.io", "semver"),
        ("Hex", "semver"),
        ("SwiftURL", "semver"),
        ("Go", "go"),
        ("Maven", "maven"),
        ("Maven:https://maven.google.com", "maven"),
        ("RubyGems", "rubygems"),
        ("NuGet", "nuget"),
        ("Packagist", "packagist"),
    ],
)
def test_ecosystem_lookup(ecosystem: str, name: str) -> None:
    assert scheme_for_ecosystem(ecosystem).name == name


def test_sorting_mixed_segments() -> None:
    """Sorting mixes numeric and string segments and zero padding inside one list; keys must
    never compare an int with a str (that would raise TypeError) and equal versions keep
    their input order."""
    s = scheme("rubygems")
    versions = ["1.0", "1.0.a", "1.a.0.1", "1.a", "1", "0.9.z", "1.0.0.1"]
    assert sorted(versions, key=s.key) == ["0.9.z", "1.0.a", "1.a", "1.a.0.1", "1.0", "1", "1.0.0.1"]
    m = scheme("maven")
    versions = ["1.0.1", "1-1", "1", "1-alpha", "1.0"]
    assert sorted(versions, key=m.key) == ["1-alpha", "1", "1.0", "1-1", "1.0.1"]


def test_maven_is_not_transitive_like_maven() -> None:
    """Maven's ComparableVersion itself has the cycle 1 < 1.sp < 1-alpha < 1 (a "."-qualifier
    meets a "-"-qualifier opposite a shorter version); pairwise answers match Maven."""
    m = scheme("maven")
    assert m.compare("1", "1.sp") == -1
    assert m.compare("1.sp", "1-alpha") == -1
    assert m.compare("1-alpha", "1") == -1
