"""Registry of image sources, keyed by the reference prefix that selects them."""

from __future__ import annotations

from importlib import import_module

from yamori.sources.interface import ImageSource

_SOURCES: dict[str, type[ImageSource]] = {}
_BUILTIN: list[str] = [
    "yamori.sources.image.registry_source",
    "yamori.sources.image.oci_layout",
    "yamori.sources.image.docker_archive",
    "yamori.sources.image.containers_storage",
]
DEFAULT_PREFIX = "registry"


def register(cls: type[ImageSource]) -> type[ImageSource]:
    _SOURCES[cls.prefix] = cls
    return cls


def _load() -> None:
    for module in _BUILTIN:
        import_module(module)


def image_source(prefix: str) -> ImageSource:
    _load()
    if prefix not in _SOURCES:
        raise KeyError(prefix)
    return _SOURCES[prefix]()


def prefixes() -> list[str]:
    _load()
    return sorted(_SOURCES)


def split_reference(target: str) -> tuple[str, str]:
    """`oci:/x/y:tag` → ("oci", "/x/y:tag"); a plain reference goes to the registry source.

    `docker://` is accepted as skopeo spells registry references.
    """
    _load()
    if target.startswith("docker://"):
        return DEFAULT_PREFIX, target[len("docker://") :]
    prefix, sep, rest = target.partition(":")
    if sep and prefix in _SOURCES and prefix != DEFAULT_PREFIX:
        return prefix, rest
    if sep and prefix == DEFAULT_PREFIX:
        return DEFAULT_PREFIX, rest
    return DEFAULT_PREFIX, target
