"""Registry of report writers, keyed by `--format` name.

Names map to modules, and a module is imported only when its format is asked for: the CycloneDX
writer pulls in cyclonedx-python-lib, which costs more start-up time than a whole cached scan.
"""

from __future__ import annotations

from importlib import import_module

from yamori.report.interface import ReportWriter

_WRITERS: dict[str, type[ReportWriter]] = {}
# format name → module that registers it (adding a format: one module + one line here)
_BUILTIN = {
    "table": "yamori.report.table",
    "json": "yamori.report.json",
    "cyclonedx": "yamori.report.cyclonedx",
    "spdx": "yamori.report.spdx",
    "sarif": "yamori.report.sarif",
    "junit": "yamori.report.junit",
    "ocsf": "yamori.report.ocsf",
}


def register(cls: type[ReportWriter]) -> type[ReportWriter]:
    _WRITERS[cls.name] = cls
    return cls


def writer(name: str) -> ReportWriter:
    if name not in _WRITERS and name in _BUILTIN:
        import_module(_BUILTIN[name])
    try:
        return _WRITERS[name]()
    except KeyError:
        raise KeyError(f"unknown format {name!r}; choose one of: {', '.join(formats())}") from None


def formats() -> list[str]:
    return list(dict.fromkeys([*_BUILTIN, *_WRITERS]))
