"""Registry of image sources, keyed by the reference prefix that selects them.

Prefixes map to modules, imported only when a reference uses them (the registry client pulls in
httpx, which a scan of a local archive does not need).
"""

from __future__ import annotations

from importlib import import_module

from yamori.sources.interface import ImageSource

_SOURCES: dict[str, type[ImageSource]] = {}
# prefix → module that registers it (adding a source: one module + one line here)
_BUILTIN = {
    "registry": "yamori.sources.image.registry_source",
    "oci": "yamori.sources.image.oci_layout",
    "docker-archive": "yamori.sources.image.docker_archive",
    "containers-storage": "yamori.sources.image.containers_storage",
}
DEFAULT_PREFIX = "registry"


def register(cls: type[ImageSource]) -> type[ImageSource]:
    _SOURCES[cls.prefix] = cls
    return cls


def image_source(prefix: str) -> ImageSource:
    if prefix not in _SOURCES and prefix in _BUILTIN:
        import_module(_BUILTIN[prefix])
    if prefix not in _SOURCES:
        raise KeyError(prefix)
    return _SOURCES[prefix]()


def prefixes() -> list[str]:
    return sorted({*_BUILTIN, *_SOURCES})


def split_reference(target: str) -> tuple[str, str]:
    """`oci:/x/y:tag` → ("oci", "/x/y:tag"); a plain reference goes to the registry source.

    `docker://` is accepted as skopeo spells registry references.
    """
    if target.startswith("docker://"):
        return DEFAULT_PREFIX, target[len("docker://") :]
    prefix, sep, rest = target.partition(":")
    if prefix == DEFAULT_PREFIX and rest[:1].isdigit():
        return DEFAULT_PREFIX, target  # a registry host named "registry" with a port
    if sep and prefix in prefixes():
        return prefix, rest
    return DEFAULT_PREFIX, target
