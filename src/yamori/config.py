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


def vulndb_file(db_dir: Path | None = None) -> Path:
    """The vulnerability database file: `<db dir or data dir/vulndb>/vulndb.sqlite`.

    Here rather than in yamori.vulndb.store so a scan can tell whether a database exists
    without importing the database code.
    """
    return (db_dir or data_dir() / "vulndb") / "vulndb.sqlite"


def config_dir() -> Path:
    explicit = os.environ.get("YAMORI_CONFIG_DIR")
    return Path(explicit) if explicit else _xdg("XDG_CONFIG_HOME", ".config") / "yamori"


def config_file() -> Path:
    """`$YAMORI_CONFIG`, else `<config dir>/config.yaml`."""
    explicit = os.environ.get("YAMORI_CONFIG")
    return Path(explicit) if explicit else config_dir() / "config.yaml"


class ConfigError(ValueError):
    """The configuration file exists but cannot be used; the message says why, in one line."""


def command_defaults(commands: list[str]) -> dict[str, dict[str, object]]:
    """Option defaults per command from the config file, in click's `default_map` shape.

    The file holds option names as on the command line, without dashes: top-level keys apply to
    every command that has that option, a mapping under a command's name to that command only::

        cache-dir: /var/cache/yamori
        parallel: 4
        image:
          format: json

    Command-line flags and YAMORI_* variables still win over the file.
    """
    path = config_file()
    if not path.is_file():
        return {}
    import yaml  # only with a file to read: importing PyYAML costs more than the rest of start-up

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of option names to values")
    shared = {str(k).replace("-", "_"): v for k, v in data.items() if k not in commands}
    result: dict[str, dict[str, object]] = {}
    for command in commands:
        own = data.get(command) or {}
        if not isinstance(own, dict):
            raise ConfigError(f"{path}: '{command}' must be a mapping of option names to values")
        result[command] = {**shared, **{str(k).replace("-", "_"): v for k, v in own.items()}}
    return result
