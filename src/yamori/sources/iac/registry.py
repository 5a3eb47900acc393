"""Registry of IaC adapters: name → module exposing ``ADAPTER``, imported on first use.

Adding a dialect (Kubernetes manifests, Dockerfiles) is one module plus one line here; ``scan``
asks every adapter for its inputs under a directory and never needs an ``if`` per dialect.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Final

from yamori.sources.iac.interface import IacAdapter, IacIssue, IacOptions, IacResult

__all__ = ["adapter", "names", "scan"]

_BUILTIN: Final = {
    "terraform": "yamori.sources.iac.terraform",
    "cloudformation": "yamori.sources.iac.cloudformation",
    "kubernetes": "yamori.sources.iac.kubernetes",
    "dockerfile": "yamori.sources.iac.dockerfile",
}


def names() -> list[str]:
    return sorted(_BUILTIN)


def adapter(name: str) -> IacAdapter:
    """The adapter registered as ``name`` (KeyError when unknown)."""
    found: IacAdapter = import_module(_BUILTIN[name]).ADAPTER
    return found


def scan(root: Path, options: IacOptions | None = None, only: list[str] | None = None) -> IacResult:
    """Every adapter's resources under ``root`` (a directory or a single file)."""
    options = options or IacOptions()
    result = IacResult()
    if not root.exists():
        result.errors.append(IacIssue(str(root), "no such file or directory"))
        return result
    base = root if root.is_dir() else root.parent
    for name in only or names():
        dialect = adapter(name)
        inputs = dialect.inputs(root) if root.is_dir() else ([root] if dialect.claims(root) else [])
        for unit in inputs:
            result.extend(dialect.load(unit, options, root=base))
    return result
