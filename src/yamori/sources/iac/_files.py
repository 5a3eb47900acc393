"""Reading a scanned tree without leaving it.

Why: a repository under scan is untrusted. A symlink ``main.tf -> /etc/shadow`` or a module source
``../../../home`` must not make yamori read (or report) files outside the directory the user
named. Every IaC read goes through :func:`inside` and :func:`read_text`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from yamori.sources.iac.interface import IacIssue

__all__ = ["directory_files", "inside", "read_text", "relative", "skipped_dir", "walk_files"]

# Directories that hold tool caches or vendored copies, never the user's own declarations.
_SKIP_DIRS = frozenset({".git", ".terraform", "node_modules", ".venv", "__pycache__", ".serverless"})


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves (symlinks followed) to ``root`` or below it."""
    try:
        resolved = path.resolve(strict=False)
    except (OSError, RuntimeError):  # symlink loop
        return False
    real_root = root.resolve()
    return resolved == real_root or real_root in resolved.parents


def relative(path: Path, root: Path) -> str:
    """``path`` as shown to users: relative to the scan root when possible."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_text(path: Path, root: Path, max_bytes: int) -> tuple[str | None, IacIssue | None]:
    """The file's text, or a one-line issue (outside the root, too large, unreadable, binary)."""
    shown = relative(path, root)
    if not inside(path, root):
        return None, IacIssue(shown, "symlink points outside the scanned directory; not followed")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, IacIssue(shown, f"file is {size} bytes, over the {max_bytes}-byte limit; skipped")
        data = path.read_bytes()
    except OSError as exc:
        return None, IacIssue(shown, f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        return None, IacIssue(shown, "not UTF-8 text; skipped")


def walk_files(root: Path) -> Iterator[Path]:
    """Every regular file or symlink under ``root`` (sorted, tool caches skipped).

    Directory symlinks are not descended (``os.walk(followlinks=False)``); file symlinks are
    yielded so the caller reports the ones that leave the root instead of silently dropping them.
    """
    if root.is_file():
        yield root
        return
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            yield Path(current) / name


def skipped_dir(rel: Path) -> bool:
    """True when a path relative to the scan root lies in a directory :func:`walk_files` skips."""
    return any(part in _SKIP_DIRS for part in rel.parts)


def directory_files(directory: Path) -> list[Path]:
    """The entries of one directory that :func:`walk_files` would yield (sorted, not recursive).

    Why: the Terraform adapter stages a module's own directory and the local modules it calls,
    not the whole tree, and must see the same files (symlinks included) a walk would.
    """
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if not _is_dir(e))
    except OSError:
        return []
    return [directory / name for name in names]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks, as os.walk's classification does
    except OSError:
        return False
