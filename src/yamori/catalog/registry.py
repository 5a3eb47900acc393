"""Registry of catalogers: adding one is a new module plus one `register` line in `catalog/__init__`."""

from __future__ import annotations

from yamori.catalog.interface import Cataloger

_CATALOGERS: dict[str, type[Cataloger]] = {}


def register(cls: type[Cataloger]) -> type[Cataloger]:
    """Class decorator: make a cataloger available to every scan."""
    if cls.name in _CATALOGERS and _CATALOGERS[cls.name] is not cls:
        raise ValueError(f"cataloger {cls.name!r} registered twice")
    _CATALOGERS[cls.name] = cls
    return cls


def all_catalogers() -> list[Cataloger]:
    """Fresh instances of every registered cataloger, in a stable order."""
    _load_builtin()
    return [_CATALOGERS[name]() for name in sorted(_CATALOGERS)]


def cache_key() -> str:
    """Names and versions of all catalogers: part of every layer-cache key."""
    _load_builtin()
    return ",".join(f"{name}:{_CATALOGERS[name].version}" for name in sorted(_CATALOGERS))


def _load_builtin() -> None:
    import yamori.catalog  # noqa: F401  (importing the package registers the built-ins)
