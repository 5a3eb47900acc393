"""Run compiled rules over events: index by source and field values, match, make alerts.

Falco's order, which ``rule_matching: first`` depends on: for a syscall of type T, the rules
indexed under T, then the rules that apply to every type, each group in load order; for plugin
sources (k8s_audit, aws_cloudtrail) every rule in load order. Only rules of the event's source
are considered.

Each source names its index fields (``FieldClass.index_fields``: ``evt.type``; ``ka.verb`` and
``ka.target.resource``; ``ct.name`` and ``ct.src``). The compiler gave every rule the set of
values of each index field it can match; an event meets only the rules whose sets admit its
values, computed once per distinct combination and cached — so a ``get`` of a lease never runs
the rules about pod creation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from yamori.detect.compiler import CompiledRule, CompiledRules
from yamori.detect.fields.interface import Event, cached_value
from yamori.detect.output import Alert

__all__ = ["Engine", "RuleMatching"]

RuleMatching = Literal["first", "all"]

log = logging.getLogger(__name__)

_CACHE_LIMIT = 4096  # distinct index-value combinations kept (inputs are untrusted)

IndexKey = tuple[str | None, ...]


@dataclass(slots=True)
class _SourceIndex:
    """Rules of one source, in load order, and the candidates per combination of index values."""

    fields: tuple[str, ...]
    rules: list[CompiledRule] = field(default_factory=list)
    cache: dict[IndexKey, tuple[CompiledRule, ...]] = field(default_factory=dict)

    def key(self, event: Event) -> IndexKey:
        """The event's index values, kept in its memo (the rules read the same fields next)."""
        values: list[str | None] = []
        for name in self.fields:
            try:
                raw = cached_value(event, name)
            except KeyError:
                raw = None
            values.append(raw if isinstance(raw, str) else None)
        return tuple(values)

    def candidates(self, key: IndexKey) -> tuple[CompiledRule, ...]:
        """Rules that can match an event with these index values (None: not narrowed)."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        rules = [
            rule
            for rule in self.rules
            if all(v is None or s.matches(v) for s, v in zip(rule.index_sets, key, strict=False))
        ]
        if self.fields[:1] == ("evt.type",) and key[0] is not None:
            # Falco: the rules indexed under this type first, then those for any type.
            rules.sort(key=lambda r: (bool(r.index_sets) and r.index_sets[0].negated, r.order))
        result = tuple(rules)
        if len(self.cache) < _CACHE_LIMIT:
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
            idx = self._index.get(rule.source)
            if idx is None:
                cls = classes.get(rule.source)
                fields = cls.index_fields if cls is not None else ()
                idx = self._index[rule.source] = _SourceIndex(fields[: len(rule.index_sets)])
            idx.rules.append(rule)

    @property
    def sources(self) -> set[str]:
        return set(self._index)

    def process(self, event: Event) -> list[Alert]:
        """Alerts for one event; a rule that raises is counted and treated as not matching."""
        idx = self._index.get(event.source)
        if idx is None:
            return []
        alerts: list[Alert] = []
        for rule in idx.candidates(idx.key(event) if idx.fields else ()):
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
