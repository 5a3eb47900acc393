"""Registry of version schemes, by scheme name and by OSV ecosystem."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from yamori.vulndb.versions.interface import VersionScheme

_SCHEMES: dict[str, type[VersionScheme]] = {}
# scheme name → module that registers it (adding a scheme: one module + one line here)
_BUILTIN: dict[str, str] = {
    "dpkg": "yamori.vulndb.versions.dpkg",
    "rpm": "yamori.vulndb.versions.rpm",
    "apk": "yamori.vulndb.versions.apk",
    "pep440": "yamori.vulndb.versions.pep440",
    "semver": "yamori.vulndb.versions.semver",
    "go": "yamori.vulndb.versions.go",
    "maven": "yamori.vulndb.versions.maven",
    "rubygems": "yamori.vulndb.versions.rubygems",
    "nuget": "yamori.vulndb.versions.nuget",
    "packagist": "yamori.vulndb.versions.packagist",
}


def register(cls: type[VersionScheme]) -> type[VersionScheme]:
    _SCHEMES[cls.name] = cls
    return cls


_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN.values():
            import_module(module)
        _loaded = True


def scheme(name: str) -> VersionScheme:
    """The scheme called `name` (dpkg, rpm, pep440…)."""
    if name not in _SCHEMES and name in _BUILTIN:
        import_module(_BUILTIN[name])
    return _SCHEMES[name]()


def scheme_for_ecosystem(ecosystem: str) -> VersionScheme:
    """The scheme of an OSV ecosystem; `Debian:12` and `Alpine:v3.20` use their stem."""
    return _scheme_for_stem(ecosystem.split(":", 1)[0])


@cache
def _scheme_for_stem(stem: str) -> VersionScheme:
    # Cached: the matcher asks once per affected range, tens of thousands of times a scan.
    _load_all()
    for cls in _SCHEMES.values():
        if stem in cls.ecosystems:
            return cls()
    raise KeyError(f"no version scheme for ecosystem {stem!r}")
