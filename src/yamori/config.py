"""Where yamori keeps things: XDG directories, overridable with YAMORI_* variables."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def cache_dir() -> Path:
    """`$YAMORI_CACHE_DIR`, else `$XDG_CACHE_HOME/yamori`, else `~/.cache/yamori`."""
    explicit = os.environ.get("YAMORI_CACHE_DIR")
    return Path(explicit) if explicit else _xdg("XDG_CACHE_HOME", ".cache") / "yamori"


def data_dir() -> Path:
    explicit = os.environ.get("YAMORI_DATA_DIR")
    return Path(explicit) if explicit else _xdg("XDG_DATA_HOME", ".local/share") / "yamori"


def config_dir() -> Path:
    explicit = os.environ.get("YAMORI_CONFIG_DIR")
    return Path(explicit) if explicit else _xdg("XDG_CONFIG_HOME", ".config") / "yamori"
