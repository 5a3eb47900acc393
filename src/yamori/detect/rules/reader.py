"""Read one Falco rules file into typed items, strictly, with file:line on every message.

Why a node walk instead of ``yaml.safe_load``: we need the line of every item and key, the raw
text of scalars (Falco treats list items such as ``80`` or ``yes`` as the strings written, not as
numbers or booleans), and duplicate keys reported instead of silently keeping the last one. The C
composer gives us marked nodes cheaply; we convert them ourselves.

The reader judges each item on its own (keys, types, required keys, override syntax). Whether an
append or override has something to apply to is the collector's business, since that depends on
what earlier files defined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import yaml

from yamori.detect.rules.model import (
    ENGINE_VERSION,
    NATIVE_PLUGINS,
    EngineRequirement,
    ExceptionValue,
    Item,
    Level,
    ListItem,
    LoadMessage,
    MacroItem,
    PluginRequirement,
    Position,
    Priority,
    RuleException,
    RuleItem,
    RulesFile,
)

# Falco's shipped rules files are under 100 KB; 16 MiB leaves room for generated files while a
# runaway or hostile file (say 100 MB) gets a clear error instead of eating memory and time.
MAX_FILE_BYTES = 16 * 1024 * 1024
# Deeper nesting than this is never a real rules file; stop before Python's recursion limit.
MAX_DEPTH = 64

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_STR = "tag:yaml.org,2002:str"

RULE_KEYS = frozenset(
    {
        "rule",
        "desc",
        "condition",
        "output",
        "priority",
        "enabled",
        "tags",
        "source",
        "exceptions",
        "override",
        "append",
        "warn_evttypes",
        "skip-if-unknown-filter",
        "capture",
        "capture_duration",
    }
)
MACRO_KEYS = frozenset({"macro", "condition", "override", "append"})
LIST_KEYS = frozenset({"list", "items", "override", "append"})
EXCEPTION_KEYS = frozenset({"name", "fields", "comps", "values"})
PLUGIN_KEYS = frozenset({"name", "version", "alternatives"})
ALTERNATIVE_KEYS = frozenset({"name", "version"})

# Which keys ``override`` may name, per item kind and mode (Falco's rule_loader semantics).
RULE_OVERRIDE: dict[str, frozenset[str]] = {
    "append": frozenset({"condition", "output", "desc", "tags", "exceptions"}),
    "replace": frozenset(
        {
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
            "warn_evttypes",
            "capture",
            "capture_duration",
            "skip-if-unknown-filter",
        }
    ),
}
MACRO_OVERRIDE: dict[str, frozenset[str]] = {
    "append": frozenset({"condition"}),
    "replace": frozenset({"condition"}),
}
LIST_OVERRIDE: dict[str, frozenset[str]] = {
    "append": frozenset({"items"}),
    "replace": frozenset({"items"}),
}
# With the deprecated ``append: true`` a rule may only add condition text and exceptions.
RULE_APPEND_KEYS = frozenset({"rule", "append", "condition", "exceptions", "source"})
REQUIRED_RULE_KEYS = ("condition", "output", "desc", "priority")

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# Falco's name rules: a macro name is an identifier (it appears bare in conditions); a list name is
# anything that could be a bare value inside ``(...)`` in a condition.
_MACRO_NAME = re.compile(r"^[A-Za-z]+[A-Za-z0-9_]*$")
_LIST_NAME = re.compile(r"""^[^()"'\s=,]+$""")


@dataclass(slots=True)
class _Scalar:
    text: str
    tag: str
    pos: Position


@dataclass(slots=True)
class _Map:
    entries: dict[str, tuple[Position, _Node]]
    pos: Position


@dataclass(slots=True)
class _Seq:
    items: list[_Node]
    pos: Position


_Node: TypeAlias = "_Scalar | _Map | _Seq"


class _ItemError(Exception):
    """Raised inside one item's validation; the item is dropped and the message recorded."""

    def __init__(self, pos: Position, text: str, code: str = "LOAD_ERR_YAML_VALIDATE") -> None:
        super().__init__(text)
        self.pos = pos
        self.text = text
        self.code = code


def _pos(path: str, mark: yaml.Mark | None) -> Position:
    if mark is None:
        return Position(path, 1, 1)
    return Position(path, mark.line + 1, mark.column + 1)


