"""Run compiled rules over events: index by source and event type, match, make alerts.

Falco's order, which ``rule_matching: first`` depends on: for an event of type T, the rules
indexed under T, then the rules that apply to every type, each group in load order. Only rules of
the event's source are considered. When the source's fields include ``evt.type`` (syscalls),
rules are narrowed by their event-type set; other sources have one bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from yamori.detect.compiler import CompiledRule, CompiledRules
from yamori.detect.fields.interface import Event
from yamori.detect.output import Alert

__all__ = ["Engine", "RuleMatching"]

RuleMatching = Literal["first", "all"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _SourceIndex:
    """Rules of one source: per named event type, and the rest (any type, or "all but ...")."""

    by_type: dict[str, list[CompiledRule]] = field(default_factory=dict)
    any_type: list[CompiledRule] = field(default_factory=list)
    typed: bool = False
    cache: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)

    def candidates(self, evt_type: str | None) -> tuple[CompiledRule, ...]:
        """Rules that can match an event of ``evt_type`` (cached per type: no per-event sorting)."""
        key = evt_type if evt_type is not None else ""
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if evt_type is None:
            # No type known: every rule of the source, in load order.
            rules = sorted(
                {id(r): r for r in [*self.any_type, *(r for v in self.by_type.values() for r in v)]}.values(),
                key=lambda r: r.order,
            )
        else:
            rules = [
                *self.by_type.get(evt_type, []),
                *(r for r in self.any_type if r.evttypes.matches(evt_type)),
            ]
        result = tuple(rules)
        if len(self.cache) < 4096:  # bounded: event types are few, but inputs are untrusted
            self.cache[key] = result
        return result


class Engine:
    """Match events against compiled rules (``rule_matching``: ``first`` or ``all``)."""

    def __init__(
        self, compiled: CompiledRules | Iterable[CompiledRule], rule_matching: RuleMatching = "first"
    ) -> None:
        if rule_matching not in ("first", "all"):
            raise ValueError(f"rule_matching must be 'first' or 'all', not {rule_matching!r}")
        self.rule_matching = rule_matching
        rules = compiled.rules if isinstance(compiled, CompiledRules) else list(compiled)
        classes = compiled.field_classes if isinstance(compiled, CompiledRules) else {}
        self._known = {src: cls.fields() for src, cls in classes.items()}
        self._index: dict[str, _SourceIndex] = {}
        self.errors = 0  # rule evaluations that raised (counted, never propagated)
        for rule in sorted(rules, key=lambda r: r.order):
            idx = self._index.setdefault(rule.source, _SourceIndex())
            if src_fields := self._known.get(rule.source):
                idx.typed = "evt.type" in src_fields
            types = rule.evttypes
            if types.negated:
                idx.any_type.append(rule)
            else:
                for name in sorted(types.names):
                    idx.by_type.setdefault(name, []).append(rule)

    @property
    def sources(self) -> set[str]:
        return set(self._index)

    def process(self, event: Event) -> list[Alert]:
        """Alerts for one event; a rule that raises is counted and treated as not matching."""
        idx = self._index.get(event.source)
        if idx is None:
            return []
        evt_type: str | None = None
        if idx.typed:
            try:
                raw = event.value("evt.type")
            except KeyError:
                raw = None
            evt_type = raw if isinstance(raw, str) else None
        alerts: list[Alert] = []
        for rule in idx.candidates(evt_type):
            try:
                matched = rule.evaluate(event)
            except Exception:  # a field extractor bug must not stop the stream
                self.errors += 1
                log.debug("rule %r raised on an event", rule.name, exc_info=True)
                continue
            if not matched:
                continue
            alerts.append(self._alert(rule, event))
            if self.rule_matching == "first":
                break
        return alerts

    def _alert(self, rule: CompiledRule, event: Event) -> Alert:
        text, values = rule.output.render(event, self._known.get(rule.source))
        return Alert(
            rule=rule.name,
            priority=rule.priority.label,
            source=rule.source,
            output=text,
            output_fields=values,
            tags=rule.tags,
            time=event.time_ns(),
        )
