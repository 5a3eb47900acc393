"""`JsonEvent`: the shared shape of events that are one parsed JSON document (a Kubernetes audit
event, a CloudTrail record) — the document, its original text for `*.obj` fields, and an event
time parsed once from the first timestamp key that holds one."""

from __future__ import annotations

from typing import Any, ClassVar

from yamori.detect.fields._time import parse_rfc3339_ns
from yamori.detect.fields.interface import Event


class JsonEvent(Event):
    # Keys tried in order for the event time (RFC 3339 strings).
    time_keys: ClassVar[tuple[str, ...]] = ()
    __slots__ = ("_doc", "_raw", "_ts")

    def __init__(self, doc: dict[str, Any], *, raw: str | None = None) -> None:
        self.memo = {}
        self._doc = doc
        self._raw = raw
        self._ts: int | None = None

    @property
    def doc(self) -> dict[str, Any]:
        return self._doc

    def set_time_ns(self, ns: int) -> None:
        """Give the event time when the reader has already parsed it (not parsed twice)."""
        self._ts = ns

    def time_ns(self) -> int:
        if self._ts is None:
            found = None
            for key in self.time_keys:
                text = self._doc.get(key)
                if isinstance(text, str):
                    found = parse_rfc3339_ns(text)
                    if found is not None:
                        break
            self._ts = found if found is not None else 0
        return self._ts
