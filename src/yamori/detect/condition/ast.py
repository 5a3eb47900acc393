"""AST of Falco filter conditions.

Macro and list references stay unresolved here: whether a bare name inside ``in (...)`` is a list
or a literal depends on what the rules files defined earlier, which only the loader knows.
``And``/``Or`` are n-ary so a long ``a or b or c ...`` chain stays one level deep and tree walkers
never need deep recursion for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "And",
    "Compare",
    "Exists",
    "FieldRef",
    "ListItem",
    "ListRef",
    "ListValue",
    "Literal",
    "MacroRef",
    "Node",
    "Not",
    "Or",
    "ValRef",
    "Value",
    "leaves",
    "referenced_names",
]


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field such as ``proc.aname[2]``, possibly wrapped in transformers.

    ``transformers`` is in application order (innermost first): ``toupper(tolower(f))`` gives
    ``("tolower", "toupper")``, which is the order a compiler applies them in.
    ``pos`` is the offset of the field name in the condition text, for load-time messages
    (unknown field); it does not take part in equality.
    """

    name: str
    arg: str | None = None
    transformers: tuple[str, ...] = ()
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Literal:
    """A value as written (quotes removed, escapes applied); typing happens at compile time."""

    text: str


@dataclass(frozen=True, slots=True)
class ListRef:
    """A bare name inside a list, or after ``in``: a list if one is defined, else a literal."""

    name: str
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ValRef:
    """``val(field)``: compare against another field of the same event."""

    field: FieldRef


ListItem = Literal | ListRef


@dataclass(frozen=True, slots=True)
class ListValue:
    """The right side of ``in``/``intersects``/list ``pmatch``: ``(a, "b c", some_list)``."""

    items: tuple[ListItem, ...]


Value = Literal | ValRef | ListValue


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value`` for every binary operator (``op`` is spelled as in the source).

    ``modifier`` is Falco 0.44's list modifier (``anyof``, ``oneof``, ``allof``): ``field op
    anyof (a, b)`` means ``field op a`` for at least one / exactly one / every item, and
    ``value`` is then a ``ListValue``.
    """

    field: FieldRef
    op: str
    value: Value
    modifier: str | None = None


@dataclass(frozen=True, slots=True)
class Exists:
    """``field exists``: true when the event carries a value for the field."""

    field: FieldRef


@dataclass(frozen=True, slots=True)
class MacroRef:
    """A bare identifier with no operator after it: a macro the loader substitutes."""

    name: str
    pos: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation; repeated ``not`` is kept as nested nodes (the compiler may fold them)."""

    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction of two or more operands, in source order (evaluation short-circuits)."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction of two or more operands, in source order."""

    operands: tuple[Node, ...]


Node = And | Or | Not | Compare | Exists | MacroRef


def leaves(node: Node) -> Iterator[Compare | Exists | MacroRef]:
    """Every comparison, ``exists`` and macro reference under ``node``, ``and``/``or``/``not``
    looked through. Iterative, so a tree as deep as the parser allows cannot overflow Python's
    stack."""
    stack: list[Node] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, And | Or):
            stack.extend(cur.operands)
        elif isinstance(cur, Not):
            stack.append(cur.operand)
        else:
            yield cur


def referenced_names(node: Node) -> tuple[set[str], set[str], set[str]]:
    """Return ``(macros, lists, fields)`` named anywhere in ``node``.

    The loader uses it to report unknown macros and fields and to order resolution. ``lists``
    holds every bare name used as a list item or after ``in``: the candidates, since undefined
    ones are literals. Fields include those inside ``val()``.
    """
    macros: set[str] = set()
    lists: set[str] = set()
    fields: set[str] = set()
    for cur in leaves(node):
        if isinstance(cur, MacroRef):
            macros.add(cur.name)
        elif isinstance(cur, Exists):
            fields.add(cur.field.name)
        else:
            fields.add(cur.field.name)
            value = cur.value
            if isinstance(value, ValRef):
                fields.add(value.field.name)
            elif isinstance(value, ListValue):
                lists.update(item.name for item in value.items if isinstance(item, ListRef))
    return macros, lists, fields
