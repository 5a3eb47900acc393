"""Replay layers into the final filesystem view and attribute packages to layers.

As in Trivy's applier: each layer's per-path results overlay the earlier ones, whiteouts delete
paths (and everything below them), opaque directories hide everything an earlier layer put
below them. A package then belongs to the first layer that carried its exact
(type, name, version, location): rewriting a status file later does not move it, upgrading does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from yamori.catalog.interface import FileResult
from yamori.model import LayerInfo, Package
from yamori.scan.layer import LayerAnalysis

FinalView = dict[str, dict[str, FileResult]]  # cataloger → path → result


def _removed_paths(paths: Sequence[str], removed: frozenset[str]) -> list[str]:
    """The `paths` (sorted) that are a removed path or lie below one.

    Everything below `d` sorts between `d + "/"` and `d + "0"` ("0" follows "/"), so each
    removed path costs two binary searches and a slice, instead of testing every path against
    every whiteout. The root (`""`) is handled by the caller.
    """
    found: list[str] = []
    for directory in removed:
        at = bisect_left(paths, directory)
        if at < len(paths) and paths[at] == directory:
            found.append(directory)
        found.extend(paths[bisect_left(paths, directory + "/") : bisect_left(paths, directory + "0")])
    return found


def apply_layers(layers: Sequence[LayerAnalysis]) -> FinalView:
    """The per-path results that survive all layers."""
    view: FinalView = {}
    for layer in layers:
        removed = frozenset((*layer.whiteouts, *layer.opaque_dirs))
        if removed:
            for by_path in view.values():
                if "" in removed:  # the whole tree (an opaque root)
                    by_path.clear()
                    continue
                for path in _removed_paths(sorted(by_path), removed):
                    by_path.pop(path, None)  # a path under two removed directories comes twice
        for name, by_path in layer.results.items():
            view.setdefault(name, {}).update(by_path)
    return view


def attribute_layers(
    packages: list[Package], analyses: Sequence[LayerAnalysis], layers: Sequence[LayerInfo]
) -> None:
    """Set each package's layer to the first layer that carried the same package key."""
    first_seen: dict[tuple[str, str, str, str], int] = {}
    for index, analysis in enumerate(analyses):
        for by_path in analysis.results.values():
            for result in by_path.values():
                for pkg in result.packages:
                    first_seen.setdefault(pkg.key, index)
    for pkg in packages:
        found = first_seen.get(pkg.key)
        if found is None or found >= len(layers):
            continue
        layer = layers[found]
        pkg.layer_index = layer.index
        pkg.layer_digest = layer.digest
        pkg.layer_diff_id = layer.diff_id or None
