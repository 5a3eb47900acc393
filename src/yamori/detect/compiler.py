"""Compile a loaded ``RuleSet`` into Python predicates, one per rule, checked against fields.

Per enabled rule whose source has a field class:

1. Exceptions become ``and not (...)`` text appended to the condition (Falco does this as text
   too, so list names in exception values resolve like everywhere else).
2. The condition is parsed once; list references are expanded on the AST (lists may name lists;
   a name that is not a defined list is a literal). Items are rendered as Falco would substitute
   them (``quote_value``) and re-read by the real parser, so quoting behaves identically.
3. Macros are substituted on the AST. A rule only sees macros defined before it in load order;
   macros may use each other, and a cycle is a load error.
4. Every field is checked against the source's ``FieldInfo`` (unknown field, argument kind,
   operator/type), and values are converted to the field's type once, here.
5. The AST becomes nested closures ``Callable[[Event], bool]``. A tree deeper than
   ``_CLOSURE_DEPTH`` would nest Python calls too deeply, so such a rule is evaluated by an
   explicit-stack interpreter instead: hostile nesting costs speed, never a ``RecursionError``.

Regex safety: Falco uses RE2 (linear time). Python's ``re`` backtracks, so the compiler refuses
what RE2 would refuse (backreferences, lookaround) and the classic catastrophic shapes: a
quantified group whose body itself contains an unbounded quantifier (``(a+)+``, ``(x*y*)*``,
``(?:a|b+)*``). Remaining risk: alternations of overlapping branches under a quantifier
(``(a|a)*``) are not detected. Matching is ``re.fullmatch`` (RE2 anchored at both ends).

A rule that fails to compile is reported (``LoadMessage`` with the rule's file:line) and skipped;
the other rules still load.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from yamori.detect.condition import (
    And,
    Compare,
    ConditionSyntaxError,
    Exists,
    FieldRef,
    ListRef,
    ListValue,
    Literal,
    MacroRef,
    Node,
    Not,
    Or,
    ValRef,
    parse_condition,
    quote_value,
    referenced_names,
)
from yamori.detect.condition.parser import LIST_MODIFIERS, NUMERIC_OPERATORS, STRING_OPERATORS
from yamori.detect.fields.interface import Either, Event, FieldClass, FieldInfo, FieldType, cached_value
from yamori.detect.output import OutputTemplate, apply_transformers
from yamori.detect.rules.model import Level, LoadMessage, Priority, RuleException, RuleItem, RuleSet

__all__ = [
    "CompileError",
    "CompiledRule",
    "CompiledRules",
    "EvtTypes",
    "compile_ruleset",
    "evttypes_of",
    "field_values_of",
    "fold_condition",
    "unsafe_regex_reason",
]

Predicate = Callable[[Event], bool]
T = TypeVar("T")
Getter = Callable[[Event], Any]

_CLOSURE_DEPTH = 300
"""Deeper trees use the explicit-stack interpreter (Python's default recursion limit is 1000)."""

_MAX_NODES = 1_000_000
"""Macro expansion can blow up exponentially (``m2 = m1 and m1`` ...); refuse past this size."""


class CompileError(Exception):
    """A problem that makes one rule unusable; carries the message code."""

    def __init__(self, text: str, code: str = "LOAD_ERR_COMPILE_CONDITION") -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass(frozen=True, slots=True)
class EvtTypes:
    """The event types a rule can match: ``names``, or (``negated``) every type except ``names``.

    ``EvtTypes(frozenset(), True)`` is "any type". Falco derives this from ``evt.type``
    comparisons only; everything else is "any type".
    """

    names: frozenset[str]
    negated: bool

    @property
    def is_all(self) -> bool:
        return self.negated and not self.names

    def complement(self) -> EvtTypes:
        return EvtTypes(self.names, not self.negated)

    def intersect(self, other: EvtTypes) -> EvtTypes:
        a, b = self, other
        if not a.negated and not b.negated:
            return EvtTypes(a.names & b.names, False)
        if a.negated and b.negated:
            return EvtTypes(a.names | b.names, True)
        pos, neg = (a, b) if not a.negated else (b, a)
        return EvtTypes(pos.names - neg.names, False)

    def union(self, other: EvtTypes) -> EvtTypes:
        return self.complement().intersect(other.complement()).complement()

    def matches(self, evt_type: str) -> bool:
        return (evt_type in self.names) != self.negated


ALL_TYPES = EvtTypes(frozenset(), True)


@dataclass(slots=True)
class CompiledRule:
    """One loaded rule, ready for the engine."""

    name: str
    source: str
    priority: Priority
    output: OutputTemplate
    tags: tuple[str, ...]
    condition: Node
    evaluate: Predicate
    evttypes: EvtTypes
    file: str
    line: int
    order: int  # load order (first-definition order of the rule set)
    # One value set per index field of the rule's source (``FieldClass.index_fields``).
    index_sets: tuple[EvtTypes, ...] = ()


@dataclass(slots=True)
class CompiledRules:
    """The compiler's result: usable rules in load order, and every message (incl. the loader's)."""

    rules: list[CompiledRule]
    messages: list[LoadMessage]
    field_classes: dict[str, FieldClass] = field(default_factory=dict)

    @property
    def errors(self) -> list[LoadMessage]:
        return [m for m in self.messages if m.level is Level.ERROR]

    @property
    def warnings(self) -> list[LoadMessage]:
        return [m for m in self.messages if m.level is Level.WARNING]


# --------------------------------------------------------------------------- iterative tree walks


def _rebuild(root: Node, leaf: Callable[[Node], Node]) -> Node:
    """Post-order rebuild of ``And``/``Or``/``Not`` with ``leaf`` applied to every other node.

    Explicit stack: trees from hostile conditions and expanded macros may be thousands deep.
    """
    out: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if isinstance(node, And | Or):
            if done:
                n = len(node.operands)
                kids = tuple(out[-n:])
                del out[-n:]
                out.append(type(node)(kids))
            else:
                stack.append((node, True))
                stack.extend((k, False) for k in reversed(node.operands))
        elif isinstance(node, Not):
            if done:
                out.append(Not(out.pop()))
            else:
                stack.append((node, True))
                stack.append((node.operand, False))
        else:
            out.append(leaf(node))
    return out[0]


def _depth_and_size(root: Node) -> tuple[int, int]:
    """Depth and node count of a (possibly DAG-shared) tree, counting shared nodes each time."""
    memo: dict[int, tuple[int, int]] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        kids: tuple[Node, ...] = ()
        if isinstance(node, And | Or):
            kids = node.operands
        elif isinstance(node, Not):
            kids = (node.operand,)
        if done or not kids:
            depth = 1 + max((memo[id(k)][0] for k in kids), default=0)
            size = 1 + sum(memo[id(k)][1] for k in kids)
            memo[id(node)] = (depth, min(size, _MAX_NODES + 1))
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in memo)
    return memo[id(root)]


