"""Replay layers into the final filesystem view and attribute packages to layers.

As in Trivy's applier: each layer's per-path results overlay the earlier ones, whiteouts delete
paths (and everything below them), opaque directories hide everything an earlier layer put
below them. A package then belongs to the first layer that carried its exact
(type, name, version, location): rewriting a status file later does not move it, upgrading does.
"""

from __future__ import annotations

from collections.abc import Sequence

from yamori.catalog.interface import FileResult
from yamori.model import LayerInfo, Package
from yamori.scan.layer import LayerAnalysis

FinalView = dict[str, dict[str, FileResult]]  # cataloger → path → result


def _under(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


def apply_layers(layers: Sequence[LayerAnalysis]) -> FinalView:
    """The per-path results that survive all layers."""
    view: FinalView = {}
    for layer in layers:
        removed = [*layer.whiteouts, *layer.opaque_dirs]
        if removed:
            for by_path in view.values():
                for path in [p for p in by_path if any(_under(p, d) for d in removed)]:
                    del by_path[path]
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