def _message(level: Level, pos: Position, code: str, text: str, item: str | None = None) -> LoadMessage:
    return LoadMessage(level, pos.file, pos.line, pos.column, code, text, item)


class _Converter:
    """Turns composed YAML nodes into _Scalar/_Map/_Seq, collecting duplicate-key errors."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[_ItemError] = []
        self._memo: dict[int, _Node] = {}
        self._active: set[int] = set()

    def convert(self, node: yaml.Node, depth: int = 0) -> _Node:
        pos = _pos(self.path, node.start_mark)
        if depth > MAX_DEPTH:
            raise _ItemError(pos, f"nesting deeper than {MAX_DEPTH} levels")
        key = id(node)
        if key in self._memo:  # an alias: share the converted value (no billion-laughs blowup)
            return self._memo[key]
        if key in self._active:
            raise _ItemError(pos, "recursive YAML alias")
        self._active.add(key)
        try:
            out: _Node
            if isinstance(node, yaml.ScalarNode):
                out = _Scalar(str(node.value), str(node.tag), pos)
            elif isinstance(node, yaml.SequenceNode):
                out = _Seq([self.convert(child, depth + 1) for child in node.value], pos)
            elif isinstance(node, yaml.MappingNode):
                entries: dict[str, tuple[Position, _Node]] = {}
                for key_node, value_node in node.value:
                    key_pos = _pos(self.path, key_node.start_mark)
                    if not isinstance(key_node, yaml.ScalarNode):
                        raise _ItemError(key_pos, "mapping key must be a plain string")
                    name = str(key_node.value)
                    if name in entries:
                        first = entries[name][0]
                        self.errors.append(
                            _ItemError(key_pos, f"duplicate key '{name}' (first at line {first.line})")
                        )
                    entries[name] = (key_pos, self.convert(value_node, depth + 1))
                out = _Map(entries, pos)
            else:  # pragma: no cover - PyYAML has no other node kinds
                raise _ItemError(pos, f"unsupported YAML node {type(node).__name__}")
        finally:
            self._active.discard(key)
        self._memo[key] = out
        return out


# --- typed accessors: each raises _ItemError pointing at the offending value -------------------


def _describe(node: _Node) -> str:
    if isinstance(node, _Map):
        return "a mapping"
    if isinstance(node, _Seq):
        return "a list"
    return "null" if node.tag == _TAG_NULL else f"'{node.text}'"


def _as_str(node: _Node, what: str, *, allow_empty: bool = True) -> str:
    """Raw scalar text: Falco reads these as strings whatever YAML would resolve them to."""
    if not isinstance(node, _Scalar):
        raise _ItemError(node.pos, f"{what} must be a string, not {_describe(node)}")
    text = "" if node.tag == _TAG_NULL else node.text
    if not allow_empty and not text.strip():
        raise _ItemError(node.pos, f"{what} must not be empty")
    return text


def _as_bool(node: _Node, what: str) -> bool:
    if not isinstance(node, _Scalar) or node.tag != _TAG_BOOL:
        raise _ItemError(node.pos, f"{what} must be true or false, not {_describe(node)}")
    return node.text.lower() in ("true", "yes", "on")


def _as_int(node: _Node, what: str) -> int:
    if not isinstance(node, _Scalar) or node.tag != _TAG_INT:
        raise _ItemError(node.pos, f"{what} must be an integer, not {_describe(node)}")
    return int(node.text.replace("_", ""), 0)


def _as_seq(node: _Node, what: str) -> list[_Node]:
    if isinstance(node, _Scalar) and node.tag == _TAG_NULL:
        return []
    if not isinstance(node, _Seq):
        raise _ItemError(node.pos, f"{what} must be a list, not {_describe(node)}")
    return node.items


def _as_str_list(node: _Node, what: str) -> list[str]:
    """A list of strings; bare null entries (a lone ``-``) are skipped as Falco does."""
    out: list[str] = []
    for child in _as_seq(node, what):
        if isinstance(child, _Scalar) and child.tag == _TAG_NULL:
            continue
        out.append(_as_str(child, f"an entry of {what}"))
    return out


def _check_keys(m: _Map, allowed: frozenset[str], kind: str, name: str | None) -> list[LoadMessage]:
    return [
        _message(Level.ERROR, kpos, "LOAD_ERR_YAML_VALIDATE", f"unknown key '{key}' in {kind}", name)
        for key, (kpos, _) in m.entries.items()
        if key not in allowed
    ]


def parse_engine_version(node_text: str, tag: str) -> tuple[int, int, int] | None:
    """``N`` (integer) means 0.N.0, as in Falco before semver engine versions; else ``X.Y.Z``."""
    text = node_text.strip()
    if tag == _TAG_INT or text.isdigit():
        try:
            return (0, int(text, 0), 0)
        except ValueError:
            return None
    match = _SEMVER.match(text)
    if match is None:
        return None
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)))


def _version_str(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


# --- item readers ------------------------------------------------------------------------------


class _ItemReader:
    """Reads the top-level items of one file, appending messages as it goes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.messages: list[LoadMessage] = []

    def warn(self, pos: Position, code: str, text: str, item: str | None = None) -> None:
        self.messages.append(_message(Level.WARNING, pos, code, text, item))

    def read(self, node: _Node) -> list[Item]:
        """One top-level entry to zero or more items (a plugin list gives one per plugin)."""
        if isinstance(node, _Scalar) and node.tag == _TAG_NULL:
            return []  # a bare '-' entry: Falco skips it
        if not isinstance(node, _Map):
            raise _ItemError(node.pos, f"rules file item must be a mapping, not {_describe(node)}")
        readers: dict[str, Callable[[_Map], Sequence[Item]]] = {
            "rule": lambda m: [self._rule(m)],
            "macro": lambda m: [self._macro(m)],
            "list": lambda m: [self._list(m)],
            "required_engine_version": lambda m: [self._engine(m)],
            "required_plugin_versions": self.plugin_list,
        }
        kinds = [kind for kind in readers if kind in node.entries]
        if not kinds:
            keys = ", ".join(node.entries) or "nothing"
            self.warn(node.pos, "LOAD_UNKNOWN_ITEM", f"unknown top-level item (keys: {keys}); skipped")
            return []
        if len(kinds) > 1:
            raise _ItemError(node.pos, f"item has more than one kind: {', '.join(kinds)}")
        return list(readers[kinds[0]](node))

    def _name(self, m: _Map, key: str) -> str:
        return _as_str(m.entries[key][1], f"'{key}' name", allow_empty=False).strip()

    def _strict_keys(self, m: _Map, allowed: frozenset[str], kind: str, name: str | None) -> None:
        unknown = _check_keys(m, allowed, kind, name)
        if unknown:
            self.messages.extend(unknown[:-1])
            last = unknown[-1]
            raise _ItemError(Position(last.file, last.line, last.column), last.text)

    def _override(
        self, m: _Map, allowed: dict[str, frozenset[str]], kind: str, name: str, ignore: frozenset[str]
    ) -> tuple[bool, dict[str, str]]:
        """Read ``append``/``override`` and check they agree with the keys the item gives."""
        append = _as_bool(m.entries["append"][1], "'append'") if "append" in m.entries else False
        override: dict[str, str] = {}
        if "override" in m.entries:
            opos, onode = m.entries["override"]
            if append:
                raise _ItemError(opos, "'override' and 'append: true' cannot be used together")
            if not isinstance(onode, _Map):
                raise _ItemError(onode.pos, f"'override' must be a mapping, not {_describe(onode)}")
            if not onode.entries:
                raise _ItemError(onode.pos, "'override' is empty")
            for key, (kpos, mode_node) in onode.entries.items():
                mode = _as_str(mode_node, f"override mode of '{key}'").strip()
                if mode not in allowed:
                    raise _ItemError(mode_node.pos, f"override mode for '{key}' must be append or replace")
                if key not in allowed[mode]:
                    raise _ItemError(kpos, f"key '{key}' cannot be overridden with {mode} in a {kind}")
                if key not in m.entries:
                    raise _ItemError(kpos, f"override names '{key}' but the {kind} does not give it")
                override[key] = mode
            for key, (kpos, _) in m.entries.items():
                if key not in ignore and key not in ("override", "append") and key not in override:
                    raise _ItemError(kpos, f"key '{key}' has no corresponding entry under 'override'")
        if append:
            self.warn(
                m.entries["append"][0],
                "LOAD_DEPRECATED_ITEM",
                "'append: true' is deprecated; use 'override' instead",
                name,
            )
        return append, override

    def _list(self, m: _Map) -> ListItem:
        name = self._name(m, "list")
        self._strict_keys(m, LIST_KEYS, "list", name)
        append, override = self._override(m, LIST_OVERRIDE, "list", name, frozenset({"list"}))
        if "items" not in m.entries:
            raise _ItemError(m.pos, f"list '{name}' has no 'items'")
        if not _LIST_NAME.match(name):
            raise _ItemError(m.pos, f"invalid list name '{name}': it must be a bare word")
        items = _as_str_list(m.entries["items"][1], "'items'")
        return ListItem(name, items, m.pos, append, override)

    def _macro(self, m: _Map) -> MacroItem:
        name = self._name(m, "macro")
        self._strict_keys(m, MACRO_KEYS, "macro", name)
        append, override = self._override(m, MACRO_OVERRIDE, "macro", name, frozenset({"macro"}))
        if "condition" not in m.entries:
            raise _ItemError(m.pos, f"macro '{name}' has no 'condition'")
        if not _MACRO_NAME.match(name):
            raise _ItemError(m.pos, f"invalid macro name '{name}': it must be an identifier")
        condition = _as_str(m.entries["condition"][1], "'condition'", allow_empty=False)
        return MacroItem(name, condition, m.pos, append, override)

    def _rule(self, m: _Map) -> RuleItem:
        name = self._name(m, "rule")
        self._strict_keys(m, RULE_KEYS, "rule", name)
        append, override = self._override(m, RULE_OVERRIDE, "rule", name, frozenset({"rule", "source"}))
        keys = frozenset(m.entries)
        rule = RuleItem(name, m.pos, append=append, override=override, keys=keys)
        given = keys - {"rule"}
        if append:
            # Falco reads only condition and exceptions from an appended rule; say so rather
            # than silently dropping what the author probably meant to change.
            for key in sorted(keys - RULE_APPEND_KEYS):
                self.warn(
                    m.entries[key][0],
                    "LOAD_IGNORED_KEY",
                    f"key '{key}' is ignored with 'append: true'; use 'override' to change it",
                    name,
                )
            if not given & {"condition", "exceptions"}:
                self.warn(
                    m.pos, "LOAD_APPEND_NO_VALUES", "appended rule gives no condition or exceptions", name
                )
        elif not override and not given & set(REQUIRED_RULE_KEYS):
            # Falco: a rule item with none of condition/output/desc/priority only (en|dis)ables.
            if "enabled" not in m.entries:
                raise _ItemError(m.pos, f"rule '{name}' has no 'condition', 'output', 'desc' or 'priority'")
            self.warn(
                m.pos,
                "LOAD_DEPRECATED_ITEM",
                "a rule item with only 'enabled' is deprecated; use 'override: {enabled: replace}'",
                name,
            )
            for key in sorted(given - {"enabled", "source"}):
                self.warn(
                    m.entries[key][0],
                    "LOAD_IGNORED_KEY",
                    f"key '{key}' is ignored in an enable-only item",
                    name,
                )
        elif not override:
            missing = [key for key in REQUIRED_RULE_KEYS if key not in m.entries]
            if missing:
                raise _ItemError(m.pos, f"rule '{name}' has no {', '.join(repr(k) for k in missing)}")
        self._rule_values(m, rule)
        return rule

    def _rule_values(self, m: _Map, rule: RuleItem) -> None:
        e = m.entries
        if "condition" in e:
            rule.condition = _as_str(e["condition"][1], "'condition'", allow_empty=False)
        if "desc" in e:
            rule.desc = _as_str(e["desc"][1], "'desc'")
        if "output" in e:
            rule.output = _as_str(e["output"][1], "'output'").strip()  # as Falco: no stray newline
        if "priority" in e:
            node = e["priority"][1]
            priority = Priority.parse(_as_str(node, "'priority'"))
            if priority is None:
                names = ", ".join(p.label for p in Priority)
                raise _ItemError(node.pos, f"invalid priority {_describe(node)} (expected one of {names})")
            rule.priority = priority
        if "enabled" in e:
            rule.enabled = _as_bool(e["enabled"][1], "'enabled'")
        if "tags" in e:
            rule.tags = list(dict.fromkeys(_as_str_list(e["tags"][1], "'tags'")))  # a set in Falco
        if "source" in e:
            rule.source = _as_str(e["source"][1], "'source'", allow_empty=False).strip()
        if "warn_evttypes" in e:
            rule.warn_evttypes = _as_bool(e["warn_evttypes"][1], "'warn_evttypes'")
        if "skip-if-unknown-filter" in e:
            rule.skip_if_unknown_filter = _as_bool(e["skip-if-unknown-filter"][1], "'skip-if-unknown-filter'")
        if "capture" in e:
            rule.capture = _as_bool(e["capture"][1], "'capture'")
        if "capture_duration" in e:
            rule.capture_duration = _as_int(e["capture_duration"][1], "'capture_duration'")
        if "exceptions" in e:
            changing = rule.append or bool(rule.override)
            rule.exceptions = [
                self._exception(node, rule.name, changing)
                for node in _as_seq(e["exceptions"][1], "'exceptions'")
            ]
            seen: dict[str, Position] = {}
            for exc in rule.exceptions:
                if exc.name in seen:
                    raise _ItemError(exc.position, f"exception '{exc.name}' is defined twice in this rule")
                seen[exc.name] = exc.position

    def _exception(self, node: _Node, rule: str, changing: bool) -> RuleException:
        if not isinstance(node, _Map):
            raise _ItemError(node.pos, f"an exception must be a mapping, not {_describe(node)}")
        self._strict_keys(node, EXCEPTION_KEYS, "exception", rule)
        if "name" not in node.entries:
            raise _ItemError(node.pos, "exception has no 'name'")
        name = _as_str(node.entries["name"][1], "exception 'name'", allow_empty=False).strip()
        fields: list[str] | str | None = None
        comps: list[str] | str | None = None
        if "fields" in node.entries:
            fields = self._str_or_list(node.entries["fields"][1], "exception 'fields'")
        if "comps" in node.entries:
            comps = self._str_or_list(node.entries["comps"][1], "exception 'comps'")
        values: list[str | list[ExceptionValue]] = []
        if "values" in node.entries:
            for value in _as_seq(node.entries["values"][1], "exception 'values'"):
                if isinstance(value, _Seq):
                    values.append([self._exc_value(v) for v in value.items])
                else:
                    values.append(_as_str(value, "an exception value"))
        elif changing:
            self.warn(
                node.pos,
                "LOAD_APPEND_NO_VALUES",
                f"overriding/appending exception '{name}' with no values",
                rule,
            )
        return RuleException(name, fields, comps, values, node.pos)

    def _exc_value(self, node: _Node) -> ExceptionValue:
        if isinstance(node, _Seq):
            return [_as_str(v, "an exception value") for v in node.items]
        return _as_str(node, "an exception value")

    def _str_or_list(self, node: _Node, what: str) -> list[str] | str:
        if isinstance(node, _Seq):
            return [_as_str(v, f"an entry of {what}", allow_empty=False).strip() for v in node.items]
        return _as_str(node, what, allow_empty=False).strip()

    def _engine(self, m: _Map) -> EngineRequirement:
        self._strict_keys(m, frozenset({"required_engine_version"}), "required_engine_version", None)
        node = m.entries["required_engine_version"][1]
        if not isinstance(node, _Scalar):
            raise _ItemError(node.pos, f"required_engine_version must be a version, not {_describe(node)}")
        version = parse_engine_version(node.text, node.tag)
        if version is None:
            raise _ItemError(node.pos, f"invalid required_engine_version '{node.text}'")
        if version > ENGINE_VERSION:
            raise _ItemError(
                node.pos,
                f"rules require engine version {_version_str(version)}, but yamori implements "
                f"{_version_str(ENGINE_VERSION)}",
                "LOAD_ERR_VALIDATE",
            )
        return EngineRequirement(version, m.pos)

    def plugin_list(self, m: _Map) -> list[PluginRequirement]:
        """Record each requirement; warn for plugins whose fields yamori does not provide."""
        self._strict_keys(m, frozenset({"required_plugin_versions"}), "required_plugin_versions", None)
        out: list[PluginRequirement] = []
        for node in _as_seq(m.entries["required_plugin_versions"][1], "required_plugin_versions"):
            if not isinstance(node, _Map):
                raise _ItemError(node.pos, f"a plugin requirement must be a mapping, not {_describe(node)}")
            self._strict_keys(node, PLUGIN_KEYS, "plugin requirement", None)
            name, version = self._plugin_ref(node)
            alternatives: list[tuple[str, str]] = []
            if "alternatives" in node.entries:
                for alt in _as_seq(node.entries["alternatives"][1], "'alternatives'"):
                    if not isinstance(alt, _Map):
                        raise _ItemError(alt.pos, f"an alternative must be a mapping, not {_describe(alt)}")
                    self._strict_keys(alt, ALTERNATIVE_KEYS, "plugin alternative", None)
                    alternatives.append(self._plugin_ref(alt))
            names = [name, *(alt_name for alt_name, _ in alternatives)]
            if not any(n in NATIVE_PLUGINS for n in names):
                self.warn(
                    node.pos,
                    "LOAD_UNKNOWN_PLUGIN",
                    f"plugin '{name}' (version {version}) is not provided by yamori; rules that use "
                    "its fields will not compile",
                )
            out.append(PluginRequirement(name, version, tuple(alternatives), node.pos))
        return out

    def _plugin_ref(self, m: _Map) -> tuple[str, str]:
        for key in ("name", "version"):
            if key not in m.entries:
                raise _ItemError(m.pos, f"plugin requirement has no '{key}'")
        name = _as_str(m.entries["name"][1], "plugin 'name'", allow_empty=False).strip()
        vnode = m.entries["version"][1]
        version = _as_str(vnode, "plugin 'version'", allow_empty=False).strip()
        if not _SEMVER.match(version):
            raise _ItemError(vnode.pos, f"plugin version '{version}' is not X.Y.Z")
        return name, version