def evttypes_of(root: Node) -> EvtTypes:
    """Event types a condition can match: only ``evt.type`` ``=``/``==``/``!=``/``in`` narrow.

    ``not`` is pushed to the leaves (De Morgan), so ``not evt.type = open`` is "all but open",
    while ``not proc.name = x`` stays "any type".
    """
    return field_values_of(root, "evt.type")


def fold_condition(
    root: Node,
    leaf: Callable[[Node, bool], T],
    both: Callable[[list[T]], T],
    either: Callable[[list[T]], T],
) -> T:
    """Fold a condition bottom-up with ``not`` pushed to the leaves (De Morgan).

    ``leaf(node, negated)`` abstracts a comparison; ``both`` combines the operands of an ``and``
    (an ``or`` under an odd number of ``not``), ``either`` those of an ``or``. An explicit stack:
    expanded macros can nest thousands deep. Serves the engine's index (``field_values_of``) and
    the sensor's kernel prefilter."""
    out: list[T] = []
    stack: list[tuple[Node, bool, bool]] = [(root, False, False)]
    while stack:
        node, negate, done = stack.pop()
        if isinstance(node, And | Or):
            if not done:
                stack.append((node, negate, True))
                stack.extend((k, negate, False) for k in node.operands)
                continue
            n = len(node.operands)
            parts = out[-n:]
            del out[-n:]
            out.append(both(parts) if isinstance(node, And) != negate else either(parts))
        elif isinstance(node, Not):
            stack.append((node.operand, not negate, False))
        else:
            out.append(leaf(node, negate))
    return out[0]


def _all_of(parts: list[EvtTypes]) -> EvtTypes:
    acc = parts[0]
    for p in parts[1:]:
        acc = acc.intersect(p)
    return acc


def _any_of(parts: list[EvtTypes]) -> EvtTypes:
    acc = parts[0]
    for p in parts[1:]:
        acc = acc.union(p)
    return acc


def field_values_of(root: Node, field_name: str) -> EvtTypes:
    """The values of ``field_name`` for which the condition can be true (a superset), computed
    the way Falco computes event types; the engine's index for any string field.

    Sound only for events that have a value for the field: with the field missing, ``not
    (f != x)`` is true although the set is ``{x}``, so the engine does not narrow on a missing
    value.
    """
    return fold_condition(root, lambda node, negate: _leaf_values(node, negate, field_name), _all_of, _any_of)


def _leaf_values(node: Node, negate: bool, field_name: str) -> EvtTypes:
    if (
        not isinstance(node, Compare)
        or node.field.name != field_name
        or node.field.transformers
        or node.field.arg is not None
        or node.modifier is not None
    ):
        return ALL_TYPES
    if node.op in ("=", "==", "!=") and isinstance(node.value, Literal):
        types = EvtTypes(frozenset({node.value.text}), node.op == "!=")
    elif node.op == "in" and isinstance(node.value, ListValue):
        names = frozenset(i.text if isinstance(i, Literal) else i.name for i in node.value.items)
        types = EvtTypes(names, False)
    else:
        return ALL_TYPES
    return types.complement() if negate else types


# --------------------------------------------------------------------------- regex safety

_UNBOUNDED_RE = re.compile(r"\{\d*,\}")


