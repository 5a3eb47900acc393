"""A tiny dict-backed source for compiler/engine/output tests (the real sources live elsewhere)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from yamori.detect.compiler import CompiledRules, compile_ruleset
from yamori.detect.fields.interface import Event, FieldClass, FieldInfo, FieldType
from yamori.detect.rules import load_rules_files, read_rules_text
from yamori.detect.rules.collector import collect

T = FieldType
DICT_FIELDS: dict[str, FieldInfo] = {
    f.name: f
    for f in [
        FieldInfo("d.s", T.STRING, "a string"),
        FieldInfo("d.t", T.STRING, "another string"),
        FieldInfo("d.path", T.STRING, "a path"),
        FieldInfo("d.n", T.INT, "a number"),
        FieldInfo("d.m", T.INT, "another number"),
        FieldInfo("d.b", T.BOOL, "a bool"),
        FieldInfo("d.l", T.STRINGS, "a list of strings"),
        FieldInfo("d.ip", T.IPADDR, "an address"),
        FieldInfo("d.raw", T.BYTES, "bytes"),
        FieldInfo("d.map", T.STRING, "keyed", arg="key"),
        FieldInfo("d.idx", T.STRING, "indexed", arg="index"),
        FieldInfo("d.opt", T.STRING, "optional key", arg="optional-key"),
    ]
}


class DictEvent(Event):
    """Field name -> value; keyed fields look up ``name[arg]``."""

    source: ClassVar[str] = "dict"

    def __init__(self, values: dict[str, Any], time_ns: int = 0) -> None:
        self.values = values
        self._time = time_ns

    def value(self, name: str, arg: str | None = None) -> Any:
        key = name if arg is None else f"{name}[{arg}]"
        return self.values.get(key)

    def time_ns(self) -> int:
        return self._time


class DictFields(FieldClass):
    source: ClassVar[str] = "dict"

    def fields(self) -> dict[str, FieldInfo]:
        return DICT_FIELDS


class SysEvent(DictEvent):
    source: ClassVar[str] = "syscall"


class SysFields(FieldClass):
    """A fake syscall source: enough to test evt.type indexing."""

    source: ClassVar[str] = "syscall"
    index_fields: ClassVar[tuple[str, ...]] = ("evt.type",)

    def fields(self) -> dict[str, FieldInfo]:
        return {
            "evt.type": FieldInfo("evt.type", T.STRING, "event type"),
            "proc.name": FieldInfo("proc.name", T.STRING, "process name"),
            "fd.name": FieldInfo("fd.name", T.STRING, "file name"),
        }


CLASSES: dict[str, FieldClass] = {"dict": DictFields(), "syscall": SysFields()}


def compile_text(text: str, *extra: str) -> CompiledRules:
    files = [read_rules_text(t, path=f"extra{i}.yaml") for i, t in enumerate(extra)]
    files.append(read_rules_text(text, path="rules.yaml"))
    return compile_ruleset(collect(files), CLASSES)


def cond_rules(*conditions: str, prefix: str = "") -> str:
    """A rules file with one dict rule per condition, named r0, r1, ..."""
    out = [prefix]
    for i, c in enumerate(conditions):
        out.append(
            f"- rule: r{i}\n  desc: d\n  condition: {json.dumps(c)}\n"
            "  output: out\n  priority: WARNING\n  source: dict\n"
        )
    return "\n".join(out)


__all__ = [
    "CLASSES",
    "DictEvent",
    "DictFields",
    "SysEvent",
    "SysFields",
    "compile_text",
    "cond_rules",
    "load_rules_files",
]
