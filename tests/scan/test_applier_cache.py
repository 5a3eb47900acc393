"""Replaying layers, attributing packages to layers, and the layer cache."""

from __future__ import annotations

from pathlib import Path

from yamori.catalog.interface import FileResult
from yamori.model import LayerInfo, OSInfo, Package, PackageType
from yamori.scan.applier import apply_layers, attribute_layers
from yamori.scan.cache import LayerCache
from yamori.scan.layer import LayerAnalysis


def _pkg(name: str, version: str, location: str = "var/lib/dpkg/status") -> Package:
    return Package(name=name, version=version, type=PackageType.DEB, location=location)


def _layer(results: dict[str, list[Package]], **kw: list[str]) -> LayerAnalysis:
    return LayerAnalysis(
        results={"dpkg": {path: FileResult(packages=pkgs) for path, pkgs in results.items()}},
        whiteouts=kw.get("whiteouts", []),
        opaque_dirs=kw.get("opaque_dirs", []),
    )


def _infos(n: int) -> list[LayerInfo]:
    return [LayerInfo(index=i, digest=f"sha256:{i:064x}", diff_id=f"sha256:{i + 100:064x}") for i in range(n)]


def test_later_layer_replaces_a_file_and_upgrades_move_packages() -> None:
    status = "var/lib/dpkg/status"
    layers = [
        _layer({status: [_pkg("libc6", "2.36-9"), _pkg("bash", "5.2-1")]}),
        # layer 1 rewrites the status file, adding curl; libc6 and bash are unchanged
        _layer({status: [_pkg("libc6", "2.36-9"), _pkg("bash", "5.2-1"), _pkg("curl", "7.88")]}),
        # layer 2 upgrades bash
        _layer({status: [_pkg("libc6", "2.36-9"), _pkg("bash", "5.2-2"), _pkg("curl", "7.88")]}),
    ]
    view = apply_layers(layers)
    packages = view["dpkg"][status].packages
    attribute_layers(packages, layers, _infos(3))
    where = {p.name: (p.version, p.layer_index) for p in packages}
    assert where == {"libc6": ("2.36-9", 0), "bash": ("5.2-2", 2), "curl": ("7.88", 1)}
    bash = next(p for p in packages if p.name == "bash")
    assert bash.layer_digest == f"sha256:{2:064x}"
    assert bash.layer_diff_id == f"sha256:{102:064x}"


def test_whiteout_deletes_a_file_and_everything_below_a_directory() -> None:
    layers = [
        _layer(
            {
                "usr/lib/python3/dist-packages/a.dist-info/METADATA": [_pkg("a", "1", "x")],
                "usr/lib/python3/dist-packages/b.dist-info/METADATA": [_pkg("b", "1", "y")],
                "opt/c/METADATA": [_pkg("c", "1", "z")],
            }
        ),
        _layer({}, whiteouts=["usr/lib/python3/dist-packages/a.dist-info", "opt/c/METADATA"]),
    ]
    view = apply_layers(layers)
    assert list(view["dpkg"]) == ["usr/lib/python3/dist-packages/b.dist-info/METADATA"]


def test_opaque_directory_hides_earlier_layers_but_not_its_own() -> None:
    layers = [
        _layer({"app/node_modules/x/package.json": [], "app/keep/package.json": []}),
        _layer({"app/node_modules/y/package.json": []}, opaque_dirs=["app/node_modules"]),
    ]
    view = apply_layers(layers)
    assert sorted(view["dpkg"]) == ["app/keep/package.json", "app/node_modules/y/package.json"]


def test_a_prefix_that_is_not_a_directory_boundary_is_not_deleted() -> None:
    layers = [_layer({"etc/foo": [], "etc/foobar": []}), _layer({}, whiteouts=["etc/foo"])]
    assert list(apply_layers(layers)["dpkg"]) == ["etc/foobar"]


def test_whiteouts_match_whole_path_components_only() -> None:
    """The whiteout test looks up each directory prefix of a path; check it against the rule
    itself (`d`, or anything below `d/`) on paths with every kind of near miss."""
    paths = ["a", "ab", "a/b", "a/bc", "a/b/c", "a.b/c", "b/a", "a//b", "c/a/b"]
    whiteouts = ["a/b", "x", "b", "a/"]

    def below(path: str, directory: str) -> bool:
        return path == directory or path.startswith(directory + "/")

    view = apply_layers([_layer({p: [] for p in paths}), _layer({}, whiteouts=whiteouts)])
    expected = [p for p in paths if not any(below(p, d) for d in whiteouts)]
    assert list(view["dpkg"]) == expected == ["a", "ab", "a/bc", "a.b/c", "c/a/b"]


def test_an_opaque_root_hides_everything_before() -> None:
    layers = [_layer({"etc/foo": [], "usr/bin/x": []}), _layer({"etc/bar": []}, opaque_dirs=[""])]
    assert list(apply_layers(layers)["dpkg"]) == ["etc/bar"]


def test_cache_round_trip_and_key_mismatch(tmp_path: Path) -> None:
    analysis = LayerAnalysis(
        results={
            "dpkg": {"var/lib/dpkg/status": FileResult(packages=[_pkg("bash", "5.2-1")])},
            "os-release": {"etc/os-release": FileResult(os=OSInfo("debian", "12"))},
        },
        whiteouts=["etc/x"],
        opaque_dirs=["opt"],
        diff_id="sha256:" + "a" * 64,
        warnings=["skipped device file 'dev/null'"],
    )
    digest = "sha256:" + "b" * 64
    cache = LayerCache(tmp_path, "dpkg:1,os-release:1")
    assert cache.get(digest) is None
    cache.put(digest, analysis)
    again = cache.get(digest)
    assert again is not None
    assert again.to_dict() == analysis.to_dict()
    # A cataloger version change invalidates every entry.
    assert LayerCache(tmp_path, "dpkg:2,os-release:1").get(digest) is None
    # Corrupt entries are misses, not crashes.
    next(tmp_path.rglob("*.json.zst")).write_bytes(b"garbage")
    assert cache.get(digest) is None