def unsafe_regex_reason(pattern: str) -> str | None:
    """Why ``pattern`` is refused (RE2-unsupported or catastrophic backtracking), or None.

    A small scanner over the pattern: it tracks, per group, whether the group body contains an
    unbounded quantifier, and refuses when such a group is itself quantified.
    """
    i, n = 0, len(pattern)
    # per open group: [has_unbounded_quantifier_inside]
    groups: list[list[bool]] = [[False]]
    last_closed_had_unbounded = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < n and pattern[i + 1].isdigit() and pattern[i + 1] != "0":
                return "backreferences are not supported (RE2 semantics)"
            if i + 1 < n and pattern[i + 1] in "gk":
                return "backreferences are not supported (RE2 semantics)"
            i += 2
            last_closed_had_unbounded = False
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last_closed_had_unbounded = False
            continue
        if ch == "(":
            if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
                return "lookaround assertions are not supported (RE2 semantics)"
            if pattern.startswith("(?P=", i):
                return "backreferences are not supported (RE2 semantics)"
            groups.append([False])
            i += 1
            last_closed_had_unbounded = False
            continue
        if ch == ")":
            if len(groups) > 1:
                inner = groups.pop()[0]
                last_closed_had_unbounded = inner
                if inner:
                    groups[-1][0] = True
            i += 1
            continue
        quant_len = 0
        unbounded = False
        if ch in "*+":
            quant_len, unbounded = 1, True
        elif ch == "?":
            quant_len = 1
        elif ch == "{":
            m = re.compile(r"\{\d*(,\d*)?\}").match(pattern, i)
            if m is not None:
                quant_len = len(m.group())
                unbounded = _UNBOUNDED_RE.fullmatch(m.group()) is not None
                if not unbounded and m.group(1):
                    hi = m.group(1)[1:]
                    unbounded = hi == "" or int(hi) > 1
        if quant_len:
            if last_closed_had_unbounded and (unbounded or ch == "{"):
                return "nested quantifiers (such as '(a+)+') can backtrack catastrophically"
            if unbounded:
                groups[-1][0] = True
            i += quant_len
            if i < n and pattern[i] in "?+":
                i += 1
            last_closed_had_unbounded = False
            continue
        last_closed_had_unbounded = False
        i += 1
    return None


# --------------------------------------------------------------------------- operator semantics

_NUMERIC = frozenset({FieldType.INT, FieldType.UINT})
_STRINGY = frozenset({FieldType.STRING, FieldType.STRINGS, FieldType.IPADDR, FieldType.IPNET})
# Which operators each field type accepts, built from the parser's operator sets so the two can
# never disagree about what an operator is.
_EQUALITY = frozenset({"=", "==", "!="})
_MEMBERSHIP = frozenset({"in", "intersects"})
_ALLOWED_OPS: dict[FieldType, frozenset[str]] = {
    FieldType.STRING: STRING_OPERATORS | _MEMBERSHIP | NUMERIC_OPERATORS,
    FieldType.INT: _EQUALITY | NUMERIC_OPERATORS | _MEMBERSHIP,
    FieldType.UINT: _EQUALITY | NUMERIC_OPERATORS | _MEMBERSHIP,
    FieldType.BOOL: _EQUALITY | _MEMBERSHIP,
    FieldType.IPADDR: _EQUALITY | _MEMBERSHIP,
    FieldType.IPNET: _EQUALITY | _MEMBERSHIP,
    FieldType.BYTES: _EQUALITY
    | frozenset({"bcontains", "bstartswith", "bendswith", "contains", "startswith", "endswith"}),
}
_ALLOWED_OPS[FieldType.STRINGS] = _ALLOWED_OPS[FieldType.STRING]


def _convert(text: str, ftype: FieldType, what: str) -> Any:
    """Convert a literal to the field's type once, at compile time; a bad literal is an error."""
    if ftype in _NUMERIC:
        try:
            return int(text, 0)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise CompileError(f"{what}: '{text}' is not a number") from None
    if ftype is FieldType.BOOL:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        raise CompileError(f"{what}: '{text}' is not a boolean (true/false)")
    return text


