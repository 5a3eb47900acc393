"""Merge the items of rules files, in load order, into one RuleSet the way Falco does.

Falco's semantics, which users' local rules files rely on:

- A later definition with the same name replaces the earlier one but keeps its place in the
  order (rules are evaluated in first-definition order).
- ``override: {key: append|replace}`` changes an existing item key by key; the deprecated
  ``append: true`` appends a list's items, a macro's condition, or a rule's condition/exceptions.
  Either one needs an earlier definition to apply to.
- A rule item with only ``enabled`` (deprecated) switches an existing rule on or off.
- Disabled rules stay in the set (marked ``enabled=False``) so a later file can enable them.

Lists and macros are shared across sources; rules are keyed by name alone, and appending to a rule
of another source is an error (Falco would silently pick the wrong one otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from yamori.detect.rules.model import (
    EngineRequirement,
    Level,
    ListItem,
    LoadMessage,
    MacroItem,
    PluginRequirement,
    Position,
    RuleException,
    RuleItem,
    RuleSet,
    RulesFile,
)
from yamori.detect.rules.reader import read_rules_file

# Operators an exception may compare with (any binary condition operator; not the unary exists).
EXCEPTION_COMPS = frozenset(
    {
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "icontains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
        "in",
        "intersects",
        "pmatch",
    }
)


_LIST_COMPS = frozenset({"in", "intersects", "pmatch"})
_MODIFIERS = frozenset({"anyof", "oneof", "allof"})


def valid_exception_comp(comp: str) -> bool:
    """An operator, or (Falco 0.44) a comparison operator with a list modifier: ``startswith anyof``."""
    if comp in EXCEPTION_COMPS:
        return True
    op, _, modifier = comp.partition(" ")
    return modifier.strip() in _MODIFIERS and op in EXCEPTION_COMPS and op not in _LIST_COMPS


def _join(before: str, after: str) -> str:
    """Falco joins appended condition/output/desc text with one space."""
    return f"{before} {after}" if before else after


class _Collector:
    def __init__(self) -> None:
        self.lists: dict[str, ListItem] = {}
        self.macros: dict[str, MacroItem] = {}
        self.rules: dict[str, RuleItem] = {}
        self.messages: list[LoadMessage] = []
        self.plugins: list[PluginRequirement] = []

    def error(self, pos: Position, text: str, item: str | None, code: str = "LOAD_ERR_VALIDATE") -> None:
        self.messages.append(LoadMessage(Level.ERROR, pos.file, pos.line, pos.column, code, text, item))

    def add(self, item: ListItem | MacroItem | RuleItem | PluginRequirement | EngineRequirement) -> None:
        if isinstance(item, ListItem):
            self._list(item)
        elif isinstance(item, MacroItem):
            self._macro(item)
        elif isinstance(item, RuleItem):
            self._rule(item)
        elif isinstance(item, PluginRequirement):
            self.plugins.append(item)
        # EngineRequirement was already checked by the reader; nothing to merge.

    def _list(self, item: ListItem) -> None:
        if not (item.append or item.override.get("items") == "append"):
            # A list has only items, so 'replace' is a plain (re)definition, as in Falco.
            self.lists[item.name] = replace(item, append=False, override={})
            return
        old = self.lists.get(item.name)
        if old is None:
            self.error(item.position, f"list '{item.name}' is appended to but not defined", item.name)
            return
        old.items = [*old.items, *item.items]

    def _macro(self, item: MacroItem) -> None:
        if not (item.append or item.override.get("condition") == "append"):
            # A macro has only a condition, so 'replace' is a plain (re)definition, as in Falco.
            self.macros[item.name] = replace(item, append=False, override={})
            return
        old = self.macros.get(item.name)
        if old is None:
            self.error(item.position, f"macro '{item.name}' is appended to but not defined", item.name)
            return
        old.condition = _join(old.condition, item.condition)

    def _rule(self, item: RuleItem) -> None:
        old = self.rules.get(item.name)
        given = item.keys - {"rule", "override", "append", "source"}
        core = {"condition", "output", "desc", "priority"}
        is_enable_only = not item.append and not item.override and not item.keys & core
        if not item.append and not item.override and not is_enable_only:
            if self._exceptions_ok(item, item.exceptions, None):
                self.rules[item.name] = replace(item, append=False, override={}, keys=frozenset())
            return
        if old is None:
            what = "enabled" if is_enable_only else "appended to or overridden"
            self.error(item.position, f"rule '{item.name}' is {what} but not defined", item.name)
            return
        if "source" in item.keys and item.source != old.source:
            self.error(
                item.position,
                f"rule '{item.name}' has source '{old.source}', not '{item.source}'",
                item.name,
            )
            return
        if is_enable_only:
            old.enabled = item.enabled
            return
        modes = (
            {key: "append" for key in given & {"condition", "exceptions"}} if item.append else item.override
        )
        merged = replace(old, tags=list(old.tags), exceptions=list(old.exceptions))
        for key, mode in modes.items():
            if not self._apply(merged, item, key, mode):
                return
        self.rules[item.name] = merged

    def _apply(self, rule: RuleItem, item: RuleItem, key: str, mode: str) -> bool:
        """Apply one overridden key; False (with an error recorded) if the result is invalid."""
        append = mode == "append"
        if key == "condition":
            rule.condition = _join(rule.condition, item.condition) if append else item.condition
        elif key == "output":
            rule.output = _join(rule.output, item.output) if append else item.output
        elif key == "desc":
            rule.desc = _join(rule.desc, item.desc) if append else item.desc
        elif key == "tags":
            base = rule.tags if append else []
            rule.tags = [*base, *(tag for tag in item.tags if tag not in base)]
        elif key == "exceptions":
            merged = self._merge_exceptions(rule, item) if append else item.exceptions
            if merged is None or not self._exceptions_ok(item, merged, rule.name):
                return False
            rule.exceptions = merged
        elif key == "priority":
            rule.priority = item.priority
        elif key == "enabled":
            rule.enabled = item.enabled
        elif key == "warn_evttypes":
            rule.warn_evttypes = item.warn_evttypes
        elif key == "skip-if-unknown-filter":
            rule.skip_if_unknown_filter = item.skip_if_unknown_filter
        elif key == "capture":
            rule.capture = item.capture
        elif key == "capture_duration":
            rule.capture_duration = item.capture_duration
        return True

    def _merge_exceptions(self, rule: RuleItem, item: RuleItem) -> list[RuleException] | None:
        """Appending an exception with an existing name adds values; a new name adds it whole."""
        out = [replace(exc, values=list(exc.values)) for exc in rule.exceptions]
        by_name = {exc.name: exc for exc in out}
        for exc in item.exceptions:
            existing = by_name.get(exc.name)
            if existing is None:
                out.append(exc)
                by_name[exc.name] = exc
                continue
            if exc.fields is not None or exc.comps is not None:
                self.error(
                    exc.position,
                    f"appended exception '{exc.name}' may only add values; it already has fields/comps",
                    item.name,
                )
                return None
            existing.values = [*existing.values, *exc.values]
        return out

    def _exceptions_ok(self, item: RuleItem, exceptions: list[RuleException], _: str | None) -> bool:
        """Check shapes and fill default comps, so the compiler gets complete exceptions."""
        for exc in exceptions:
            problem = _exception_problem(exc)
            if problem is not None:
                self.error(exc.position, f"exception '{exc.name}': {problem}", item.name)
                return False
        return True

    def result(self) -> RuleSet:
        return RuleSet(self.lists, self.macros, self.rules, self.messages, self.plugins)


def _exception_problem(exc: RuleException) -> str | None:
    """Validate one exception in place (filling default comps); return a problem or None."""
    if exc.fields is None:
        return "no 'fields'"
    if isinstance(exc.fields, str):
        if exc.comps is None:
            exc.comps = "in"
        if not isinstance(exc.comps, str):
            return "'comps' must be one operator when 'fields' is one field"
        if not valid_exception_comp(exc.comps):
            return f"unknown comparison operator '{exc.comps}'"
        for value in exc.values:
            if not isinstance(value, str):
                return "with one field, 'values' must be a flat list of strings"
        return None
    if not exc.fields:
        return "'fields' is empty"
    if exc.comps is None:
        exc.comps = ["="] * len(exc.fields)
    if isinstance(exc.comps, str):
        return "'comps' must be a list when 'fields' is a list"
    if len(exc.comps) != len(exc.fields):
        return f"'fields' has {len(exc.fields)} entries but 'comps' has {len(exc.comps)}"
    for comp in exc.comps:
        if not valid_exception_comp(comp):
            return f"unknown comparison operator '{comp}'"
    for row in exc.values:
        if not isinstance(row, list):
            return f"with a list of fields, each value must be a list, not '{row}'"
        if len(row) != len(exc.fields):
            return f"value {row} has {len(row)} entries but there are {len(exc.fields)} fields"
    return None


def collect(files: Iterable[RulesFile]) -> RuleSet:
    """Merge already-read files in the order given; reader messages come first per file."""
    collector = _Collector()
    for rules_file in files:
        collector.messages.extend(rules_file.messages)
        for item in rules_file.items:
            collector.add(item)
    return collector.result()


def load_rules_files(paths: Iterable[str | Path]) -> RuleSet:
    """Read and merge rules files in load order (the order Falco's ``-r`` flags would give)."""
    return collect(read_rules_file(path) for path in paths)
