"""Registry of report writers, keyed by `--format` name."""

from __future__ import annotations

from importlib import import_module

from yamori.report.interface import ReportWriter

_WRITERS: dict[str, type[ReportWriter]] = {}
_BUILTIN = ["table", "json", "cyclonedx", "spdx"]


def register(cls: type[ReportWriter]) -> type[ReportWriter]:
    _WRITERS[cls.name] = cls
    return cls


def _load() -> None:
    for module in _BUILTIN:
        import_module(f"yamori.report.{module}")


def writer(name: str) -> ReportWriter:
    _load()
    try:
        return _WRITERS[name]()
    except KeyError:
        raise KeyError(f"unknown format {name!r}; choose one of: {', '.join(formats())}") from None


def formats() -> list[str]:
    _load()
    return list(_WRITERS)