def _hex_bytes(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CompileError(f"{what}: '{text}' is not hex bytes") from None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _pmatch_one(path: str, prefix: tuple[str, ...], globbed: bool) -> bool:
    segs = path.split("/")
    if len(segs) < len(prefix):
        return False
    if not globbed:
        return tuple(segs[: len(prefix)]) == prefix
    return all(fnmatch.fnmatchcase(s, p) for s, p in zip(segs, prefix, strict=False))


def _pmatch_prefixes(items: Iterable[str]) -> list[tuple[tuple[str, ...], bool]]:
    out: list[tuple[tuple[str, ...], bool]] = []
    for item in items:
        trimmed = item.rstrip("/") if item != "/" else ""
        out.append((tuple(trimmed.split("/")), any(c in item for c in "*?[")))
    return out


def _scalar_test(op: str, rhs: Any, ftype: FieldType, what: str) -> Callable[[Any], bool]:
    """A test of one (non-list) field value against a constant right-hand side."""
    if op in ("=", "=="):
        if ftype is FieldType.IPADDR:
            addr = _ip(rhs, what)
            return lambda v: _ip_or_none(v) == addr
        if ftype is FieldType.IPNET:
            return _set_test("in", [rhs], ftype, what)
        return lambda v: bool(v == rhs)
    if op == "!=":
        if ftype is FieldType.IPADDR:
            addr = _ip(rhs, what)
            return lambda v: _ip_or_none(v) != addr
        if ftype is FieldType.IPNET:
            member = _set_test("in", [rhs], ftype, what)
            return lambda v: _ip_or_none(v) is not None and not member(v)
        return lambda v: bool(v != rhs)
    if op == "<":
        return lambda v: bool(v < rhs)
    if op == "<=":
        return lambda v: bool(v <= rhs)
    if op == ">":
        return lambda v: bool(v > rhs)
    if op == ">=":
        return lambda v: bool(v >= rhs)
    if op == "contains":
        if ftype is FieldType.BYTES:
            b = _as_bytes(rhs)
            return lambda v: b in _as_bytes(v)
        return lambda v: rhs in str(v)
    if op == "icontains":
        low = str(rhs).lower()
        return lambda v: low in str(v).lower()
    if op == "startswith":
        return lambda v: str(v).startswith(rhs)
    if op == "endswith":
        return lambda v: str(v).endswith(rhs)
    if op in ("bcontains", "bstartswith", "bendswith"):
        needle = _hex_bytes(str(rhs), what)
        if op == "bcontains":
            return lambda v: needle in _as_bytes(v)
        if op == "bstartswith":
            return lambda v: _as_bytes(v).startswith(needle)
        return lambda v: _as_bytes(v).endswith(needle)
    if op == "glob":
        rx = re.compile(fnmatch.translate(str(rhs)), re.DOTALL)
        return lambda v: rx.match(str(v)) is not None
    if op == "iglob":
        rx = re.compile(fnmatch.translate(str(rhs).lower()), re.DOTALL)
        return lambda v: rx.match(str(v).lower()) is not None
    if op == "regex":
        reason = unsafe_regex_reason(str(rhs))
        if reason is not None:
            raise CompileError(f"{what}: regex '{rhs}' refused: {reason}")
        try:
            crx = re.compile(str(rhs))
        except re.error as exc:
            raise CompileError(f"{what}: invalid regex '{rhs}': {exc}") from None
        return lambda v: crx.fullmatch(str(v)) is not None
    if op == "pmatch":
        return _set_test("pmatch", [str(rhs)], ftype, what)
    raise CompileError(f"{what}: operator '{op}' is not supported here")


def _ip(text: Any, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise CompileError(f"{what}: '{text}' is not an IP address") from None


def _ip_or_none(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _set_test(op: str, items: Sequence[Any], ftype: FieldType, what: str) -> Callable[[Any], bool]:
    """Membership of one scalar value: ``in``/``intersects`` (same for scalars) and ``pmatch``."""
    if op == "pmatch":
        prefixes = _pmatch_prefixes(str(i) for i in items)
        return lambda v: any(_pmatch_one(str(v), p, g) for p, g in prefixes)
    if ftype in (FieldType.IPADDR, FieldType.IPNET):
        nets = []
        for item in items:
            try:
                nets.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                raise CompileError(f"{what}: '{item}' is not an IP address or network") from None

        def in_nets(v: Any) -> bool:
            addr = _ip_or_none(v)
            return addr is not None and any(addr in net for net in nets)

        return in_nets
    members = frozenset(items)
    return lambda v: v in members


# --------------------------------------------------------------------------- the compiler


@dataclass(slots=True)
class _MacroEntry:
    node: Node | None
    uses: frozenset[str]  # every macro reached, transitively (for visibility checks)
    error: str | None


class _Compiler:
    def __init__(self, ruleset: RuleSet, field_classes: Mapping[str, FieldClass]) -> None:
        self.ruleset = ruleset
        self.field_classes = field_classes
        self.fields_by_source = {src: cls.fields() for src, cls in field_classes.items()}
        self.messages: list[LoadMessage] = []
        self.list_cache: dict[str, tuple[Literal, ...]] = {}
        self.macro_cache: dict[str, _MacroEntry] = {}
        self.parsed: dict[str, Node] = {}
        self.order = _load_order(ruleset)

    # ---- lists

    def expand_list(self, name: str, seen: frozenset[str] = frozenset()) -> tuple[Literal, ...]:
        """A defined list's items, with items naming other lists expanded (cycles stop)."""
        cached = self.list_cache.get(name)
        if cached is not None:
            return cached
        item = self.ruleset.lists[name]
        rendered = [_render_list_item(text) for text in item.items]
        parsed: tuple[Any, ...] = ()
        if rendered:
            try:
                node = parse_condition("a.b in (" + ", ".join(rendered) + ")")
            except ConditionSyntaxError as exc:
                raise CompileError(f"list '{name}' does not form a valid list: {exc}") from None
            assert isinstance(node, Compare) and isinstance(node.value, ListValue)
            parsed = node.value.items
        out: list[Literal] = []
        for entry in parsed:
            if isinstance(entry, ListRef):
                if entry.name in self.ruleset.lists and entry.name not in seen and entry.name != name:
                    out.extend(self.expand_list(entry.name, seen | {name}))
                else:
                    out.append(Literal(entry.name))
            else:
                out.append(entry)
        result = tuple(out)
        self.list_cache[name] = result
        return result

    def resolve_lists(self, node: Node) -> Node:
        def leaf(n: Node) -> Node:
            if isinstance(n, Compare) and isinstance(n.value, ListValue):
                items: list[Literal | ListRef] = []
                for entry in n.value.items:
                    if isinstance(entry, ListRef):
                        if entry.name in self.ruleset.lists:
                            items.extend(self.expand_list(entry.name))
                        else:
                            items.append(Literal(entry.name))
                    else:
                        items.append(entry)
                return Compare(n.field, n.op, ListValue(tuple(items)), n.modifier)
            return n

        return _rebuild(node, leaf)

    # ---- macros

    def ensure_macros(self, roots: Iterable[str]) -> None:
        """Resolve ``roots`` and every macro they use, dependencies first, without recursion.

        Depth-first with an explicit stack: macro chains thousands long are fine, and a macro met
        again while still on the current path is a cycle (an error for every macro on it).
        """
        stack: list[tuple[str, bool]] = [(r, False) for r in roots]
        path: list[str] = []
        while stack:
            name, expanded = stack.pop()
            if name in self.macro_cache:
                continue
            if expanded:
                self._finish_macro(name)
                path.pop()
                continue
            if name not in self.ruleset.macros:
                continue  # reported by the user of the name
            try:
                node = self.resolve_lists(parse_condition(self.ruleset.macros[name].condition))
            except ConditionSyntaxError as exc:
                self.macro_cache[name] = _MacroEntry(
                    None, frozenset(), f"macro '{name}' has a syntax error: {exc}"
                )
                continue
            self.parsed[name] = node
            path.append(name)
            stack.append((name, True))
            for dep in sorted(referenced_names(node)[0]):
                if dep in path:
                    cycle = path[path.index(dep) :]
                    text = "macro cycle: " + " -> ".join((*cycle, dep))
                    for member in cycle:
                        self.macro_cache[member] = _MacroEntry(None, frozenset(), text)
                    raise CompileError(text)
                if dep not in self.macro_cache:
                    stack.append((dep, False))

    def _finish_macro(self, name: str) -> None:
        uses: set[str] = set()
        errors: list[str] = []

        def leaf(n: Node) -> Node:
            if not isinstance(n, MacroRef):
                return n
            entry = self.macro_cache.get(n.name)
            if entry is None:
                errors.append(f"undefined macro '{n.name}' (used by macro '{name}')")
                return n
            if entry.error is not None:
                errors.append(entry.error)
                return n
            assert entry.node is not None
            uses.add(n.name)
            uses.update(entry.uses)
            return entry.node

        node = _rebuild(self.parsed.pop(name), leaf)
        if errors:
            self.macro_cache[name] = _MacroEntry(None, frozenset(), errors[0])
        else:
            self.macro_cache[name] = _MacroEntry(node, frozenset(uses), None)

    def resolve_macros(self, node: Node) -> tuple[Node, set[str]]:
        """Substitute the (already resolved) macros a rule names; report the first problem."""
        names = referenced_names(node)[0]
        for name in sorted(names):
            if name not in self.ruleset.macros:
                raise CompileError(f"undefined macro '{name}'")
        self.ensure_macros(names)
        uses: set[str] = set()

        def leaf(n: Node) -> Node:
            if not isinstance(n, MacroRef):
                return n
            entry = self.macro_cache[n.name]
            if entry.error is not None:
                raise CompileError(entry.error)
            assert entry.node is not None
            uses.add(n.name)
            uses.update(entry.uses)
            return entry.node

        return _rebuild(node, leaf), uses

    # ---- rules

    def compile_all(self) -> list[CompiledRule]:
        out: list[CompiledRule] = []
        for index, rule in enumerate(self.ruleset.rules.values()):
            if not rule.enabled or rule.source not in self.field_classes:
                continue
            try:
                out.append(self.compile_rule(rule, index))
            except CompileError as exc:
                self.error(rule, exc.code, exc.text)
        return out

    def error(self, rule: RuleItem, code: str, text: str, level: Level = Level.ERROR) -> None:
        pos = rule.position
        self.messages.append(LoadMessage(level, pos.file, pos.line, pos.column, code, text, rule.name))

    def compile_rule(self, rule: RuleItem, index: int) -> CompiledRule:
        text = rule.condition
        exc_text = " ".join(f"and not ({t})" for t in (_exception_text(e) for e in rule.exceptions) if t)
        if exc_text:
            text = f"({text}) {exc_text}"
        try:
            node = self.resolve_lists(parse_condition(text))
        except ConditionSyntaxError as exc:
            raise CompileError(f"condition syntax error: {exc}") from None
        # A rule sees every loaded macro, wherever it is defined: Falco compiles rules after all
        # macros, and its own stable rules use `user_shell_container_exclusions` in "Run shell
        # untrusted" 180 lines before defining it.
        node, _uses = self.resolve_macros(node)
        depth, size = _depth_and_size(node)
        if size > _MAX_NODES:
            raise CompileError(f"condition expands to more than {_MAX_NODES} nodes after macros")
        fields = self.fields_by_source[rule.source]
        evaluate = _build(node, fields, deep=depth > _CLOSURE_DEPTH)
        output = OutputTemplate.parse(rule.output)
        for ref in output.fields:
            if ref.name not in fields and not ref.name.startswith("evt."):
                self.error(
                    rule,
                    "LOAD_UNKNOWN_OUTPUT_FIELD",
                    f"output uses unknown field '{ref.name}'",
                    Level.WARNING,
                )
        evttypes = evttypes_of(node)
        if rule.source == "syscall" and evttypes.is_all and rule.warn_evttypes:
            self.error(
                rule,
                "LOAD_NO_EVTTYPE",
                "rule matches all event types; add an evt.type restriction to its condition",
                Level.WARNING,
            )
        return CompiledRule(
            name=rule.name,
            source=rule.source,
            priority=rule.priority,
            output=output,
            tags=tuple(rule.tags),
            condition=node,
            evaluate=evaluate,
            evttypes=evttypes,
            file=rule.position.file,
            line=rule.position.line,
            order=index,
            index_sets=tuple(
                field_values_of(node, name) for name in self.field_classes[rule.source].index_fields
            ),
        )


def _render_list_item(text: str) -> str:
    """How Falco's text substitution spells a list item: pre-quoted items stay as written."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text
    return quote_value(text)


def _exc_value_text(value: str | list[str], comp: str) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_render_list_item(v) for v in value) + ")"
    if comp in ("in", "intersects", "pmatch") or comp.split()[-1] in LIST_MODIFIERS:
        return "(" + _render_list_item(value) + ")"
    return _render_list_item(value)


def _exception_text(exc: RuleException) -> str:
    """``fields`` list: OR of per-row ANDs; one field: ``field comp (v1, v2, ...)``."""
    if not exc.values or exc.fields is None:
        return ""
    if isinstance(exc.fields, str):
        comp = exc.comps if isinstance(exc.comps, str) else "in"
        items = [v for v in exc.values if isinstance(v, str)]
        if comp in ("in", "intersects", "pmatch") or comp.split()[-1] in LIST_MODIFIERS:
            return f"{exc.fields} {comp} (" + ", ".join(_render_list_item(v) for v in items) + ")"
        return " or ".join(f"{exc.fields} {comp} {_render_list_item(v)}" for v in items)
    comps = exc.comps if isinstance(exc.comps, list) else ["="] * len(exc.fields)
    rows: list[str] = []
    for row in exc.values:
        if not isinstance(row, list):
            continue
        terms = [
            f"{fld} {comp} {_exc_value_text(val, comp)}"
            for fld, comp, val in zip(exc.fields, comps, row, strict=False)
        ]
        rows.append("(" + " and ".join(terms) + ")")
    return " or ".join(rows)


def _load_order(ruleset: RuleSet) -> dict[tuple[str, str], tuple[int, int, int]]:
    """A load-order key for macros and rules: file order (first appearance), then line.

    The ``RuleSet`` keeps lists, macros and rules apart; their positions give the order back.
    Files are ranked by the first item of each file met in rule and macro definition order,
    which matches the real load order whenever each file defines a rule or macro before the
    next file does.
    """
    files: dict[str, int] = {}
    merged = sorted(
        [(m.position, "macro", name) for name, m in ruleset.macros.items()]
        + [(r.position, "rule", name) for name, r in ruleset.rules.items()],
        key=lambda t: (t[0].file, t[0].line, t[0].column),
    )
    for items in (ruleset.macros.values(), ruleset.rules.values()):
        for it in items:
            files.setdefault(it.position.file, len(files))
    return {(kind, name): (files.get(pos.file, 0), pos.line, pos.column) for pos, kind, name in merged}


# --------------------------------------------------------------------------- closure building


def _field_getter(ref: FieldRef, fields: Mapping[str, FieldInfo]) -> tuple[Getter, FieldType]:
    """Look up and type-check a field reference; return a value getter and the value's type."""
    info = fields.get(ref.name)
    if info is None:
        raise CompileError(f"unknown field '{ref.name}'", "LOAD_ERR_COMPILE_CONDITION")
    if ref.arg is None and info.arg in ("index", "key"):
        raise CompileError(f"field '{ref.name}' requires an argument ({info.arg})")
    if ref.arg is not None and info.arg == "none":
        raise CompileError(f"field '{ref.name}' does not take an argument")
    if ref.arg is not None and info.arg.endswith("index") and not ref.arg.lstrip("-").isdigit():
        raise CompileError(f"field '{ref.name}' needs a numeric index, not '{ref.arg}'")
    name, arg, transformers = ref.name, ref.arg, ref.transformers
    ftype = info.type
    for t in transformers:
        if t == "len":
            ftype = FieldType.INT
        elif ftype not in _STRINGY and ftype is not FieldType.BYTES:
            raise CompileError(f"transformer '{t}' cannot apply to {ftype.value} field '{name}'")
        elif ftype is FieldType.BYTES:
            ftype = FieldType.STRING

    def getter(event: Event) -> Any:
        return cached_value(event, name, arg)

    if transformers:

        def transformed(event: Event) -> Any:
            return apply_transformers(getter(event), transformers)

        return transformed, ftype
    return getter, ftype


_MISSING: Any = object()


def _fast_leaf(node: Compare | Exists, fields: Mapping[str, FieldInfo]) -> Predicate | None:
    """One-call predicates for the commonest leaves (a plain string field compared with ``=``,
    ``!=``, ``in``, ``startswith``, ``contains``, or ``exists``), the memo lookup inlined.

    Why: a k8s audit event meets a handful of rules of ten-odd leaves each, and three Python
    calls per leaf (predicate, getter, test) were most of the engine's time. Anything else —
    transformers, list fields, other operators — goes through the general path.
    """
    ref = node.field
    info = fields.get(ref.name)
    if info is None or ref.transformers or info.type is not FieldType.STRING:
        return None
    if ref.arg is None and info.arg in ("index", "key"):
        return None  # the general path reports the error
    if ref.arg is not None and (info.arg == "none" or info.arg.endswith("index")):
        return None
    if info.any_element and ref.arg is None:
        return None  # a list of candidates (any ancestor): the general path
    name, arg = ref.name, ref.arg
    key = (name, arg)

    def fetch(event: Event) -> Any:  # cached_value, inlined: this runs for nearly every leaf
        try:
            memo = event.memo
        except AttributeError:
            memo = event.memo = {}
        value = memo.get(key, _MISSING)
        if value is _MISSING:
            value = memo[key] = event.value(name, arg)
        return value

    if isinstance(node, Exists):
        return lambda event: fetch(event) is not None
    op, value = node.op, node.value
    if node.modifier is not None or isinstance(value, ValRef):
        return None
    if isinstance(value, ListValue):
        if op != "in":
            return None
        members = frozenset(i.text if isinstance(i, Literal) else i.name for i in value.items)
        return lambda event: fetch(event) in members  # None is never a member
    assert isinstance(value, Literal)
    rhs = value.text
    if op in ("=", "=="):
        return lambda event: fetch(event) == rhs
    if op == "!=":

        def not_equal(event: Event) -> bool:
            v = fetch(event)
            return v is not None and v != rhs

        return not_equal
    if op == "startswith":

        def starts(event: Event) -> bool:
            v = fetch(event)
            return v is not None and v.startswith(rhs)

        return starts
    if op == "contains":

        def has(event: Event) -> bool:
            v = fetch(event)
            return v is not None and rhs in v

        return has
    return None


def _leaf(node: Compare | Exists, fields: Mapping[str, FieldInfo]) -> Predicate:
    """Compile one comparison to a predicate; a missing (None) value is always false."""
    fast = _fast_leaf(node, fields)
    if fast is not None:
        return fast
    get, ftype = _field_getter(node.field, fields)
    if isinstance(node, Exists):

        def exists(event: Event) -> bool:
            v = get(event)
            return v is not None and v != []

        return exists
    op = node.op
    what = f"'{node.field.name} {op}'"
    if op not in _ALLOWED_OPS[ftype]:
        raise CompileError(f"operator '{op}' cannot be used with {ftype.value} field '{node.field.name}'")
    info = fields[node.field.name]
    # any_element fields without an argument give candidates, any of which may match (Falco's
    # unindexed proc.aname); list fields keep their list semantics (`in`: every member)
    any_element = info.any_element and node.field.arg is None
    is_list = ftype is FieldType.STRINGS or any_element
    elem_type = FieldType.STRING if ftype is FieldType.STRINGS else ftype
    value = node.value

    if isinstance(value, ValRef):
        if op in ("in", "intersects", "pmatch") or op.startswith("b"):
            raise CompileError(f"{what}: val() cannot be used with '{op}'")
        other, _ = _field_getter(value.field, fields)

        def by_val(event: Event) -> bool:
            v, w = get(event), other(event)
            if v is None or w is None:
                return False
            try:
                test = _scalar_test(op, w, elem_type, what)
                return any(test(x) for x in v) if any_element else test(v)
            except (TypeError, CompileError):
                return False

        return by_val

    if node.modifier is not None:
        assert isinstance(value, ListValue)
        if any_element:  # the modifier's test on each candidate; any may satisfy it
            one = cast(Callable[[Any], bool], _modified(node, lambda x: x, elem_type, False, what))
            return _guard_list(get, lambda vs: any(one(x) for x in vs))
        return _modified(node, get, elem_type, is_list, what)

    if isinstance(value, ListValue):
        raw_items = [i.text if isinstance(i, Literal) else i.name for i in value.items]
        items = [_convert(t, elem_type, what) for t in raw_items]
        if op in ("in", "intersects"):
            test = _set_test(op, items, elem_type, what)
            if is_list:
                if op == "in" and not any_element:
                    return _guard_list(get, lambda vs: all(test(x) for x in vs))
                return _guard_list(get, lambda vs: any(test(x) for x in vs))
            return _guard(get, test)
        if op == "pmatch":
            test = _set_test("pmatch", items, elem_type, what)
            return _guard_list(get, lambda vs: any(test(x) for x in vs)) if is_list else _guard(get, test)
        raise CompileError(f"{what}: a list is not a valid operand")

    assert isinstance(value, Literal)
    if op in ("in", "intersects"):
        test = _set_test(op, [_convert(value.text, elem_type, what)], elem_type, what)
    elif op in ("bcontains", "bstartswith", "bendswith", "regex", "glob", "iglob", "pmatch"):
        test = _scalar_test(op, value.text, elem_type, what)
    else:
        rhs = _convert(value.text, elem_type, what)
        if op in ("<", "<=", ">", ">=") and elem_type is FieldType.STRING:
            raise CompileError(f"operator '{op}' cannot be used with string field '{node.field.name}'")
        test = _scalar_test(op, rhs, elem_type, what)
    if is_list:
        return _guard_list(get, lambda vs: any(test(x) for x in vs))
    return _guard(get, test, every=op == "!=")


def _item_test(op: str, text: str, elem_type: FieldType, field_name: str, what: str) -> Callable[[Any], bool]:
    """The test ``value <op> <one literal>``, with the literal converted once."""
    if op in ("bcontains", "bstartswith", "bendswith", "regex", "glob", "iglob", "pmatch"):
        return _scalar_test(op, text, elem_type, what)
    if op in ("<", "<=", ">", ">=") and elem_type is FieldType.STRING:
        raise CompileError(f"operator '{op}' cannot be used with string field '{field_name}'")
    return _scalar_test(op, _convert(text, elem_type, what), elem_type, what)


def _modified(node: Compare, get: Getter, elem_type: FieldType, is_list: bool, what: str) -> Predicate:
    """``field op anyof|oneof|allof (a, b, ...)``: the per-item tests combined by the modifier.

    Falco's rules: the field must give a single value (a list field matches only when it holds
    exactly one element) and an empty list never matches.
    """
    assert isinstance(node.value, ListValue)
    what = f"{what[:-1]} {node.modifier}'"
    texts = [i.text if isinstance(i, Literal) else i.name for i in node.value.items]
    tests = tuple(_item_test(node.op, t, elem_type, node.field.name, what) for t in texts)
    if not tests:
        return lambda event: False
    if node.modifier == "anyof":
        combined: Callable[[Any], bool] = lambda v: any(t(v) for t in tests)  # noqa: E731
    elif node.modifier == "allof":
        combined = lambda v: all(t(v) for t in tests)  # noqa: E731
    else:  # oneof: exactly one item matches
        combined = lambda v: sum(1 for t in tests if t(v)) == 1  # noqa: E731
    if is_list:
        return _guard_list(get, lambda vs: len(vs) == 1 and combined(vs[0]))
    return _guard(get, combined)


def _guard(get: Getter, test: Callable[[Any], bool], every: bool = False) -> Predicate:
    """``test`` on the value; an ``Either`` value (both ends of a connection) matches when one
    member does, or with ``every`` (the ``!=`` operator, as Falco's fd.ip) when all do."""

    def pred(event: Event) -> bool:
        v = get(event)
        if v is None:
            return False
        try:
            if isinstance(v, Either):
                return all(map(test, v)) if every else any(map(test, v))
            return test(v)
        except TypeError:  # an extractor returned an unexpected type: treat as no match
            return False

    return pred


def _guard_list(get: Getter, test: Callable[[list[Any]], bool]) -> Predicate:
    def pred(event: Event) -> bool:
        v = get(event)
        if v is None:
            return False
        vs = v if isinstance(v, list) else [v]
        if not vs:
            return False
        try:
            return test(vs)
        except TypeError:
            return False

    return pred


def _build(root: Node, fields: Mapping[str, FieldInfo], *, deep: bool) -> Predicate:
    """Compile leaves once (type checks happen here), then combine as closures or a program."""
    leaves: dict[int, Predicate] = {}
    stack: list[Node] = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, And | Or):
            stack.extend(node.operands)
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, Compare | Exists):
            leaves[id(node)] = _leaf(node, fields)
        else:  # pragma: no cover - macros were resolved before
            raise CompileError(f"unresolved macro '{node.name}'")
    if deep:
        return _interpreter(root, leaves)
    return _closures(root, leaves)


def _closures(root: Node, leaves: Mapping[int, Predicate]) -> Predicate:
    built: dict[int, Predicate] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in built:
            continue
        if isinstance(node, Compare | Exists):
            built[id(node)] = leaves[id(node)]
            continue
        kids = (
            node.operands if isinstance(node, And | Or) else (node.operand,) if isinstance(node, Not) else ()
        )
        if not done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
            continue
        preds = tuple(built[id(k)] for k in kids)
        built[id(node)] = _combine(node, preds)
    return built[id(root)]


def _combine(node: Node, preds: tuple[Predicate, ...]) -> Predicate:
    if isinstance(node, Not):
        inner = preds[0]
        return lambda e: not inner(e)
    if len(preds) == 2:
        a, b = preds
        if isinstance(node, And):
            return lambda e: a(e) and b(e)
        return lambda e: a(e) or b(e)
    if isinstance(node, And):

        def all_of(e: Event) -> bool:  # a loop: all() over a generator costs a frame per item
            for p in preds:  # noqa: SIM110
                if not p(e):
                    return False
            return True

        return all_of

    def any_of(e: Event) -> bool:
        for p in preds:  # noqa: SIM110
            if p(e):
                return True
        return False

    return any_of


def _interpreter(root: Node, leaves: Mapping[int, Predicate]) -> Predicate:
    """Evaluate with an explicit stack: for trees too deep for nested Python calls."""

    def run(event: Event) -> bool:
        # frames: (node, next child index); results flow back through `result`
        stack: list[tuple[Node, int]] = [(root, 0)]
        result = False
        while stack:
            node, i = stack.pop()
            if isinstance(node, Compare | Exists):
                result = leaves[id(node)](event)
                continue
            if isinstance(node, Not):
                if i == 0:
                    stack.append((node, 1))
                    stack.append((node.operand, 0))
                else:
                    result = not result
                continue
            assert isinstance(node, And | Or)
            if i > 0:
                short = isinstance(node, And) != result  # And stops on False, Or on True
                if short or i == len(node.operands):
                    continue  # `result` is already the answer for this node
            stack.append((node, i + 1))
            stack.append((node.operands[i], 0))
        return result

    return run


def compile_ruleset(
    ruleset: RuleSet,
    field_classes: Mapping[str, FieldClass],
) -> CompiledRules:
    """Compile every enabled rule whose source has a field class; report and skip the rest.

    Rules of sources without a field class are skipped silently (as Falco does with a source
    that is not enabled): their lists and macros still serve the other sources.
    """
    compiler = _Compiler(ruleset, field_classes)
    rules = compiler.compile_all()
    return CompiledRules(rules, [*ruleset.messages, *compiler.messages], dict(field_classes))