def read_rules_text(text: str | bytes, path: str = "<string>") -> RulesFile:
    """Parse rules-file text; never raises for bad input, every problem becomes a message."""
    messages: list[LoadMessage] = []
    items: list[Item] = []
    roots: list[yaml.Node] = []
    try:
        loader = yaml.CSafeLoader(text)
        try:
            # Several YAML documents in one file are allowed (Falco loads them all, in order).
            while loader.check_node():
                node = loader.get_node()
                if node is not None:
                    roots.append(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        messages.append(
            _message(Level.ERROR, _pos(path, mark), "LOAD_ERR_YAML_PARSE", f"malformed YAML: {detail}")
        )
        return RulesFile(path, items, messages)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        messages.append(
            _message(Level.ERROR, Position(path, 1, 1), "LOAD_ERR_YAML_PARSE", f"malformed YAML: {exc}")
        )
        return RulesFile(path, items, messages)
    reader = _ItemReader(path)
    for root in roots:
        if isinstance(root, yaml.ScalarNode) and root.tag == _TAG_NULL:
            continue  # an empty document holds no items
        if not isinstance(root, yaml.SequenceNode):
            reader.messages.append(
                _message(
                    Level.ERROR,
                    _pos(path, root.start_mark),
                    "LOAD_ERR_YAML_VALIDATE",
                    "rules file content is not a list of items",
                )
            )
            continue
        _read_document(root, reader, items)
    messages.extend(reader.messages)
    return RulesFile(path, items, messages)


def _read_document(root: yaml.SequenceNode, reader: _ItemReader, items: list[Item]) -> None:
    """Read each top-level entry on its own, so one bad item does not hide the others' errors."""
    converter = _Converter(reader.path)
    for child in root.value:
        converter.errors.clear()
        try:
            node = converter.convert(child)
            if converter.errors:
                reader.messages.extend(
                    _message(Level.ERROR, err.pos, err.code, err.text) for err in converter.errors
                )
                continue
            items.extend(reader.read(node))
        except _ItemError as err:
            name = _item_name(child)
            reader.messages.append(_message(Level.ERROR, err.pos, err.code, err.text, name))
            continue


def _item_name(node: yaml.Node) -> str | None:
    """Best-effort name of a raw item, so an error can say which rule/macro/list it is about."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, yaml.ScalarNode)
                and key.value in ("rule", "macro", "list")
                and isinstance(value, yaml.ScalarNode)
            ):
                return str(value.value)
    return None


def read_rules_file(path: str | Path) -> RulesFile:
    """Read a file with a bounded read, so an oversized file is an error, not an OOM."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = _message(
            Level.ERROR, Position(name, 0, 0), "LOAD_ERR_FILE_READ", f"cannot read: {exc.strerror}"
        )
        return RulesFile(name, [], [msg])
    if len(data) > MAX_FILE_BYTES:
        msg = _message(
            Level.ERROR,
            Position(name, 0, 0),
            "LOAD_ERR_FILE_TOO_LARGE",
            f"rules file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refusing to load it",
        )
        return RulesFile(name, [], [msg])
    return read_rules_text(data, name)
