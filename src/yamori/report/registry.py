"""Registry of report writers, keyed by `--format` name.

Two tables: writers of image/filesystem scans (`ReportWriter`, `writer()`) and writers of cloud
posture scans (`PostureWriter`, `posture_writer()`). The same format name may appear in both
(`json`, `ocsf`, `table`); the command decides which table it reads.

Names map to modules, and a module is imported only when its format is asked for: the CycloneDX
writer pulls in cyclonedx-python-lib, which costs more start-up time than a whole cached scan.
"""

from __future__ import annotations

from importlib import import_module

from yamori.report.interface import PostureWriter, ReportWriter

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


_POSTURE_WRITERS: dict[str, type[PostureWriter]] = {}
_POSTURE_BUILTIN = {
    "table": "yamori.report.posture_table",
    "json": "yamori.report.posture_json",
    "ocsf": "yamori.report.ocsf",
    "asff": "yamori.report.asff",
    "csv": "yamori.report.csv",
}


def register_posture(cls: type[PostureWriter]) -> type[PostureWriter]:
    _POSTURE_WRITERS[cls.name] = cls
    return cls


def posture_writer(name: str) -> PostureWriter:
    if name not in _POSTURE_WRITERS and name in _POSTURE_BUILTIN:
        import_module(_POSTURE_BUILTIN[name])
    try:
        return _POSTURE_WRITERS[name]()
    except KeyError:
        raise KeyError(f"unknown format {name!r}; choose one of: {', '.join(posture_formats())}") from None


def posture_formats() -> list[str]:
    return list(dict.fromkeys([*_POSTURE_BUILTIN, *_POSTURE_WRITERS]))
