"""JSON helpers shared by the `k8s_audit` and `aws_cloudtrail` field classes.

Falco's json plugin (`json.value[/ptr]`, and its `jevt.value` alias) addresses parts of an event
with RFC 6901 JSON pointers and renders what it finds as text: strings bare, everything else as
compact JSON. Both sources need exactly that, so it lives here once.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


class JsonPointerError(ValueError):
    """The pointer text is not a valid RFC 6901 pointer."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """Split a pointer into unescaped reference tokens (``~1`` -> ``/`` first, then ``~0`` -> ``~``).

    The order matters: RFC 6901 decodes ``~01`` as ``~1``, not ``/``.
    """
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise JsonPointerError(f"JSON pointer must be empty or start with '/': {pointer!r}")
    tokens: list[str] = []
    for raw in pointer[1:].split("/"):
        i = raw.find("~")
        while i != -1:
            if i + 1 >= len(raw) or raw[i + 1] not in "01":
                raise JsonPointerError(f"invalid '~' escape in JSON pointer: {pointer!r}")
            i = raw.find("~", i + 2)
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def resolve(doc: Any, tokens: tuple[str, ...]) -> Any:
    """The value the tokens point at, or ``_MISSING`` (use `lookup` for a None-returning form)."""
    cur = doc
    for tok in tokens:
        if isinstance(cur, dict):
            if tok not in cur:
                return _MISSING
            cur = cur[tok]
        elif isinstance(cur, list):
            # RFC 6901: decimal digits without leading zeros; "-" names the (absent) end element.
            if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
                return _MISSING
            idx = int(tok)
            if idx >= len(cur):
                return _MISSING
            cur = cur[idx]
        else:
            return _MISSING
    return cur


_POINTERS: dict[str, tuple[str, ...] | None] = {}


def _tokens(pointer: str) -> tuple[str, ...] | None:
    """Parsed pointer, cached: rules name a few pointers and ask for them on every event."""
    try:
        return _POINTERS[pointer]
    except KeyError:
        pass
    try:
        tokens: tuple[str, ...] | None = tuple(parse_pointer(pointer))
    except JsonPointerError:
        tokens = None
    if len(_POINTERS) < 4096:  # pointers come from rules, but `json.value[...]` args could be many
        _POINTERS[pointer] = tokens
    return tokens


def lookup(doc: Any, pointer: str) -> tuple[bool, Any]:
    """``(found, value)`` for a pointer; an invalid pointer is simply not found (prints <NA>)."""
    tokens = _tokens(pointer)
    if tokens is None:
        return False, None
    val = resolve(doc, tokens)
    if val is _MISSING:
        return False, None
    return True, val


def to_text(value: Any) -> str:
    """Render a JSON value the way Falco's extractors do: strings bare, the rest compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pointer_text(doc: Any, pointer: str) -> str | None:
    """`json.value[pointer]`: the text of the pointed-at value, or None when absent."""
    found, val = lookup(doc, pointer)
    return to_text(val) if found else None
