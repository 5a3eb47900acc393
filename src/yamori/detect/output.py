"""Alert output: Falco's ``%field`` templates, the ``Alert`` record and its JSON shape.

Templates are parsed once per rule (``OutputTemplate``) so formatting an alert is only field
lookups and string joins. Syntax, as Falco's formatter reads it:

- ``%field`` and ``%field[arg]`` (a field name is dotted; a trailing ``.`` is punctuation);
- ``%tolower(field)`` and the other transformers, nestable;
- ``%Nfield``: the value padded with spaces (or truncated) to exactly N characters;
- a missing value prints ``<NA>``; ``%%`` prints a literal ``%``.

``evt.time.iso8601``, ``evt.time`` and ``evt.source`` are answered here from the event when the
source's field class does not define them, because Falco provides them for every source.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from yamori.detect.fields.interface import Event, FieldClass, OneOf

__all__ = [
    "NA",
    "Alert",
    "OutputField",
    "OutputTemplate",
    "alert_to_json",
    "apply_transformers",
    "format_output",
    "rfc3339_ns",
]

NA = "<NA>"

_FIELD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")
_ARG_RE = re.compile(r"\[([^\]]*)\]")
_TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")
_GENERIC_FIELDS = frozenset({"evt.time", "evt.time.iso8601", "evt.source"})


def rfc3339_ns(time_ns: int) -> str:
    """``2024-01-02T03:04:05.123456789Z``: Falco's JSON ``time``, nanoseconds kept."""
    secs, nanos = divmod(time_ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def apply_transformers(value: Any, transformers: tuple[str, ...]) -> Any:
    """Apply transformers innermost first; lists are transformed member by member (not ``len``).

    Shared with the compiler so conditions and outputs see the same transformed values. A value
    a transformer cannot handle (``b64`` of non-base64 text) becomes None: missing, as in Falco.
    """
    for name in transformers:
        if value is None:
            return None
        if name == "len":
            value = len(value) if isinstance(value, str | bytes | list) else None
        elif isinstance(value, list):
            value = [_transform_one(v, name) for v in value]
            if any(v is None for v in value):
                return None
        else:
            value = _transform_one(value, name)
    return value


def _transform_one(value: Any, name: str) -> Any:
    if not isinstance(value, str | bytes):
        value = str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if name == "tolower":
        return value.lower()
    if name == "toupper":
        return value.upper()
    if name == "basename":
        return posixpath.basename(value)
    if name == "b64":
        try:
            return base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    raise ValueError(f"unknown transformer {name!r}")


def _to_text(value: Any) -> str:
    """Falco prints booleans as ``true``/``false`` and lists as ``(a,b)``."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "(" + ",".join(_to_text(v) for v in value) + ")"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@dataclass(frozen=True, slots=True)
class OutputField:
    """One ``%...`` reference: the key it has in ``output_fields`` and how to fetch it."""

    key: str  # as Falco names it in output_fields: "ka.user.name", "tolower(x.y)", "a.b[arg]"
    name: str
    arg: str | None
    transformers: tuple[str, ...]
    width: int | None


def _generic(event: Event, name: str) -> Any:
    if name == "evt.source":
        return event.source
    ns = event.time_ns()
    if name == "evt.time.iso8601":
        return rfc3339_ns(ns)
    secs, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%H:%M:%S") + f".{nanos:09d}"


@dataclass(slots=True)
class OutputTemplate:
    """A parsed output template: literal text and field references, alternating."""

    text: str
    parts: list[str | OutputField] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> OutputTemplate:
        """Split the template once; a ``%`` not followed by a field is kept as written."""
        parts: list[str | OutputField] = []
        buf: list[str] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "%":
                buf.append(ch)
                i += 1
                continue
            if text.startswith("%%", i):
                buf.append("%")
                i += 2
                continue
            ref, end = _parse_ref(text, i + 1)
            if ref is None:
                buf.append(ch)
                i += 1
                continue
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(ref)
            i = end
        if buf:
            parts.append("".join(buf))
        return cls(text, parts)

    @property
    def fields(self) -> list[OutputField]:
        return [p for p in self.parts if isinstance(p, OutputField)]

    def values(self, event: Event, known: Mapping[str, object] | None = None) -> dict[str, Any]:
        """Typed values of every referenced field (``output_fields``), None when missing."""
        out: dict[str, Any] = {}
        for ref in self.fields:
            out[ref.key] = self._value(event, ref, known)
        return out

    def render(self, event: Event, known: Mapping[str, object] | None = None) -> tuple[str, dict[str, Any]]:
        """The alert text and its ``output_fields``, looking each field up once."""
        values = self.values(event, known)
        chunks: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                chunks.append(part)
                continue
            text = _to_text(values[part.key])
            if part.width is not None:
                text = text[: part.width].ljust(part.width)
            chunks.append(text)
        return "".join(chunks), values

    @staticmethod
    def _value(event: Event, ref: OutputField, known: Mapping[str, object] | None) -> Any:
        try:
            if known is not None and ref.name not in known and ref.name in _GENERIC_FIELDS:
                raw = _generic(event, ref.name)
            else:
                raw = event.value(ref.name, ref.arg)
        except KeyError:
            raw = _generic(event, ref.name) if ref.name in _GENERIC_FIELDS else None
        except Exception:  # a field extractor failing on odd input must not lose the alert
            raw = None
        if isinstance(raw, OneOf):  # candidates of which any matches: print one, as Falco does
            raw = raw[0] if raw else None
        value = apply_transformers(raw, ref.transformers)
        # A list field with no elements is "not extracted" in Falco: <NA> in text, null in JSON.
        return None if value == [] else value


def _parse_ref(text: str, i: int) -> tuple[OutputField | None, int]:
    """Parse ``N?(transformer(...)|field[arg]?)`` at ``i`` (just after ``%``)."""
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    width = int(text[start:i]) if i > start else None
    transformers: list[str] = []
    while True:
        m = re.compile(r"([a-z0-9]+)\(").match(text, i)
        if m is None or m.group(1) not in _TRANSFORMERS:
            break
        transformers.append(m.group(1))
        i = m.end()
    m = _FIELD_RE.match(text, i)
    if m is None:
        return None, start
    name = m.group()
    i = m.end()
    arg: str | None = None
    am = _ARG_RE.match(text, i)
    if am is not None:
        arg = am.group(1)
        i = am.end()
    for _ in transformers:
        if i >= len(text) or text[i] != ")":
            return None, start
        i += 1
    transformers.reverse()
    base = name if arg is None else f"{name}[{arg}]"
    key = base
    for t in transformers:
        key = f"{t}({key})"
    return OutputField(key, name, arg, tuple(transformers), width), i


def format_output(template: str, event: Event, field_classes: Mapping[str, FieldClass]) -> str:
    """Format one template for one event (parses every call: for tests and one-offs)."""
    cls = field_classes.get(event.source)
    known = cls.fields() if cls is not None else None
    return OutputTemplate.parse(template).render(event, known)[0]


@dataclass(frozen=True, slots=True)
class Alert:
    """One rule match, with everything an output (stdout, file, webhook, syslog) needs."""

    rule: str
    priority: str  # Falco's spelling: "Warning", "Informational"
    source: str
    output: str
    output_fields: dict[str, Any]
    tags: tuple[str, ...]
    time: int  # nanoseconds since the epoch


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def alert_to_json(alert: Alert, hostname: str) -> str:
    """One JSON line in Falco's ``json_output`` shape (missing fields are ``null``)."""
    doc = {
        "hostname": hostname,
        "output": alert.output,
        "output_fields": {k: _jsonable(v) for k, v in alert.output_fields.items()},
        "priority": alert.priority,
        "rule": alert.rule,
        "source": alert.source,
        "tags": sorted(alert.tags),
        "time": rfc3339_ns(alert.time),
    }
    try:  # orjson: the same compact, UTF-8 text, several times faster on a busy alert stream
        return orjson.dumps(doc).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates, integers beyond 64 bits
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
