"""The event sources the detection engine knows: name -> field class and event factory.

One table so the CLI, the rule-test runner and the benchmarks agree on what ``--source`` accepts
and how a parsed JSON object becomes an ``Event``; a new source is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from yamori.detect.fields.interface import Event, FieldClass

__all__ = ["SOURCES", "EventSource", "event_from_json", "field_classes"]


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where a source's field class and event type live (imported on first use)."""

    name: str
    module: str
    field_class: str
    event_class: str

    def fields(self) -> FieldClass:
        cls: type[FieldClass] = getattr(import_module(self.module), self.field_class)
        return cls()

    def event(self, doc: dict[str, Any]) -> Event:
        make: Callable[[dict[str, Any]], Event] = getattr(import_module(self.module), self.event_class)
        return make(doc)


SOURCES: dict[str, EventSource] = {
    src.name: src
    for src in (
        EventSource("k8s_audit", "yamori.detect.fields.k8s_audit", "K8sAuditFields", "K8sAuditEvent"),
        EventSource(
            "aws_cloudtrail", "yamori.detect.fields.cloudtrail", "CloudTrailFields", "CloudTrailEvent"
        ),
        EventSource("syscall", "yamori.detect.fields.syscall", "SyscallFields", "SyscallEvent"),
    )
}


def field_classes(names: Any = None) -> dict[str, FieldClass]:
    """Field classes of the named sources (every known source by default)."""
    wanted = SOURCES if names is None else {n: SOURCES[n] for n in names}
    return {name: src.fields() for name, src in wanted.items()}


def event_from_json(source: str, doc: dict[str, Any]) -> Event:
    """An event of ``source`` from its parsed JSON object (KeyError for an unknown source)."""
    return SOURCES[source].event(doc)
