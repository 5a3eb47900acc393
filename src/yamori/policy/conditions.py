"""The condition language, compiled once into Python closures.

A condition is a YAML mapping of one of two shapes:

- boolean: ``{all: [c, ...]}``, ``{any: [c, ...]}``, ``{not: c}``
- leaf: ``{attr: PATH, OP: ARG}`` with exactly one operator, or a quantifier
  ``{attr: LIST_PATH, any|all|none: c}`` whose inner condition reads paths relative to each element
  (``attr: "."`` is the element itself).

Why closures: the tree is walked once when the policy loads; per resource only the closures run.

Three-valued results: a closure returns ``True``, ``False`` or an
:class:`~yamori.policy.interface.Indeterminate` (UNKNOWN or ERROR). ``all`` is False if any operand
is False, else ERROR if any operand is ERROR, else UNKNOWN if any is UNKNOWN, else True; ``any`` is
the dual; ``not`` keeps UNKNOWN/ERROR. The full semantics are in docs/policies.md.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from typing import Any, Final

from yamori.model.finding import Status
from yamori.model.resource import UNKNOWN
from yamori.policy.interface import (
    ABSENT,
    Condition,
    ConditionFn,
    EvalContext,
    Indeterminate,
    PolicyError,
)
from yamori.policy.paths import CompiledPath, PathSyntaxError, compile_path
from yamori.policy.yamlsrc import MarkedList, MarkedMap

__all__ = ["OPERATORS", "QUANTIFIERS", "combine_all", "combine_any", "compile_condition", "negate"]

Verdict = bool | Indeterminate
# test(value, root, ctx): value is neither ABSENT nor UNKNOWN
Test = Callable[[Any, Any, EvalContext], Verdict]

QUANTIFIERS: Final = ("any", "all", "none")
_BOOLEANS: Final = ("all", "any", "not")

_MAX_REGEX_LEN: Final = 1000

# ---------------------------------------------------------------------------------------------
# three-valued combinators


def _worse(a: Indeterminate | None, b: Indeterminate) -> Indeterminate:
    """ERROR dominates UNKNOWN; the first of equal rank is kept."""
    if a is None or (b.status is Status.ERROR and a.status is not Status.ERROR):
        return b
    return a


def combine_all(verdicts: list[Verdict]) -> Verdict:
    pending: Indeterminate | None = None
    for v in verdicts:
        if v is False:
            return False
        if v is not True:
            assert isinstance(v, Indeterminate)
            pending = _worse(pending, v)
    return True if pending is None else pending


def combine_any(verdicts: list[Verdict]) -> Verdict:
    pending: Indeterminate | None = None
    for v in verdicts:
        if v is True:
            return True
        if v is not False:
            assert isinstance(v, Indeterminate)
            pending = _worse(pending, v)
    return False if pending is None else pending


def negate(v: Verdict) -> Verdict:
    if v is True:
        return False
    if v is False:
        return True
    return v


def _all_fn(subs: list[ConditionFn]) -> ConditionFn:
    def f(root: Any, ctx: EvalContext) -> Verdict:
        pending: Indeterminate | None = None
        for sub in subs:
            v = sub(root, ctx)
            if v is False:
                return False
            if v is not True:
                pending = _worse(pending, v)
        return True if pending is None else pending

    return f


def _any_fn(subs: list[ConditionFn]) -> ConditionFn:
    def f(root: Any, ctx: EvalContext) -> Verdict:
        pending: Indeterminate | None = None
        for sub in subs:
            v = sub(root, ctx)
            if v is True:
                return True
            if v is not False:
                pending = _worse(pending, v)
        return False if pending is None else pending

    return f


def _not_fn(sub: ConditionFn) -> ConditionFn:
    def f(root: Any, ctx: EvalContext) -> Verdict:
        return negate(sub(root, ctx))

    return f


# ---------------------------------------------------------------------------------------------
# value helpers


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (YAML ``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def _has_unknown(v: Any) -> bool:
    if v is UNKNOWN:
        return True
    if isinstance(v, dict):
        return any(_has_unknown(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_unknown(x) for x in v)
    return False


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


@functools.lru_cache(maxsize=8192)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _as_network(v: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    return _network(v) if isinstance(v, str) else None


# Blocks that are not reachable from the internet. A network is "public" when it is not entirely
# inside one of these (so 0.0.0.0/0 and ::/0 are public, 10.1.0.0/16 is not).
_NON_PUBLIC: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32",
    )
)  # fmt: skip


def _is_public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return not any(net.version == block.version and net.subnet_of(block) for block in _NON_PUBLIC)  # type: ignore[arg-type]


def _contains(outer: Any, inner: Any) -> bool:
    return bool(outer.version == inner.version and inner.subnet_of(outer))


def _timestamp(v: Any) -> float | None:
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v)
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


_sre_parser: Any = import_module("re._parser")


def _regex_hazard(parsed: Any, in_repeat: bool) -> str | None:
    """Name the first construct that can backtrack exponentially, or None.

    Python's ``re`` backtracks, so policy authors get the linear-time-friendly subset: no
    backreferences and no repeat inside an unbounded repeat (``(a+)+``, ``(\\w*\\.)*``).
    """
    maxrepeat = _sre_parser.MAXREPEAT
    for op, av in parsed:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _lo, hi, sub = av
            if in_repeat and hi > 1:
                return "nested quantifiers"
            hazard = _regex_hazard(sub, in_repeat or hi == maxrepeat)
            if hazard:
                return hazard
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "backreferences"
        elif name == "SUBPATTERN":
            hazard = _regex_hazard(av[-1], in_repeat)
            if hazard:
                return hazard
        elif name == "BRANCH":
            for alternative in av[1]:
                hazard = _regex_hazard(alternative, in_repeat)
                if hazard:
                    return hazard
        elif name in ("ASSERT", "ASSERT_NOT"):
            hazard = _regex_hazard(av[1], in_repeat)
            if hazard:
                return hazard
        elif name == "ATOMIC_GROUP":
            hazard = _regex_hazard(av, in_repeat)
            if hazard:
                return hazard
    return None


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a policy regex, rejecting patterns that can backtrack catastrophically."""
    if len(pattern) > _MAX_REGEX_LEN:
        raise ValueError(f"regex longer than {_MAX_REGEX_LEN} characters")
    try:
        compiled = re.compile(pattern)
        parsed = _sre_parser.parse(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    hazard = _regex_hazard(parsed, False)
    if hazard:
        raise ValueError(f"regex {pattern!r} uses {hazard}, which can take exponential time")
    return compiled


# ---------------------------------------------------------------------------------------------
# operators: builder(arg, node, key) -> (test, result when the value is absent)


class _Spec:
    __slots__ = ("build", "doc")

    def __init__(self, build: Callable[[Any, MarkedMap, str], tuple[Test, bool]], doc: str) -> None:
        self.build = build
        self.doc = doc


def _need(ok: bool, node: MarkedMap, key: str, what: str) -> None:
    if not ok:
        raise node.error(f"'{key}' expects {what}", key)


def _scalar_arg(arg: Any, node: MarkedMap, key: str) -> None:
    _need(_is_scalar(arg), node, key, "a string, number, boolean or null")


def _op_eq(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        if _eq(v, arg):
            return True
        if isinstance(v, (dict, list)) and _has_unknown(v):
            return Indeterminate(Status.UNKNOWN, "value contains unknown parts")
        return False

    return test, False


def _op_ne(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    eq, _ = _op_eq(arg, node, key)
    return (lambda v, root, ctx: negate(eq(v, root, ctx))), True


def _ordering(cmp: Callable[[Any, Any], bool]) -> Callable[[Any, MarkedMap, str], tuple[Test, bool]]:
    def build(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
        _need(_is_num(arg) or isinstance(arg, str), node, key, "a number or a string")
        numeric = _is_num(arg)

        def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
            if numeric:
                return _is_num(v) and cmp(v, arg)
            return isinstance(v, str) and cmp(v, arg)

        return test, False

    return build


def _membership(arg: Any, node: MarkedMap, key: str) -> Callable[[Any], bool]:
    _need(isinstance(arg, list) and all(_is_scalar(a) for a in arg), node, key, "a list of scalars")
    keys = frozenset((isinstance(a, bool), a) for a in arg)
    return lambda v: _is_scalar(v) and (isinstance(v, bool), v) in keys


def _op_in(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    member = _membership(arg, node, key)
    return (lambda v, root, ctx: member(v)), False


def _op_not_in(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    member = _membership(arg, node, key)
    return (lambda v, root, ctx: not member(v)), True


def _op_contains(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _scalar_arg(arg, node, key)

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        if isinstance(v, list):
            unknown = False
            for element in v:
                if element is UNKNOWN:
                    unknown = True
                elif _eq(element, arg):
                    return True
            return Indeterminate(Status.UNKNOWN, "list contains unknown elements") if unknown else False
        if isinstance(v, str):
            return isinstance(arg, str) and arg in v
        if isinstance(v, dict):
            return isinstance(arg, str) and arg in v
        return False

    return test, False


def _op_regex(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _need(isinstance(arg, str), node, key, "a regular expression string")
    try:
        pattern = compile_regex(arg)
    except ValueError as exc:
        raise node.error(str(exc), key) from None
    fullmatch = pattern.fullmatch
    return (lambda v, root, ctx: isinstance(v, str) and fullmatch(v) is not None), False


def _op_exists(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _need(isinstance(arg, bool), node, key, "true or false")
    return (lambda v, root, ctx: arg), not arg


def _op_empty(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _need(isinstance(arg, bool), node, key, "true or false")

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        is_empty = v is None or (isinstance(v, (str, list, dict)) and len(v) == 0)
        return is_empty is arg

    return test, arg


def _length(cmp: Callable[[int, int], bool]) -> Callable[[Any, MarkedMap, str], tuple[Test, bool]]:
    def build(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
        _need(isinstance(arg, int) and not isinstance(arg, bool) and arg >= 0, node, key,
              "a non-negative integer")  # fmt: skip

        def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
            return isinstance(v, (str, list, dict)) and cmp(len(v), arg)

        return test, False

    return build


def _op_cidr_is_public(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _need(isinstance(arg, bool), node, key, "true or false")

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        net = _as_network(v)
        return net is not None and _is_public(net) is arg

    return test, False


def _cidr_list(arg: Any, node: MarkedMap, key: str) -> list[Any]:
    items = arg if isinstance(arg, list) else [arg]
    nets = []
    for item in items:
        net = _as_network(item)
        _need(net is not None, node, key, f"a CIDR or IP address (or a list of them), not {item!r}")
        nets.append(net)
    _need(bool(nets), node, key, "at least one CIDR")
    return nets


def _op_cidr_contains(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    _need(isinstance(arg, str), node, key, "one CIDR or IP address")
    (inner,) = _cidr_list(arg, node, key)

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        net = _as_network(v)
        return net is not None and _contains(net, inner)

    return test, False


def _op_in_cidr(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
    outers = _cidr_list(arg, node, key)

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        net = _as_network(v)
        return net is not None and any(_contains(outer, net) for outer in outers)

    return test, False


def _age(older: bool) -> Callable[[Any, MarkedMap, str], tuple[Test, bool]]:
    def build(arg: Any, node: MarkedMap, key: str) -> tuple[Test, bool]:
        _need(_is_num(arg) and arg >= 0 and math.isfinite(arg), node, key, "a non-negative number of days")
        seconds = float(arg) * 86400.0

        def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
            ts = _timestamp(v)
            if ts is None:
                return False
            age = ctx.now - ts
            return age > seconds if older else age < seconds

        return test, False

    return build


_OPERATORS: dict[str, _Spec] = {
    "eq": _Spec(_op_eq, "value equals ARG"),
    "ne": _Spec(_op_ne, "not eq (true when absent)"),
    "lt": _Spec(_ordering(lambda a, b: a < b), "value < ARG (numbers with numbers, strings with strings)"),
    "le": _Spec(_ordering(lambda a, b: a <= b), "value <= ARG"),
    "gt": _Spec(_ordering(lambda a, b: a > b), "value > ARG"),
    "ge": _Spec(_ordering(lambda a, b: a >= b), "value >= ARG"),
    "in": _Spec(_op_in, "scalar value is one of the list ARG"),
    "not_in": _Spec(_op_not_in, "not in (true when absent)"),
    "contains": _Spec(_op_contains, "list has an element equal to ARG, string has substring, dict has key"),
    "regex": _Spec(_op_regex, "string value fully matches ARG"),
    "exists": _Spec(_op_exists, "the path is present (even if null)"),
    "empty": _Spec(_op_empty, "value is null, '', [] or {} (absent counts as empty)"),
    "length_eq": _Spec(_length(lambda a, b: a == b), "len(value) == ARG"),
    "length_ne": _Spec(_length(lambda a, b: a != b), "len(value) != ARG"),
    "length_lt": _Spec(_length(lambda a, b: a < b), "len(value) < ARG"),
    "length_le": _Spec(_length(lambda a, b: a <= b), "len(value) <= ARG"),
    "length_gt": _Spec(_length(lambda a, b: a > b), "len(value) > ARG"),
    "length_ge": _Spec(_length(lambda a, b: a >= b), "len(value) >= ARG"),
    "cidr_is_public": _Spec(_op_cidr_is_public, "the CIDR/IP reaches beyond private/reserved ranges"),
    "cidr_contains": _Spec(_op_cidr_contains, "the value's network contains ARG"),
    "in_cidr": _Spec(_op_in_cidr, "the value's network lies within ARG (a CIDR or list)"),
    "older_than_days": _Spec(_age(True), "RFC 3339 timestamp more than ARG days before now"),
    "newer_than_days": _Spec(_age(False), "RFC 3339 timestamp less than ARG days before now"),
}
_ATTR_OPERATORS: Final = ("eq_attr", "ne_attr")

OPERATORS: Final = (*_OPERATORS, *_ATTR_OPERATORS)

# ---------------------------------------------------------------------------------------------
# compiler


def _path(text: Any, node: MarkedMap, key: str) -> CompiledPath:
    if not isinstance(text, str) or not text:
        raise node.error(f"'{key}' must be a non-empty attribute path string", key)
    try:
        return compile_path(text)
    except PathSyntaxError as exc:
        raise node.error(str(exc), key) from None


def _error_check(path: CompiledPath, ctx: EvalContext) -> Indeterminate | None:
    message = path.error_for(ctx.resource)
    if message is None:
        return None
    return Indeterminate(Status.ERROR, f"{path.text}: {message}")


def _leaf(path: CompiledPath, relative: bool, test: Test, on_absent: bool) -> ConditionFn:
    resolve = path.resolve
    unknown = Indeterminate(Status.UNKNOWN, f"{path.text} is unknown")
    pseudo = path.pseudo
    if pseudo is not None:

        def f_pseudo(root: Any, ctx: EvalContext) -> Verdict:
            v = resolve(pseudo(ctx.resource))
            if v is ABSENT:
                return on_absent
            if v is UNKNOWN:
                return unknown
            return test(v, root, ctx)

        return f_pseudo
    if relative:

        def f_relative(root: Any, ctx: EvalContext) -> Verdict:
            v = resolve(root)
            if v is ABSENT:
                return on_absent
            if v is UNKNOWN:
                return unknown
            return test(v, root, ctx)

        return f_relative

    def f(root: Any, ctx: EvalContext) -> Verdict:
        if ctx.resource.errors:
            error = _error_check(path, ctx)
            if error is not None:
                return error
        v = resolve(root)
        if v is ABSENT:
            return on_absent
        if v is UNKNOWN:
            return unknown
        return test(v, root, ctx)

    return f


def _attr_compare(other: CompiledPath, relative: bool, equal: bool) -> Test:
    resolve = other.resolve
    unknown = Indeterminate(Status.UNKNOWN, f"{other.text} is unknown")

    def test(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        if not relative and ctx.resource.errors:
            error = _error_check(other, ctx)
            if error is not None:
                return error
        w = resolve(other.pseudo(ctx.resource) if other.pseudo is not None else root)
        if w is UNKNOWN:
            return unknown
        same = w is not ABSENT and _eq(v, w)
        if not same and (_has_unknown(v) or _has_unknown(w)):
            return Indeterminate(Status.UNKNOWN, "compared values contain unknown parts")
        return same if equal else not same

    return test


def _quantifier(mode: str, inner: ConditionFn) -> tuple[Test, bool]:
    def elements(v: Any) -> list[Any]:
        if isinstance(v, list):
            return v
        return [] if v is None else [v]

    if mode == "any":

        def t_any(v: Any, root: Any, ctx: EvalContext) -> Verdict:
            return combine_any([inner(e, ctx) for e in elements(v)])

        return t_any, False
    if mode == "all":

        def t_all(v: Any, root: Any, ctx: EvalContext) -> Verdict:
            return combine_all([inner(e, ctx) for e in elements(v)])

        return t_all, True

    def t_none(v: Any, root: Any, ctx: EvalContext) -> Verdict:
        return negate(combine_any([inner(e, ctx) for e in elements(v)]))

    return t_none, True


class _Compiler:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def _note(self, path: CompiledPath, relative: bool) -> None:
        if not relative and path.pseudo is None and path.text not in self.paths:
            self.paths.append(path.text)

    def compile(self, node: Any, relative: bool, where: tuple[MarkedMap | MarkedList, Any]) -> ConditionFn:
        if not isinstance(node, MarkedMap):
            parent, key = where
            raise parent.error("a condition must be a mapping (a leaf with 'attr', or all/any/not)", key)
        if not node:
            raise node.error("empty condition")
        if "attr" in node:
            return self._leaf(node, relative)
        keys = list(node)
        if len(keys) != 1 or keys[0] not in _BOOLEANS:
            unknown = [k for k in keys if k not in _BOOLEANS]
            if unknown:
                hint = " (a leaf needs 'attr')" if unknown[0] in OPERATORS else ""
                raise node.error(
                    f"unknown condition key {unknown[0]!r}{hint}; expected 'attr' or one of all/any/not",
                    unknown[0],
                )
            raise node.error(f"combine all/any/not in separate mappings, not {keys}", keys[1])
        key = keys[0]
        value = node[key]
        if key == "not":
            return _not_fn(self.compile(value, relative, (node, key)))
        if not isinstance(value, MarkedList) or not value:
            raise node.error(f"'{key}' expects a non-empty list of conditions", key)
        subs = [self.compile(item, relative, (value, i)) for i, item in enumerate(value)]
        if len(subs) == 1:
            return subs[0]
        return _all_fn(subs) if key == "all" else _any_fn(subs)

    def _leaf(self, node: MarkedMap, relative: bool) -> ConditionFn:
        path = _path(node["attr"], node, "attr")
        ops = [k for k in node if k != "attr"]
        if not ops:
            raise node.error(f"leaf on {path.text!r} has no operator (expected one of {', '.join(OPERATORS)}"
                             f", or a quantifier {'/'.join(QUANTIFIERS)})", "attr")  # fmt: skip
        for op in ops:
            if op not in _OPERATORS and op not in _ATTR_OPERATORS and op not in QUANTIFIERS:
                raise node.error(
                    f"unknown operator {op!r} (expected one of {', '.join(OPERATORS)}, "
                    f"or a quantifier {'/'.join(QUANTIFIERS)})",
                    op,
                )
        if len(ops) > 1:
            raise node.error(f"a leaf takes exactly one operator, got {', '.join(ops)}", ops[1])
        op = ops[0]
        arg = node[op]
        self._note(path, relative)
        if op in QUANTIFIERS:
            if isinstance(arg, MarkedList):
                raise node.error(f"quantifier '{op}' takes one condition mapping (wrap a list in all:)", op)
            inner = self.compile(arg, True, (node, op))
            test, on_absent = _quantifier(op, inner)
        elif op in _ATTR_OPERATORS:
            other = _path(arg, node, op)
            self._note(other, relative)
            test, on_absent = _attr_compare(other, relative, op == "eq_attr"), op == "ne_attr"
        else:
            test, on_absent = _OPERATORS[op].build(arg, node, op)
        return _leaf(path, relative, test, on_absent)


def compile_condition(node: Any, parent: MarkedMap, key: str) -> Condition:
    """Compile ``parent[key]`` (``node``) into a :class:`Condition`; raises :class:`PolicyError`."""
    compiler = _Compiler()
    fn = compiler.compile(node, False, (parent, key))
    file, line = parent.where(key)
    return Condition(fn=fn, paths=tuple(compiler.paths), source=f"{file}:{line}")


def operator_docs() -> dict[str, str]:
    """Operator name -> one-line description (for docs and ``--help``)."""
    docs = {name: spec.doc for name, spec in _OPERATORS.items()}
    docs["eq_attr"] = "value equals the value at another path (same root)"
    docs["ne_attr"] = "not eq_attr"
    return docs


_ = PolicyError  # re-exported for callers that catch compile errors from this module
